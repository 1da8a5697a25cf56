package health

import (
	"context"
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"

	"github.com/go-sql-driver/mysql"
)

// Protocol constants from the MySQL client/server protocol.
const (
	mysqlProtocolV10 = 0x0a
	mysqlErrPacket   = 0xff
	// maxGreeting bounds the first packet: a real greeting is ~100 bytes,
	// and a large length means we are not talking to a MySQL server.
	maxGreeting = 16 << 10
)

// mysqlServerError is an ERR packet sent by the server.
type mysqlServerError struct {
	Code     uint16
	SQLState string // empty when the packet carried none
	Message  string
}

func (e *mysqlServerError) Error() string {
	return fmt.Sprintf("mysql error %d: %s", e.Code, e.Message)
}

// parseGreeting interprets the payload of the first packet a server sends.
// It returns the server version for a protocol-10 greeting, a
// *mysqlServerError when the server refused the connection at once (1040
// "Too many connections", 1129 "Host is blocked"), or another error when the
// peer does not speak the protocol.
func parseGreeting(payload []byte) (version string, err error) {
	if len(payload) == 0 {
		return "", errors.New("empty greeting")
	}
	switch payload[0] {
	case mysqlErrPacket:
		return "", parseErrPacket(payload)
	case mysqlProtocolV10:
		rest := payload[1:]
		end := 0
		for end < len(rest) && rest[end] != 0 {
			end++
		}
		if end == len(rest) {
			return "", errors.New("truncated greeting")
		}
		return string(rest[:end]), nil
	}
	return "", fmt.Errorf("unsupported greeting (protocol %d); is this a MySQL server?", payload[0])
}

// parseErrPacket decodes an ERR packet: 0xff, the error code (2 bytes,
// little endian), optionally '#' and a 5-character SQL state, then the
// message. Errors sent before the handshake usually carry no SQL state.
func parseErrPacket(p []byte) error {
	if len(p) < 3 || p[0] != mysqlErrPacket {
		return errors.New("malformed error packet")
	}
	e := &mysqlServerError{Code: binary.LittleEndian.Uint16(p[1:3])}
	msg := p[3:]
	if len(msg) >= 6 && msg[0] == '#' {
		e.SQLState = string(msg[1:6])
		msg = msg[6:]
	}
	e.Message = string(msg)
	return e
}

// readPacket reads one protocol packet and returns its payload.
func readPacket(r io.Reader) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := int(hdr[0]) | int(hdr[1])<<8 | int(hdr[2])<<16
	if n > maxGreeting {
		return nil, failf("mysql: first packet is %d bytes long; is this a MySQL server?", n)
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return nil, err
	}
	return payload, nil
}

// mysqlProber checks a MySQL or MariaDB server. Without a user it reads the
// greeting by hand and disconnects; with one it logs in through
// go-sql-driver/mysql (which handles the authentication plugins and TLS)
// and runs SELECT 1 on that one connection, outside database/sql, so there
// is no pool and no background goroutine.
type mysqlProber struct {
	user      string
	connector driver.Connector // nil for the greeting-only check
}

func newMySQLProber(m *MySQLCheck, addr string) (*mysqlProber, error) {
	if m == nil || m.User == "" {
		return &mysqlProber{}, nil
	}
	cfg := mysql.NewConfig()
	cfg.User = m.User
	cfg.Passwd = m.Password
	cfg.DBName = m.Database
	cfg.Net = "tcp"
	cfg.Addr = addr
	cfg.Logger = &mysql.NopLogger{} // errors come back as values; never print
	cfg.DialFunc = func(ctx context.Context, _, addr string) (net.Conn, error) {
		tc, done, err := dial(ctx, addr)
		if err != nil {
			return nil, err
		}
		c := &errConn{Conn: tc, done: done}
		if h, ok := ctx.Value(connHolderKey{}).(*connHolder); ok {
			h.set(c)
		}
		return c, nil
	}
	if m.TLS != nil {
		host, _, _ := net.SplitHostPort(addr)
		tc, err := m.TLS.config(host)
		if err != nil {
			return nil, fmt.Errorf("health: mysql.tls: %w", err)
		}
		cfg.TLS = tc
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("health: mysql: %w", err)
	}
	return &mysqlProber{user: m.User, connector: conn}, nil
}

func (p *mysqlProber) probe(ctx context.Context, addr string) error {
	if p.connector == nil {
		return p.greeting(ctx, addr)
	}
	return p.login(ctx)
}

func (p *mysqlProber) greeting(ctx context.Context, addr string) error {
	conn, done, err := dial(ctx, addr)
	if err != nil {
		return err
	}
	defer done()
	payload, err := readPacket(conn)
	if err != nil {
		return inPhase("reading the greeting", err)
	}
	if _, err := parseGreeting(payload); err != nil {
		return p.reason(nil, "reading the greeting", err)
	}
	return nil
}

func (p *mysqlProber) login(ctx context.Context) error {
	h := &connHolder{}
	ctx = context.WithValue(ctx, connHolderKey{}, h)
	c, err := p.connector.Connect(ctx)
	if err != nil {
		return p.reason(h, "logging in", err)
	}
	defer c.Close()
	q, ok := c.(driver.QueryerContext)
	if !ok {
		return failf("mysql: driver cannot run queries")
	}
	rows, err := q.QueryContext(ctx, "SELECT 1", nil)
	if err != nil {
		return p.reason(h, "running SELECT 1", err)
	}
	defer rows.Close()
	dest := make([]driver.Value, 1)
	if err := rows.Next(dest); err != nil {
		return p.reason(h, "reading the result of SELECT 1", err)
	}
	return nil
}

// reason turns server and driver errors into check failures an operator
// reads directly; network errors keep their phase for describe. h, when
// set, holds the connection the driver used.
func (p *mysqlProber) reason(h *connHolder, phase string, err error) error {
	var se *mysqlServerError
	if errors.As(err, &se) {
		return mysqlFailure(se.Code, se.Message, p.user)
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return mysqlFailure(me.Number, me.Message, p.user)
	}
	var ce *checkError
	if errors.As(err, &ce) {
		return err
	}
	if errors.Is(err, mysql.ErrInvalidConn) || errors.Is(err, driver.ErrBadConn) {
		// The driver hides the I/O error; the connection remembers it.
		if ioErr := h.ioErr(); ioErr != nil {
			return inPhase(phase, ioErr)
		}
		return failf("mysql: connection lost (%s)", phase)
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return inPhase(phase, err)
	}
	return failf("mysql: %v (%s)", err, phase)
}

func mysqlFailure(code uint16, msg, user string) error {
	switch code {
	case 1045: // ER_ACCESS_DENIED_ERROR: the server does not say which part was wrong.
		return failf("mysql: access denied for user '%s' (wrong password or no such user)", user)
	case 1044: // ER_DBACCESS_DENIED_ERROR
		return failf("mysql: access denied for user '%s' to the database: %s", user, msg)
	}
	return failf("mysql: %s (error %d)", msg, code)
}

// errConn remembers the first I/O error on the connection, because the
// driver replaces it with a bare "invalid connection" and the operator wants
// to know the connection was reset or timed out.
type errConn struct {
	net.Conn
	done func()

	mu  sync.Mutex
	err error
}

func (c *errConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.note(err)
	return n, err
}

func (c *errConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.note(err)
	return n, err
}

func (c *errConn) Close() error {
	c.done()
	return nil
}

func (c *errConn) note(err error) {
	if err == nil {
		return
	}
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
}

type connHolderKey struct{}

// connHolder lets a probe find the connection the driver dialed for it.
type connHolder struct {
	mu sync.Mutex
	c  *errConn
}

func (h *connHolder) set(c *errConn) {
	h.mu.Lock()
	h.c = c
	h.mu.Unlock()
}

func (h *connHolder) ioErr() error {
	if h == nil {
		return nil
	}
	h.mu.Lock()
	c := h.c
	h.mu.Unlock()
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

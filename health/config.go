package health

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Type names a kind of health check.
type Type string

// The check types. Their settings live in the matching field of Config.
const (
	TypeHTTP  Type = "http"
	TypeTCP   Type = "tcp"
	TypeMySQL Type = "mysql"
	TypeGRPC  Type = "grpc"
)

// Defaults applied by Config.WithDefaults. They follow the example in the
// product description (interval 2s, timeout 1s, rise 2, fall 3).
const (
	DefaultInterval = 2 * time.Second
	DefaultTimeout  = 1 * time.Second
	DefaultRise     = 2
	DefaultFall     = 3
	// MinInterval guards against a unit mistake ("interval: 5" read as 5ns)
	// turning the checker into a flood.
	MinInterval = 10 * time.Millisecond
	// maxThreshold bounds rise and fall; larger values are almost certainly
	// a mistake and would make a dead member linger for minutes.
	maxThreshold = 1000
)

// NoJitter, used as Config.Jitter, turns jitter off. A zero Jitter means
// "the default", a tenth of the interval.
const NoJitter time.Duration = -1

// Config says how to check one target. The zero value of every field means
// "the default"; call WithDefaults to see the effective settings.
type Config struct {
	// Type selects the check: http, tcp, mysql or grpc.
	Type Type `json:"type"`
	// Interval is the time between the end of one probe and the start of the
	// next while the target is healthy. Default 2s, at least 10ms.
	Interval time.Duration `json:"interval"`
	// Timeout bounds one probe, from dialing to the verdict. Default 1s.
	Timeout time.Duration `json:"timeout"`
	// Jitter spreads probes: every wait is the base interval plus a random
	// offset in [-Jitter/2, +Jitter/2], and a new target's first probe waits
	// a random time in [0, Jitter] (longer when many targets are added at
	// once, see docs/health.md). Zero means Interval/10; NoJitter disables
	// it. At most Interval.
	Jitter time.Duration `json:"jitter"`
	// UnhealthyInterval replaces Interval after a failed probe and while the
	// target is not healthy, so that a failure is confirmed (and a recovery
	// noticed) quickly. Default: Interval.
	UnhealthyInterval time.Duration `json:"unhealthyInterval"`
	// Rise is the number of consecutive successes that bring an unhealthy
	// target back. Default 2.
	Rise int `json:"rise"`
	// Fall is the number of consecutive failures that take a healthy target
	// out. Default 3.
	Fall int `json:"fall"`

	// HTTP holds the settings of an http check (nil: defaults).
	HTTP *HTTPCheck `json:"http,omitempty"`
	// TCP holds the settings of a tcp check (nil: connect only).
	TCP *TCPCheck `json:"tcp,omitempty"`
	// MySQL holds the settings of a mysql check (nil: greeting only).
	MySQL *MySQLCheck `json:"mysql,omitempty"`
	// GRPC holds the settings of a grpc check (nil: overall server health).
	GRPC *GRPCCheck `json:"grpc,omitempty"`
}

// HTTPCheck configures an HTTP/1.1 check. Every probe opens a new connection,
// so a server whose accept loop is stuck is noticed.
type HTTPCheck struct {
	// Method defaults to GET.
	Method string `json:"method,omitempty"`
	// Path (with an optional query) defaults to "/".
	Path string `json:"path,omitempty"`
	// Host is the Host header; default: the target address.
	Host string `json:"host,omitempty"`
	// Headers are added to the request.
	Headers map[string]string `json:"headers,omitempty"`
	// ExpectedStatuses lists the accepted status codes; default 200-399.
	ExpectedStatuses []StatusRange `json:"expectedStatuses,omitempty"`
	// BodyRegex, when set, must match the first 64 KiB of the body.
	BodyRegex string `json:"bodyRegex,omitempty"`
	// TLS, when set, makes the check speak HTTPS.
	TLS *TLS `json:"tls,omitempty"`
}

// StatusRange is an inclusive range of HTTP status codes.
type StatusRange struct {
	// Min and Max are the first and last accepted codes, 100-599.
	Min int `json:"min"`
	Max int `json:"max"`
}

// TLS configures the client side of a TLS connection made by a check.
type TLS struct {
	// ServerName is sent as SNI and verified against the certificate;
	// default: the host of the target address.
	ServerName string `json:"serverName,omitempty"`
	// InsecureSkipVerify accepts any certificate.
	InsecureSkipVerify bool `json:"insecureSkipVerify,omitempty"`
	// CAPEM holds PEM certificates to trust instead of the system roots.
	CAPEM string `json:"caPEM,omitempty"`
}

// TCPCheck configures a TCP check. With neither field set the check only
// connects.
type TCPCheck struct {
	// Send is written after connecting.
	Send string `json:"send,omitempty"`
	// Expect is a regular expression the reply must match (first 4 KiB).
	Expect string `json:"expect,omitempty"`
}

// MySQLCheck configures a MySQL/MariaDB check. Without a User the check reads
// the server greeting (recognising an initial error such as 1040 "Too many
// connections") and disconnects. With a User it authenticates and runs
// SELECT 1, which is the recommended form: servers count clients that leave
// during the handshake as aborted connects (see docs/health.md).
type MySQLCheck struct {
	// User and Password log in; the user needs no privileges.
	User     string `json:"user,omitempty"`
	Password string `json:"password,omitempty"`
	// Database, when set, is selected at login.
	Database string `json:"database,omitempty"`
	// TLS, when set, is required for the authenticated check.
	TLS *TLS `json:"tls,omitempty"`
}

// GRPCCheck configures a grpc.health.v1.Health/Check call.
type GRPCCheck struct {
	// Service is the service name to ask about; empty asks about the server.
	Service string `json:"service,omitempty"`
	// Authority overrides the :authority header; default: the address.
	Authority string `json:"authority,omitempty"`
	// TLS, when set, makes the call over TLS.
	TLS *TLS `json:"tls,omitempty"`
}

// ParseStatusRanges parses a list such as "200-399,404" into ranges.
func ParseStatusRanges(s string) ([]StatusRange, error) {
	var out []StatusRange
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		first, err := strconv.Atoi(strings.TrimSpace(lo))
		if err != nil {
			return nil, fmt.Errorf("health: status range %q: not a number", part)
		}
		last := first
		if isRange {
			if last, err = strconv.Atoi(strings.TrimSpace(hi)); err != nil {
				return nil, fmt.Errorf("health: status range %q: not a number", part)
			}
		}
		r := StatusRange{Min: first, Max: last}
		if err := r.validate(); err != nil {
			return nil, fmt.Errorf("health: status range %q: %w", part, err)
		}
		out = append(out, r)
	}
	return out, nil
}

func (r StatusRange) validate() error {
	if r.Min < 100 || r.Max > 599 || r.Min > r.Max {
		return fmt.Errorf("must be within 100-599 with min <= max, got %d-%d", r.Min, r.Max)
	}
	return nil
}

// String formats the range as "200-399" (or "200").
func (r StatusRange) String() string {
	if r.Min == r.Max {
		return strconv.Itoa(r.Min)
	}
	return strconv.Itoa(r.Min) + "-" + strconv.Itoa(r.Max)
}

// WithDefaults returns a copy of c with every unset field given its default.
// It does not validate. Nested settings are copied, so the result shares no
// mutable state with c.
func (c Config) WithDefaults() Config {
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Jitter == 0 {
		c.Jitter = c.Interval / 10
	}
	if c.UnhealthyInterval == 0 {
		c.UnhealthyInterval = c.Interval
	}
	if c.Rise == 0 {
		c.Rise = DefaultRise
	}
	if c.Fall == 0 {
		c.Fall = DefaultFall
	}
	switch c.Type {
	case TypeHTTP:
		h := HTTPCheck{}
		if c.HTTP != nil {
			h = *c.HTTP
		}
		if h.Method == "" {
			h.Method = http.MethodGet
		}
		if h.Path == "" {
			h.Path = "/"
		}
		if len(h.ExpectedStatuses) == 0 {
			h.ExpectedStatuses = []StatusRange{{Min: 200, Max: 399}}
		} else {
			h.ExpectedStatuses = append([]StatusRange(nil), h.ExpectedStatuses...)
		}
		if h.Headers != nil {
			hs := make(map[string]string, len(h.Headers))
			for k, v := range h.Headers {
				hs[k] = v
			}
			h.Headers = hs
		}
		h.TLS = copyTLS(h.TLS)
		c.HTTP = &h
	case TypeTCP:
		if c.TCP != nil {
			t := *c.TCP
			c.TCP = &t
		}
	case TypeMySQL:
		if c.MySQL != nil {
			m := *c.MySQL
			m.TLS = copyTLS(m.TLS)
			c.MySQL = &m
		}
	case TypeGRPC:
		if c.GRPC != nil {
			g := *c.GRPC
			g.TLS = copyTLS(g.TLS)
			c.GRPC = &g
		}
	}
	return c
}

func copyTLS(t *TLS) *TLS {
	if t == nil {
		return nil
	}
	c := *t
	return &c
}

// Validate reports every problem in c (after defaults), each prefixed with
// its field name ("health: rise: must be ..."), joined into one error.
func (c Config) Validate() error { return joinProblems("health: ", c.problems()) }

// problems lists what is wrong with c as "field: what" strings.
func (c Config) problems() []string {
	explicitUnhealthy := c.UnhealthyInterval != 0
	c = c.WithDefaults()
	var errs []string
	add := func(field, format string, args ...any) {
		errs = append(errs, field+": "+fmt.Sprintf(format, args...))
	}
	if c.Interval < MinInterval {
		add("interval", "must be at least %v, got %v", MinInterval, c.Interval)
	}
	if c.Timeout < 0 {
		add("timeout", "must be positive, got %v", c.Timeout)
	}
	if c.Jitter < 0 && c.Jitter != NoJitter {
		add("jitter", "must not be negative, got %v", c.Jitter)
	}
	if c.Jitter > c.Interval {
		add("jitter", "must not exceed the interval (%v), got %v", c.Interval, c.Jitter)
	}
	// A defaulted UnhealthyInterval inherits the interval's problem; say it once.
	if explicitUnhealthy && c.UnhealthyInterval < MinInterval {
		add("unhealthyInterval", "must be at least %v, got %v", MinInterval, c.UnhealthyInterval)
	}
	if c.Rise < 1 || c.Rise > maxThreshold {
		add("rise", "must be between 1 and %d, got %d", maxThreshold, c.Rise)
	}
	if c.Fall < 1 || c.Fall > maxThreshold {
		add("fall", "must be between 1 and %d, got %d", maxThreshold, c.Fall)
	}
	return append(errs, c.typeProblems()...)
}

func (c Config) typeProblems() []string {
	var errs []string
	others := map[Type]bool{
		TypeHTTP: c.HTTP != nil, TypeTCP: c.TCP != nil,
		TypeMySQL: c.MySQL != nil, TypeGRPC: c.GRPC != nil,
	}
	switch c.Type {
	case TypeHTTP:
		errs = append(errs, c.HTTP.problems()...)
	case TypeTCP:
		if c.TCP != nil && c.TCP.Expect != "" {
			if _, err := regexp.Compile(c.TCP.Expect); err != nil {
				errs = append(errs, fmt.Sprintf("tcp.expect: %v", err))
			}
		}
	case TypeMySQL:
		if c.MySQL != nil {
			if c.MySQL.User == "" && (c.MySQL.Password != "" || c.MySQL.Database != "") {
				errs = append(errs, "mysql.user: required when a password or database is set")
			}
			errs = append(errs, c.MySQL.TLS.problems("mysql.tls")...)
		}
	case TypeGRPC:
		if c.GRPC != nil {
			errs = append(errs, c.GRPC.TLS.problems("grpc.tls")...)
		}
	case "":
		return []string{"type: required (http, tcp, mysql or grpc)"}
	default:
		return []string{fmt.Sprintf("type: unknown %q (want http, tcp, mysql or grpc)", c.Type)}
	}
	for _, t := range []Type{TypeHTTP, TypeTCP, TypeMySQL, TypeGRPC} {
		if others[t] && t != c.Type {
			errs = append(errs, fmt.Sprintf("%s: settings given for a %s check", t, c.Type))
		}
	}
	return errs
}

func (h *HTTPCheck) problems() []string {
	var errs []string
	if !validToken(h.Method) {
		errs = append(errs, fmt.Sprintf("http.method: invalid %q", h.Method))
	}
	if !strings.HasPrefix(h.Path, "/") || strings.ContainsAny(h.Path, " \r\n") {
		errs = append(errs, fmt.Sprintf("http.path: must start with / and contain no spaces, got %q", h.Path))
	}
	if strings.ContainsAny(h.Host, " \r\n/") {
		errs = append(errs, fmt.Sprintf("http.host: invalid %q", h.Host))
	}
	for k, v := range h.Headers {
		switch {
		case !validToken(k) || strings.ContainsAny(v, "\r\n"):
			errs = append(errs, fmt.Sprintf("http.headers[%q]: invalid header", k))
		case reservedHeaders[http.CanonicalHeaderKey(k)]:
			errs = append(errs, fmt.Sprintf("http.headers[%q]: set by the checker (use http.host for Host)", k))
		}
	}
	for i, r := range h.ExpectedStatuses {
		if err := r.validate(); err != nil {
			errs = append(errs, fmt.Sprintf("http.expectedStatuses[%d]: %v", i, err))
		}
	}
	if h.BodyRegex != "" {
		if _, err := regexp.Compile(h.BodyRegex); err != nil {
			errs = append(errs, fmt.Sprintf("http.bodyRegex: %v", err))
		}
	}
	return append(errs, h.TLS.problems("http.tls")...)
}

func (t *TLS) problems(field string) []string {
	if t == nil || t.CAPEM == "" {
		return nil
	}
	if _, err := t.config(""); err != nil {
		return []string{fmt.Sprintf("%s.caPEM: %v", field, err)}
	}
	return nil
}

// config builds a crypto/tls client configuration; defaultName is the SNI
// used when ServerName is empty.
func (t *TLS) config(defaultName string) (*tls.Config, error) {
	cfg := &tls.Config{
		ServerName:         t.ServerName,
		InsecureSkipVerify: t.InsecureSkipVerify, //nolint:gosec // operator's explicit choice
		MinVersion:         tls.VersionTLS12,
	}
	if cfg.ServerName == "" {
		cfg.ServerName = defaultName
	}
	if t.CAPEM != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(t.CAPEM)) {
			return nil, errors.New("no PEM certificate found")
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// reservedHeaders are written by the HTTP check itself; letting a config
// repeat them would produce a malformed or ambiguous request.
var reservedHeaders = map[string]bool{
	"Host": true, "Connection": true, "Content-Length": true, "Transfer-Encoding": true,
}

// validToken reports whether s is a non-empty RFC 9110 token.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// Target is one address to check with one Config.
type Target struct {
	// Address is "host:port".
	Address string `json:"address"`
	// Config says how to check it.
	Config Config `json:"config"`
	// Initial is the status assumed before the first probe, for example the
	// status a previous control-plane leader published, so that a takeover
	// does not reset every member to unknown. StatusUnknown (the default)
	// lets the first probe decide. It is not part of the target's identity:
	// when a target is already registered, its current state is kept.
	Initial Status `json:"initial,omitempty"`
}

// Validate checks the address and the configuration and reports every
// problem, joined into one error.
func (t Target) Validate() error { return joinProblems("health: ", t.problems()) }

// problems lists what is wrong with t as "field: what" strings.
func (t Target) problems() []string {
	var errs []string
	host, port, err := net.SplitHostPort(t.Address)
	if err != nil {
		errs = append(errs, fmt.Sprintf("address %q: want host:port", t.Address))
	} else {
		p, perr := strconv.Atoi(port)
		if host == "" {
			errs = append(errs, fmt.Sprintf("address %q: host is empty", t.Address))
		}
		if perr != nil || p < 1 || p > 65535 {
			errs = append(errs, fmt.Sprintf("address %q: port must be between 1 and 65535", t.Address))
		}
	}
	if t.Initial > StatusUnhealthy {
		errs = append(errs, fmt.Sprintf("initial: unknown status %d", t.Initial))
	}
	return append(errs, t.Config.problems()...)
}

// joinProblems turns problems into one error, each line with prefix.
func joinProblems(prefix string, problems []string) error {
	if len(problems) == 0 {
		return nil
	}
	errs := make([]error, len(problems))
	for i, p := range problems {
		errs[i] = errors.New(prefix + p)
	}
	return errors.Join(errs...)
}

package loadgen

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// WebSockets are connections held open through a proxy, each exchanging
// an echo message every interval, to see which survive configuration
// changes.
type WebSockets struct {
	// Opened, Dropped and Messages count connections opened, connections
	// that broke before Close, and echoes received.
	Opened   int
	dropped  atomic.Int64
	messages atomic.Int64
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	mu       sync.Mutex
	firstErr error
}

// HoldWebSockets opens n WebSockets to url (all must open) and keeps each
// echoing a message every interval until Close.
func HoldWebSockets(url string, n int, interval time.Duration) (*WebSockets, error) {
	ctx, cancel := context.WithCancel(context.Background())
	ws := &WebSockets{cancel: cancel}
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	conns := make([]*websocket.Conn, 0, n)
	for range n {
		c, resp, err := d.Dial(url, nil)
		if err != nil {
			cancel()
			for _, c := range conns {
				c.Close()
			}
			status := ""
			if resp != nil {
				status = fmt.Sprintf(" (HTTP %d)", resp.StatusCode)
			}
			return nil, fmt.Errorf("loadgen: websocket %s%s: %w", url, status, err)
		}
		conns = append(conns, c)
	}
	ws.Opened = n
	for i, c := range conns {
		ws.wg.Add(1)
		go func() {
			defer ws.wg.Done()
			defer c.Close()
			ws.echo(ctx, c, i, interval)
		}()
	}
	return ws, nil
}

func (ws *WebSockets) echo(ctx context.Context, c *websocket.Conn, id int, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	msg := []byte(fmt.Sprintf("ws-%d", id))
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		err := c.WriteMessage(websocket.TextMessage, msg)
		if err == nil {
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			var got []byte
			_, got, err = c.ReadMessage()
			if err == nil && string(got) != string(msg) {
				err = fmt.Errorf("echo %q, want %q", got, msg)
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			ws.dropped.Add(1)
			ws.mu.Lock()
			if ws.firstErr == nil {
				ws.firstErr = err
			}
			ws.mu.Unlock()
			return
		}
		ws.messages.Add(1)
	}
}

// Close stops every connection and returns how many had dropped, the
// echoes received, and the first error seen.
func (ws *WebSockets) Close() (dropped, messages int64, firstErr error) {
	ws.cancel()
	ws.wg.Wait()
	return ws.dropped.Load(), ws.messages.Load(), ws.firstErr
}

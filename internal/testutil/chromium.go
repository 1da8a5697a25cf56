package testutil

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Chromium is a headless Debian chromium started by a test and driven with
// chromedp. It records everything the pages write to the console, their
// uncaught exceptions and the browser log, so that a test can assert that
// a page ran without errors.
type Chromium struct {
	// Ctx runs chromedp actions in the browser's tab.
	Ctx context.Context

	mu       sync.Mutex
	messages []chromedp.ConsoleMessage
}

// StartChromium starts a headless chromium with a fresh profile in
// t.TempDir() and a window of width × height pixels. It skips the test when
// chromium is not installed (fails under FULCRUM_REQUIRE_PEERS=1). The
// background-networking flags keep Chromium from calling home, which in a
// closed sandbox means floods of failing connections. The browser, its
// process and every goroutine chromedp started are stopped by the test's
// cleanup.
func StartChromium(t testing.TB, width, height int) *Chromium {
	t.Helper()
	bin := RequireBinary(t, "chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	c := &Chromium{Ctx: ctx}
	messages := chromedp.Console(ctx) // starts the browser
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			c.mu.Lock()
			c.messages = append(c.messages, m)
			c.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		// Close the browser gracefully, within bounds, then free everything.
		cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
		_ = chromedp.Cancel(cctx)
		ccancel()
		cancel()
		cancelAlloc() // waits for the process
		<-done
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return c
}

// Messages returns what the pages wrote to the console so far.
func (c *Chromium) Messages() []chromedp.ConsoleMessage {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]chromedp.ConsoleMessage(nil), c.messages...)
}

// Errors returns the console errors, warnings and uncaught exceptions of
// the pages so far, as text.
func (c *Chromium) Errors() []string {
	var out []string
	for _, m := range c.Messages() {
		switch m.Type {
		case chromedp.ConsoleError, chromedp.ConsoleWarning, chromedp.ConsoleException:
			out = append(out, m.String())
		}
	}
	return out
}

package http1

import (
	"bytes"
	"errors"
	"io"
	"net/http/httputil"
	"strings"
	"testing"
)

type chunkCase struct {
	name   string
	in     string
	data   string // decoded data for accepted bodies
	rest   string // bytes after the body
	status int    // 0: accepted
}

var chunkCorpus = []chunkCase{
	{"simple", "5\r\nhello\r\n0\r\n\r\n", "hello", "", 0},
	{"two chunks", "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world", "", 0},
	{"upper hex", "A\r\n0123456789\r\n0\r\n\r\n", "0123456789", "", 0},
	{"lower hex", "a\r\n0123456789\r\n0\r\n\r\n", "0123456789", "", 0},
	{"leading zeros", "0005\r\nhello\r\n000\r\n\r\n", "hello", "", 0},
	{"16 digits", "0000000000000005\r\nhello\r\n0\r\n\r\n", "hello", "", 0},
	{"empty body", "0\r\n\r\n", "", "", 0},
	{"next message", "1\r\na\r\n0\r\n\r\nGET / HTTP/1.1\r\n", "a", "GET / HTTP/1.1\r\n", 0},
	{"ext name", "5;foo\r\nhello\r\n0;bar\r\n\r\n", "hello", "", 0},
	{"ext token value", "5;foo=bar;baz\r\nhello\r\n0\r\n\r\n", "hello", "", 0},
	{"ext quoted", "5;foo=\"b a;r\\\"x\"\r\nhello\r\n0\r\n\r\n", "hello", "", 0},
	{"ext bws", "5; foo = bar ;baz\r\nhello\r\n0\r\n\r\n", "hello", "", 0},
	{"ext after quoted ws", "5;a=\"b\" ;c\r\nhello\r\n0\r\n\r\n", "hello", "", 0},
	{"trailers", "5\r\nhello\r\n0\r\nX-Sum: abc\r\nY:\r\n\r\n", "hello", "", 0},
	{"trailer obs-text", "1\r\na\r\n0\r\nX: caf\xc3\xa9 \t x\r\n\r\n", "a", "", 0},
	{"binary data", "4\r\n\r\n\x00\n\r\n0\r\n\r\n", "\r\n\x00\n", "", 0},

	{"empty size", "\r\nhello\r\n0\r\n\r\n", "", "", 400},
	{"size ws", "5 \r\nhello\r\n0\r\n\r\n", "", "", 400},
	{"size bws ext", "5 ;a\r\nhello\r\n0\r\n\r\n", "", "", 400},
	{"size leading ws", " 5\r\nhello\r\n0\r\n\r\n", "", "", 400},
	{"size plus", "+5\r\nhello\r\n0\r\n\r\n", "", "", 400},
	{"size minus", "-5\r\nhello\r\n0\r\n\r\n", "", "", 400},
	{"size 0x", "0x5\r\nhello\r\n0\r\n\r\n", "", "", 400},
	{"size junk", "5g\r\nhello\r\n0\r\n\r\n", "", "", 400},
	{"size junk before", "g5\r\nhello\r\n0\r\n\r\n", "", "", 400},
	{"size underscore", "1_0\r\n", "", "", 400},
	{"size 17 digits", "00000000000000005\r\nhello\r\n0\r\n\r\n", "", "", 400},
	{"size overflow", "ffffffffffffffff\r\n", "", "", 400},
	{"size 2^62", "4000000000000000\r\n", "", "", 400},
	{"size bare lf", "5\nhello\r\n0\r\n\r\n", "", "", 400},
	{"size bare cr", "5\rhello\r\n0\r\n\r\n", "", "", 400},
	{"data no crlf", "5\r\nhello0\r\n\r\n", "", "", 400},
	{"data bare lf", "5\r\nhello\n0\r\n\r\n", "", "", 400},
	{"data bare cr", "5\r\nhello\r0\r\n\r\n", "", "", 400},
	{"data too long", "5\r\nhello!\r\n0\r\n\r\n", "", "", 400},
	{"last bare lf", "0\r\n\n", "", "", 400},
	{"last lf", "0\n\n", "", "", 400},
	{"ext empty", "5;\r\nhello\r\n0\r\n\r\n", "", "", 400},
	{"ext empty value", "5;a=\r\nhello\r\n0\r\n\r\n", "", "", 400},
	{"ext unterminated quote", "5;a=\"b\r\nhello\r\n0\r\n\r\n", "", "", 400},
	{"ext space in name", "5;a b\r\nhello\r\n0\r\n\r\n", "", "", 400},
	{"ext space in value", "5;a=b c\r\nhello\r\n0\r\n\r\n", "", "", 400},
	{"ext trailing ws", "5;a=b \r\nhello\r\n0\r\n\r\n", "", "", 400},
	{"ext name ws cr", "5;a \r\nhello\r\n0\r\n\r\n", "", "", 400},
	{"ext no name", "5;=b\r\nhello\r\n0\r\n\r\n", "", "", 400},
	{"ext nul", "5;a\x00\r\nhello\r\n0\r\n\r\n", "", "", 400},
	{"ext quoted ctl", "5;a=\"\x01\"\r\nhello\r\n0\r\n\r\n", "", "", 400},
	{"ext too long", "5;a=" + strings.Repeat("b", MaxChunkLine) + "\r\nhello\r\n0\r\n\r\n", "", "", 400},
	{"trailer obs fold", "0\r\nX: 1\r\n y\r\n\r\n", "", "", 400},
	{"trailer leading ws", "0\r\n X: 1\r\n\r\n", "", "", 400},
	{"trailer no colon", "0\r\nX\r\n\r\n", "", "", 400},
	{"trailer space before colon", "0\r\nX : 1\r\n\r\n", "", "", 400},
	{"trailer bare lf", "0\r\nX: 1\n\r\n", "", "", 400},
	{"trailer nul", "0\r\nX: \x00\r\n\r\n", "", "", 400},
	{"trailer too large", "0\r\nX: " + strings.Repeat("a", MaxTrailerBytes) + "\r\n\r\n", "", "", 431},
	{"overhead", strings.Repeat("1;"+strings.Repeat("x", 1000)+"\r\na\r\n", 20) + "0\r\n\r\n", "", "", 400},
}

// runChunked feeds in to a fresh parser in pieces of size step (0: whole)
// with Scan or Decode, returning the data, the bytes consumed and the error.
func runChunked(in []byte, step int, decode bool, maxBody int64) (data []byte, used int, done bool, err error) {
	c := ChunkedParser{MaxBody: maxBody}
	for used < len(in) && !done {
		end := len(in)
		if step > 0 && used+step < end {
			end = used + step
		}
		p := in[used:end]
		for len(p) > 0 && !done {
			var n int
			if decode {
				var d []byte
				d, n, done, err = c.Decode(p)
				data = append(data, d...)
			} else {
				n, done, err = c.Scan(p)
			}
			used += n
			p = p[n:]
			if err != nil {
				return data, used, done, err
			}
		}
	}
	return data, used, done, nil
}

func TestChunkedCorpus(t *testing.T) {
	for _, tc := range chunkCorpus {
		in := []byte(tc.in)
		for _, decode := range []bool{false, true} {
			for _, step := range []int{0, 1, 2, 3, 7} {
				data, used, done, err := runChunked(in, step, decode, 0)
				if tc.status != 0 {
					var perr *Error
					if !errors.As(err, &perr) || perr.Status != tc.status {
						t.Fatalf("%s (decode %v, step %d): err %v, want status %d", tc.name, decode, step, err, tc.status)
					}
					continue
				}
				if err != nil || !done || tc.in[used:] != tc.rest {
					t.Fatalf("%s (decode %v, step %d): used %d done %v err %v", tc.name, decode, step, used, done, err)
				}
				if decode && string(data) != tc.data {
					t.Fatalf("%s (step %d): data %q, want %q", tc.name, step, data, tc.data)
				}
			}
		}
		if tc.status == 0 {
			got, err := io.ReadAll(httputil.NewChunkedReader(bytes.NewReader(in)))
			if err != nil || string(got) != tc.data {
				t.Errorf("%s: net/http decodes %q, %v; we decode %q", tc.name, got, err, tc.data)
			}
		}
	}
}

// TestChunkedSplits feeds every accepted body in two pieces at every split
// point: the verdict and the data must not depend on how reads fall.
func TestChunkedSplits(t *testing.T) {
	for _, tc := range chunkCorpus {
		in := []byte(tc.in)
		if len(in) > 200 {
			continue
		}
		for split := 0; split <= len(in); split++ {
			c := ChunkedParser{}
			var data []byte
			used, done := 0, false
			var err error
			for _, part := range [][]byte{in[:split], in[split:]} {
				for len(part) > 0 && !done && err == nil {
					var d []byte
					var n int
					d, n, done, err = c.Decode(part)
					data = append(data, d...)
					part = part[n:]
					used += n
				}
			}
			if (err == nil) != (tc.status == 0) {
				t.Fatalf("%s split at %d: err %v, want status %d", tc.name, split, err, tc.status)
			}
			if err == nil && (string(data) != tc.data || !done || tc.in[used:] != tc.rest) {
				t.Fatalf("%s split at %d: data %q used %d done %v", tc.name, split, data, used, done)
			}
		}
	}
}

func TestChunkedMaxBody(t *testing.T) {
	in := []byte("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
	if _, _, done, err := runChunked(in, 0, false, 11); err != nil || !done {
		t.Fatalf("at the limit: %v", err)
	}
	data, _, _, err := runChunked(in, 0, true, 10)
	var perr *Error
	if !errors.As(err, &perr) || perr.Status != 413 || string(data) != "hello" {
		t.Fatalf("over the limit: data %q err %v, want 413 after hello", data, err)
	}
}

func TestChunkedAfterError(t *testing.T) {
	var c ChunkedParser
	if _, _, err := c.Scan([]byte("x")); err == nil {
		t.Fatal("want error")
	}
	if n, done, err := c.Scan([]byte("0\r\n\r\n")); err == nil || n != 0 || done {
		t.Fatalf("after an error Scan = %d, %v, %v", n, done, err)
	}
	c.Reset()
	if _, done, err := c.Scan([]byte("0\r\n\r\n")); err != nil || !done || !c.Done() {
		t.Fatalf("after Reset: %v %v", done, err)
	}
	if n, done, err := c.Scan([]byte("more")); n != 0 || !done || err != nil {
		t.Fatalf("after the end Scan = %d, %v, %v", n, done, err)
	}
}

func TestAppendChunkHeaderRoundTrip(t *testing.T) {
	var body []byte
	var want []byte
	for _, n := range []int{1, 9, 15, 16, 255, 4096, 65537} {
		chunk := bytes.Repeat([]byte{byte(n)}, n)
		body = AppendChunkHeader(body, n)
		body = append(body, chunk...)
		body = append(body, CRLF...)
		want = append(want, chunk...)
	}
	body = append(body, LastChunk...)
	data, used, done, err := runChunked(body, 0, true, 0)
	if err != nil || !done || used != len(body) || !bytes.Equal(data, want) {
		t.Fatalf("round trip: used %d/%d done %v err %v equal %v", used, len(body), done, err, bytes.Equal(data, want))
	}
	if got := string(AppendChunkHeader(nil, 0x1a2b)); got != "1a2b\r\n" {
		t.Fatalf("AppendChunkHeader = %q", got)
	}
}

func TestChunkedZeroAlloc(t *testing.T) {
	in := []byte("5;a=b\r\nhello\r\n6\r\n world\r\n0\r\nX: 1\r\n\r\n")
	var c ChunkedParser
	allocs := testing.AllocsPerRun(200, func() {
		c.Reset()
		if _, done, err := c.Scan(in); err != nil || !done {
			t.Fatal(err)
		}
		c.Reset()
		for p := in; len(p) > 0; {
			_, n, done, err := c.Decode(p)
			if err != nil {
				t.Fatal(err)
			}
			if p = p[n:]; done {
				break
			}
		}
	})
	if allocs != 0 {
		t.Errorf("chunked parsing allocates %v times per run", allocs)
	}
}

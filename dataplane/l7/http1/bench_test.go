package http1

import (
	"bufio"
	"bytes"
	"net/http"
	"testing"
)

func benchParseRequest(b *testing.B, in string) {
	buf := []byte(in)
	var req Request
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseRequest(buf, &req, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseRequestBrowser(b *testing.B) { benchParseRequest(b, browserRequest) }

func BenchmarkParseRequestMinimal(b *testing.B) { benchParseRequest(b, minimalRequest) }

func BenchmarkParseResponse(b *testing.B) {
	buf := []byte(typicalResponse)
	var resp Response
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseResponse(buf, &resp, MethodGet, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNetHTTPReadRequest is the reference point: what net/http spends
// on the same browser request head.
func BenchmarkNetHTTPReadRequest(b *testing.B) {
	buf := []byte(browserRequest)
	r := bytes.NewReader(buf)
	br := bufio.NewReader(r)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(buf)
		br.Reset(r)
		if _, err := http.ReadRequest(br); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendRequest(b *testing.B) {
	var req Request
	if _, err := ParseRequest([]byte(browserRequest), &req, nil); err != nil {
		b.Fatal(err)
	}
	o := &RequestOptions{
		Edits: &Edits{
			Remove: [][]byte{[]byte("cookie")},
			Set:    []Header{{Name: []byte("x-request-id"), Value: []byte("0a1b2c3d")}},
		},
		XFF: XFFAppend, ClientIP: []byte("192.0.2.10"),
	}
	dst := make([]byte, 0, 2048)
	b.ReportAllocs()
	for b.Loop() {
		dst = AppendRequest(dst[:0], &req, o)
	}
	b.SetBytes(int64(len(dst)))
}

func BenchmarkAppendResponse(b *testing.B) {
	var resp Response
	if _, err := ParseResponse([]byte(typicalResponse), &resp, MethodGet, nil); err != nil {
		b.Fatal(err)
	}
	o := &ResponseOptions{Framing: resp.Framing, ContentLength: resp.ContentLength}
	dst := make([]byte, 0, 2048)
	b.ReportAllocs()
	for b.Loop() {
		dst = AppendResponse(dst[:0], &resp, o)
	}
	b.SetBytes(int64(len(dst)))
}

// chunkedBody is 64 KiB of data in 8 KiB chunks, as an upstream streaming
// a large response would send it.
func chunkedBody() []byte {
	var body []byte
	data := bytes.Repeat([]byte("x"), 8<<10)
	for range 8 {
		body = AppendChunkHeader(body, len(data))
		body = append(body, data...)
		body = append(body, CRLF...)
	}
	return append(body, LastChunk...)
}

func BenchmarkChunkedScan(b *testing.B) {
	body := chunkedBody()
	var c ChunkedParser
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		c.Reset()
		for p := body; len(p) > 0; {
			n, done, err := c.Scan(p[:min(len(p), 16<<10)])
			if err != nil {
				b.Fatal(err)
			}
			if p = p[n:]; done {
				break
			}
		}
	}
}

func BenchmarkChunkedDecodeSmallChunks(b *testing.B) {
	var body []byte
	for range 256 {
		body = AppendChunkHeader(body, 16)
		body = append(body, "0123456789abcdef\r\n"...)
	}
	body = append(body, LastChunk...)
	var c ChunkedParser
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		c.Reset()
		for p := body; len(p) > 0; {
			_, n, done, err := c.Decode(p)
			if err != nil {
				b.Fatal(err)
			}
			if p = p[n:]; done {
				break
			}
		}
	}
}

package http1

import (
	"bytes"
	"testing"
)

// The fuzz targets check invariants, not outputs: no panic, whatever we
// accept net/http accepts with the same meaning, and what we write parses
// back the same. Seeds come from the corpus tables and testdata/fuzz.

func FuzzParseRequest(f *testing.F) {
	for _, tc := range requestCorpus {
		f.Add([]byte(tc.in))
	}
	for _, tc := range smugglingStreams {
		f.Add([]byte(tc.stream))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var req Request
		n, err := ParseRequest(in, &req, nil)
		if err != nil {
			if err != ErrNeedMore && n != 0 {
				t.Fatalf("error %v with head length %d", err, n)
			}
			return
		}
		if n <= 0 || n > len(in) {
			t.Fatalf("head length %d of %d", n, len(in))
		}
		if msg := netHTTPRequestMismatch(in, n, &req); msg != "" {
			t.Fatalf("%q: %s", in[:n], msg)
		}
		if _, err := ParseRequest(in[:n-1], &Request{}, nil); err != ErrNeedMore {
			t.Fatalf("%q without its last byte: %v, want ErrNeedMore", in[:n], err)
		}
		out := AppendRequest(nil, &req, roundTripOptions(&req))
		var again Request
		if _, err := ParseRequest(out, &again, nil); err != nil {
			t.Fatalf("rewritten %q does not parse: %v", out, err)
		}
		if msg := sameSemantics(&req, &again); msg != "" {
			t.Fatalf("%s\nin  %q\nout %q", msg, in[:n], out)
		}
		// The whole input as a pipelined stream: if we delimit every
		// message, net/http must delimit the same messages.
		if ours, err := splitStream(in); err == nil {
			theirs, err := netHTTPSplit(in)
			if err != nil || len(theirs) != len(ours) {
				t.Fatalf("stream %q: net/http %+v (%v), ours %+v", in, theirs, err, ours)
			}
			for i := range ours {
				if ours[i] != theirs[i] {
					t.Fatalf("stream %q: message %d: net/http %+v, ours %+v", in, i, theirs[i], ours[i])
				}
			}
		}
	})
}

func FuzzParseResponse(f *testing.F) {
	for _, tc := range responseCorpus {
		f.Add([]byte(tc.in), uint8(tc.method))
	}
	f.Fuzz(func(t *testing.T, in []byte, m uint8) {
		method := Method(m % uint8(MethodPatch+1))
		var resp Response
		n, err := ParseResponse(in, &resp, method, nil)
		if err != nil {
			return
		}
		if n <= 0 || n > len(in) {
			t.Fatalf("head length %d of %d", n, len(in))
		}
		if msg := netHTTPResponseMismatch(in, n, method, &resp); msg != "" {
			t.Fatalf("%q (%v): %s", in[:n], method, msg)
		}
		if msg := responseRoundTrip(&resp, method); msg != "" {
			t.Fatalf("%q: %s", in[:n], msg)
		}
	})
}

func FuzzChunked(f *testing.F) {
	for _, tc := range chunkCorpus {
		f.Add([]byte(tc.in), uint8(0))
		f.Add([]byte(tc.in), uint8(3))
	}
	f.Fuzz(func(t *testing.T, in []byte, step uint8) {
		whole, used, done, err := runChunked(in, 0, true, 0)
		_, sUsed, sDone, sErr := runChunked(in, int(step), false, 0)
		pieces, pUsed, pDone, pErr := runChunked(in, int(step), true, 0)
		if (err == nil) != (sErr == nil) || (err == nil) != (pErr == nil) || used != sUsed || used != pUsed ||
			done != sDone || done != pDone || !bytes.Equal(whole, pieces) {
			t.Fatalf("Scan/Decode/fragmented disagree: %v %v %v, used %d %d %d, done %v %v %v",
				err, sErr, pErr, used, sUsed, pUsed, done, sDone, pDone)
		}
		if err != nil || !done {
			return
		}
		if msg := netHTTPChunkedMismatch(in[:used], whole); msg != "" {
			t.Fatalf("%q: %s", in[:used], msg)
		}
	})
}

package http1

import "testing"

// TestSWARScanners checks the word-at-a-time scanners against the byte
// tables for every byte value at every position of a word and beyond.
func TestSWARScanners(t *testing.T) {
	slow := func(b []byte, p int, bit uint8) int {
		for p < len(b) && class[b[p]]&bit != 0 {
			p++
		}
		return p
	}
	base := []byte("abcdefghijklmnopqrstuvwxyz0123456789")
	for c := 0; c < 256; c++ {
		for pos := 0; pos < 20; pos++ {
			for start := 0; start < 3; start++ {
				b := append([]byte(nil), base...)
				b[start+pos] = byte(c)
				if got, want := scanValue(b, start), slow(b, start, cValue); got != want {
					t.Fatalf("scanValue byte %#x at %d from %d: %d, want %d", c, pos, start, got, want)
				}
				if got, want := scanTarget(b, start), slow(b, start, cTarget); got != want {
					t.Fatalf("scanTarget byte %#x at %d from %d: %d, want %d", c, pos, start, got, want)
				}
			}
		}
	}
}

func TestValidIPv6(t *testing.T) {
	for s, want := range map[string]bool{
		"::": true, "::1": true, "1::": true, "2001:db8::1": true, "1:2:3:4:5:6:7:8": true,
		"1:2:3:4:5:6::7": true, "fe80::abcd:ef01": true, "FFFF::": true,
		"": false, ":": false, ":::": false, "1:2:3:4:5:6:7": false, "1:2:3:4:5:6:7:8:9": false,
		"1:2:3:4:5:6:7::8": false, "1::2::3": false, "12345::": false, ":1": false, "1:": false,
		"::ffff:1.2.3.4": false, "fe80::1%eth0": false, "g::": false,
	} {
		if got := validIPv6([]byte(s)); got != want {
			t.Errorf("validIPv6(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestParseDecimal(t *testing.T) {
	for s, want := range map[string]int64{
		"0": 0, "007": 7, "9223372036854775807": 1<<63 - 1,
		"": -1, "9223372036854775808": -1, "-1": -1, "+1": -1, "1 ": -1, "0x1": -1,
	} {
		n, ok := parseDecimal([]byte(s))
		if (want < 0 && ok) || (want >= 0 && (!ok || n != want)) {
			t.Errorf("parseDecimal(%q) = %d, %v; want %d", s, n, ok, want)
		}
	}
}

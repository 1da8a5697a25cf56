package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration written as a Go duration string ("250ms",
// "2s", "1h30m"). A bare number is rejected: "30" could mean seconds or
// milliseconds, and guessing is how outages start.
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Seconds is a convenience for constructing durations in code and tests.
func Seconds(n float64) Duration { return Duration(n * float64(time.Second)) }

// MarshalJSON writes the shortest readable form: "1m" rather than "1m0s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// String formats the duration without zero-valued trailing units.
func (d Duration) String() string {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// UnmarshalJSON accepts only a duration string; negative values are errors.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New(`must be a duration string such as "2s" or "250ms"`)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf(`invalid duration %q: use a number with a unit (ms, s, m, h), e.g. "2s"`, s)
	}
	if v < 0 {
		return fmt.Errorf("invalid duration %q: must not be negative", s)
	}
	*d = Duration(v)
	return nil
}

// ByteSize is a size in bytes, written as an integer or as a string with a
// binary or decimal suffix: "64Ki", "1Mi", "10M", "1Gi".
type ByteSize int64

var byteSuffixes = []struct {
	suffix string
	mult   int64
}{
	{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30},
	{"K", 1000}, {"M", 1000 * 1000}, {"G", 1000 * 1000 * 1000},
}

// MarshalJSON writes the value with the largest exact binary suffix.
func (b ByteSize) MarshalJSON() ([]byte, error) { return json.Marshal(b.String()) }

// String formats the size with the largest binary suffix that divides it.
func (b ByteSize) String() string {
	n := int64(b)
	for _, s := range []struct {
		suffix string
		mult   int64
	}{{"Gi", 1 << 30}, {"Mi", 1 << 20}, {"Ki", 1 << 10}} {
		if n != 0 && n%s.mult == 0 {
			return strconv.FormatInt(n/s.mult, 10) + s.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

// UnmarshalJSON accepts a non-negative integer or a suffixed string.
func (b *ByteSize) UnmarshalJSON(data []byte) error {
	var n int64
	if err := json.Unmarshal(data, &n); err == nil {
		if n < 0 {
			return errors.New("must not be negative")
		}
		*b = ByteSize(n)
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return errors.New(`must be a size such as 65536, "64Ki" or "1Mi"`)
	}
	v, err := ParseByteSize(s)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// ParseByteSize parses "123", "64Ki", "10M" and the like.
func ParseByteSize(s string) (ByteSize, error) {
	num, mult := s, int64(1)
	for _, suf := range byteSuffixes {
		if strings.HasSuffix(s, suf.suffix) {
			num, mult = strings.TrimSuffix(s, suf.suffix), suf.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf(`invalid size %q: use a whole number with an optional suffix Ki, Mi, Gi, K, M or G`, s)
	}
	if n > (1<<62)/mult {
		return 0, fmt.Errorf("invalid size %q: too large", s)
	}
	return ByteSize(n * mult), nil
}

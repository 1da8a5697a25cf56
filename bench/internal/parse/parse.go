// Package parse reads the output of the tools the harness drives: wrk,
// h2load, HAProxy's "show stat" CSV and Prometheus text metrics.
package parse

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Wrk is what the harness takes from wrk's report (run with --latency).
type Wrk struct {
	Requests   int64
	PerSecond  float64
	P50, P99   time.Duration
	Non2xx3xx  int64
	SocketErrs int64 // connect + read + write + timeout
}

// ParseWrk parses the text wrk prints.
func ParseWrk(out string) (Wrk, error) {
	var w Wrk
	var haveReq, haveRate bool
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) >= 3 && f[1] == "requests" && f[2] == "in":
			n, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return w, fmt.Errorf("parse: wrk requests %q: %w", f[0], err)
			}
			w.Requests, haveReq = n, true
		case len(f) == 2 && f[0] == "Requests/sec:":
			x, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return w, fmt.Errorf("parse: wrk rate %q: %w", f[1], err)
			}
			w.PerSecond, haveRate = x, true
		case len(f) == 2 && (f[0] == "50%" || f[0] == "99%"):
			d, err := WrkDuration(f[1])
			if err != nil {
				return w, err
			}
			if f[0] == "50%" {
				w.P50 = d
			} else {
				w.P99 = d
			}
		case len(f) == 5 && f[0] == "Non-2xx":
			w.Non2xx3xx, _ = strconv.ParseInt(f[4], 10, 64)
		case len(f) >= 2 && f[0] == "Socket" && f[1] == "errors:":
			// Socket errors: connect 0, read 12, write 0, timeout 0
			for i := 2; i+1 < len(f); i += 2 {
				n, _ := strconv.ParseInt(strings.TrimSuffix(f[i+1], ","), 10, 64)
				w.SocketErrs += n
			}
		}
	}
	if !haveReq || !haveRate {
		return w, errors.New("parse: wrk output has no request count or rate")
	}
	return w, nil
}

// WrkDuration parses wrk's durations: "89.00us", "5.33ms", "1.20s", "2.00m".
func WrkDuration(s string) (time.Duration, error) {
	units := []struct {
		suffix string
		unit   time.Duration
	}{{"us", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			x, err := strconv.ParseFloat(num, 64)
			if err != nil {
				return 0, fmt.Errorf("parse: wrk duration %q: %w", s, err)
			}
			return time.Duration(x * float64(u.unit)), nil
		}
	}
	return 0, fmt.Errorf("parse: wrk duration %q: unknown unit", s)
}

// H2load is what the harness takes from h2load's report.
type H2load struct {
	Succeeded, Failed, Errored int64
	PerSecond                  float64
	MeanRequest                time.Duration
}

// ParseH2load parses the text h2load prints.
func ParseH2load(out string) (H2load, error) {
	var h H2load
	var haveReq bool
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "finished in "):
			// finished in 3.00s, 52125.50 req/s, 3.38MB/s
			f := strings.Fields(line)
			if len(f) >= 5 {
				h.PerSecond, _ = strconv.ParseFloat(f[3], 64)
			}
		case strings.HasPrefix(line, "requests: "):
			// requests: 10 total, 10 started, 10 done, 9 succeeded, 1 failed, 0 errored, 0 timeout
			for _, part := range strings.Split(strings.TrimPrefix(line, "requests: "), ",") {
				f := strings.Fields(part)
				if len(f) != 2 {
					continue
				}
				n, err := strconv.ParseInt(f[0], 10, 64)
				if err != nil {
					return h, fmt.Errorf("parse: h2load %q: %w", part, err)
				}
				switch f[1] {
				case "succeeded":
					h.Succeeded, haveReq = n, true
				case "failed":
					h.Failed = n
				case "errored":
					h.Errored = n
				}
			}
		case strings.HasPrefix(line, "time for request:"):
			f := strings.Fields(strings.TrimPrefix(line, "time for request:"))
			if len(f) >= 3 {
				h.MeanRequest, _ = time.ParseDuration(strings.Replace(f[2], "us", "µs", 1))
			}
		}
	}
	if !haveReq {
		return h, errors.New("parse: h2load output has no request counts")
	}
	return h, nil
}

// HAProxyServer is one server row of HAProxy's "show stat" CSV.
type HAProxyServer struct {
	Proxy, Name, Status string
	// Stot counts the sessions ever handed to the server (each attempt,
	// also those that fail and are redispatched); Econ failed connections
	// not retried elsewhere; Wretr retries; Wredis redispatches; Hrsp5xx
	// 5xx responses.
	Stot, Econ, Eresp, Wretr, Wredis, Hrsp5xx int64
}

// ParseHAProxyStat parses "show stat" output (a CSV whose header line
// starts with "# ") and returns the server rows.
func ParseHAProxyStat(out string) ([]HAProxyServer, error) {
	out = strings.TrimPrefix(strings.TrimLeft(out, "\n"), "# ")
	r := csv.NewReader(strings.NewReader(out))
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("parse: haproxy stat: %w", err)
	}
	if len(recs) == 0 {
		return nil, errors.New("parse: haproxy stat: empty")
	}
	col := map[string]int{}
	for i, name := range recs[0] {
		col[name] = i
	}
	for _, need := range []string{"pxname", "svname", "status", "stot", "econ", "wretr", "wredis"} {
		if _, ok := col[need]; !ok {
			return nil, fmt.Errorf("parse: haproxy stat: no column %q", need)
		}
	}
	get := func(rec []string, name string) string {
		if i, ok := col[name]; ok && i < len(rec) {
			return rec[i]
		}
		return ""
	}
	num := func(rec []string, name string) int64 {
		n, _ := strconv.ParseInt(get(rec, name), 10, 64)
		return n
	}
	var servers []HAProxyServer
	for _, rec := range recs[1:] {
		sv := get(rec, "svname")
		if sv == "" || sv == "FRONTEND" || sv == "BACKEND" {
			continue
		}
		servers = append(servers, HAProxyServer{Proxy: get(rec, "pxname"), Name: sv, Status: get(rec, "status"), Stot: num(rec, "stot"),
			Econ: num(rec, "econ"), Eresp: num(rec, "eresp"), Wretr: num(rec, "wretr"), Wredis: num(rec, "wredis"), Hrsp5xx: num(rec, "hrsp_5xx")})
	}
	return servers, nil
}

// PromSum adds up every sample of the metric name in Prometheus text
// output whose labels include all of match (name="value" pairs).
func PromSum(text, name string, match map[string]string) float64 {
	var sum float64
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		labels := ""
		if strings.HasPrefix(rest, "{") {
			end := strings.LastIndexByte(rest, '}')
			if end < 0 {
				continue
			}
			labels, rest = rest[1:end], rest[end+1:]
		} else if !strings.HasPrefix(rest, " ") {
			continue // a longer metric name with the same prefix
		}
		if !labelsMatch(labels, match) {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		if v, err := strconv.ParseFloat(f[0], 64); err == nil {
			sum += v
		}
	}
	return sum
}

// labelsMatch reports whether every name="value" pair of match is among
// labels (the text between the braces). Values with commas or escaped
// quotes are not expected here.
func labelsMatch(labels string, match map[string]string) bool {
	pairs := strings.Split(labels, ",")
	for k, v := range match {
		want := k + `="` + v + `"`
		found := false
		for _, p := range pairs {
			if strings.TrimSpace(p) == want {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

package parse

import (
	"testing"
	"time"
)

const wrkOut = `Running 10s test @ http://127.0.0.1:18882/
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   227.30us    1.09ms  15.80ms   98.07%
    Req/Sec    65.79k     6.96k   73.15k    81.82%
  Latency Distribution
     50%   89.00us
     75%  101.00us
     90%  124.00us
     99%    5.33ms
  718470 requests in 10.10s, 102.10MB read
  Socket errors: connect 0, read 12, write 3, timeout 1
  Non-2xx or 3xx responses: 7
Requests/sec:  71135.12
Transfer/sec:      9.28MB
`

func TestParseWrk(t *testing.T) {
	w, err := ParseWrk(wrkOut)
	if err != nil {
		t.Fatal(err)
	}
	want := Wrk{Requests: 718470, PerSecond: 71135.12, P50: 89 * time.Microsecond, P99: 5330 * time.Microsecond, Non2xx3xx: 7, SocketErrs: 16}
	if w != want {
		t.Errorf("ParseWrk = %+v\nwant %+v", w, want)
	}
	if _, err := ParseWrk("connection refused"); err == nil {
		t.Error("ParseWrk accepted an error message")
	}
}

func TestWrkDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"89.00us": 89 * time.Microsecond, "1.50ms": 1500 * time.Microsecond,
		"2.00s": 2 * time.Second, "1.00m": time.Minute} {
		if got, err := WrkDuration(in); err != nil || got != want {
			t.Errorf("WrkDuration(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := WrkDuration("3h"); err == nil {
		t.Error("unknown unit accepted")
	}
}

const h2loadOut = `starting benchmark...
spawning thread #0: 16 total client(s). Timing-based test with 0s of warm-up time and 2s of main duration for measurements.
Application protocol: h2c

finished in 2.00s, 52125.50 req/s, 3.38MB/s
requests: 104251 total, 104507 started, 104251 done, 104240 succeeded, 11 failed, 2 errored, 0 timeout
status codes: 104250 2xx, 0 3xx, 0 4xx, 0 5xx
traffic: 6.76MB (7089011) total, 6.93MB (7267248) headers (space savings 51.02%), 295.71KB (302802) data
                     min         max         mean         sd        +/- sd
time for request:       69us     14.24ms      1.10ms       600us    85.11%
time for connect:        0us         0us         0us         0us     0.00%
`

func TestParseH2load(t *testing.T) {
	h, err := ParseH2load(h2loadOut)
	if err != nil {
		t.Fatal(err)
	}
	want := H2load{Succeeded: 104240, Failed: 11, Errored: 2, PerSecond: 52125.5, MeanRequest: 1100 * time.Microsecond}
	if h != want {
		t.Errorf("ParseH2load = %+v\nwant %+v", h, want)
	}
	if _, err := ParseH2load("nothing"); err == nil {
		t.Error("ParseH2load accepted nothing")
	}
}

const stat = `# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,hrsp_5xx,
fe,FRONTEND,,,1,2,4096,35286,0,0,0,0,0,,,,,OPEN,,0,
be,s0,0,0,0,3,,35286,0,0,,0,,0,0,0,21717,DOWN,1,0,
be,s1,0,0,1,3,,50000,0,0,,0,,2,1,4,0,UP,1,3,
be,BACKEND,0,0,1,3,410,85286,0,0,0,0,,0,0,0,21717,UP,1,3,

`

func TestParseHAProxyStat(t *testing.T) {
	servers, err := ParseHAProxyStat(stat)
	if err != nil {
		t.Fatal(err)
	}
	if len(servers) != 2 {
		t.Fatalf("got %d servers, want 2: %+v", len(servers), servers)
	}
	want := HAProxyServer{Proxy: "be", Name: "s0", Status: "DOWN", Stot: 35286, Wredis: 21717}
	if servers[0] != want {
		t.Errorf("s0 = %+v\nwant %+v", servers[0], want)
	}
	if s := servers[1]; s.Econ != 2 || s.Eresp != 1 || s.Wretr != 4 || s.Hrsp5xx != 3 {
		t.Errorf("s1 = %+v", s)
	}
	if _, err := ParseHAProxyStat("# pxname,svname\n"); err == nil {
		t.Error("missing columns accepted")
	}
}

func TestPromSum(t *testing.T) {
	text := `# HELP fulcrum_http_upstream_requests_total Attempts.
# TYPE fulcrum_http_upstream_requests_total counter
fulcrum_http_upstream_requests_total{code="2xx",member="127.0.0.1:1",pool="be"} 100
fulcrum_http_upstream_requests_total{code="none",member="127.0.0.1:1",pool="be"} 7
fulcrum_http_upstream_requests_total{code="2xx",member="127.0.0.1:12",pool="be"} 1000
fulcrum_http_upstream_requests_total{code="2xx",xmember="127.0.0.1:1",pool="be"} 5000
fulcrum_http_upstream_requests_total_extra{member="127.0.0.1:1"} 9
fulcrum_other 3
`
	if got := PromSum(text, "fulcrum_http_upstream_requests_total", map[string]string{"member": "127.0.0.1:1"}); got != 107 {
		t.Errorf("PromSum(member) = %v, want 107", got)
	}
	if got := PromSum(text, "fulcrum_other", nil); got != 3 {
		t.Errorf("PromSum(unlabelled) = %v, want 3", got)
	}
}

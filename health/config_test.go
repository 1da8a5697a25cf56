package health

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestWithDefaults(t *testing.T) {
	got := Config{Type: TypeHTTP}.WithDefaults()
	want := Config{
		Type: TypeHTTP, Interval: 2 * time.Second, Timeout: time.Second, Jitter: 200 * time.Millisecond,
		UnhealthyInterval: 2 * time.Second, Rise: 2, Fall: 3,
		HTTP: &HTTPCheck{Method: "GET", Path: "/", ExpectedStatuses: []StatusRange{{200, 399}}},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("defaults (-want +got):\n%s", d)
	}
	// The copy shares nothing mutable with the input.
	in := Config{Type: TypeHTTP, HTTP: &HTTPCheck{Headers: map[string]string{"X-A": "1"}}}
	out := in.WithDefaults()
	out.HTTP.Headers["X-A"] = "2"
	out.HTTP.Path = "/changed"
	if in.HTTP.Headers["X-A"] != "1" || in.HTTP.Path != "" {
		t.Errorf("WithDefaults aliased its input: %+v", in.HTTP)
	}
}

func TestValidateErrors(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"no type", Config{}, []string{"health: type: required"}},
		{"bad type", Config{Type: "udp"}, []string{`type: unknown "udp"`}},
		{"short interval", Config{Type: TypeTCP, Interval: time.Millisecond}, []string{"interval: must be at least 10ms"}},
		{"negative timeout", Config{Type: TypeTCP, Timeout: -time.Second}, []string{"timeout: must be positive"}},
		{"jitter > interval", Config{Type: TypeTCP, Interval: time.Second, Jitter: 2 * time.Second}, []string{"jitter: must not exceed the interval"}},
		{"negative jitter", Config{Type: TypeTCP, Jitter: -2}, []string{"jitter: must not be negative"}},
		{"rise and fall", Config{Type: TypeTCP, Rise: -1, Fall: 5000}, []string{"rise: must be between 1 and 1000, got -1", "fall: must be between 1 and 1000, got 5000"}},
		{"wrong settings", Config{Type: TypeTCP, HTTP: &HTTPCheck{}}, []string{"http: settings given for a tcp check"}},
		{"http", Config{Type: TypeHTTP, HTTP: &HTTPCheck{
			Method: "GE T", Path: "healthz", BodyRegex: "(",
			ExpectedStatuses: []StatusRange{{500, 200}},
			Headers:          map[string]string{"Host": "x", "Bad Name": "v"},
			TLS:              &TLS{CAPEM: "not pem"},
		}}, []string{
			`http.method: invalid "GE T"`, "http.path: must start with /", "http.bodyRegex: error parsing regexp",
			"http.expectedStatuses[0]: must be within 100-599", `http.headers["Host"]: set by the checker`,
			`http.headers["Bad Name"]: invalid header`, "http.tls.caPEM: no PEM certificate found",
		}},
		{"tcp expect", Config{Type: TypeTCP, TCP: &TCPCheck{Expect: "[a-"}}, []string{"tcp.expect: error parsing regexp"}},
		{"mysql password without user", Config{Type: TypeMySQL, MySQL: &MySQLCheck{Password: "x"}}, []string{"mysql.user: required"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if err == nil {
				t.Fatal("Validate accepted an invalid config")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	for _, typ := range []Type{TypeHTTP, TypeTCP, TypeMySQL, TypeGRPC} {
		if err := (Config{Type: typ}).Validate(); err != nil {
			t.Errorf("default %s config rejected: %v", typ, err)
		}
	}
}

func TestTargetValidate(t *testing.T) {
	for _, addr := range []string{"", "nohost", ":80", "h:0", "h:70000", "h:x"} {
		if err := (Target{Address: addr, Config: Config{Type: TypeTCP}}).Validate(); err == nil {
			t.Errorf("address %q accepted", addr)
		}
	}
	for _, addr := range []string{"127.0.0.1:80", "[::1]:443", "db.example:3306"} {
		if err := (Target{Address: addr, Config: Config{Type: TypeTCP}}).Validate(); err != nil {
			t.Errorf("address %q rejected: %v", addr, err)
		}
	}
}

func TestParseStatusRanges(t *testing.T) {
	got, err := ParseStatusRanges("200-399, 404")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]StatusRange{{200, 399}, {404, 404}}, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	for _, bad := range []string{"", "abc", "300-200", "200-x", "99", "600"} {
		if _, err := ParseStatusRanges(bad); err == nil || !strings.HasPrefix(err.Error(), "health: ") {
			t.Errorf("ParseStatusRanges(%q) = %v, want a health: error", bad, err)
		}
	}
}

func TestKeys(t *testing.T) {
	c, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	key := func(tg Target) Key {
		t.Helper()
		k, err := c.Key(tg)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	a := Target{Address: "10.0.0.1:80", Config: Config{Type: TypeHTTP, HTTP: &HTTPCheck{Path: "/healthz",
		Headers: map[string]string{"X-A": "1", "X-B": "2"}}}}
	b := Target{Address: "10.0.0.1:80", Config: Config{Type: TypeHTTP, Interval: DefaultInterval, HTTP: &HTTPCheck{
		Method: "GET", Path: "/healthz", Headers: map[string]string{"X-B": "2", "X-A": "1"}}}, Initial: StatusHealthy}
	if key(a) != key(b) {
		t.Errorf("equal effective configs got different keys: %s vs %s", key(a), key(b))
	}
	if !strings.HasPrefix(string(key(a)), "10.0.0.1:80/http/") {
		t.Errorf("key %q does not start with address/type", key(a))
	}
	b.Config.Fall = 5
	if key(a) == key(b) {
		t.Error("different fall thresholds share a key")
	}
	b.Config.Fall = 0
	b.Address = "10.0.0.2:80"
	if key(a) == key(b) {
		t.Error("different addresses share a key")
	}
	// Passwords enter the key only through a per-Checker HMAC.
	m1 := Target{Address: "db:3306", Config: Config{Type: TypeMySQL, MySQL: &MySQLCheck{User: "u", Password: "p1"}}}
	m2 := m1
	m2.Config.MySQL = &MySQLCheck{User: "u", Password: "p2"}
	if key(m1) == key(m2) {
		t.Error("different passwords share a key")
	}
	c2, _ := New(Options{})
	k2, _ := c2.Key(m1)
	if k2 == key(m1) {
		t.Error("a password-carrying key is the same in two Checkers: the password is not salted")
	}
	if _, err := c.Key(Target{Address: "x"}); err == nil {
		t.Error("Key accepted an invalid target")
	}
}

func TestStatusText(t *testing.T) {
	for _, s := range []Status{StatusUnknown, StatusHealthy, StatusUnhealthy} {
		b, err := s.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back Status
		if err := back.UnmarshalText(b); err != nil || back != s {
			t.Errorf("round trip of %v: %v, %v", s, back, err)
		}
	}
	var s Status
	if err := s.UnmarshalText([]byte("up")); err == nil {
		t.Error(`"up" accepted`)
	}
	if Status(9).String() != "status(9)" {
		t.Error(Status(9).String())
	}
}

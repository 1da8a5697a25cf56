package proc

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseStatTicks(t *testing.T) {
	// A command name with spaces and parentheses, as the kernel writes it.
	stat := "1234 (nginx: worker (x)) S 1 1234 1234 0 -1 4194624 100 0 0 0 250 75 0 0 20 0 1 0 100 1000 10 18446744073709551615"
	got, err := ParseStatTicks(stat)
	if err != nil || got != 325 {
		t.Errorf("ParseStatTicks = %d, %v; want 325", got, err)
	}
	for _, bad := range []string{"", "1234 nginx S", "1 (x) S 1 2 3", "1 (x) S 1 2 3 4 5 6 7 8 9 x y"} {
		if _, err := ParseStatTicks(bad); err == nil {
			t.Errorf("ParseStatTicks(%q) accepted", bad)
		}
	}
}

func TestCPUTimeOfSelf(t *testing.T) {
	deadline := time.Now().Add(50 * time.Millisecond)
	for time.Now().Before(deadline) { // burn a little CPU
	}
	d, err := CPUTime(os.Getpid())
	if err != nil || d <= 0 {
		t.Errorf("CPUTime(self) = %v, %v", d, err)
	}
	if la := LoadAverage(); len(strings.Fields(la)) != 3 {
		t.Errorf("LoadAverage = %q", la)
	}
}

func TestStartWaitStop(t *testing.T) {
	dir := t.TempDir()
	p, err := Start(Options{Name: "echo", Dir: dir, Argv: []string{"sh", "-c", "echo hello"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if out := p.Output(); out != "hello\n" {
		t.Errorf("output %q", out)
	}
	// A process group with a child: Stop ends both.
	p, err = Start(Options{Name: "sleep", Dir: dir, Argv: []string{"sh", "-c", "sleep 60 & sleep 60"}})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	kids := Children(p.PID())
	p.Stop(time.Second)
	if !p.Exited() {
		t.Error("Stop returned before the process exited")
	}
	if len(kids) == 0 {
		t.Fatal("sh started no child")
	}
	for _, k := range kids {
		alive := func() bool {
			data, err := os.ReadFile("/proc/" + strconv.Itoa(k) + "/stat")
			return err == nil && !strings.Contains(string(data), ") Z") && !strings.Contains(string(data), ") X")
		}
		for end := time.Now().Add(2 * time.Second); alive() && time.Now().Before(end); {
			time.Sleep(10 * time.Millisecond)
		}
		if alive() {
			t.Errorf("child %d survived Stop", k)
		}
	}
	if err := p.Wait(time.Second); err == nil {
		t.Log("stopped process reported success") // sh may exit 0 on SIGTERM
	}
}

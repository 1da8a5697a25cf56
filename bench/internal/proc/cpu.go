package proc

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, which is 100 on every Linux architecture Go
// supports (the value of sysconf(_SC_CLK_TCK)).
const clockTicks = 100

// CPUTime is the CPU time (user + system) consumed so far by pid and every
// live descendant (nginx's and HAProxy's master and workers count
// together), read from /proc.
func CPUTime(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("proc: cpu time of %d: %w", pid, err)
	}
	ticks, err := ParseStatTicks(string(data))
	if err != nil {
		return 0, err
	}
	total := time.Duration(ticks) * time.Second / clockTicks
	for _, child := range Children(pid) {
		if d, err := CPUTime(child); err == nil {
			total += d
		}
	}
	return total, nil
}

// ParseStatTicks returns utime+stime, in clock ticks, from the content of
// /proc/PID/stat. The command name is in parentheses and may itself hold
// spaces and parentheses, so fields are counted after the last ')'.
func ParseStatTicks(stat string) (int64, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, ErrBadStat
	}
	f := strings.Fields(stat[i+1:])
	// After the name: state(3) ppid(4) ... utime(14) stime(15), so
	// utime is f[11] and stime f[12].
	if len(f) < 13 {
		return 0, ErrBadStat
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, ErrBadStat
	}
	return utime + stime, nil
}

// Children lists the child processes of pid (of all its threads).
func Children(pid int) []int {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var out []int
	for _, t := range tasks {
		data, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(data)) {
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// LoadAverage returns the 1, 5 and 15 minute load averages as written in
// /proc/loadavg, e.g. "3.21 2.90 2.75".
func LoadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/fulcrumlb/fulcrum/bench/internal/backend"
	"github.com/fulcrumlb/fulcrum/bench/internal/proc"
)

// childEnv tells this program, re-executed, which member (or B8) to be:
// "http ADDR", "grpc ADDR" or "b8 NODES CHANGES".
const childEnv = "FULCRUM_BENCH_CHILD"

// runChild serves as a child process when childEnv is set.
func runChild() (bool, error) {
	v := os.Getenv(childEnv)
	if v == "" {
		return false, nil
	}
	f := strings.Fields(v)
	switch {
	case len(f) == 2 && f[0] == "http":
		return true, backend.ServeHTTP(f[1])
	case len(f) == 2 && f[0] == "grpc":
		return true, backend.ServeGRPC(f[1])
	case len(f) == 3 && f[0] == "b8":
		nodes, err1 := strconv.Atoi(f[1])
		changes, err2 := strconv.Atoi(f[2])
		if err1 != nil || err2 != nil {
			return true, fmt.Errorf("bad %s=%q", childEnv, v)
		}
		return true, b8Child(nodes, changes, os.Stdout)
	}
	return true, fmt.Errorf("bad %s=%q", childEnv, v)
}

// nginxMembers starts one nginx (one worker, pinned to the load CPU)
// answering 200 "ok" with keep-alive on n ports: the HTTP members of B1,
// B2 and B4.
func (e *env) nginxMembers(n int) ([]string, *proc.Process, error) {
	dir := filepath.Join(e.work, e.uniqueName("members-nginx"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, err
	}
	d := tmplData{Dir: dir}
	for range n {
		port, err := e.freePort("tcp")
		if err != nil {
			return nil, nil, err
		}
		d.Listen = append(d.Listen, "127.0.0.1:"+strconv.Itoa(port))
	}
	cfg := filepath.Join(dir, "nginx.conf")
	if err := render("backend", "nginx", cfg, d); err != nil {
		return nil, nil, err
	}
	p, err := proc.Start(proc.Options{Name: "members-nginx", Dir: dir, CPUs: cpuList(e.loadCPU),
		Argv: []string{e.bins["nginx"], "-p", dir, "-c", cfg, "-e", filepath.Join(dir, "error.log")}})
	if err != nil {
		return nil, nil, err
	}
	if err := p.WaitTCP(10*time.Second, d.Listen...); err != nil {
		p.Stop(time.Second)
		return nil, nil, err
	}
	return d.Listen, p, nil
}

// goMember starts this program as a Go member ("http": 200 "ok" and a
// WebSocket echo on /ws; "grpc": the health service), one process per
// member so that B9 can kill one, pinned to the load CPU.
func (e *env) goMember(kind string) (string, *proc.Process, error) {
	port, err := e.freePort("tcp")
	if err != nil {
		return "", nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	p, err := proc.Start(proc.Options{Name: e.uniqueName("member-" + kind), Dir: e.work, CPUs: cpuList(e.loadCPU),
		Argv: []string{e.self}, Env: []string{childEnv + "=" + kind + " " + addr, "GOMAXPROCS=1"}})
	if err != nil {
		return "", nil, err
	}
	if err := p.WaitTCP(10*time.Second, addr); err != nil {
		p.Stop(time.Second)
		return "", nil, err
	}
	return addr, p, nil
}

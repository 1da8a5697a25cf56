package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"time"
)

func freePort(network string) (int, error) {
	if network == "udp" {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		defer pc.Close()
		return pc.LocalAddr().(*net.UDPAddr).Port, nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// printTable writes the medians, the ratios to the best peer and every
// round's figures, with the machine, versions, date and command.
func printTable(w io.Writer, o options, cs []contender, versions map[string]string, res map[string][]sample) {
	host, _ := os.Hostname()
	kernel := firstLine("uname", "-r")
	fmt.Fprintf(w, "## B5: L4 proxy, CPU per GB and per transaction (medians of %d rounds)\n\n", o.rounds)
	fmt.Fprintf(w, "- machine: %s, %d cores, Linux %s (%s)\n", cpuModel(), runtime.NumCPU(), kernel, host)
	fmt.Fprintf(w, "- versions: Fulcrum %s (%s, GOMAXPROCS=1)", versions["fulcrum"], versions["go"])
	for _, k := range []string{"haproxy", "nginx"} {
		if v := versions[k]; v != "" {
			fmt.Fprintf(w, "; %s", v)
		}
	}
	fmt.Fprintf(w, "\n- date: %s\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(w, "- command: `go run ./bench/b5 %s`\n", strings.Join(os.Args[1:], " "))
	fmt.Fprintf(w, "- load: bulk %d connections × %d MiB to a discard member; TCP request/response %d connections × %d-byte ping-pong for %v; UDP the same with %d client sockets; proxy pinned to CPU %d, load and members to CPU %d\n\n",
		o.bulkConns, o.bulkBytes>>20, o.rrConns, o.rrSize, o.duration, o.udpClients, o.proxyCPU, o.loadCPU)
	fmt.Fprintln(w, "| contender | bulk CPU ms/GB | bulk GB/s | TCP rr CPU µs/tx | TCP rr tx/s | TCP rr p50 / p99 µs | UDP CPU µs/tx | UDP tx/s |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	med := func(name string, f func(sample) float64) float64 {
		var xs []float64
		for _, s := range res[name] {
			xs = append(xs, f(s))
		}
		return median(xs)
	}
	for _, c := range cs {
		udp, udpRate := "n/a", "n/a"
		if c.udp {
			udp = fmt.Sprintf("%.2f", med(c.name, func(s sample) float64 { return s.udpUsPerTx }))
			udpRate = fmt.Sprintf("%.0f", med(c.name, func(s sample) float64 { return s.udpTxps }))
		}
		fmt.Fprintf(w, "| %s | %.0f | %.2f | %.2f | %.0f | %.0f / %.0f | %s | %s |\n", c.name,
			med(c.name, func(s sample) float64 { return s.bulkMsPerGB }),
			med(c.name, func(s sample) float64 { return s.bulkGBps }),
			med(c.name, func(s sample) float64 { return s.rrUsPerTx }),
			med(c.name, func(s sample) float64 { return s.rrTxps }),
			med(c.name, func(s sample) float64 { return s.rrP50 }),
			med(c.name, func(s sample) float64 { return s.rrP99 }), udp, udpRate)
	}
	printRatios(w, cs, med)
	fmt.Fprintln(w, "\nEvery round (bulk ms/GB, TCP rr µs/tx, UDP µs/tx):")
	fmt.Fprintln(w)
	for _, c := range cs {
		var parts []string
		for _, s := range res[c.name] {
			parts = append(parts, fmt.Sprintf("%.0f / %.2f / %.2f", s.bulkMsPerGB, s.rrUsPerTx, s.udpUsPerTx))
		}
		fmt.Fprintf(w, "- %s: %s\n", c.name, strings.Join(parts, "; "))
	}
}

// printRatios compares Fulcrum with the best peer on each metric (lower
// CPU is better).
func printRatios(w io.Writer, cs []contender, med func(string, func(sample) float64) float64) {
	metrics := []struct {
		name string
		f    func(sample) float64
		udp  bool
	}{
		{"bulk CPU/GB", func(s sample) float64 { return s.bulkMsPerGB }, false},
		{"TCP rr CPU/tx", func(s sample) float64 { return s.rrUsPerTx }, false},
		{"UDP CPU/tx", func(s sample) float64 { return s.udpUsPerTx }, true},
	}
	var parts []string
	for _, m := range metrics {
		best, bestName := 0.0, ""
		for _, c := range cs {
			if c.name == "fulcrum" || (m.udp && !c.udp) {
				continue
			}
			if v := med(c.name, m.f); bestName == "" || v < best {
				best, bestName = v, c.name
			}
		}
		if bestName == "" || best == 0 {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %.2f× (best peer: %s)", m.name, med("fulcrum", m.f)/best, bestName))
	}
	if len(parts) > 0 {
		fmt.Fprintf(w, "\nFulcrum ÷ best peer: %s\n", strings.Join(parts, "; "))
	}
}

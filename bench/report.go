package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fulcrumlb/fulcrum/bench/internal/stats"
)

// section is one benchmark's part of the report.
type section struct {
	id, title string
	body      strings.Builder
	summary   []summaryRow
	err       error
}

func newSection(id, title string) *section { return &section{id: id, title: title} }

func (s *section) printf(format string, args ...any) { fmt.Fprintf(&s.body, format, args...) }

// summaryRow is one line of the report's summary table.
type summaryRow struct {
	bench, metric, fulcrum, best, ratio, target string
}

// report assembles the sections under a header naming the machine, the
// versions, the command and the date.
type report struct {
	e        *env
	sections []*section
}

func newReport(e *env) *report { return &report{e: e} }

func (r *report) add(s *section) { r.sections = append(r.sections, s) }

// finish prints the report and writes it to the results directory.
func (r *report) finish() error {
	text := r.render(false)
	fmt.Print(text)
	path, err := r.save(text)
	if path != "" {
		r.e.logf("results written to %s", path)
	}
	return err
}

// checkpoint writes the report so far, so that an interrupted run keeps
// what it measured.
func (r *report) checkpoint() {
	if _, err := r.save(r.render(true)); err != nil {
		r.e.logf("writing the partial report: %v", err)
	}
}

func (r *report) render(partial bool) string {
	var b strings.Builder
	r.header(&b)
	if partial {
		b.WriteString("- **partial**: the run had not finished when this was written\n")
	}
	r.summaryTable(&b)
	for _, s := range r.sections {
		fmt.Fprintf(&b, "\n## %s — %s\n\n", strings.ToUpper(s.id), s.title)
		if s.err != nil {
			fmt.Fprintf(&b, "**Failed:** %s\n\n", oneLine(s.err.Error()))
		}
		b.WriteString(s.body.String())
	}
	return b.String()
}

// save writes text to the results file; it returns "" when -out is empty.
func (r *report) save(text string) (string, error) {
	if r.e.cfg.out == "" {
		return "", nil
	}
	dir := r.e.cfg.out
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(r.e.root, dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, r.e.started.UTC().Format("2006-01-02-1504")+".md")
	return path, os.WriteFile(path, []byte(text), 0o644)
}

func (r *report) header(w io.Writer) {
	e := r.e
	fmt.Fprintf(w, "# Fulcrum benchmarks, %s\n\n", e.started.UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(w, "- command: `go run ./bench %s`", strings.Join(os.Args[1:], " "))
	if e.cfg.smoke {
		fmt.Fprint(w, " (smoke: checks the harness, not the speed)")
	}
	fmt.Fprintf(w, "\n- machine: %s\n", machine())
	fmt.Fprintf(w, "- load: %s\n", e.loadSummary())
	fmt.Fprintf(w, "- versions: Fulcrum %s; nginx %s; %s; Caddy %s; wrk %s; %s\n", e.versions["fulcrum"],
		e.versions["nginx"], e.versions["haproxy"], e.versions["caddy"], strings.TrimSuffix(e.versions["wrk"], " Copyright (C) 2012 Will Glozer"), e.versions["h2load"])
	if e.proxyCPU >= 0 {
		fmt.Fprintf(w, "- pinning: proxies on CPU %d; load generators (wrk, h2load, this harness) and members on CPU %d (taskset)\n", e.proxyCPU, e.loadCPU)
	} else {
		fmt.Fprint(w, "- pinning: none\n")
	}
	fmt.Fprint(w, "- one worker each: Fulcrum and Caddy GOMAXPROCS=1, nginx worker_processes 1, HAProxy nbthread 1\n")
	fmt.Fprint(w, "- CPU figures are the proxy's utime+stime from /proc (nginx and HAProxy: master and workers) divided by the work done; contenders alternate; tables give medians over rounds; a ratio is Fulcrum ÷ the best peer, so below 1 is better for CPU and latency, above 1 for rates\n")
	fmt.Fprintf(w, "- duration: %s\n", time.Since(e.started).Round(time.Second))
}

func (r *report) summaryTable(w io.Writer) {
	var rows [][]string
	for _, s := range r.sections {
		for _, x := range s.summary {
			rows = append(rows, []string{x.bench, x.metric, x.fulcrum, x.best, x.ratio, x.target})
		}
		if s.err != nil {
			rows = append(rows, []string{strings.ToUpper(s.id), "failed: " + oneLine(s.err.Error()), "", "", "", ""})
		}
	}
	if len(rows) == 0 {
		return
	}
	fmt.Fprint(w, "\n## Summary\n\n")
	writeTable(w, []string{"benchmark", "metric", "Fulcrum", "best peer", "Fulcrum ÷ best peer", "target"}, "llrrrl", rows)
}

// writeTable writes a markdown table; align has one letter per column,
// l or r.
func writeTable(w io.Writer, head []string, align string, rows [][]string) {
	fmt.Fprintf(w, "| %s |\n|", strings.Join(head, " | "))
	for i := range head {
		if i < len(align) && align[i] == 'r' {
			fmt.Fprint(w, " ---: |")
		} else {
			fmt.Fprint(w, " --- |")
		}
	}
	fmt.Fprintln(w)
	for _, r := range rows {
		fmt.Fprintf(w, "| %s |\n", strings.Join(r, " | "))
	}
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// num formats a figure with the given decimals, "n/a" when not measured.
func num(x float64, decimals int) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "n/a"
	}
	return fmt.Sprintf("%.*f", decimals, x)
}

// ratio formats a ratio as "0.93×".
func ratio(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "n/a"
	}
	return fmt.Sprintf("%.2f×", x)
}

// us formats a duration in microseconds.
func us(d time.Duration) string { return fmt.Sprintf("%.0f", float64(d)/float64(time.Microsecond)) }

// ms formats a duration in milliseconds.
func ms(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond)) }

// peers excludes Fulcrum, for stats.Best.
func isPeer(name string) bool { return name != "fulcrum" }

// compare adds the summary row comparing Fulcrum's median with the best
// peer's, lower or higher being better.
func (s *section) compare(metric string, med map[string]float64, lowerIsBetter bool, decimals int, target string) {
	f, ok := med["fulcrum"]
	if !ok {
		return
	}
	row := summaryRow{bench: strings.ToUpper(s.id), metric: metric, fulcrum: num(f, decimals), best: "n/a", ratio: "n/a", target: target}
	if name, v, ok := stats.Best(med, isPeer, lowerIsBetter); ok {
		row.best = fmt.Sprintf("%s %s", name, num(v, decimals))
		row.ratio = ratio(stats.Ratio(f, v))
	}
	s.summary = append(s.summary, row)
}

package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/fulcrumlb/fulcrum/apiclient"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// pages maps each page template to the navigation entry it belongs to.
var pages = map[string]string{
	"login": "", "error": "", "pools": "pools", "pool": "pools", "poolform": "pools", "yaml": "",
	"confirm": "", "history": "history", "revision": "history", "rollback": "history",
	"listeners": "listeners", "routes": "routes", "proxies": "proxies",
}

// renderer holds one template set per page: the layout, the shared
// partials and the page's own templates (its fragments among them).
type renderer struct {
	sets   map[string]*template.Template
	assets map[string]string // file → content hash, for cache busting
}

func newRenderer() (*renderer, error) {
	r := &renderer{sets: map[string]*template.Template{}, assets: map[string]string{}}
	err := fs.WalkDir(staticFS, "static", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := staticFS.ReadFile(path)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		r.assets[strings.TrimPrefix(path, "static/")] = hex.EncodeToString(sum[:6])
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("console: static files: %w", err)
	}
	for name := range pages {
		t, err := template.New(name).Funcs(r.funcs()).ParseFS(templateFS,
			"templates/layout.html", "templates/partials.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("console: templates of %s: %w", name, err)
		}
		r.sets[name] = t
	}
	return r, nil
}

func (r *renderer) funcs() template.FuncMap {
	return template.FuncMap{
		"asset": func(name string) string { return "/static/" + name + "?v=" + r.assets[name] },
		"ts":    formatTime,
		"ago":   ago,
		"fid":   fieldID,
		"pathEscape": func(s string) string {
			return url.PathEscape(s)
		},
		"queryEscape": url.QueryEscape,
		"add":         func(a, b int) int { return a + b },
		"sub":         func(a, b int64) int64 { return a - b },
		"diffLines":   diffLines,
		"join":        strings.Join,
		"itoa":        strconv.Itoa,
		"iso": func(v any) string {
			t, _ := asTime(v)
			return t.UTC().Format(time.RFC3339)
		},
		"hasTime":       func(v any) bool { _, ok := asTime(v); return ok },
		"withBody":      func(p pageData, body any) pageData { p.Body = body; return p },
		"memberActions": memberActions,
		"list":          func(c *apiclient.Change) []apiclient.Change { return []apiclient.Change{*c} },
	}
}

// pageData is what every template receives; Body is the page's own.
type pageData struct {
	Title string
	Nav   string
	S     *session
	Body  any
}

// CSRF is the token the page's forms carry.
func (p pageData) CSRF() string {
	if p.S == nil {
		return ""
	}
	return p.S.CSRFToken
}

// render writes a whole page. The template runs into a buffer first, so
// that a template error is a clean 500 and never half a page.
func (c *Console) render(w http.ResponseWriter, r *http.Request, s *session, status int, name, title string, body any) {
	c.execute(w, r, status, name, "layout", pageData{Title: title, Nav: pages[name], S: s, Body: body})
}

// renderFragment writes one fragment of a page (a partial update).
func (c *Console) renderFragment(w http.ResponseWriter, r *http.Request, s *session, name string, body any) {
	page := fragmentPages[name]
	c.execute(w, r, http.StatusOK, page, name, pageData{Nav: pages[page], S: s, Body: body})
}

// fragmentPages says which page defines each fragment.
var fragmentPages = map[string]string{
	"pools-table": "pools", "members": "pool", "charts": "pool",
	"listeners-table": "listeners", "routes-table": "routes", "proxies-table": "proxies",
}

func (c *Console) execute(w http.ResponseWriter, r *http.Request, status int, set, tmpl string, data pageData) {
	var buf bytes.Buffer
	if err := c.pages.sets[set].ExecuteTemplate(&buf, tmpl, data); err != nil {
		c.log.Error("rendering a page failed", "page", set, "template", tmpl, "path", r.URL.Path, "error", err)
		http.Error(w, "internal error: the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// renderError writes an error page (or plain text for fragments).
func (c *Console) renderError(w http.ResponseWriter, r *http.Request, s *session, status int, msg string) {
	if strings.HasPrefix(r.URL.Path, "/fragments/") || r.URL.Path == "/events" {
		http.Error(w, msg, status)
		return
	}
	c.render(w, r, s, status, "error", http.StatusText(status), struct {
		Status int
		Text   string
	}{status, msg})
}

func staticHandler() http.Handler {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err) // the directory is embedded
	}
	files := http.StripPrefix("/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r) // no directory listings
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=86400")
		files.ServeHTTP(w, r)
	})
}

// formatTime shows RFC 3339 strings and times as UTC to the second.
func formatTime(v any) string {
	t, ok := asTime(v)
	if !ok {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

func asTime(v any) (time.Time, bool) {
	switch x := v.(type) {
	case time.Time:
		return x, !x.IsZero()
	case string:
		t, err := time.Parse(time.RFC3339Nano, x)
		return t, err == nil
	}
	return time.Time{}, false
}

// ago says how long ago a time was, coarsely.
func ago(v any) string {
	t, ok := asTime(v)
	if !ok {
		return ""
	}
	d := time.Since(t)
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + " s ago"
	case d < time.Hour:
		return strconv.Itoa(int(d.Minutes())) + " min ago"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d.Hours())) + " h ago"
	}
	return strconv.Itoa(int(d.Hours()/24)) + " days ago"
}

// fieldID turns a field path into an HTML id: spec.members[2].port →
// f-spec-members-2-port.
func fieldID(path string) string {
	var b strings.Builder
	b.WriteString("f-")
	dash := false
	for _, r := range path {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			dash = false
		} else if !dash {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.TrimRight(b.String(), "-")
}

// memberActions are the state changes offered for a member in a state.
func memberActions(state string) []string {
	switch state {
	case "drain":
		return []string{"enable", "disable"}
	case "disabled":
		return []string{"enable", "drain"}
	}
	return []string{"drain", "disable"}
}

// diffLine is one line of a unified diff, with its kind for colouring.
type diffLine struct{ Class, Text string }

func diffLines(diff string) []diffLine {
	lines := strings.Split(strings.TrimSuffix(diff, "\n"), "\n")
	out := make([]diffLine, 0, len(lines))
	for _, l := range lines {
		cls := "ctx"
		switch {
		case strings.HasPrefix(l, "+++"), strings.HasPrefix(l, "---"):
			cls = "file"
		case strings.HasPrefix(l, "@@"):
			cls = "hunk"
		case strings.HasPrefix(l, "+"):
			cls = "add"
		case strings.HasPrefix(l, "-"):
			cls = "del"
		case strings.HasPrefix(l, "#"):
			cls = "note"
		}
		out = append(out, diffLine{cls, l})
	}
	return out
}

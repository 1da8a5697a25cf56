package console

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/fulcrumlb/fulcrum/apiclient"
)

// Form bodies are small; the YAML editor takes as much as the API does.
const (
	maxFormBytes = 1 << 20
	maxYAMLBytes = 8 << 20
)

// csrfField names the hidden form field that carries the CSRF token; the
// script sends the same token as the X-CSRF-Token header instead.
const csrfField = "csrf_token"

// session is the signed-in user of a request, as the API knows it.
type session struct {
	apiclient.Session
	// cookie is the session cookie's value; key identifies the session
	// without it (for the live-update streams).
	cookie, key string
	// sentCSRF is the CSRF token the request carried (mutations only).
	sentCSRF string
}

// CanEdit reports whether the user's role may change configuration.
func (s *session) CanEdit() bool {
	return s.Role == apiclient.RoleEditor || s.Role == apiclient.RoleAdmin
}

var errNoSession = &apiclient.Error{Status: http.StatusUnauthorized, Code: apiclient.CodeUnauthorized,
	Message: "not signed in"}

// sessionOf asks the API who the request's session cookie belongs to, and
// for its CSRF token (GET /api/v1/session, in process).
func (c *Console) sessionOf(r *http.Request) (*session, error) {
	ck, err := r.Cookie(apiclient.SessionCookie)
	if err != nil || ck.Value == "" {
		return nil, errNoSession
	}
	s := &session{cookie: ck.Value, key: sessionKeyOf(ck.Value)}
	got, err := c.client(r, s).Session(r.Context())
	if err != nil {
		return nil, err
	}
	if !got.Cookie {
		return nil, errNoSession
	}
	s.Session = *got
	return s, nil
}

// sessionKeyOf identifies a session without its secret cookie value.
func sessionKeyOf(cookie string) string {
	sum := sha256.Sum256([]byte(cookie))
	return hex.EncodeToString(sum[:])
}

// wrap authenticates a route's requests as its access says, checks the
// CSRF token of mutations, and turns the handler's error into a page.
func (c *Console) wrap(rt consoleRoute) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		var s *session
		if rt.access != public {
			var err error
			if s, err = c.sessionOf(r); err != nil {
				c.refuse(w, r, rt.access, err)
				return
			}
		}
		if rt.access == action {
			limit := int64(maxFormBytes)
			if rt.path == "/yaml" {
				limit = maxYAMLBytes
			}
			r.Body = http.MaxBytesReader(w, r.Body, limit)
			if !c.checkCSRF(r, s) {
				c.renderError(w, r, s, http.StatusForbidden,
					"This form is stale or did not come from the console (its CSRF token is missing or wrong): reload the page and try again.")
				return
			}
		}
		if err := rt.h(w, r, s); err != nil {
			c.fail(w, r, s, err)
		}
	})
}

// checkCSRF compares the token of a mutation — the X-CSRF-Token header,
// or the hidden form field — with the session's, in constant time. The
// API checks it again on the in-process call.
func (c *Console) checkCSRF(r *http.Request, s *session) bool {
	sent := r.Header.Get(apiclient.CSRFHeader)
	if sent == "" {
		sent = r.PostFormValue(csrfField)
	}
	if sent == "" || s.CSRFToken == "" {
		return false
	}
	s.sentCSRF = sent
	return subtle.ConstantTimeCompare([]byte(sent), []byte(s.CSRFToken)) == 1
}

// refuse answers a request without a usable session: pages and actions go
// to the login page, fragments and streams get 401 for the script.
func (c *Console) refuse(w http.ResponseWriter, r *http.Request, a access, err error) {
	var ae *apiclient.Error
	if !errors.As(err, &ae) || ae.Code != apiclient.CodeUnauthorized {
		c.fail(w, r, nil, err)
		return
	}
	if a == fragment {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte("sign in again\n"))
		return
	}
	next := ""
	if r.Method == http.MethodGet {
		next = r.URL.RequestURI()
	}
	http.Redirect(w, r, loginURL(next), http.StatusSeeOther)
}

func loginURL(next string) string {
	if next == "" || next == "/" {
		return "/login"
	}
	return "/login?next=" + url.QueryEscape(next)
}

// safeNext keeps a post-login destination inside the console: a path, not
// another origin ("//host", "/\host").
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") ||
		strings.ContainsAny(next, "\r\n") || strings.HasPrefix(next, "/login") {
		return "/pools"
	}
	return next
}

// fail turns a handler's error into a page: the API's errors keep their
// status and message, anything else is logged and shown as a 500.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, s *session, err error) {
	var ae *apiclient.Error
	if !errors.As(err, &ae) {
		if errors.Is(err, context.Canceled) {
			return
		}
		c.log.Error("console request failed", "path", r.URL.Path, "error", err)
		c.renderError(w, r, s, http.StatusInternalServerError, "Something went wrong; the error was logged.")
		return
	}
	switch ae.Code {
	case apiclient.CodeUnauthorized:
		http.Redirect(w, r, loginURL(""), http.StatusSeeOther)
	case apiclient.CodeForbidden:
		c.renderError(w, r, s, http.StatusForbidden, "Your token's role ("+roleOf(s)+") may not do this: "+ae.Message)
	default:
		status := ae.Status
		if status == 0 {
			status = apiclient.StatusOf(ae.Code)
		}
		c.renderError(w, r, s, status, ae.Error())
	}
}

func roleOf(s *session) string {
	if s == nil {
		return "none"
	}
	return s.Role
}

type loginData struct {
	Next, Error string
	Bye         bool
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request, _ *session) error {
	q := r.URL.Query()
	c.render(w, r, nil, http.StatusOK, "login", "Sign in", loginData{Next: q.Get("next"), Bye: q.Has("bye")})
	return nil
}

// rawAPI serves one request with the API's handler in process, as the
// browser's request r (its address, TLS and, when s is given, session
// cookie and CSRF token), and returns the recorded answer.
func (c *Console) rawAPI(r *http.Request, s *session, method, path string, body []byte) (*memResponse, error) {
	req, err := http.NewRequestWithContext(r.Context(), method, inProcessBase+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	t := &inProcess{h: c.api, from: r}
	if s != nil {
		t.cookie, t.csrf = s.cookie, s.sentCSRF
	}
	return t.serve(req), nil
}

// copyCookies passes the API's Set-Cookie headers on to the browser.
func copyCookies(w http.ResponseWriter, m *memResponse) {
	for _, v := range m.header.Values("Set-Cookie") {
		w.Header().Add("Set-Cookie", v)
	}
}

// login exchanges a token for a session through the API's login route
// (in process) and passes its cookie on to the browser.
func (c *Console) login(w http.ResponseWriter, r *http.Request, _ *session) error {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	token := strings.TrimSpace(r.PostFormValue("token"))
	next := r.PostFormValue("next")
	body, _ := json.Marshal(apiclient.LoginRequest{Token: token})
	m, err := c.rawAPI(r, nil, http.MethodPost, "/api/v1/login", body)
	if err != nil {
		return err
	}
	if m.code() != http.StatusOK {
		msg := "That token is not valid. Paste the whole token, starting with fulcrum_."
		status := http.StatusUnauthorized
		if m.code() >= 500 {
			msg, status = "The control plane cannot check tokens right now; try again shortly.", http.StatusServiceUnavailable
		}
		c.render(w, r, nil, status, "login", "Sign in", loginData{Next: next, Error: msg})
		return nil
	}
	copyCookies(w, m)
	http.Redirect(w, r, safeNext(next), http.StatusSeeOther)
	return nil
}

// logout ends the session through the API, which expires the cookie, and
// closes the session's live-update streams at once.
func (c *Console) logout(w http.ResponseWriter, r *http.Request, s *session) error {
	m, err := c.rawAPI(r, s, http.MethodPost, "/api/v1/logout", nil)
	c.streams.closeSession(s.key)
	if err != nil {
		return err
	}
	if m.code() != http.StatusNoContent && m.code() != http.StatusUnauthorized {
		return &apiclient.Error{Status: m.code(), Code: apiclient.CodeInternal, Message: "logout failed: " + m.body.String()}
	}
	copyCookies(w, m)
	http.Redirect(w, r, "/login?bye=1", http.StatusSeeOther)
	return nil
}

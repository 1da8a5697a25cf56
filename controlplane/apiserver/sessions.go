package apiserver

import (
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/fulcrumlb/fulcrum/apiclient"
	"github.com/fulcrumlb/fulcrum/controlplane/store"
)

// session is one console login. Sessions live in this process's memory
// only: a restart, or a request served by another control-plane replica,
// asks the user to log in again. Nothing secret is kept but the CSRF
// token; the token behind the session is re-read on every request.
type session struct {
	tokenHash string
	csrf      string
	expires   time.Time // absolute end
	lastSeen  time.Time
}

// sessions maps the SHA-256 of each session ID to its session: the map is
// never indexed by the secret itself.
type sessions struct {
	mu   sync.Mutex
	m    map[[32]byte]*session
	ttl  time.Duration
	idle time.Duration
	max  int
	now  func() time.Time
}

func newSessions(ttl, idle time.Duration, max int) *sessions {
	return &sessions{m: map[[32]byte]*session{}, ttl: ttl, idle: idle, max: max, now: time.Now}
}

func sessionKey(id string) [32]byte { return sha256.Sum256([]byte(id)) }

// create starts a session for a token and returns its ID.
func (s *sessions) create(tokenHash string) (string, session) {
	id := randomString(32)
	now := s.now()
	sess := &session{tokenHash: tokenHash, csrf: randomString(32), expires: now.Add(s.ttl), lastSeen: now}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= s.max {
		s.sweepLocked(now)
	}
	if len(s.m) >= s.max {
		s.evictLocked()
	}
	s.m[sessionKey(id)] = sess
	return id, *sess
}

// get returns a live session and marks it used.
func (s *sessions) get(id string) (session, bool) {
	now := s.now()
	k := sessionKey(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.m[k]
	if !ok {
		return session{}, false
	}
	if s.expired(sess, now) {
		delete(s.m, k)
		return session{}, false
	}
	sess.lastSeen = now
	return *sess, true
}

func (s *sessions) expired(sess *session, now time.Time) bool {
	return !now.Before(sess.expires) || now.Sub(sess.lastSeen) >= s.idle
}

func (s *sessions) drop(id string) {
	s.mu.Lock()
	delete(s.m, sessionKey(id))
	s.mu.Unlock()
}

// dropToken ends every session of a deleted token.
func (s *sessions) dropToken(tokenHash string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, sess := range s.m {
		if sess.tokenHash == tokenHash {
			delete(s.m, k)
		}
	}
}

func (s *sessions) sweepLocked(now time.Time) {
	for k, sess := range s.m {
		if s.expired(sess, now) {
			delete(s.m, k)
		}
	}
}

// evictLocked drops the session that would end first.
func (s *sessions) evictLocked() {
	var victim [32]byte
	var first time.Time
	for k, sess := range s.m {
		end := sess.expires
		if idleEnd := sess.lastSeen.Add(s.idle); idleEnd.Before(end) {
			end = idleEnd
		}
		if first.IsZero() || end.Before(first) {
			victim, first = k, end
		}
	}
	delete(s.m, victim)
}

func (s *sessions) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// login exchanges a token for a console session (POST /api/v1/login).
func (a *Auth) login(w http.ResponseWriter, r *http.Request) error {
	if err := requireMediaType(r, "application/json"); err != nil {
		return err
	}
	data, err := readBody(w, r, 4096)
	if err != nil {
		return err
	}
	var in apiclient.LoginRequest
	if err := json.Unmarshal(data, &in); err != nil {
		return errorf(apiclient.CodeBadRequest, "the body must be {\"token\": \"...\"}: %v", err)
	}
	if in.Token == "" {
		return errorf(apiclient.CodeUnauthorized, "no token given")
	}
	t, err := a.lookup(r.Context(), in.Token)
	if err != nil {
		return err
	}
	id, sess := a.sessions.create(t.Hash)
	http.SetCookie(w, &http.Cookie{
		Name: apiclient.SessionCookie, Value: id, Path: "/",
		Expires: sess.expires, HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: a.secure || r.TLS != nil,
	})
	p := &Principal{Name: t.Name, Role: t.Role, TokenID: t.ID, Session: true, csrf: sess.csrf, expires: sess.expires}
	noteRequest(r, p, 0) // for the audit line
	writeJSON(w, http.StatusOK, sessionOf(p))
	return nil
}

// logout ends the request's console session (POST /api/v1/logout).
func (a *Auth) logout(w http.ResponseWriter, r *http.Request) error {
	p, _ := PrincipalFrom(r.Context())
	if p != nil && p.Session {
		a.sessions.drop(p.sessionID)
	}
	http.SetCookie(w, &http.Cookie{Name: apiclient.SessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: a.secure || r.TLS != nil})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// session describes the request's principal (GET /api/v1/session); the
// console reads its CSRF token here.
func (a *Auth) session(w http.ResponseWriter, r *http.Request) error {
	p, _ := PrincipalFrom(r.Context())
	writeJSON(w, http.StatusOK, sessionOf(p))
	return nil
}

func sessionOf(p *Principal) apiclient.Session {
	return apiclient.Session{Name: p.Name, Role: p.Role, TokenID: p.TokenID, Cookie: p.Session,
		CSRFToken: p.csrf, ExpiresAt: p.expires}
}

// forgetToken ends the sessions of a token that is being deleted.
func (a *Auth) forgetToken(t store.Token) { a.sessions.dropToken(t.Hash) }

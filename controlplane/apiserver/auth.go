package apiserver

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/fulcrumlb/fulcrum/apiclient"
	"github.com/fulcrumlb/fulcrum/controlplane/store"
)

// Token secrets look like "fulcrum_" followed by 43 base64url characters
// (32 random bytes): the prefix makes a leaked token easy to recognise in
// logs and secret scanners.
const (
	tokenPrefix     = "fulcrum_"
	maxSecretLength = 256
)

// Principal is who a request is authenticated as.
type Principal struct {
	// Name is the token's name: the actor recorded in the operation log.
	Name string
	// Role is viewer, editor or admin.
	Role string
	// TokenID identifies the token.
	TokenID string
	// Session is true when the request was authenticated by a console
	// session cookie rather than a bearer token.
	Session bool

	sessionID string
	csrf      string
	expires   time.Time
}

// Can reports whether the principal's role includes role.
func (p *Principal) Can(role string) bool { return rank(p.Role) >= rank(role) && rank(role) > 0 }

// rank orders roles; an unknown role ranks below every real one, so a
// token with a role from a newer release can do nothing here.
func rank(role string) int { return slices.Index(apiclient.Roles, role) + 1 }

type principalKey struct{}

// PrincipalFrom returns the principal that Auth.Middleware (or the API's
// own routes) stored in the request's context.
func PrincipalFrom(ctx context.Context) (*Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(*Principal)
	return p, ok
}

func withPrincipal(r *http.Request, p *Principal) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), principalKey{}, p))
}

// tokenStore is the part of *store.Store that authentication needs.
type tokenStore interface {
	TokenByHash(ctx context.Context, hash string) (*store.Token, error)
	CreateToken(ctx context.Context, t store.Token) error
	ListTokens(ctx context.Context) ([]store.Token, error)
	DeleteToken(ctx context.Context, id string) error
}

// AuthOptions configure NewAuth.
type AuthOptions struct {
	// Store holds the tokens; required.
	Store *store.Store
	// SessionTTL is the longest a console session lives; 12 h when zero.
	SessionTTL time.Duration
	// SessionIdle ends a console session unused this long; 1 h when zero.
	SessionIdle time.Duration
	// MaxSessions bounds the sessions held in memory; 10 000 when zero.
	// When full, the session closest to its end is dropped.
	MaxSessions int
	// SecureCookies marks the session cookie Secure even on plain HTTP
	// requests: set it when a TLS-terminating proxy stands in front.
	// Requests that arrive over TLS always get Secure cookies.
	SecureCookies bool
	// Logger receives the errors of the token store that Middleware
	// answers with 503; nil discards them.
	Logger *slog.Logger
}

// Auth authenticates requests by bearer token or console session and
// checks roles. The REST API uses it for every route; the web console,
// served on the same listener, reuses it through Middleware.
type Auth struct {
	tokens   tokenStore
	sessions *sessions
	secure   bool
	log      *slog.Logger
}

// NewAuth returns an Auth over the store's tokens.
func NewAuth(opt AuthOptions) (*Auth, error) {
	if opt.Store == nil {
		return nil, errors.New("apiserver: auth: a store is required")
	}
	return newAuth(opt.Store, opt), nil
}

func newAuth(ts tokenStore, opt AuthOptions) *Auth {
	if opt.SessionTTL <= 0 {
		opt.SessionTTL = 12 * time.Hour
	}
	if opt.SessionIdle <= 0 {
		opt.SessionIdle = time.Hour
	}
	if opt.MaxSessions <= 0 {
		opt.MaxSessions = 10000
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	return &Auth{tokens: ts, sessions: newSessions(opt.SessionTTL, opt.SessionIdle, opt.MaxSessions),
		secure: opt.SecureCookies, log: opt.Logger}
}

// Middleware authenticates each request, checks that its principal has at
// least role, and passes the principal on in the request context
// (PrincipalFrom). Failures are answered with the API's JSON errors: 401
// without valid credentials, 403 for a weaker role or a cookie-session
// mutation without its CSRF token, 503 when the token store is down.
func (a *Auth) Middleware(role string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, err := a.authorize(r, role)
			if err != nil {
				setCommonHeaders(w.Header())
				writeError(w, r, err, a.log)
				return
			}
			next.ServeHTTP(w, withPrincipal(r, p))
		})
	}
}

// Authenticate returns the principal of a request, or an error saying why
// there is none (no or bad credentials, a cookie-session mutation without
// its CSRF token, the token store unavailable). The console uses it to
// decide between serving a page and showing its login form.
func (a *Auth) Authenticate(r *http.Request) (*Principal, error) { return a.authenticate(r) }

// authorize authenticates r and checks its role. A principal refused for
// its role is returned with the error, for the audit line.
func (a *Auth) authorize(r *http.Request, role string) (*Principal, error) {
	p, err := a.authenticate(r)
	if err != nil {
		return nil, err
	}
	if !p.Can(role) {
		return p, errorf(apiclient.CodeForbidden, "token %q has role %s; this needs %s", p.Name, p.Role, role)
	}
	return p, nil
}

// authenticate finds the principal: a bearer token wins over a cookie, and
// a bad bearer token is an error even when a good cookie is present, so
// that a client never acts under an identity it did not ask for.
func (a *Auth) authenticate(r *http.Request) (*Principal, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, secret, ok := strings.Cut(h, " ")
		secret = strings.TrimSpace(secret)
		if !ok || !strings.EqualFold(scheme, "Bearer") || secret == "" {
			return nil, errorf(apiclient.CodeUnauthorized, `the Authorization header must be "Bearer TOKEN"`)
		}
		t, err := a.lookup(r.Context(), secret)
		if err != nil {
			return nil, err
		}
		return &Principal{Name: t.Name, Role: t.Role, TokenID: t.ID}, nil
	}
	c, err := r.Cookie(apiclient.SessionCookie)
	if err != nil || c.Value == "" {
		return nil, errorf(apiclient.CodeUnauthorized, "no credentials: send Authorization: Bearer TOKEN (or log in for a console session)")
	}
	s, ok := a.sessions.get(c.Value)
	if !ok {
		return nil, errorf(apiclient.CodeUnauthorized, "the session has expired or was logged out: log in again")
	}
	// The token behind a session is checked on every request, so that
	// deleting a token ends its console sessions at once.
	t, err := a.tokenByHash(r.Context(), s.tokenHash)
	if err != nil {
		if e, ok := err.(*apiError); ok && e.body.Code == apiclient.CodeUnauthorized {
			a.sessions.drop(c.Value)
		}
		return nil, err
	}
	if unsafeMethod(r.Method) && !equalSecret(r.Header.Get(apiclient.CSRFHeader), s.csrf) {
		return nil, errorf(apiclient.CodeCSRF, "a console session's changes need the X-CSRF-Token header (GET /api/v1/session gives it)")
	}
	return &Principal{Name: t.Name, Role: t.Role, TokenID: t.ID, Session: true,
		sessionID: c.Value, csrf: s.csrf, expires: s.expires}, nil
}

func unsafeMethod(m string) bool {
	return m != http.MethodGet && m != http.MethodHead && m != http.MethodOptions
}

// lookup finds the token of a secret.
func (a *Auth) lookup(ctx context.Context, secret string) (*store.Token, error) {
	if len(secret) > maxSecretLength {
		return nil, errorf(apiclient.CodeUnauthorized, "invalid token")
	}
	return a.tokenByHash(ctx, hashSecret(secret))
}

// tokenByHash reads a token by its hash. The store finds it by key; the
// final comparison runs in constant time anyway, so that no code path
// compares a secret-derived value byte by byte.
func (a *Auth) tokenByHash(ctx context.Context, hash string) (*store.Token, error) {
	t, err := a.tokens.TokenByHash(ctx, hash)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, errorf(apiclient.CodeUnauthorized, "invalid token")
	case err != nil:
		return nil, fromStore(err, false)
	case !equalSecret(t.Hash, hash):
		return nil, errorf(apiclient.CodeUnauthorized, "invalid token")
	}
	return t, nil
}

// hashSecret is what the store keeps instead of a token's secret. A plain
// SHA-256 is enough: the secret has 256 random bits, so there is nothing
// for a slow hash to protect against.
func hashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return "sha256:" + hex.EncodeToString(sum[:])
}

func equalSecret(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// randomBytes returns n bytes from crypto/rand.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (it panics instead)
	return b
}

// randomString returns n random bytes, base64url-encoded.
func randomString(n int) string { return base64.RawURLEncoding.EncodeToString(randomBytes(n)) }

// newSecret returns a fresh token secret.
func newSecret() string { return tokenPrefix + randomString(32) }

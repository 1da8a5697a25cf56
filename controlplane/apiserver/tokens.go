package apiserver

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"time"

	"github.com/fulcrumlb/fulcrum/apiclient"
	"github.com/fulcrumlb/fulcrum/controlplane/store"
)

// BootstrapTokenName is the name (and ID) of the admin token made at first
// start.
const BootstrapTokenName = "admin"

// tokenName is what a token's name may look like: it is the actor in the
// operation log and in audit lines, so it must be printable and short.
var tokenName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@:-]{0,62}$`)

// Bootstrap makes sure somebody can use the API: when the store holds no
// token at all, it creates an admin token named "admin" and returns its
// secret (created is true) for the caller to show once; the store keeps
// only its hash. Otherwise it does nothing. There is no default
// credential: each installation's first token is random.
//
// Replicas starting together cannot both create one: the token's ID is
// fixed, and the store refuses a second token with the same ID. Deleting
// every token and restarting makes a new admin token — recovery needs
// access to the control plane's output, i.e. to the machine.
func Bootstrap(ctx context.Context, st *store.Store) (token string, created bool, err error) {
	return bootstrap(ctx, st)
}

func bootstrap(ctx context.Context, ts tokenStore) (string, bool, error) {
	list, err := ts.ListTokens(ctx)
	if err != nil {
		return "", false, fmt.Errorf("apiserver: bootstrap: %w", err)
	}
	if len(list) > 0 {
		return "", false, nil
	}
	secret := newSecret()
	err = ts.CreateToken(ctx, store.Token{ID: BootstrapTokenName, Name: BootstrapTokenName, Role: apiclient.RoleAdmin,
		Hash: hashSecret(secret), CreatedAt: time.Now().UTC().Truncate(time.Second)})
	switch {
	case errors.Is(err, store.ErrConflict):
		return "", false, nil // another replica bootstrapped first
	case err != nil:
		return "", false, fmt.Errorf("apiserver: bootstrap: %w", err)
	}
	return secret, true, nil
}

func tokenOf(t store.Token) apiclient.Token {
	return apiclient.Token{ID: t.ID, Name: t.Name, Role: t.Role, CreatedAt: t.CreatedAt}
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) error {
	list, err := s.auth.tokens.ListTokens(r.Context())
	if err != nil {
		return fromStore(err, false)
	}
	out := make([]apiclient.Token, 0, len(list))
	for _, t := range list {
		out = append(out, tokenOf(t))
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": out})
	return nil
}

// createToken makes a token and answers with its secret, the only time
// the secret leaves the server. Names are unique, so that the operation
// log's actor names exactly one token; the check reads the list first and
// is therefore best-effort against concurrent creations of one name.
func (s *Server) createToken(w http.ResponseWriter, r *http.Request) error {
	var in apiclient.TokenRequest
	if err := readJSON(w, r, &in); err != nil {
		return err
	}
	var bad []apiclient.Detail
	if !tokenName.MatchString(in.Name) {
		bad = append(bad, apiclient.Detail{Path: "name", Reason: "1 to 63 letters, digits and . _ @ : -, starting with a letter or digit"})
	}
	if !slices.Contains(apiclient.Roles, in.Role) {
		bad = append(bad, apiclient.Detail{Path: "role", Reason: fmt.Sprintf("%q is not one of %v", in.Role, apiclient.Roles)})
	}
	if len(bad) > 0 {
		e := errorf(apiclient.CodeBadRequest, "invalid token request")
		e.body.Details = bad
		return e
	}
	list, err := s.auth.tokens.ListTokens(r.Context())
	if err != nil {
		return fromStore(err, false)
	}
	for _, t := range list {
		if t.Name == in.Name {
			return errorf(apiclient.CodeConflict, "a token named %q exists (ID %s)", in.Name, t.ID)
		}
	}
	secret := newSecret()
	t := store.Token{ID: "t" + randomHex(6), Name: in.Name, Role: in.Role, Hash: hashSecret(secret),
		CreatedAt: time.Now().UTC().Truncate(time.Second)}
	noteTarget(r, fmt.Sprintf("token %s (%s, %s)", t.ID, t.Name, t.Role))
	if err := s.auth.tokens.CreateToken(r.Context(), t); err != nil {
		return fromStore(err, false)
	}
	writeJSON(w, http.StatusCreated, apiclient.NewToken{Token: tokenOf(t), Secret: secret})
	return nil
}

// deleteToken deletes a token and ends its console sessions. The last
// admin token cannot be deleted: nobody could manage tokens any more.
func (s *Server) deleteToken(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	noteTarget(r, "token "+id)
	list, err := s.auth.tokens.ListTokens(r.Context())
	if err != nil {
		return fromStore(err, false)
	}
	var victim *store.Token
	admins := 0
	for i, t := range list {
		if t.Role == apiclient.RoleAdmin {
			admins++
		}
		if t.ID == id {
			victim = &list[i]
		}
	}
	if victim == nil {
		return errorf(apiclient.CodeNotFound, "token %s not found", id)
	}
	if victim.Role == apiclient.RoleAdmin && admins == 1 {
		return errorf(apiclient.CodeConflict, "token %s is the last admin token: create another admin token first", id)
	}
	if err := s.auth.tokens.DeleteToken(r.Context(), id); err != nil {
		return fromStore(err, false)
	}
	s.auth.forgetToken(*victim)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func randomHex(n int) string { return hex.EncodeToString(randomBytes(n)) }

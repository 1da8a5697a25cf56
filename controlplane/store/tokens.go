package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Token is an API token record. The store never sees the secret, only its
// hash, which the API computes; Hash must be unique, as ID must.
type Token struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	Hash      string    `json:"hash"`
	CreatedAt time.Time `json:"createdAt"`
}

// CreateToken stores a token. ErrConflict: the ID or the hash exists.
// Tokens are stored twice, by ID and by hash, written in one transaction,
// so that authenticating a request is a single read.
func (s *Store) CreateToken(ctx context.Context, t Token) error {
	if t.ID == "" || t.Hash == "" {
		return errors.New("store: create token: ID and Hash are required")
	}
	data, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("store: create token: %w", err)
	}
	// The name is reserved in the same transaction: it is the actor in the
	// operation log, so it must name exactly one token.
	idKey, hashKey, nameKey := s.k.tokenID(t.ID), s.k.tokenHash(t.Hash), s.k.tokenName(t.Name)
	resp, err := s.txn(ctx, "create token",
		[]clientv3.Cmp{
			clientv3.Compare(clientv3.CreateRevision(idKey), "=", 0),
			clientv3.Compare(clientv3.CreateRevision(hashKey), "=", 0),
			clientv3.Compare(clientv3.CreateRevision(nameKey), "=", 0),
		},
		clientv3.OpPut(idKey, string(data)), clientv3.OpPut(hashKey, string(data)), clientv3.OpPut(nameKey, t.ID))
	if err != nil {
		return err
	}
	if !resp.Succeeded {
		return fmt.Errorf("store: create token %s (%s): the ID, the hash or the name is taken: %w", t.ID, t.Name, ErrConflict)
	}
	return nil
}

// ListTokens returns every token, ordered by ID.
func (s *Store) ListTokens(ctx context.Context) ([]Token, error) {
	return listJSON[Token](ctx, s, "token", dirTokenID)
}

// TokenByHash returns the token with this hash, or ErrNotFound.
func (s *Store) TokenByHash(ctx context.Context, hash string) (*Token, error) {
	r, err := s.get(ctx, s.k.tokenHash(hash))
	if err != nil {
		return nil, err
	}
	if r.value == nil {
		return nil, notFound("token")
	}
	var t Token
	if err := json.Unmarshal(r.value, &t); err != nil {
		return nil, fmt.Errorf("store: corrupt token: %w", err)
	}
	return &t, nil
}

// DeleteToken removes a token, or returns ErrNotFound.
func (s *Store) DeleteToken(ctx context.Context, id string) error {
	r, err := s.get(ctx, s.k.tokenID(id))
	if err != nil {
		return err
	}
	if r.value == nil {
		return notFound("token %s", id)
	}
	var t Token
	if err := json.Unmarshal(r.value, &t); err != nil {
		return fmt.Errorf("store: corrupt token %s: %w", id, err)
	}
	// Guarded by the record's revision, so a concurrent delete and
	// re-create of the same ID cannot leave a hash entry behind.
	resp, err := s.txn(ctx, "delete token",
		[]clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(s.k.tokenID(id)), "=", r.modRev)},
		clientv3.OpDelete(s.k.tokenID(id)), clientv3.OpDelete(s.k.tokenHash(t.Hash)), clientv3.OpDelete(s.k.tokenName(t.Name)))
	if err != nil {
		return err
	}
	if !resp.Succeeded {
		return fmt.Errorf("store: delete token %s: changed concurrently: %w", id, ErrConflict)
	}
	return nil
}

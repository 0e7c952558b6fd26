// Package auth checks the credentials on an ingest request. A credential is
// what ties a request to its integration, and the integration to its
// tenant, so every comparison must not leak how much of a guess was right.
//
// Secrets are kept and compared as SHA-256 digests: comparing fixed-length
// digests keeps subtle.ConstantTimeCompare from returning early on a length
// mismatch, which would reveal each secret's length, and a lookup keyed by
// a digest (Index) reveals nothing usable about the secret itself.
package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// QueryParam is the query parameter that carries a token for tools that
// cannot set headers (Mackerel's webhook, some appliances). Tokens in URLs
// end up in proxy logs, so headers are preferred wherever a tool allows.
const QueryParam = "token"

// Secrets is a set of accepted secrets; more than one while a secret is
// being rotated.
type Secrets struct {
	sums [][sha256.Size]byte
}

// NewSecrets returns the accepted set. Empty values are skipped: they would
// let a request with an empty credential in.
func NewSecrets(values []string) *Secrets {
	s := &Secrets{}
	for _, v := range values {
		if v != "" {
			s.sums = append(s.sums, sha256.Sum256([]byte(v)))
		}
	}
	return s
}

// Len is the number of secrets in the set.
func (s *Secrets) Len() int { return len(s.sums) }

// Match reports whether presented is one of the secrets. Every secret is
// compared, match or not, so the time taken does not say which one matched.
func (s *Secrets) Match(presented string) bool {
	if presented == "" {
		return false
	}
	sum := sha256.Sum256([]byte(presented))
	match := 0
	for i := range s.sums {
		match |= subtle.ConstantTimeCompare(sum[:], s.sums[i][:])
	}
	return match == 1
}

// Credential returns the token a request presents: "Authorization: Bearer
// <token>", the password of "Authorization: Basic" (the user name is not
// checked: senders such as Prometheus need one, and the integration name
// reads well there), or the ?token= query parameter. A request presenting
// an Authorization header of another scheme presents nothing.
func Credential(r *http.Request) (string, bool) {
	if h := strings.TrimSpace(r.Header.Get("Authorization")); h != "" {
		if tok, ok := bearer(h); ok {
			return tok, true
		}
		if _, pass, ok := r.BasicAuth(); ok && pass != "" {
			return pass, true
		}
		return "", false
	}
	if tok := r.URL.Query().Get(QueryParam); tok != "" {
		return tok, true
	}
	return "", false
}

// bearer extracts the token from "Bearer <token>"; the scheme name is
// case-insensitive (RFC 9110 section 11.1).
func bearer(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// Index finds the owner of a secret, for endpoints where the credential
// alone says who is sending (Alertmanager's API, PagerDuty's Events API).
// Secrets must be unique across owners; config validation sees to that.
type Index[T any] struct {
	owners map[[sha256.Size]byte]T
}

// NewIndex returns an empty index.
func NewIndex[T any]() *Index[T] {
	return &Index[T]{owners: map[[sha256.Size]byte]T{}}
}

// Add records owner for each non-empty secret. It reports false if a secret
// already had another owner, which would make lookups ambiguous.
func (ix *Index[T]) Add(owner T, secrets ...string) bool {
	ok := true
	for _, s := range secrets {
		if s == "" {
			continue
		}
		sum := sha256.Sum256([]byte(s))
		if _, dup := ix.owners[sum]; dup {
			ok = false
			continue
		}
		ix.owners[sum] = owner
	}
	return ok
}

// Lookup returns the owner of secret.
func (ix *Index[T]) Lookup(secret string) (T, bool) {
	if secret == "" {
		var zero T
		return zero, false
	}
	owner, ok := ix.owners[sha256.Sum256([]byte(secret))]
	return owner, ok
}

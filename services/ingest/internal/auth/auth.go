// Package auth checks the bearer token on a webhook request. The token is
// what ties a request to its integration, and the integration to its tenant,
// so the comparison must not leak how much of a guess was right.
package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"strings"
)

// Tokens is the set of bearer tokens an integration accepts; more than one
// while a token is being rotated.
type Tokens struct {
	// sums are SHA-256 digests: comparing fixed-length digests keeps
	// subtle.ConstantTimeCompare from returning early on a length mismatch,
	// which would reveal each token's length.
	sums [][sha256.Size]byte
}

// NewTokens returns the accepted set. Empty tokens are skipped: they would
// let a request with "Authorization: Bearer " in.
func NewTokens(tokens []string) *Tokens {
	t := &Tokens{}
	for _, tok := range tokens {
		if tok != "" {
			t.sums = append(t.sums, sha256.Sum256([]byte(tok)))
		}
	}
	return t
}

// Allow reports whether an Authorization header value carries one of the
// tokens. Every token is compared, match or not, so the time taken does not
// say which one matched.
func (t *Tokens) Allow(authorization string) bool {
	tok, ok := bearer(authorization)
	if !ok {
		return false
	}
	sum := sha256.Sum256([]byte(tok))
	match := 0
	for i := range t.sums {
		match |= subtle.ConstantTimeCompare(sum[:], t.sums[i][:])
	}
	return match == 1
}

// bearer extracts the token from "Bearer <token>"; the scheme name is
// case-insensitive (RFC 9110 section 11.1).
func bearer(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

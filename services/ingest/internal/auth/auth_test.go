package auth

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTokensAllow(t *testing.T) {
	tokens := NewTokens([]string{"current-token-1", "", "previous-token-0"})
	tests := []struct {
		name   string
		header string
		want   bool
	}{
		{"current token", "Bearer current-token-1", true},
		{"rotated-out token still accepted", "Bearer previous-token-0", true},
		{"scheme is case-insensitive", "bearer current-token-1", true},
		{"surrounding spaces", "  Bearer   current-token-1 ", true},
		{"wrong token", "Bearer current-token-2", false},
		{"prefix of a token", "Bearer current-token", false},
		{"token with suffix", "Bearer current-token-1x", false},
		{"missing header", "", false},
		{"empty token does not match the skipped empty entry", "Bearer ", false},
		{"basic scheme", "Basic current-token-1", false},
		{"token without scheme", "current-token-1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, tokens.Allow(tt.header))
		})
	}
}

func TestNoTokensAllowsNothing(t *testing.T) {
	require.False(t, NewTokens(nil).Allow("Bearer anything-at-all"))
}

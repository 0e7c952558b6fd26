package auth

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSecretsMatch(t *testing.T) {
	s := NewSecrets([]string{"current-token-1", "", "previous-token-0"})
	require.Equal(t, 2, s.Len())
	tests := []struct {
		presented string
		want      bool
	}{
		{"current-token-1", true},
		{"previous-token-0", true}, // rotated out, still accepted
		{"current-token-2", false},
		{"current-token", false},    // a prefix
		{"current-token-1x", false}, // with a suffix
		{"", false},                 // does not match the skipped empty entry
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, s.Match(tt.presented), "%q", tt.presented)
	}
}

func TestCredential(t *testing.T) {
	tests := []struct {
		name   string
		header string
		url    string
		want   string
		ok     bool
	}{
		{"bearer", "Bearer tok-1", "/", "tok-1", true},
		{"bearer scheme is case-insensitive", "bearer tok-1", "/", "tok-1", true},
		{"surrounding spaces", "  Bearer   tok-1 ", "/", "tok-1", true},
		{"basic password", "Basic " + basic("demo-am", "tok-2"), "/", "tok-2", true},
		{"basic with an empty user", "Basic " + basic("", "tok-2"), "/", "tok-2", true},
		{"basic with an empty password", "Basic " + basic("demo-am", ""), "/", "", false},
		{"query token", "", "/?token=tok-3", "tok-3", true},
		{"header wins over query", "Bearer tok-1", "/?token=tok-3", "tok-1", true},
		{"unknown scheme is no credential, even with a query token", "Token tok-1", "/?token=tok-3", "", false},
		{"empty bearer", "Bearer ", "/", "", false},
		{"token without scheme", "tok-1", "/", "", false},
		{"nothing", "", "/", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, tt.url, nil)
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			got, ok := Credential(r)
			require.Equal(t, tt.ok, ok)
			require.Equal(t, tt.want, got)
		})
	}
}

func basic(user, pass string) string {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.SetBasicAuth(user, pass)
	return r.Header.Get("Authorization")[len("Basic "):]
}

func TestIndex(t *testing.T) {
	ix := NewIndex[string]()
	require.True(t, ix.Add("acme-am", "tok-a1", "tok-a2", ""))
	require.True(t, ix.Add("beta-am", "tok-b1"))
	require.False(t, ix.Add("gamma-am", "tok-a1"), "a secret has one owner")

	for secret, want := range map[string]string{"tok-a1": "acme-am", "tok-a2": "acme-am", "tok-b1": "beta-am"} {
		got, ok := ix.Lookup(secret)
		require.True(t, ok, secret)
		require.Equal(t, want, got)
	}
	for _, secret := range []string{"", "tok-a", "tok-c1"} {
		_, ok := ix.Lookup(secret)
		require.False(t, ok, secret)
	}
}

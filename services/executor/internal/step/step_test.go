package step

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

func TestCap(t *testing.T) {
	require.Equal(t, "short", Cap("short", 100))
	long := strings.Repeat("あ", 1000) // 3000 bytes
	got := Cap(long, 1024)
	require.LessOrEqual(t, len(got), 1024+32)
	require.True(t, utf8.ValidString(got))
	require.Contains(t, got, "bytes cut)")
	require.Equal(t, "a\uFFFDb", Cap("a\xffb", 100), "invalid UTF-8 is replaced")
}

func TestErrors(t *testing.T) {
	out := fmt.Errorf("ssh: %w", &OutsideTenantError{Tenant: "acme", Target: "db.other", Reason: "not in the tenant's hosts"})
	require.True(t, IsOutsideTenant(out))
	require.False(t, IsUnknownOutcome(out))
	require.ErrorContains(t, out, `target "db.other" is not tenant acme's: not in the tenant's hosts`)
	unk := fmt.Errorf("ssm: %w", &UnknownOutcomeError{Err: errors.New("timed out waiting for the command")})
	require.True(t, IsUnknownOutcome(unk))
	require.ErrorContains(t, unk, "outcome unknown: timed out")
}

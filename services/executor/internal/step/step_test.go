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

	// Never over the limit, also where the count in the note gains a digit.
	for _, n := range []int{1000, 1009, 1010, 1011, 10010, 100020} {
		for limit := 64; limit <= 80; limit++ {
			require.LessOrEqual(t, len(Cap(strings.Repeat("x", n), limit)), limit, "n=%d limit=%d", n, limit)
		}
	}
	// Bytes dropped while reading are counted in the note.
	require.Equal(t, "abc", CapDropped("abc", 0, 10))
	got = CapDropped("abcdef", 1000, 30)
	require.Equal(t, "abcdef\n… (1000 bytes cut)", got)
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

package sshstep

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCommand(t *testing.T) {
	tests := []struct {
		name string
		argv []string
		want string
	}{
		{"plain", []string{"echo", "hi"}, `'echo' 'hi'`},
		{"empty argument", []string{"printf", ""}, `'printf' ''`},
		{"single quote", []string{"echo", "it's"}, `'echo' 'it'\''s'`},
		{"the doc comment's example", []string{"echo", "it's; $(rm -rf /)", ""}, `'echo' 'it'\''s; $(rm -rf /)' ''`},
		{"metacharacters stay inside quotes", []string{"echo", "$(id); `id` | x"}, "'echo' '$(id); `id` | x'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := command(tt.argv)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
	_, err := command(nil)
	require.ErrorContains(t, err, "empty")
	_, err = command([]string{"echo", "a\x00b"})
	require.ErrorContains(t, err, "argv[1] contains a NUL byte")
}

// FuzzCommand checks, with the local /bin/sh, that every argv without NUL
// comes back from `sh -c` as the same arguments.
func FuzzCommand(f *testing.F) {
	for _, s := range []string{"", "'", `'\''`, "$(touch x)", "a\nb", "*", "-n", "\xff", `\`, "\"'\"", "!"} {
		f.Add(s, "x")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if strings.IndexByte(a, 0) >= 0 || strings.IndexByte(b, 0) >= 0 {
			_, err := command([]string{"printf", a, b})
			require.Error(t, err)
			return
		}
		cmd, err := command([]string{"printf", `%s\0`, a, b})
		require.NoError(t, err)
		c := exec.Command("/bin/sh", "-c", cmd)
		c.Dir = t.TempDir()
		c.Env = []string{"PATH=/usr/bin:/bin"}
		out, err := c.Output()
		require.NoError(t, err)
		require.Equal(t, a+"\x00"+b+"\x00", string(out))
	})
}

func TestCapWriter(t *testing.T) {
	t.Run("under the cap", func(t *testing.T) {
		w := newCapWriter(100)
		write(t, w, "hello ")
		write(t, w, "world")
		require.Equal(t, "hello world", w.text(100))
	})
	t.Run("over the cap counts what was dropped", func(t *testing.T) {
		w := newCapWriter(100)
		for range 1000 {
			write(t, w, "0123456789")
		}
		require.Len(t, w.buf, 100, "nothing past the cap is stored")
		s := w.text(100)
		require.LessOrEqual(t, len(s), 100)
		require.True(t, strings.HasPrefix(s, "0123456789"))
		kept := strings.Index(s, "\n…")
		require.Equal(t, "\n… ("+strconv.Itoa(10000-kept)+" bytes cut)", s[kept:])
	})
	t.Run("cut on a rune boundary", func(t *testing.T) {
		w := newCapWriter(64)
		write(t, w, strings.Repeat("日本", 100))
		s := w.text(64)
		require.LessOrEqual(t, len(s), 64)
		require.NotContains(t, s, "\uFFFD")
	})
	t.Run("invalid UTF-8 cleaned", func(t *testing.T) {
		w := newCapWriter(64)
		write(t, w, "a\xffb")
		require.Equal(t, "a\uFFFDb", w.text(64))
	})
}

// write writes s to w, which never fails.
func write(t testing.TB, w *capWriter, s string) {
	t.Helper()
	_, err := w.Write([]byte(s))
	require.NoError(t, err)
}

func TestOutput(t *testing.T) {
	writer := func(t testing.TB, max int, s string) *capWriter {
		w := newCapWriter(max)
		write(t, w, s)
		return w
	}
	tests := []struct {
		name           string
		stdout, stderr string
		max            int
		want           string
	}{
		{name: "stdout only", stdout: "ok\n", max: 100, want: "ok\n"},
		{name: "nothing", max: 100, want: ""},
		{name: "stderr only", stderr: "bad\n", max: 100, want: "--- stderr ---\nbad\n"},
		{name: "both", stdout: "a", stderr: "b", max: 100, want: "a\n--- stderr ---\nb"},
		{name: "short stderr after long stdout", stdout: strings.Repeat("x", 500), stderr: "why\n", max: 100},
		{name: "long both", stdout: strings.Repeat("x", 500), stderr: strings.Repeat("y", 500), max: 200},
		{name: "short stdout before long stderr", stdout: "a\n", stderr: strings.Repeat("y", 500), max: 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := output(writer(t, tt.max, tt.stdout), writer(t, tt.max, tt.stderr), tt.max)
			require.LessOrEqual(t, len(got), tt.max)
			if tt.want != "" || (tt.stdout == "" && tt.stderr == "") {
				require.Equal(t, tt.want, got)
				return
			}
			so, se, ok := strings.Cut(got, stderrLabel)
			require.True(t, ok, got)
			require.True(t, strings.HasPrefix(so, tt.stdout[:min(len(tt.stdout), 1)]))
			if len(tt.stderr) < 10 {
				require.Equal(t, tt.stderr, se, "a short stderr is kept whole")
			} else {
				require.GreaterOrEqual(t, len(se), tt.max/2-len(stderrLabel)-30, "stderr keeps about half")
			}
			if len(tt.stdout) < 10 {
				require.Equal(t, tt.stdout, so, "a short stdout is kept whole")
			}
		})
	}
}

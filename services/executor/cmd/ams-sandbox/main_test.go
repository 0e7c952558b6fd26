package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

// free are flags that put every server on a free port.
var free = []string{"-aws=127.0.0.1:0", "-ssh=127.0.0.1:0", "-dns=127.0.0.1:0", "-sites=web-1=127.0.0.1:0,web-2=127.0.0.1:0"}

// TestRunsTheCommandWithSandboxCredentials: the command after "--" runs with
// the sandbox's AWS key instead of the user's, and its exit status is the
// sandbox's.
func TestRunsTheCommandWithSandboxCredentials(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAUSERSOWNKEY00000")
	t.Setenv("AWS_SESSION_TOKEN", "users-session")
	var stdout, stderr bytes.Buffer
	args := append([]string{"-dir=" + t.TempDir()}, free...)
	args = append(args, "--", "sh", "-c", `echo "key=$AWS_ACCESS_KEY_ID token=${AWS_SESSION_TOKEN:-none}"; exit 3`)
	code := run(t.Context(), args, &stdout, &stderr)
	require.Equal(t, 3, code, stderr.String())
	require.Contains(t, stdout.String(), "key=AKIAAMSSANDBOX000000 token=none")
	require.Contains(t, stdout.String(), "web-1    i-0a1b2c3d4e5f60001 site http://127.0.0.1:")
}

func TestBadFlags(t *testing.T) {
	var stdout, stderr bytes.Buffer
	require.Equal(t, 2, run(t.Context(), []string{"-sites=web-1"}, &stdout, &stderr))
	require.Contains(t, stderr.String(), `"web-1" is not host=address`)

	// An address off loopback is refused: the bastion runs commands.
	stderr.Reset()
	args := append([]string{"-dir=" + t.TempDir()}, free...)
	args = append(args, "-ssh=192.0.2.1:22", "--", "true")
	require.Equal(t, 1, run(t.Context(), args, &stdout, &stderr))
	require.Contains(t, stderr.String(), "not on loopback")
}

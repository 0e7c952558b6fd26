package sshd_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/amsproject/ams/services/executor/sandbox/sshd"
)

func newKey(t testing.TB) *sshd.ClientKey {
	t.Helper()
	k, err := sshd.NewClientKey()
	require.NoError(t, err)
	return k
}

func start(t testing.TB, opts sshd.Options) *sshd.Server {
	t.Helper()
	s, err := sshd.Start(opts)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

// dial logs in with the plain x/crypto client, checking the host key the
// way the executor does: through a known_hosts file.
func dial(t testing.TB, s *sshd.Server, user string, key *sshd.ClientKey) (*ssh.Client, error) {
	t.Helper()
	kh := filepath.Join(t.TempDir(), "known_hosts")
	require.NoError(t, sshd.WriteKnownHosts(kh, s.KnownHostsLine("")))
	cb, err := knownhosts.New(kh)
	require.NoError(t, err)
	return ssh.Dial("tcp", s.Addr(), &ssh.ClientConfig{
		User:            user,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(key.Signer)},
		HostKeyCallback: cb,
		Timeout:         5 * time.Second,
	})
}

func run(t testing.TB, c *ssh.Client, cmd string) (string, string, error) {
	t.Helper()
	sess, err := c.NewSession()
	require.NoError(t, err)
	defer sess.Close()
	var out, errb bytes.Buffer
	sess.Stdout, sess.Stderr = &out, &errb
	err = sess.Run(cmd)
	return out.String(), errb.String(), err
}

func TestExecRunsShell(t *testing.T) {
	key := newKey(t)
	dir := t.TempDir()
	s := start(t, sshd.Options{AuthorizedKeys: []ssh.PublicKey{key.PublicKey()}, Dir: dir})
	c, err := dial(t, s, "ams", key)
	require.NoError(t, err)
	defer c.Close()

	tests := []struct {
		name    string
		cmd     string
		stdout  string
		stderr  string
		exit    int
		wantErr bool
	}{
		{name: "echo", cmd: "echo hello", stdout: "hello\n"},
		{name: "stderr", cmd: "echo oops >&2", stderr: "oops\n"},
		{name: "exit code", cmd: "exit 3", exit: 3},
		{name: "minimal environment", cmd: `printf '%s|%s|%s|%s' "$USER" "$HOME" "$SHELL" "$(pwd)"`, stdout: "ams|" + dir + "|/bin/sh|" + dir},
		{name: "argv0 is sh", cmd: `echo "$0"`, stdout: "sh\n"},
		{name: "stdin is empty", cmd: "cat; echo done", stdout: "done\n"},
		{name: "killed by signal", cmd: "kill -9 $$", exit: 137},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, err := run(t, c, tt.cmd)
			require.Equal(t, tt.stdout, stdout)
			require.Equal(t, tt.stderr, stderr)
			if tt.exit == 0 {
				require.NoError(t, err)
				return
			}
			ee, ok := errors.AsType[*ssh.ExitError](err)
			require.True(t, ok, "want an exit status, got %v", err)
			require.Equal(t, tt.exit, ee.ExitStatus())
		})
	}
	require.Contains(t, s.Commands(), "echo hello")
	require.Len(t, s.Commands(), len(tests))
}

func TestSessionRequests(t *testing.T) {
	key := newKey(t)
	var (
		mu  sync.Mutex
		got []string
	)
	s := start(t, sshd.Options{
		AuthorizedKeys: []ssh.PublicKey{key.PublicKey()},
		Exec: func(_ context.Context, user, command string) ([]byte, []byte, int) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, user+":"+command)
			return []byte("ran"), nil, 0
		},
	})
	c, err := dial(t, s, "ops", key)
	require.NoError(t, err)
	defer c.Close()

	sess, err := c.NewSession()
	require.NoError(t, err)
	defer sess.Close()
	require.Error(t, sess.Setenv("LD_PRELOAD", "/tmp/x.so"), "env requests are not honoured")
	require.Error(t, sess.RequestPty("xterm", 24, 80, nil), "pty is refused")
	out, err := sess.Output("do thing")
	require.NoError(t, err)
	require.Equal(t, "ran", string(out))
	mu.Lock()
	require.Equal(t, []string{"ops:do thing"}, got)
	mu.Unlock()

	sess2, err := c.NewSession()
	require.NoError(t, err)
	defer sess2.Close()
	require.Error(t, sess2.Shell(), "no interactive shell")
}

func TestAuthentication(t *testing.T) {
	good, bad := newKey(t), newKey(t)
	s := start(t, sshd.Options{AuthorizedKeys: []ssh.PublicKey{good.PublicKey()}, Users: []string{"ams"}})

	c, err := dial(t, s, "ams", good)
	require.NoError(t, err)
	c.Close()

	_, err = dial(t, s, "ams", bad)
	require.ErrorContains(t, err, "unable to authenticate")
	_, err = dial(t, s, "root", good)
	require.ErrorContains(t, err, "unable to authenticate")
	require.Empty(t, s.Commands())
}

func TestForwarding(t *testing.T) {
	key := newKey(t)
	target := start(t, sshd.Options{AuthorizedKeys: []ssh.PublicKey{key.PublicKey()}})
	bastion := start(t, sshd.Options{
		AuthorizedKeys:  []ssh.PublicKey{key.PublicKey()},
		AllowForwarding: true,
		DialForward: func(ctx context.Context, hostport string) (net.Conn, error) {
			if hostport != "inside.example:22" {
				return nil, errors.New("no such host")
			}
			var d net.Dialer
			return d.DialContext(ctx, "tcp", target.Addr())
		},
	})
	c, err := dial(t, bastion, "jump", key)
	require.NoError(t, err)
	defer c.Close()

	_, err = c.Dial("tcp", "elsewhere.example:22")
	require.Error(t, err)

	conn, err := c.Dial("tcp", "inside.example:22")
	require.NoError(t, err)
	cb := ssh.FixedHostKey(target.HostKey())
	cc, chans, reqs, err := ssh.NewClientConn(conn, "inside.example:22", &ssh.ClientConfig{
		User: "ams", Auth: []ssh.AuthMethod{ssh.PublicKeys(key.Signer)}, HostKeyCallback: cb,
	})
	require.NoError(t, err)
	inner := ssh.NewClient(cc, chans, reqs)
	defer inner.Close()
	stdout, _, err := run(t, inner, "echo through")
	require.NoError(t, err)
	require.Equal(t, "through\n", stdout)

	require.Equal(t, []string{"elsewhere.example:22", "inside.example:22"}, bastion.Forwards())
	require.Empty(t, bastion.Commands())
	require.Equal(t, []string{"echo through"}, target.Commands())
}

func TestForwardingRefusedByDefault(t *testing.T) {
	key := newKey(t)
	s := start(t, sshd.Options{AuthorizedKeys: []ssh.PublicKey{key.PublicKey()}})
	c, err := dial(t, s, "ams", key)
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Dial("tcp", s.Addr())
	require.ErrorContains(t, err, "forwarding is not allowed")
	require.Equal(t, []string{s.Addr()}, s.Forwards())
}

func TestCloseEndsRunningCommands(t *testing.T) {
	key := newKey(t)
	s, err := sshd.Start(sshd.Options{AuthorizedKeys: []ssh.PublicKey{key.PublicKey()}})
	require.NoError(t, err)
	c, err := dial(t, s, "ams", key)
	require.NoError(t, err)
	defer c.Close()
	sess, err := c.NewSession()
	require.NoError(t, err)
	require.NoError(t, sess.Start("sleep 30"))

	for deadline := time.Now().Add(5 * time.Second); len(s.Commands()) == 0; {
		require.True(t, time.Now().Before(deadline), "the command never arrived")
		time.Sleep(5 * time.Millisecond)
	}
	began := time.Now()
	require.NoError(t, s.Close())
	require.Less(t, time.Since(began), 3*time.Second, "Close waited for sleep")
	require.Error(t, sess.Wait())
}

func TestKnownHostsLine(t *testing.T) {
	s := start(t, sshd.Options{})
	line := s.KnownHostsLine("")
	require.True(t, strings.HasPrefix(line, "[127.0.0.1]:"), line)
	require.Contains(t, line, "ssh-ed25519 ")
	require.True(t, strings.HasPrefix(s.KnownHostsLine("db1.example:22"), "db1.example ssh-ed25519 "))
}

func TestWriteClientFiles(t *testing.T) {
	key := newKey(t)
	s := start(t, sshd.Options{})
	dir := t.TempDir()
	keyFile, khFile, err := sshd.WriteClientFiles(dir, key, s.KnownHostsLine(""))
	require.NoError(t, err)

	pem, err := os.ReadFile(keyFile)
	require.NoError(t, err)
	signer, err := ssh.ParsePrivateKey(pem)
	require.NoError(t, err, "an unencrypted OpenSSH key")
	require.Equal(t, key.PublicKey().Marshal(), signer.PublicKey().Marshal())
	fi, err := os.Stat(keyFile)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	cb, err := knownhosts.New(khFile)
	require.NoError(t, err)
	require.NoError(t, cb(s.Addr(), &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, s.HostKey()))
}

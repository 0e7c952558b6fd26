package sshstep_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/amsproject/ams/pkg/config"
	"github.com/amsproject/ams/services/executor/internal/injection"
	"github.com/amsproject/ams/services/executor/internal/sshstep"
	"github.com/amsproject/ams/services/executor/internal/step"
	"github.com/amsproject/ams/services/executor/sandbox/sshd"
)

const timeout = 10 * time.Second

func newKey(t testing.TB) *sshd.ClientKey {
	t.Helper()
	k, err := sshd.NewClientKey()
	require.NoError(t, err)
	return k
}

func startServer(t testing.TB, opts sshd.Options) *sshd.Server {
	t.Helper()
	s, err := sshd.Start(opts)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

// tenantFiles writes key and known_hosts into a fresh folder and returns
// the tenant's configuration for a server on 127.0.0.1:port.
func tenantFiles(t testing.TB, key *sshd.ClientKey, port int, knownHosts ...string) *config.ExecutorSSH {
	t.Helper()
	keyFile, khFile, err := sshd.WriteClientFiles(t.TempDir(), key, knownHosts...)
	require.NoError(t, err)
	return &config.ExecutorSSH{User: "ams", Port: port, KeyFile: keyFile, KnownHostsFile: khFile}
}

// fixture is one tenant and one host that trusts its key.
type fixture struct {
	srv *sshd.Server
	cfg *config.ExecutorSSH
	dir string // the host's working directory and HOME
}

func newFixture(t testing.TB, opts sshd.Options) *fixture {
	t.Helper()
	key := newKey(t)
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	opts.AuthorizedKeys = append(opts.AuthorizedKeys, key.PublicKey())
	srv := startServer(t, opts)
	return &fixture{srv: srv, cfg: tenantFiles(t, key, srv.Port(), srv.KnownHostsLine("")), dir: opts.Dir}
}

func TestRunOutputAndExitCode(t *testing.T) {
	f := newFixture(t, sshd.Options{})
	r := sshstep.New(sshstep.Options{})
	tests := []struct {
		name   string
		argv   []string
		output string
		exit   int
	}{
		{name: "echo", argv: []string{"echo", "hello", "world"}, output: "hello world\n"},
		{name: "printf", argv: []string{"printf", "%s-%s\n", "a", "b"}, output: "a-b\n"},
		{name: "exit code", argv: []string{"sh", "-c", "exit 3"}, exit: 3},
		{name: "stderr is kept", argv: []string{"sh", "-c", "echo out; echo err >&2; exit 1"}, output: "out\n--- stderr ---\nerr\n", exit: 1},
		{name: "stderr only", argv: []string{"sh", "-c", "echo err >&2"}, output: "--- stderr ---\nerr\n"},
		{name: "missing program", argv: []string{"no-such-program-ams"}, exit: 127},
		{name: "empty argument", argv: []string{"printf", "[%s]", ""}, output: "[]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := r.Run(t.Context(), "acme", f.cfg, "127.0.0.1", tt.argv, timeout)
			require.NoError(t, err)
			require.Equal(t, tt.exit, res.ExitCode)
			require.Equal(t, tt.exit == 0, res.OK)
			require.Equal(t, "127.0.0.1", res.Target)
			if tt.name == "missing program" {
				require.Contains(t, res.Output, "no-such-program-ams")
				return
			}
			require.Equal(t, tt.output, res.Output)
		})
	}
}

func TestHostWithPort(t *testing.T) {
	f := newFixture(t, sshd.Options{})
	cfg := *f.cfg
	cfg.Port = 1 // the host's own port wins
	res, err := sshstep.New(sshstep.Options{}).Run(t.Context(), "acme", &cfg, f.srv.Addr(), []string{"true"}, timeout)
	require.NoError(t, err)
	require.True(t, res.OK)
	require.Equal(t, f.srv.Addr(), res.Target)
}

// TestInjectionCorpus sends each hostile value as an argument through the
// real server's /bin/sh and checks that it arrives as one argument, byte
// for byte, and that nothing it says was run.
func TestInjectionCorpus(t *testing.T) {
	var (
		mu     sync.Mutex
		stdout = map[string][]byte{} // raw, before Result's UTF-8 clean-up
	)
	dir := t.TempDir()
	shell := sshd.Shell(dir)
	f := newFixture(t, sshd.Options{
		Dir: dir,
		Exec: func(ctx context.Context, user, command string) ([]byte, []byte, int) {
			out, errOut, exit := shell(ctx, user, command)
			mu.Lock()
			stdout[command] = out
			mu.Unlock()
			return out, errOut, exit
		},
	})
	// Files a glob or redirection in the host's shell would find; their
	// content shows a truncation or an append.
	for _, name := range injection.Files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(name), 0o600))
	}
	before, err := os.ReadDir(dir)
	require.NoError(t, err)

	// A value with NUL cannot be an argument: it is refused before
	// anything is sent (TestArgvRefusedBeforeDialing); the rest go in pairs.
	var vals, withNUL []string
	for _, v := range injection.Corpus() {
		if strings.IndexByte(v, 0) >= 0 {
			withNUL = append(withNUL, v)
			continue
		}
		vals = append(vals, v)
	}
	require.GreaterOrEqual(t, len(vals), 300)
	r := sshstep.New(sshstep.Options{MaxOutput: 1 << 20})
	for _, v := range withNUL {
		_, err := r.Run(t.Context(), "acme", f.cfg, "127.0.0.1", []string{"printf", `%s\0`, v}, timeout)
		require.ErrorContains(t, err, "NUL", "value %q", v)
	}
	require.Empty(t, f.srv.Commands(), "a value with NUL sent nothing")
	for i := 0; i < len(vals); i += 2 {
		pair := vals[i:min(i+2, len(vals))]
		argv := append([]string{"printf", `%s\0`}, pair...)
		res, err := r.Run(t.Context(), "acme", f.cfg, "127.0.0.1", argv, timeout)
		require.NoError(t, err, "values %q", pair)
		require.Equal(t, 0, res.ExitCode, "values %q: %s", pair, res.Output)

		want := strings.Join(pair, "\x00") + "\x00"
		cmds := f.srv.Commands()
		mu.Lock()
		got := string(stdout[cmds[len(cmds)-1]])
		mu.Unlock()
		require.Equal(t, want, got, "values %q did not arrive byte for byte", pair)
		if utf8.ValidString(want) {
			require.Equal(t, want, res.Output)
		}
	}

	after, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Equal(t, before, after, "a value created or removed a file on the host")
	for _, name := range injection.Files {
		content, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		require.Equal(t, name, string(content), "a value changed %s on the host", name)
	}
	_, err = os.Stat(filepath.Join(dir, injection.Canary))
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestArgvRefusedBeforeDialing(t *testing.T) {
	f := newFixture(t, sshd.Options{})
	r := sshstep.New(sshstep.Options{})
	for name, argv := range map[string][]string{
		"NUL in program":  {"ec\x00ho", "x"},
		"NUL in argument": {"echo", "a\x00; touch canary"},
		"empty argv":      {},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := r.Run(t.Context(), "acme", f.cfg, "127.0.0.1", argv, timeout)
			require.Error(t, err)
			require.False(t, step.IsUnknownOutcome(err))
		})
	}
	_, err := r.Run(t.Context(), "acme", f.cfg, "127.0.0.1", []string{"echo", "a\x00b"}, timeout)
	require.ErrorContains(t, err, "NUL")
	require.Empty(t, f.srv.Commands())
}

func TestHostKeyChecked(t *testing.T) {
	key := newKey(t)
	srv := startServer(t, sshd.Options{AuthorizedKeys: []ssh.PublicKey{key.PublicKey()}})
	other := startServer(t, sshd.Options{})
	r := sshstep.New(sshstep.Options{})

	t.Run("unknown host", func(t *testing.T) {
		// known_hosts lists another host only.
		cfg := tenantFiles(t, key, srv.Port(), other.KnownHostsLine(""))
		_, err := r.Run(t.Context(), "acme", cfg, "127.0.0.1", []string{"touch", "x"}, timeout)
		require.ErrorContains(t, err, "127.0.0.1:"+fmt.Sprint(srv.Port()))
		require.ErrorContains(t, err, "unknown")
		require.ErrorContains(t, err, cfg.KnownHostsFile)
		require.ErrorContains(t, err, ssh.FingerprintSHA256(srv.HostKey()))
		require.False(t, step.IsUnknownOutcome(err))
	})
	t.Run("empty known_hosts", func(t *testing.T) {
		cfg := tenantFiles(t, key, srv.Port())
		_, err := r.Run(t.Context(), "acme", cfg, "127.0.0.1", []string{"touch", "x"}, timeout)
		require.ErrorContains(t, err, "unknown")
	})
	t.Run("changed key", func(t *testing.T) {
		// The other server's key written under this server's address: what
		// a reinstalled host or a man in the middle looks like.
		line := strings.Replace(other.KnownHostsLine(""), fmt.Sprint(other.Port()), fmt.Sprint(srv.Port()), 1)
		cfg := tenantFiles(t, key, srv.Port(), line)
		_, err := r.Run(t.Context(), "acme", cfg, "127.0.0.1", []string{"touch", "x"}, timeout)
		require.ErrorContains(t, err, "does not match")
		require.ErrorContains(t, err, cfg.KnownHostsFile)
		require.ErrorContains(t, err, "127.0.0.1:"+fmt.Sprint(srv.Port()))
	})
	require.Empty(t, srv.Commands(), "no command may reach a host whose key is not trusted")
}

func TestKeyFiles(t *testing.T) {
	f := newFixture(t, sshd.Options{})
	r := sshstep.New(sshstep.Options{})
	dir := t.TempDir()

	encrypted := filepath.Join(dir, "encrypted")
	k := newKey(t)
	block, err := ssh.MarshalPrivateKeyWithPassphrase(k.Private, "", []byte("secret"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(encrypted, pem.EncodeToMemory(block), 0o600))
	garbage := filepath.Join(dir, "garbage")
	require.NoError(t, os.WriteFile(garbage, []byte("not a key"), 0o600))

	tests := []struct {
		name  string
		edit  func(*config.ExecutorSSH)
		wants []string
	}{
		{"missing key", func(c *config.ExecutorSSH) { c.KeyFile = filepath.Join(dir, "nope") }, []string{"tenant acme", "executor.ssh.key_file", filepath.Join(dir, "nope")}},
		{"missing known_hosts", func(c *config.ExecutorSSH) { c.KnownHostsFile = filepath.Join(dir, "nope") }, []string{"tenant acme", "executor.ssh.known_hosts_file", filepath.Join(dir, "nope")}},
		{"key not set", func(c *config.ExecutorSSH) { c.KeyFile = "" }, []string{"tenant acme", "executor.ssh.key_file"}},
		{"known_hosts not set", func(c *config.ExecutorSSH) { c.KnownHostsFile = "" }, []string{"tenant acme", "executor.ssh.known_hosts_file"}},
		{"encrypted key", func(c *config.ExecutorSSH) { c.KeyFile = encrypted }, []string{"tenant acme", encrypted, "encrypted"}},
		{"not a key", func(c *config.ExecutorSSH) { c.KeyFile = garbage }, []string{"tenant acme", garbage}},
		{"bad known_hosts", func(c *config.ExecutorSSH) { c.KnownHostsFile = garbage }, []string{"tenant acme", garbage}},
		{"key is a folder", func(c *config.ExecutorSSH) { c.KeyFile = dir }, []string{"tenant acme", dir, "not a regular file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := *f.cfg
			tt.edit(&cfg)
			_, err := r.Run(t.Context(), "acme", &cfg, "127.0.0.1", []string{"true"}, timeout)
			for _, w := range tt.wants {
				require.ErrorContains(t, err, w)
			}
		})
	}
	_, err = r.Run(t.Context(), "acme", nil, "127.0.0.1", []string{"true"}, timeout)
	require.ErrorContains(t, err, "executor.ssh")
	require.Empty(t, f.srv.Commands())
}

func TestWrongKey(t *testing.T) {
	f := newFixture(t, sshd.Options{})
	cfg := tenantFiles(t, newKey(t), f.srv.Port(), f.srv.KnownHostsLine(""))
	_, err := sshstep.New(sshstep.Options{}).Run(t.Context(), "acme", cfg, "127.0.0.1", []string{"true"}, timeout)
	require.ErrorContains(t, err, "tenant acme")
	require.ErrorContains(t, err, cfg.KeyFile)
	require.ErrorContains(t, err, "authorized_keys")
	require.ErrorContains(t, err, `"ams"`)
	require.Empty(t, f.srv.Commands())
}

// TestTenantsDoNotShareKeys runs two tenants through one Runner: each
// reaches its own host, and tenant A's key is refused by tenant B's host
// even though A trusts B's host key and B's key is cached.
func TestTenantsDoNotShareKeys(t *testing.T) {
	keyA, keyB := newKey(t), newKey(t)
	srvA := startServer(t, sshd.Options{AuthorizedKeys: []ssh.PublicKey{keyA.PublicKey()}})
	srvB := startServer(t, sshd.Options{AuthorizedKeys: []ssh.PublicKey{keyB.PublicKey()}})
	both := []string{srvA.KnownHostsLine(""), srvB.KnownHostsLine("")}
	cfgA := tenantFiles(t, keyA, 0, both...)
	cfgB := tenantFiles(t, keyB, 0, both...)
	r := sshstep.New(sshstep.Options{})

	res, err := r.Run(t.Context(), "tenant-b", cfgB, srvB.Addr(), []string{"echo", "b"}, timeout)
	require.NoError(t, err)
	require.Equal(t, "b\n", res.Output)
	res, err = r.Run(t.Context(), "tenant-a", cfgA, srvA.Addr(), []string{"echo", "a"}, timeout)
	require.NoError(t, err)
	require.Equal(t, "a\n", res.Output)

	_, err = r.Run(t.Context(), "tenant-a", cfgA, srvB.Addr(), []string{"echo", "a"}, timeout)
	require.ErrorContains(t, err, "tenant tenant-a")
	require.ErrorContains(t, err, "refused")

	// The same files under another tenant's name are read afresh, not
	// taken from tenant B's cache entry.
	_, err = r.Run(t.Context(), "tenant-a", cfgB, srvA.Addr(), []string{"echo", "a"}, timeout)
	require.ErrorContains(t, err, "tenant tenant-a")
	require.Equal(t, []string{`'echo' 'a'`}, srvA.Commands())
	require.Equal(t, []string{`'echo' 'b'`}, srvB.Commands())
}

// TestKeyRotation checks that a replaced key file is read again.
func TestKeyRotation(t *testing.T) {
	oldKey, newK := newKey(t), newKey(t)
	srv := startServer(t, sshd.Options{AuthorizedKeys: []ssh.PublicKey{newK.PublicKey()}})
	cfg := tenantFiles(t, oldKey, srv.Port(), srv.KnownHostsLine(""))
	r := sshstep.New(sshstep.Options{})
	_, err := r.Run(t.Context(), "acme", cfg, "127.0.0.1", []string{"true"}, timeout)
	require.ErrorContains(t, err, "refused")

	require.NoError(t, newK.WriteFile(cfg.KeyFile))
	later := time.Now().Add(time.Minute) // same size: only the time tells
	require.NoError(t, os.Chtimes(cfg.KeyFile, later, later))
	res, err := r.Run(t.Context(), "acme", cfg, "127.0.0.1", []string{"true"}, timeout)
	require.NoError(t, err)
	require.True(t, res.OK)
}

// TestBastion reaches a host whose name only the bastion can resolve, so
// the step can only have gone through the bastion.
func TestBastion(t *testing.T) {
	key := newKey(t)
	target := startServer(t, sshd.Options{AuthorizedKeys: []ssh.PublicKey{key.PublicKey()}, Users: []string{"ams"}})
	newBastion := func(allow bool) *sshd.Server {
		return startServer(t, sshd.Options{
			AuthorizedKeys:  []ssh.PublicKey{key.PublicKey()},
			Users:           []string{"jump"},
			AllowForwarding: allow,
			DialForward: func(ctx context.Context, hostport string) (net.Conn, error) {
				if hostport != "db1.internal:22" {
					return nil, fmt.Errorf("%s: no such host", hostport)
				}
				var d net.Dialer
				return d.DialContext(ctx, "tcp", target.Addr())
			},
		})
	}
	bastion := newBastion(true)
	cfg := tenantFiles(t, key, 22, bastion.KnownHostsLine(""), target.KnownHostsLine("db1.internal:22"))
	cfg.Bastion = bastion.Addr()
	cfg.BastionUser = "jump"
	r := sshstep.New(sshstep.Options{})

	res, err := r.Run(t.Context(), "acme", cfg, "db1.internal", []string{"hostname-ish", "x"}, timeout)
	require.NoError(t, err)
	require.Equal(t, 127, res.ExitCode)
	res, err = r.Run(t.Context(), "acme", cfg, "db1.internal", []string{"echo", "via bastion"}, timeout)
	require.NoError(t, err)
	require.Equal(t, "via bastion\n", res.Output)
	require.Equal(t, "db1.internal", res.Target)
	require.Equal(t, []string{"db1.internal:22", "db1.internal:22"}, bastion.Forwards())
	require.Empty(t, bastion.Commands(), "the command runs on the target, not the bastion")
	require.Equal(t, []string{`'hostname-ish' 'x'`, `'echo' 'via bastion'`}, target.Commands())

	t.Run("target key checked", func(t *testing.T) {
		cfg := *cfg
		cfg.KnownHostsFile = tenantFiles(t, key, 22, bastion.KnownHostsLine("")).KnownHostsFile
		_, err := r.Run(t.Context(), "acme", &cfg, "db1.internal", []string{"echo"}, timeout)
		require.ErrorContains(t, err, "host db1.internal:22 is unknown")
	})
	t.Run("bastion key checked", func(t *testing.T) {
		before := len(bastion.Forwards())
		cfg := *cfg
		cfg.KnownHostsFile = tenantFiles(t, key, 22, target.KnownHostsLine("db1.internal:22")).KnownHostsFile
		_, err := r.Run(t.Context(), "acme", &cfg, "db1.internal", []string{"echo"}, timeout)
		require.ErrorContains(t, err, "bastion "+bastion.Addr()+" is unknown")
		require.ErrorContains(t, err, cfg.KnownHostsFile)
		require.Len(t, bastion.Forwards(), before, "nothing forwarded through an untrusted bastion")
	})
	t.Run("bastion user", func(t *testing.T) {
		cfg := *cfg
		cfg.BastionUser = "ams"
		_, err := r.Run(t.Context(), "acme", &cfg, "db1.internal", []string{"echo"}, timeout)
		require.ErrorContains(t, err, "bastion "+bastion.Addr()+` refused to log in user "ams"`)
		require.ErrorContains(t, err, "executor.ssh.bastion_user")
	})
	t.Run("forwarding not allowed", func(t *testing.T) {
		closed := newBastion(false)
		cfg := *cfg
		cfg.Bastion = closed.Addr()
		cfg.KnownHostsFile = tenantFiles(t, key, 22, closed.KnownHostsLine(""), target.KnownHostsLine("db1.internal:22")).KnownHostsFile
		_, err := r.Run(t.Context(), "acme", &cfg, "db1.internal", []string{"echo"}, timeout)
		require.ErrorContains(t, err, "AllowTcpForwarding")
		require.False(t, step.IsUnknownOutcome(err))
	})
	t.Run("direct connection does not work", func(t *testing.T) {
		cfg := *cfg
		cfg.Bastion = ""
		_, err := r.Run(t.Context(), "acme", &cfg, "db1.internal", []string{"echo"}, timeout)
		require.ErrorContains(t, err, "connect")
	})
	require.Len(t, target.Commands(), 2)
}

func TestOutputCap(t *testing.T) {
	f := newFixture(t, sshd.Options{})
	r := sshstep.New(sshstep.Options{MaxOutput: 4096})
	res, err := r.Run(t.Context(), "acme", f.cfg, "127.0.0.1",
		[]string{"sh", "-c", `head -c 1048576 /dev/zero | tr '\0' x; echo done >&2; exit 7`}, timeout)
	require.NoError(t, err)
	require.Equal(t, 7, res.ExitCode)
	require.False(t, res.OK)
	require.LessOrEqual(t, len(res.Output), 4096)
	require.True(t, strings.HasPrefix(res.Output, "xxxx"))
	require.Contains(t, res.Output, "bytes cut)\n--- stderr ---\ndone\n", "stderr survives a flood on stdout")
	require.True(t, utf8.ValidString(res.Output))
}

func TestTimeoutWhileRunning(t *testing.T) {
	f := newFixture(t, sshd.Options{})
	r := sshstep.New(sshstep.Options{})
	began := time.Now()
	res, err := r.Run(t.Context(), "acme", f.cfg, "127.0.0.1", []string{"sh", "-c", "echo started; sleep 5"}, 300*time.Millisecond)
	require.Less(t, time.Since(began), 2*time.Second)
	require.True(t, step.IsUnknownOutcome(err), "got %v", err)
	require.ErrorContains(t, err, "300ms")
	require.ErrorContains(t, err, "may still be running")
	require.Equal(t, "127.0.0.1", res.Target)
}

func TestCancelWhileRunning(t *testing.T) {
	f := newFixture(t, sshd.Options{})
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		defer cancel()
		for len(f.srv.Commands()) == 0 && ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
	}()
	_, err := sshstep.New(sshstep.Options{}).Run(ctx, "acme", f.cfg, "127.0.0.1", []string{"sleep", "5"}, timeout)
	require.True(t, step.IsUnknownOutcome(err), "got %v", err)
	require.ErrorContains(t, err, "canceled")
}

// TestConnectionDropped drops the connection while the command runs: no
// exit status came back, so the outcome is unknown.
func TestConnectionDropped(t *testing.T) {
	started := make(chan struct{})
	f := newFixture(t, sshd.Options{Exec: func(ctx context.Context, _, _ string) ([]byte, []byte, int) {
		close(started)
		<-ctx.Done()
		return nil, nil, 0
	}})
	go func() {
		<-started
		f.srv.Close()
	}()
	_, err := sshstep.New(sshstep.Options{}).Run(t.Context(), "acme", f.cfg, "127.0.0.1", []string{"reboot"}, timeout)
	require.True(t, step.IsUnknownOutcome(err), "got %v", err)
}

// TestNotAnSSHServer: a port that accepts and never answers is a plain
// error after the dial timeout, since no command was sent.
func TestNotAnSSHServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var held []net.Conn
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		for _, c := range held {
			c.Close()
		}
	})
	f := newFixture(t, sshd.Options{})
	cfg := *f.cfg
	r := sshstep.New(sshstep.Options{DialTimeout: 200 * time.Millisecond})
	began := time.Now()
	_, err = r.Run(t.Context(), "acme", &cfg, ln.Addr().String(), []string{"true"}, timeout)
	require.Less(t, time.Since(began), 2*time.Second)
	require.ErrorContains(t, err, "handshake did not finish")
	require.False(t, step.IsUnknownOutcome(err))

	// Nothing listening at all.
	addr := ln.Addr().String()
	ln.Close()
	_, err = r.Run(t.Context(), "acme", &cfg, addr, []string{"true"}, timeout)
	require.ErrorContains(t, err, "connect")
	require.False(t, step.IsUnknownOutcome(err))
}

// TestHostWithSeveralKeys: a host has keys of several types and known_hosts
// holds only one of them (here not the server's first choice); the step
// asks for that type instead of failing as if the key had changed.
func TestHostWithSeveralKeys(t *testing.T) {
	key := newKey(t)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	ecSigner, err := ssh.NewSignerFromKey(ecKey)
	require.NoError(t, err)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	rsaSigner, err := ssh.NewSignerFromKey(rsaKey)
	require.NoError(t, err)
	srv := startServer(t, sshd.Options{AuthorizedKeys: []ssh.PublicKey{key.PublicKey()}, MoreHostKeys: []ssh.Signer{ecSigner, rsaSigner}})
	r := sshstep.New(sshstep.Options{})
	for _, known := range []ssh.Signer{ecSigner, rsaSigner} {
		t.Run(known.PublicKey().Type(), func(t *testing.T) {
			cfg := tenantFiles(t, key, srv.Port(), knownhosts.Line([]string{knownhosts.Normalize(srv.Addr())}, known.PublicKey()))
			res, err := r.Run(t.Context(), "acme", cfg, "127.0.0.1", []string{"echo", "ok"}, timeout)
			require.NoError(t, err)
			require.Equal(t, "ok\n", res.Output)
		})
	}
}

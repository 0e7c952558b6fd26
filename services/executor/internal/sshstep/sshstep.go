// Package sshstep is the SSH step kind of the executor: it runs one argv
// of a runbook on a tenant's host over SSH, as that tenant.
//
// Each tenant logs in with its own private key and checks host keys against
// its own known_hosts file; nothing is shared between tenants, and there is
// no way to skip the host key check: an unknown or changed key stops the
// step before anything is sent. A tenant may reach its hosts through a
// bastion (ProxyJump): the executor logs in to the bastion, asks it for a
// direct-tcpip channel to the host, and speaks SSH to the host over that
// channel, so the host's key is checked by the executor, not trusted to the
// bastion.
//
// Runbook parameters become whole argv elements. SSH carries a command as
// one string that the host's shell parses, so every element is quoted for a
// POSIX shell (see command) and arrives as exactly one argument.
//
// Once the command is sent, the step cannot know whether it ran unless the
// host reports an exit status: a timeout or a dropped connection after that
// point is a *step.UnknownOutcomeError, and the run engine verifies or
// escalates instead of running it again.
package sshstep

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/amsproject/ams/pkg/config"
	"github.com/amsproject/ams/services/executor/internal/step"
)

// DefaultDialTimeout bounds connecting to a host and the SSH handshake when
// Options give none.
const DefaultDialTimeout = 10 * time.Second

// Options configure a Runner.
type Options struct {
	// MaxOutput caps Result.Output in bytes; zero means step.DefaultMaxOutput.
	MaxOutput int
	// DialTimeout bounds the TCP connect and the SSH handshake of each hop
	// (bastion, host); zero means DefaultDialTimeout. The step's timeout
	// bounds the whole attempt as well.
	DialTimeout time.Duration
}

// Runner runs SSH steps. It caches each tenant's parsed key and known hosts
// and is safe for concurrent use.
type Runner struct {
	opts Options

	mu    sync.Mutex
	creds map[credKey]*creds
}

// New returns a Runner.
func New(opts Options) *Runner {
	if opts.MaxOutput <= 0 {
		opts.MaxOutput = step.DefaultMaxOutput
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = DefaultDialTimeout
	}
	return &Runner{opts: opts, creds: map[credKey]*creds{}}
}

// Run logs in to host as tenant with cfg and runs argv there, bounded by
// timeout (zero: by ctx alone).
//
// host is a name or address, with or without a port (cfg.Port otherwise);
// the caller has already checked that it is one of the tenant's hosts. The
// files in cfg are used as given: the caller resolves them against the
// configuration file. The host key, and the bastion's when cfg.Bastion is
// set, must be in cfg.KnownHostsFile.
//
// A command that ran and exited gives a Result whatever its exit code (OK
// when 0) and a nil error. An error before the command was sent (bad argv,
// key files, connection, host key, login) is a plain error: nothing ran.
// After it was sent, a timeout, cancellation or dropped connection without
// an exit status is a *step.UnknownOutcomeError, with what output arrived.
func (r *Runner) Run(ctx context.Context, tenant string, cfg *config.ExecutorSSH, host string, argv []string, timeout time.Duration) (step.Result, error) {
	res := step.Result{Target: host}
	cmd, err := command(argv)
	if err != nil {
		return res, fmt.Errorf("ssh %s: %w", host, err)
	}
	if cfg == nil {
		return res, fmt.Errorf("tenant %s has no SSH login: add executor.ssh (user, key_file, known_hosts_file) to its configuration", tenant)
	}
	if cfg.User == "" {
		return res, fmt.Errorf("tenant %s has no SSH user: set executor.ssh.user", tenant)
	}
	addr, err := hostPort(host, cfg.Port)
	if err != nil {
		return res, err
	}
	c, err := r.credentials(tenant, cfg)
	if err != nil {
		return res, err
	}

	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	// Closing the connections is the only way to stop a blocked handshake,
	// request or wait in x/crypto/ssh, so the deadline does exactly that.
	var cl closers
	defer cl.close()
	stop := context.AfterFunc(ctx, cl.close)
	defer stop()

	client, err := r.connect(ctx, &cl, c, cfg, addr)
	if err != nil {
		return res, err
	}
	sess, err := client.NewSession()
	if err != nil {
		return res, fmt.Errorf("ssh %s: open a session: %w%s", addr, err, stoppedBy(ctx, timeout))
	}
	stdout, stderr := newCapWriter(r.opts.MaxOutput), newCapWriter(r.opts.MaxOutput)
	sess.Stdout, sess.Stderr = stdout, stderr

	// From here the exec request is on the wire: the command may run on the
	// host whatever happens to this connection.
	if err := sess.Start(cmd); err != nil {
		res.Output = output(stdout, stderr, r.opts.MaxOutput)
		if err.Error() == fmt.Sprintf("ssh: command %v failed", cmd) {
			// The host answered no: nothing ran.
			return res, fmt.Errorf("ssh %s: the host refused to run the command (exec request denied; is the account restricted to a forced command?)", addr)
		}
		return res, &step.UnknownOutcomeError{Err: fmt.Errorf("ssh %s: sending the command: %w%s; it may have started", addr, err, stoppedBy(ctx, timeout))}
	}
	err = sess.Wait()
	res.Output = output(stdout, stderr, r.opts.MaxOutput)
	if exit, ok := errors.AsType[*ssh.ExitError](err); ok || err == nil {
		// An exit status arrived: the outcome is known even if the
		// deadline passed at the same moment.
		if ok {
			res.ExitCode = exit.ExitStatus()
		}
		res.OK = res.ExitCode == 0
		return res, nil
	}
	if ctx.Err() != nil {
		return res, &step.UnknownOutcomeError{Err: fmt.Errorf("ssh %s: the command was sent but had not finished%s; the connection was closed and it may still be running there", addr, stoppedBy(ctx, timeout))}
	}
	if _, ok := errors.AsType[*ssh.ExitMissingError](err); ok {
		return res, &step.UnknownOutcomeError{Err: fmt.Errorf("ssh %s: the session ended without an exit status; the command may or may not have run to the end", addr)}
	}
	return res, &step.UnknownOutcomeError{Err: fmt.Errorf("ssh %s: the connection failed after the command was sent: %w", addr, err)}
}

// stoppedBy says why ctx ended, for a message; empty while it has not.
func stoppedBy(ctx context.Context, timeout time.Duration) string {
	switch err := ctx.Err(); {
	case err == nil:
		return ""
	case errors.Is(err, context.DeadlineExceeded) && timeout > 0:
		return fmt.Sprintf(" within the step's timeout of %s", timeout)
	default:
		return fmt.Sprintf(" (stopped: %v)", err)
	}
}

// hostPort is host with cfg's port unless it names its own.
func hostPort(host string, port int) (string, error) {
	if host == "" {
		return "", errors.New("ssh: the step has no host")
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		if h == "" {
			return "", fmt.Errorf("ssh %s: no host name before the port", host)
		}
		return host, nil
	}
	if port == 0 {
		port = 22
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]") // a bare [v6] literal
	return net.JoinHostPort(host, strconv.Itoa(port)), nil
}

// connect logs in to addr, through the bastion when there is one. Every
// connection it opens is added to cl, so the caller's deadline can close it.
func (r *Runner) connect(ctx context.Context, cl *closers, c *creds, cfg *config.ExecutorSSH, addr string) (*ssh.Client, error) {
	if cfg.Bastion == "" {
		conn, err := r.dial(ctx, addr)
		if err != nil {
			return nil, fmt.Errorf("ssh %s: connect: %w; check that the host is up and its SSH port is reachable from the executor (or set executor.ssh.bastion)", addr, err)
		}
		cl.add(conn)
		client, err := r.login(ctx, conn, "host", addr, cfg.User, c)
		if err != nil {
			return nil, fmt.Errorf("ssh: %w", err)
		}
		return client, nil
	}

	bastionUser := cfg.BastionUser
	if bastionUser == "" {
		bastionUser = cfg.User
	}
	conn, err := r.dial(ctx, cfg.Bastion)
	if err != nil {
		return nil, fmt.Errorf("ssh %s: connect to bastion %s: %w; check executor.ssh.bastion and that the bastion is reachable from the executor", addr, cfg.Bastion, err)
	}
	cl.add(conn)
	bastion, err := r.login(ctx, conn, "bastion", cfg.Bastion, bastionUser, c)
	if err != nil {
		return nil, fmt.Errorf("ssh %s: %w", addr, err)
	}
	cl.add(bastion)

	// The bastion opens the TCP connection (so it resolves the name);
	// the SSH session to the host runs inside it, end to end.
	dctx, cancel := context.WithTimeout(ctx, r.opts.DialTimeout)
	tunnel, err := bastion.DialContext(dctx, "tcp", addr)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("ssh %s: bastion %s did not open a connection to it: %w; check that the bastion allows TCP forwarding for %q (AllowTcpForwarding) and can reach the host%s",
			addr, cfg.Bastion, err, bastionUser, stoppedBy(ctx, 0))
	}
	cl.add(tunnel)
	client, err := r.login(ctx, tunnel, "host", addr, cfg.User, c)
	if err != nil {
		return nil, fmt.Errorf("ssh via bastion %s: %w", cfg.Bastion, err)
	}
	return client, nil
}

func (r *Runner) dial(ctx context.Context, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: r.opts.DialTimeout}
	return d.DialContext(ctx, "tcp", addr)
}

// login runs the SSH handshake on conn: host key check, then public-key
// authentication as user. role ("host" or "bastion") and addr name the
// peer in errors.
func (r *Runner) login(ctx context.Context, conn net.Conn, role, addr, user string, c *creds) (*ssh.Client, error) {
	hctx, cancel := context.WithTimeout(ctx, r.opts.DialTimeout)
	defer cancel()
	stop := context.AfterFunc(hctx, func() { conn.Close() })

	// The handshake error says only "handshake failed: ..."; remember a
	// host key refusal to report it as the reason.
	var (
		mu         sync.Mutex
		hostKeyErr error
	)
	check := c.hostKeyCallback(role)
	cc, chans, reqs, err := ssh.NewClientConn(conn, addr, &ssh.ClientConfig{
		User: user,
		Auth: []ssh.AuthMethod{ssh.PublicKeys(c.signer)},
		HostKeyCallback: func(hostname string, remote net.Addr, key ssh.PublicKey) error {
			err := check(hostname, remote, key)
			mu.Lock()
			hostKeyErr = err
			mu.Unlock()
			return err
		},
		HostKeyAlgorithms: c.hostKeyAlgorithms(addr),
		ClientVersion:     "SSH-2.0-AMS-executor",
	})
	if !stop() {
		// The deadline closed conn under the handshake.
		if err == nil {
			cc.Close()
		}
		why := stoppedBy(ctx, 0)
		if why == "" {
			why = fmt.Sprintf(" within %s (the dial timeout)", r.opts.DialTimeout)
		}
		return nil, fmt.Errorf("%s %s: the SSH handshake did not finish%s; is an SSH server listening there?", role, addr, why)
	}
	if err == nil {
		return ssh.NewClient(cc, chans, reqs), nil
	}
	mu.Lock()
	defer mu.Unlock()
	switch {
	case hostKeyErr != nil:
		return nil, hostKeyErr
	case strings.Contains(err.Error(), "unable to authenticate"):
		userKey := "executor.ssh.user"
		if role == "bastion" {
			userKey = "executor.ssh.bastion_user"
		}
		return nil, fmt.Errorf("%s %s refused to log in user %q with tenant %s's key %s (%s): add that public key to ~%s/.ssh/authorized_keys there, or correct %s",
			role, addr, user, c.tenant, c.keyFile, ssh.FingerprintSHA256(c.signer.PublicKey()), user, userKey)
	default:
		return nil, fmt.Errorf("%s %s: SSH handshake: %w", role, addr, err)
	}
}

// closers are the connections of one attempt, closed in reverse order
// (host session before the bastion it runs through), once.
type closers struct {
	mu     sync.Mutex
	closed bool
	list   []io.Closer
}

// add registers x; if the attempt is already over, x is closed at once.
func (cl *closers) add(x io.Closer) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.closed {
		x.Close()
		return
	}
	cl.list = append(cl.list, x)
}

func (cl *closers) close() {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	cl.closed = true
	for i := len(cl.list) - 1; i >= 0; i-- {
		cl.list[i].Close()
	}
	cl.list = nil
}

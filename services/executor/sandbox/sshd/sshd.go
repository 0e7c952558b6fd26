// Package sshd is a real SSH server on loopback: the customer host (and the
// bastion in front of it) that SSH steps log in to in tests and in the
// `make run` sandbox.
//
// It speaks the SSH protocol through golang.org/x/crypto/ssh, the same
// library the executor's client uses, and runs commands the way OpenSSH's
// sshd does: the exec request's single string goes to `/bin/sh -c`, so the
// client's quoting is tested against a real POSIX shell rather than against
// a fake that splits on spaces. Host keys, public-key authentication and
// direct-tcpip forwarding (ProxyJump) are real too, so host-key checking,
// per-tenant keys and bastions are tested end to end.
//
// It is a fixture, not a hardened server: it listens on 127.0.0.1 only and
// runs commands as the user running the process, whatever user name the
// client logs in as.
package sshd

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// ExecFunc runs the command string of one exec request for user and
// returns what it printed and its exit status. ctx ends when the client
// closes the session or the connection drops, or the server is closed.
type ExecFunc func(ctx context.Context, user, command string) (stdout, stderr []byte, exit int)

// Options configure a Server. The zero value is a server that accepts no
// one (no authorized keys).
type Options struct {
	// HostKey is the server's host key; nil generates an ed25519 key.
	HostKey ssh.Signer
	// MoreHostKeys are further host keys of other types, as a real host
	// has (ed25519, ecdsa, rsa); the client picks one during the handshake.
	MoreHostKeys []ssh.Signer
	// AuthorizedKeys are the public keys allowed to log in.
	AuthorizedKeys []ssh.PublicKey
	// Users are the user names allowed to log in; empty allows any.
	Users []string
	// AllowForwarding accepts direct-tcpip channels, so the server can
	// stand as a bastion (ProxyJump). Without it they are refused, as with
	// OpenSSH's AllowTcpForwarding no.
	AllowForwarding bool
	// DialForward opens the connection for a direct-tcpip channel to
	// hostport. Nil dials TCP. Tests use it to give a target a name that
	// only the bastion can resolve, so reaching it proves the jump.
	DialForward func(ctx context.Context, hostport string) (net.Conn, error)
	// Exec runs exec requests; nil runs them with Shell(Dir).
	Exec ExecFunc
	// Dir is the working directory and HOME of commands run by the default
	// Exec; empty makes a temporary directory that Close removes.
	Dir string
	// Addr is the loopback host:port to listen on, such as the sandbox's
	// fixed 127.0.0.1:2222; empty picks a free port on 127.0.0.1.
	Addr string
}

// Server is a running SSH server. Its methods are safe for concurrent use.
type Server struct {
	opts    Options
	cfg     *ssh.ServerConfig
	ln      net.Listener
	hostKey ssh.PublicKey
	tempDir string

	ctx    context.Context // ends at Close; every handler derives from it
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	conns    map[net.Conn]struct{}
	commands []string
	forwards []string
}

// handshakeTimeout bounds a client that connects and never finishes the
// SSH handshake, so Close never waits on it for long.
const handshakeTimeout = 10 * time.Second

// Start listens on opts.Addr (a free port on 127.0.0.1 by default) and
// serves until Close.
func Start(opts Options) (*Server, error) {
	addr, err := loopback(opts.Addr)
	if err != nil {
		return nil, err
	}
	if opts.HostKey == nil {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generate host key: %w", err)
		}
		if opts.HostKey, err = ssh.NewSignerFromKey(priv); err != nil {
			return nil, fmt.Errorf("generate host key: %w", err)
		}
	}
	s := &Server{opts: opts, hostKey: opts.HostKey.PublicKey(), conns: map[net.Conn]struct{}{}}
	if s.opts.Exec == nil {
		if s.opts.Dir == "" {
			dir, err := os.MkdirTemp("", "ams-sshd-")
			if err != nil {
				return nil, fmt.Errorf("make home directory: %w", err)
			}
			s.opts.Dir, s.tempDir = dir, dir
		}
		s.opts.Exec = Shell(s.opts.Dir)
	}
	if s.opts.DialForward == nil {
		var d net.Dialer
		s.opts.DialForward = func(ctx context.Context, hostport string) (net.Conn, error) {
			return d.DialContext(ctx, "tcp", hostport)
		}
	}
	s.cfg = &ssh.ServerConfig{PublicKeyCallback: s.checkKey, ServerVersion: "SSH-2.0-AMS-sandbox-sshd"}
	s.cfg.AddHostKey(opts.HostKey)
	for _, k := range opts.MoreHostKeys {
		s.cfg.AddHostKey(k)
	}

	// Binding a local port does not block; Start takes no context.
	ln, err := new(net.ListenConfig).Listen(context.Background(), "tcp", addr)
	if err != nil {
		s.removeTemp()
		return nil, fmt.Errorf("listen on loopback: %w", err)
	}
	s.ln = ln
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

// loopback checks a listen address: the server runs commands for whoever
// holds an authorized key, so it never listens beyond this machine.
func loopback(addr string) (string, error) {
	if addr == "" {
		return "127.0.0.1:0", nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("sshd: listen address %q is not host:port", addr)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return "", fmt.Errorf("sshd: listen address %q is not on loopback; the fixture listens on 127.0.0.1 or ::1 only", addr)
	}
	return addr, nil
}

// Addr is the host:port the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Port is the port the server listens on.
func (s *Server) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// HostKey is the server's public host key (Options.HostKey's).
func (s *Server) HostKey() ssh.PublicKey { return s.hostKey }

// KnownHostsLine is the known_hosts line that trusts this server's host key
// under hostport (Addr() when empty), in the form OpenSSH writes:
// "[127.0.0.1]:2222 ssh-ed25519 AAAA…", or the bare host for port 22.
func (s *Server) KnownHostsLine(hostport string) string {
	if hostport == "" {
		hostport = s.Addr()
	}
	return knownhosts.Line([]string{knownhosts.Normalize(hostport)}, s.hostKey)
}

// Commands are the command strings of the exec requests received so far,
// in order, exactly as the client sent them.
func (s *Server) Commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.commands)
}

// Forwards are the host:port destinations of the direct-tcpip channels
// requested so far, allowed or not.
func (s *Server) Forwards() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.forwards)
}

// Close stops listening, drops every connection, ends running commands
// and waits for all of the server's goroutines.
func (s *Server) Close() error {
	err := s.ln.Close()
	s.cancel()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	s.removeTemp()
	if errors.Is(err, net.ErrClosed) {
		return nil // closed twice
	}
	return err
}

func (s *Server) removeTemp() {
	if s.tempDir != "" {
		os.RemoveAll(s.tempDir)
	}
}

func (s *Server) checkKey(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
	if len(s.opts.Users) > 0 && !slices.Contains(s.opts.Users, meta.User()) {
		return nil, fmt.Errorf("user %q may not log in", meta.User())
	}
	for _, k := range s.opts.AuthorizedKeys {
		if k.Type() == key.Type() && string(k.Marshal()) == string(key.Marshal()) {
			return &ssh.Permissions{}, nil
		}
	}
	return nil, fmt.Errorf("key %s is not authorized", ssh.FingerprintSHA256(key))
}

func (s *Server) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return // closed
		}
		if !s.track(c) {
			c.Close()
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.untrack(c)
			s.handleConn(c)
		}()
	}
}

// track records a connection so Close can drop it; false once closing.
func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx.Err() != nil {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	c.Close()
}

func (s *Server) handleConn(c net.Conn) {
	// SetDeadline fails only on a closed connection, which the handshake
	// (or the first read after it) then reports.
	_ = c.SetDeadline(time.Now().Add(handshakeTimeout))
	sc, chans, reqs, err := ssh.NewServerConn(c, s.cfg)
	if err != nil {
		return // bad handshake or refused login: the client has the error
	}
	_ = c.SetDeadline(time.Time{})
	defer sc.Close()

	// Everything on this connection ends when it drops or the server closes.
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { sc.Close() })
	defer stop()

	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() {
		defer wg.Done()
		ssh.DiscardRequests(reqs) // keepalives and port-forward requests: refused
	}()
	for nc := range chans {
		switch nc.ChannelType() {
		case "session":
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.handleSession(ctx, sc.User(), nc)
			}()
		case "direct-tcpip":
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.handleForward(ctx, nc)
			}()
		default:
			_ = nc.Reject(ssh.UnknownChannelType, "unsupported channel type") // fails only if the client is gone
		}
	}
	cancel() // chans closes when the connection ends
}

// handleSession serves one session channel: env requests are ignored and
// pty, shell and subsystem requests refused, as a locked-down OpenSSH does
// for a forced-command account; the first exec request runs and its exit
// status is sent back before the channel closes.
func (s *Server) handleSession(ctx context.Context, user string, nc ssh.NewChannel) {
	ch, reqs, err := nc.Accept()
	if err != nil {
		return
	}
	defer ch.Close()
	// A reply fails only when the client is gone; reqs then closes.
	for req := range reqs {
		if req.Type != "exec" {
			_ = req.Reply(false, nil)
			continue
		}
		var msg struct{ Command string }
		if err := ssh.Unmarshal(req.Payload, &msg); err != nil {
			_ = req.Reply(false, nil)
			continue
		}
		s.mu.Lock()
		s.commands = append(s.commands, msg.Command)
		s.mu.Unlock()
		_ = req.Reply(true, nil)
		s.runExec(ctx, user, msg.Command, ch, reqs)
		return
	}
}

func (s *Server) runExec(ctx context.Context, user, command string, ch ssh.Channel, reqs <-chan *ssh.Request) {
	// The command ends when the client goes away: the channel's requests
	// close when it closes the channel or the connection drops.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for req := range reqs {
			_ = req.Reply(false, nil) // one command per session; fails only if the client is gone
		}
		cancel()
	}()

	stdout, stderr, exit := s.opts.Exec(ctx, user, command)
	if ctx.Err() == nil {
		// The client may have gone meanwhile; then there is no one left to
		// tell, and the channel is closed below either way.
		_, _ = ch.Write(stdout)
		_, _ = ch.Stderr().Write(stderr)
		_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{uint32(exit)})) //nolint:gosec // an exit status is 0-255 (128+signal at most)
		_ = ch.CloseWrite()
	}
	ch.Close()
	<-done
}

// handleForward serves a direct-tcpip channel (RFC 4254 7.2), which is what
// `ssh -J` and the executor's bastion hop open.
func (s *Server) handleForward(ctx context.Context, nc ssh.NewChannel) {
	var msg struct {
		Host       string
		Port       uint32
		OriginHost string
		OriginPort uint32
	}
	if err := ssh.Unmarshal(nc.ExtraData(), &msg); err != nil {
		_ = nc.Reject(ssh.ConnectionFailed, "bad direct-tcpip request") // fails only if the client is gone
		return
	}
	dest := net.JoinHostPort(msg.Host, strconv.FormatUint(uint64(msg.Port), 10))
	s.mu.Lock()
	s.forwards = append(s.forwards, dest)
	s.mu.Unlock()
	if !s.opts.AllowForwarding {
		_ = nc.Reject(ssh.Prohibited, "TCP forwarding is not allowed on this server") // fails only if the client is gone
		return
	}
	dctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	conn, err := s.opts.DialForward(dctx, dest)
	cancel()
	if err != nil {
		_ = nc.Reject(ssh.ConnectionFailed, err.Error()) // fails only if the client is gone
		return
	}
	ch, reqs, err := nc.Accept()
	if err != nil {
		conn.Close()
		return
	}
	stop := context.AfterFunc(ctx, func() { conn.Close(); ch.Close() })
	defer stop()

	reqsDone := make(chan struct{})
	go func() {
		defer close(reqsDone)
		ssh.DiscardRequests(reqs) // ends when the channel closes
	}()
	var copies sync.WaitGroup
	copies.Add(2)
	// A copy ends at EOF or when either side drops; a dropped side is
	// not an error of the server's, so the copies' errors are not kept.
	go func() {
		defer copies.Done()
		_, _ = io.Copy(ch, conn)
		_ = ch.CloseWrite()
	}()
	go func() {
		defer copies.Done()
		_, _ = io.Copy(conn, ch)
		// Pass the client's EOF on; the target then finishes and closes.
		if tc, ok := conn.(interface{ CloseWrite() error }); ok {
			_ = tc.CloseWrite()
		} else {
			conn.Close()
		}
	}()
	copies.Wait()
	conn.Close()
	ch.Close()
	<-reqsDone
}

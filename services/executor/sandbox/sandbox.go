// Package sandbox runs the demo customer's estate (package estate) behind
// local servers that speak the real protocols, so that `make run` shows a
// runbook going check → recovery → verify without a cloud account or a
// customer's machine:
//
//   - AWS (STS, EC2, SSM, CloudWatch) from awsfake on one HTTP address; the
//     tenant's role and external id, its instances (tagged as the tenant's)
//     and the MSP's SSM documents are registered, and CloudWatch has a CPU
//     figure a minute for each instance.
//   - An SSH bastion from package sshd, and behind it one SSH server per
//     host that only the bastion reaches (by its name, its .demo.internal
//     name or its address), each answering with the estate's shell.
//   - Each web host's site on its own HTTP address.
//   - A DNS server holding the hosts' .demo.internal names.
//
// The tenant's SSH key and a known_hosts file for the bastion and every
// host are written to Options.Dir; the keys are kept there across restarts.
package sandbox

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/amsproject/ams/services/executor/sandbox/awsfake"
	"github.com/amsproject/ams/services/executor/sandbox/dnsfake"
	"github.com/amsproject/ams/services/executor/sandbox/estate"
	"github.com/amsproject/ams/services/executor/sandbox/sshd"
)

// The demo tenant's AWS identity; deploy/examples/ams.yaml names the same.
const (
	Account    = "123456789012"
	RoleARN    = "arn:aws:iam::" + Account + ":role/AMSExecutor"
	ExternalID = "ams-demo-external-id"
	Region     = "ap-northeast-1"
	// TagKey is the tag that marks the tenant's instances.
	TagKey = "Customer"
	// TagValue is the value of TagKey on the tenant's instances.
	TagValue = "demo"
	// Domain is the zone of the hosts' names in the sandbox's DNS.
	Domain = "demo.internal"
)

// Default listen addresses of the servers, as deploy/examples/ams.yaml
// expects them.
const (
	DefaultAWSAddr = "127.0.0.1:4566"
	DefaultSSHAddr = "127.0.0.1:2222"
	DefaultDNSAddr = "127.0.0.1:8053"
)

// DefaultSites are the listen addresses of the demo web hosts' sites.
func DefaultSites() map[string]string {
	return map[string]string{"web-1": "127.0.0.1:8081", "web-2": "127.0.0.1:8082"}
}

// Options configure a Sandbox. Empty addresses pick free loopback ports
// (tests); cmd/ams-sandbox passes the defaults above.
type Options struct {
	// Dir receives id_ed25519, known_hosts and the host keys; required.
	Dir string
	// AWSAddr, SSHAddr and DNSAddr are the listen addresses of AWS, the
	// bastion and DNS.
	AWSAddr, SSHAddr, DNSAddr string
	// Sites are the listen addresses of hosts' sites by host name; a host
	// with a site not listed gets a free port.
	Sites map[string]string
	// Hosts are the estate; nil is estate.Demo().
	Hosts []estate.Host
	// Log receives what the servers do; nil discards it.
	Log *slog.Logger
}

// Sandbox is the running estate and its servers.
type Sandbox struct {
	// Estate is the hosts' state, which the servers read and change.
	Estate *estate.Estate
	// AWS is the fake AWS, to look at the calls it received.
	AWS *awsfake.Fake
	// KeyFile and KnownHostsFile are the tenant's executor.ssh files.
	KeyFile, KnownHostsFile string

	bastion *sshd.Server
	hosts   []*sshd.Server
	dns     *dnsfake.Server
	http    []*http.Server
	awsAddr string
	sites   map[string]string // host → http://addr/

	stop chan struct{}
	wg   sync.WaitGroup
}

// Start starts every server. On error, what was started is closed.
func Start(opts Options) (_ *Sandbox, err error) {
	if opts.Dir == "" {
		return nil, errors.New("sandbox: Options.Dir is required (where the SSH key and known_hosts go)")
	}
	if opts.Hosts == nil {
		opts.Hosts = estate.Demo()
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	est, err := estate.New(opts.Hosts...)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	s := &Sandbox{Estate: est, AWS: awsfake.New(), sites: map[string]string{}, stop: make(chan struct{})}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	clientKey, err := loadOrCreateKey(filepath.Join(opts.Dir, "id_ed25519"))
	if err != nil {
		return nil, err
	}
	if err := s.startAWS(opts.AWSAddr); err != nil {
		return nil, err
	}
	known, err := s.startSSH(opts, clientKey)
	if err != nil {
		return nil, err
	}
	s.KeyFile = filepath.Join(opts.Dir, "id_ed25519")
	s.KnownHostsFile = filepath.Join(opts.Dir, "known_hosts")
	if err := sshd.WriteKnownHosts(s.KnownHostsFile, known...); err != nil {
		return nil, err
	}
	if err := s.startSites(opts); err != nil {
		return nil, err
	}
	if err := s.startDNS(opts.DNSAddr); err != nil {
		return nil, err
	}
	opts.Log.Info("sandbox ready", "aws", s.AWSEndpoint(), "ssh_bastion", s.Bastion(), "dns", s.DNSAddr(), "sites", s.sites, "dir", opts.Dir)
	return s, nil
}

// AWSEndpoint is the base URL of every AWS service.
func (s *Sandbox) AWSEndpoint() string { return "http://" + s.awsAddr }

// Bastion is the bastion's host:port.
func (s *Sandbox) Bastion() string { return s.bastion.Addr() }

// DNSAddr is the DNS server's host:port.
func (s *Sandbox) DNSAddr() string { return s.dns.Addr() }

// SiteURL is the URL of host's site, "" when it has none.
func (s *Sandbox) SiteURL(host string) string { return s.sites[host] }

// Close stops every server.
func (s *Sandbox) Close() {
	select {
	case <-s.stop:
		return
	default:
		close(s.stop)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, srv := range s.http {
		_ = srv.Shutdown(ctx)
	}
	if s.bastion != nil {
		_ = s.bastion.Close()
	}
	for _, h := range s.hosts {
		_ = h.Close()
	}
	if s.dns != nil {
		_ = s.dns.Close()
	}
	s.wg.Wait()
}

func (s *Sandbox) startAWS(addr string) error {
	s.AWS.AddRole(RoleARN, ExternalID)
	for _, in := range s.Estate.Instances(Account, map[string]string{TagKey: TagValue}) {
		s.AWS.AddInstance(in)
	}
	for _, d := range s.Estate.Documents() {
		if err := s.AWS.AddDocument(Account, d); err != nil {
			return fmt.Errorf("sandbox: %w", err)
		}
	}
	now := time.Now()
	for _, h := range s.Estate.Hosts() {
		s.AWS.AddDatapoints(Account, "AWS/EC2", "CPUUtilization", map[string]string{"InstanceId": h.InstanceID}, estate.CPUPoints(h, now, 3*time.Hour)...)
	}
	// A new datapoint every minute, so "the last 5 minutes" always has one.
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case now := <-t.C:
				for _, h := range s.Estate.Hosts() {
					s.AWS.AddDatapoints(Account, "AWS/EC2", "CPUUtilization", map[string]string{"InstanceId": h.InstanceID}, estate.CPUPoints(h, now, 0)...)
				}
			}
		}
	}()
	ln, err := listen(addr)
	if err != nil {
		return fmt.Errorf("sandbox: AWS: %w", err)
	}
	s.awsAddr = ln.Addr().String()
	s.serve(ln, s.AWS)
	return nil
}

// startSSH starts one server per host, each with its own host key, and
// the bastion in front; it returns the known_hosts lines for all of them.
func (s *Sandbox) startSSH(opts Options, clientKey ssh.Signer) ([]string, error) {
	authorized := []ssh.PublicKey{clientKey.PublicKey()}
	routes := map[string]string{} // "name:22" → the host server's address
	var known []string
	for _, h := range s.Estate.Hosts() {
		hostKey, err := loadOrCreateKey(filepath.Join(opts.Dir, "host_keys", h.Name))
		if err != nil {
			return nil, err
		}
		srv, err := sshd.Start(sshd.Options{HostKey: hostKey, AuthorizedKeys: authorized, Exec: s.Estate.Exec(h.Name)})
		if err != nil {
			return nil, fmt.Errorf("sandbox: ssh for %s: %w", h.Name, err)
		}
		s.hosts = append(s.hosts, srv)
		for _, name := range []string{h.Name, h.Name + "." + Domain, h.Address} {
			if name == "" {
				continue
			}
			routes[net.JoinHostPort(name, "22")] = srv.Addr()
			known = append(known, srv.KnownHostsLine(net.JoinHostPort(name, "22")))
		}
	}
	bastionKey, err := loadOrCreateKey(filepath.Join(opts.Dir, "host_keys", "bastion"))
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	s.bastion, err = sshd.Start(sshd.Options{
		Addr: opts.SSHAddr, HostKey: bastionKey, AuthorizedKeys: authorized, AllowForwarding: true,
		// Only the estate's hosts are behind the bastion: a jump anywhere
		// else (this machine's own ports included) is refused.
		DialForward: func(ctx context.Context, hostport string) (net.Conn, error) {
			to, ok := routes[strings.ToLower(hostport)]
			if !ok {
				return nil, fmt.Errorf("no host %s behind the sandbox bastion", hostport)
			}
			return d.DialContext(ctx, "tcp", to)
		},
		Exec: func(context.Context, string, string) ([]byte, []byte, int) {
			return nil, []byte("this is the sandbox bastion: it forwards SSH to the estate's hosts and runs no commands\n"), 1
		},
	})
	if err != nil {
		return nil, fmt.Errorf("sandbox: ssh bastion: %w", err)
	}
	known = append(known, s.bastion.KnownHostsLine(""))
	return known, nil
}

func (s *Sandbox) startSites(opts Options) error {
	for _, h := range s.Estate.Hosts() {
		if h.Site == "" {
			continue
		}
		ln, err := listen(opts.Sites[h.Name])
		if err != nil {
			return fmt.Errorf("sandbox: site of %s: %w", h.Name, err)
		}
		s.sites[h.Name] = "http://" + ln.Addr().String() + "/"
		s.serve(ln, s.Estate.Site(h.Name))
	}
	return nil
}

func (s *Sandbox) startDNS(addr string) error {
	var zone strings.Builder
	for _, h := range s.Estate.Hosts() {
		if h.Address != "" {
			fmt.Fprintf(&zone, "%s.%s. 60 IN A %s\n", h.Name, Domain, h.Address)
		}
	}
	rrs, err := dnsfake.ParseRecords(zone.String())
	if err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	if s.dns, err = dnsfake.StartAt(addr, rrs); err != nil {
		return fmt.Errorf("sandbox: DNS: %w", err)
	}
	return nil
}

func (s *Sandbox) serve(ln net.Listener, h http.Handler) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	s.http = append(s.http, srv)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = srv.Serve(ln)
	}()
}

// listen listens on addr, a free loopback port when empty. A taken port
// gets an error that says which one.
func listen(addr string) (net.Listener, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	// Binding a local port does not block; Start takes no context.
	ln, err := new(net.ListenConfig).Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w (is another sandbox or program using it?)", addr, err)
	}
	return ln, nil
}

// loadOrCreateKey reads an ed25519 private key in OpenSSH format from
// path, or generates one and writes it there (mode 0600), so that keys and
// known_hosts stay valid across restarts of the sandbox.
func loadOrCreateKey(path string) (ssh.Signer, error) {
	data, err := os.ReadFile(path) //nolint:gosec // a file in the folder the operator names with -dir
	if err == nil {
		signer, err := ssh.ParsePrivateKey(data)
		if err != nil {
			return nil, fmt.Errorf("sandbox: key %s: %w (remove it to have a new one made)", path, err)
		}
		return signer, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("sandbox: generate key: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "ams-sandbox")
	if err != nil {
		return nil, fmt.Errorf("sandbox: encode key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	return ssh.NewSignerFromKey(priv)
}

// Package probe runs the read-only network checks of runbooks: an HTTP
// request, a TCP connect and a DNS lookup. Each returns a step.Result.
//
// A probe that fails — connection refused, a timeout, the wrong status, no
// such host — is a result (OK false, with Output saying what happened), not
// an error: finding out that a service is down is what the probe is for.
// An error means the probe could not be attempted as asked (a malformed
// URL, an unknown method) or that the caller's context ended, i.e. the run
// itself is stopping.
//
// Probes do not check that their target is the tenant's; the caller does
// that with package scope before calling, with the same string it passes
// here.
package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/amsproject/ams/services/executor/internal/step"
)

// Options configures a Prober.
type Options struct {
	// MaxOutput caps Result.Output in bytes; zero means
	// step.DefaultMaxOutput.
	MaxOutput int
	// DNSServer is the DNS server (host:port) for DNS probes and for
	// resolving the names that HTTP and TCP probes connect to; empty means
	// the system's resolver configuration.
	DNSServer string
	// HTTPClient replaces the client HTTP probes use (tests give one that
	// trusts their TLS server). Its redirect policy is overridden: probes
	// never follow redirects.
	HTTPClient *http.Client
}

// Prober runs probes. It is safe for concurrent use.
type Prober struct {
	maxOutput int
	// resolver answers DNS probes.
	resolver *net.Resolver
	// dialer connects TCP probes and, unless Options.HTTPClient is set,
	// HTTP probes; it resolves through DNSServer when one is set.
	dialer *net.Dialer
	client *http.Client
}

// UserAgent is sent with every HTTP probe, so that a tenant's logs show
// what the requests are.
const UserAgent = "AMS-executor-probe"

// defaultTimeout applies when a probe is given no timeout; it is the
// runbook's default step timeout.
const defaultTimeout = 60 * time.Second

// New returns a Prober. It opens nothing.
func New(opts Options) *Prober {
	p := &Prober{
		maxOutput: opts.MaxOutput,
		resolver:  &net.Resolver{PreferGo: true},
		dialer:    &net.Dialer{},
	}
	if p.maxOutput <= 0 {
		p.maxOutput = step.DefaultMaxOutput
	}
	if opts.DNSServer != "" {
		server := opts.DNSServer
		p.resolver.Dial = func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, server)
		}
		p.dialer.Resolver = p.resolver
	}
	client := opts.HTTPClient
	if client == nil {
		client = &http.Client{Transport: &http.Transport{
			// The probe measures the tenant's host as the executor reaches
			// it; a proxy from the environment would measure the proxy (and
			// could not reach a private host anyway).
			Proxy:       nil,
			DialContext: p.dial,
			// A fresh connection each time: the round trip includes the
			// connect, and no idle connection to a tenant's host is left
			// behind between probes.
			DisableKeepAlives:      true,
			ForceAttemptHTTP2:      true,
			MaxResponseHeaderBytes: 64 << 10,
		}}
	} else {
		c := *client
		client = &c
	}
	// A redirect is reported, never followed: its Location was not checked
	// against the tenant's hosts, and a tenant's server (or whoever controls
	// it) could otherwise send the executor anywhere.
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	p.client = client
	return p
}

// dial connects to address with the name made absolute (see absolute).
func (p *Prober) dial(ctx context.Context, network, address string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return p.dialer.DialContext(ctx, network, address)
	}
	return p.dialer.DialContext(ctx, network, net.JoinHostPort(absolute(host), port))
}

// absolute adds the trailing dot to a host name with more than one label.
// The tenant's hosts were checked as written; a resolver search list
// (Kubernetes sets ndots:5) would otherwise try web.acme.internal.<search
// domain> first, a name the tenant does not own. A single-label name is
// left alone: the hosts file and the search list are the only ways it
// resolves (and Go's hosts-file lookup does not match "localhost.").
func absolute(host string) string {
	if _, err := netip.ParseAddr(host); err == nil {
		return host
	}
	if !strings.Contains(host, ".") || strings.HasSuffix(host, ".") {
		return host
	}
	return host + "."
}

// withTimeout bounds one probe; the caller's own deadline still applies.
func withTimeout(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	return context.WithTimeout(ctx, timeout)
}

// ms is d in milliseconds, with microsecond precision.
func ms(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000
}

// describe says in a few words why a network operation failed, for Output.
func describe(err error, timeout time.Duration) string {
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	if dnsErr, ok := errors.AsType[*net.DNSError](err); ok {
		switch {
		case dnsErr.IsNotFound:
			return "no such host"
		case dnsErr.IsTimeout:
			return fmt.Sprintf("timed out after %s (DNS)", timeout)
		}
		return dnsErr.Error()
	}
	if netErr, ok := errors.AsType[net.Error](err); errors.Is(err, context.DeadlineExceeded) || ok && netErr.Timeout() {
		return fmt.Sprintf("timed out after %s", timeout)
	}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset by peer"
	case errors.Is(err, syscall.EHOSTUNREACH):
		return "no route to host"
	case errors.Is(err, syscall.ENETUNREACH):
		return "network unreachable"
	}
	// The url.Error around an HTTP failure repeats the method and URL,
	// which Output already gives.
	if urlErr, ok := errors.AsType[*url.Error](err); ok {
		err = urlErr.Err
	}
	return err.Error()
}

// stopped returns the caller's context error when the caller's context has
// ended: the run is stopping, and the probe's failure says nothing about
// the target.
func stopped(ctx context.Context, what string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

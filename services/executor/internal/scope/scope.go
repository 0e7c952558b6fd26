// Package scope keeps host-based steps (SSH, HTTP, TCP, DNS) inside their
// tenant. A tenant's hosts are listed in its configuration
// (tenants[].executor.hosts) as exact names, "*.domain" suffixes, IP
// addresses and CIDR blocks; every target a step is about to touch is
// checked against that list before anything is sent, because the target
// usually comes from an alert and an alert is outside input.
//
// Names and addresses are matched separately: a name matches only name
// entries and an IP address only IP and CIDR entries. DNS is never consulted
// here. Resolving would not make the check safer (the answer can change
// between the check and the connection) and a name in the tenant's list
// that resolves somewhere else is the operator's DNS saying so: the tenant
// owns the names it was given.
package scope

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/amsproject/ams/pkg/config"
	"github.com/amsproject/ams/services/executor/internal/step"
)

// Hosts is one tenant's set of hosts. It is immutable and safe for
// concurrent use.
type Hosts struct {
	tenant   string
	names    map[string]struct{}
	suffixes []string // ".acme.internal" for "*.acme.internal"
	prefixes []netip.Prefix
}

// New compiles a tenant's host patterns. The configuration validates them
// on load; New checks them again because a scope that silently dropped a
// pattern it did not understand would be a scope nobody reviewed.
func New(tenant string, patterns []string) (*Hosts, error) {
	if tenant == "" {
		return nil, errors.New("scope: the tenant is empty")
	}
	h := &Hosts{tenant: tenant, names: make(map[string]struct{})}
	for i, p := range patterns {
		bad := func(problem string) error {
			return fmt.Errorf("tenant %s: tenants[].executor.hosts[%d] %q %s", tenant, i, p, problem)
		}
		if problem := config.HostPatternProblem(p); problem != "" {
			return nil, bad(problem)
		}
		switch {
		case strings.Contains(p, "/"):
			prefix, err := netip.ParsePrefix(p)
			if err != nil {
				return nil, bad("is not a CIDR block such as 10.0.0.0/24")
			}
			h.prefixes = append(h.prefixes, normalizePrefix(prefix.Masked()))
		case isIPLiteral(p):
			addr, err := netip.ParseAddr(p)
			if err != nil || addr.Zone() != "" {
				return nil, bad("is not an IP address such as 10.0.0.5")
			}
			addr = addr.Unmap()
			h.prefixes = append(h.prefixes, netip.PrefixFrom(addr, addr.BitLen()))
		default:
			name, wildcard := strings.CutPrefix(p, "*.")
			if why := nameProblem(name); why != "" {
				return nil, bad(why)
			}
			if wildcard {
				h.suffixes = append(h.suffixes, "."+name)
			} else {
				h.names[name] = struct{}{}
			}
		}
	}
	return h, nil
}

// isIPLiteral is the test the configuration uses (net.ParseIP), so that a
// pattern is read here the way it was validated.
func isIPLiteral(s string) bool { return net.ParseIP(s) != nil }

// normalizePrefix turns an IPv4-mapped IPv6 block of at least /96, such as
// ::ffff:10.0.0.0/120, into the IPv4 block it stands for (10.0.0.0/24):
// both name the same hosts, and the guard against loopback and link-local
// addresses compares IPv4 blocks with IPv4 blocks.
func normalizePrefix(p netip.Prefix) netip.Prefix {
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96).Masked()
	}
	return p
}

// Tenant is the tenant the hosts belong to.
func (h *Hosts) Tenant() string { return h.tenant }

// Check returns nil when target is one of the tenant's hosts and an
// *step.OutsideTenantError saying why not otherwise. Target is a host name
// (any case, one trailing dot allowed) or an IPv4 or IPv6 address, with or
// without brackets; it carries no port.
func (h *Hosts) Check(target string) error {
	if reason := h.reason(target); reason != "" {
		return h.outside(target, reason)
	}
	return nil
}

// CheckURL checks the URL an HTTP step is about to request: an absolute
// http or https URL without user information whose host is the tenant's.
func (h *Hosts) CheckURL(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return h.outside(rawURL, "is not a URL")
	}
	if u.User != nil {
		// Credentials do not belong in a runbook, and "user@" is the classic
		// way to make http://acme.internal@evil.example look like the tenant's.
		return h.outside(u.Redacted(), "has user information (user@ or user:password@); a probe URL carries no credentials")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return h.outside(rawURL, fmt.Sprintf("has scheme %q; a probe URL is http:// or https://", u.Scheme))
	}
	if u.Opaque != "" || u.Host == "" {
		return h.outside(rawURL, "has no host; a probe URL is absolute, such as https://web.example.com/health")
	}
	if reason := h.reason(u.Hostname()); reason != "" {
		return h.outside(rawURL, reason)
	}
	return nil
}

// CheckAddress checks a TCP address, host:port, as a TCP step dials it.
func (h *Hosts) CheckAddress(address string) error {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return h.outside(address, "is not host:port")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return h.outside(address, fmt.Sprintf("port %q is not a number from 1 to 65535", port))
	}
	if reason := h.reason(host); reason != "" {
		return h.outside(address, reason)
	}
	return nil
}

func (h *Hosts) outside(target, reason string) error {
	return &step.OutsideTenantError{Tenant: h.tenant, Target: target, Reason: reason}
}

const (
	reasonNoHosts   = "the tenant has no hosts configured (tenants[].executor.hosts)"
	reasonNameNotIn = "the name is not in the tenant's hosts (tenants[].executor.hosts); a name matches only name and *.domain entries"
	reasonAddrNotIn = "the address is not in the tenant's hosts (tenants[].executor.hosts); an address matches only IP and CIDR entries"
)

// reason says why host is not the tenant's, or "" when it is.
func (h *Hosts) reason(host string) string {
	if len(h.names) == 0 && len(h.suffixes) == 0 && len(h.prefixes) == 0 {
		return reasonNoHosts
	}
	if host == "" {
		return "the host is empty"
	}
	addr, isAddr, why := parseAddr(host)
	if why != "" {
		return why
	}
	if isAddr {
		return h.addrReason(addr)
	}
	name := asciiLower(strings.TrimSuffix(host, "."))
	if why := nameProblem(name); why != "" {
		return why
	}
	if _, ok := h.names[name]; ok {
		return ""
	}
	for _, s := range h.suffixes {
		// The label check above rules out empty labels, so a name longer
		// than the suffix has at least one more label: "*.acme.internal"
		// matches "web.acme.internal" but not "acme.internal" itself.
		if strings.HasSuffix(name, s) {
			return ""
		}
	}
	return reasonNameNotIn
}

// parseAddr reads host as an IP address. isAddr is false for a name; why is
// set when host is bracketed but not an IPv6 address, or carries a zone.
func parseAddr(host string) (addr netip.Addr, isAddr bool, why string) {
	s, bracketed := strings.CutPrefix(host, "[")
	if bracketed {
		var closed bool
		if s, closed = strings.CutSuffix(s, "]"); !closed {
			return netip.Addr{}, false, "is not a host name or IP address"
		}
	}
	addr, err := netip.ParseAddr(s)
	if err != nil {
		if bracketed {
			return netip.Addr{}, false, "brackets hold an IPv6 address, and this is not one"
		}
		return netip.Addr{}, false, ""
	}
	if bracketed && !addr.Is6() {
		return netip.Addr{}, false, "brackets hold an IPv6 address, and this is not one"
	}
	if addr.Zone() != "" {
		return netip.Addr{}, false, "has an IPv6 zone (%interface); the tenant's hosts name addresses, not interfaces"
	}
	// An IPv4-mapped IPv6 address (::ffff:10.0.0.5) reaches the IPv4 host,
	// so it is checked as that host.
	return addr.Unmap(), true, ""
}

// guarded are addresses that reach the executor itself or its platform
// rather than a tenant's machine: loopback, "this host", link-local (where
// cloud instance metadata, and with it the executor's own credentials,
// lives), multicast and broadcast. A wide block such as 0.0.0.0/0 in a
// tenant's hosts does not cover them; only an entry inside the guarded
// block (127.0.0.1, 169.254.0.0/16) does, so reaching them is a decision
// someone wrote down.
var guarded = []struct {
	block netip.Prefix
	what  string
}{
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
	{netip.MustParsePrefix("0.0.0.0/8"), "an unspecified (this host) address"},
	{netip.MustParsePrefix("::/128"), "the unspecified address"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local (where cloud instance metadata lives)"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("fd00:ec2::254/128"), "the AWS instance metadata service"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
	{netip.MustParsePrefix("255.255.255.255/32"), "broadcast"},
}

func (h *Hosts) addrReason(addr netip.Addr) string {
	for _, g := range guarded {
		if !g.block.Contains(addr) {
			continue
		}
		for _, p := range h.prefixes {
			if p.Contains(addr) && p.Bits() >= g.block.Bits() && g.block.Contains(p.Addr()) {
				return ""
			}
		}
		return fmt.Sprintf("the address is %s (%s); only a tenant's hosts entry inside %s allows it, a wider block does not", g.what, g.block, g.block)
	}
	// An IPv4 target is also tried in its IPv4-mapped IPv6 form, so a block
	// such as ::/0 covers it as the network stack would.
	mapped := addr
	if addr.Is4() {
		mapped = netip.AddrFrom16(addr.As16())
	}
	for _, p := range h.prefixes {
		if p.Contains(addr) || p.Contains(mapped) {
			return ""
		}
	}
	return reasonAddrNotIn
}

// asciiLower lowercases A-Z only. strings.ToLower would also fold some
// non-ASCII letters into ASCII (the Kelvin sign into "k"), so a name that
// is not the one dialled could pass; non-ASCII is left for nameProblem to
// refuse.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// nameProblem says what is wrong with a lowercase host name without its
// trailing dot, or "" when it is a usable one. Underscores are allowed
// because DNS steps look up names such as _dmarc.example.com.
func nameProblem(name string) string {
	const notName = "is not a host name or IP address"
	if name == "" || len(name) > 253 {
		return notName
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return notName
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' && c != '_' {
				return notName
			}
		}
	}
	if endsInNumber(labels[len(labels)-1]) {
		// The C resolver and browsers read "0x7f.1", "127.1" and "0177.0.0.1"
		// as IPv4 addresses (inet_aton); Go does not. A name like that
		// would be checked as a name and dialled as an address, so it is
		// refused outright (the WHATWG URL standard does the same).
		return "looks like an IPv4 address in a form resolvers read differently (such as 0x7f.1 or 127.1); write the address as four decimal numbers"
	}
	return ""
}

// endsInNumber reports whether a last label is a number: decimal digits, or
// 0x followed by hex digits. No top-level domain is numeric.
func endsInNumber(label string) bool {
	digits := "0123456789"
	if rest, ok := strings.CutPrefix(label, "0x"); ok {
		label, digits = rest, "0123456789abcdef"
		if label == "" {
			return true
		}
	}
	return strings.Trim(label, digits) == ""
}

package scope

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/amsproject/ams/services/executor/internal/step"
)

// acme is the tenant most cases run against.
var acme = []string{
	"db.acme.example",
	"*.acme.internal",
	"10.0.0.0/24",
	"192.168.1.7",
	"2001:db8::/32",
	"::1",
}

func newHosts(t testing.TB, patterns ...string) *Hosts {
	t.Helper()
	h, err := New("acme", patterns)
	require.NoError(t, err)
	return h
}

// requireOutside asserts err is an *step.OutsideTenantError for target whose
// reason contains reason.
func requireOutside(t testing.TB, err error, target, reason string) {
	t.Helper()
	require.Error(t, err)
	var out *step.OutsideTenantError
	require.True(t, errors.As(err, &out), "want *step.OutsideTenantError, got %T: %v", err, err)
	require.Equal(t, "acme", out.Tenant)
	require.Equal(t, target, out.Target)
	require.Contains(t, out.Reason, reason)
}

const (
	notName  = "is not a host name or IP address"
	nameNot  = "the name is not in the tenant's hosts"
	addrNot  = "the address is not in the tenant's hosts"
	numeric  = "resolvers read differently"
	bracket  = "brackets hold an IPv6 address"
	loopback = "the address is loopback"
)

func TestCheck(t *testing.T) {
	h := newHosts(t, acme...)
	for _, tc := range []struct {
		name   string
		target string
		reason string // "" when the target is the tenant's
	}{
		{"exact name", "db.acme.example", ""},
		{"exact name any case, trailing dot", "DB.Acme.EXAMPLE.", ""},
		{"exact name does not cover subdomains", "x.db.acme.example", nameNot},
		{"wildcard one label", "web.acme.internal", ""},
		{"wildcard several labels", "a.b.acme.internal", ""},
		{"wildcard upper case", "WEB.ACME.INTERNAL", ""},
		{"wildcard with a foreign-looking prefix is still under the tenant's domain", "evil.com.acme.internal", ""},
		{"tenant's domain as a prefix of a foreign one", "acme.internal.evil.com", nameNot},
		{"wildcard does not cover the domain itself", "acme.internal", nameNot},
		{"wildcard does not cover the domain itself, any case and trailing dot", "ACME.internal.", nameNot},
		{"suffix without the dot", "xacme.internal", nameNot},
		{"underscore label for DNS steps", "_dmarc.acme.internal", ""},
		{"two trailing dots", "web.acme.internal..", notName},
		{"empty label", "web..acme.internal", notName},
		{"leading dot", ".acme.internal", notName},
		{"wildcard as a target", "*.acme.internal", notName},
		{"leading hyphen", "-oproxy.acme.internal", notName},
		{"port is not part of a host", "web.acme.internal:80", notName},
		{"space", "web .acme.internal", notName},
		{"non-ASCII that lowercases to ASCII (Kelvin sign)", "\u212Aube.acme.internal", notName},
		{"empty", "", "the host is empty"},
		{"label too long", "a234567890123456789012345678901234567890123456789012345678901234.acme.internal", notName},

		{"IPv4 in CIDR", "10.0.0.5", ""},
		{"IPv4 network address in CIDR", "10.0.0.0", ""},
		{"IPv4 outside CIDR", "10.0.1.5", addrNot},
		{"IPv4 exact", "192.168.1.7", ""},
		{"IPv4 next to exact", "192.168.1.8", addrNot},
		{"CIDR as a target", "10.0.0.0/24", notName},
		{"IPv4-mapped IPv6 in an IPv4 CIDR", "::ffff:10.0.0.5", ""},
		{"IPv4-mapped IPv6 in brackets", "[::ffff:10.0.0.5]", ""},
		{"IPv4-mapped IPv6 outside", "::ffff:10.0.1.5", addrNot},
		{"IPv6 in CIDR", "2001:db8::5", ""},
		{"IPv6 upper case", "2001:DB8::5", ""},
		{"IPv6 outside", "2001:db9::1", addrNot},
		{"IPv6 loopback named exactly", "::1", ""},
		{"IPv6 loopback in brackets", "[::1]", ""},
		{"IPv4 loopback not named", "127.0.0.1", loopback},
		{"unclosed bracket", "[::1", notName},
		{"IPv4 in brackets", "[10.0.0.5]", bracket},
		{"name in brackets", "[web.acme.internal]", bracket},
		{"IPv6 zone", "fe80::1%eth0", "IPv6 zone"},

		{"hex and short IPv4", "0x7f.1", numeric},
		{"short IPv4", "127.1", numeric},
		{"octal IPv4", "0177.0.0.1", numeric},
		{"leading zero IPv4 that inet_aton reads as octal", "010.0.0.5", numeric},
		{"IPv4 with a trailing dot", "10.0.0.5.", numeric},
		{"bare 0x", "a.0x", numeric},
		{"hex label in the middle is fine", "0x7f.acme.internal", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := h.Check(tc.target)
			if tc.reason == "" {
				require.NoError(t, err)
				return
			}
			requireOutside(t, err, tc.target, tc.reason)
			require.True(t, step.IsOutsideTenant(err))
		})
	}
}

func TestCheckKinds(t *testing.T) {
	t.Run("an IP matches only IP entries", func(t *testing.T) {
		h := newHosts(t, "*.acme.internal", "web.acme.example")
		requireOutside(t, h.Check("10.0.0.5"), "10.0.0.5", addrNot)
	})
	t.Run("a name matches only name entries", func(t *testing.T) {
		// DNS is not consulted: localhost is 127.0.0.1 only to a resolver.
		h := newHosts(t, "127.0.0.1", "10.0.0.0/8")
		requireOutside(t, h.Check("localhost"), "localhost", nameNot)
	})
	t.Run("no hosts", func(t *testing.T) {
		h := newHosts(t)
		requireOutside(t, h.Check("web.acme.internal"), "web.acme.internal", "the tenant has no hosts configured (tenants[].executor.hosts)")
		requireOutside(t, h.CheckURL("https://web.acme.internal/"), "https://web.acme.internal/", "no hosts configured")
	})
}

func TestGuarded(t *testing.T) {
	everything := newHosts(t, "0.0.0.0/0", "::/0")
	for _, tc := range []struct {
		name   string
		target string
		reason string
	}{
		{"ordinary IPv4 under 0.0.0.0/0", "8.8.8.8", ""},
		{"ordinary IPv6 under ::/0", "2001:db8::1", ""},
		{"loopback", "127.0.0.1", loopback},
		{"loopback elsewhere in 127/8", "127.3.2.1", loopback},
		{"IPv6 loopback", "::1", loopback},
		{"IPv4-mapped loopback", "::ffff:127.0.0.1", loopback},
		{"instance metadata", "169.254.169.254", "link-local"},
		{"IPv6 link-local", "fe80::1", "link-local"},
		{"AWS IPv6 metadata", "fd00:ec2::254", "AWS instance metadata"},
		{"unspecified", "0.0.0.0", "unspecified"},
		{"IPv6 unspecified", "::", "unspecified"},
		{"multicast", "224.0.0.1", "multicast"},
		{"broadcast", "255.255.255.255", "broadcast"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := everything.Check(tc.target)
			if tc.reason == "" {
				require.NoError(t, err)
				return
			}
			requireOutside(t, err, tc.target, tc.reason)
		})
	}

	t.Run("named explicitly", func(t *testing.T) {
		h := newHosts(t, "127.0.0.1", "169.254.0.0/16", "::ffff:127.0.0.2")
		require.NoError(t, h.Check("127.0.0.1"))
		require.NoError(t, h.Check("::ffff:127.0.0.1"))
		require.NoError(t, h.Check("127.0.0.2"), "an IPv4-mapped pattern stands for the IPv4 host")
		require.NoError(t, h.Check("169.254.169.254"))
		requireOutside(t, h.Check("127.0.0.3"), "127.0.0.3", loopback)
	})
	t.Run("mapped IPv6 block", func(t *testing.T) {
		h := newHosts(t, "::ffff:10.0.0.0/120")
		require.NoError(t, h.Check("10.0.0.9"))
		requireOutside(t, h.Check("10.0.1.9"), "10.0.1.9", addrNot)
	})
}

func TestCheckURL(t *testing.T) {
	h := newHosts(t, acme...)
	for _, tc := range []struct {
		name   string
		url    string
		target string // the Target reported; the URL when empty
		reason string
	}{
		{"https", "https://web.acme.internal/health", "", ""},
		{"http with port, query, case", "HTTP://WEB.acme.internal:8080/x?y=1", "", ""},
		{"IPv6 literal", "http://[::1]:8080/", "", ""},
		{"IPv4 literal", "http://10.0.0.5/", "", ""},
		{"foreign host", "https://acme.internal.evil.com/", "", nameNot},
		{"foreign address", "http://10.0.1.5/", "", addrNot},
		{"scheme", "ftp://web.acme.internal/", "", `scheme "ftp"`},
		{"no scheme", "web.acme.internal/health", "", `scheme ""`},
		{"opaque", "mailto:ops@web.acme.internal", "", `scheme "mailto"`},
		{"no host", "https:///health", "", "has no host"},
		{"userinfo with password is redacted", "https://user:secret@web.acme.internal/", "https://user:xxxxx@web.acme.internal/", "user information"},
		{"userinfo hiding the real host", "http://web.acme.internal@evil.example/", "", "user information"},
		{"backslash userinfo", `http://evil.example\@web.acme.internal/`, "", "is not a URL"},
		{"percent-encoded host", "http://web.acme.internal%2eevil.example/", "", "is not a URL"},
		{"zone", "http://[fe80::1%25eth0]/", "", "IPv6 zone"},
		{"numeric host", "http://0x7f.1/", "", numeric},
		{"empty", "", "", `scheme ""`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := h.CheckURL(tc.url)
			if tc.reason == "" {
				require.NoError(t, err)
				return
			}
			target := tc.target
			if target == "" {
				target = tc.url
			}
			requireOutside(t, err, target, tc.reason)
			require.NotContains(t, err.Error(), "secret")
		})
	}
}

func TestCheckAddress(t *testing.T) {
	h := newHosts(t, acme...)
	for _, tc := range []struct {
		name    string
		address string
		reason  string
	}{
		{"name", "web.acme.internal:443", ""},
		{"IPv6", "[::1]:22", ""},
		{"IPv4", "10.0.0.5:5432", ""},
		{"foreign", "evil.example:80", nameNot},
		{"no port", "web.acme.internal", "is not host:port"},
		{"port zero", "web.acme.internal:0", "is not a number from 1 to 65535"},
		{"port name", "web.acme.internal:http", "is not a number from 1 to 65535"},
		{"port too big", "web.acme.internal:65536", "is not a number from 1 to 65535"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := h.CheckAddress(tc.address)
			if tc.reason == "" {
				require.NoError(t, err)
				return
			}
			requireOutside(t, err, tc.address, tc.reason)
		})
	}
}

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		name     string
		tenant   string
		patterns []string
		err      string
	}{
		{"upper case", "acme", []string{"web.acme.internal", "Web.acme.internal"}, `tenant acme: tenants[].executor.hosts[1] "Web.acme.internal" is not a lowercase host name`},
		{"bare wildcard", "acme", []string{"*"}, "hosts[0]"},
		{"bad CIDR", "acme", []string{"10.0.0.0/33"}, "is not a CIDR block"},
		{"numeric name", "acme", []string{"10.0.0"}, "write the address as four decimal numbers"},
		{"numeric wildcard", "acme", []string{"*.10"}, "four decimal numbers"},
		{"no tenant", "", []string{"web.acme.internal"}, "tenant is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.tenant, tc.patterns)
			require.ErrorContains(t, err, tc.err)
		})
	}
	h, err := New("acme", []string{"10.0.0.5/24"})
	require.NoError(t, err, "a CIDR with host bits set is the block it names")
	require.NoError(t, h.Check("10.0.0.200"))
	require.Equal(t, "acme", h.Tenant())
}

package probe

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const zone = `
web.acme.test.   IN A     10.0.0.10
web.acme.test.   IN A     10.0.0.9
web.acme.test.   IN AAAA  2001:db8::5
www.acme.test.   IN CNAME web.acme.test.
acme.test.       IN MX    20 mx2.acme.test.
acme.test.       IN MX    10 mx1.acme.test.
acme.test.       IN NS    ns2.acme.test.
acme.test.       IN NS    ns1.acme.test.
acme.test.       IN TXT   "v=spf1 -all"
acme.test.       IN TXT   "google-site-verification=" "abc"
`

func TestDNS(t *testing.T) {
	var big strings.Builder
	for range 30 {
		big.WriteString(`"` + strings.Repeat("y", 60) + `" `)
	}
	fake := startDNS(t, zone+"big.acme.test. IN TXT "+big.String())
	p := New(Options{DNSServer: fake.Addr()})

	for _, tc := range []struct {
		name, qname, qtype string
		ok                 bool
		output             string
	}{
		{"A sorted by address", "web.acme.test", "A", true, "10.0.0.9\n10.0.0.10"},
		{"A by default, any case", "WEB.acme.test.", "", true, "10.0.0.9\n10.0.0.10"},
		{"AAAA", "web.acme.test", "aaaa", true, "2001:db8::5"},
		{"A through a CNAME", "www.acme.test", "A", true, "10.0.0.9\n10.0.0.10"},
		{"CNAME", "www.acme.test", "CNAME", true, "web.acme.test."},
		{"no CNAME", "web.acme.test", "CNAME", false, "CNAME web.acme.test: no CNAME records"},
		{"MX by preference", "acme.test", "MX", true, "10 mx1.acme.test.\n20 mx2.acme.test."},
		{"NS", "acme.test", "NS", true, "ns1.acme.test.\nns2.acme.test."},
		{"TXT, strings of one record joined", "acme.test", "TXT", true, "google-site-verification=abc\nv=spf1 -all"},
		{"TXT over TCP when UDP truncates", "big.acme.test", "TXT", true, strings.Repeat("y", 1800)},
		{"NXDOMAIN", "gone.acme.test", "A", false, "A gone.acme.test: no such host (or no A records)"},
		{"no records of the type", "web.acme.test", "MX", false, "MX web.acme.test: no such host (or no MX records)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := p.DNS(t.Context(), tc.qname, tc.qtype, 5*time.Second)
			require.NoError(t, err)
			require.Equal(t, tc.ok, res.OK, res.Output)
			require.Equal(t, tc.output, res.Output)
			require.Equal(t, tc.qname, res.Target)
			if tc.ok {
				require.Zero(t, res.ExitCode)
				require.Greater(t, res.Value, 0.0)
			} else {
				require.Equal(t, 1, res.ExitCode)
			}
		})
	}
}

func TestDNSTimeout(t *testing.T) {
	p := New(Options{DNSServer: blackhole(t)})
	start := time.Now()
	res, err := p.DNS(t.Context(), "web.acme.test", "A", 200*time.Millisecond)
	require.NoError(t, err)
	require.Less(t, time.Since(start), 5*time.Second)
	require.False(t, res.OK)
	require.Contains(t, res.Output, "A web.acme.test: timed out after 200ms")
}

func TestDNSErrors(t *testing.T) {
	p := New(Options{DNSServer: blackhole(t)})
	_, err := p.DNS(t.Context(), "acme.test", "SRV", time.Second)
	require.ErrorContains(t, err, `type "SRV" is not A, AAAA, CNAME, MX, NS or TXT`)
	_, err = p.DNS(t.Context(), "", "A", time.Second)
	require.ErrorContains(t, err, "the name is empty")

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = p.DNS(ctx, "web.acme.test", "A", time.Second)
	require.True(t, errors.Is(err, context.Canceled), "got %v", err)
}

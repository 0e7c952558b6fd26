package dnsfake

import (
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/require"
)

const zone = `
web.acme.test.    60 IN A     10.0.0.5
web.acme.test.    60 IN A     10.0.0.6
web.acme.test.    60 IN AAAA  2001:db8::5
www.acme.test.    60 IN CNAME web.acme.test.
alias.acme.test.  60 IN CNAME www.acme.test.
dangling.acme.test. 60 IN CNAME gone.acme.test.
loop1.acme.test.  60 IN CNAME loop2.acme.test.
loop2.acme.test.  60 IN CNAME loop1.acme.test.
acme.test.        60 IN MX    10 mail.acme.test.
acme.test.        60 IN NS    ns1.acme.test.
acme.test.           IN TXT   "v=spf1 -all"
`

func start(t testing.TB, zone string) *Server {
	t.Helper()
	rrs, err := ParseRecords(zone)
	require.NoError(t, err)
	s, err := Start(rrs)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

func query(t testing.TB, s *Server, network, name string, qtype uint16) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: network, Timeout: 5 * time.Second}
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	r, _, err := c.Exchange(m, s.Addr())
	require.NoError(t, err)
	return r
}

// answers renders the answer section as "TYPE value" lines.
func answers(r *dns.Msg) []string {
	var out []string
	for _, rr := range r.Answer {
		h := rr.Header()
		out = append(out, dns.TypeToString[h.Rrtype]+" "+strings.TrimPrefix(rr.String(), h.String()))
	}
	return out
}

func TestAnswers(t *testing.T) {
	s := start(t, zone)
	for _, tc := range []struct {
		name    string
		qname   string
		qtype   uint16
		rcode   int
		answers []string
	}{
		{"A", "web.acme.test.", dns.TypeA, dns.RcodeSuccess, []string{"A 10.0.0.5", "A 10.0.0.6"}},
		{"AAAA", "web.acme.test.", dns.TypeAAAA, dns.RcodeSuccess, []string{"AAAA 2001:db8::5"}},
		{"any case", "WEB.Acme.TEST.", dns.TypeA, dns.RcodeSuccess, []string{"A 10.0.0.5", "A 10.0.0.6"}},
		{"CNAME asked", "www.acme.test.", dns.TypeCNAME, dns.RcodeSuccess, []string{"CNAME web.acme.test."}},
		{"CNAME followed", "www.acme.test.", dns.TypeA, dns.RcodeSuccess, []string{"CNAME web.acme.test.", "A 10.0.0.5", "A 10.0.0.6"}},
		{"CNAME chain", "alias.acme.test.", dns.TypeAAAA, dns.RcodeSuccess, []string{"CNAME www.acme.test.", "CNAME web.acme.test.", "AAAA 2001:db8::5"}},
		{"dangling CNAME is NXDOMAIN for its end", "dangling.acme.test.", dns.TypeA, dns.RcodeNameError, []string{"CNAME gone.acme.test."}},
		{"CNAME loop ends", "loop1.acme.test.", dns.TypeA, dns.RcodeSuccess, []string{
			"CNAME loop2.acme.test.", "CNAME loop1.acme.test.", "CNAME loop2.acme.test.", "CNAME loop1.acme.test.",
			"CNAME loop2.acme.test.", "CNAME loop1.acme.test.", "CNAME loop2.acme.test.", "CNAME loop1.acme.test.",
		}},
		{"MX", "acme.test.", dns.TypeMX, dns.RcodeSuccess, []string{"MX 10 mail.acme.test."}},
		{"NS", "acme.test.", dns.TypeNS, dns.RcodeSuccess, []string{"NS ns1.acme.test."}},
		{"TXT with the default TTL", "acme.test.", dns.TypeTXT, dns.RcodeSuccess, []string{`TXT "v=spf1 -all"`}},
		{"no data", "web.acme.test.", dns.TypeMX, dns.RcodeSuccess, nil},
		{"NXDOMAIN", "nope.acme.test.", dns.TypeA, dns.RcodeNameError, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, network := range []string{"udp", "tcp"} {
				r := query(t, s, network, tc.qname, tc.qtype)
				require.Equal(t, dns.RcodeToString[tc.rcode], dns.RcodeToString[r.Rcode], network)
				require.True(t, r.Authoritative, network)
				require.Equal(t, tc.answers, answers(r), network)
			}
		})
	}

	r := query(t, s, "udp", "acme.test.", dns.TypeTXT)
	require.Equal(t, uint32(60), r.Answer[0].Header().Ttl)
}

func TestTruncatesOverUDP(t *testing.T) {
	var long strings.Builder
	for i := range 40 {
		long.WriteString(`"` + strings.Repeat("x", 50) + `-` + string(rune('a'+i%26)) + `" `)
	}
	s := start(t, "big.acme.test. IN TXT "+long.String())

	r := query(t, s, "udp", "big.acme.test.", dns.TypeTXT)
	require.True(t, r.Truncated, "2 KB does not fit 512 bytes of UDP")

	r = query(t, s, "tcp", "big.acme.test.", dns.TypeTXT)
	require.False(t, r.Truncated)
	require.Len(t, r.Answer, 1)
	require.Len(t, r.Answer[0].(*dns.TXT).Txt, 40)
}

func TestSet(t *testing.T) {
	s := start(t, "web.acme.test. IN A 10.0.0.5")
	rrs, err := ParseRecords("web.acme.test. IN A 10.0.0.9")
	require.NoError(t, err)
	s.Set(rrs)
	require.Equal(t, []string{"A 10.0.0.9"}, answers(query(t, s, "udp", "web.acme.test.", dns.TypeA)))
}

func TestNotAQuery(t *testing.T) {
	s := start(t, zone)
	m := new(dns.Msg)
	m.SetNotify("acme.test.")
	r, _, err := (&dns.Client{Timeout: 5 * time.Second}).Exchange(m, s.Addr())
	require.NoError(t, err)
	require.Equal(t, dns.RcodeNotImplemented, r.Rcode)
}

func TestParseRecords(t *testing.T) {
	rrs, err := ParseRecords("web IN A 10.0.0.5")
	require.NoError(t, err)
	require.Equal(t, "web.", rrs[0].Header().Name, "names are absolute")

	_, err = ParseRecords("web.acme.test. IN A not-an-address")
	require.ErrorContains(t, err, "dnsfake: parse records")
}

func TestClose(t *testing.T) {
	rrs, err := ParseRecords(zone)
	require.NoError(t, err)
	s, err := Start(rrs)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "Close twice is fine")

	_, _, err = (&dns.Client{Net: "tcp", Timeout: time.Second}).Exchange(new(dns.Msg).SetQuestion("web.acme.test.", dns.TypeA), s.Addr())
	require.Error(t, err, "nothing listens after Close")
}

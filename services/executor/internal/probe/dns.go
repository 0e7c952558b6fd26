package probe

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/amsproject/ams/services/executor/internal/step"
)

// DNS looks name up for records of qtype: A (when empty), AAAA, CNAME, MX,
// NS or TXT. OK is whether there was at least one answer; Output lists the
// answers sorted, one a line (MX as "preference host", by preference);
// Value is the lookup time in milliseconds. A name that does not exist, or
// has no records of the type, is OK false with "no such host".
func (p *Prober) DNS(ctx context.Context, name, qtype string, timeout time.Duration) (step.Result, error) {
	qtype = strings.ToUpper(qtype)
	if qtype == "" {
		qtype = "A"
	}
	lookup, ok := lookups[qtype]
	if !ok {
		return step.Result{}, fmt.Errorf("dns probe %s: type %q is not A, AAAA, CNAME, MX, NS or TXT", name, qtype)
	}
	if name == "" {
		return step.Result{}, fmt.Errorf("dns probe: the name is empty")
	}
	probeCtx, cancel := withTimeout(ctx, timeout)
	defer cancel()

	start := time.Now()
	answers, err := lookup(probeCtx, p.resolver, absolute(name))
	took := time.Since(start)
	if err != nil {
		if err := stopped(ctx, "dns probe "+name); err != nil {
			return step.Result{}, err
		}
		// Go's resolver reports both NXDOMAIN and "no records of this
		// type" as not found; the output says both.
		return step.Result{
			ExitCode: 1,
			Target:   name,
			Output:   step.Cap(fmt.Sprintf("%s %s: %s", qtype, name, describeLookup(err, qtype, timeout)), p.maxOutput),
		}, nil
	}
	if len(answers) == 0 {
		return step.Result{
			ExitCode: 1,
			Value:    ms(took),
			Target:   name,
			Output:   fmt.Sprintf("%s %s: no %s records", qtype, name, qtype),
		}, nil
	}
	return step.Result{
		OK:     true,
		Value:  ms(took),
		Target: name,
		Output: step.Cap(strings.Join(answers, "\n"), p.maxOutput),
	}, nil
}

func describeLookup(err error, qtype string, timeout time.Duration) string {
	d := describe(err, timeout)
	if d == "no such host" {
		return fmt.Sprintf("no such host (or no %s records)", qtype)
	}
	return d
}

// A lookup returns the answers of one type, sorted.
type lookup func(ctx context.Context, r *net.Resolver, name string) ([]string, error)

var lookups = map[string]lookup{
	"A":     lookupAddrs("ip4"),
	"AAAA":  lookupAddrs("ip6"),
	"CNAME": lookupCNAME,
	"MX":    lookupMX,
	"NS":    lookupNS,
	"TXT":   lookupTXT,
}

// lookupAddrs asks for A ("ip4") or AAAA ("ip6") records only. Go returns
// IPv4 answers in IPv4-mapped form, and the hosts file may hold either
// family, so answers are filtered to the family asked for.
func lookupAddrs(network string) lookup {
	return func(ctx context.Context, r *net.Resolver, name string) ([]string, error) {
		addrs, err := r.LookupNetIP(ctx, network, name)
		if err != nil {
			return nil, err
		}
		var want []netip.Addr
		for _, a := range addrs {
			a = a.Unmap()
			if a.Is4() == (network == "ip4") {
				want = append(want, a)
			}
		}
		// By address, not as text: 10.0.0.9 comes before 10.0.0.10.
		slices.SortFunc(want, netip.Addr.Compare)
		want = slices.Compact(want)
		out := make([]string, len(want))
		for i, a := range want {
			out[i] = a.String()
		}
		return out, nil
	}
}

// lookupCNAME returns the canonical name. Go's LookupCNAME returns the
// name itself when it has address records but no CNAME; that is no answer.
func lookupCNAME(ctx context.Context, r *net.Resolver, name string) ([]string, error) {
	cname, err := r.LookupCNAME(ctx, name)
	if err != nil {
		return nil, err
	}
	if strings.EqualFold(strings.TrimSuffix(cname, "."), strings.TrimSuffix(name, ".")) {
		return nil, nil
	}
	return []string{cname}, nil
}

func lookupMX(ctx context.Context, r *net.Resolver, name string) ([]string, error) {
	mxs, err := r.LookupMX(ctx, name)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(mxs, func(a, b *net.MX) int {
		return cmp.Or(cmp.Compare(a.Pref, b.Pref), strings.Compare(a.Host, b.Host))
	})
	out := make([]string, len(mxs))
	for i, mx := range mxs {
		out[i] = strconv.Itoa(int(mx.Pref)) + " " + mx.Host
	}
	return out, nil
}

func lookupNS(ctx context.Context, r *net.Resolver, name string) ([]string, error) {
	nss, err := r.LookupNS(ctx, name)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(nss))
	for i, ns := range nss {
		out[i] = ns.Host
	}
	slices.Sort(out)
	return out, nil
}

// lookupTXT returns each TXT record as one line; Go joins the strings of
// one record. A record's own newlines are escaped so that one line stays
// one record.
func lookupTXT(ctx context.Context, r *net.Resolver, name string) ([]string, error) {
	txts, err := r.LookupTXT(ctx, name)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(txts))
	for i, t := range txts {
		out[i] = strings.NewReplacer("\\", `\\`, "\n", `\n`, "\r", `\r`).Replace(t)
	}
	slices.Sort(out)
	return out, nil
}

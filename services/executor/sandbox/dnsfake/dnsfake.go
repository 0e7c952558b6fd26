// Package dnsfake is a small authoritative DNS server on loopback, serving a
// table of records over UDP and TCP on one port. DNS steps are tested
// against it through the real resolver (net.Resolver speaking the wire
// protocol), and the sandbox runs it so that runbooks can look up and probe
// names that exist nowhere else. It is not a _test package for that reason.
//
// It answers like an authoritative server: NXDOMAIN for names it does not
// hold, an empty NOERROR answer for a held name without records of the
// asked type, CNAME chains followed inside the table, and truncated UDP
// answers (so clients retry over TCP) when a reply does not fit.
package dnsfake

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/miekg/dns"
)

// Server is a running fake DNS server. Its methods are safe for concurrent
// use.
type Server struct {
	addr string
	udp  *dns.Server
	tcp  *dns.Server
	// served receives the result of each of the two serve loops.
	served chan error

	mu      sync.RWMutex
	records map[string][]dns.RR // by lowercase fully qualified owner name

	closeOnce sync.Once
	closeErr  error
}

// maxChain bounds how many CNAMEs an answer follows, so that a loop in the
// table ends.
const maxChain = 8

// Start serves records on a free port of 127.0.0.1 (UDP and TCP, same
// port) until Close. Records are copied; Set replaces them later.
func Start(records []dns.RR) (*Server, error) { return StartAt("", records) }

// StartAt is Start on a given host:port, such as the sandbox's fixed
// 127.0.0.1:8053; empty picks a free port on 127.0.0.1.
func StartAt(addr string, records []dns.RR) (*Server, error) {
	s := &Server{served: make(chan error, 2)}
	s.Set(records)

	pc, ln, err := listen(addr)
	if err != nil {
		return nil, err
	}
	s.addr = pc.LocalAddr().String()
	handler := dns.HandlerFunc(s.serveDNS)
	started := make(chan struct{}, 2)
	notify := func() { started <- struct{}{} }
	s.udp = &dns.Server{PacketConn: pc, Handler: handler, NotifyStartedFunc: notify}
	s.tcp = &dns.Server{Listener: ln, Handler: handler, NotifyStartedFunc: notify}
	for _, srv := range []*dns.Server{s.udp, s.tcp} {
		go func() { s.served <- srv.ActivateAndServe() }()
	}
	// Wait until both loops run: Shutdown refuses a server that has not
	// started yet, and a test may query at once.
	for range 2 {
		select {
		case <-started:
		case err := <-s.served:
			// Closing the sockets ends the other loop whether or not it
			// has started; Shutdown would refuse one that has not.
			_ = pc.Close()
			_ = ln.Close()
			<-s.served //nolint:errcheck // the other loop's end, caused by the close above
			return nil, fmt.Errorf("dnsfake: serve: %w", err)
		}
	}
	return s, nil
}

// listen opens UDP and TCP on the same port of addr. With no addr the port
// is picked for UDP on 127.0.0.1; if TCP cannot have it (something else took
// it meanwhile), it tries again with another.
func listen(addr string) (net.PacketConn, net.Listener, error) {
	// Binding a local socket does not block, so there is nothing for a
	// caller's context to cancel; Start takes none.
	ctx := context.Background()
	var lc net.ListenConfig
	if addr != "" {
		pc, err := lc.ListenPacket(ctx, "udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("dnsfake: listen udp: %w", err)
		}
		ln, err := lc.Listen(ctx, "tcp", addr)
		if err != nil {
			_ = pc.Close()
			return nil, nil, fmt.Errorf("dnsfake: listen tcp: %w", err)
		}
		return pc, ln, nil
	}
	var lastErr error
	for range 10 {
		pc, err := lc.ListenPacket(ctx, "udp", "127.0.0.1:0")
		if err != nil {
			return nil, nil, fmt.Errorf("dnsfake: listen udp: %w", err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		ln, err := lc.Listen(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err == nil {
			return pc, ln, nil
		}
		lastErr = err
		_ = pc.Close()
	}
	return nil, nil, fmt.Errorf("dnsfake: listen tcp on the udp port: %w", lastErr)
}

// ParseRecords reads records in zone-file syntax, one per line, such as
// "web.acme.test. 60 IN A 10.0.0.5". Names without a trailing dot are
// taken as absolute; a record without a TTL gets 60 seconds.
func ParseRecords(zone string) ([]dns.RR, error) {
	zp := dns.NewZoneParser(strings.NewReader(zone), ".", "")
	zp.SetDefaultTTL(60)
	var rrs []dns.RR
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		rrs = append(rrs, rr)
	}
	if err := zp.Err(); err != nil {
		return nil, fmt.Errorf("dnsfake: parse records: %w", err)
	}
	return rrs, nil
}

// Addr is the host:port the server answers on, over both UDP and TCP.
func (s *Server) Addr() string { return s.addr }

// Set replaces the records served, for tests of something that changes
// (a verify step waiting for a record to appear).
func (s *Server) Set(records []dns.RR) {
	table := make(map[string][]dns.RR, len(records))
	for _, rr := range records {
		name := dns.CanonicalName(rr.Header().Name)
		table[name] = append(table[name], dns.Copy(rr))
	}
	s.mu.Lock()
	s.records = table
	s.mu.Unlock()
}

// Close stops both listeners and waits for their loops to end.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		for _, srv := range []*dns.Server{s.udp, s.tcp} {
			// A loop that failed to start has nothing to shut down; its
			// error is collected below.
			_ = srv.Shutdown()
		}
		for range 2 {
			if err := <-s.served; err != nil {
				errs = append(errs, err)
			}
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

func (s *Server) serveDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	switch {
	case req.Opcode != dns.OpcodeQuery:
		m.Rcode = dns.RcodeNotImplemented
	case len(req.Question) != 1:
		m.Rcode = dns.RcodeFormatError
	default:
		answer, exists := s.answer(req.Question[0])
		m.Answer = answer
		if !exists {
			m.Rcode = dns.RcodeNameError
		}
	}
	if _, isUDP := w.RemoteAddr().(*net.UDPAddr); isUDP {
		size := dns.MinMsgSize
		if opt := req.IsEdns0(); opt != nil {
			size = int(opt.UDPSize())
			m.SetEdns0(opt.UDPSize(), false)
		}
		// Sets the TC bit when the answer does not fit, and the client
		// asks again over TCP, as with a real server.
		m.Truncate(size)
	}
	_ = w.WriteMsg(m) // the client gave up or went away; nothing to do
}

// answer returns the records answering q and whether the final name of the
// answer exists (RFC 6604: after a CNAME chain the response code is about
// the name the chain ends at).
// The answer shares the table's records: nothing modifies them after Set.
func (s *Server) answer(q dns.Question) ([]dns.RR, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var answer []dns.RR
	name := dns.CanonicalName(q.Name)
	for range maxChain {
		rrs, ok := s.records[name]
		if !ok {
			return answer, false
		}
		var cname *dns.CNAME
		matched := false
		for _, rr := range rrs {
			switch {
			case q.Qtype == dns.TypeANY || rr.Header().Rrtype == q.Qtype:
				answer = append(answer, rr)
				matched = true
			case rr.Header().Rrtype == dns.TypeCNAME:
				cname = rr.(*dns.CNAME)
			}
		}
		if matched || cname == nil {
			return answer, true
		}
		answer = append(answer, cname)
		name = dns.CanonicalName(cname.Target)
	}
	return answer, true
}

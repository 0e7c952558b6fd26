package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/require"

	"github.com/amsproject/ams/services/executor/sandbox/dnsfake"
)

func serve(t testing.TB, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func TestHTTPStatus(t *testing.T) {
	var userAgent, method atomic.Value
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		userAgent.Store(r.UserAgent())
		method.Store(r.Method)
		w.Header().Set("Server", "testsrv/1.0")
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Secret", "not shown")
		switch r.URL.Path {
		case "/health":
			fmt.Fprint(w, "healthy")
		case "/down":
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, "maintenance until 10:00")
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		}
	})
	p := New(Options{})

	for _, tc := range []struct {
		name     string
		path     string
		method   string
		expect   int
		ok       bool
		status   int
		contains []string
		absent   []string
	}{
		{"200 expected by default", "/health", "", 0, true, 200,
			[]string{"HTTP/1.1 200 OK\n", "Content-Type: text/plain; charset=utf-8\n", "Server: testsrv/1.0\n", "\n\nhealthy"},
			[]string{"X-Secret", "expected"}},
		{"503 is not OK", "/down", "GET", 0, false, 503,
			[]string{"HTTP/1.1 503 Service Unavailable (expected 200)\n", "maintenance until 10:00"}, nil},
		{"503 when 503 is expected", "/down", "get", 503, true, 503,
			[]string{"HTTP/1.1 503 Service Unavailable\n"}, []string{"expected"}},
		{"HEAD has no body", "/down", "HEAD", 503, true, 503,
			[]string{"HTTP/1.1 503 Service Unavailable\n", "Server: testsrv/1.0"}, []string{"maintenance"}},
		{"no body", "/empty", "GET", 204, true, 204,
			[]string{"HTTP/1.1 204 No Content\n"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := p.HTTP(t.Context(), srv.URL+tc.path, tc.method, tc.expect, 5*time.Second)
			require.NoError(t, err)
			require.Equal(t, tc.ok, res.OK)
			require.Equal(t, tc.status, res.ExitCode)
			require.Equal(t, srv.URL+tc.path, res.Target)
			require.Greater(t, res.Value, 0.0, "round trip in ms")
			for _, s := range tc.contains {
				require.Contains(t, res.Output, s)
			}
			for _, s := range tc.absent {
				require.NotContains(t, res.Output, s)
			}
			require.Equal(t, "AMS-executor-probe", userAgent.Load())
			want := strings.ToUpper(tc.method)
			if want == "" {
				want = "GET"
			}
			require.Equal(t, want, method.Load())
		})
	}
}

func TestHTTPRedirectNotFollowed(t *testing.T) {
	var followed atomic.Int32
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/old":
			http.Redirect(w, r, "/new", http.StatusFound)
		case "/away":
			http.Redirect(w, r, "http://elsewhere.example/", http.StatusMovedPermanently)
		default:
			followed.Add(1)
		}
	})
	tlsSrv := httptest.NewTLSServer(http.RedirectHandler("/new", http.StatusSeeOther))
	t.Cleanup(tlsSrv.Close)

	p := New(Options{})
	res, err := p.HTTP(t.Context(), srv.URL+"/old", "", 0, 5*time.Second)
	require.NoError(t, err)
	require.False(t, res.OK, "a redirect is not the expected 200")
	require.Equal(t, http.StatusFound, res.ExitCode)
	require.Contains(t, res.Output, "HTTP/1.1 302 Found (expected 200)\n")
	require.Contains(t, res.Output, "Location: /new\n")
	require.Contains(t, res.Output, "redirect not followed")

	res, err = p.HTTP(t.Context(), srv.URL+"/away", "", 301, 5*time.Second)
	require.NoError(t, err)
	require.True(t, res.OK, "a redirect is OK when its status is the expected one")
	require.Contains(t, res.Output, "Location: http://elsewhere.example/\n")

	// A client given in Options gets the same policy.
	withClient := New(Options{HTTPClient: tlsSrv.Client()})
	res, err = withClient.HTTP(t.Context(), tlsSrv.URL+"/x", "", 303, 5*time.Second)
	require.NoError(t, err)
	require.True(t, res.OK)
	require.Contains(t, res.Output, "Location: /new\n")

	require.Zero(t, followed.Load(), "no redirect was followed")
	require.Nil(t, tlsSrv.Client().CheckRedirect, "the given client is not modified")
}

func TestHTTPTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "secure")
	}))
	t.Cleanup(srv.Close)

	res, err := New(Options{HTTPClient: srv.Client()}).HTTP(t.Context(), srv.URL, "", 0, 5*time.Second)
	require.NoError(t, err)
	require.True(t, res.OK)
	require.Contains(t, res.Output, "secure")

	// The default client verifies certificates; an untrusted one is a
	// failed probe, not an executor error.
	res, err = New(Options{}).HTTP(t.Context(), srv.URL, "", 0, 5*time.Second)
	require.NoError(t, err)
	require.False(t, res.OK)
	require.Zero(t, res.ExitCode)
	require.Contains(t, res.Output, "certificate")
}

func TestHTTPTimeout(t *testing.T) {
	t.Run("no response", func(t *testing.T) {
		srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done() // the probe gives up and disconnects
		})
		start := time.Now()
		res, err := New(Options{}).HTTP(t.Context(), srv.URL, "", 0, 200*time.Millisecond)
		require.NoError(t, err, "a timeout is a result")
		require.Less(t, time.Since(start), 5*time.Second)
		require.False(t, res.OK)
		require.Zero(t, res.ExitCode, "no status was received")
		require.Zero(t, res.Value)
		require.Equal(t, "GET "+srv.URL+": timed out after 200ms", res.Output)
	})
	t.Run("slow body", func(t *testing.T) {
		srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, "first part")
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		})
		res, err := New(Options{}).HTTP(t.Context(), srv.URL, "", 0, 300*time.Millisecond)
		require.NoError(t, err)
		require.True(t, res.OK, "the status came in time")
		require.Equal(t, 200, res.ExitCode)
		require.Contains(t, res.Output, "\n\nfirst part\n… (reading the body stopped: timed out after 300ms)")
	})
}

func TestHTTPConnectionRefused(t *testing.T) {
	res, err := New(Options{}).HTTP(t.Context(), "http://"+closedPort(t)+"/health", "", 0, 5*time.Second)
	require.NoError(t, err)
	require.False(t, res.OK)
	require.Zero(t, res.ExitCode)
	require.Contains(t, res.Output, ": connection refused")
}

func TestHTTPHugeBody(t *testing.T) {
	const total = 256 << 20
	written := make(chan int64, 1)
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		chunk := []byte(strings.Repeat("あいう", 32<<10/9)) // valid UTF-8, 3-byte runes
		var n int64
		for n < total {
			m, err := w.Write(chunk)
			n += int64(m)
			if err != nil {
				break
			}
		}
		written <- n
	})

	res, err := New(Options{}).HTTP(t.Context(), srv.URL, "", 0, 10*time.Second)
	require.NoError(t, err)
	require.True(t, res.OK)
	require.Contains(t, res.Output, "… (body cut after 2046 bytes)", "2 KiB, cut back to a whole character")
	require.Less(t, len(res.Output), 2200)
	require.NotContains(t, res.Output, "\uFFFD")

	select {
	case n := <-written:
		require.Less(t, n, int64(total), "the probe stopped reading; the server could not send it all")
	case <-time.After(20 * time.Second):
		t.Fatal("the server was still sending 20s after the probe returned")
	}

	small, err := New(Options{MaxOutput: 100}).HTTP(t.Context(), srv.URL, "", 0, 10*time.Second)
	require.NoError(t, err)
	require.LessOrEqual(t, len(small.Output), 110, "MaxOutput caps the whole output")
	require.Contains(t, small.Output, "bytes cut)")
	<-written
}

func TestHTTPThroughDNSServer(t *testing.T) {
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, r.Host) })
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	require.NoError(t, err)
	fake := startDNS(t, "web.acme.test. IN A 127.0.0.1")

	res, err := New(Options{DNSServer: fake.Addr()}).HTTP(t.Context(), "http://web.acme.test:"+port+"/", "", 0, 5*time.Second)
	require.NoError(t, err)
	require.True(t, res.OK, res.Output)
	require.Contains(t, res.Output, "\n\nweb.acme.test:"+port, "the Host header is the name as written")

	res, err = New(Options{DNSServer: fake.Addr()}).HTTP(t.Context(), "http://gone.acme.test:"+port+"/", "", 0, 5*time.Second)
	require.NoError(t, err)
	require.False(t, res.OK)
	require.Contains(t, res.Output, "no such host")
}

func TestHTTPErrors(t *testing.T) {
	p := New(Options{})
	for _, tc := range []struct {
		name, url, method string
		expect            int
		err               string
	}{
		{"method", "http://127.0.0.1/", "POST", 0, `method "POST" is not GET or HEAD`},
		{"status", "http://127.0.0.1/", "", 42, "expected status 42 is not an HTTP status"},
		{"scheme", "ftp://127.0.0.1/", "", 0, "is not an absolute http:// or https:// URL"},
		{"relative", "/health", "", 0, "is not an absolute http:// or https:// URL"},
		{"unparsable", "http://[::1", "", 0, "is not an absolute http:// or https:// URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := p.HTTP(t.Context(), tc.url, tc.method, tc.expect, time.Second)
			require.ErrorContains(t, err, tc.err)
		})
	}

	t.Run("the caller's context ended", func(t *testing.T) {
		srv := serve(t, func(w http.ResponseWriter, r *http.Request) {})
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := p.HTTP(ctx, srv.URL, "", 0, time.Second)
		require.True(t, errors.Is(err, context.Canceled), "got %v", err)
	})
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

func startDNS(t testing.TB, zone string) *dnsfake.Server {
	t.Helper()
	rrs, err := dnsfake.ParseRecords(zone)
	require.NoError(t, err)
	s, err := dnsfake.Start(rrs)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

// blackhole returns a DNS server address that reads queries and never
// answers, for timeouts.
func blackhole(t testing.TB) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = pc.Close() })
	go func() {
		buf := make([]byte, dns.MaxMsgSize)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	return pc.LocalAddr().String()
}

func TestAbsolute(t *testing.T) {
	for in, want := range map[string]string{
		"web.acme.internal":  "web.acme.internal.",
		"web.acme.internal.": "web.acme.internal.",
		"localhost":          "localhost",
		"10.0.0.5":           "10.0.0.5",
		"::1":                "::1",
	} {
		require.Equal(t, want, absolute(in), in)
	}
}

package probe

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	accepted := make(chan struct{}, 1)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
			accepted <- struct{}{}
		}
	}()
	_, port, err := net.SplitHostPort(ln.Addr().String())
	require.NoError(t, err)
	fake := startDNS(t, "db.acme.test. IN A 127.0.0.1")
	p := New(Options{DNSServer: fake.Addr()})

	t.Run("open", func(t *testing.T) {
		res, err := p.TCP(t.Context(), ln.Addr().String(), 5*time.Second)
		require.NoError(t, err)
		require.True(t, res.OK)
		require.Zero(t, res.ExitCode)
		require.Equal(t, ln.Addr().String(), res.Target)
		require.Greater(t, res.Value, 0.0)
		require.Contains(t, res.Output, "connected to "+ln.Addr().String())
		<-accepted
	})
	t.Run("name through the DNS server", func(t *testing.T) {
		res, err := p.TCP(t.Context(), "db.acme.test:"+port, 5*time.Second)
		require.NoError(t, err)
		require.True(t, res.OK, res.Output)
		require.Contains(t, res.Output, "connected to db.acme.test:"+port+" (127.0.0.1:"+port+")")
		<-accepted
	})
	t.Run("closed port", func(t *testing.T) {
		addr := closedPort(t)
		res, err := p.TCP(t.Context(), addr, 5*time.Second)
		require.NoError(t, err, "a refused connection is a result")
		require.False(t, res.OK)
		require.Equal(t, 1, res.ExitCode)
		require.Zero(t, res.Value)
		require.Equal(t, "connect "+addr+": connection refused", res.Output)
	})
	t.Run("unknown name", func(t *testing.T) {
		res, err := p.TCP(t.Context(), "gone.acme.test:"+port, 5*time.Second)
		require.NoError(t, err)
		require.False(t, res.OK)
		require.Equal(t, "connect gone.acme.test:"+port+": no such host", res.Output)
	})
	t.Run("timeout", func(t *testing.T) {
		// The name never resolves: the DNS server never answers.
		slow := New(Options{DNSServer: blackhole(t)})
		start := time.Now()
		res, err := slow.TCP(t.Context(), "db.acme.test:"+port, 200*time.Millisecond)
		require.NoError(t, err)
		require.Less(t, time.Since(start), 5*time.Second)
		require.False(t, res.OK)
		require.Contains(t, res.Output, "timed out after 200ms")
	})
	t.Run("not host:port", func(t *testing.T) {
		_, err := p.TCP(t.Context(), "db.acme.test", time.Second)
		require.ErrorContains(t, err, `"db.acme.test" is not host:port`)
	})
	t.Run("the caller's context ended", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := p.TCP(ctx, ln.Addr().String(), time.Second)
		require.True(t, errors.Is(err, context.Canceled), "got %v", err)
	})
}

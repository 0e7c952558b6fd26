// Package natstest starts a real JetStream server for tests: in-process,
// file store in a temporary directory, on a free loopback port so separate
// "processes" in a test can each dial it.
package natstest

import (
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/amsproject/ams/pkg/natsembed"
)

// RunServer starts a JetStream server with a fresh store, shut down at cleanup.
func RunServer(tb testing.TB) *server.Server {
	tb.Helper()
	return RunServerAt(tb, tb.TempDir())
}

// RunServerAt starts a JetStream server on storeDir, so a test can stop it
// and start another on the same data to prove nothing stored is lost.
func RunServerAt(tb testing.TB, storeDir string) *server.Server {
	tb.Helper()
	srv, err := natsembed.Start(natsembed.Options{StoreDir: storeDir, Listen: "127.0.0.1:-1", Name: "natstest"})
	if err != nil {
		tb.Fatalf("start jetstream: %v", err)
	}
	tb.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	return srv
}

// Connect dials srv over TCP and returns the connection and a JetStream
// context, both closed at cleanup.
func Connect(tb testing.TB, srv *server.Server) (*nats.Conn, jetstream.JetStream) {
	tb.Helper()
	nc, err := nats.Connect(srv.ClientURL(), nats.Name(tb.Name()))
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatalf("jetstream: %v", err)
	}
	return nc, js
}

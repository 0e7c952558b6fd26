// Package natsembed runs a NATS JetStream server inside the process: the
// all-in-one's bus, and the real server every test runs against (via natstest).
package natsembed

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Options says how to run the embedded server.
type Options struct {
	// StoreDir is the JetStream file store.
	StoreDir string
	// Listen is host:port for outside clients; empty means in-process only.
	// Port -1 picks a free port.
	Listen string
	// SyncAlways fsyncs every write; otherwise SyncInterval applies.
	SyncAlways   bool
	SyncInterval time.Duration
	// Name of the server, shown in logs and monitoring.
	Name string
	// Logger receives the server's log; nil discards it.
	Logger *slog.Logger
}

// Start starts the server and waits until it accepts connections.
func Start(o Options) (*server.Server, error) {
	if o.StoreDir == "" {
		return nil, errors.New("embedded nats: empty store directory")
	}
	opts := &server.Options{
		ServerName:   o.Name,
		JetStream:    true,
		StoreDir:     o.StoreDir,
		NoSigs:       true,
		SyncAlways:   o.SyncAlways,
		SyncInterval: o.SyncInterval,
		MaxPayload:   8 << 20,
	}
	if opts.ServerName == "" {
		opts.ServerName = "ams-embedded"
	}
	if o.Listen == "" {
		opts.DontListen = true
	} else {
		host, port, err := net.SplitHostPort(o.Listen)
		if err != nil {
			return nil, fmt.Errorf("embedded nats listen %q: %w", o.Listen, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return nil, fmt.Errorf("embedded nats listen %q: port: %w", o.Listen, err)
		}
		opts.Host, opts.Port = host, p
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	if o.Logger != nil {
		srv.SetLoggerV2(slogAdapter{o.Logger}, false, false, false)
	}
	srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		return nil, errors.New("embedded nats: not ready after 30s")
	}
	return srv, nil
}

// Connect opens a client connection to srv: in-process when the server does
// not listen, over TCP otherwise.
func Connect(srv *server.Server, name string, opts ...nats.Option) (*nats.Conn, error) {
	opts = append([]nats.Option{nats.Name(name), nats.InProcessServer(srv), nats.MaxReconnects(-1)}, opts...)
	nc, err := nats.Connect("", opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to embedded nats: %w", err)
	}
	return nc, nil
}

// slogAdapter routes the server's printf-style log to slog.
type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Noticef(format string, v ...any) { a.l.Info(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Warnf(format string, v ...any)   { a.l.Warn(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Fatalf(format string, v ...any)  { a.l.Error(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Errorf(format string, v ...any)  { a.l.Error(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Debugf(format string, v ...any)  { a.l.Debug(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Tracef(format string, v ...any)  { a.l.Debug(fmt.Sprintf(format, v...)) }

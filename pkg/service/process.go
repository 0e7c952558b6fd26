package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/propagation"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"

	"github.com/amsproject/ams/pkg/bus"
	"github.com/amsproject/ams/pkg/config"
	"github.com/amsproject/ams/pkg/natsembed"
	"github.com/amsproject/ams/pkg/telemetry"
)

// Component is one service's part in a process.
type Component struct {
	Name     string
	Runnable Runnable
	// Routes adds the component's HTTP handlers, if it has any.
	Routes func(*http.ServeMux)
	// GRPC registers the component's gRPC services, if it has any.
	GRPC func(*grpc.Server)
}

// Process runs a set of components with everything around them: the bus
// connection (or embedded JetStream server), telemetry, the HTTP listener with
// health and metrics, the gRPC listener, and orderly shutdown.
type Process struct {
	// Name is service.name in telemetry and the NATS connection name.
	Name   string
	Config *config.File
	Log    *slog.Logger
	// Build creates the components once the bus is connected.
	Build func(deps Deps) ([]Component, error)
	// OnListening, if set, is told the bound addresses (tests listen on port
	// 0); grpcAddr is nil when no component serves gRPC.
	OnListening func(httpAddr, grpcAddr net.Addr)
}

// Run starts everything and blocks until ctx ends, then shuts down in order:
// readiness goes 503, listeners stop taking requests and consumers drain
// in-flight work, the NATS connection drains, the embedded server stops
// (flushing its store), and traces are flushed. It returns nil on a clean shutdown.
func (p *Process) Run(ctx context.Context) (err error) {
	cfg, log := p.Config, p.Log
	tracing, err := telemetry.NewTracing(ctx, p.Name, cfg.Telemetry.OTLPEndpoint, cfg.Telemetry.OTLPInsecure)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		err = errors.Join(err, tracing.Shutdown(sctx))
	}()

	nc, srv, err := connect(cfg, p.Name, log)
	if err != nil {
		return err
	}
	defer func() {
		drain(nc)
		if srv != nil {
			srv.Shutdown()
			srv.WaitForShutdown()
		}
	}()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	if err := bus.EnsureDeadLetter(ctx, js, cfg.NATS.Replicas); err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	deps := Deps{
		JS: js, Log: log, Registerer: reg, Tracing: tracing.Provider,
		BusMetrics: bus.NewMetrics(reg), Now: time.Now, Replicas: cfg.NATS.Replicas,
		HTTPClient: DefaultHTTPClient(),
	}
	comps, err := p.Build(deps)
	if err != nil {
		return err
	}

	health := NewHealth()
	health.AddCheck("nats", func() error {
		if !nc.IsConnected() {
			return fmt.Errorf("nats %s", nc.Status())
		}
		return nil
	})
	mux := http.NewServeMux()
	health.Register(mux, reg)
	var gs *grpc.Server
	for _, c := range comps {
		health.AddCheck(c.Name, c.Runnable.Ready)
		if c.Routes != nil {
			c.Routes(mux)
		}
		if c.GRPC != nil {
			if gs == nil {
				// A span per admin call, continuing the caller's trace when
				// it sends one, so what an admin call publishes (an approval
				// decision) joins it.
				gs = grpc.NewServer(grpc.StatsHandler(otelgrpc.NewServerHandler(
					otelgrpc.WithTracerProvider(tracing.Provider),
					otelgrpc.WithPropagators(propagation.TraceContext{}),
				)))
			}
			c.GRPC(gs)
		}
	}

	var lc net.ListenConfig
	httpLn, err := lc.Listen(ctx, "tcp", cfg.Server.HTTPListenAddress)
	if err != nil {
		return fmt.Errorf("listen http on %s: %w (is another ams running? change server.http_listen_address)", cfg.Server.HTTPListenAddress, err)
	}
	var grpcLn net.Listener
	var grpcAddr net.Addr
	if gs != nil {
		grpcLn, err = lc.Listen(ctx, "tcp", cfg.Server.GRPCListenAddress)
		if err != nil {
			httpLn.Close()
			return fmt.Errorf("listen grpc on %s: %w (is another ams running? change server.grpc_listen_address)", cfg.Server.GRPCListenAddress, err)
		}
		grpcAddr = grpcLn.Addr()
		log.Info("listening", "grpc", grpcAddr.String())
	}
	log.Info("listening", "http", httpLn.Addr().String())
	if p.OnListening != nil {
		p.OnListening(httpLn.Addr(), grpcAddr)
	}

	g, gctx := errgroup.WithContext(ctx)
	go func() {
		<-gctx.Done()
		health.SetStopping()
	}()
	timeout := cfg.Server.ShutdownTimeout
	g.Go(func() error { return ServeHTTP(gctx, httpLn, mux, timeout, log) })
	if gs != nil {
		g.Go(func() error { return ServeGRPC(gctx, grpcLn, gs, timeout) })
	}
	for _, c := range comps {
		g.Go(func() error {
			if err := c.Runnable.Run(gctx); err != nil {
				return fmt.Errorf("%s: %w", c.Name, err)
			}
			return nil
		})
	}
	err = g.Wait()
	log.Info("stopped", "err", err)
	return err
}

// connect returns a connection to the configured bus, starting the embedded
// server first when the configuration asks for it.
func connect(cfg *config.File, name string, log *slog.Logger) (*nats.Conn, *server.Server, error) {
	if !cfg.NATS.Embedded.Enabled {
		opts := []nats.Option{nats.Name(name), nats.MaxReconnects(-1)}
		if cfg.NATS.CredentialsFile != "" {
			opts = append(opts, nats.UserCredentials(cfg.NATS.CredentialsFile))
		}
		nc, err := nats.Connect(cfg.NATS.URL, opts...)
		if err != nil {
			return nil, nil, fmt.Errorf("connect to nats %s: %w", cfg.NATS.URL, err)
		}
		return nc, nil, nil
	}
	e := cfg.NATS.Embedded
	dir, err := filepath.Abs(e.DataDir)
	if err != nil {
		return nil, nil, fmt.Errorf("nats.embedded.data_dir %q: %w", e.DataDir, err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, nil, fmt.Errorf("nats.embedded.data_dir: %w", err)
	}
	opts := natsembed.Options{StoreDir: dir, Listen: e.Listen, Logger: log.With("component", "nats"), Name: name}
	if e.SyncInterval == "always" {
		opts.SyncAlways = true
	} else {
		opts.SyncInterval, _ = time.ParseDuration(e.SyncInterval) // validated at load
	}
	srv, err := natsembed.Start(opts)
	if err != nil {
		return nil, nil, err
	}
	nc, err := natsembed.Connect(srv, name)
	if err != nil {
		srv.Shutdown()
		return nil, nil, err
	}
	log.Info("embedded jetstream started", "store", dir, "listen", e.Listen)
	return nc, srv, nil
}

// drain flushes pending publishes and acks, then closes the connection; if
// draining cannot start or takes too long, it closes at once.
func drain(nc *nats.Conn) {
	closed := make(chan struct{})
	nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
	if err := nc.Drain(); err != nil {
		nc.Close()
		return
	}
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		nc.Close()
	}
}

package service

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"syscall"

	"github.com/amsproject/ams/pkg/config"
	"github.com/amsproject/ams/pkg/telemetry"
)

// MainOptions describe a single-service binary.
type MainOptions struct {
	// Name of the service and binary.
	Name string
	// Validate checks the service's own part of the configuration; may be nil.
	Validate func(*config.File) error
	// Build creates the service's component.
	Build func(cfg *config.File, deps Deps) (Component, error)
}

// Main is the whole main of a single-service binary (the per-service images
// of the distributed mode): flags, configuration, signals, Run. It returns
// the exit code: 0 clean, 1 runtime or configuration error, 2 usage.
func Main(ctx context.Context, o MainOptions, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(o.Name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	configFile := fs.String("config.file", "ams.yaml", "path to the YAML configuration file")
	verify := fs.Bool("verify-config", false, "check the configuration and exit without starting")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := config.Load(*configFile)
	if err == nil && cfg.NATS.Embedded.Enabled {
		err = fmt.Errorf("%s: nats.url: missing: a single-service binary joins a NATS cluster; the embedded server is for the all-in-one ams", *configFile)
	}
	if err == nil && o.Validate != nil {
		if err = o.Validate(cfg); err != nil {
			err = fmt.Errorf("%s: %w", *configFile, err)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: invalid configuration:\n%v\n", o.Name, err)
		return 1
	}
	if *verify {
		fmt.Fprintf(stdout, "%s: configuration is valid (%d tenants)\n", *configFile, len(cfg.Tenants))
		return 0
	}
	log, err := telemetry.NewLogger(stderr, cfg.Telemetry.LogLevel, cfg.Telemetry.LogFormat)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", o.Name, err)
		return 1
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	p := &Process{
		Name: o.Name, Config: cfg, Log: log.With("service", o.Name),
		Build: func(deps Deps) ([]Component, error) {
			c, err := o.Build(cfg, deps)
			if err != nil {
				return nil, err
			}
			return []Component{c}, nil
		},
	}
	if err := p.Run(ctx); err != nil {
		log.Error("stopped with an error", "err", err)
		return 1
	}
	return 0
}

// Build adapts a service's typed New into a component builder, for Main and
// the all-in-one alike. It never turns a nil service into a non-nil Runnable.
func Build[T Runnable](name string, newService func(*config.File, Deps) (T, error)) func(*config.File, Deps) (Component, error) {
	return func(cfg *config.File, deps Deps) (Component, error) {
		s, err := newService(cfg, deps)
		if err != nil {
			return Component{}, err
		}
		return Component{Name: name, Runnable: s}, nil
	}
}

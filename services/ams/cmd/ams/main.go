// Command ams runs AMS: every service in one process by default
// (-target=all), or any comma list of them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/amsproject/ams/pkg/config"
	"github.com/amsproject/ams/pkg/telemetry"
	"github.com/amsproject/ams/services/ams/app"
)

func main() { os.Exit(run()) }

func run() int {
	fs := flag.NewFlagSet("ams", flag.ContinueOnError)
	configFile := fs.String("config.file", "ams.yaml", "path to the YAML configuration file")
	target := fs.String("target", "all", "services to run: all, or a comma list of ingest, classifier, executor, ticketing, escalation")
	verify := fs.Bool("verify-config", false, "check the configuration and exit without starting")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return 2
	}
	targets, err := app.ParseTargets(*target)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ams:", err)
		return 2
	}
	cfg, err := config.Load(*configFile)
	if err == nil {
		err = app.ValidateConfig(cfg)
		if err != nil {
			err = fmt.Errorf("%s: %w", *configFile, err)
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "ams: invalid configuration:\n%v\n", err)
		return 1
	}
	if *verify {
		fmt.Printf("%s: configuration is valid (%d tenants)\n", *configFile, len(cfg.Tenants))
		return 0
	}
	log, err := telemetry.NewLogger(os.Stderr, cfg.Telemetry.LogLevel, cfg.Telemetry.LogFormat)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ams:", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log.Info("starting", "targets", targets, "config", *configFile)
	if err := app.New(cfg, targets, log).Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		log.Error("ams stopped with an error", "err", err)
		return 1
	}
	return 0
}

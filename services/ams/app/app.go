// Package app is the all-in-one: it runs any set of AMS services in one
// process (-target=all by default), with the embedded JetStream server when
// the configuration asks for it, and always serves the admin gRPC API.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc"

	"github.com/amsproject/ams/pkg/config"
	"github.com/amsproject/ams/pkg/service"
	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/ams/internal/admin"
	classifier "github.com/amsproject/ams/services/classifier/app"
	"github.com/amsproject/ams/services/classifier/policy"
	escalation "github.com/amsproject/ams/services/escalation/app"
	executor "github.com/amsproject/ams/services/executor/app"
	ingest "github.com/amsproject/ams/services/ingest/app"
	ticketing "github.com/amsproject/ams/services/ticketing/app"
)

// Services are the -target values, in pipeline order.
var services = []string{"ingest", "classifier", "executor", "ticketing", "escalation"}

// ParseTargets turns "all" or a comma list into service names.
func ParseTargets(s string) ([]string, error) {
	if strings.TrimSpace(s) == "all" {
		return slices.Clone(services), nil
	}
	var out []string
	for _, t := range strings.Split(s, ",") {
		t = strings.TrimSpace(t)
		if !slices.Contains(services, t) {
			return nil, fmt.Errorf("-target: %q is not a service (use all, or a comma list of %s)", t, strings.Join(services, ", "))
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

// ValidateConfig runs the checks each service makes of its own part of the
// configuration, beyond what config.Load already checked.
func ValidateConfig(cfg *config.File) error {
	return errors.Join(ingest.ValidateConfig(cfg))
}

// New returns the process running targets with cfg. Nothing starts until Run.
func New(cfg *config.File, targets []string, log *slog.Logger) *service.Process {
	return &service.Process{
		Name:   "ams",
		Config: cfg,
		Log:    log,
		Build:  func(deps service.Deps) ([]service.Component, error) { return Components(cfg, targets, deps) },
	}
}

// Components builds the selected services and the admin API.
func Components(cfg *config.File, targets []string, deps service.Deps) ([]service.Component, error) {
	builders := map[string]func(*config.File, service.Deps) (service.Component, error){
		"classifier": service.Build(classifier.Name, classifier.New),
		"executor":   service.Build(executor.Name, executor.New),
		"ticketing":  service.Build(ticketing.Name, ticketing.New),
		"escalation": service.Build(escalation.Name, escalation.New),
		"ingest":     ingest.Component,
	}
	var comps []service.Component
	for _, t := range targets {
		build, ok := builders[t]
		if !ok {
			return nil, fmt.Errorf("unknown target %q", t)
		}
		d := deps
		d.Log = deps.Log.With("service", t)
		c, err := build(cfg, d)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", t, err)
		}
		comps = append(comps, c)
	}
	// The admin API keeps its own copy of the tenants' policies, reloaded as
	// the classifier reloads its own, so explain works in any process.
	policies, err := policy.Load(cfg)
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	adm := admin.New(deps.JS).WithTenants(func(id string) bool {
		_, ok := cfg.Tenant(id)
		return ok
	}).WithPolicies(policies).WithKillSwitchConfig(cfg.Executor.KillSwitch).WithTracing(deps.Tracing)
	comps = append(comps, service.Component{
		Name:     "admin",
		Runnable: policyWatcher{policies: policies, every: cfg.Classifier.ReloadInterval, log: deps.Log.With("service", "admin")},
		GRPC:     func(s *grpc.Server) { amsv1.RegisterAdminServiceServer(s, adm) },
	})
	return comps, nil
}

// policyWatcher reloads the admin API's policies while the process runs.
type policyWatcher struct {
	policies *policy.Store
	every    time.Duration
	log      *slog.Logger
}

// Run reloads until ctx ends.
func (w policyWatcher) Run(ctx context.Context) error {
	w.policies.Watch(ctx, w.every, w.log, nil)
	return nil
}

// Ready always returns nil: the policies were loaded when it was built.
func (policyWatcher) Ready() error { return nil }

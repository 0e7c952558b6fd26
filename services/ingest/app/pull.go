package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/amsproject/ams/pkg/config"
	"github.com/amsproject/ams/pkg/service"
	"github.com/amsproject/ams/services/ingest/internal/dxmonitor"
	"github.com/amsproject/ams/services/ingest/internal/publish"
	"github.com/amsproject/ams/services/ingest/internal/sources"
)

// pullSources are the integrations ingest polls instead of being sent to:
// for now the AWS Direct Connect monitor (source awsdx).
type pullSources struct {
	opts dxmonitor.Options // Targets empty: nothing to poll
}

// pullSourcesFrom collects the awsdx integrations. The monitor polls at the
// shortest poll_interval configured (1m by default): one loop serves all.
func pullSourcesFrom(cfg *config.File, deps service.Deps, p *publish.Publisher) pullSources {
	o := dxmonitor.Options{
		Publisher:  dxmonitor.AlertPublisher(p),
		Registerer: deps.Registerer,
		Log:        deps.Log.With("component", Name, "source", sources.AWSDirectConnect),
		Now:        deps.Now,
		NewID:      newID,
	}
	for _, t := range cfg.Tenants {
		for _, in := range t.Integrations {
			if in.Source != sources.AWSDirectConnect || in.AWS == nil {
				continue
			}
			o.Targets = append(o.Targets, dxmonitor.Target{
				Tenant: t.ID, Integration: in.Name,
				RoleARN: in.AWS.RoleARN, ExternalID: in.AWS.ExternalID, Regions: in.AWS.Regions,
			})
			if d := in.AWS.PollInterval; d > 0 && (o.Interval == 0 || d < o.Interval) {
				o.Interval = d
			}
		}
	}
	return pullSources{opts: o}
}

// run polls until ctx ends. Its state bucket is ensured first, retried
// while the bus is unavailable; a poller that cannot start must not stop
// ingest from taking pushed alerts, so failures are logged, not returned.
func (ps pullSources) run(ctx context.Context, js jetstream.JetStream, replicas int, log *slog.Logger) error {
	if len(ps.opts.Targets) == 0 {
		return nil
	}
	backoff := ensureBackoffMin
	for {
		kv, err := dxmonitor.EnsureBucket(ctx, js, replicas)
		if err == nil {
			ps.opts.State = kv
			break
		}
		if ctx.Err() != nil {
			return nil //nolint:nilerr // stopped while the bus was down: a clean shutdown
		}
		log.Warn("ensure bucket, will retry", "bucket", dxmonitor.Bucket, "retry_in", backoff, "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, ensureBackoffMax)
	}
	m, err := dxmonitor.New(ps.opts)
	if err != nil {
		log.Error("Direct Connect monitor not started", "err", err)
		return nil
	}
	log.Info("Direct Connect monitor started", "targets", len(ps.opts.Targets), "interval", ps.opts.Interval)
	return m.Run(ctx)
}

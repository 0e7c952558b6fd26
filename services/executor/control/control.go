// Package control is how an operator steers the executor from outside its
// process (the admin API, amsctl): approve or deny a step waiting for
// approval, and throw or reset the global kill switch. Both go through
// JetStream, so they reach every executor replica.
package control

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/amsproject/ams/pkg/bus"
	"github.com/amsproject/ams/pkg/kvproto"
	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/executor/internal/engine"
	"github.com/amsproject/ams/services/executor/internal/rails"
)

// ErrNotWaiting means the incident has no step waiting for approval.
var ErrNotWaiting = errors.New("no step of this incident is waiting for approval")

// ErrNoExecutor means the executor has never started against this bus.
var ErrNoExecutor = errors.New("the executor has not started on this bus yet (no executor buckets)")

// Decide sends an approve or deny to the run waiting for it and returns the
// step it concerns. The first decision for a step wins: its message id is
// the step's, so a second decision within the bus's duplicate window is
// dropped, and one after it finds the run no longer waiting.
func Decide(ctx context.Context, js jetstream.JetStream, pub *bus.Publisher, req *amsv1.DecideApprovalRequest) (string, error) {
	runs, err := kvproto.Bucket(ctx, js, engine.RunsBucket)
	if err != nil {
		return "", err
	}
	if runs == nil {
		return "", ErrNoExecutor
	}
	rec, err := engine.LoadRecord(ctx, runs, req.GetTenant(), req.GetIncidentId())
	if err != nil {
		return "", err
	}
	if rec == nil {
		return "", fmt.Errorf("%w: incident %s of tenant %s has no runbook run", ErrNotWaiting, req.GetIncidentId(), req.GetTenant())
	}
	stepName, waiting := engine.WaitingStep(rec)
	if !waiting {
		return "", fmt.Errorf("%w: the run of %s ended %s (%s)", ErrNotWaiting, req.GetIncidentId(), rec.Outcome, rec.Reason)
	}
	subject := engine.DecisionSubject(req.GetTenant(), req.GetIncidentId())
	if _, err := pub.Publish(ctx, subject, fmt.Sprintf("decision:%s:%s:%s", req.GetTenant(), req.GetIncidentId(), stepName), req); err != nil {
		return "", err
	}
	return stepName, nil
}

// KillSwitchState is the runtime kill switch as stored.
type KillSwitchState = rails.KillSwitch

// KillSwitch returns the runtime kill switch (off when never thrown).
func KillSwitch(ctx context.Context, js jetstream.JetStream) (rails.KillSwitch, error) {
	kv, err := kvproto.Bucket(ctx, js, rails.Bucket)
	if err != nil || kv == nil {
		return rails.KillSwitch{}, err
	}
	return rails.ReadKillSwitch(ctx, kv)
}

// SetKillSwitch throws (on) or resets the runtime kill switch. Every
// replica reads it before each recovery step, so it takes effect at the
// next one; a recovery already running is not interrupted.
func SetKillSwitch(ctx context.Context, js jetstream.JetStream, on bool, by, reason string, now time.Time) (rails.KillSwitch, error) {
	kv, err := kvproto.Bucket(ctx, js, rails.Bucket)
	if err != nil {
		return rails.KillSwitch{}, err
	}
	if kv == nil {
		return rails.KillSwitch{}, ErrNoExecutor
	}
	ks := rails.KillSwitch{On: on, By: by, Reason: reason, ChangedAt: now}
	return ks, rails.WriteKillSwitch(ctx, kv, ks)
}

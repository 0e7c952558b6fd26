package bus

import (
	"context"
	"errors"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/amsproject/ams/pkg/config"
)

// Tune returns the spec with the configured workers, ack wait and delivery limit.
func (s ConsumerSpec) Tune(c config.Consumer) ConsumerSpec {
	s.Workers, s.AckWait, s.MaxDeliver = c.Workers, c.AckWait, c.MaxDeliver
	return s
}

// Group runs a service's consumers together: Run ends when all have ended,
// or as soon as one fails; Ready holds only when every one is running.
type Group []*Consumer

// Run runs every consumer until ctx ends.
func (g Group) Run(ctx context.Context) error {
	eg, ctx := errgroup.WithContext(ctx)
	for _, c := range g {
		eg.Go(func() error { return c.Run(ctx) })
	}
	return eg.Wait()
}

// Ready returns the first consumer's error that is not ready, or nil.
func (g Group) Ready() error {
	if len(g) == 0 {
		return errors.New("no consumers")
	}
	for _, c := range g {
		if err := c.Ready(); err != nil {
			return err
		}
	}
	return nil
}

// Running is a service's consumers once its Run has made them. A service
// embeds it: Ready says "starting" until Start, then reports the group.
type Running struct{ g atomic.Pointer[Group] }

// Start records g as the service's consumers and runs them until ctx ends.
func (r *Running) Start(ctx context.Context, g Group) error {
	r.g.Store(&g)
	return g.Run(ctx)
}

// Ready reports whether every consumer is running.
func (r *Running) Ready() error {
	g := r.g.Load()
	if g == nil {
		return errors.New("starting")
	}
	return g.Ready()
}

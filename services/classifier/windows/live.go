package windows

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
)

// Live is every tenant's runtime windows, compiled, in memory, kept current
// by watching the bucket: the classifier asks it for a tenant's windows on
// every alert without reading KV. A window whose value cannot be decoded or
// does not compile is logged and left out (and so is the version it
// replaced: the stored window is the one its author meant).
type Live struct {
	log  *slog.Logger
	done chan struct{}

	mu sync.RWMutex
	// byTenant holds each tenant's windows sorted by id.
	byTenant map[string][]*Window
}

// NewLive watches kv (the Bucket) until ctx ends. It returns once the
// windows stored when it started are loaded, so a classifier that waits for
// it never misses one. log may be nil.
func NewLive(ctx context.Context, kv jetstream.KeyValue, log *slog.Logger) (*Live, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l := &Live{log: log, done: make(chan struct{}), byTenant: make(map[string][]*Window)}
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", kv.Bucket(), err)
	}
	updates := w.Updates()
	for loaded := false; !loaded; {
		select {
		case e, ok := <-updates:
			switch {
			case !ok:
				return nil, fmt.Errorf("watch %s: ended before the stored windows were read", kv.Bucket())
			case e == nil: // the stored values are all in
				loaded = true
			default:
				l.apply(e)
			}
		case <-ctx.Done():
			stop(w)
			return nil, fmt.Errorf("watch %s: %w", kv.Bucket(), context.Cause(ctx))
		}
	}
	go l.run(ctx, w)
	return l, nil
}

// run applies updates until ctx ends or the watch does (the connection
// closed for good).
func (l *Live) run(ctx context.Context, w jetstream.KeyWatcher) {
	defer close(l.done)
	updates := w.Updates()
	for {
		select {
		case e, ok := <-updates:
			if !ok {
				l.log.Error("maintenance windows watch ended; runtime windows no longer follow changes")
				return
			}
			if e != nil {
				l.apply(e)
			}
		case <-ctx.Done():
			stop(w)
			return
		}
	}
}

// stop ends a watch and waits for it to let go: the watcher's delivery
// blocks on a full channel, so it is read until closed.
func stop(w jetstream.KeyWatcher) {
	_ = w.Stop() // unsubscribing fails only when already closed
	for range w.Updates() {
	}
}

// Done is closed when the watch has ended, after ctx ended (or the
// connection closed for good).
func (l *Live) Done() <-chan struct{} { return l.done }

// Windows returns the compiled windows of tenant, or of every tenant when
// tenant is empty, by tenant and id. The windows are shared: do not change
// them.
func (l *Live) Windows(tenant string) []*Window {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if tenant != "" {
		return slices.Clone(l.byTenant[tenant])
	}
	var out []*Window
	for _, ws := range l.byTenant {
		out = append(out, ws...)
	}
	slices.SortFunc(out, func(a, b *Window) int { return cmp.Or(cmp.Compare(a.Tenant, b.Tenant), cmp.Compare(a.ID, b.ID)) })
	return out
}

// apply takes one entry of the watch into the view.
func (l *Live) apply(e jetstream.KeyValueEntry) {
	tenant, id, ok := splitKey(e.Key())
	if !ok {
		l.log.Warn("maintenance window ignored: key is not <tenant>.<runtime window id>", "key", e.Key())
		return
	}
	if e.Operation() != jetstream.KeyValuePut {
		l.set(tenant, id, nil)
		return
	}
	w, err := decode(e.Key(), e.Value())
	if err == nil {
		err = Compile(w)
	}
	if err != nil {
		l.log.Error("maintenance window left out", "tenant", tenant, "id", id, "revision", e.Revision(), "error", err)
		l.set(tenant, id, nil)
		return
	}
	l.set(tenant, id, w)
}

// set replaces the window id of tenant with w, or removes it when w is nil.
func (l *Live) set(tenant, id string, w *Window) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ws := l.byTenant[tenant]
	i, found := slices.BinarySearchFunc(ws, id, func(x *Window, id string) int { return cmp.Compare(x.ID, id) })
	switch {
	case w == nil && !found:
		return
	case w == nil:
		ws = slices.Delete(ws, i, i+1)
	case found:
		ws[i] = w
	default:
		ws = slices.Insert(ws, i, w)
	}
	if len(ws) == 0 {
		delete(l.byTenant, tenant)
		return
	}
	l.byTenant[tenant] = ws
}

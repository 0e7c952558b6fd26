package policy

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/amsproject/ams/pkg/config"
	"github.com/amsproject/ams/services/classifier/internal/maintenance"
)

// Store holds the policy in force for every tenant of the configuration.
// Reads are lock-free; a reload swaps in a new map.
type Store struct {
	cfg      *config.File
	tenants  atomic.Pointer[map[string]*Tenant]
	reloadMu sync.Mutex
}

// Load builds a Store from the configuration, reading every tenant's file.
// Any file that does not parse or compile fails the whole load: at start a
// broken policy is a configuration error.
func Load(cfg *config.File) (*Store, error) {
	s := &Store{cfg: cfg}
	m := make(map[string]*Tenant, len(cfg.Tenants))
	var errs []error
	for i, t := range cfg.Tenants {
		p, err := load(cfg, t)
		if err != nil {
			errs = append(errs, fmt.Errorf("tenants[%d].rules_file: %w", i, err))
			continue
		}
		m[t.ID] = p
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	s.tenants.Store(&m)
	return s, nil
}

func load(cfg *config.File, t config.Tenant) (*Tenant, error) {
	if t.RulesFile == "" {
		return Default(t), nil
	}
	path := cfg.Path(t.RulesFile)
	data, err := os.ReadFile(path) //nolint:gosec // the operator names the file
	if err != nil {
		return nil, fmt.Errorf("read %w", err)
	}
	return Parse(data, path, t)
}

// Tenant returns the policy of tenant id, or nil for a tenant not in the configuration.
func (s *Store) Tenant(id string) *Tenant {
	return (*s.tenants.Load())[id]
}

// ConfigWindows returns the maintenance windows written in the tenants'
// files: those of tenant, or of every tenant when it is empty.
func (s *Store) ConfigWindows(tenant string) []*maintenance.Window {
	var out []*maintenance.Window
	for _, t := range s.cfg.Tenants {
		if tenant != "" && t.ID != tenant {
			continue
		}
		if p := s.Tenant(t.ID); p != nil {
			out = append(out, p.Windows...)
		}
	}
	return out
}

// Reload reads every tenant's file again and swaps in those that changed
// and compile. A file that no longer compiles keeps the tenant's previous
// policy in force and is reported in err, so a typo never leaves a tenant
// without rules. changed lists the tenants whose policy was replaced.
func (s *Store) Reload() (changed []string, err error) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	old := *s.tenants.Load()
	next := make(map[string]*Tenant, len(old))
	var errs []error
	for i, t := range s.cfg.Tenants {
		cur := old[t.ID]
		next[t.ID] = cur
		if t.RulesFile == "" {
			continue
		}
		path := s.cfg.Path(t.RulesFile)
		data, rerr := os.ReadFile(path) //nolint:gosec // the operator names the file
		if rerr != nil {
			errs = append(errs, fmt.Errorf("tenants[%d].rules_file: read %w (the rules loaded before stay in force)", i, rerr))
			continue
		}
		if cur != nil && sha256.Sum256(data) == cur.Digest {
			continue
		}
		p, perr := Parse(data, path, t)
		if perr != nil {
			errs = append(errs, fmt.Errorf("tenants[%d].rules_file: %w (the rules loaded before stay in force)", i, perr))
			continue
		}
		next[t.ID] = p
		changed = append(changed, t.ID)
	}
	if len(changed) > 0 {
		s.tenants.Store(&next)
	}
	return changed, errors.Join(errs...)
}

// Watch reloads every interval until ctx ends, logging what changed and what
// failed; report (may be nil) is told the outcome of each reload that did
// something, for metrics.
func (s *Store) Watch(ctx context.Context, interval time.Duration, log *slog.Logger, report func(changed []string, err error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var lastErr string
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		changed, err := s.Reload()
		for _, id := range changed {
			log.Info("classifier rules reloaded", "tenant", id, "file", s.Tenant(id).Source)
		}
		switch {
		case err != nil && err.Error() != lastErr:
			// Logged once per distinct problem, not every interval.
			log.Error("classifier rules not reloaded", "err", err)
			lastErr = err.Error()
		case err == nil:
			lastErr = ""
		}
		if report != nil && (len(changed) > 0 || err != nil) {
			report(changed, err)
		}
	}
}

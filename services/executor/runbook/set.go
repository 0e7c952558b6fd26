package runbook

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Set is the runbooks of a directory, reloaded when its files change. A
// reload is all or nothing: while any file has a problem the previous set
// stays in force, so a half-edited runbook never runs. It is safe for
// concurrent use.
type Set struct {
	dir     string
	current atomic.Pointer[map[string]*Runbook]

	mu     sync.Mutex        // one Reload at a time
	digest [sha256.Size]byte // of the file names and contents last loaded
}

// NewSet loads dir; an error is the same as LoadDir's.
func NewSet(dir string) (*Set, error) {
	s := &Set{dir: dir}
	if _, err := s.Reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// Runbooks returns the runbooks in force, by name. The map is shared:
// callers must not change it.
func (s *Set) Runbooks() map[string]*Runbook { return *s.current.Load() }

// Reload loads the directory again if any runbook file was added, removed
// or changed since the last load, and reports whether the set changed. On
// error the set in force is kept.
func (s *Set) Reload() (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	digest, err := dirDigest(s.dir)
	if err != nil {
		return false, err
	}
	if s.current.Load() != nil && digest == s.digest {
		return false, nil
	}
	rbs, err := LoadDir(s.dir)
	if err != nil {
		return false, err
	}
	s.digest = digest
	s.current.Store(&rbs)
	return true, nil
}

// Watch reloads every interval until ctx ends, logging what changed and,
// once per distinct problem, why a reload was refused. report, when not
// nil, hears of each change or failure.
func (s *Set) Watch(ctx context.Context, interval time.Duration, log *slog.Logger, report func(changed bool, err error)) {
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
		switch {
		case err != nil && err.Error() != lastErr:
			log.Error("runbooks not reloaded; the previous set stays in force", "dir", s.dir, "err", err)
			lastErr = err.Error()
		case err == nil:
			lastErr = ""
		}
		if changed {
			log.Info("runbooks reloaded", "dir", s.dir, "count", len(s.Runbooks()))
		}
		if report != nil && (changed || err != nil) {
			report(changed, err)
		}
	}
}

// dirDigest hashes the names and contents of the runbook files in dir:
// contents rather than modification times, which editors and config
// management do not always change.
func dirDigest(dir string) ([sha256.Size]byte, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return [sha256.Size]byte{}, fmt.Errorf("read runbook directory: %w", err)
	}
	h := sha256.New()
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		if IsRunbookFile(e.Name()) && !e.IsDir() {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	for _, name := range names {
		data, err := os.ReadFile(filepath.Join(dir, name)) //nolint:gosec // operators name their runbook files
		if err != nil {
			return [sha256.Size]byte{}, fmt.Errorf("read runbook: %w", err)
		}
		fmt.Fprintf(h, "%s\x00%d\x00", name, len(data))
		h.Write(data)
	}
	var out [sha256.Size]byte
	copy(out[:], h.Sum(nil))
	return out, nil
}

package maintenance

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
)

// ErrNotFound is returned when a store holds no window with the given id.
var ErrNotFound = errors.New("maintenance window not found")

// Store lists the windows created at runtime (amsctl maintenance add). The
// JetStream KV implementation keeps each window as Marshal's JSON.
type Store interface {
	// List returns the windows of tenant, or of every tenant when tenant
	// is empty. They need not be valid: Load compiles them.
	List(ctx context.Context, tenant string) ([]*Window, error)
}

// Load lists tenant's windows (every tenant's when empty) from st and
// compiles them with compile. A window that does not compile is left out
// and reported in rejected, so that one bad window does not take every other
// down with it; err is for the listing itself.
func Load(ctx context.Context, st Store, tenant string, compile CompileFunc) (windows []*Window, rejected, err error) {
	all, err := st.List(ctx, tenant)
	if err != nil {
		return nil, nil, fmt.Errorf("list maintenance windows: %w", err)
	}
	var errs []error
	for _, w := range all {
		if err := w.Compile(compile); err != nil {
			errs = append(errs, err)
			continue
		}
		windows = append(windows, w)
	}
	return windows, errors.Join(errs...), nil
}

// MemStore is a Store in memory, for tests. It keeps each window as JSON, as
// the KV store does, so what goes in comes back through Marshal and
// Unmarshal.
type MemStore struct {
	mu      sync.Mutex
	windows map[memKey][]byte
}

type memKey struct{ tenant, id string }

// NewMemStore returns a store holding windows.
func NewMemStore(windows ...*Window) (*MemStore, error) {
	m := &MemStore{windows: make(map[memKey][]byte)}
	for _, w := range windows {
		if err := m.Put(context.Background(), w); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Put stores w, replacing the window of the same tenant and id. It does not
// validate: a store keeps what it is given, and Load rejects what is wrong.
func (m *MemStore) Put(_ context.Context, w *Window) error {
	b, err := Marshal(w)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.windows[memKey{w.Tenant, w.ID}] = b
	return nil
}

// Delete removes the window id of tenant, or returns ErrNotFound.
func (m *MemStore) Delete(_ context.Context, tenant, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := memKey{tenant, id}
	if _, ok := m.windows[k]; !ok {
		return fmt.Errorf("delete %s/%s: %w", tenant, id, ErrNotFound)
	}
	delete(m.windows, k)
	return nil
}

// List returns the windows of tenant (all when empty), by tenant and id.
func (m *MemStore) List(ctx context.Context, tenant string) ([]*Window, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	keys := make([]memKey, 0, len(m.windows))
	for k := range m.windows {
		if tenant == "" || k.tenant == tenant {
			keys = append(keys, k)
		}
	}
	vals := make([][]byte, len(keys))
	slices.SortFunc(keys, func(a, b memKey) int { return cmp.Or(cmp.Compare(a.tenant, b.tenant), cmp.Compare(a.id, b.id)) })
	for i, k := range keys {
		vals[i] = m.windows[k]
	}
	m.mu.Unlock()
	out := make([]*Window, 0, len(vals))
	for i, b := range vals {
		w, err := Unmarshal(b)
		if err != nil {
			return nil, fmt.Errorf("window %s/%s: %w", keys[i].tenant, keys[i].id, err)
		}
		out = append(out, w)
	}
	return out, nil
}

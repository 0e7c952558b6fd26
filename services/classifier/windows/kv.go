package windows

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/amsproject/ams/services/classifier/internal/maintenance"
)

// KVStore keeps runtime windows in a JetStream KV bucket (Bucket), each as
// maintenance.Marshal's JSON under the key <tenant>.<id>. It is safe for
// concurrent use, by any number of processes.
type KVStore struct {
	kv jetstream.KeyValue
}

var _ maintenance.Store = (*KVStore)(nil)

// NewKVStore returns a store over kv, which should have BucketConfig.
func NewKVStore(kv jetstream.KeyValue) *KVStore { return &KVStore{kv: kv} }

func key(tenant, id string) string { return tenant + "." + id }

// splitKey is the tenant and id of a key; ok is false for a key this
// package would not have written.
func splitKey(k string) (tenant, id string, ok bool) {
	tenant, id, ok = strings.Cut(k, ".")
	return tenant, id, ok && validTenant(tenant) && IsRuntimeID(id)
}

// Put validates and compiles w (see Compile), then stores it, replacing the
// window of the same tenant and id. Its id must be a runtime id (NewID):
// windows of the configuration file are changed in that file.
func (s *KVStore) Put(ctx context.Context, w *Window) error {
	var probs []error
	if !IsRuntimeID(w.ID) {
		probs = append(probs, fmt.Errorf("maintenance window %s/%s: id: %q is not a runtime window id (%s followed by lowercase letters and digits; NewID makes one), and windows of the configuration file are changed in that file",
			w.Tenant, w.ID, w.ID, RuntimeIDPrefix))
	}
	if w.Tenant != "" && !validTenant(w.Tenant) {
		probs = append(probs, fmt.Errorf("maintenance window %s/%s: tenant: %q is not a tenant id (letters, digits, '-' and '_')", w.Tenant, w.ID, w.Tenant))
	}
	if err := Compile(w); err != nil {
		probs = append(probs, err)
	}
	if err := errors.Join(probs...); err != nil {
		return err
	}
	b, err := maintenance.Marshal(w)
	if err != nil {
		return err
	}
	if _, err := s.kv.Put(ctx, key(w.Tenant, w.ID), b); err != nil {
		return fmt.Errorf("put maintenance window %s/%s: %w", w.Tenant, w.ID, err)
	}
	return nil
}

// Get returns the window id of tenant, not compiled, or ErrNotFound.
func (s *KVStore) Get(ctx context.Context, tenant, id string) (*Window, error) {
	w, _, err := s.get(ctx, tenant, id)
	return w, err
}

func (s *KVStore) get(ctx context.Context, tenant, id string) (*Window, uint64, error) {
	if !validTenant(tenant) || !IsRuntimeID(id) {
		// Not a key this store can hold.
		return nil, 0, fmt.Errorf("get maintenance window %s/%s: %w", tenant, id, ErrNotFound)
	}
	e, err := s.kv.Get(ctx, key(tenant, id))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, fmt.Errorf("get maintenance window %s/%s: %w", tenant, id, ErrNotFound)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("get maintenance window %s/%s: %w", tenant, id, err)
	}
	w, err := decode(e.Key(), e.Value())
	if err != nil {
		return nil, 0, err
	}
	return w, e.Revision(), nil
}

// Delete removes the window id of tenant, or returns ErrNotFound.
func (s *KVStore) Delete(ctx context.Context, tenant, id string) error {
	_, rev, err := s.get(ctx, tenant, id)
	if err != nil {
		return err
	}
	// At the revision read: a window replaced meanwhile is not deleted
	// unseen. A deletion in between makes this fail as not found.
	err = s.kv.Delete(ctx, key(tenant, id), jetstream.LastRevision(rev))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("delete maintenance window %s/%s: %w", tenant, id, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("delete maintenance window %s/%s: %w", tenant, id, err)
	}
	return nil
}

// List returns the windows of tenant (of every tenant when empty), by
// tenant and id, not compiled. A value that cannot be decoded fails the
// listing, naming its key.
func (s *KVStore) List(ctx context.Context, tenant string) ([]*Window, error) {
	filter := ">"
	if tenant != "" {
		if !validTenant(tenant) {
			return nil, fmt.Errorf("list maintenance windows: tenant %q is not a tenant id (letters, digits, '-' and '_')", tenant)
		}
		filter = tenant + ".*"
	}
	lister, err := s.kv.ListKeysFiltered(ctx, filter)
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list maintenance windows: %w", err)
	}
	defer func() { _ = lister.Stop() }() // stopped early only on an error, which is returned
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list maintenance windows: %w", err)
	}
	slices.Sort(keys)
	keys = slices.Compact(keys) // a listing during writes may repeat a key
	out := make([]*Window, 0, len(keys))
	for _, k := range keys {
		e, err := s.kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // deleted between list and get
		}
		if err != nil {
			return nil, fmt.Errorf("list maintenance windows: get %s: %w", k, err)
		}
		w, err := decode(k, e.Value())
		if err != nil {
			return nil, fmt.Errorf("list maintenance windows: %w", err)
		}
		out = append(out, w)
	}
	// Keys sort as "<tenant>.<id>"; a tenant that is a prefix of another
	// ("acme" and "acme-eu") does not sort by tenant that way.
	slices.SortFunc(out, func(a, b *Window) int { return cmp.Or(cmp.Compare(a.Tenant, b.Tenant), cmp.Compare(a.ID, b.ID)) })
	return out, nil
}

// decode reads the window stored under key k and checks that it is the one
// the key names.
func decode(k string, value []byte) (*Window, error) {
	tenant, id, ok := splitKey(k)
	if !ok {
		return nil, fmt.Errorf("key %s is not <tenant>.<runtime window id>", k)
	}
	w, err := maintenance.Unmarshal(value)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", k, err)
	}
	if w.Tenant != tenant || w.ID != id {
		return nil, fmt.Errorf("key %s holds window %s/%s", k, w.Tenant, w.ID)
	}
	return w, nil
}

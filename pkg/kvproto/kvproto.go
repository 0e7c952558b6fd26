// Package kvproto reads and writes values in JetStream KV buckets: typed
// reads of protobuf values (the admin API's read side) and Modify, the
// read–change–compare-and-set loop every service uses so that concurrent
// replicas never lose an update.
package kvproto

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
)

// ErrNotFound is returned when no key matches.
var ErrNotFound = errors.New("not found")

// Bucket returns the named bucket, or nil if it does not exist yet (its owner
// has not started): readers then see an empty store instead of an error.
func Bucket(ctx context.Context, js jetstream.JetStream, name string) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, name)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", name, err)
	}
	return kv, nil
}

// List decodes every value whose key matches filter (NATS subject wildcards,
// e.g. "demo.*" or ">"), creating each with newT.
func List[T proto.Message](ctx context.Context, kv jetstream.KeyValue, filter string, newT func() T) ([]T, error) {
	if kv == nil {
		return nil, nil
	}
	keys, err := kv.ListKeysFiltered(ctx, filter)
	if err != nil {
		return nil, fmt.Errorf("list keys %s in %s: %w", filter, kv.Bucket(), err)
	}
	defer func() { _ = keys.Stop() }() // a listing that is stopped early has nothing to report
	var out []T
	for key := range keys.Keys() {
		e, err := kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // deleted between list and get
		}
		if err != nil {
			return nil, fmt.Errorf("get %s from %s: %w", key, kv.Bucket(), err)
		}
		v := newT()
		if err := proto.Unmarshal(e.Value(), v); err != nil {
			return nil, fmt.Errorf("decode %s from %s: %w", key, kv.Bucket(), err)
		}
		out = append(out, v)
	}
	return out, nil
}

// One returns the single value whose key matches filter, or ErrNotFound.
func One[T proto.Message](ctx context.Context, kv jetstream.KeyValue, filter string, newT func() T) (T, error) {
	var zero T
	all, err := List(ctx, kv, filter, newT)
	if err != nil {
		return zero, err
	}
	if len(all) == 0 {
		return zero, ErrNotFound
	}
	return all[0], nil
}

// maxModifyAttempts bounds compare-and-set retries before giving up (the
// caller's message is then redelivered later rather than spinning here).
const maxModifyAttempts = 50

// Modify reads key, calls change with its current value (nil when absent) and
// writes what change returns with compare-and-set on the revision it read,
// retrying from the read on conflict. change returning nil writes nothing.
// change may run several times, so it must be a pure function of its input.
//
// After a conflict it waits a random moment, growing with each attempt,
// before reading again: writers that collided would otherwise retry in
// lockstep and keep colliding (seen with 8 writers on one key).
func Modify(ctx context.Context, kv jetstream.KeyValue, key string, change func(cur []byte) ([]byte, error)) error {
	for attempt := range maxModifyAttempts {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return fmt.Errorf("write %s to %s: %w", key, kv.Bucket(), err)
			}
		}
		var cur []byte
		var rev uint64
		e, err := kv.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return fmt.Errorf("get %s from %s: %w", key, kv.Bucket(), err)
		default:
			cur, rev = e.Value(), e.Revision()
		}
		next, err := change(cur)
		if err != nil || next == nil {
			return err
		}
		if rev == 0 {
			_, err = kv.Create(ctx, key, next)
		} else {
			_, err = kv.Update(ctx, key, next, rev)
		}
		if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			continue
		}
		if err != nil {
			return fmt.Errorf("write %s to %s: %w", key, kv.Bucket(), err)
		}
		return nil
	}
	return fmt.Errorf("write %s to %s: still conflicting after %d attempts", key, kv.Bucket(), maxModifyAttempts)
}

// backoff sleeps a random duration below min(2^attempt ms, 50ms), or until
// ctx ends.
func backoff(ctx context.Context, attempt int) error {
	ceiling := min(time.Millisecond<<min(attempt, 6), 50*time.Millisecond)
	t := time.NewTimer(rand.N(ceiling)) //nolint:gosec // jitter, not a secret
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

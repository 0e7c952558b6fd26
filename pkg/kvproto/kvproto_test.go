package kvproto

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/amsproject/ams/pkg/natstest"
)

func newBucket(tb testing.TB) (jetstream.JetStream, jetstream.KeyValue) {
	tb.Helper()
	srv := natstest.RunServer(tb)
	_, js := natstest.Connect(tb, srv)
	kv, err := js.CreateKeyValue(context.Background(), jetstream.KeyValueConfig{Bucket: "things", History: 5})
	require.NoError(tb, err)
	return js, kv
}

func TestBucket(t *testing.T) {
	js, _ := newBucket(t)
	ctx := context.Background()

	kv, err := Bucket(ctx, js, "things")
	require.NoError(t, err)
	require.NotNil(t, kv)
	require.Equal(t, "things", kv.Bucket())

	kv, err = Bucket(ctx, js, "absent")
	require.NoError(t, err, "a bucket whose owner has not started is not an error")
	require.Nil(t, kv)

	_, err = Bucket(ctx, js, "not valid!")
	require.ErrorContains(t, err, "open bucket not valid!")
}

// counter is a change that adds one to a decimal counter.
func counter(calls *int) func([]byte) ([]byte, error) {
	return func(cur []byte) ([]byte, error) {
		if calls != nil {
			*calls++
		}
		n := 0
		if cur != nil {
			var err error
			if n, err = strconv.Atoi(string(cur)); err != nil {
				return nil, err
			}
		}
		return []byte(strconv.Itoa(n + 1)), nil
	}
}

func get(tb testing.TB, kv jetstream.KeyValue, key string) (string, uint64) {
	tb.Helper()
	e, err := kv.Get(context.Background(), key)
	require.NoError(tb, err)
	return string(e.Value()), e.Revision()
}

func TestModifyCreatesThenUpdates(t *testing.T) {
	_, kv := newBucket(t)
	ctx := context.Background()

	var seen [][]byte
	change := func(cur []byte) ([]byte, error) {
		seen = append(seen, cur)
		return counter(nil)(cur)
	}
	require.NoError(t, Modify(ctx, kv, "n", change))
	v, rev1 := get(t, kv, "n")
	require.Equal(t, "1", v)

	require.NoError(t, Modify(ctx, kv, "n", change))
	v, rev2 := get(t, kv, "n")
	require.Equal(t, "2", v)
	require.Greater(t, rev2, rev1)
	require.Equal(t, [][]byte{nil, []byte("1")}, seen, "change sees nil when absent, then the stored value")
}

func TestModifyNilChangeWritesNothing(t *testing.T) {
	_, kv := newBucket(t)
	ctx := context.Background()
	unchanged := func([]byte) ([]byte, error) { return nil, nil }

	require.NoError(t, Modify(ctx, kv, "absent", unchanged))
	_, err := kv.Get(ctx, "absent")
	require.ErrorIs(t, err, jetstream.ErrKeyNotFound)

	_, err = kv.Put(ctx, "present", []byte("v"))
	require.NoError(t, err)
	_, before := get(t, kv, "present")
	require.NoError(t, Modify(ctx, kv, "present", unchanged))
	v, after := get(t, kv, "present")
	require.Equal(t, "v", v)
	require.Equal(t, before, after, "no new revision")
}

func TestModifyChangeErrorWritesNothing(t *testing.T) {
	_, kv := newBucket(t)
	ctx := context.Background()
	boom := errors.New("invalid transition")
	err := Modify(ctx, kv, "k", func([]byte) ([]byte, error) { return []byte("x"), boom })
	require.ErrorIs(t, err, boom)
	_, err = kv.Get(ctx, "k")
	require.ErrorIs(t, err, jetstream.ErrKeyNotFound)
}

func TestModifyAfterDelete(t *testing.T) {
	_, kv := newBucket(t)
	ctx := context.Background()
	_, err := kv.Put(ctx, "k", []byte("7"))
	require.NoError(t, err)
	require.NoError(t, kv.Delete(ctx, "k"))

	var calls int
	require.NoError(t, Modify(ctx, kv, "k", counter(&calls)))
	v, _ := get(t, kv, "k")
	require.Equal(t, "1", v, "a deleted key starts again from nothing")
	require.Equal(t, 1, calls)
}

func TestModifyRetriesOnConflict(t *testing.T) {
	tests := []struct {
		name    string
		initial string // empty: key absent, so the first write is a create
	}{
		{name: "create raced by another writer"},
		{name: "update raced by another writer", initial: "10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, kv := newBucket(t)
			ctx := context.Background()
			if tt.initial != "" {
				_, err := kv.Put(ctx, "n", []byte(tt.initial))
				require.NoError(t, err)
			}
			var seen []string
			err := Modify(ctx, kv, "n", func(cur []byte) ([]byte, error) {
				seen = append(seen, string(cur))
				if len(seen) == 1 {
					// Another replica writes between our read and our write.
					_, err := kv.Put(ctx, "n", []byte("100"))
					require.NoError(t, err)
				}
				return counter(nil)(cur)
			})
			require.NoError(t, err)
			require.Equal(t, []string{tt.initial, "100"}, seen, "read again after the conflict")
			v, _ := get(t, kv, "n")
			require.Equal(t, "101", v, "the other writer's value is not overwritten")
		})
	}
}

func TestModifyGivesUpAfterPersistentConflict(t *testing.T) {
	_, kv := newBucket(t)
	ctx := context.Background()
	_, err := kv.Put(ctx, "n", []byte("0"))
	require.NoError(t, err)
	calls := 0
	err = Modify(ctx, kv, "n", func(cur []byte) ([]byte, error) {
		calls++
		_, err := kv.Put(ctx, "n", []byte(fmt.Sprint("other-", calls)))
		require.NoError(t, err)
		return []byte("mine"), nil
	})
	require.ErrorContains(t, err, "write n to things: still conflicting after 50 attempts")
	require.Equal(t, maxModifyAttempts, calls)
	v, _ := get(t, kv, "n")
	require.Equal(t, "other-50", v)
}

func TestModifyConcurrentIncrementsLoseNothing(t *testing.T) {
	_, kv := newBucket(t)
	const goroutines, increments = 8, 25
	ctx := context.Background()

	var wg sync.WaitGroup
	errs := make(chan error, goroutines*increments)
	for range goroutines {
		wg.Go(func() {
			for range increments {
				errs <- Modify(ctx, kv, "counter", counter(nil))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	v, _ := get(t, kv, "counter")
	require.Equal(t, strconv.Itoa(goroutines*increments), v)
}

func putProto(tb testing.TB, kv jetstream.KeyValue, key string, m proto.Message) {
	tb.Helper()
	data, err := proto.Marshal(m)
	require.NoError(tb, err)
	_, err = kv.Put(context.Background(), key, data)
	require.NoError(tb, err)
}

func values(vs []*wrapperspb.StringValue) []string {
	out := []string{}
	for _, v := range vs {
		out = append(out, v.GetValue())
	}
	return out
}

func newString() *wrapperspb.StringValue { return &wrapperspb.StringValue{} }

func TestListAndOne(t *testing.T) {
	_, kv := newBucket(t)
	ctx := context.Background()
	putProto(t, kv, "acme.inc-1", wrapperspb.String("acme one"))
	putProto(t, kv, "acme.inc-2", wrapperspb.String("acme two"))
	putProto(t, kv, "beta.inc-3", wrapperspb.String("beta three"))
	putProto(t, kv, "acme.gone", wrapperspb.String("deleted"))
	require.NoError(t, kv.Delete(ctx, "acme.gone"))
	putProto(t, kv, "acme.inc-1", wrapperspb.String("acme one v2")) // only the latest revision is listed

	tests := []struct {
		name   string
		filter string
		want   []string
	}{
		{"tenant wildcard", "acme.*", []string{"acme one v2", "acme two"}},
		{"everything", ">", []string{"acme one v2", "acme two", "beta three"}},
		{"one key", "beta.inc-3", []string{"beta three"}},
		{"any tenant one id", "*.inc-2", []string{"acme two"}},
		{"no match", "gamma.*", []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := List(ctx, kv, tt.filter, newString)
			require.NoError(t, err)
			require.ElementsMatch(t, tt.want, values(got))

			one, err := One(ctx, kv, tt.filter, newString)
			if len(tt.want) == 0 {
				require.ErrorIs(t, err, ErrNotFound)
				require.Nil(t, one)
				return
			}
			require.NoError(t, err)
			require.Contains(t, tt.want, one.GetValue())
		})
	}
}

func TestListNilBucket(t *testing.T) {
	ctx := context.Background()
	got, err := List(ctx, nil, ">", newString)
	require.NoError(t, err)
	require.Empty(t, got)

	_, err = One(ctx, nil, ">", newString)
	require.ErrorIs(t, err, ErrNotFound)
}

func TestListUndecodableValue(t *testing.T) {
	_, kv := newBucket(t)
	ctx := context.Background()
	_, err := kv.Put(ctx, "acme.bad", []byte{0xff, 0xff, 0xff})
	require.NoError(t, err)

	_, err = List(ctx, kv, "acme.*", newString)
	require.ErrorContains(t, err, "decode acme.bad from things")
	_, err = One(ctx, kv, "acme.*", newString)
	require.ErrorContains(t, err, "decode acme.bad from things")
}

package bus

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
)

func batchOf(n int, subject string) []Outgoing {
	out := make([]Outgoing, n)
	for i := range out {
		out[i] = Outgoing{Subject: subject, MsgID: "a" + strconv.Itoa(i), Message: &amsv1.Alert{Id: "a" + strconv.Itoa(i)}}
	}
	return out
}

func atomicStream(tb testing.TB, h *harness) jetstream.Stream {
	tb.Helper()
	s, err := EnsureStream(context.Background(), h.js, jetstream.StreamConfig{
		Name: "BATCH", Subjects: []string{"batch.>"}, Duplicates: time.Minute, AllowAtomicPublish: true,
	})
	require.NoError(tb, err)
	return s
}

func msgCount(tb testing.TB, s jetstream.Stream) uint64 {
	tb.Helper()
	info, err := s.Info(context.Background())
	require.NoError(tb, err)
	return info.State.Msgs
}

func TestPublishBatchStoresAllInOrder(t *testing.T) {
	h := newHarness(t)
	s := atomicStream(t, h)
	ctx := context.Background()
	seq, err := h.publisher().PublishBatch(ctx, batchOf(5, "batch.a"))
	require.NoError(t, err)
	require.Equal(t, uint64(5), seq)
	require.Equal(t, uint64(5), msgCount(t, s))
	for seq := uint64(1); seq <= 5; seq++ {
		m, err := s.GetMsg(ctx, seq)
		require.NoError(t, err)
		var a amsv1.Alert
		require.NoError(t, proto.Unmarshal(m.Data, &a))
		require.Equal(t, "a"+strconv.Itoa(int(seq-1)), a.GetId(), "order kept")
		require.Equal(t, a.GetId(), m.Header.Get(HeaderID))
		require.Equal(t, a.GetId(), m.Header.Get(jetstream.MsgIDHeader))
		require.Equal(t, "bus-test", m.Header.Get(HeaderSource))
	}
}

func TestPublishBatchWithAStoredMessageStoresNothing(t *testing.T) {
	h := newHarness(t)
	s := atomicStream(t, h)
	ctx := context.Background()
	p := h.publisher()
	_, err := p.PublishBatch(ctx, batchOf(3, "batch.a"))
	require.NoError(t, err)

	// a0..a4: the first three are stored, so the batch is refused whole.
	_, err = p.PublishBatch(ctx, batchOf(5, "batch.a"))
	require.ErrorIs(t, err, ErrBatchHasDuplicate)
	require.Equal(t, uint64(3), msgCount(t, s))
	// Only the last message repeated: refused as well.
	msgs := batchOf(3, "batch.a")
	msgs[0].MsgID, msgs[1].MsgID = "new-1", "new-2"
	_, err = p.PublishBatch(ctx, msgs)
	require.ErrorIs(t, err, ErrBatchHasDuplicate)
	require.Equal(t, uint64(3), msgCount(t, s))

	// PublishEach tells the new from the stored, in order.
	dup, err := p.PublishEach(ctx, batchOf(5, "batch.a"))
	require.NoError(t, err)
	require.Equal(t, []bool{true, true, true, false, false}, dup)
	require.Equal(t, uint64(5), msgCount(t, s))
	m, err := s.GetMsg(ctx, 5)
	require.NoError(t, err)
	require.Equal(t, "a4", m.Header.Get(HeaderID))
}

func TestPublishBatchAllOrNothing(t *testing.T) {
	h := newHarness(t)
	s := atomicStream(t, h)
	ctx := context.Background()
	// The last message's subject belongs to no stream: the commit fails,
	// and the staged messages must not be stored either.
	msgs := batchOf(4, "batch.a")
	msgs[3].Subject = "elsewhere.x"
	_, err := h.publisher().PublishBatch(ctx, msgs)
	require.Error(t, err)
	require.Equal(t, uint64(0), msgCount(t, s))

	// A batch on a stream without atomic publish is refused, not stored one by one.
	plain := h.stream(t, "PLAIN", "plain.>")
	_, err = h.publisher().PublishBatch(ctx, batchOf(2, "plain.a"))
	require.ErrorContains(t, err, "atomic publish")
	require.Equal(t, uint64(0), msgCount(t, plain))
}

func TestPublishBatchRejectsBadInput(t *testing.T) {
	h := newHarness(t)
	p := h.publisher()
	ctx := context.Background()
	_, err := p.PublishBatch(ctx, nil)
	require.ErrorContains(t, err, "no messages")
	_, err = p.PublishBatch(ctx, batchOf(MaxBatch+1, "batch.a"))
	require.ErrorContains(t, err, "more than the 1000")
	msgs := batchOf(2, "batch.a")
	msgs[1].MsgID = ""
	_, err = p.PublishBatch(ctx, msgs)
	require.ErrorContains(t, err, "message 1 has no id")
}

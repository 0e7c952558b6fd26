package bus

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
)

func TestScheduleFiresOnceAtTheLatestTime(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	_, err := h.js.CreateStream(ctx, jetstream.StreamConfig{
		Name: "WAKE", Subjects: []string{"wake.>"}, AllowMsgSchedules: true, MaxMsgsPerSubject: 1,
	})
	require.NoError(t, err)
	cons, err := h.js.CreateConsumer(ctx, "WAKE", jetstream.ConsumerConfig{FilterSubject: "wake.due.>", AckPolicy: jetstream.AckExplicitPolicy})
	require.NoError(t, err)

	start := time.Now()
	// A later schedule on the same subject replaces the earlier one.
	require.NoError(t, Schedule(ctx, h.js, "wake.at.inc-1", "wake.due.inc-1", start.Add(time.Hour), []byte("first")))
	require.NoError(t, Schedule(ctx, h.js, "wake.at.inc-1", "wake.due.inc-1", start.Add(1500*time.Millisecond), []byte("second")))
	// A time in the past fires at once.
	require.NoError(t, Schedule(ctx, h.js, "wake.at.inc-2", "wake.due.inc-2", start.Add(-time.Hour), []byte("late")))

	var got []string
	var at []time.Duration
	deadline := time.Now().Add(6 * time.Second)
	for time.Now().Before(deadline) && len(got) < 2 {
		batch, err := cons.Fetch(1, jetstream.FetchMaxWait(500*time.Millisecond))
		require.NoError(t, err)
		for m := range batch.Messages() {
			got = append(got, m.Subject()+"="+string(m.Data()))
			at = append(at, time.Since(start))
			require.NoError(t, m.Ack())
		}
	}
	require.Equal(t, []string{"wake.due.inc-2=late", "wake.due.inc-1=second"}, got, "each subject fires once, with its latest schedule")
	require.GreaterOrEqual(t, at[1], 1500*time.Millisecond, "not before its time")

	err = Schedule(ctx, h.js, "nowhere.at.x", "nowhere.due.x", start, nil)
	require.ErrorContains(t, err, "schedule nowhere.due.x")
}

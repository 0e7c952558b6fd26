package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/amsproject/ams/pkg/bus"
	"github.com/amsproject/ams/pkg/config"
	"github.com/amsproject/ams/pkg/natstest"
	"github.com/amsproject/ams/pkg/servicetest"
	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/escalation/app"
)

// start runs escalation on a real JetStream with the streams it follows,
// and then shortens the ESCALATIONS duplicate window to 200ms, so the test
// sees what happens to an event announced again after the window (10
// minutes in production) without waiting for it.
func start(t *testing.T) (jetstream.JetStream, *bus.Publisher) {
	t.Helper()
	srv := natstest.RunServer(t)
	_, js := natstest.Connect(t, srv)
	ctx := context.Background()
	for name, subjects := range map[string][]string{"INCIDENTS": {"ams.incident.>"}, "ACTIONS": {"ams.action.>"}} {
		_, err := bus.EnsureStream(ctx, js, jetstream.StreamConfig{Name: name, Subjects: subjects, Duplicates: time.Minute})
		require.NoError(t, err)
	}
	require.NoError(t, bus.EnsureDeadLetter(ctx, js, 1))
	e, err := app.New(config.Default(), servicetest.Deps(js))
	require.NoError(t, err)
	servicetest.Run(t, e)
	s, err := js.Stream(ctx, app.EscalationsStream)
	require.NoError(t, err)
	cfg := s.CachedInfo().Config
	cfg.Duplicates = 200 * time.Millisecond
	_, err = js.UpdateStream(ctx, cfg)
	require.NoError(t, err)
	return js, bus.NewPublisher(js, "test", noop.NewTracerProvider())
}

func count(t *testing.T, js jetstream.JetStream, subject string) uint64 {
	t.Helper()
	s, err := js.Stream(context.Background(), app.EscalationsStream)
	require.NoError(t, err)
	info, err := s.Info(context.Background(), jetstream.WithSubjectFilter(subject))
	require.NoError(t, err)
	var n uint64
	for _, c := range info.State.Subjects {
		n += c
	}
	return n
}

func completed(id, incident string, outcome amsv1.ActionOutcome, storm string) *amsv1.ActionResult {
	return &amsv1.ActionResult{
		Id: id, Tenant: "acme", IncidentId: incident, Event: amsv1.ActionEvent_ACTION_EVENT_COMPLETED,
		Outcome: outcome, Reason: "test", StormId: storm,
	}
}

// TestOnePagePerIncidentAndStorm: an incident is paged once, however late
// its next update comes, and a storm is paged once, by its first incident,
// however long it lasts — past the bus's duplicate window in both cases.
func TestOnePagePerIncidentAndStorm(t *testing.T) {
	js, pub := start(t)
	ctx := context.Background()
	const escalated = "ams.escalation.escalated.acme"

	_, err := pub.Publish(ctx, "ams.action.completed.acme", "a-1", completed("act-inc-1", "inc-1", amsv1.ActionOutcome_ACTION_OUTCOME_UNRESOLVED, ""))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return count(t, js, escalated) == 1 }, 10*time.Second, 10*time.Millisecond)

	// Storm: the first incident pages for it.
	_, err = pub.Publish(ctx, "ams.action.completed.acme", "a-2", completed("act-inc-2", "inc-2", amsv1.ActionOutcome_ACTION_OUTCOME_SKIPPED, "storm-acme-1"))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return count(t, js, escalated) == 2 }, 10*time.Second, 10*time.Millisecond)

	time.Sleep(400 * time.Millisecond) // past the shortened duplicate window

	// A later update of inc-1 (it resolves) announces the resolution only;
	// a later incident of the same storm does not page again.
	_, err = pub.Publish(ctx, "ams.incident.resolved.acme", "i-1", &amsv1.IncidentEvent{Incident: &amsv1.Incident{
		Id: "inc-1", Tenant: "acme", State: amsv1.IncidentState_INCIDENT_STATE_RESOLVED,
	}})
	require.NoError(t, err)
	_, err = pub.Publish(ctx, "ams.action.completed.acme", "a-3", completed("act-inc-3", "inc-3", amsv1.ActionOutcome_ACTION_OUTCOME_SKIPPED, "storm-acme-1"))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return count(t, js, "ams.escalation.resolved.acme") == 1 }, 10*time.Second, 10*time.Millisecond)
	// inc-3's outcome is handled once the consumer has nothing pending.
	require.Eventually(t, func() bool {
		c, err := js.Consumer(ctx, "ACTIONS", "escalation-actions")
		if err != nil {
			return false
		}
		info, err := c.Info(ctx)
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0
	}, 10*time.Second, 10*time.Millisecond)
	require.EqualValues(t, 2, count(t, js, escalated), "one page for inc-1, one for the storm")
}

package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/amsproject/ams/pkg/bus"
	"github.com/amsproject/ams/pkg/config"
	"github.com/amsproject/ams/pkg/natstest"
	"github.com/amsproject/ams/pkg/servicetest"
	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/ticketing/app"
)

// TestActionBeforeItsIncident: an action result that overtakes its
// incident event opens the ticket from the snapshot it carries; one whose
// snapshot is of an incident that never opened is retried, not a crash.
func TestActionBeforeItsIncident(t *testing.T) {
	srv := natstest.RunServer(t)
	_, js := natstest.Connect(t, srv)
	ctx := context.Background()
	for name, subjects := range map[string][]string{"INCIDENTS": {"ams.incident.>"}, "ACTIONS": {"ams.action.>"}} {
		_, err := bus.EnsureStream(ctx, js, jetstream.StreamConfig{Name: name, Subjects: subjects, Duplicates: time.Minute})
		require.NoError(t, err)
	}
	require.NoError(t, bus.EnsureDeadLetter(ctx, js, 1))
	w, err := app.New(config.Default(), servicetest.Deps(js))
	require.NoError(t, err)
	servicetest.Run(t, w)
	pub := bus.NewPublisher(js, "test", noop.NewTracerProvider())

	// Never opened: no ticket, and the process keeps going.
	_, err = pub.Publish(ctx, "ams.action.completed.acme", "a-1", &amsv1.ActionResult{
		Id: "act-inc-1", Tenant: "acme", IncidentId: "inc-1", Event: amsv1.ActionEvent_ACTION_EVENT_COMPLETED,
		Incident: &amsv1.Incident{Id: "inc-1", Tenant: "acme"},
	})
	require.NoError(t, err)
	// Opened: the ticket starts from the snapshot.
	_, err = pub.Publish(ctx, "ams.action.started.acme", "a-2", &amsv1.ActionResult{
		Id: "act-inc-2", Tenant: "acme", IncidentId: "inc-2", Event: amsv1.ActionEvent_ACTION_EVENT_STARTED, Runbook: "disk-full",
		Incident: &amsv1.Incident{Id: "inc-2", Tenant: "acme", Title: "Disk full", ActivatedAt: timestamppb.Now()},
	})
	require.NoError(t, err)
	tickets, err := js.KeyValue(ctx, app.TicketsBucket)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		_, err := tickets.Get(ctx, "acme.tkt-2")
		return err == nil
	}, 10*time.Second, 10*time.Millisecond)
	_, err = tickets.Get(ctx, "acme.tkt-1")
	require.ErrorIs(t, err, jetstream.ErrKeyNotFound)
	require.NoError(t, w.Ready(), "still running")
}

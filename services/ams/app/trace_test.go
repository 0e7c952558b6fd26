package app_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/metadata"

	"github.com/amsproject/ams/pkg/natstest"
	amsv1 "github.com/amsproject/ams/proto/ams/v1"
)

// TestApprovalDecisionJoinsTheCallersTrace: an admin call that carries a
// trace (W3C traceparent in its gRPC metadata, as an instrumented client
// sends it) publishes its approval decision in that same trace, so the
// executor's handling of the decision joins the operator's action.
func TestApprovalDecisionJoinsTheCallersTrace(t *testing.T) {
	srv := natstest.RunServer(t)
	_, js := natstest.Connect(t, srv)
	inst := start(t, testConfig(t, srv.ClientURL(), ""))
	ctx := context.Background()

	// A run waiting for approval of its reboot step, as the executor records it.
	runs, err := js.KeyValue(ctx, "executor-runs")
	require.NoError(t, err)
	_, err = runs.Put(ctx, "demo.inc-1", []byte(`{"tenant":"demo","incident":"inc-1","runbook":"ec2-status","started_at":"2026-05-01T12:00:00Z","next":1,"waiting":{"step":"reboot","since":"2026-05-01T12:00:00Z","deadline":"2126-05-01T12:15:00Z"}}`))
	require.NoError(t, err)

	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	call := metadata.AppendToOutgoingContext(ctx, "traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	resp, err := admin(t, inst.grpcAddr).DecideApproval(call, &amsv1.DecideApprovalRequest{Tenant: "demo", IncidentId: "inc-1", Approve: true, By: "bob"})
	require.NoError(t, err)
	require.Equal(t, "reboot", resp.GetStep())

	s, err := js.Stream(ctx, "EXECUTOR_CONTROL")
	require.NoError(t, err)
	raw, err := s.GetLastMsgForSubject(ctx, "ams.executor.decision.demo.inc-1")
	require.NoError(t, err)
	carrier := propagation.MapCarrier{"traceparent": raw.Header.Get("traceparent")}
	sc := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(ctx, carrier))
	require.True(t, sc.IsValid(), "the decision carries a trace: %v", raw.Header)
	require.Equal(t, traceID, sc.TraceID().String())
}

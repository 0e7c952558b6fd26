package awsstep_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/amsproject/ams/services/executor/internal/step"
	"github.com/amsproject/ams/services/executor/sandbox/awsfake"
)

// TestSSMCancelledWhenTheStepTimesOut: a command still running when the
// step's time runs out is cancelled, once, and the outcome stays unknown.
func TestSSMCancelledWhenTheStepTimesOut(t *testing.T) {
	e := newEnv(t)
	e.addDocument(t, awsfake.Document{Name: "AMS-Hangs", InProgressPolls: -1})
	_, err := e.runner.SSM(ctx(t), "acme", e.acme, acmeWeb, "AMS-Hangs", nil, 300*time.Millisecond)
	require.True(t, step.IsUnknownOutcome(err), "got %v", err)
	require.ErrorContains(t, err, "cancel requested")
	cmds := e.fake.Commands()
	require.Len(t, cmds, 1, "sent once")
	require.True(t, cmds[0].Cancelled)
	cancels := e.fake.CallsOf("CancelCommand")
	require.Len(t, cancels, 1)
	require.Equal(t, acmeAccount, cancels[0].Account, "cancelled through the tenant's role")
	require.Equal(t, []string{acmeWeb}, cancels[0].InstanceIDs)
}

// TestSSMNotCancelledWhenTheExecutorStops: when the run itself is stopped
// (the replica shuts down), the command is left alone for the replica that
// takes the run over to verify.
func TestSSMNotCancelledWhenTheExecutorStops(t *testing.T) {
	e := newEnv(t)
	e.addDocument(t, awsfake.Document{Name: "AMS-Hangs", InProgressPolls: -1})
	parent, stop := context.WithCancel(ctx(t))
	go func() {
		// Stopped while the command is being polled: sent, answered, running.
		require.Eventually(t, func() bool { return len(e.fake.CallsOf("GetCommandInvocation")) > 0 }, 10*time.Second, 5*time.Millisecond)
		stop()
	}()
	_, err := e.runner.SSM(parent, "acme", e.acme, acmeWeb, "AMS-Hangs", nil, time.Minute)
	require.True(t, step.IsUnknownOutcome(err), "got %v", err)
	require.NotContains(t, err.Error(), "cancel requested")
	require.NotContains(t, err.Error(), "cancelling it failed")
	require.Empty(t, e.fake.CallsOf("CancelCommand"))
}

// TestSSMCancelFailureIsReported: a CancelCommand that fails does not hide
// the timeout; the error says both.
func TestSSMCancelFailureIsReported(t *testing.T) {
	e := newEnv(t)
	e.addDocument(t, awsfake.Document{Name: "AMS-Hangs", InProgressPolls: -1})
	e.fake.Inject(awsfake.Fault{Operation: "CancelCommand", Kind: awsfake.ServerError, Times: 10})
	_, err := e.runner.SSM(ctx(t), "acme", e.acme, acmeWeb, "AMS-Hangs", nil, 300*time.Millisecond)
	require.True(t, step.IsUnknownOutcome(err), "got %v", err)
	require.ErrorContains(t, err, "still InProgress")
	require.ErrorContains(t, err, "cancelling it failed")
}

// TestValuesAWSCannotCarryAreRefused: a value that JSON or CBOR would not
// carry unchanged is refused before anything is sent.
func TestValuesAWSCannotCarryAreRefused(t *testing.T) {
	e := newEnv(t)
	e.addDocument(t, awsfake.Document{Name: "AMS-Echo", Parameters: []awsfake.DocumentParameter{{Name: "P"}}})
	for _, v := range []string{"web-01\xff", "a\x00b"} {
		_, err := e.runner.SSM(ctx(t), "acme", e.acme, acmeWeb, "AMS-Echo", map[string]string{"P": v}, time.Minute)
		require.ErrorContains(t, err, "nothing was sent", "%q", v)
		_, err = e.runner.CloudWatch(ctx(t), "acme", e.acme, "AWS/EC2", "CPUUtilization", map[string]string{"InstanceId": v}, "Average", time.Minute, time.Hour)
		require.ErrorContains(t, err, "nothing was sent", "%q", v)
	}
	require.Empty(t, e.fake.Calls(), "not even STS was asked")
}

package awsstep_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/amsproject/ams/services/executor/internal/step"
	"github.com/amsproject/ams/services/executor/sandbox/awsfake"
)

func TestEC2Status(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		instance string
		ok       bool
		output   string
	}{
		{acmeWeb, true, "state running, instance status ok, system status ok"},
		{acmeDB, false, "state running, instance status impaired, system status ok"},
		{acmeStopped, false, "state stopped, instance status not-applicable, system status not-applicable"},
	}
	for _, tc := range cases {
		t.Run(tc.instance, func(t *testing.T) {
			res, err := e.runner.EC2(ctx(t), "acme", e.acme, "status", tc.instance, 5*time.Second)
			require.NoError(t, err)
			require.Equal(t, tc.ok, res.OK)
			require.Equal(t, tc.output, res.Output)
			require.Equal(t, tc.instance, res.Target)
			if tc.ok {
				require.Zero(t, res.ExitCode)
			} else {
				require.Equal(t, 1, res.ExitCode)
			}
		})
	}
}

func TestEC2RebootRecovers(t *testing.T) {
	e := newEnv(t)
	res, err := e.runner.EC2(ctx(t), "acme", e.acme, "reboot", acmeDB, 5*time.Second)
	require.NoError(t, err)
	require.True(t, res.OK)
	require.Contains(t, res.Output, "reboot of "+acmeDB+" accepted")
	in, _ := e.fake.Instance(acmeDB)
	require.Equal(t, 1, in.Reboots)

	res, err = e.runner.EC2(ctx(t), "acme", e.acme, "status", acmeDB, 5*time.Second)
	require.NoError(t, err)
	require.True(t, res.OK, res.Output)
}

func TestEC2Start(t *testing.T) {
	e := newEnv(t)
	res, err := e.runner.EC2(ctx(t), "acme", e.acme, "start", acmeStopped, 5*time.Second)
	require.NoError(t, err)
	require.True(t, res.OK)
	require.Equal(t, "start of "+acmeStopped+" accepted: stopped -> pending", res.Output)
	in, _ := e.fake.Instance(acmeStopped)
	require.Equal(t, 1, in.Starts)

	res, err = e.runner.EC2(ctx(t), "acme", e.acme, "status", acmeStopped, 5*time.Second)
	require.NoError(t, err)
	require.True(t, res.OK, res.Output)
}

func TestEC2RefusedAction(t *testing.T) {
	e := newEnv(t)
	_, err := e.runner.EC2(ctx(t), "acme", e.acme, "reboot", acmeStopped, 5*time.Second)
	require.ErrorContains(t, err, "IncorrectInstanceState")
	require.False(t, step.IsUnknownOutcome(err), "EC2 refused it: nothing happened")

	calls := len(e.fake.Calls())
	_, err = e.runner.EC2(ctx(t), "acme", e.acme, "terminate", acmeWeb, 5*time.Second)
	require.ErrorContains(t, err, "want reboot, start or status")
	require.Len(t, e.fake.Calls(), calls, "an unknown action asks nothing of AWS")
}

func TestEC2ActionOutcomeUnknown(t *testing.T) {
	cases := []struct {
		name        string
		action, op  string
		instance    string
		fault       awsfake.FaultKind
		wantApplied int
	}{
		{"reboot, connection dropped", "reboot", "RebootInstances", acmeDB, awsfake.DropConnection, 1},
		{"reboot, server error", "reboot", "RebootInstances", acmeDB, awsfake.ServerError, 0},
		{"start, connection dropped", "start", "StartInstances", acmeStopped, awsfake.DropConnection, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.fake.Inject(awsfake.Fault{Operation: tc.op, Kind: tc.fault})
			_, err := e.runner.EC2(ctx(t), "acme", e.acme, tc.action, tc.instance, 5*time.Second)
			require.True(t, step.IsUnknownOutcome(err), "got %v", err)
			require.Len(t, e.fake.CallsOf(tc.op), 1, "an action is never re-sent by the SDK's retryer")
			require.Equal(t, tc.wantApplied, e.applied(tc.op))
			in, _ := e.fake.Instance(tc.instance)
			require.Equal(t, tc.wantApplied, in.Reboots+in.Starts)
		})
	}
}

func TestEC2ReadsRetryServerErrors(t *testing.T) {
	e := newEnv(t)
	e.fake.Inject(awsfake.Fault{Operation: "DescribeInstanceStatus", Kind: awsfake.ServerError})
	e.fake.Inject(awsfake.Fault{Operation: "DescribeInstances", Kind: awsfake.DropConnection})
	res, err := e.runner.EC2(ctx(t), "acme", e.acme, "status", acmeWeb, 5*time.Second)
	require.NoError(t, err)
	require.True(t, res.OK)
	require.Len(t, e.fake.CallsOf("DescribeInstanceStatus"), 2)
	require.Len(t, e.fake.CallsOf("DescribeInstances"), 2)
}

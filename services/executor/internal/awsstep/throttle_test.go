package awsstep_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/amsproject/ams/services/executor/internal/step"
	"github.com/amsproject/ams/services/executor/sandbox/awsfake"
)

// TestThrottlingRetried throttles one operation of each wire protocol twice
// with 429 + Retry-After and checks the SDK's retryer waited as told and
// the step then succeeded.
func TestThrottlingRetried(t *testing.T) {
	const retryAfter = 50 * time.Millisecond
	cases := []struct {
		op  string // protocol
		run func(*env) (step.Result, error)
	}{
		{"AssumeRole", func(e *env) (step.Result, error) { // STS query, XML
			return e.runner.EC2(ctx(t), "acme", e.acme, "status", acmeWeb, 5*time.Second)
		}},
		{"DescribeInstances", func(e *env) (step.Result, error) { // EC2 query, XML
			return e.runner.EC2(ctx(t), "acme", e.acme, "status", acmeWeb, 5*time.Second)
		}},
		{"SendCommand", func(e *env) (step.Result, error) { // awsJson1.1
			return e.runner.SSM(ctx(t), "acme", e.acme, acmeWeb, "AMS-RestartService", nil, 5*time.Second)
		}},
		{"RebootInstances", func(e *env) (step.Result, error) { // an action: a throttled request did not act
			return e.runner.EC2(ctx(t), "acme", e.acme, "reboot", acmeWeb, 5*time.Second)
		}},
		{"GetMetricData", func(e *env) (step.Result, error) { // RPC v2 CBOR
			return e.runner.CloudWatch(ctx(t), "acme", e.acme, "AWS/EC2", "CPUUtilization", map[string]string{"InstanceId": acmeWeb}, "Average", time.Minute, 0)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.op, func(t *testing.T) {
			e := newEnv(t)
			e.addDocument(t, awsfake.Document{Name: "AMS-RestartService"})
			e.fake.AddDatapoints(acmeAccount, "AWS/EC2", "CPUUtilization", map[string]string{"InstanceId": acmeWeb},
				awsfake.Datapoint{Time: time.Now().Add(-2 * time.Minute), Value: 42})
			e.fake.Inject(awsfake.Fault{Operation: tc.op, Kind: awsfake.Throttle, Times: 2, RetryAfter: retryAfter})

			start := time.Now()
			res, err := tc.run(e)
			require.NoError(t, err)
			require.True(t, res.OK, res.Output)
			require.GreaterOrEqual(t, time.Since(start), 2*retryAfter, "the retryer waits as x-amz-retry-after says")

			calls := e.fake.CallsOf(tc.op)
			require.Len(t, calls, 3)
			require.Equal(t, 429, calls[0].Status)
			require.Equal(t, 429, calls[1].Status)
			require.Equal(t, 200, calls[2].Status)
		})
	}
}

func TestThrottlingPersists(t *testing.T) {
	e := newEnv(t)
	e.addDocument(t, awsfake.Document{Name: "AMS-RestartService"})
	e.fake.Inject(awsfake.Fault{Operation: "SendCommand", Kind: awsfake.Throttle, Times: 100, RetryAfter: time.Millisecond})
	_, err := e.runner.SSM(ctx(t), "acme", e.acme, acmeWeb, "AMS-RestartService", nil, 5*time.Second)
	require.ErrorContains(t, err, "kept throttling")
	require.ErrorContains(t, err, "ThrottlingException")
	require.False(t, step.IsUnknownOutcome(err), "a throttled SendCommand did not run")
	require.Len(t, e.fake.CallsOf("SendCommand"), 3, "the retryer's max attempts")
	require.Empty(t, e.fake.Commands())
}

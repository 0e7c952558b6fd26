package awsstep_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/amsproject/ams/services/executor/sandbox/awsfake"
)

func TestCloudWatch(t *testing.T) {
	e := newEnv(t)
	now := time.Now().Truncate(time.Minute)
	cpu := map[string]string{"InstanceId": acmeWeb}
	// One sample a minute for the last 20 minutes: the one k minutes ago is 10+k.
	for k := 1; k <= 20; k++ {
		e.fake.AddDatapoints(acmeAccount, "AWS/EC2", "CPUUtilization", cpu, awsfake.Datapoint{Time: now.Add(-time.Duration(k) * time.Minute), Value: float64(10 + k)})
	}
	// The same load balancer name in beta's account must stay invisible to acme.
	alb := map[string]string{"LoadBalancer": "app/web/1234567890abcdef"}
	e.fake.AddDatapoints(betaAccount, "AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", alb, awsfake.Datapoint{Time: now.Add(-time.Minute), Value: 99})

	t.Run("newest value of one-minute averages", func(t *testing.T) {
		res, err := e.runner.CloudWatch(ctx(t), "acme", e.acme, "AWS/EC2", "CPUUtilization", cpu, "Average", time.Minute, 0)
		require.NoError(t, err)
		require.True(t, res.OK)
		require.Equal(t, 11.0, res.Value)
		require.Zero(t, res.ExitCode)
		require.Equal(t, "AWS/EC2 CPUUtilization InstanceId="+acmeWeb, res.Target)
		require.Contains(t, res.Output, "AWS/EC2 CPUUtilization (Average, 1m0s): newest 11 at "+now.Add(-time.Minute).UTC().Format(time.RFC3339))
		for k := 1; k <= 5; k++ {
			require.Contains(t, res.Output, now.Add(-time.Duration(k)*time.Minute).UTC().Format(time.RFC3339))
		}
		require.NotContains(t, res.Output, now.Add(-6*time.Minute).UTC().Format(time.RFC3339), "only the newest few")
	})

	t.Run("five-minute maximum over the lookback", func(t *testing.T) {
		res, err := e.runner.CloudWatch(ctx(t), "acme", e.acme, "AWS/EC2", "CPUUtilization", cpu, "Maximum", 5*time.Minute, 30*time.Minute)
		require.NoError(t, err)
		require.True(t, res.OK)
		// The newest five-minute bucket holds the samples from its start
		// up to now; its maximum is the oldest of them.
		bucketStart := time.Unix(now.Unix()/300*300, 0)
		oldestInBucket := 10 + int(now.Sub(bucketStart)/time.Minute)
		if now.Equal(bucketStart) {
			// No sample falls in the current bucket: the newest is the previous one.
			oldestInBucket = 15
		}
		require.Equal(t, float64(oldestInBucket), res.Value, res.Output)
	})

	t.Run("no datapoints", func(t *testing.T) {
		res, err := e.runner.CloudWatch(ctx(t), "acme", e.acme, "AWS/EC2", "StatusCheckFailed", cpu, "Maximum", time.Minute, 0)
		require.NoError(t, err)
		require.False(t, res.OK)
		require.Equal(t, 1, res.ExitCode)
		require.Contains(t, res.Output, "no datapoints in the last 10m0s", "the default lookback is at least ten minutes")
	})

	t.Run("another account's metric is not visible", func(t *testing.T) {
		res, err := e.runner.CloudWatch(ctx(t), "acme", e.acme, "AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", alb, "Sum", time.Minute, 0)
		require.NoError(t, err)
		require.False(t, res.OK)

		res, err = e.runner.CloudWatch(ctx(t), "beta", e.beta, "AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", alb, "Sum", time.Minute, 0)
		require.NoError(t, err)
		require.True(t, res.OK)
		require.Equal(t, 99.0, res.Value)
	})

	t.Run("a bad statistic is CloudWatch's error", func(t *testing.T) {
		_, err := e.runner.CloudWatch(ctx(t), "acme", e.acme, "AWS/EC2", "CPUUtilization", cpu, "Median", time.Minute, 0)
		require.ErrorContains(t, err, "InvalidParameterValue")
	})

	for _, c := range e.fake.CallsOf("GetMetricData") {
		require.Equal(t, "monitoring", c.Service)
	}
}

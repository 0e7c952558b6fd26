package awsstep_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/amsproject/ams/pkg/config"
	"github.com/amsproject/ams/services/executor/internal/step"
	"github.com/amsproject/ams/services/executor/sandbox/awsfake"
)

func TestCheckInstance(t *testing.T) {
	e := newEnv(t)
	otherOwner := *e.acme
	otherOwner.Accounts = []string{"333333333333"}
	cases := []struct {
		name     string
		acct     *config.ExecutorAWS
		instance string
		reason   string // empty: the instance is the tenant's
	}{
		{"own instance with the tag", e.acme, acmeWeb, ""},
		{"instance of another account", e.acme, betaWeb, "not found in the tenant's account 111111111111"},
		{"unknown instance", e.acme, "i-00000000000000000", "not found in the tenant's account 111111111111"},
		{"tag missing", e.acme, acmeUntag, `tag Customer is missing, want "acme"`},
		{"tag of another tenant", e.acme, acmeWrong, `tag Customer is "beta", not "acme"`},
		{"owner not among the tenant's accounts", &otherOwner, acmeWeb, "owned by account 111111111111, not the tenant's (333333333333)"},
		{"not an instance id", e.acme, "i-123; reboot", "not an EC2 instance id"},
		{"other tenant's own instance", e.beta, betaWeb, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := e.runner.CheckInstance(ctx(t), "acme", tc.acct, tc.instance)
			if tc.reason == "" {
				require.NoError(t, err)
				return
			}
			require.True(t, step.IsOutsideTenant(err), "want OutsideTenantError, got %v", err)
			require.ErrorContains(t, err, tc.reason)
		})
	}
}

// TestTenantIsolationNothingSent runs every acting step on instances that
// are not acme's and checks the fake never saw an action.
func TestTenantIsolationNothingSent(t *testing.T) {
	e := newEnv(t)
	e.addDocument(t, awsfake.Document{Name: "AMS-RestartService"})
	for _, instance := range []string{betaWeb, acmeUntag, acmeWrong, "i-0000000000000000z"} {
		t.Run(instance, func(t *testing.T) {
			_, err := e.runner.SSM(ctx(t), "acme", e.acme, instance, "AMS-RestartService", nil, 5*time.Second)
			require.True(t, step.IsOutsideTenant(err), "ssm: %v", err)
			for _, action := range []string{"reboot", "start", "status"} {
				_, err := e.runner.EC2(ctx(t), "acme", e.acme, action, instance, 5*time.Second)
				require.True(t, step.IsOutsideTenant(err), "ec2 %s: %v", action, err)
			}
			_, err = e.runner.CloudWatch(ctx(t), "acme", e.acme, "AWS/EC2", "CPUUtilization", map[string]string{"InstanceId": instance}, "Average", time.Minute, 0)
			require.True(t, step.IsOutsideTenant(err), "cloudwatch: %v", err)
		})
	}
	for _, op := range []string{"SendCommand", "RebootInstances", "StartInstances", "DescribeInstanceStatus", "GetMetricData"} {
		require.Empty(t, e.fake.CallsOf(op), "%s must not be called for another tenant's instance", op)
	}
	require.Empty(t, e.fake.Commands())
	in, _ := e.fake.Instance(betaWeb)
	require.Zero(t, in.Reboots)
}

func TestAssumeRoleWithExternalIDPerTenant(t *testing.T) {
	e := newEnv(t)
	for range 3 {
		require.NoError(t, e.runner.CheckInstance(ctx(t), "acme", e.acme, acmeWeb))
	}
	require.NoError(t, e.runner.CheckInstance(ctx(t), "beta", e.beta, betaWeb))

	calls := e.fake.AssumeRoleCalls()
	require.Equal(t, []awsfake.AssumeRoleCall{
		{RoleARN: acmeRole, ExternalID: acmeExtID, SessionName: "ams-executor-acme", Accepted: true},
		{RoleARN: betaRole, ExternalID: betaExtID, SessionName: "ams-executor-beta", Accepted: true},
	}, calls, "one session per tenant, cached, each with its own ExternalId")

	// Each tenant's EC2 calls were made in its own account.
	for _, c := range e.fake.CallsOf("DescribeInstances") {
		want := acmeAccount
		if c.InstanceIDs[0] == betaWeb {
			want = betaAccount
		}
		require.Equal(t, want, c.Account)
	}
}

func TestWrongExternalID(t *testing.T) {
	e := newEnv(t)
	e.addDocument(t, awsfake.Document{Name: "AMS-RestartService"})
	wrong := *e.acme
	wrong.ExternalID = "guessed"

	err := e.runner.CheckInstance(ctx(t), "acme", &wrong, acmeWeb)
	require.Error(t, err)
	require.False(t, step.IsOutsideTenant(err), "a refused role is a configuration problem, not a foreign target")
	require.ErrorContains(t, err, acmeRole)
	require.ErrorContains(t, err, "ExternalId")
	require.ErrorContains(t, err, "AccessDenied")

	_, err = e.runner.SSM(ctx(t), "acme", &wrong, acmeWeb, "AMS-RestartService", nil, 5*time.Second)
	require.ErrorContains(t, err, "ExternalId")
	require.False(t, step.IsUnknownOutcome(err), "nothing was sent")
	require.Empty(t, e.fake.CallsOf("SendCommand"))
	for _, c := range e.fake.AssumeRoleCalls() {
		require.False(t, c.Accepted)
		require.Equal(t, "guessed", c.ExternalID)
	}
}

func TestTenantConfigurationErrors(t *testing.T) {
	e := newEnv(t)
	noExt := *e.acme
	noExt.ExternalID = ""
	badRole := *e.acme
	badRole.RoleARN = "ams-executor"
	cases := []struct {
		name string
		acct *config.ExecutorAWS
		want string
	}{
		{"no aws block", nil, "has no aws block"},
		{"no external id", &noExt, "aws.external_id is empty"},
		{"role is not an ARN", &badRole, "is not an IAM role ARN"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := e.runner.CheckInstance(ctx(t), "acme", tc.acct, acmeWeb)
			require.ErrorContains(t, err, tc.want)
		})
	}
	require.Empty(t, e.fake.Calls(), "nothing is asked of AWS with a broken configuration")
}

// TestTenantsInParallel runs both tenants' steps at once; with -race it
// checks the runner's caches, and the fake checks no call crossed accounts.
func TestTenantsInParallel(t *testing.T) {
	e := newEnv(t)
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tenant, acct, instance := "acme", e.acme, acmeWeb
			if i%2 == 1 {
				tenant, acct, instance = "beta", e.beta, betaWeb
			}
			res, err := e.runner.EC2(ctx(t), tenant, acct, "status", instance, 5*time.Second)
			if err == nil && !res.OK {
				err = fmt.Errorf("%s %s not healthy: %s", tenant, instance, res.Output)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	for _, c := range e.fake.CallsOf("DescribeInstanceStatus") {
		if c.InstanceIDs[0] == betaWeb {
			require.Equal(t, betaAccount, c.Account)
		} else {
			require.Equal(t, acmeAccount, c.Account)
		}
	}
	require.Len(t, e.fake.AssumeRoleCalls(), 2, "one AssumeRole per tenant even under concurrency")
}

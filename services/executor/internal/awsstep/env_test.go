package awsstep_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/stretchr/testify/require"

	"github.com/amsproject/ams/pkg/config"
	"github.com/amsproject/ams/services/executor/internal/awsstep"
	"github.com/amsproject/ams/services/executor/sandbox/awsfake"
)

// Two tenants, each with its own account and role. acme's instances carry
// Customer=acme; beta's live in another account.
const (
	mspKey    = "AKIAMSPEXAMPLEKEY01"
	mspSecret = "msp-secret"

	acmeAccount = "111111111111"
	acmeRole    = "arn:aws:iam::111111111111:role/ams-executor"
	acmeExtID   = "acme-7f3e9c"

	betaAccount = "222222222222"
	betaRole    = "arn:aws:iam::222222222222:role/ams-executor"
	betaExtID   = "beta-41d2aa"

	acmeWeb     = "i-0a1b2c3d4e5f60718" // acme, healthy
	acmeDB      = "i-0a1b2c3d4e5f60719" // acme, impaired, recovers on reboot
	acmeStopped = "i-0a1b2c3d4e5f6071a" // acme, stopped
	acmeUntag   = "i-0a1b2c3d4e5f6071b" // acme's account, no Customer tag
	acmeWrong   = "i-0a1b2c3d4e5f6071c" // acme's account, Customer=beta
	betaWeb     = "i-0b1b2c3d4e5f60718" // beta's account
)

type env struct {
	fake   *awsfake.Fake
	runner *awsstep.Runner
	acme   *config.ExecutorAWS
	beta   *config.ExecutorAWS
}

type envOption func(*awsstep.Options, *int)

// withMaxAttempts sets the SDK retryer's attempts (default 3).
func withMaxAttempts(n int) envOption {
	return func(_ *awsstep.Options, attempts *int) { *attempts = n }
}

func withMaxOutput(n int) envOption {
	return func(o *awsstep.Options, _ *int) { o.MaxOutput = n }
}

// newEnv starts the fake behind a real HTTP server and a Runner whose SDK
// clients reach it through BaseEndpoint, signing with the MSP's key.
func newEnv(tb testing.TB, opts ...envOption) *env {
	tb.Helper()
	fake := awsfake.New()
	srv := httptest.NewServer(fake)
	tb.Cleanup(srv.Close)

	fake.AddCaller(mspKey, mspSecret)
	fake.AddRole(acmeRole, acmeExtID)
	fake.AddRole(betaRole, betaExtID)
	acmeTags := map[string]string{"Customer": "acme"}
	fake.AddInstance(awsfake.Instance{ID: acmeWeb, Account: acmeAccount, Tags: map[string]string{"Customer": "acme", "Name": "web-1"}})
	fake.AddInstance(awsfake.Instance{ID: acmeDB, Account: acmeAccount, Tags: acmeTags, InstanceStatus: "impaired", RecoverOnReboot: true})
	fake.AddInstance(awsfake.Instance{ID: acmeStopped, Account: acmeAccount, Tags: acmeTags, State: "stopped"})
	fake.AddInstance(awsfake.Instance{ID: acmeUntag, Account: acmeAccount})
	fake.AddInstance(awsfake.Instance{ID: acmeWrong, Account: acmeAccount, Tags: map[string]string{"Customer": "beta"}})
	fake.AddInstance(awsfake.Instance{ID: betaWeb, Account: betaAccount, Tags: map[string]string{"Customer": "beta"}})

	attempts := 3
	o := awsstep.Options{
		Endpoints:    config.AWSEndpoints{STS: srv.URL, SSM: srv.URL, EC2: srv.URL, CloudWatch: srv.URL},
		PollInterval: 5 * time.Millisecond,
	}
	for _, opt := range opts {
		opt(&o, &attempts)
	}
	o.Base = func(context.Context) (aws.Config, error) {
		return aws.Config{
			Region: "eu-west-1",
			Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
				return aws.Credentials{AccessKeyID: mspKey, SecretAccessKey: mspSecret, Source: "test"}, nil
			}),
			// The SDK's standard retryer, with a backoff short enough for
			// tests; x-amz-retry-after from the fake still stretches it.
			Retryer: func() aws.Retryer {
				return retry.NewStandard(func(so *retry.StandardOptions) {
					so.MaxAttempts = attempts
					so.MaxBackoff = 5 * time.Millisecond
				})
			},
		}, nil
	}
	return &env{
		fake:   fake,
		runner: awsstep.New(o),
		acme:   &config.ExecutorAWS{RoleARN: acmeRole, ExternalID: acmeExtID, Region: "eu-west-1", Tags: acmeTags},
		beta:   &config.ExecutorAWS{RoleARN: betaRole, ExternalID: betaExtID, Region: "eu-west-1", Tags: map[string]string{"Customer": "beta"}},
	}
}

// addDocument registers an SSM document in acme's account.
func (e *env) addDocument(tb testing.TB, d awsfake.Document) {
	tb.Helper()
	require.NoError(tb, e.fake.AddDocument(acmeAccount, d))
}

// applied counts the calls of op that changed state in the fake.
func (e *env) applied(op string) int {
	n := 0
	for _, c := range e.fake.CallsOf(op) {
		if c.Applied {
			n++
		}
	}
	return n
}

func ctx(tb testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	tb.Cleanup(cancel)
	return c
}

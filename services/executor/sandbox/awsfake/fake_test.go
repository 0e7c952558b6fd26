package awsfake_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/fxamacker/cbor/v2"
	"github.com/stretchr/testify/require"

	"github.com/amsproject/ams/services/executor/sandbox/awsfake"
)

const (
	callerKey    = "AKIACALLEREXAMPLE01"
	callerSecret = "caller-secret"
	account      = "123456789012"
	roleARN      = "arn:aws:iam::123456789012:role/ams-executor"
	externalID   = "ext-123"
	instanceID   = "i-0123456789abcdef0"
)

func newFake(tb testing.TB) (*awsfake.Fake, string) {
	tb.Helper()
	f := awsfake.New()
	f.AddCaller(callerKey, callerSecret)
	f.AddRole(roleARN, externalID)
	f.AddInstance(awsfake.Instance{ID: instanceID, Account: account, Tags: map[string]string{"Customer": "acme"}})
	srv := httptest.NewServer(f)
	tb.Cleanup(srv.Close)
	return f, srv.URL
}

// baseConfig signs as the caller, without retries so each call is one request.
func baseConfig(secret string) aws.Config {
	return aws.Config{
		Region: "us-east-1",
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: callerKey, SecretAccessKey: secret}, nil
		}),
		Retryer: func() aws.Retryer { return aws.NopRetryer{} },
	}
}

// roleConfig is a configuration with the role's credentials from the fake's STS.
func roleConfig(url, extID string) aws.Config {
	base := baseConfig(callerSecret)
	stsClient := sts.NewFromConfig(base, func(o *sts.Options) { o.BaseEndpoint = aws.String(url) })
	cfg := base.Copy()
	cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(stsClient, roleARN, func(o *stscreds.AssumeRoleOptions) {
		o.ExternalID = aws.String(extID)
		o.RoleSessionName = "ams-test"
	}))
	return cfg
}

func apiError(tb testing.TB, err error) (code string, status int) {
	tb.Helper()
	var ae smithy.APIError
	require.True(tb, errors.As(err, &ae), "want an API error, got %v", err)
	var re *smithyhttp.ResponseError
	require.True(tb, errors.As(err, &re), "want an HTTP response, got %v", err)
	return ae.ErrorCode(), re.HTTPStatusCode()
}

// TestUnsignedRejected posts unsigned requests of each protocol and checks
// the refusal comes in that protocol's own error shape.
func TestUnsignedRejected(t *testing.T) {
	_, url := newFake(t)
	post := func(path string, header map[string]string, body []byte) (*http.Response, []byte) {
		req, err := http.NewRequest(http.MethodPost, url+path, bytes.NewReader(body))
		require.NoError(t, err)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp, data
	}

	t.Run("awsJson1.1", func(t *testing.T) {
		resp, body := post("/", map[string]string{"X-Amz-Target": "AmazonSSM.SendCommand", "Content-Type": "application/x-amz-json-1.1"}, []byte(`{}`))
		require.Equal(t, http.StatusBadRequest, resp.StatusCode)
		var e map[string]string
		require.NoError(t, json.Unmarshal(body, &e))
		require.Equal(t, "MissingAuthenticationTokenException", e["__type"])
	})
	t.Run("ec2 query", func(t *testing.T) {
		resp, body := post("/", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, []byte("Action=RebootInstances&Version=2016-11-15&InstanceId.1="+instanceID))
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		var e struct {
			XMLName xml.Name `xml:"Response"`
			Code    string   `xml:"Errors>Error>Code"`
		}
		require.NoError(t, xml.Unmarshal(body, &e))
		require.Equal(t, "MissingAuthenticationToken", e.Code)
	})
	t.Run("sts query", func(t *testing.T) {
		resp, body := post("/", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, []byte("Action=AssumeRole&Version=2011-06-15&RoleArn="+roleARN))
		require.Equal(t, http.StatusForbidden, resp.StatusCode)
		var e struct {
			XMLName xml.Name `xml:"ErrorResponse"`
			Code    string   `xml:"Error>Code"`
		}
		require.NoError(t, xml.Unmarshal(body, &e))
		require.Equal(t, "MissingAuthenticationToken", e.Code)
	})
	t.Run("rpc v2 cbor", func(t *testing.T) {
		in, err := cbor.Marshal(map[string]any{"MetricDataQueries": []any{}})
		require.NoError(t, err)
		resp, body := post("/service/GraniteServiceVersion20100801/operation/GetMetricData",
			map[string]string{"Smithy-Protocol": "rpc-v2-cbor", "Content-Type": "application/cbor"}, in)
		require.Equal(t, http.StatusForbidden, resp.StatusCode)
		require.Equal(t, "application/cbor", resp.Header.Get("Content-Type"))
		require.Equal(t, "MissingAuthenticationToken;Sender", resp.Header.Get("X-Amzn-Query-Error"))
		var e map[string]string
		require.NoError(t, cbor.Unmarshal(body, &e))
		require.Equal(t, "com.amazonaws.cloudwatch#MissingAuthenticationToken", e["__type"])
	})
}

func TestSignatureChecked(t *testing.T) {
	f, url := newFake(t)

	// STS with the right key id but the wrong secret.
	stsClient := sts.NewFromConfig(baseConfig("not-the-secret"), func(o *sts.Options) { o.BaseEndpoint = aws.String(url) })
	_, err := stsClient.AssumeRole(context.Background(), &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), ExternalId: aws.String(externalID), RoleSessionName: aws.String("x1")})
	code, status := apiError(t, err)
	require.Equal(t, "SignatureDoesNotMatch", code)
	require.Equal(t, http.StatusForbidden, status)

	// EC2 signed with the caller's long-term key: only role sessions act in an account.
	ec2Client := ec2.NewFromConfig(baseConfig(callerSecret), func(o *ec2.Options) { o.BaseEndpoint = aws.String(url) })
	_, err = ec2Client.DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{})
	code, status = apiError(t, err)
	require.Equal(t, "AuthFailure", code)
	require.Equal(t, http.StatusUnauthorized, status)

	require.Empty(t, f.AssumeRoleCalls(), "a badly signed AssumeRole is not even considered")
}

func TestAssumeRole(t *testing.T) {
	f, url := newFake(t)
	ctx := context.Background()

	wrong := ec2.NewFromConfig(roleConfig(url, "guess"), func(o *ec2.Options) { o.BaseEndpoint = aws.String(url) })
	_, err := wrong.DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	code, status := apiError(t, err)
	require.Equal(t, "AccessDenied", code)
	require.Equal(t, http.StatusForbidden, status)

	right := ec2.NewFromConfig(roleConfig(url, externalID), func(o *ec2.Options) { o.BaseEndpoint = aws.String(url) })
	out, err := right.DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	require.NoError(t, err)
	require.Len(t, out.Reservations, 1)
	require.Equal(t, account, aws.ToString(out.Reservations[0].OwnerId))
	require.Equal(t, instanceID, aws.ToString(out.Reservations[0].Instances[0].InstanceId))
	require.Equal(t, "Customer", aws.ToString(out.Reservations[0].Instances[0].Tags[0].Key))

	require.Equal(t, []awsfake.AssumeRoleCall{
		{RoleARN: roleARN, ExternalID: "guess", SessionName: "ams-test", Accepted: false},
		{RoleARN: roleARN, ExternalID: externalID, SessionName: "ams-test", Accepted: true},
	}, f.AssumeRoleCalls())
}

func TestEC2Filters(t *testing.T) {
	f, url := newFake(t)
	f.AddInstance(awsfake.Instance{ID: "i-0123456789abcdef1", Account: account, State: "stopped"})
	f.AddInstance(awsfake.Instance{ID: "i-0123456789abcdef2", Account: "999999999999"})
	c := ec2.NewFromConfig(roleConfig(url, externalID), func(o *ec2.Options) { o.BaseEndpoint = aws.String(url) })
	ctx := context.Background()

	out, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{{Name: aws.String("instance-id"), Values: []string{"i-0123456789abcdef1", "i-0123456789abcdef2"}}}})
	require.NoError(t, err)
	require.Len(t, out.Reservations, 1, "another account's instance is not listed")
	require.Equal(t, ec2types.InstanceStateNameStopped, out.Reservations[0].Instances[0].State.Name)

	_, err = c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{"i-0123456789abcdef2"}})
	code, _ := apiError(t, err)
	require.Equal(t, "InvalidInstanceID.NotFound", code, "as AWS answers for an instance of another account")

	_, err = c.RebootInstances(ctx, &ec2.RebootInstancesInput{InstanceIds: []string{"i-0123456789abcdef2"}})
	code, _ = apiError(t, err)
	require.Equal(t, "InvalidInstanceID.NotFound", code)
	other, _ := f.Instance("i-0123456789abcdef2")
	require.Zero(t, other.Reboots)

	st, err := c.DescribeInstanceStatus(ctx, &ec2.DescribeInstanceStatusInput{})
	require.NoError(t, err)
	require.Len(t, st.InstanceStatuses, 1, "without IncludeAllInstances only running instances")
	require.Equal(t, ec2types.SummaryStatusOk, st.InstanceStatuses[0].InstanceStatus.Status)
}

func TestSSMWire(t *testing.T) {
	f, url := newFake(t)
	require.NoError(t, f.AddDocument(account, awsfake.Document{
		Name:       "AMS-Echo",
		Parameters: []awsfake.DocumentParameter{{Name: "text", AllowedPattern: `^[a-z ]+$`}},
		Run: func(env map[string]string) (string, string, int) {
			return strings.Repeat("x", 30000), env["SSM_text"], 2
		},
	}))
	c := ssm.NewFromConfig(roleConfig(url, externalID), func(o *ssm.Options) { o.BaseEndpoint = aws.String(url) })
	ctx := context.Background()

	_, err := c.SendCommand(ctx, &ssm.SendCommandInput{DocumentName: aws.String("AMS-Echo"), InstanceIds: []string{instanceID}, Parameters: map[string][]string{"text": {"Bad!"}}})
	code, status := apiError(t, err)
	require.Equal(t, "InvalidParameters", code)
	require.Equal(t, http.StatusBadRequest, status)

	_, err = c.SendCommand(ctx, &ssm.SendCommandInput{DocumentName: aws.String("AMS-Echo"), InstanceIds: []string{instanceID}, Parameters: map[string][]string{"text": {"hi"}}, TimeoutSeconds: aws.Int32(10)})
	code, _ = apiError(t, err)
	require.Equal(t, "ValidationException", code, "SSM wants a delivery timeout of 30s at least")

	sent, err := c.SendCommand(ctx, &ssm.SendCommandInput{DocumentName: aws.String("AMS-Echo"), InstanceIds: []string{instanceID}, Parameters: map[string][]string{"text": {"hello world"}}})
	require.NoError(t, err)
	require.Equal(t, "Pending", string(sent.Command.Status))
	require.WithinDuration(t, time.Now(), aws.ToTime(sent.Command.RequestedDateTime), time.Minute)

	inv, err := c.GetCommandInvocation(ctx, &ssm.GetCommandInvocationInput{CommandId: sent.Command.CommandId, InstanceId: aws.String(instanceID)})
	require.NoError(t, err)
	require.Equal(t, "Failed", string(inv.Status))
	require.EqualValues(t, 2, inv.ResponseCode)
	require.Len(t, aws.ToString(inv.StandardOutputContent), 24000, "SSM keeps the first 24000 characters of stdout")
	require.Equal(t, "hello world", aws.ToString(inv.StandardErrorContent))

	_, err = c.GetCommandInvocation(ctx, &ssm.GetCommandInvocationInput{CommandId: aws.String("00000000-0000-0000-0000-000000000000"), InstanceId: aws.String(instanceID)})
	code, _ = apiError(t, err)
	require.Equal(t, "InvocationDoesNotExist", code)
}

func TestGetMetricDataCBOR(t *testing.T) {
	f, url := newFake(t)
	start := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	dims := map[string]string{"InstanceId": instanceID}
	for i, v := range []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10} {
		f.AddDatapoints(account, "AWS/EC2", "CPUUtilization", dims, awsfake.Datapoint{Time: start.Add(time.Duration(i) * 30 * time.Second), Value: v})
	}
	c := cloudwatch.NewFromConfig(roleConfig(url, externalID), func(o *cloudwatch.Options) { o.BaseEndpoint = aws.String(url) })
	query := func(stat string) (*cloudwatch.GetMetricDataOutput, error) {
		return c.GetMetricData(context.Background(), &cloudwatch.GetMetricDataInput{
			StartTime: aws.Time(start), EndTime: aws.Time(start.Add(10 * time.Minute)),
			MetricDataQueries: []cwtypes.MetricDataQuery{{
				Id: aws.String("cpu"),
				MetricStat: &cwtypes.MetricStat{
					Metric: &cwtypes.Metric{Namespace: aws.String("AWS/EC2"), MetricName: aws.String("CPUUtilization"),
						Dimensions: []cwtypes.Dimension{{Name: aws.String("InstanceId"), Value: aws.String(instanceID)}}},
					Period: aws.Int32(120), Stat: aws.String(stat),
				},
			}},
		})
	}
	out, err := query("Sum")
	require.NoError(t, err)
	require.Len(t, out.MetricDataResults, 1)
	r := out.MetricDataResults[0]
	require.Equal(t, cwtypes.StatusCodeComplete, r.StatusCode)
	require.Equal(t, []float64{9 + 10, 5 + 6 + 7 + 8, 1 + 2 + 3 + 4}, r.Values, "two-minute sums, newest first")
	require.Equal(t, []time.Time{start.Add(4 * time.Minute), start.Add(2 * time.Minute), start}, utc(r.Timestamps))

	out, err = query("p50")
	require.NoError(t, err)
	require.Equal(t, []float64{9, 6, 2}, out.MetricDataResults[0].Values)

	_, err = query("Median")
	code, status := apiError(t, err)
	require.Equal(t, "InvalidParameterValue", code, "the awsQuery code from x-amzn-query-error")
	require.Equal(t, http.StatusBadRequest, status)

	f.Inject(awsfake.Fault{Operation: "GetMetricData", Kind: awsfake.Throttle, RetryAfter: time.Second})
	_, err = query("Sum")
	code, status = apiError(t, err)
	require.Equal(t, "Throttling", code)
	require.Equal(t, http.StatusTooManyRequests, status)
}

func utc(ts []time.Time) []time.Time {
	out := make([]time.Time, len(ts))
	for i, t := range ts {
		out[i] = t.UTC()
	}
	return out
}

func TestDropConnectionApplies(t *testing.T) {
	f, url := newFake(t)
	f.Inject(awsfake.Fault{Operation: "RebootInstances", Kind: awsfake.DropConnection})
	c := ec2.NewFromConfig(roleConfig(url, externalID), func(o *ec2.Options) { o.BaseEndpoint = aws.String(url) })
	_, err := c.RebootInstances(context.Background(), &ec2.RebootInstancesInput{InstanceIds: []string{instanceID}})
	require.Error(t, err)
	var sendErr *smithyhttp.RequestSendError
	require.True(t, errors.As(err, &sendErr), "no answer at all: %v", err)

	in, _ := f.Instance(instanceID)
	require.Equal(t, 1, in.Reboots, "the reboot happened; only its answer was lost")
	calls := f.CallsOf("RebootInstances")
	require.Len(t, calls, 1)
	require.Equal(t, awsfake.Call{Service: "ec2", Operation: "RebootInstances", Account: account, InstanceIDs: []string{instanceID}, Status: 0, Applied: true, Fault: "drop-connection"}, calls[0])
}

// TestSTSOpenWithoutCallers is the sandbox's mode: with no caller added,
// any well-signed AssumeRole is considered, and the ExternalId still counts.
func TestSTSOpenWithoutCallers(t *testing.T) {
	f := awsfake.New()
	f.AddRole(roleARN, externalID)
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c := sts.NewFromConfig(baseConfig("any-secret"), func(o *sts.Options) { o.BaseEndpoint = aws.String(srv.URL) })
	ctx := context.Background()

	out, err := c.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), ExternalId: aws.String(externalID), RoleSessionName: aws.String("ams-executor-acme")})
	require.NoError(t, err)
	require.Equal(t, "arn:aws:sts::123456789012:assumed-role/ams-executor/ams-executor-acme", aws.ToString(out.AssumedRoleUser.Arn))
	require.True(t, strings.HasPrefix(aws.ToString(out.Credentials.AccessKeyId), "ASIA"))

	_, err = c.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("ams-executor-acme")})
	code, _ := apiError(t, err)
	require.Equal(t, "AccessDenied", code, "no ExternalId, no session")
}

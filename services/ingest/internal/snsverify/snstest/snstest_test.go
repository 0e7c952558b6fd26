package snstest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/amsproject/ams/services/ingest/internal/snsverify"
	"github.com/amsproject/ams/services/ingest/internal/snsverify/snstest"
)

const (
	topic = "arn:aws:sns:us-east-1:123456789012:ams-alarms"
	alarm = `{"AlarmName":"ServerCpuTooHigh","NewStateValue":"ALARM","NewStateReason":"Threshold Crossed: 1 datapoint [99.5] > 80 & rising <fast>"}`
)

// verify parses and verifies body as the app does, on the real clock.
func verify(t *testing.T, sns *snstest.Fake, body []byte) *snsverify.Message {
	t.Helper()
	v, err := snsverify.New(snsverify.Options{Client: sns.Client()})
	require.NoError(t, err)
	m, err := snsverify.Parse(body)
	require.NoError(t, err)
	require.NoError(t, v.Verify(context.Background(), m))
	return m
}

func TestNotification(t *testing.T) {
	sns := snstest.New(t)
	published := time.Now().Add(-time.Second)

	body := sns.Notification(t, topic, alarm, published)
	m := verify(t, sns, body)
	require.Equal(t, snsverify.TypeNotification, m.Type)
	require.Equal(t, topic, m.TopicArn)
	require.Equal(t, alarm, m.Message)
	require.Equal(t, "2", m.SignatureVersion)
	require.Equal(t, snstest.CertURL, m.SigningCertURL)
	require.Equal(t, published.UTC().Truncate(time.Millisecond), m.Published)
	require.False(t, m.HasSubject)
	require.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, m.MessageID)
	require.True(t, strings.HasPrefix(m.UnsubscribeURL, "https://"+snstest.Host+"/?Action=Unsubscribe&SubscriptionArn="+topic+":"))
	require.True(t, strings.HasPrefix(string(body), `{"Type":"Notification","MessageId":`), "SNS's field order: %s", body)
	require.Contains(t, string(body), `& rising <fast>`, "no HTML escaping, as SNS")
	require.Equal(t, 1, sns.Requests(snstest.CertPath))
	require.Equal(t, 1, sns.TotalRequests())
	require.Equal(t, 1, sns.Dials())

	again := verify(t, sns, sns.Notification(t, topic, alarm, published))
	require.NotEqual(t, m.MessageID, again.MessageID, "a fresh MessageId each time")

	t.Run("options", func(t *testing.T) {
		m := verify(t, sns, sns.Notification(t, topic, alarm, published,
			snstest.MessageID("redelivered"), snstest.SignatureV1(), snstest.Subject(`ALARM: "ServerCpuTooHigh" in US East (N. Virginia)`)))
		require.Equal(t, "redelivered", m.MessageID)
		require.Equal(t, "1", m.SignatureVersion)
		require.True(t, m.HasSubject)
		require.Equal(t, `ALARM: "ServerCpuTooHigh" in US East (N. Virginia)`, m.Subject)

		m = verify(t, sns, sns.Notification(t, topic, alarm, published, snstest.Subject("")))
		require.True(t, m.HasSubject, "an empty Subject is sent and signed")
	})
}

func TestSubscriptionConfirmation(t *testing.T) {
	sns := snstest.New(t)
	v, err := snsverify.New(snsverify.Options{Client: sns.Client()})
	require.NoError(t, err)
	m, err := snsverify.Parse(sns.SubscriptionConfirmation(t, topic, time.Now(), snstest.MessageID("c-1")))
	require.NoError(t, err)
	require.Equal(t, snsverify.TypeSubscriptionConfirmation, m.Type)
	require.Equal(t, "c-1", m.MessageID)
	require.Equal(t, "2", m.SignatureVersion)
	require.NotEmpty(t, m.Token)
	require.Equal(t, "https://"+snstest.Host+"/?Action=ConfirmSubscription&TopicArn="+topic+"&Token="+m.Token, m.SubscribeURL)
	require.NoError(t, v.Verify(context.Background(), m))
	require.Zero(t, sns.Confirmations())
	require.NoError(t, v.Confirm(context.Background(), m))
	require.Equal(t, 1, sns.Confirmations())
	require.Equal(t, 1, sns.Requests("/"))

	other, err := snsverify.Parse(sns.SubscriptionConfirmation(t, topic, time.Now(), snstest.SignatureV1()))
	require.NoError(t, err)
	require.NotEqual(t, m.Token, other.Token, "a fresh Token each time")
	require.NotEqual(t, m.MessageID, other.MessageID)
	require.NoError(t, v.Verify(context.Background(), other))
}

func TestSign(t *testing.T) {
	sns := snstest.New(t)
	fields := map[string]string{
		"Type": snsverify.TypeUnsubscribeConfirmation, "MessageId": "u-1", "Token": "t",
		"TopicArn": topic, "Message": "unsubscribed", "Timestamp": snstest.Timestamp(time.Now()),
		"SubscribeURL":     "https://" + snstest.Host + "/?Action=ConfirmSubscription&TopicArn=" + topic + "&Token=t",
		"SignatureVersion": "1", "SigningCertURL": snstest.CertURL, "Signature": "replaced",
	}
	body := sns.Sign(t, fields)
	require.Equal(t, "replaced", fields["Signature"], "fields is not modified")
	var got map[string]string
	require.NoError(t, json.Unmarshal(body, &got))
	require.NotEqual(t, "replaced", got["Signature"])
	m := verify(t, sns, body)
	require.Equal(t, "u-1", m.MessageID)
}

func TestFakeServing(t *testing.T) {
	sns := snstest.New(t)
	get := func(url string) (int, error) {
		resp, err := sns.Client().Get(url)
		if err != nil {
			return 0, err
		}
		_ = resp.Body.Close()
		return resp.StatusCode, nil
	}

	sns.Handle("/broken.pem", http.NotFoundHandler())
	code, err := get("https://" + snstest.Host + "/broken.pem")
	require.NoError(t, err)
	require.Equal(t, http.StatusNotFound, code)
	require.Equal(t, 1, sns.Requests("/broken.pem"), "handled paths are counted")

	code, err = get("https://" + snstest.Host + "/other.pem")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code, "every .pem path serves the certificate")

	_, err = get("https://sns.eu-west-1.amazonaws.com/x.pem")
	require.ErrorContains(t, err, "fake SNS: refusing to dial sns.eu-west-1.amazonaws.com:443")
	require.Equal(t, 2, sns.TotalRequests())

	t.Run("At", func(t *testing.T) {
		then := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
		sns := snstest.New(t, snstest.At(then))
		v, err := snsverify.New(snsverify.Options{Client: sns.Client(), Now: func() time.Time { return then }})
		require.NoError(t, err)
		m, err := snsverify.Parse(sns.Notification(t, topic, alarm, then.Add(-time.Minute)))
		require.NoError(t, err)
		require.NoError(t, v.Verify(context.Background(), m))
	})
}

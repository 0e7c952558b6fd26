package app_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/amsproject/ams/services/ingest/internal/snsverify/snstest"
)

// alarmMessage is the CloudWatch alarm JSON inside the documented SNS sample.
func alarmMessage(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "testdata", "cloudwatch", "sns_alarm.json"))
	require.NoError(t, err)
	var env struct{ Message string }
	require.NoError(t, json.Unmarshal(raw, &env))
	require.NotEmpty(t, env.Message)
	return env.Message
}

func postSNS(t *testing.T, h *harness, msgType string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.url+"/v1/webhooks/acme-cloudwatch", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "text/plain; charset=UTF-8") // what SNS sends
	req.Header.Set("X-Amz-Sns-Message-Type", msgType)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func TestSNSDeliveries(t *testing.T) {
	sns := snstest.New(t, snstest.At(testNow))
	h := newHarnessWith(t, samplesConfig(t), sns.Client())
	h.run()
	published := testNow.Add(-time.Minute)

	// Subscribing: AMS confirms by visiting the SubscribeURL, stores nothing.
	code, body := postSNS(t, h, "SubscriptionConfirmation", sns.SubscriptionConfirmation(t, sampleTopic, published))
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, "confirmed")
	require.Equal(t, 1, sns.Confirmations())
	require.Empty(t, h.stored(t))

	// A genuine notification is stored; SNS re-delivering it stores nothing new.
	note := sns.Notification(t, sampleTopic, alarmMessage(t), published, snstest.MessageID("11111111-2222-3333-4444-555555555555"))
	code, body = postSNS(t, h, "Notification", note)
	require.Equal(t, http.StatusAccepted, code, body)
	code, body = postSNS(t, h, "Notification", note)
	require.Equal(t, http.StatusAccepted, code, body)
	require.Contains(t, body, `"duplicates":1`)
	require.Len(t, h.stored(t), 1)
	require.Equal(t, "11111111-2222-3333-4444-555555555555", h.stored(t)[0].alert.GetDedupKey())

	forged := bytes.Replace(sns.Notification(t, sampleTopic, alarmMessage(t), published), []byte(`ALARM`), []byte(`OK`), 1)
	otherTopic := sns.Notification(t, "arn:aws:sns:us-east-1:123456789012:someone-else", alarmMessage(t), published)
	stale := sns.Notification(t, sampleTopic, alarmMessage(t), testNow.Add(-2*time.Hour))
	for name, tc := range map[string]struct {
		msgType string
		body    []byte
		code    int
		want    string
	}{
		"tampered message":       {"Notification", forged, http.StatusUnauthorized, "Signature: does not match"},
		"topic not allowed":      {"Notification", otherTopic, http.StatusUnauthorized, "someone-else"},
		"replayed after an hour": {"Notification", stale, http.StatusUnauthorized, "Timestamp"},
		"not an SNS envelope":    {"Notification", []byte(`{"hello":"world"}`), http.StatusBadRequest, ""},
	} {
		code, body := postSNS(t, h, tc.msgType, tc.body)
		require.Equal(t, tc.code, code, "%s: %s", name, body)
		require.Contains(t, body, tc.want, name)
	}
	require.Len(t, h.stored(t), 1, "nothing forged, foreign, stale or malformed is stored")
}

package app_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/PagerDuty/go-pagerduty"
	"github.com/stretchr/testify/require"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	pdwebhook "github.com/amsproject/ams/services/ingest/internal/source/pagerduty"
)

// TestEventsAPIWithGoPagerDuty points the go-pagerduty client, unmodified
// but for its documented endpoint option, at ingest's /v2/enqueue.
func TestEventsAPIWithGoPagerDuty(t *testing.T) {
	h := newHarnessWith(t, samplesConfig(t), nil)
	h.run()
	client := pagerduty.NewClient("unused-rest-token", pagerduty.WithV2EventsAPIEndpoint(h.url))
	ctx := context.Background()

	resp, err := client.ManageEventWithContext(ctx, &pagerduty.V2Event{
		RoutingKey: "samplekeyhere",
		Action:     "trigger",
		Payload: &pagerduty.V2Payload{
			Summary: "disk 95% full on db-1", Source: "db-1.example.com", Severity: "critical",
			Component: "postgres", Group: "prod-db", Class: "disk",
			Details: map[string]any{"free_gb": 2.5},
		},
	})
	require.NoError(t, err)
	require.Equal(t, "success", resp.Status)
	require.NotEmpty(t, resp.DedupKey, "a trigger without dedup_key gets one back")

	_, err = client.ManageEventWithContext(ctx, &pagerduty.V2Event{RoutingKey: "samplekeyhere", Action: "resolve", DedupKey: resp.DedupKey})
	require.NoError(t, err)

	msgs := h.stored(t)
	require.Len(t, msgs, 2)
	for _, m := range msgs {
		require.Equal(t, "acme", m.alert.GetTenant(), "the routing key names the tenant's integration")
		require.Equal(t, resp.DedupKey, m.alert.GetFingerprint())
		require.NotContains(t, string(m.alert.GetRawPayload()), "samplekeyhere", "the routing key is not kept")
	}
	require.Equal(t, amsv1.AlertStatus_ALERT_STATUS_FIRING, msgs[0].alert.GetStatus())
	require.Equal(t, amsv1.Severity_SEVERITY_CRITICAL, msgs[0].alert.GetSeverity())
	require.Equal(t, "db-1.example.com", msgs[0].alert.GetResource().GetHost())
	require.Equal(t, amsv1.AlertStatus_ALERT_STATUS_RESOLVED, msgs[1].alert.GetStatus())

	// An unknown routing key and an invalid event are refused as PagerDuty
	// refuses them, and store nothing.
	_, err = client.ManageEventWithContext(ctx, &pagerduty.V2Event{RoutingKey: "not-a-known-key", Action: "trigger",
		Payload: &pagerduty.V2Payload{Summary: "s", Source: "h", Severity: "info"}})
	// go-pagerduty's Client reads error bodies in its REST shape, so it
	// reports the status alone, as it does against PagerDuty itself.
	var apiErr pagerduty.APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, http.StatusBadRequest, apiErr.StatusCode)
	_, err = client.ManageEventWithContext(ctx, &pagerduty.V2Event{RoutingKey: "samplekeyhere", Action: "trigger",
		Payload: &pagerduty.V2Payload{Summary: "s", Source: "h", Severity: "urgent"}})
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, http.StatusBadRequest, apiErr.StatusCode)
	require.Len(t, h.stored(t), 2)
}

func TestPagerDutyWebhookSignatures(t *testing.T) {
	h := newHarnessWith(t, samplesConfig(t), nil)
	h.run()
	body, err := os.ReadFile(filepath.Join("..", "testdata", "pagerduty", "triggered.json"))
	require.NoError(t, err)
	ping, err := os.ReadFile(filepath.Join("..", "testdata", "pagerduty-ping", "ping.json"))
	require.NoError(t, err)
	post := func(body []byte, signature string) (int, string) {
		req, err := http.NewRequest(http.MethodPost, h.url+"/v1/webhooks/acme-pagerduty", bytes.NewReader(body))
		require.NoError(t, err)
		if signature != "" {
			req.Header.Set(pdwebhook.HeaderSignature, signature)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String()
	}

	code, out := post(ping, pdwebhook.Sign(ping, "acme-pagerduty-secret"))
	require.Equal(t, http.StatusOK, code, out)
	require.Contains(t, out, `"ignored":"ping"`)

	// During rotation PagerDuty signs with the old and the new secret.
	code, out = post(body, pdwebhook.Sign(body, "retired-secret-1", "acme-pagerduty-secret"))
	require.Equal(t, http.StatusAccepted, code, out)

	for name, sig := range map[string]string{
		"no signature":        "",
		"another secret":      pdwebhook.Sign(body, "someone-elses-secret"),
		"signature of a ping": pdwebhook.Sign(ping, "acme-pagerduty-secret"),
		"not v1":              "v2=" + pdwebhook.Sign(body, "acme-pagerduty-secret")[3:],
	} {
		code, out := post(body, sig)
		require.Equal(t, http.StatusUnauthorized, code, "%s: %s", name, out)
	}
	require.Len(t, h.stored(t), 1)
}

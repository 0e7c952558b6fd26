package app_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/amsproject/ams/pkg/config"
	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/ingest/internal/snsverify/snstest"
	"github.com/amsproject/ams/services/ingest/internal/source/pagerduty"
	"github.com/amsproject/ams/services/ingest/internal/source/pdevents"
)

// sampleTopic is the SNS topic the cloudwatch integration allows; the fake
// SNS serves us-east-1.
const sampleTopic = "arn:aws:sns:us-east-1:123456789012:ams-alarms"

// samplesConfig has tenant acme with one integration per source, named
// acme-<source> as in the goldens.
func samplesConfig(tb testing.TB) *config.File {
	tb.Helper()
	cfg := config.Default()
	cfg.NATS.URL = "nats://127.0.0.1:4222"
	var ins []config.Integration
	for _, src := range []string{"alertmanager", "generic", "datadog", "grafana", "mackerel", "zabbix"} {
		ins = append(ins, config.Integration{Name: "acme-" + src, Source: src, Tokens: []string{"acme-" + src + "-secret"}})
	}
	ins = append(ins, config.Integration{Name: "acme-cloudwatch", Source: "cloudwatch",
		Tokens: []string{"acme-cloudwatch-secret"}, TopicARNs: []string{sampleTopic}},
		config.Integration{Name: "acme-pagerduty", Source: "pagerduty", SigningSecrets: []string{"acme-pagerduty-secret"}},
		// The routing keys written in PagerDuty's documented samples.
		config.Integration{Name: "acme-pdevents", Source: "pagerduty-events",
			RoutingKeys: []string{"routingkeyhere", "samplekeyhere", "e93facc04764012d7bfb002500d5d1a6"}})
	cfg.Tenants = []config.Tenant{{ID: "acme", Integrations: ins}}
	require.NoError(tb, cfg.Validate())
	return cfg
}

// TestEverySampleThroughHTTP sends each source's documented sample to its
// integration over a real socket, authenticated the way that tool does it,
// and expects the stored alerts to be the sample's golden alerts.
func TestEverySampleThroughHTTP(t *testing.T) {
	sns := snstest.New(t, snstest.At(testNow))
	h := newHarnessWith(t, samplesConfig(t), sns.Client())
	h.run()
	seen := 0
	for _, src := range []string{"alertmanager", "generic", "datadog", "grafana", "mackerel", "zabbix", "cloudwatch", "pagerduty", "pdevents"} {
		files, err := filepath.Glob(filepath.Join("..", "testdata", src, "*.json"))
		require.NoError(t, err)
		require.NotEmpty(t, files, src)
		for _, file := range files {
			name := strings.TrimSuffix(filepath.Base(file), ".json")
			t.Run(src+"/"+name, func(t *testing.T) {
				body, err := os.ReadFile(file)
				require.NoError(t, err)
				req, stored := sampleRequest(t, h, sns, src, name, body)
				resp, err := http.DefaultClient.Do(req)
				require.NoError(t, err)
				defer resp.Body.Close()
				var out struct {
					AlertIDs []string `json:"alert_ids"`
					Error    string   `json:"error"`
					DedupKey string   `json:"dedup_key"` // the Events API's answer
					Errors   []string `json:"errors"`
				}
				require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
				require.Equal(t, http.StatusAccepted, resp.StatusCode, "%s %v", out.Error, out.Errors)

				want := readGolden(t, src+"_"+name)
				var got []*amsv1.Alert
				for _, m := range h.stored(t) {
					if bytes.Equal(m.alert.GetRawPayload(), stored) {
						got = append(got, m.alert)
					}
				}
				require.Len(t, got, len(want), "alerts stored from this sample")
				for i, a := range got {
					if src == "pdevents" {
						require.Equal(t, a.GetFingerprint(), out.DedupKey, "the answer names the alert's dedup_key")
						a.Source = want[i].GetSource() // goldens name the package; the source type is pagerduty-events
						if name == "trigger_no_dedup_key" {
							a.Fingerprint = want[i].GetFingerprint() // generated at random
						}
					} else {
						require.Equal(t, out.AlertIDs[i], a.GetId(), "alert_ids are in stream order")
					}
					a.Id, a.RawPayload = want[i].GetId(), nil
					require.Equal(t, protojson.Format(want[i]), protojson.Format(a))
				}
				seen++
			})
		}
	}
	require.GreaterOrEqual(t, seen, 29)
}

// sampleRequest builds the request a tool would send with the sample body,
// and returns the body ingest should keep as the raw payload.
func sampleRequest(t *testing.T, h *harness, sns *snstest.Fake, src, name string, body []byte) (*http.Request, []byte) {
	t.Helper()
	url := h.url + "/v1/webhooks/acme-" + src
	header := http.Header{}
	stored := body
	switch {
	case src == "pdevents":
		url = h.url + "/v2/enqueue"
		stored = pdevents.RedactRoutingKey(body) // a routing key is a credential
	case src == "pagerduty":
		header.Set(pagerduty.HeaderSignature, pagerduty.Sign(body, "acme-pagerduty-secret"))
		if name == "triggered" { // as the golden was made
			header.Set(pagerduty.HeaderWebhookID, "7a5a1bd4-5b3b-4c0c-9d8f-6a0f7c1e2d3b")
			header.Set(pagerduty.HeaderSubscription, "PY1OQ8Z")
		}
	case src == "cloudwatch" && strings.HasPrefix(name, "sns_"):
		// SNS signs with its own key: re-sign the documented envelope as
		// the fake SNS, with a fresh timestamp.
		body = resignSNS(t, sns, body)
		stored = body
		header.Set("X-Amz-Sns-Message-Type", "Notification")
	default:
		header.Set("Authorization", "Bearer acme-"+src+"-secret")
	}
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header = header
	req.Header.Set("Content-Type", "application/json")
	return req, stored
}

// readGolden reads testdata/golden/<name>.json.
func readGolden(t *testing.T, name string) []*amsv1.Alert {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "testdata", "golden", name+".json"))
	require.NoError(t, err)
	var items []json.RawMessage
	require.NoError(t, json.Unmarshal(raw, &items))
	out := make([]*amsv1.Alert, len(items))
	for i, it := range items {
		out[i] = &amsv1.Alert{}
		require.NoError(t, protojson.Unmarshal(it, out[i]))
	}
	return out
}

// resignSNS signs the fields of a documented SNS envelope as the fake SNS,
// for the allowed topic and published a minute before the test clock.
func resignSNS(t *testing.T, sns *snstest.Fake, body []byte) []byte {
	t.Helper()
	var fields map[string]string
	require.NoError(t, json.Unmarshal(body, &fields))
	fields["TopicArn"] = sampleTopic
	fields["Timestamp"] = snstest.Timestamp(testNow.Add(-time.Minute))
	fields["SignatureVersion"] = "2"
	fields["SigningCertURL"] = snstest.CertURL
	delete(fields, "Signature")
	return sns.Sign(t, fields)
}

func TestPullSourceTakesNoRequests(t *testing.T) {
	cfg := samplesConfig(t)
	cfg.Tenants[0].Integrations = append(cfg.Tenants[0].Integrations, config.Integration{Name: "acme-dx", Source: "awsdx",
		AWS: &config.AWSAccount{RoleARN: "arn:aws:iam::123456789012:role/ams-monitor", ExternalID: "acme-ext", Regions: []string{"ap-northeast-1"}}})
	require.NoError(t, cfg.Validate())
	h := newHarnessWith(t, cfg, nil)
	r := h.post(t, "acme-dx", "anything", []byte(`{"summary":"s"}`))
	require.Equal(t, http.StatusNotFound, r.status)
	require.Equal(t, `integration "acme-dx" is a pull source (awsdx): AMS polls it, and nothing can be posted to it`, r.Body.Error)
}

package app_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/amsproject/ams/pkg/config"
	"github.com/amsproject/ams/pkg/natstest"
	"github.com/amsproject/ams/pkg/service"
	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/ingest/app"
	"github.com/amsproject/ams/services/ingest/internal/publish"
)

func TestWebhookStoresAlerts(t *testing.T) {
	tests := []struct {
		name        string
		integration string
		token       string
		body        []byte
		tenant      string
		source      string
		wantN       int
	}{
		{"alertmanager firing", "acme-am", tokenAcme, readSample(t, "alertmanager/firing.json"), "acme", "alertmanager", 2},
		{"alertmanager resolved with the rotated-out token", "acme-am", tokenAcmeOld, readSample(t, "alertmanager/resolved.json"), "acme", "alertmanager", 1},
		{"generic batch", "acme-generic", tokenAcmeGeneric, readSample(t, "generic/batch.json"), "acme", "generic", 3},
		{"generic single for another tenant", "beta-generic", tokenBeta, readSample(t, "generic/single.json"), "beta", "generic", 1},
		{"the payload cannot choose the tenant", "beta-generic", tokenBeta,
			[]byte(`{"summary":"s","labels":{"tenant":"acme"},"annotations":{"tenant":"acme"}}`), "beta", "generic", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := start(t)
			r := h.post(t, tt.integration, tt.token, tt.body)
			require.Equal(t, http.StatusAccepted, r.status, r.Body.Error)
			require.Equal(t, tt.wantN, r.Body.Accepted)
			require.Zero(t, r.Body.Duplicates)
			require.Len(t, r.Body.AlertIDs, tt.wantN)

			msgs := h.stored(t)
			require.Len(t, msgs, tt.wantN)
			for i, m := range msgs {
				a := m.alert
				require.Equal(t, "ams.alert.received."+tt.tenant, m.subject)
				require.Equal(t, publish.MsgID(a), m.msgID)
				require.True(t, strings.HasPrefix(m.msgID, "alert:"))
				require.Equal(t, r.Body.AlertIDs[i], a.GetId(), "alert_ids are in stream order")
				require.Equal(t, tt.tenant, a.GetTenant())
				require.Equal(t, tt.integration, a.GetIntegration())
				require.Equal(t, tt.source, a.GetSource())
				require.NotEmpty(t, a.GetFingerprint())
				require.Contains(t, []amsv1.AlertStatus{amsv1.AlertStatus_ALERT_STATUS_FIRING, amsv1.AlertStatus_ALERT_STATUS_RESOLVED}, a.GetStatus())
				require.Equal(t, testNow, a.GetReceivedAt().AsTime(), "received_at comes from deps.Now")
				require.Equal(t, tt.body, a.GetRawPayload())
			}
			require.Equal(t, float64(tt.wantN), h.metric(t, "ams_ingest_alerts_accepted_total", map[string]string{"integration": tt.integration}))
			require.Equal(t, float64(1), h.metric(t, "ams_ingest_request_duration_seconds", map[string]string{"integration": tt.integration}))
		})
	}
}

func TestWebhookRejects(t *testing.T) {
	valid := readSample(t, "generic/single.json")
	tests := []struct {
		name        string
		integration string
		token       string
		body        []byte
		wantStatus  int
		wantErr     string // substring of the JSON error
		wantReason  string
		wantLabel   string // integration label on the rejection metric
	}{
		{"missing token", "acme-generic", "", valid, http.StatusUnauthorized, "missing or invalid credential", "unauthorized", "acme-generic"},
		{"wrong token", "acme-generic", "acme-token-guess", valid, http.StatusUnauthorized, "missing or invalid credential", "unauthorized", "acme-generic"},
		{"another tenant's token", "acme-generic", tokenBeta, valid, http.StatusUnauthorized, "missing or invalid credential", "unauthorized", "acme-generic"},
		{"unknown integration", "nope", tokenAcme, valid, http.StatusNotFound, `no integration named "nope"`, "unknown_integration", ""},
		{"malformed JSON", "acme-generic", tokenAcmeGeneric, []byte("{\n  \"summary\": \"x\",\n}"), http.StatusBadRequest, "invalid JSON at line 3, column 1", "bad_request", "acme-generic"},
		{"invalid field", "acme-generic", tokenAcmeGeneric,
			[]byte(`{"alerts":[{"summary":"a"},{"summary":"b"},{"summary":"c","status":"fring"}]}`),
			http.StatusBadRequest, `alerts[2].status: "fring" is not firing or resolved`, "bad_request", "acme-generic"},
		{"alertmanager payload of the wrong version", "acme-am", tokenAcme, []byte(`{"version":"3","alerts":[]}`),
			http.StatusBadRequest, `version: "3" is not supported`, "bad_request", "acme-am"},
		{"oversized body", "acme-generic", tokenAcmeGeneric, oversized(16<<10 + 1), http.StatusRequestEntityTooLarge,
			"body is larger than 16384 bytes", "too_large", "acme-generic"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := start(t)
			r := h.post(t, tt.integration, tt.token, tt.body)
			require.Equal(t, tt.wantStatus, r.status)
			require.Contains(t, r.Body.Error, tt.wantErr)
			if tt.wantStatus == http.StatusUnauthorized {
				require.Equal(t, `Bearer realm="ams"`, r.header.Get("WWW-Authenticate"))
			}
			require.Empty(t, h.stored(t), "nothing is stored when a request is rejected")
			require.Equal(t, float64(1), h.metric(t, "ams_ingest_requests_rejected_total",
				map[string]string{"integration": tt.wantLabel, "reason": tt.wantReason}))
		})
	}
}

// oversized is a valid generic alert of n bytes, so only its size is wrong.
func oversized(n int) []byte {
	head := []byte(`{"summary":"big","description":"`)
	tail := []byte(`"}`)
	return append(append(head, bytes.Repeat([]byte("x"), n-len(head)-len(tail))...), tail...)
}

func TestWebhookResendIsStoredOnce(t *testing.T) {
	h := start(t)
	firing := readSample(t, "alertmanager/firing.json")

	first := h.post(t, "acme-am", tokenAcme, firing)
	require.Equal(t, http.StatusAccepted, first.status, first.Body.Error)
	require.Equal(t, 2, first.Body.Accepted)

	again := h.post(t, "acme-am", tokenAcme, firing)
	require.Equal(t, http.StatusAccepted, again.status, again.Body.Error)
	require.Zero(t, again.Body.Accepted)
	require.Equal(t, 2, again.Body.Duplicates)
	require.Empty(t, again.Body.AlertIDs)
	require.Len(t, h.stored(t), 2, "a re-sent notification stores nothing new")

	// The same condition resolving is a new event, not a duplicate.
	resolved := bytes.Replace(firing, []byte(`"status": "firing",
      "labels": {
        "alertname": "NodeDown",
        "instance": "web-01`), []byte(`"status": "resolved",
      "labels": {
        "alertname": "NodeDown",
        "instance": "web-01`), 1)
	require.NotEqual(t, firing, resolved)
	third := h.post(t, "acme-am", tokenAcme, resolved)
	require.Equal(t, http.StatusAccepted, third.status, third.Body.Error)
	require.Equal(t, 1, third.Body.Accepted)
	require.Equal(t, 1, third.Body.Duplicates)
	msgs := h.stored(t)
	require.Len(t, msgs, 3)
	require.Equal(t, amsv1.AlertStatus_ALERT_STATUS_RESOLVED, msgs[2].alert.GetStatus())
	require.Equal(t, msgs[0].alert.GetFingerprint(), msgs[2].alert.GetFingerprint())

	labels := map[string]string{"integration": "acme-am"}
	require.Equal(t, float64(3), h.metric(t, "ams_ingest_alerts_accepted_total", labels))
	require.Equal(t, float64(3), h.metric(t, "ams_ingest_alerts_duplicate_total", labels))
}

func TestWebhookBusUnavailable(t *testing.T) {
	tests := []struct {
		name     string
		breakBus func(t *testing.T, h *harness)
	}{
		{"stream deleted", func(t *testing.T, h *harness) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			require.NoError(t, h.js.DeleteStream(ctx, "ALERTS"))
		}},
		{"server shut down", func(t *testing.T, h *harness) {
			h.srv.Shutdown()
			h.srv.WaitForShutdown()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := start(t)
			tt.breakBus(t, h)
			r := h.post(t, "acme-generic", tokenAcmeGeneric, readSample(t, "generic/batch.json"))
			require.Equal(t, http.StatusServiceUnavailable, r.status)
			require.Equal(t, "5", r.header.Get("Retry-After"))
			require.Contains(t, r.Body.Error, "retry")
			require.Equal(t, float64(1), h.metric(t, "ams_ingest_requests_rejected_total",
				map[string]string{"integration": "acme-generic", "reason": "unavailable"}))
			require.Zero(t, h.metric(t, "ams_ingest_alerts_accepted_total", map[string]string{"integration": "acme-generic"}))
		})
	}
}

func TestNotReadyUntilRun(t *testing.T) {
	h := newHarness(t)
	require.Error(t, h.ing.Ready())

	body := readSample(t, "generic/single.json")
	r := h.post(t, "acme-generic", tokenAcmeGeneric, body)
	require.Equal(t, http.StatusServiceUnavailable, r.status)
	require.Equal(t, "5", r.header.Get("Retry-After"))
	require.NotEmpty(t, r.Body.Error)

	h.run()
	r = h.post(t, "acme-generic", tokenAcmeGeneric, body)
	require.Equal(t, http.StatusAccepted, r.status, r.Body.Error)
	require.Len(t, h.stored(t), 1)
}

func TestRunOwnsTheAlertsStream(t *testing.T) {
	h := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := h.js.Stream(ctx, "ALERTS")
	require.NoError(t, err)
	info, err := s.Info(ctx)
	require.NoError(t, err)
	c := info.Config
	require.Equal(t, []string{"ams.alert.>"}, c.Subjects)
	require.Equal(t, 30*24*time.Hour, c.MaxAge)
	require.Equal(t, h.cfg.Ingest.DuplicateWindow, c.Duplicates)
	require.Equal(t, jetstream.DiscardOld, c.Discard)
	require.Equal(t, jetstream.FileStorage, c.Storage)
	require.Equal(t, 1, c.Replicas)
}

func TestRunStopsCleanlyAndTurnsNotReady(t *testing.T) {
	h := newHarness(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.ing.Run(ctx) }()
	require.Eventually(t, func() bool { return h.ing.Ready() == nil }, 10*time.Second, 5*time.Millisecond)
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	require.Error(t, h.ing.Ready())
}

func TestRunWaitsForTheBus(t *testing.T) {
	// A connection whose server is gone: Run must keep trying (not ready),
	// and still return nil promptly when its context ends.
	srv := natstest.RunServer(t)
	_, js := natstest.Connect(t, srv)
	srv.Shutdown()
	srv.WaitForShutdown()
	ing, err := app.New(testConfig(t), service.Deps{JS: js})
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	require.NoError(t, ing.Run(ctx))
	require.Error(t, ing.Ready())
}

// supported is every source type, as ValidateConfig lists them.
const supported = "alertmanager, awsdx, cloudwatch, datadog, generic, grafana, mackerel, pagerduty, pagerduty-events, zabbix"

func TestValidateConfig(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(cfg *config.File)
		wantErr string
	}{
		{"valid", func(*config.File) {}, ""},
		{"unknown source", func(cfg *config.File) { cfg.Tenants[0].Integrations[1].Source = "foo" },
			`tenants[0].integrations[1].source: "foo" is not a supported source (supported: ` + supported + `)`},
		{"every unknown source is reported", func(cfg *config.File) {
			cfg.Tenants[0].Integrations[0].Source = "nagios"
			cfg.Tenants[1].Integrations[0].Source = ""
		}, "tenants[0].integrations[0].source: \"nagios\" is not a supported source (supported: " + supported + ")\n" +
			"tenants[1].integrations[0].source: \"\" is not a supported source (supported: " + supported + ")"},
		{"signing secret missing", func(cfg *config.File) { cfg.Tenants[1].Integrations[0].Source = "pagerduty" },
			"tenants[1].integrations[0].signing_secrets: missing: source pagerduty authenticates with signing_secrets\n" +
				"tenants[1].integrations[0].tokens: not used by source pagerduty (it takes signing_secrets): remove it, or check the source"},
		{"routing key missing", func(cfg *config.File) {
			cfg.Tenants[1].Integrations[0].Source = "pagerduty-events"
			cfg.Tenants[1].Integrations[0].Tokens = nil
		}, "tenants[1].integrations[0].routing_keys: missing: source pagerduty-events authenticates with routing_keys"},
		{"cloudwatch takes topics or tokens", func(cfg *config.File) {
			cfg.Tenants[1].Integrations[0].Source = "cloudwatch"
			cfg.Tenants[1].Integrations[0].TopicARNs = []string{"arn:aws:sns:us-east-1:123456789012:alarms"}
		}, ""},
		{"aws account on a push source", func(cfg *config.File) {
			cfg.Tenants[1].Integrations[0].AWS = &config.AWSAccount{RoleARN: "arn:aws:iam::123456789012:role/x"}
		}, "tenants[1].integrations[0].aws: not used by source generic (it takes tokens): remove it, or check the source"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			tt.mutate(cfg)
			err := app.ValidateConfig(cfg)
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.EqualError(t, err, tt.wantErr)
		})
	}
}

func TestNewRejectsWhatItCannotServe(t *testing.T) {
	srv := natstest.RunServer(t)
	_, js := natstest.Connect(t, srv)
	tests := []struct {
		name    string
		cfg     func(tb testing.TB) *config.File
		deps    func() service.Deps
		wantErr string
	}{
		{"nil config", func(testing.TB) *config.File { return nil }, func() service.Deps { return service.Deps{JS: js} }, "no configuration"},
		{"unknown source", func(tb testing.TB) *config.File {
			cfg := testConfig(tb)
			cfg.Tenants[1].Integrations[0].Source = "nagios"
			return cfg
		}, func() service.Deps { return service.Deps{JS: js} }, `tenants[1].integrations[0].source: "nagios" is not a supported source`},
		{"duplicate integration name", func(tb testing.TB) *config.File {
			cfg := testConfig(tb)
			cfg.Tenants[1].Integrations[0].Name = "acme-am"
			return cfg
		}, func() service.Deps { return service.Deps{JS: js} }, `tenants[1].integrations[0].name: "acme-am" is already used`},
		{"zero body limit", func(tb testing.TB) *config.File {
			cfg := testConfig(tb)
			cfg.Ingest.MaxBodyBytes = 0
			return cfg
		}, func() service.Deps { return service.Deps{JS: js} }, "ingest.max_body_bytes"},
		{"no jetstream", testConfig, func() service.Deps { return service.Deps{} }, "deps.JS is nil"},
		{"metrics already registered", testConfig, func() service.Deps {
			reg := prometheus.NewRegistry()
			_, err := app.New(testConfig(t), service.Deps{JS: js, Registerer: reg})
			require.NoError(t, err)
			return service.Deps{JS: js, Registerer: reg}
		}, "register ingest metrics"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ing, err := app.New(tt.cfg(t), tt.deps())
			require.ErrorContains(t, err, tt.wantErr)
			require.Nil(t, ing)
		})
	}
}

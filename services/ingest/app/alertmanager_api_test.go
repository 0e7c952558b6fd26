package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/go-openapi/strfmt"
	"github.com/prometheus/alertmanager/api/v2/client/alert"
	"github.com/prometheus/alertmanager/api/v2/models"
	"github.com/prometheus/alertmanager/cli"
	"github.com/stretchr/testify/require"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
)

func TestAlertmanagerAPIWithAmtoolClient(t *testing.T) {
	h := start(t)
	u, err := url.Parse(h.url)
	require.NoError(t, err)
	u.User = url.UserPassword("acme-am", tokenAcme)
	c := cli.NewAlertmanagerClient(u)
	ctx := context.Background()

	starts := strfmt.DateTime(testNow.Add(-5 * time.Minute))
	alerts := models.PostableAlerts{
		{Alert: models.Alert{Labels: models.LabelSet{"alertname": "DiskFull", "instance": "db1:9100", "severity": "critical"}},
			Annotations: models.LabelSet{"summary": "disk full on db1"}, StartsAt: starts},
		{Alert: models.Alert{Labels: models.LabelSet{"alertname": "DiskFull", "instance": "db2:9100"}}, StartsAt: starts},
	}
	_, err = c.Alert.PostAlerts(alert.NewPostAlertsParams().WithContext(ctx).WithAlerts(alerts))
	require.NoError(t, err)
	msgs := h.stored(t)
	require.Len(t, msgs, 2)
	a := msgs[0].alert
	require.Equal(t, "acme", a.GetTenant(), "the tenant comes from the credential")
	require.Equal(t, "acme-am", a.GetIntegration())
	require.Equal(t, amsv1.AlertStatus_ALERT_STATUS_FIRING, a.GetStatus())
	require.Equal(t, amsv1.Severity_SEVERITY_CRITICAL, a.GetSeverity())
	require.Equal(t, "disk full on db1", a.GetSummary())
	require.Equal(t, "db1", a.GetResource().GetHost())

	// Prometheus re-sends what is still active: nothing new is stored.
	_, err = c.Alert.PostAlerts(alert.NewPostAlertsParams().WithContext(ctx).WithAlerts(alerts))
	require.NoError(t, err)
	require.Len(t, h.stored(t), 2)
	require.Equal(t, float64(2), h.metric(t, "ams_ingest_alerts_duplicate_total", map[string]string{"integration": "acme-am"}))

	// The next evaluation adds one alert and resolves another: only those are stored.
	ended := strfmt.DateTime(testNow.Add(-time.Minute))
	next := models.PostableAlerts{
		alerts[0],
		{Alert: models.Alert{Labels: models.LabelSet{"alertname": "DiskFull", "instance": "db2:9100"}}, StartsAt: starts, EndsAt: ended},
		{Alert: models.Alert{Labels: models.LabelSet{"alertname": "DiskFull", "instance": "db3:9100"}}, StartsAt: starts},
	}
	_, err = c.Alert.PostAlerts(alert.NewPostAlertsParams().WithContext(ctx).WithAlerts(next))
	require.NoError(t, err)
	msgs = h.stored(t)
	require.Len(t, msgs, 4)
	require.Equal(t, amsv1.AlertStatus_ALERT_STATUS_RESOLVED, msgs[2].alert.GetStatus())
	require.Equal(t, msgs[1].alert.GetFingerprint(), msgs[2].alert.GetFingerprint(), "the resolve names the same condition")
	require.Equal(t, "db3", msgs[3].alert.GetResource().GetHost())

	// amtool reads the status to check who it talks to.
	st, err := c.General.GetStatus(nil)
	require.NoError(t, err)
	require.NoError(t, st.Payload.Validate(strfmt.Default), "every field the spec requires is there")
	require.Equal(t, "disabled", *st.Payload.Cluster.Status)

	// Invalid alerts: 400 with the spec's string payload, and nothing stored.
	bad := models.PostableAlerts{
		{Alert: models.Alert{Labels: models.LabelSet{"alertname": "A", "instance": "db4"}}},
		{Alert: models.Alert{Labels: models.LabelSet{"alertname": "B"}}, StartsAt: starts, EndsAt: strfmt.DateTime(testNow.Add(-time.Hour))},
	}
	_, err = c.Alert.PostAlerts(alert.NewPostAlertsParams().WithContext(ctx).WithAlerts(bad))
	var badReq *alert.PostAlertsBadRequest
	require.ErrorAs(t, err, &badReq)
	require.Contains(t, badReq.Payload, "[1]: start time must be before end time")
	require.Len(t, h.stored(t), 4, "a batch with an invalid alert stores nothing")
}

func TestAlertmanagerAPICredentials(t *testing.T) {
	h := start(t)
	body := []byte(`[{"labels":{"alertname":"A"}}]`)
	post := func(set func(r *http.Request)) (int, string) {
		req, err := http.NewRequest(http.MethodPost, h.url+"/api/v2/alerts", bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		set(req)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var msg string
		if resp.StatusCode != http.StatusOK {
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&msg), "errors are a JSON string")
		}
		return resp.StatusCode, msg
	}
	code, _ := post(func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tokenAcmeOld) })
	require.Equal(t, http.StatusOK, code, "a bearer token of an alertmanager integration, mid-rotation")

	for name, set := range map[string]func(r *http.Request){
		"no credential":                     func(*http.Request) {},
		"wrong token":                       func(r *http.Request) { r.SetBasicAuth("acme-am", "nope-nope-nope") },
		"token of a generic integration":    func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tokenBeta) },
		"token of another generic, as user": func(r *http.Request) { r.SetBasicAuth(tokenAcme, "") },
	} {
		code, msg := post(set)
		require.Equal(t, http.StatusUnauthorized, code, name)
		require.Contains(t, msg, "missing or invalid credential", name)
	}
	require.Len(t, h.stored(t), 1)
	require.Equal(t, float64(4), h.metric(t, "ams_ingest_requests_rejected_total", map[string]string{"integration": "", "reason": "unauthorized"}))
}

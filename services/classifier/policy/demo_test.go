package policy_test

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/amsproject/ams/pkg/config"
	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/classifier/internal/rules"
	"github.com/amsproject/ams/services/classifier/policy"
)

// The example classifier file shipped for `make run` loads, and its rules
// classify the alerts they were written for as their comments say.
func TestDemoRules(t *testing.T) {
	const path = "../../../deploy/examples/rules/demo.yaml"
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	pol, err := policy.Parse(data, path, config.Tenant{ID: "demo", Name: "Demo Customer"})
	require.NoError(t, err)
	set := pol.Rules

	alert := func(sev amsv1.Severity, host string, labels ...string) *amsv1.Alert {
		a := &amsv1.Alert{Tenant: "demo", Source: "alertmanager", Status: amsv1.AlertStatus_ALERT_STATUS_FIRING,
			Severity: sev, Resource: &amsv1.Resource{Host: host}, Labels: map[string]string{}}
		for i := 0; i+1 < len(labels); i += 2 {
			a.Labels[labels[i]] = labels[i+1]
		}
		return a
	}
	backupHour := time.Date(2026, 11, 21, 17, 30, 0, 0, time.UTC) // 02:30 JST
	workHour := time.Date(2026, 11, 22, 1, 0, 0, 0, time.UTC)     // 10:00 JST
	cloudwatch := alert(amsv1.Severity_SEVERITY_CRITICAL, "i-0abc", "metric_name", "StatusCheckFailed_System")
	cloudwatch.Source = "cloudwatch"

	cases := []struct {
		name  string
		alert *amsv1.Alert
		now   time.Time
		want  rules.Decision
	}{{
		name:  "disk full on a db host pages the DBAs",
		alert: alert(amsv1.Severity_SEVERITY_CRITICAL, "db-01", "alertname", "DiskFull", "env", "prod"),
		want: rules.Decision{Priority: amsv1.Priority_PRIORITY_P1, Category: "storage", Labels: map[string]string{"team": "dba"},
			Runbook: "disk-full", EscalationPolicy: "dba-oncall", MatchedRules: []string{"disk-full", "db-disk-full"}},
	}, {
		name:  "disk full elsewhere goes to the MSP on-call",
		alert: alert(amsv1.Severity_SEVERITY_ERROR, "web-01", "alertname", "FilesystemAlmostFull"),
		want: rules.Decision{Priority: amsv1.Priority_PRIORITY_P2, Category: "storage", Runbook: "disk-full",
			EscalationPolicy: "msp-oncall", MatchedRules: []string{"disk-full"}},
	}, {
		name:  "informational alerts are kept quiet",
		alert: alert(amsv1.Severity_SEVERITY_INFO, "db-01", "alertname", "DiskFull"),
		want: rules.Decision{Priority: amsv1.Priority_PRIORITY_P5, Category: "informational", Suppressed: true,
			SuppressReason: "informational", MatchedRules: []string{"info-is-informational"}},
	}, {
		name:  "the heartbeat is suppressed",
		alert: alert(amsv1.Severity_SEVERITY_WARNING, "", "alertname", "Watchdog"),
		want: rules.Decision{Priority: amsv1.Priority_PRIORITY_P5, Category: "monitoring", Suppressed: true,
			SuppressReason: "heartbeat: fires all the time by design", MatchedRules: []string{"watchdog-heartbeat"}},
	}, {
		name:  "I/O wait on a db host during the nightly backup is known noise",
		alert: alert(amsv1.Severity_SEVERITY_WARNING, "db-02", "alertname", "HighIOWait"),
		now:   backupHour,
		want: rules.Decision{Category: "performance", Suppressed: true,
			SuppressReason: "known noise during the nightly backup (02:00-04:00 JST)", MatchedRules: []string{"nightly-backup-noise"}},
	}, {
		name:  "the same alert during the day is not",
		alert: alert(amsv1.Severity_SEVERITY_WARNING, "db-02", "alertname", "HighIOWait"),
		now:   workHour,
		want:  rules.Decision{},
	}, {
		name:  "host down waits 2 minutes, then recovers and pages",
		alert: alert(amsv1.Severity_SEVERITY_CRITICAL, "app-03", "alertname", "InstanceDown"),
		want: rules.Decision{Priority: amsv1.Priority_PRIORITY_P1, Category: "availability", Runbook: "ec2-status-check-failed",
			EscalationPolicy: "msp-oncall", Delay: 2 * time.Minute, MatchedRules: []string{"host-down"}},
	}, {
		name:  "a failed EC2 status check is a host down",
		alert: cloudwatch,
		want: rules.Decision{Priority: amsv1.Priority_PRIORITY_P1, Category: "availability", Runbook: "ec2-status-check-failed",
			EscalationPolicy: "msp-oncall", Delay: 2 * time.Minute, MatchedRules: []string{"host-down"}},
	}, {
		name:  "staging never pages at night",
		alert: alert(amsv1.Severity_SEVERITY_CRITICAL, "stg-web-01", "alertname", "HostDown", "env", "staging"),
		want: rules.Decision{Priority: amsv1.Priority_PRIORITY_P4, Category: "availability", Runbook: "ec2-status-check-failed",
			Labels: map[string]string{"env_class": "non-production"}, EscalationPolicy: "business-hours",
			Delay: 2 * time.Minute, MatchedRules: []string{"host-down", "non-production-downgrade"}},
	}, {
		name:  "expiring certificates go to the platform team in office hours",
		alert: alert(amsv1.Severity_SEVERITY_WARNING, "lb-01", "alertname", "SSLCertExpiringSoon"),
		want: rules.Decision{Priority: amsv1.Priority_PRIORITY_P3, Category: "security", Labels: map[string]string{"team": "platform"},
			EscalationPolicy: "business-hours", MatchedRules: []string{"certificate-expiring"}},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			now := tc.now
			if now.IsZero() {
				now = workHour
			}
			d, tr := set.Evaluate(t.Context(), rules.Input{Alert: tc.alert, Tenant: rules.Tenant{ID: "demo", Name: "Demo Customer"}, Now: now})
			require.NoError(t, tr.Err())
			require.Equal(t, tc.want, d)
		})
	}
}

// The candidate shipped for trying replay loads too.
func TestDemoCandidateLoads(t *testing.T) {
	const path = "../../../deploy/examples/rules/demo-candidate.yaml"
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	pol, err := policy.Parse(data, path, config.Tenant{ID: "demo"})
	require.NoError(t, err)
	d, _ := pol.Rules.Evaluate(t.Context(), rules.Input{Alert: &amsv1.Alert{Labels: map[string]string{"alertname": "HighLoad"}}})
	require.True(t, d.Suppressed)
	require.Equal(t, "high load without other symptoms", d.SuppressReason)
}

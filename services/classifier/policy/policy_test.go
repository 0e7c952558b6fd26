package policy_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/amsproject/ams/pkg/config"
	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/classifier/internal/rules"
	"github.com/amsproject/ams/services/classifier/policy"
)

var acme = config.Tenant{ID: "acme", Name: "Acme"}

const full = `
incidents:
  group_by: [host, resource.region]
  resolve_delay: 2m
  reopen_window: 15m
  flapping: {threshold: 4, window: 20m, quiet: 10m}
rules:
  - name: disk-full
    when: 'alert.labels.?alertname.orValue("") == "DiskFull"'
    set: {priority: P1, runbook: disk-cleanup}
maintenance:
  - name: nightly
    reason: backups
    match: 'alert.resource.host.startsWith("db-")'
    recurring: {rrule: "FREQ=DAILY;BYHOUR=2;BYMINUTE=0", duration: 1h, time_zone: Asia/Tokyo}
`

func TestParse(t *testing.T) {
	p, err := policy.Parse([]byte(full), "acme.yaml", acme)
	require.NoError(t, err)
	require.Equal(t, "acme", p.ID)
	require.Equal(t, []string{"host", "resource.region"}, p.Incidents.GroupBy)
	require.Equal(t, 2*time.Minute, p.Incidents.ResolveDelay)
	require.Equal(t, 15*time.Minute, p.Incidents.ReopenWindow)
	require.Equal(t, 4, p.Flapping.Config().Threshold)
	require.Len(t, p.Windows, 1)
	require.Equal(t, "config/nightly", p.Windows[0].ID)

	d := policy.Default(acme)
	require.Nil(t, d.Rules)
	require.Equal(t, 5, d.Flapping.Config().Threshold)
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{"unknown key", "rulez: []\n", []string{"acme.yaml", "rulez"}},
		{"bad group_by", "incidents:\n  group_by: ['host name']\n", []string{`incidents.group_by[0]: "host name" is not a label name`}},
		{"group window without group_by", "incidents:\n  group_window: 1h\n", []string{"incidents.group_window: only means something with group_by"}},
		{"negative delays", "incidents:\n  resolve_delay: -1m\n  reopen_window: -1m\n", []string{"incidents.resolve_delay: must not be negative", "incidents.reopen_window: must not be negative"}},
		{"bad flapping", "incidents:\n  flapping: {threshold: 0, window: 10m, quiet: 10m}\n", []string{"incidents.flapping", "threshold"}},
		{"rule with a line", "rules:\n  - name: x\n    when: 'alert.nosuchfield == 1'\n", []string{"acme.yaml:2", "nosuchfield"}},
		{"window", "maintenance:\n  - name: w\n    match: 'true'\n", []string{"maintenance[0]"}},
		{"two documents", "rules: []\n---\nrules: []\n", []string{"more than one YAML document"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := policy.Parse([]byte(tt.doc), "acme.yaml", acme)
			require.Error(t, err)
			for _, w := range tt.want {
				require.ErrorContains(t, err, w)
			}
		})
	}
}

func TestGroupKey(t *testing.T) {
	a := &amsv1.Alert{Fingerprint: "fp-1", Labels: map[string]string{"host": "web-1"}, Resource: &amsv1.Resource{Region: "ap-northeast-1"}}
	require.Equal(t, "fp-1", policy.Default(acme).GroupKey(a))
	p, err := policy.Parse([]byte(full), "acme.yaml", acme)
	require.NoError(t, err)
	require.Equal(t, "by|host=web-1|resource.region=ap-northeast-1", p.GroupKey(a))
	other := &amsv1.Alert{Fingerprint: "fp-2", Labels: map[string]string{"host": "web-1"}, Resource: &amsv1.Resource{Region: "ap-northeast-1"}}
	require.Equal(t, p.GroupKey(a), p.GroupKey(other), "same host and region: one group")
	require.Equal(t, "fp-3", p.GroupKey(&amsv1.Alert{Fingerprint: "fp-3"}), "none of the labels: by fingerprint")
}

func TestClassify(t *testing.T) {
	p, err := policy.Parse([]byte(full), "acme.yaml", acme)
	require.NoError(t, err)
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	at := time.Date(2026, 11, 22, 2, 30, 0, 0, tokyo)
	db := &amsv1.Alert{Fingerprint: "fp", Labels: map[string]string{"alertname": "DiskFull"}, Resource: &amsv1.Resource{Host: "db-1"}}
	v := p.Classify(context.Background(), db, nil, nil, at)
	require.Equal(t, amsv1.Priority_PRIORITY_P1, v.Decision.Priority)
	require.Equal(t, "disk-cleanup", v.Decision.Runbook)
	require.Len(t, v.Windows, 1)
	require.Equal(t, "maintenance nightly: backups", v.Suppression())
	require.True(t, v.WindowsEnd.Equal(time.Date(2026, 11, 22, 3, 0, 0, 0, tokyo)))

	v = p.Classify(context.Background(), db, nil, nil, at.Add(time.Hour))
	require.Empty(t, v.Windows)
	require.Empty(t, v.Suppression())
}

func TestStoreReload(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "acme.yaml")
	require.NoError(t, os.WriteFile(path, []byte(full), 0o600))
	cfg := config.Default()
	cfg.Dir = dir
	tn := acme
	tn.RulesFile = "acme.yaml"
	cfg.Tenants = []config.Tenant{tn, {ID: "beta"}}

	s, err := policy.Load(cfg)
	require.NoError(t, err)
	first := s.Tenant("acme")
	require.Equal(t, path, first.Source)
	require.NotNil(t, s.Tenant("beta"), "a tenant without a file has the default policy")
	require.Nil(t, s.Tenant("nobody"))
	require.Len(t, s.ConfigWindows(""), 1)
	require.Empty(t, s.ConfigWindows("beta"))

	changed, err := s.Reload()
	require.NoError(t, err)
	require.Empty(t, changed, "unchanged file: nothing reloaded")
	require.Same(t, first, s.Tenant("acme"))

	require.NoError(t, os.WriteFile(path, []byte("rules:\n  - name: x\n    when: 'true'\n    set: {priority: P4}\n"), 0o600))
	changed, err = s.Reload()
	require.NoError(t, err)
	require.Equal(t, []string{"acme"}, changed)
	require.Empty(t, s.Tenant("acme").Windows)

	require.NoError(t, os.WriteFile(path, []byte("rules:\n  - name: x\n    when: 'alert.bogus'\n"), 0o600))
	changed, err = s.Reload()
	require.ErrorContains(t, err, "the rules loaded before stay in force")
	require.Empty(t, changed)
	d, _ := s.Tenant("acme").Rules.Evaluate(context.Background(), rules.Input{Alert: &amsv1.Alert{}})
	require.Equal(t, amsv1.Priority_PRIORITY_P4, d.Priority, "the previous rules stay in force")

	require.NoError(t, os.Remove(path))
	_, err = s.Reload()
	require.ErrorContains(t, err, "tenants[0].rules_file")
}

func TestLoadFailsOnABrokenFile(t *testing.T) {
	cfg := config.Default()
	cfg.Dir = t.TempDir()
	tn := acme
	tn.RulesFile = "missing.yaml"
	cfg.Tenants = []config.Tenant{tn}
	_, err := policy.Load(cfg)
	require.ErrorContains(t, err, "tenants[0].rules_file")
	require.ErrorContains(t, err, "missing.yaml")
}

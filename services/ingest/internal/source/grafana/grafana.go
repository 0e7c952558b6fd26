// Package grafana parses the body of a Grafana Alerting (unified alerting,
// Grafana 8 and later) webhook contact point into AMS alerts.
//
// The body is Alertmanager's webhook message plus Grafana's own fields:
//
//	{"receiver", "status", "orgId", "version": "1", "groupKey",
//	 "groupLabels", "commonLabels", "commonAnnotations", "externalURL",
//	 "truncatedAlerts", "title", "state", "message",
//	 "alerts": [{"status", "labels", "annotations", "startsAt", "endsAt",
//	             "generatorURL", "fingerprint", "silenceURL", "dashboardURL",
//	             "panelURL", "imageURL", "values", "valueString"}]}
//
// Each entry of alerts[] becomes one alert. version must be "1": the legacy
// dashboard alerting payload (no version, evalMatches) is rejected, and an
// Alertmanager payload (version "4") is pointed at the alertmanager source.
//
// Status is alerts[].status (firing or resolved); a firing alert whose
// endsAt has passed is resolved.
//
// Severity comes from the label `severity`, read as Prometheus Alertmanager
// does (see alertmanager.Severity), because Grafana alert rules use the same
// label convention:
//
//	critical CRITICAL; error, high ERROR; warning WARNING; info, none INFO;
//	missing or anything else WARNING
//
// Fingerprint: alerts[].fingerprint, Grafana's hash of the alert's labels,
// so a firing alert and its resolve match and each label set (each host) is
// its own alert. Without one, the hash of the sorted labels.
//
// Grafana's "Test" button sends an alert labelled alertname=TestAlert; it is
// parsed like any other, so the test shows the contact point works end to end.
//
// Source: https://grafana.com/docs/grafana/latest/alerting/configure-notifications/manage-contact-points/integrations/webhook-notifier/
package grafana

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/ingest/internal/source"
	"github.com/amsproject/ams/services/ingest/internal/source/alertmanager"
)

// message is the body a Grafana webhook contact point sends. Unknown fields
// are ignored because Grafana adds fields between releases.
type message struct {
	Receiver          string            `json:"receiver"`
	Status            string            `json:"status"`
	OrgID             int64             `json:"orgId"`
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	TruncatedAlerts   uint64            `json:"truncatedAlerts"`
	// Alerts are decoded one by one so a type error names its index.
	Alerts []json.RawMessage `json:"alerts"`
}

// gfAlert is one entry of alerts[]. Times are strings so that a bad one is
// reported under its own path.
type gfAlert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     string            `json:"startsAt"`
	EndsAt       string            `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
	SilenceURL   string            `json:"silenceURL"`
	DashboardURL string            `json:"dashboardURL"`
	PanelURL     string            `json:"panelURL"`
	ImageURL     string            `json:"imageURL"`
	// Values are the results of the rule's expressions by ref id (Grafana
	// 9.1 and later); null stands for a value JSON cannot carry (NaN).
	Values map[string]*float64 `json:"values"`
	// ValueString is the same for Grafana 8 and 9.0.
	ValueString string `json:"valueString"`
}

// Parser reads Grafana Alerting webhook payloads.
type Parser struct{}

// Parse returns one Alert per entry of alerts[].
func (Parser) Parse(r source.Request) ([]*amsv1.Alert, error) {
	var msg message
	if err := source.DecodeBody(r.Body, &msg); err != nil {
		return nil, err
	}
	if err := checkVersion(msg.Version); err != nil {
		return nil, err
	}
	if len(msg.Alerts) == 0 {
		return nil, source.FieldErr("alerts", "empty: a notification carries at least one alert")
	}
	out := make([]*amsv1.Alert, 0, len(msg.Alerts))
	for i, raw := range msg.Alerts {
		path := fmt.Sprintf("alerts[%d]", i)
		var in gfAlert
		if err := source.DecodeElement(raw, path, &in, false); err != nil {
			return nil, err
		}
		a, err := in.normalise(path, &msg, r.Now)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

func checkVersion(v string) error {
	const want = `want "1" (the Grafana Alerting webhook contact point)`
	switch v {
	case "1":
		return nil
	case "":
		return source.FieldErr("version", "missing: %s; legacy dashboard alerting is not supported", want)
	case "4":
		return source.FieldErr("version", `"4" is the Prometheus Alertmanager payload: set the integration's source to alertmanager`)
	default:
		return source.FieldErr("version", "%q is not supported: %s", v, want)
	}
}

func (in *gfAlert) normalise(path string, msg *message, now time.Time) (*amsv1.Alert, error) {
	c, err := alertmanager.Fields{Status: in.Status, StartsAt: in.StartsAt, EndsAt: in.EndsAt, Fingerprint: in.Fingerprint,
		Labels: in.Labels, Annotations: in.Annotations}.Read(path, now)
	if err != nil {
		return nil, err
	}
	summary := c.Summary
	if summary == "" {
		summary = "Grafana alert " + c.Fingerprint
	}

	return &amsv1.Alert{
		Fingerprint: c.Fingerprint,
		Status:      c.Status,
		Severity:    alertmanager.Severity(in.Labels["severity"]),
		Summary:     summary,
		Description: strings.TrimSpace(in.Annotations["description"]),
		Labels:      source.NonEmpty(in.Labels),
		Annotations: source.NonEmpty(in.annotations(msg.OrgID)),
		Resource:    source.ResourceFromLabels(in.Labels),
		Links:       in.links(msg.ExternalURL),
		StartsAt:    c.StartsAt,
		EndsAt:      c.EndsAt,
	}, nil
}

// annotations are the alert's own, plus what Grafana reports beside them:
// the values that triggered the alert and the org. The rule's own
// annotations win a name clash.
func (in *gfAlert) annotations(orgID int64) map[string]string {
	out := make(map[string]string, len(in.Annotations)+3)
	if v := formatValues(in.Values); v != "" {
		out["grafana_values"] = v
	}
	if v := strings.TrimSpace(in.ValueString); v != "" {
		out["grafana_value_string"] = v
	}
	if orgID != 0 {
		out["grafana_org_id"] = strconv.FormatInt(orgID, 10)
	}
	for k, v := range in.Annotations {
		out[k] = v
	}
	return out
}

// formatValues writes values as "B=44.2394, C=1", sorted by ref id.
func formatValues(values map[string]*float64) string {
	refs := make([]string, 0, len(values))
	for ref := range values {
		refs = append(refs, ref)
	}
	slices.Sort(refs)
	parts := make([]string, 0, len(refs))
	for _, ref := range refs {
		v := "null"
		if values[ref] != nil {
			v = strconv.FormatFloat(*values[ref], 'g', -1, 64)
		}
		parts = append(parts, ref+"="+v)
	}
	return strings.Join(parts, ", ")
}

func (in *gfAlert) links(externalURL string) []*amsv1.Link {
	var links []*amsv1.Link
	for _, l := range []struct{ url, title string }{
		{in.GeneratorURL, "Alert rule"},
		{in.DashboardURL, "Dashboard"},
		{in.PanelURL, "Panel"},
		{in.ImageURL, "Image"},
		{in.Annotations["runbook_url"], "Runbook"},
		{in.SilenceURL, "Silence"},
		{externalURL, "Grafana"},
	} {
		if u := strings.TrimSpace(l.url); u != "" {
			links = append(links, &amsv1.Link{Url: u, Title: l.title})
		}
	}
	return links
}

// Package alertmanager parses the Prometheus Alertmanager webhook_config
// payload (version 4) into AMS alerts.
package alertmanager

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/ingest/internal/source"
)

// amMessage is the body Prometheus Alertmanager's webhook_config sends
// (notify/webhook Message, payload version 4). Our own structs rather than
// Alertmanager's module keep ingest free of its dependency tree; unknown
// fields are ignored because Alertmanager-compatible senders (Grafana, Mimir)
// add their own.
type amMessage struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   uint64            `json:"truncatedAlerts"`
	Status            string            `json:"status"`
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	// Alerts are decoded one by one so a type error names its index.
	Alerts []json.RawMessage `json:"alerts"`
}

// amAlert is one entry of alerts[]. Times are strings so that a bad one is
// reported under its own path rather than as a bare time.ParseError.
type amAlert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     string            `json:"startsAt"`
	EndsAt       string            `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// Parser reads Alertmanager webhook v4 payloads.
type Parser struct{}

// Parse returns one Alert per entry of alerts[].
func (Parser) Parse(r source.Request) ([]*amsv1.Alert, error) {
	body, now := r.Body, r.Now
	var msg amMessage
	if err := source.DecodeBody(body, &msg); err != nil {
		return nil, err
	}
	switch msg.Version {
	case "4":
	case "":
		return nil, source.FieldErr("version", "missing: want \"4\" (the Prometheus Alertmanager webhook_config payload)")
	default:
		return nil, source.FieldErr("version", "%q is not supported: want \"4\" (the Prometheus Alertmanager webhook_config payload)", msg.Version)
	}
	if len(msg.Alerts) == 0 {
		return nil, source.FieldErr("alerts", "empty: a notification carries at least one alert")
	}
	out := make([]*amsv1.Alert, 0, len(msg.Alerts))
	for i, raw := range msg.Alerts {
		path := fmt.Sprintf("alerts[%d]", i)
		var in amAlert
		if err := source.DecodeElement(raw, path, &in, false); err != nil {
			return nil, err
		}
		a, err := in.normalise(path, &msg, now)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

func (in *amAlert) normalise(path string, msg *amMessage, now time.Time) (*amsv1.Alert, error) {
	status, err := source.ParseStatus(path+".status", in.Status, amsv1.AlertStatus_ALERT_STATUS_UNSPECIFIED)
	if err != nil {
		return nil, err
	}
	startsAt, err := source.ParseTime(path+".startsAt", in.StartsAt)
	if err != nil {
		return nil, err
	}
	endsAt, err := source.ParseTime(path+".endsAt", in.EndsAt)
	if err != nil {
		return nil, err
	}
	fp, err := source.CheckFingerprint(path+".fingerprint", in.Fingerprint)
	if err != nil {
		return nil, err
	}
	if fp == "" {
		if len(in.Labels) == 0 {
			return nil, source.FieldErr(path+".labels", "empty, and no fingerprint given: an alert needs labels to be told apart from others")
		}
		fp = source.LabelsFingerprint(in.Labels)
	}
	status, ends := source.Settle(status, endsAt, now)

	summary := source.FirstNonEmpty(in.Annotations, "summary", "description")
	if summary == "" {
		summary = source.FirstNonEmpty(in.Labels, "alertname")
	}
	if summary == "" {
		// Prometheus always sets alertname; other senders may not. A 400
		// here would make Alertmanager drop the alert, so name it instead.
		summary = "Alertmanager alert " + fp
	}

	a := &amsv1.Alert{
		Fingerprint: fp,
		Status:      status,
		Severity:    Severity(in.Labels["severity"]),
		Summary:     summary,
		Description: strings.TrimSpace(in.Annotations["description"]),
		Labels:      source.NonEmpty(in.Labels),
		Annotations: source.NonEmpty(in.Annotations),
		Resource:    source.ResourceFromLabels(in.Labels),
		StartsAt:    source.Timestamp(startsAt),
		EndsAt:      ends,
	}
	for _, l := range []struct{ url, title string }{
		{in.GeneratorURL, "Source"},
		{in.Annotations["runbook_url"], "Runbook"},
		{msg.ExternalURL, "Alertmanager"},
	} {
		if u := strings.TrimSpace(l.url); u != "" {
			a.Links = append(a.Links, &amsv1.Link{Url: u, Title: l.title})
		}
	}
	return a, nil
}

// Severity maps the conventional Prometheus `severity` label.
// Label values are free text, so an unknown one is not an error: it gets the
// same WARNING as a missing label, which pages no one on its own.
func Severity(label string) amsv1.Severity {
	switch strings.ToLower(strings.TrimSpace(label)) {
	case "critical":
		return amsv1.Severity_SEVERITY_CRITICAL
	case "error", "high":
		return amsv1.Severity_SEVERITY_ERROR
	case "info", "none":
		return amsv1.Severity_SEVERITY_INFO
	default: // "warning", missing, or anything else
		return amsv1.Severity_SEVERITY_WARNING
	}
}

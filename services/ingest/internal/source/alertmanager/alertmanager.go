// Package alertmanager parses the Prometheus Alertmanager webhook_config
// payload (version 4) into AMS alerts.
package alertmanager

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

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

// Fields are what Alertmanager-shaped alerts share: Alertmanager's own
// and Grafana's, which copies its webhook format.
type Fields struct {
	Status, StartsAt, EndsAt, Fingerprint string
	Labels, Annotations                   map[string]string
}

// Core is Fields read and checked.
type Core struct {
	Status      amsv1.AlertStatus
	Fingerprint string
	StartsAt    *timestamppb.Timestamp
	EndsAt      *timestamppb.Timestamp
	// Summary is annotations.summary, then description, then the
	// alertname label.
	Summary string
}

// Read parses the status and times (an end time past now resolves a firing
// alert) and takes the sender's fingerprint, or one made from the labels.
// Errors name the field under path.
func (f Fields) Read(path string, now time.Time) (Core, error) {
	status, err := source.ParseStatus(path+".status", f.Status, amsv1.AlertStatus_ALERT_STATUS_UNSPECIFIED)
	if err != nil {
		return Core{}, err
	}
	startsAt, err := source.ParseTime(path+".startsAt", f.StartsAt)
	if err != nil {
		return Core{}, err
	}
	endsAt, err := source.ParseTime(path+".endsAt", f.EndsAt)
	if err != nil {
		return Core{}, err
	}
	fp, err := source.CheckFingerprint(path+".fingerprint", f.Fingerprint)
	if err != nil {
		return Core{}, err
	}
	if fp == "" {
		if len(f.Labels) == 0 {
			return Core{}, source.FieldErr(path+".labels", "empty, and no fingerprint given: an alert needs labels to be told apart from others")
		}
		fp = source.LabelsFingerprint(f.Labels)
	}
	status, ends := source.Settle(status, endsAt, now)
	summary := source.FirstNonEmpty(f.Annotations, "summary", "description")
	if summary == "" {
		summary = source.FirstNonEmpty(f.Labels, "alertname")
	}
	return Core{Status: status, Fingerprint: fp, StartsAt: source.Timestamp(startsAt), EndsAt: ends, Summary: summary}, nil
}

func (in *amAlert) normalise(path string, msg *amMessage, now time.Time) (*amsv1.Alert, error) {
	c, err := Fields{Status: in.Status, StartsAt: in.StartsAt, EndsAt: in.EndsAt, Fingerprint: in.Fingerprint,
		Labels: in.Labels, Annotations: in.Annotations}.Read(path, now)
	if err != nil {
		return nil, err
	}
	fp, summary := c.Fingerprint, c.Summary
	if summary == "" {
		// Prometheus always sets alertname; other senders may not. A 400
		// here would make Alertmanager drop the alert, so name it instead.
		summary = "Alertmanager alert " + fp
	}

	a := &amsv1.Alert{
		Fingerprint: fp,
		Status:      c.Status,
		Severity:    Severity(in.Labels["severity"]),
		Summary:     summary,
		Description: strings.TrimSpace(in.Annotations["description"]),
		Labels:      source.NonEmpty(in.Labels),
		Annotations: source.NonEmpty(in.Annotations),
		Resource:    source.ResourceFromLabels(in.Labels),
		StartsAt:    c.StartsAt,
		EndsAt:      c.EndsAt,
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

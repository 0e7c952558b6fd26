// Package generic parses AMS's own JSON alert format, for tools that can
// template a webhook body: one alert object or {"alerts": [...]}.
package generic

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/ingest/internal/source"
)

// genericAlert is AMS's own JSON alert, for tools that can template a
// webhook body (README "Generic JSON format"). It is decoded strictly:
// since we define the format, an unknown field is a sender's typo
// ("sumary") that should fail loudly rather than be dropped.
type genericAlert struct {
	Status      string            `json:"status"`
	Summary     string            `json:"summary"`
	Title       string            `json:"title"`
	Description string            `json:"description"`
	Severity    string            `json:"severity"`
	Fingerprint string            `json:"fingerprint"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	Resource    *genericResource  `json:"resource"`
	Links       []genericLink     `json:"links"`
	StartsAt    string            `json:"starts_at"`
	EndsAt      string            `json:"ends_at"`
}

type genericResource struct {
	Host       string `json:"host"`
	InstanceID string `json:"instance_id"`
	Account    string `json:"account"`
	Region     string `json:"region"`
	Service    string `json:"service"`
}

type genericLink struct {
	URL   string `json:"url"`
	Title string `json:"title"`
}

// Parser reads AMS generic JSON alerts.
type Parser struct{}

// Parse accepts either one alert object or {"alerts":[...]}.
func (Parser) Parse(r source.Request) ([]*amsv1.Alert, error) {
	body, now := r.Body, r.Now
	var top map[string]json.RawMessage
	if err := source.DecodeBody(body, &top); err != nil {
		return nil, err
	}
	if top == nil {
		return nil, source.FieldErr("body", "expected an object, got null")
	}
	batch, isBatch := top["alerts"]
	if !isBatch {
		var in genericAlert
		if err := source.DecodeElement(body, "", &in, true); err != nil {
			return nil, err
		}
		a, err := in.normalise("", now)
		if err != nil {
			return nil, err
		}
		return []*amsv1.Alert{a}, nil
	}

	if len(top) > 1 {
		keys := make([]string, 0, len(top))
		for k := range top {
			if k != "alerts" {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		return nil, source.FieldErr("body", "unknown field %q: a batch has only \"alerts\"; put alert fields inside each entry", keys[0])
	}
	var raws []json.RawMessage
	if err := source.DecodeElement(batch, "alerts", &raws, false); err != nil {
		return nil, err
	}
	if len(raws) == 0 {
		return nil, source.FieldErr("alerts", "empty: send at least one alert")
	}
	out := make([]*amsv1.Alert, 0, len(raws))
	for i, raw := range raws {
		path := fmt.Sprintf("alerts[%d]", i)
		var in genericAlert
		if err := source.DecodeElement(raw, path, &in, true); err != nil {
			return nil, err
		}
		a, err := in.normalise(path, now)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

func (in *genericAlert) normalise(path string, now time.Time) (*amsv1.Alert, error) {
	at := func(field string) string { return source.JoinPath(path, field) }

	status, err := source.ParseStatus(at("status"), in.Status, amsv1.AlertStatus_ALERT_STATUS_FIRING)
	if err != nil {
		return nil, err
	}
	severity, err := genericSeverity(at("severity"), in.Severity)
	if err != nil {
		return nil, err
	}
	summary := strings.TrimSpace(in.Summary)
	if summary == "" {
		summary = strings.TrimSpace(in.Title)
	}
	if summary == "" {
		return nil, source.FieldErr(at("summary"), "missing: give a one-line summary (or title)")
	}
	startsAt, err := source.ParseTime(at("starts_at"), in.StartsAt)
	if err != nil {
		return nil, err
	}
	endsAt, err := source.ParseTime(at("ends_at"), in.EndsAt)
	if err != nil {
		return nil, err
	}
	if !startsAt.IsZero() && !endsAt.IsZero() && endsAt.Before(startsAt) {
		return nil, source.FieldErr(at("ends_at"), "%s is before starts_at %s", in.EndsAt, in.StartsAt)
	}

	var res *amsv1.Resource
	if r := in.Resource; r != nil {
		res = &amsv1.Resource{
			Host:       strings.TrimSpace(r.Host),
			InstanceId: strings.TrimSpace(r.InstanceID),
			Account:    strings.TrimSpace(r.Account),
			Region:     strings.TrimSpace(r.Region),
			Service:    strings.TrimSpace(r.Service),
		}
	}

	fp, err := source.CheckFingerprint(at("fingerprint"), in.Fingerprint)
	if err != nil {
		return nil, err
	}
	if fp == "" {
		if len(in.Labels) > 0 {
			// Labels and resource together: two hosts sending the same
			// labels are two conditions, not one.
			fp = source.HashParts(source.LabelsFingerprint(in.Labels), res.GetHost(), res.GetInstanceId(), res.GetAccount(), res.GetRegion(), res.GetService())
		} else {
			fp = source.HashParts(summary, res.GetHost())
		}
	}

	links := make([]*amsv1.Link, 0, len(in.Links))
	for i, l := range in.Links {
		lpath := fmt.Sprintf("%s[%d].url", at("links"), i)
		u := strings.TrimSpace(l.URL)
		if u == "" {
			return nil, source.FieldErr(lpath, "missing")
		}
		if pu, err := url.Parse(u); err != nil || !pu.IsAbs() || pu.Host == "" {
			return nil, source.FieldErr(lpath, "%q is not an absolute URL such as https://grafana.example.com/d/abc", u)
		}
		links = append(links, &amsv1.Link{Url: u, Title: strings.TrimSpace(l.Title)})
	}
	if len(links) == 0 {
		links = nil
	}

	status, ends := source.Settle(status, endsAt, now)
	return &amsv1.Alert{
		Fingerprint: fp,
		Status:      status,
		Severity:    severity,
		Summary:     summary,
		Description: strings.TrimSpace(in.Description),
		Labels:      source.NonEmpty(in.Labels),
		Annotations: source.NonEmpty(in.Annotations),
		Resource:    res,
		Links:       links,
		StartsAt:    source.Timestamp(startsAt),
		EndsAt:      ends,
	}, nil
}

// genericSeverity reads the generic format's severity. Unlike a Prometheus
// label this is our own field with a closed set, so a value outside it is an
// error the sender should see.
func genericSeverity(path, s string) (amsv1.Severity, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "critical":
		return amsv1.Severity_SEVERITY_CRITICAL, nil
	case "error":
		return amsv1.Severity_SEVERITY_ERROR, nil
	case "warning", "":
		return amsv1.Severity_SEVERITY_WARNING, nil
	case "info":
		return amsv1.Severity_SEVERITY_INFO, nil
	default:
		return 0, source.FieldErr(path, "%q is not critical, error, warning or info", s)
	}
}

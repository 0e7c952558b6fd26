// Package source turns the native payload of each supported monitoring tool
// into AMS's one Alert model. A parser only reads the payload: the tenant,
// integration, id and receive time come from ingest (Normalize), because the
// tenant must follow from the credential and never from what the sender wrote.
//
// Parsers report every problem as an *Error whose message names the field
// path (alerts[2].status), so a sender can fix the payload from the 400 alone.
package source

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
)

// Source type names, as written in an integration's `source` key.
const (
	Alertmanager = "alertmanager"
	Generic      = "generic"
)

// MaxRawPayload caps the request body kept on each alert for audit. Bodies
// are larger only for big batches, and every alert of a batch carries the
// body, so an uncapped copy would multiply a 1 MiB request into the stream.
const MaxRawPayload = 64 << 10

// Parser decodes one source type's payload.
type Parser interface {
	// Parse returns the alerts in body with the fields the payload carries
	// (status, severity, fingerprint, text, labels, resource, links, times).
	// now decides whether an alert whose end time has passed is resolved.
	// Every error is an *Error.
	Parse(body []byte, now time.Time) ([]*amsv1.Alert, error)
}

// Supported lists the source types, sorted, for error messages and docs.
func Supported() []string { return []string{Alertmanager, Generic} }

// ForName returns the parser for a source type.
func ForName(name string) (Parser, bool) {
	switch name {
	case Alertmanager:
		return alertmanagerParser{}, true
	case Generic:
		return genericParser{}, true
	default:
		return nil, false
	}
}

// Envelope is what ingest knows about a request independently of its payload.
type Envelope struct {
	Tenant      string
	Integration string
	Source      string
	ReceivedAt  time.Time
	// NewID returns a fresh alert id; tests inject a deterministic one.
	NewID func() string
}

// Normalize parses body with p and stamps each alert with the envelope: id,
// tenant, integration, source, received_at and the (capped) raw payload.
func Normalize(p Parser, body []byte, env Envelope) ([]*amsv1.Alert, error) {
	alerts, err := p.Parse(body, env.ReceivedAt)
	if err != nil {
		return nil, err
	}
	raw := append([]byte(nil), body[:min(len(body), MaxRawPayload)]...)
	for _, a := range alerts {
		a.Id = env.NewID()
		a.Tenant = env.Tenant
		a.Integration = env.Integration
		a.Source = env.Source
		a.ReceivedAt = timestamppb.New(env.ReceivedAt)
		a.RawPayload = raw
	}
	return alerts, nil
}

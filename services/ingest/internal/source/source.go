// Package source holds what every source parser shares: the Parser
// interface, the Envelope that ingest stamps on each alert, field-path
// errors, and the helpers for statuses, times and fingerprints. The parsers
// themselves live in subpackages (source/alertmanager, source/generic, ...)
// and the registry that picks one by name in package sources.
//
// Parsers turn the native payload of each monitoring tool into AMS's one
// Alert model. A parser only reads the payload: the tenant,
// integration, id and receive time come from ingest (Normalize), because the
// tenant must follow from the credential and never from what the sender wrote.
//
// Parsers report every problem as an *Error whose message names the field
// path (alerts[2].status), so a sender can fix the payload from the 400 alone.
package source

import (
	"net/http"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
)

// MaxRawPayload caps the request body kept on each alert for audit. Bodies
// are larger only for big batches, and every alert of a batch carries the
// body, so an uncapped copy would multiply a 1 MiB request into the stream.
const MaxRawPayload = 64 << 10

// Request is what a parser may read of an HTTP request: the body, the
// headers (some sources put the event id or type there), and the time it
// arrived, which decides whether an alert whose end time has passed is over.
type Request struct {
	Body   []byte
	Header http.Header
	Now    time.Time
}

// Parser decodes one source type's payload.
type Parser interface {
	// Parse returns the alerts in the request with the fields the payload
	// carries (status, severity, fingerprint, text, labels, resource, links,
	// times, dedup key). Every error is an *Error.
	Parse(r Request) ([]*amsv1.Alert, error)
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

// Normalize parses the request with p and stamps each alert with the
// envelope: id, tenant, integration, source, received_at and the (capped)
// raw payload.
func Normalize(p Parser, body []byte, header http.Header, env Envelope) ([]*amsv1.Alert, error) {
	alerts, err := p.Parse(Request{Body: body, Header: header, Now: env.ReceivedAt})
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

// Package publish stores normalised alerts in JetStream, each under an
// idempotency key derived from what the alert says, so that a sender
// retrying after a timeout or a 503 never stores the same alert twice.
package publish

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/ingest/internal/topology"
)

// Bus is the part of *bus.Publisher that Publisher uses.
type Bus interface {
	Publish(ctx context.Context, subject, msgID string, m proto.Message) (*jetstream.PubAck, error)
}

// Publisher stores alerts on their tenant's subject.
type Publisher struct {
	bus     Bus
	timeout time.Duration
}

// New returns a Publisher that waits at most timeout for each alert's PubAck.
func New(b Bus, timeout time.Duration) *Publisher {
	return &Publisher{bus: b, timeout: timeout}
}

// Result says what a Publish stored.
type Result struct {
	// Stored are the alerts the stream stored for the first time.
	Stored []*amsv1.Alert
	// Duplicates counts alerts the stream already had (same message id
	// within its duplicate window): a retry of an earlier request.
	Duplicates int
}

// Publish stores alerts in order, one at a time so the stream keeps the
// order the source sent them in (a firing followed by its resolve in one
// batch must not be swapped). It stops at the first failure: the caller
// answers 503 and the sender retries the whole request, which is safe
// because the alerts already stored come back as duplicates.
func (p *Publisher) Publish(ctx context.Context, alerts []*amsv1.Alert) (Result, error) {
	var res Result
	for _, a := range alerts {
		pctx, cancel := context.WithTimeout(ctx, p.timeout)
		ack, err := p.bus.Publish(pctx, topology.Subject(a.GetTenant()), MsgID(a), a)
		cancel()
		if err != nil {
			return res, fmt.Errorf("store alert %s: %w", a.GetId(), err)
		}
		if ack.Duplicate {
			res.Duplicates++
			continue
		}
		res.Stored = append(res.Stored, a)
	}
	return res, nil
}

// MsgID is the alert's Nats-Msg-Id: "alert:" and the hex SHA-256 of
// tenant|integration|fingerprint|status|starts_at. It covers what makes a
// notification distinct and nothing ingest assigns (id, received_at), so a
// re-sent notification gets the same key; a condition that fires again
// later has a new starts_at and so a new key.
func MsgID(a *amsv1.Alert) string {
	var startsAt string
	if a.GetStartsAt() != nil {
		startsAt = a.GetStartsAt().AsTime().UTC().Format(time.RFC3339Nano)
	}
	key := strings.Join([]string{
		a.GetTenant(), a.GetIntegration(), a.GetFingerprint(), statusName(a.GetStatus()), startsAt,
	}, "|")
	sum := sha256.Sum256([]byte(key))
	return "alert:" + hex.EncodeToString(sum[:])
}

func statusName(s amsv1.AlertStatus) string {
	switch s {
	case amsv1.AlertStatus_ALERT_STATUS_FIRING:
		return "firing"
	case amsv1.AlertStatus_ALERT_STATUS_RESOLVED:
		return "resolved"
	default:
		return "unspecified"
	}
}

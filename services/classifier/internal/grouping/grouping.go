// Package grouping applies alerts to incidents in JetStream KV. Two buckets:
// groups maps a tenant's group key to its current incident (or a tombstone
// once it resolved); incidents holds each incident by id. Every write is a
// compare-and-set on the key's revision, retried on conflict, so replicas
// sharing the consumer never lose an update. Publishing comes after the
// write; a redelivery finds the write done and publishes again under the same
// message id, which the stream drops as a duplicate.
package grouping

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/amsproject/ams/pkg/bus"
	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/classifier/internal/incident"
)

// maxAttempts bounds compare-and-set retries for one alert; beyond it the
// message is nak'ed and retried later rather than spinning.
const maxAttempts = 50

// groupRef is the value in the groups bucket.
type groupRef struct {
	IncidentID string `json:"incident_id"`
	Resolved   bool   `json:"resolved,omitempty"`
	// ChangedAt is when ingest received the notification that last changed
	// the group's open/resolved state; older notifications arriving later are stale.
	ChangedAt time.Time `json:"changed_at"`
}

// Publisher is the part of bus.Publisher the grouper needs.
type Publisher interface {
	Publish(ctx context.Context, subject, msgID string, m proto.Message) (*jetstream.PubAck, error)
}

// Observer is told what happened to each alert, for metrics.
type Observer func(tenant string, change incident.Change, inc *amsv1.Incident)

// Grouper applies alerts to incidents.
type Grouper struct {
	groups    jetstream.KeyValue
	incidents jetstream.KeyValue
	pub       Publisher
	log       *slog.Logger
	observe   Observer
}

// New returns a Grouper over the two buckets.
func New(groups, incidents jetstream.KeyValue, pub Publisher, log *slog.Logger, observe Observer) *Grouper {
	if observe == nil {
		observe = func(string, incident.Change, *amsv1.Incident) {}
	}
	return &Grouper{groups: groups, incidents: incidents, pub: pub, log: log, observe: observe}
}

// IncidentKey is the incidents-bucket key of an incident.
func IncidentKey(tenant, id string) string { return tenant + "." + id }

func groupKey(a *amsv1.Alert) string {
	sum := sha256.Sum256([]byte(incident.GroupKey(a)))
	return a.GetTenant() + "." + hex.EncodeToString(sum[:16])
}

// Apply applies one alert. It returns nil once the incident state is stored
// and any event it implies is published.
func (g *Grouper) Apply(ctx context.Context, a *amsv1.Alert) error {
	if a.GetTenant() == "" || a.GetId() == "" || a.GetFingerprint() == "" {
		return bus.Permanent(fmt.Errorf("alert %q lacks tenant, id or fingerprint", a.GetId()))
	}
	gk := groupKey(a)
	for range maxAttempts {
		done, err := g.attempt(ctx, gk, a)
		if done || err != nil {
			return err
		}
	}
	return fmt.Errorf("apply alert %s: still conflicting after %d attempts", a.GetId(), maxAttempts)
}

// attempt makes one try; done=false means a compare-and-set conflict: read again.
func (g *Grouper) attempt(ctx context.Context, gk string, a *amsv1.Alert) (bool, error) {
	ref, grev, err := g.getRef(ctx, gk)
	if err != nil {
		return false, err
	}
	recv := a.GetReceivedAt().AsTime()
	firing := a.GetStatus() == amsv1.AlertStatus_ALERT_STATUS_FIRING

	if ref == nil || ref.Resolved {
		if ref != nil && ref.IncidentID != "" && !firing {
			// A resolve for an incident already resolved: if it is the very
			// notification that resolved it, make sure its event went out.
			return g.republishIfApplied(ctx, a, ref.IncidentID)
		}
		if ref != nil && !recv.After(ref.ChangedAt) {
			g.observe(a.GetTenant(), incident.Stale, nil)
			return true, nil
		}
		if !firing {
			// Resolved before any firing was seen (or handled out of order):
			// leave a tombstone so the older firing notification, if it comes, is stale.
			return g.putRef(ctx, gk, grev, &groupRef{Resolved: true, ChangedAt: recv})
		}
		return g.open(ctx, gk, grev, a)
	}

	inc, irev, err := g.getIncident(ctx, a.GetTenant(), ref.IncidentID)
	if err != nil {
		return false, err
	}
	if inc == nil {
		// The group was written but the process stopped before the incident
		// was: finish opening it under the id the group already names.
		return g.create(ctx, incident.Open(a, ref.IncidentID))
	}
	if inc.GetState() == amsv1.IncidentState_INCIDENT_STATE_RESOLVED {
		// The incident resolved but the group was not marked (a stop in
		// between): repair the group, then handle the alert afresh.
		_, err := g.putRef(ctx, gk, grev, &groupRef{IncidentID: inc.GetId(), Resolved: true, ChangedAt: inc.GetResolvedAt().AsTime()})
		return false, err
	}

	next, change := incident.Apply(inc, a)
	g.observe(a.GetTenant(), change, next)
	switch change {
	case incident.AlreadyApplied:
		return true, g.publish(ctx, inc, a.GetId())
	case incident.Stale, incident.Unchanged:
		return true, nil
	}
	if ok, err := g.update(ctx, next, irev); !ok || err != nil {
		return false, err
	}
	if change == incident.Resolved {
		if _, err := g.putRef(ctx, gk, grev, &groupRef{IncidentID: next.GetId(), Resolved: true, ChangedAt: recv}); err != nil {
			return false, err
		}
	}
	if change == incident.Touched {
		return true, nil
	}
	return true, g.publish(ctx, next, a.GetId())
}

// open points the group at a new incident, then stores and announces it.
func (g *Grouper) open(ctx context.Context, gk string, grev uint64, a *amsv1.Alert) (bool, error) {
	id := incident.ID(a)
	ok, err := g.putRef(ctx, gk, grev, &groupRef{IncidentID: id, ChangedAt: a.GetReceivedAt().AsTime()})
	if !ok || err != nil {
		return false, err
	}
	inc := incident.Open(a, id)
	g.observe(a.GetTenant(), incident.Updated, inc)
	return g.create(ctx, inc)
}

func (g *Grouper) create(ctx context.Context, inc *amsv1.Incident) (bool, error) {
	data, err := proto.Marshal(inc)
	if err != nil {
		return false, fmt.Errorf("marshal incident %s: %w", inc.GetId(), err)
	}
	_, err = g.incidents.Create(ctx, IncidentKey(inc.GetTenant(), inc.GetId()), data)
	if errors.Is(err, jetstream.ErrKeyExists) {
		// Another replica (or an earlier delivery) created it from its own
		// alert: read again and apply this alert to what is stored.
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("create incident %s: %w", inc.GetId(), err)
	}
	return true, g.publish(ctx, inc, inc.GetAlerts()[0].GetLastAlertId())
}

// update writes inc if the stored revision is still rev; false on conflict.
func (g *Grouper) update(ctx context.Context, inc *amsv1.Incident, rev uint64) (bool, error) {
	data, err := proto.Marshal(inc)
	if err != nil {
		return false, fmt.Errorf("marshal incident %s: %w", inc.GetId(), err)
	}
	_, err = g.incidents.Update(ctx, IncidentKey(inc.GetTenant(), inc.GetId()), data, rev)
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("update incident %s: %w", inc.GetId(), err)
	}
	return true, nil
}

func (g *Grouper) republishIfApplied(ctx context.Context, a *amsv1.Alert, id string) (bool, error) {
	inc, _, err := g.getIncident(ctx, a.GetTenant(), id)
	if err != nil || inc == nil {
		return true, err
	}
	if _, change := incident.Apply(inc, a); change == incident.AlreadyApplied {
		return true, g.publish(ctx, inc, a.GetId())
	}
	g.observe(a.GetTenant(), incident.Stale, nil)
	return true, nil
}

// publish announces inc's current version. The message id is the incident
// and version, so announcing the same version twice stores one event.
func (g *Grouper) publish(ctx context.Context, inc *amsv1.Incident, alertID string) error {
	t := incident.EventType(inc)
	subject := bus.Subject("incident", incident.EventName(t), inc.GetTenant())
	msgID := fmt.Sprintf("incident:%s:v%d", inc.GetId(), inc.GetVersion())
	if _, err := g.pub.Publish(ctx, subject, msgID, &amsv1.IncidentEvent{Type: t, Incident: inc, AlertId: alertID}); err != nil {
		return err
	}
	return nil
}

func (g *Grouper) getRef(ctx context.Context, key string) (*groupRef, uint64, error) {
	e, err := g.groups.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("get group %s: %w", key, err)
	}
	var ref groupRef
	if err := json.Unmarshal(e.Value(), &ref); err != nil {
		return nil, 0, fmt.Errorf("decode group %s: %w", key, err)
	}
	return &ref, e.Revision(), nil
}

// putRef creates (rev 0) or updates the group; false on conflict.
func (g *Grouper) putRef(ctx context.Context, key string, rev uint64, ref *groupRef) (bool, error) {
	data, err := json.Marshal(ref)
	if err != nil {
		return false, fmt.Errorf("encode group %s: %w", key, err)
	}
	if rev == 0 {
		_, err = g.groups.Create(ctx, key, data)
	} else {
		_, err = g.groups.Update(ctx, key, data, rev)
	}
	switch {
	case errors.Is(err, jetstream.ErrKeyExists), errors.Is(err, jetstream.ErrKeyRevisionMismatch):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("write group %s: %w", key, err)
	}
	return true, nil
}

func (g *Grouper) getIncident(ctx context.Context, tenant, id string) (*amsv1.Incident, uint64, error) {
	e, err := g.incidents.Get(ctx, IncidentKey(tenant, id))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("get incident %s: %w", id, err)
	}
	var inc amsv1.Incident
	if err := proto.Unmarshal(e.Value(), &inc); err != nil {
		return nil, 0, fmt.Errorf("decode incident %s: %w", id, err)
	}
	return &inc, e.Revision(), nil
}

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
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/amsproject/ams/pkg/bus"
	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/classifier/internal/flapping"
	"github.com/amsproject/ams/services/classifier/internal/incident"
	"github.com/amsproject/ams/services/classifier/internal/maintenance"
	"github.com/amsproject/ams/services/classifier/policy"
)

// maxAttempts bounds compare-and-set retries for one alert; beyond it the
// message is nak'ed and retried later rather than spinning.
const maxAttempts = 50

// groupRef is the value in the groups bucket.
type groupRef struct {
	// IncidentID is the group's current incident (or the last one, resolved).
	IncidentID string `json:"incident_id,omitempty"`
	Resolved   bool   `json:"resolved,omitempty"`
	// ChangedAt is when ingest received the notification that last changed
	// the group's open/resolved state; older notifications arriving later are stale.
	ChangedAt time.Time `json:"changed_at"`
	// ResolvedAt is when the last incident resolved, for the reopen window.
	ResolvedAt time.Time `json:"resolved_at,omitzero"`
	// Flap is each fingerprint's flapping state. It lives with the group,
	// not the incident, because a flapping alert resolves and fires across
	// incidents.
	Flap map[string]flapping.State `json:"flap,omitempty"`
	// Members routes the alerts of the group's older incidents, still open
	// when the group window moved new alerts to a newer one (fingerprint →
	// incident id). Entries go when their incident resolves.
	Members map[string]string `json:"members,omitempty"`
}

// member returns the older open incident fp belongs to, if any.
func (r *groupRef) member(fp string) (string, bool) {
	if r == nil {
		return "", false
	}
	id, ok := r.Members[fp]
	return id, ok
}

// withoutMember returns a copy of r without the routes to incident id.
func (r *groupRef) withoutMember(id string) *groupRef {
	next := *r
	next.Members = maps.Clone(r.Members)
	maps.DeleteFunc(next.Members, func(_, v string) bool { return v == id })
	if len(next.Members) == 0 {
		next.Members = nil
	}
	return &next
}

// staleFor reports whether a notification of fp received at recv is older
// than one already applied for it: then it changes nothing. The group's own
// time stands in for refs written before fingerprints had their own.
func (r *groupRef) staleFor(fp string, recv time.Time) bool {
	if r == nil {
		return false
	}
	if st, ok := r.Flap[fp]; ok && !st.LastSeen.IsZero() {
		return !recv.After(st.LastSeen)
	}
	if r.Flap == nil {
		return !recv.After(r.ChangedAt)
	}
	return false
}

func (r *groupRef) flap(fp string) flapping.State {
	if r == nil {
		return flapping.State{}
	}
	return r.Flap[fp]
}

// withFlap returns a copy of r (a new ref when nil) with fp's flapping state set.
func (r *groupRef) withFlap(fp string, st flapping.State) *groupRef {
	var next groupRef
	if r != nil {
		next = *r
	}
	next.Flap = maps.Clone(next.Flap)
	if next.Flap == nil {
		next.Flap = map[string]flapping.State{}
	}
	next.Flap[fp] = st
	return &next
}

// Publisher is the part of bus.Publisher the grouper needs.
type Publisher interface {
	Publish(ctx context.Context, subject, msgID string, m proto.Message) (*jetstream.PubAck, error)
}

// Observer is told what happened, for metrics: each alert's change, and
// each announcement.
type Observer interface {
	Applied(tenant string, change incident.Change)
	Announced(inc *amsv1.Incident, a incident.Announcement)
	Classified(tenant string, v policy.Verdict)
}

// Policies gives a tenant's policy (nil for an unknown tenant).
type Policies interface {
	Tenant(id string) *policy.Tenant
}

// Scheduler asks for a review of inc at inc.ReviewAt.
type Scheduler func(ctx context.Context, inc *amsv1.Incident) error

// Config is what a Grouper works with besides its buckets.
type Config struct {
	Policies Policies
	// Windows are the runtime maintenance windows of a tenant.
	Windows  func(tenant string) []*maintenance.Window
	Pub      Publisher
	Schedule Scheduler
	Observe  Observer
	Log      *slog.Logger
	Now      func() time.Time
}

// Grouper applies alerts to incidents.
type Grouper struct {
	groups    jetstream.KeyValue
	incidents jetstream.KeyValue
	cfg       Config
	// reasons carries an announcement's reason from settle to the publish
	// of the same write (incident id → reason).
	reasons sync.Map
}

// New returns a Grouper over the two buckets.
func New(groups, incidents jetstream.KeyValue, cfg Config) *Grouper {
	if cfg.Windows == nil {
		cfg.Windows = func(string) []*maintenance.Window { return nil }
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Grouper{groups: groups, incidents: incidents, cfg: cfg}
}

// IncidentKey is the incidents-bucket key of an incident.
func IncidentKey(tenant, id string) string { return tenant + "." + id }

func groupKey(tenant, gk string) string {
	sum := sha256.Sum256([]byte(gk))
	return tenant + "." + hex.EncodeToString(sum[:16])
}

func isFiring(a *amsv1.Alert) bool {
	return a.GetStatus() == amsv1.AlertStatus_ALERT_STATUS_FIRING || a.GetStatus() == amsv1.AlertStatus_ALERT_STATUS_ACKNOWLEDGED
}

// Apply applies one alert. It returns nil once the incident state is stored
// and any event it implies is published.
func (g *Grouper) Apply(ctx context.Context, a *amsv1.Alert) error {
	if a.GetTenant() == "" || a.GetId() == "" || a.GetFingerprint() == "" {
		return bus.Permanent(fmt.Errorf("alert %q lacks tenant, id or fingerprint", a.GetId()))
	}
	pol := g.cfg.Policies.Tenant(a.GetTenant())
	if pol == nil {
		return bus.Permanent(fmt.Errorf("alert %s names unknown tenant %q", a.GetId(), a.GetTenant()))
	}
	gk := pol.GroupKey(a)
	key := groupKey(a.GetTenant(), gk)
	// What the alert did is reported once it is done: an attempt that
	// loses a compare-and-set says it too, and only the last one counts.
	note := &changeNote{}
	ctx = context.WithValue(ctx, changeNoteKey{}, note)
	for range maxAttempts {
		done, err := g.attempt(ctx, pol, key, gk, a)
		if err != nil {
			return err
		}
		if done {
			if note.set {
				g.cfg.Observe.Applied(a.GetTenant(), note.change)
			}
			return nil
		}
	}
	return fmt.Errorf("apply alert %s: still conflicting after %d attempts", a.GetId(), maxAttempts)
}

// changeNote carries what an attempt did with the alert to Apply, which
// reports it once the alert is handled.
type changeNote struct {
	change incident.Change
	set    bool
}

type changeNoteKey struct{}

func noteChange(ctx context.Context, c incident.Change) {
	if n, ok := ctx.Value(changeNoteKey{}).(*changeNote); ok {
		n.change, n.set = c, true
	}
}

// attempt makes one try; done=false means a compare-and-set conflict: read again.
func (g *Grouper) attempt(ctx context.Context, pol *policy.Tenant, key, gk string, a *amsv1.Alert) (bool, error) {
	ref, grev, err := g.getRef(ctx, key)
	if err != nil {
		return false, err
	}
	fp := a.GetFingerprint()
	recv := a.GetReceivedAt().AsTime()
	flap, _ := pol.Flapping.Observe(ref.flap(fp), a.GetStatus(), recv)

	if id, ok := ref.member(fp); ok {
		// The alert belongs to an older incident of the group, still open
		// after the group window moved new alerts to a newer one.
		return g.applyToMember(ctx, pol, key, grev, ref, id, flap, a)
	}
	if ref == nil || ref.Resolved {
		if ref != nil && ref.IncidentID != "" && !isFiring(a) {
			// A resolve for an incident already resolved: if it is the very
			// notification that resolved it, make sure its event went out.
			return g.republishIfApplied(ctx, a, ref.IncidentID)
		}
		if ref.staleFor(fp, recv) {
			noteChange(ctx, incident.Stale)
			return true, nil
		}
		if !isFiring(a) {
			// Resolved before any firing was seen (or handled out of order):
			// leave a tombstone so the older firing notification, if it
			// comes, is stale, and count the change for flapping.
			next := ref.withFlap(fp, flap)
			next.Resolved, next.ChangedAt = true, recv
			noteChange(ctx, incident.Unchanged)
			return g.putRef(ctx, key, grev, next)
		}
		if ref != nil && ref.IncidentID != "" && pol.Incidents.ReopenWindow > 0 && recv.Before(ref.ResolvedAt.Add(pol.Incidents.ReopenWindow)) {
			return g.reopen(ctx, pol, key, grev, ref, flap, a)
		}
		return g.open(ctx, pol, key, grev, ref, flap, gk, a)
	}

	inc, irev, err := g.getIncident(ctx, a.GetTenant(), ref.IncidentID)
	if err != nil {
		return false, err
	}
	if inc == nil {
		// The group was written but the process stopped before the incident
		// was: finish opening it under the id the group already names.
		return g.create(ctx, pol, ref, incident.Open(a, gk, ref.IncidentID), a)
	}
	if inc.GetState() == amsv1.IncidentState_INCIDENT_STATE_RESOLVED {
		// The incident resolved but the group was not marked (a stop in
		// between): repair the group, then handle the alert afresh.
		_, err := g.putRef(ctx, key, grev, resolvedRef(ref, inc))
		return false, err
	}
	if w := pol.Incidents.GroupWindow; w > 0 && !hasAlert(inc, fp) && !recv.Before(inc.GetOpenedAt().AsTime().Add(w)) {
		// A new alert of the group after the group window: a new incident,
		// and the current one's alerts stay routed to it while it is open.
		return g.rollOver(ctx, pol, key, grev, ref, inc, flap, gk, a)
	}
	return g.applyTo(ctx, pol, key, grev, ref, inc, irev, flap, a)
}

// applyTo applies a to inc, an open incident of the group.
func (g *Grouper) applyTo(ctx context.Context, pol *policy.Tenant, key string, grev uint64, ref *groupRef, inc *amsv1.Incident, irev uint64, flap flapping.State, a *amsv1.Alert) (bool, error) {
	next, change := incident.Apply(inc, a)
	noteChange(ctx, change)
	switch change {
	case incident.AlreadyApplied:
		return true, g.after(ctx, inc, a.GetId(), "")
	case incident.Stale, incident.Unchanged:
		return true, nil
	}
	if flapping.Differs(ref.flap(a.GetFingerprint()), flap) {
		ref = ref.withFlap(a.GetFingerprint(), flap)
		ok, err := g.putRef(ctx, key, grev, ref)
		if !ok || err != nil {
			return false, err
		}
	}
	if change == incident.Touched {
		ok, err := g.update(ctx, next, irev)
		return ok, err
	}
	settled := g.settle(ctx, pol, ref, inc, next, a.GetReceivedAt().AsTime())
	return g.commit(ctx, key, a.GetId(), inc, settled, irev)
}

// applyToMember applies a to the older open incident id of the group.
func (g *Grouper) applyToMember(ctx context.Context, pol *policy.Tenant, key string, grev uint64, ref *groupRef, id string, flap flapping.State, a *amsv1.Alert) (bool, error) {
	inc, irev, err := g.getIncident(ctx, a.GetTenant(), id)
	if err != nil {
		return false, err
	}
	if inc == nil || inc.GetState() == amsv1.IncidentState_INCIDENT_STATE_RESOLVED {
		// Resolved (or gone) without the group being told: forget its
		// alerts, then handle this one afresh.
		_, err := g.putRef(ctx, key, grev, ref.withoutMember(id))
		return false, err
	}
	return g.applyTo(ctx, pol, key, grev, ref, inc, irev, flap, a)
}

// rollOver opens a new incident for the group, keeping the routes of the
// current incident's alerts to it.
func (g *Grouper) rollOver(ctx context.Context, pol *policy.Tenant, key string, grev uint64, ref *groupRef, cur *amsv1.Incident, flap flapping.State, gk string, a *amsv1.Alert) (bool, error) {
	next := ref.withFlap(a.GetFingerprint(), flap)
	next.Members = maps.Clone(next.Members)
	if next.Members == nil {
		next.Members = map[string]string{}
	}
	for _, ga := range cur.GetAlerts() {
		next.Members[ga.GetFingerprint()] = cur.GetId()
	}
	id := incident.ID(gk, a)
	next.IncidentID, next.Resolved, next.ChangedAt = id, false, a.GetReceivedAt().AsTime()
	if ok, err := g.putRef(ctx, key, grev, next); !ok || err != nil {
		return false, err
	}
	return g.create(ctx, pol, next, incident.Open(a, gk, id), a)
}

func hasAlert(inc *amsv1.Incident, fp string) bool {
	for _, ga := range inc.GetAlerts() {
		if ga.GetFingerprint() == fp {
			return true
		}
	}
	return false
}

// settle classifies and settles next (see policy.Tenant.Settle) with the
// group's flapping states and the tenant's runtime windows, and notes the
// announcement's reason for the publish that follows the write.
func (g *Grouper) settle(ctx context.Context, pol *policy.Tenant, ref *groupRef, prev, next *amsv1.Incident, now time.Time) *amsv1.Incident {
	out := pol.Settle(ctx, prev, next, ref.flap, g.cfg.Windows(next.GetTenant()), now)
	g.cfg.Observe.Classified(next.GetTenant(), out.Verdict)
	if out.Verdict.WindowErr != nil {
		g.cfg.Log.Warn("maintenance window matcher failed; window left out", "tenant", next.GetTenant(), "incident", next.GetId(), "err", out.Verdict.WindowErr)
	}
	if out.Announced {
		g.reasons.Store(out.Incident.GetId(), out.Announcement.Reason)
	}
	return out.Incident
}

// commit writes settled over inc (revision irev), marks the group when it
// resolved, and announces it.
func (g *Grouper) commit(ctx context.Context, key, alertID string, inc, settled *amsv1.Incident, irev uint64) (bool, error) {
	if settled == inc {
		return true, g.after(ctx, inc, alertID, "")
	}
	if ok, err := g.update(ctx, settled, irev); !ok || err != nil {
		return false, err
	}
	if settled.GetState() == amsv1.IncidentState_INCIDENT_STATE_RESOLVED {
		if err := g.markResolved(ctx, key, settled); err != nil {
			return false, err
		}
	}
	return true, g.after(ctx, settled, alertID, g.reason(settled))
}

// markResolved writes the group's tombstone for the resolved incident inc,
// retrying conflicts (flapping state written meanwhile).
func (g *Grouper) markResolved(ctx context.Context, key string, inc *amsv1.Incident) error {
	for range maxAttempts {
		ref, rev, err := g.getRef(ctx, key)
		if err != nil {
			return err
		}
		next := resolvedRef(ref, inc)
		if ref != nil && ref.IncidentID != inc.GetId() {
			// An older incident of the group: only its routes go.
			if !slices.Contains(slices.Collect(maps.Values(ref.Members)), inc.GetId()) {
				return nil
			}
			next = ref.withoutMember(inc.GetId())
		}
		ok, err := g.putRef(ctx, key, rev, next)
		if ok || err != nil {
			return err
		}
	}
	return fmt.Errorf("mark group of %s resolved: still conflicting after %d attempts", inc.GetId(), maxAttempts)
}

func resolvedRef(ref *groupRef, inc *amsv1.Incident) *groupRef {
	var next groupRef
	if ref != nil {
		next = *ref
	}
	next.IncidentID, next.Resolved = inc.GetId(), true
	next.ResolvedAt = inc.GetResolvedAt().AsTime()
	if next.ResolvedAt.After(next.ChangedAt) {
		next.ChangedAt = next.ResolvedAt
	}
	return &next
}

// open points the group at a new incident, then stores and announces it.
func (g *Grouper) open(ctx context.Context, pol *policy.Tenant, key string, grev uint64, ref *groupRef, flap flapping.State, gk string, a *amsv1.Alert) (bool, error) {
	id := incident.ID(gk, a)
	next := ref.withFlap(a.GetFingerprint(), flap)
	next.IncidentID, next.Resolved, next.ChangedAt = id, false, a.GetReceivedAt().AsTime()
	ok, err := g.putRef(ctx, key, grev, next)
	if !ok || err != nil {
		return false, err
	}
	return g.create(ctx, pol, next, incident.Open(a, gk, id), a)
}

// reopen turns the group's resolved incident back to open for a firing alert within the reopen window.
func (g *Grouper) reopen(ctx context.Context, pol *policy.Tenant, key string, grev uint64, ref *groupRef, flap flapping.State, a *amsv1.Alert) (bool, error) {
	inc, irev, err := g.getIncident(ctx, a.GetTenant(), ref.IncidentID)
	if err != nil {
		return false, err
	}
	if inc == nil || inc.GetState() != amsv1.IncidentState_INCIDENT_STATE_RESOLVED {
		return g.open(ctx, pol, key, grev, ref, flap, pol.GroupKey(a), a)
	}
	next := ref.withFlap(a.GetFingerprint(), flap)
	next.Resolved, next.ChangedAt = false, a.GetReceivedAt().AsTime()
	if ok, err := g.putRef(ctx, key, grev, next); !ok || err != nil {
		return false, err
	}
	noteChange(ctx, incident.Updated)
	settled := g.settle(ctx, pol, next, inc, incident.Reopen(inc, a), a.GetReceivedAt().AsTime())
	return g.commit(ctx, key, a.GetId(), inc, settled, irev)
}

func (g *Grouper) create(ctx context.Context, pol *policy.Tenant, ref *groupRef, opened *amsv1.Incident, a *amsv1.Alert) (bool, error) {
	inc := g.settle(ctx, pol, ref, nil, opened, a.GetReceivedAt().AsTime())
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
	noteChange(ctx, incident.Updated)
	return true, g.after(ctx, inc, a.GetId(), g.reason(inc))
}

// Review looks at an incident again at the time it asked for (review_at):
// the end of a delay, of a maintenance window, of a flapping episode or of
// the resolve delay. It is idempotent: a review with nothing due changes nothing.
func (g *Grouper) Review(ctx context.Context, tenant, id string) error {
	for range maxAttempts {
		done, err := g.review(ctx, tenant, id)
		if done || err != nil {
			return err
		}
	}
	return fmt.Errorf("review incident %s: still conflicting after %d attempts", id, maxAttempts)
}

func (g *Grouper) review(ctx context.Context, tenant, id string) (bool, error) {
	inc, irev, err := g.getIncident(ctx, tenant, id)
	if err != nil || inc == nil || inc.GetState() == amsv1.IncidentState_INCIDENT_STATE_RESOLVED {
		return true, err
	}
	pol := g.cfg.Policies.Tenant(tenant)
	if pol == nil {
		return true, bus.Permanent(fmt.Errorf("incident %s names unknown tenant %q", id, tenant))
	}
	now := g.cfg.Now()
	key := groupKey(tenant, inc.GetGroupKey())
	ref, grev, err := g.getRef(ctx, key)
	if err != nil {
		return false, err
	}
	next := ref
	for _, ga := range inc.GetAlerts() {
		st := next.flap(ga.GetFingerprint())
		if ended, tr := pol.Flapping.Check(st, now); tr.StoppedFlapping {
			next = next.withFlap(ga.GetFingerprint(), ended)
		}
	}
	if next != ref {
		if ok, err := g.putRef(ctx, key, grev, next); !ok || err != nil {
			return false, err
		}
	}
	settled := g.settle(ctx, pol, next, inc, inc, now)
	if settled == inc && inc.GetReviewAt() != nil && !inc.GetReviewAt().AsTime().After(now) {
		// Nothing was due after all (a replaced schedule that fired): asking
		// again for a time already past would only loop.
		return true, nil
	}
	return g.commit(ctx, key, "", inc, settled, irev)
}

// progressRank orders the states automation and escalation move an open
// incident through, so an event handled late never moves it back.
var progressRank = map[amsv1.IncidentState]int{
	amsv1.IncidentState_INCIDENT_STATE_OPEN:       1,
	amsv1.IncidentState_INCIDENT_STATE_AUTOMATING: 2,
	amsv1.IncidentState_INCIDENT_STATE_ESCALATED:  3,
}

// Progress records that automation is working on an incident (AUTOMATING)
// or that a human was paged for it (ESCALATED). Only an open incident
// moves, and only forward; a suppressed or resolved one keeps its state.
// The change is kept in the incident without an event: the services that
// caused it announced it themselves, and later snapshots carry it.
func (g *Grouper) Progress(ctx context.Context, tenant, id string, state amsv1.IncidentState) error {
	want, ok := progressRank[state]
	if !ok || want == 1 {
		return bus.Permanent(fmt.Errorf("progress to %s is not automating or escalated", state))
	}
	for range maxAttempts {
		inc, rev, err := g.getIncident(ctx, tenant, id)
		if err != nil {
			return err
		}
		if inc == nil {
			// The event overtook the incident's own write (or names one of
			// another installation): nothing to mark.
			return nil
		}
		if have, ok := progressRank[inc.GetState()]; !ok || have >= want {
			return nil
		}
		next := proto.Clone(inc).(*amsv1.Incident)
		next.State = state
		if ok, err := g.update(ctx, next, rev); ok || err != nil {
			return err
		}
	}
	return fmt.Errorf("progress incident %s: still conflicting after %d attempts", id, maxAttempts)
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
		noteChange(ctx, incident.Stale)
		return true, err
	}
	if _, change := incident.Apply(inc, a); change == incident.AlreadyApplied {
		noteChange(ctx, change)
		return true, g.after(ctx, inc, a.GetId(), "")
	}
	noteChange(ctx, incident.Stale)
	return true, nil
}

// after does what follows a stored version: announce it when it is to be
// announced, and ask for its review. Both are idempotent (the event's
// message id is the incident and version; one schedule per incident), so a
// redelivery calls it again safely.
func (g *Grouper) after(ctx context.Context, inc *amsv1.Incident, alertID, reason string) error {
	if inc.GetAnnouncedVersion() == inc.GetVersion() && inc.GetAnnouncedEvent() != amsv1.IncidentEventType_INCIDENT_EVENT_TYPE_UNSPECIFIED {
		t := inc.GetAnnouncedEvent()
		subject := bus.Subject("incident", incident.EventName(t), inc.GetTenant())
		msgID := fmt.Sprintf("incident:%s:v%d", inc.GetId(), inc.GetVersion())
		if _, err := g.cfg.Pub.Publish(ctx, subject, msgID, &amsv1.IncidentEvent{Type: t, Incident: inc, AlertId: alertID, Reason: reason}); err != nil {
			return err
		}
		if reason != "" {
			g.cfg.Observe.Announced(inc, incident.Announcement{Type: t, Reason: reason})
		}
	}
	if inc.GetReviewAt() != nil && g.cfg.Schedule != nil {
		return g.cfg.Schedule(ctx, inc)
	}
	return nil
}

// reason takes the announcement reason settle noted for inc's current version.
func (g *Grouper) reason(inc *amsv1.Incident) string {
	r, ok := g.reasons.LoadAndDelete(inc.GetId())
	if !ok {
		return ""
	}
	return r.(string)
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

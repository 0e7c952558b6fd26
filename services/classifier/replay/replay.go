// Package replay answers "what would these rules have done with the alerts
// we stored?": it runs stored alerts through a tenant's policy in memory,
// making the decisions the live classifier makes (internal/grouping over
// JetStream KV) in the same order, and counts what came of them: incidents,
// suppressions, activations, automation runs, pages. Compare runs the
// policy in force and a candidate over the same alerts and lists the
// incidents they treat differently, as the admin API's Replay answers.
//
// It is pure: no bus, no clock. Time is the alerts' received_at; the reviews
// the classifier asks for (the end of a delay, of a maintenance window, of a
// flapping episode, of the resolve delay) run when the replayed time passes
// them, at the second JetStream would fire them.
//
// It is a public package because the admin API in the ams module runs it;
// the grouping it mirrors stays internal to the classifier.
package replay

import (
	"context"
	"fmt"
	"maps"
	"time"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/classifier/internal/flapping"
	"github.com/amsproject/ams/services/classifier/internal/incident"
	"github.com/amsproject/ams/services/classifier/policy"
	"github.com/amsproject/ams/services/classifier/windows"
)

// Key names an incident the same way in two replays of the same alerts:
// its group key and the id of the alert that opened it.
type Key struct {
	GroupKey     string
	FirstAlertID string
}

// Outcome is what became of one incident in a replay. Two replays treat an
// incident alike when their outcomes are Same.
type Outcome struct {
	Title     string
	FirstSeen time.Time
	// Activated: the incident was announced as opened, so automation ran
	// its runbook or escalation paged someone. Priority, Runbook and
	// EscalationPolicy are the incident's when it was activated.
	Activated        bool
	Priority         amsv1.Priority
	Runbook          string
	EscalationPolicy string
	// SuppressReason is the reason of the first suppressed announcement; ""
	// when the incident was never announced as suppressed.
	SuppressReason string
	// Held: a delay held the incident at some point before it was activated.
	Held bool
	// Resolved: the incident resolved before the end of the replay.
	Resolved bool
}

// HeldThenResolved reports whether a delay held the incident and it resolved
// without ever being activated or suppressed: the delay saved an action.
func (o Outcome) HeldThenResolved() bool {
	return o.Held && o.Resolved && !o.Activated && o.SuppressReason == ""
}

// Same reports whether o and p treat the incident alike: both activated or
// not (with the same priority, runbook and escalation policy), suppressed
// for the same reason or not at all, and both held then resolved or not.
// Times and titles do not count.
func (o Outcome) Same(p Outcome) bool {
	if o.Activated != p.Activated || o.SuppressReason != p.SuppressReason || o.HeldThenResolved() != p.HeldThenResolved() {
		return false
	}
	return !o.Activated || o.Priority == p.Priority && o.Runbook == p.Runbook && o.EscalationPolicy == p.EscalationPolicy
}

// Summary is the outcome in a few words for a difference listing:
// "P2 runbook=disk-cleanup policy=msp-oncall" for an activated incident
// ("none" for what is unset; no runbook means escalation pages),
// "suppressed: <reason>", both joined by "then" when the suppression ended
// and the incident was activated, "held, resolved before acting".
func (o Outcome) Summary() string {
	var s string
	switch {
	case o.Activated:
		s = fmt.Sprintf("%s runbook=%s policy=%s", priorityName(o.Priority), orNone(o.Runbook), orNone(o.EscalationPolicy))
		if o.SuppressReason != "" {
			s = "suppressed: " + o.SuppressReason + ", then " + s
		}
	case o.SuppressReason != "":
		s = "suppressed: " + o.SuppressReason
	case o.HeldThenResolved():
		s = "held, resolved before acting"
	case o.Resolved:
		s = "resolved without acting"
	default:
		s = "not acted on by the end"
	}
	return s
}

// NotAnIncident is the summary of the side of a difference that has no such
// incident (its rules grouped the alert into another one, or ignored it).
const NotAnIncident = "not an incident"

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// priorityName is "P1".."P5", the keys of ReplayCounts.by_priority.
func priorityName(p amsv1.Priority) string {
	if p >= amsv1.Priority_PRIORITY_P1 && p <= amsv1.Priority_PRIORITY_P5 {
		return fmt.Sprintf("P%d", p)
	}
	return "P?"
}

// group is what the groups bucket holds for one group key (grouping's
// groupRef): the current incident, or a tombstone once it resolved, and
// each fingerprint's flapping state.
type group struct {
	incidentID string
	resolved   bool
	// changedAt is when the notification that last opened or resolved the
	// group was received; older notifications arriving later are stale.
	changedAt  time.Time
	resolvedAt time.Time
	flap       map[string]flapping.State
	// members routes alerts of the group's older incidents still open when
	// the group window moved on (fingerprint → incident id).
	members map[string]string
}

// staleFor is grouping's groupRef.staleFor: older than the fingerprint's
// last notification applied.
func (g *group) staleFor(fp string, recv time.Time) bool {
	if g == nil {
		return false
	}
	if st, ok := g.flap[fp]; ok && !st.LastSeen.IsZero() {
		return !recv.After(st.LastSeen)
	}
	if g.flap == nil {
		return !recv.After(g.changedAt)
	}
	return false
}

func (g *group) flapOf(fp string) flapping.State {
	if g == nil {
		return flapping.State{}
	}
	return g.flap[fp]
}

func (g *group) setFlap(fp string, st flapping.State) {
	if g.flap == nil {
		g.flap = map[string]flapping.State{}
	}
	g.flap[fp] = st
}

// record is one incident of the replay.
type record struct {
	key Key
	// inc is the incident as stored; nil once it resolved and can no
	// longer reopen (no reopen window), to keep a long replay small.
	inc *amsv1.Incident
	out Outcome
	// review is the pending review's queue sequence (0 for none): the
	// classifier keeps one wake-up per incident, a later one replaces it.
	review uint64
	// reviewedAt and reviews count the reviews at one instant, to stop a
	// review that keeps asking for another at once.
	reviewedAt time.Time
	reviews    int
}

// Run is one replay of alerts through one tenant's policy. Feed it the
// alerts in stream order with Add, then call Finish, then read Counts and
// Outcomes. It is not safe for concurrent use; two Runs are independent.
type Run struct {
	pol     *policy.Tenant
	windows func(tenant string) []*windows.Window
	groups  map[string]*group
	records map[string]*record
	order   []*record
	queue   reviewQueue
	// now is the replayed time: the latest receive time or review so far.
	now     time.Time
	ignored int
	// announced, when set, is told every announcement (tests compare them
	// with the live grouper's).
	announced func(inc *amsv1.Incident, a incident.Announcement)
}

// New returns a replay of alerts through pol. windows gives a tenant's
// runtime maintenance windows (those created with amsctl maintenance add),
// as the classifier's Live does; nil means none. The windows written in
// pol's file are pol's own and always apply.
func New(pol *policy.Tenant, windows func(tenant string) []*windows.Window) *Run {
	return &Run{pol: pol, windows: windows, groups: map[string]*group{}, records: map[string]*record{}}
}

// Ignored is the number of alerts the classifier would have refused (no
// tenant, id or fingerprint) or that belong to another tenant than the
// policy's; they change nothing.
func (r *Run) Ignored() int { return r.ignored }

// Add applies one stored alert at its received_at: first every review due
// by then, in time order, then the alert, as the classifier applies it. It
// returns an error only when ctx has ended, since the rules then stop
// matching and the replay is no longer what the classifier would do.
func (r *Run) Add(ctx context.Context, a *amsv1.Alert) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if a.GetTenant() == "" || a.GetId() == "" || a.GetFingerprint() == "" || a.GetTenant() != r.pol.ID {
		r.ignored++
		return nil
	}
	recv := a.GetReceivedAt().AsTime()
	r.reviewUntil(ctx, recv)
	if recv.After(r.now) {
		r.now = recv
	}
	r.apply(ctx, a, recv)
	return ctx.Err()
}

// Finish performs the reviews due up to until, the end of the replayed
// period (now, for a replay of the last day).
func (r *Run) Finish(ctx context.Context, until time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r.reviewUntil(ctx, until)
	return ctx.Err()
}

// Outcomes returns every incident's outcome so far.
func (r *Run) Outcomes() map[Key]Outcome {
	out := make(map[Key]Outcome, len(r.order))
	for _, rec := range r.order {
		out[rec.key] = rec.out
	}
	return out
}

// Counts sums up the outcomes so far.
func (r *Run) Counts() *amsv1.ReplayCounts {
	c := &amsv1.ReplayCounts{SuppressedByReason: map[string]int64{}, ByPriority: map[string]int64{}}
	for _, rec := range r.order {
		o := rec.out
		c.Incidents++
		if o.SuppressReason != "" {
			c.Suppressed++
			c.SuppressedByReason[o.SuppressReason]++
		}
		if o.Activated {
			c.Activated++
			if o.Runbook != "" {
				c.AutomationRuns++
			} else {
				c.Pages++
			}
			c.ByPriority[priorityName(o.Priority)]++
		}
		if o.HeldThenResolved() {
			c.HeldThenResolved++
		}
	}
	return c
}

func isFiring(a *amsv1.Alert) bool {
	return a.GetStatus() == amsv1.AlertStatus_ALERT_STATUS_FIRING || a.GetStatus() == amsv1.AlertStatus_ALERT_STATUS_ACKNOWLEDGED
}

// apply is grouping's Grouper.attempt without the buckets: one attempt
// always succeeds, since nothing else writes.
func (r *Run) apply(ctx context.Context, a *amsv1.Alert, recv time.Time) {
	pol := r.pol
	gk := pol.GroupKey(a)
	ref := r.groups[gk]
	fp := a.GetFingerprint()
	flap, _ := pol.Flapping.Observe(ref.flapOf(fp), a.GetStatus(), recv)

	if ref != nil {
		if id, ok := ref.members[fp]; ok {
			if rec := r.records[id]; rec != nil && rec.inc != nil && rec.inc.GetState() != amsv1.IncidentState_INCIDENT_STATE_RESOLVED {
				r.applyTo(ctx, ref, rec, flap, a, recv)
				return
			}
			r.forget(ref, id)
		}
	}
	if ref == nil || ref.resolved {
		switch {
		case ref != nil && ref.incidentID != "" && !isFiring(a):
			// A resolve for an incident already resolved: the classifier
			// at most publishes its event again. Nothing changes.
			return
		case ref.staleFor(fp, recv):
			return
		case !isFiring(a):
			// Resolved before any firing was seen: a tombstone.
			if ref == nil {
				ref = &group{}
				r.groups[gk] = ref
			}
			ref.setFlap(fp, flap)
			ref.resolved, ref.changedAt = true, recv
			return
		case ref != nil && ref.incidentID != "" && pol.Incidents.ReopenWindow > 0 && recv.Before(ref.resolvedAt.Add(pol.Incidents.ReopenWindow)):
			if rec := r.records[ref.incidentID]; rec != nil && rec.inc != nil && rec.inc.GetState() == amsv1.IncidentState_INCIDENT_STATE_RESOLVED {
				r.reopen(ctx, ref, rec, flap, a, recv)
				return
			}
		}
		r.open(ctx, gk, ref, flap, a, recv)
		return
	}

	rec := r.records[ref.incidentID]
	if w := pol.Incidents.GroupWindow; w > 0 && !hasAlert(rec.inc, fp) && !recv.Before(rec.inc.GetOpenedAt().AsTime().Add(w)) {
		// grouping's rollOver: a new incident; the current one's alerts
		// stay routed to it.
		if ref.members == nil {
			ref.members = map[string]string{}
		}
		for _, ga := range rec.inc.GetAlerts() {
			ref.members[ga.GetFingerprint()] = rec.inc.GetId()
		}
		r.open(ctx, gk, ref, flap, a, recv)
		return
	}
	r.applyTo(ctx, ref, rec, flap, a, recv)
}

// applyTo is grouping's applyTo: a applied to rec's open incident.
func (r *Run) applyTo(ctx context.Context, ref *group, rec *record, flap flapping.State, a *amsv1.Alert, recv time.Time) {
	inc := rec.inc
	next, change := incident.Apply(inc, a)
	switch change {
	case incident.AlreadyApplied:
		r.after(rec)
		return
	case incident.Stale, incident.Unchanged:
		return
	}
	if flapping.Differs(ref.flapOf(a.GetFingerprint()), flap) {
		ref.setFlap(a.GetFingerprint(), flap) // as the grouper stores it
	}
	if change == incident.Touched {
		rec.inc = next // stored without settling; no review asked for
		return
	}
	r.commit(rec, r.settle(ctx, ref, rec, inc, next, recv))
}

// forget drops the routes to incident id.
func (r *Run) forget(ref *group, id string) {
	maps.DeleteFunc(ref.members, func(_, v string) bool { return v == id })
}

func hasAlert(inc *amsv1.Incident, fp string) bool {
	for _, ga := range inc.GetAlerts() {
		if ga.GetFingerprint() == fp {
			return true
		}
	}
	return false
}

// open points the group at a new incident and settles it (grouping's open
// and create).
func (r *Run) open(ctx context.Context, gk string, ref *group, flap flapping.State, a *amsv1.Alert, recv time.Time) {
	id := incident.ID(gk, a)
	if _, dup := r.records[id]; dup {
		// The same alert id opening its group twice: the classifier's
		// create finds the incident exists and ends up dead-lettering it.
		r.ignored++
		return
	}
	if ref == nil {
		ref = &group{}
		r.groups[gk] = ref
	}
	ref.setFlap(a.GetFingerprint(), flap)
	ref.incidentID, ref.resolved, ref.changedAt = id, false, recv
	rec := &record{key: Key{GroupKey: gk, FirstAlertID: a.GetId()}}
	r.records[id] = rec
	r.order = append(r.order, rec)
	opened := incident.Open(a, gk, id)
	rec.out.Title, rec.out.FirstSeen = opened.GetTitle(), recv
	r.commit(rec, r.settle(ctx, ref, rec, nil, opened, recv))
}

// reopen turns the group's resolved incident back to open for a firing
// alert within the reopen window.
func (r *Run) reopen(ctx context.Context, ref *group, rec *record, flap flapping.State, a *amsv1.Alert, recv time.Time) {
	ref.setFlap(a.GetFingerprint(), flap)
	ref.resolved, ref.changedAt = false, recv
	rec.out.Resolved = false
	r.commit(rec, r.settle(ctx, ref, rec, rec.inc, incident.Reopen(rec.inc, a), recv))
}

// review is grouping's Review at now: end flapping episodes that have been
// quiet long enough, then settle the incident as it is.
func (r *Run) review(ctx context.Context, rec *record, now time.Time) {
	inc := rec.inc
	if inc == nil || inc.GetState() == amsv1.IncidentState_INCIDENT_STATE_RESOLVED {
		return
	}
	ref := r.groups[inc.GetGroupKey()]
	for _, ga := range inc.GetAlerts() {
		if ended, tr := r.pol.Flapping.Check(ref.flapOf(ga.GetFingerprint()), now); tr.StoppedFlapping {
			ref.setFlap(ga.GetFingerprint(), ended)
		}
	}
	settled := r.settle(ctx, ref, rec, inc, inc, now)
	if settled == inc && inc.GetReviewAt() != nil && !inc.GetReviewAt().AsTime().After(now) {
		return // nothing was due after all; asking again would only loop
	}
	r.commit(rec, settled)
}

// settle is grouping's settle: classify next (inc with an alert applied,
// or inc itself on a review) at now and settle its state; the version
// rises and the announcement is decided when anything changed.
func (r *Run) settle(ctx context.Context, ref *group, rec *record, prev, next *amsv1.Incident, now time.Time) *amsv1.Incident {
	var runtime []*windows.Window
	if r.windows != nil {
		runtime = r.windows(next.GetTenant())
	}
	out := r.pol.Settle(ctx, prev, next, ref.flapOf, runtime, now)
	if out.Announced {
		r.announce(rec, out.Incident, out.Announcement)
	}
	return out.Incident
}

// announce notes what an announcement means for the incident's outcome.
func (r *Run) announce(rec *record, inc *amsv1.Incident, ann incident.Announcement) {
	switch ann.Type {
	case amsv1.IncidentEventType_INCIDENT_EVENT_TYPE_OPENED:
		if !rec.out.Activated {
			rec.out.Activated = true
			rec.out.Priority, rec.out.Runbook, rec.out.EscalationPolicy = inc.GetPriority(), inc.GetRunbook(), inc.GetEscalationPolicy()
		}
	case amsv1.IncidentEventType_INCIDENT_EVENT_TYPE_SUPPRESSED:
		if rec.out.SuppressReason == "" {
			rec.out.SuppressReason = inc.GetSuppressReason()
		}
	}
	if r.announced != nil {
		r.announced(inc, ann)
	}
}

// commit stores settled (grouping's commit and after): marks the group when
// it resolved and asks for its review.
func (r *Run) commit(rec *record, settled *amsv1.Incident) {
	rec.inc = settled
	if settled.GetActAfter() != nil && settled.GetActivatedAt() == nil {
		rec.out.Held = true
	}
	if settled.GetState() == amsv1.IncidentState_INCIDENT_STATE_RESOLVED {
		rec.out.Resolved = true
		ref := r.groups[settled.GetGroupKey()]
		if ref != nil && ref.incidentID != settled.GetId() {
			r.forget(ref, settled.GetId())
		}
		if ref != nil && ref.incidentID == settled.GetId() {
			ref.resolved = true
			ref.resolvedAt = settled.GetResolvedAt().AsTime()
			if ref.resolvedAt.After(ref.changedAt) {
				ref.changedAt = ref.resolvedAt
			}
		}
		if r.pol.Incidents.ReopenWindow <= 0 {
			rec.inc = nil // it can never change again
		}
	}
	r.after(rec)
}

// after asks for the incident's review at its review_at, as the classifier
// schedules it: rounded up to the second, at once when already past.
func (r *Run) after(rec *record) {
	if rec.inc.GetReviewAt() == nil {
		return
	}
	at := rec.inc.GetReviewAt().AsTime()
	when := at.UTC().Truncate(time.Second)
	if when.Before(at) {
		when = when.Add(time.Second)
	}
	if when.Before(r.now) {
		when = r.now
	}
	rec.review = r.queue.push(when, rec)
}

// maxReviewsAtOnce bounds the reviews of one incident at one instant: a
// review that keeps asking for another at once would otherwise never end
// (the classifier would loop the same way, but a replay must finish).
const maxReviewsAtOnce = 16

// reviewUntil performs every review due at or before t, in time order.
func (r *Run) reviewUntil(ctx context.Context, t time.Time) {
	for {
		e, ok := r.queue.popDue(t)
		if !ok {
			return
		}
		rec := e.rec
		if rec.review != e.seq {
			continue // replaced by a later schedule
		}
		rec.review = 0
		if !e.at.Equal(rec.reviewedAt) {
			rec.reviewedAt, rec.reviews = e.at, 0
		}
		if rec.reviews++; rec.reviews > maxReviewsAtOnce {
			continue
		}
		if e.at.After(r.now) {
			r.now = e.at
		}
		r.review(ctx, rec, e.at)
	}
}

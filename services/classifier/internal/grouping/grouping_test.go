package grouping

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/amsproject/ams/pkg/bus"
	"github.com/amsproject/ams/pkg/config"
	"github.com/amsproject/ams/pkg/kvproto"
	"github.com/amsproject/ams/pkg/natstest"
	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/classifier/internal/incident"
	"github.com/amsproject/ams/services/classifier/policy"
)

// policies is every tenant's policy for tests: the default unless set.
type policies map[string]*policy.Tenant

func (p policies) Tenant(id string) *policy.Tenant {
	if t, ok := p[id]; ok {
		return t
	}
	return policy.Default(config.Tenant{ID: id})
}

// observer records what the grouper reports.
type observer struct {
	mu      sync.Mutex
	changes []incident.Change
	events  []amsv1.IncidentEventType
}

func (o *observer) Applied(_ string, c incident.Change) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.changes = append(o.changes, c)
}

func (o *observer) Announced(_ *amsv1.Incident, a incident.Announcement) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.events = append(o.events, a.Type)
}

func (o *observer) Classified(string, policy.Verdict) {}

func newGrouper(groups, incidents jetstream.KeyValue, pub Publisher, pols policies, obs *observer) *Grouper {
	if obs == nil {
		obs = &observer{}
	}
	return New(groups, incidents, Config{Policies: pols, Pub: pub, Observe: obs, Log: slog.New(slog.DiscardHandler)})
}

// idOf is the id of the incident alert a opens when grouped by fingerprint.
func idOf(a *amsv1.Alert) string { return incident.ID(a.GetFingerprint(), a) }

var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

const (
	firing   = amsv1.AlertStatus_ALERT_STATUS_FIRING
	resolved = amsv1.AlertStatus_ALERT_STATUS_RESOLVED
)

func alert(id string, status amsv1.AlertStatus, at time.Duration) *amsv1.Alert {
	return &amsv1.Alert{
		Id:          id,
		Tenant:      "acme",
		Integration: "acme-am",
		Fingerprint: "fp-1",
		Status:      status,
		Severity:    amsv1.Severity_SEVERITY_WARNING,
		Summary:     "disk full on web-1",
		ReceivedAt:  timestamppb.New(t0.Add(at)),
	}
}

// published is one Publish call the grouper made.
type published struct {
	subject, msgID string
	duplicate      bool
	event          *amsv1.IncidentEvent
}

// recorder publishes through a real bus.Publisher and remembers each call.
type recorder struct {
	pub *bus.Publisher
	mu  sync.Mutex
	got []published
}

func (r *recorder) Publish(ctx context.Context, subject, msgID string, m proto.Message) (*jetstream.PubAck, error) {
	ack, err := r.pub.Publish(ctx, subject, msgID, m)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, published{subject: subject, msgID: msgID, duplicate: ack.Duplicate, event: proto.Clone(m).(*amsv1.IncidentEvent)})
	return ack, nil
}

// take returns and forgets what was published so far.
func (r *recorder) take() []published {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.got
	r.got = nil
	return out
}

// replica is one classifier process: its own connection, buckets and grouper.
type replica struct {
	js        jetstream.JetStream
	groups    jetstream.KeyValue
	incidents jetstream.KeyValue
	rec       *recorder
	g         *Grouper
}

func setup(tb testing.TB) (*server.Server, *replica) {
	tb.Helper()
	srv := natstest.RunServer(tb)
	_, js := natstest.Connect(tb, srv)
	ctx := context.Background()
	_, err := bus.EnsureStream(ctx, js, jetstream.StreamConfig{
		Name: "INCIDENTS", Subjects: []string{"ams.incident.>"}, Duplicates: 10 * time.Minute,
	})
	require.NoError(tb, err)
	_, err = bus.EnsureKV(ctx, js, jetstream.KeyValueConfig{Bucket: "incidents", History: 5})
	require.NoError(tb, err)
	_, err = bus.EnsureKV(ctx, js, jetstream.KeyValueConfig{Bucket: "incident-groups", History: 1})
	require.NoError(tb, err)
	return srv, newReplica(tb, srv)
}

func newReplica(tb testing.TB, srv *server.Server) *replica {
	tb.Helper()
	_, js := natstest.Connect(tb, srv)
	ctx := context.Background()
	groups, err := js.KeyValue(ctx, "incident-groups")
	require.NoError(tb, err)
	incidents, err := js.KeyValue(ctx, "incidents")
	require.NoError(tb, err)
	rec := &recorder{pub: bus.NewPublisher(js, "classifier", noop.NewTracerProvider())}
	return &replica{
		js: js, groups: groups, incidents: incidents, rec: rec,
		g: newGrouper(groups, incidents, rec, nil, nil),
	}
}

func (r *replica) apply(tb testing.TB, a *amsv1.Alert) {
	tb.Helper()
	require.NoError(tb, r.g.Apply(context.Background(), a))
}

func (r *replica) incidentsStored(tb testing.TB) []*amsv1.Incident {
	tb.Helper()
	all, err := kvproto.List(context.Background(), r.incidents, ">", func() *amsv1.Incident { return &amsv1.Incident{} })
	require.NoError(tb, err)
	return all
}

func (r *replica) incident(tb testing.TB, id string) *amsv1.Incident {
	tb.Helper()
	inc, err := kvproto.One(context.Background(), r.incidents, IncidentKey("acme", id), func() *amsv1.Incident { return &amsv1.Incident{} })
	require.NoError(tb, err)
	return inc
}

func (r *replica) streamMsgs(tb testing.TB) uint64 {
	tb.Helper()
	s, err := r.js.Stream(context.Background(), "INCIDENTS")
	require.NoError(tb, err)
	info, err := s.Info(context.Background())
	require.NoError(tb, err)
	return info.State.Msgs
}

func TestFiringAlertOpensIncident(t *testing.T) {
	_, r := setup(t)
	a := alert("a-1", firing, 0)
	r.apply(t, a)

	id := idOf(a)
	got := r.rec.take()
	require.Len(t, got, 1)
	require.Equal(t, "ams.incident.opened.acme", got[0].subject)
	require.Equal(t, "incident:"+id+":v1", got[0].msgID)
	require.False(t, got[0].duplicate)
	ev := got[0].event
	require.Equal(t, amsv1.IncidentEventType_INCIDENT_EVENT_TYPE_OPENED, ev.GetType())
	require.Equal(t, "a-1", ev.GetAlertId())
	require.Equal(t, id, ev.GetIncident().GetId())

	stored := r.incident(t, id)
	require.True(t, proto.Equal(ev.GetIncident(), stored), "the event carries the stored incident")
	require.Equal(t, int64(1), stored.GetAlertCount())
	require.Equal(t, int64(1), stored.GetVersion())
	require.Len(t, r.incidentsStored(t), 1)

	// The same alert again (a redelivery) announces the same version again,
	// which the stream drops as a duplicate.
	r.apply(t, a)
	again := r.rec.take()
	require.Len(t, again, 1)
	require.Equal(t, "incident:"+id+":v1", again[0].msgID)
	require.True(t, again[0].duplicate)
	require.Equal(t, uint64(1), r.streamMsgs(t))
	stored = r.incident(t, id)
	require.Equal(t, int64(1), stored.GetAlertCount(), "a redelivery is not counted twice")
	require.Equal(t, int64(1), stored.GetVersion())
}

func TestResentNotificationTouchesSilently(t *testing.T) {
	_, r := setup(t)
	r.apply(t, alert("a-1", firing, 0))
	id := idOf(alert("a-1", firing, 0))
	r.rec.take()

	r.apply(t, alert("a-2", firing, time.Minute))
	r.apply(t, alert("a-3", firing, 2*time.Minute))
	require.Empty(t, r.rec.take(), "a re-sent notification publishes nothing")

	stored := r.incident(t, id)
	require.Equal(t, int64(3), stored.GetAlertCount())
	require.Equal(t, int64(1), stored.GetVersion())
	require.True(t, stored.GetLastSeen().AsTime().Equal(t0.Add(2*time.Minute)))
	require.Len(t, r.incidentsStored(t), 1)
	require.Equal(t, uint64(1), r.streamMsgs(t))
}

func TestEscalationPublishesUpdate(t *testing.T) {
	_, r := setup(t)
	a := alert("a-1", firing, 0)
	r.apply(t, a)
	r.rec.take()

	crit := alert("a-2", firing, time.Minute)
	crit.Severity = amsv1.Severity_SEVERITY_CRITICAL
	r.apply(t, crit)
	got := r.rec.take()
	require.Len(t, got, 1)
	require.Equal(t, "ams.incident.updated.acme", got[0].subject)
	require.Equal(t, fmt.Sprintf("incident:%s:v2", idOf(a)), got[0].msgID)
	require.Equal(t, amsv1.Priority_PRIORITY_P1, got[0].event.GetIncident().GetPriority())
	require.Equal(t, "a-2", got[0].event.GetAlertId())
}

func TestResolveThenFireAgainOpensNewIncident(t *testing.T) {
	_, r := setup(t)
	first := alert("a-1", firing, 0)
	r.apply(t, first)
	firstID := idOf(first)
	r.rec.take()

	res := alert("a-2", resolved, time.Minute)
	r.apply(t, res)
	got := r.rec.take()
	require.Len(t, got, 1)
	require.Equal(t, "ams.incident.resolved.acme", got[0].subject)
	require.Equal(t, "incident:"+firstID+":v2", got[0].msgID)
	require.Equal(t, amsv1.IncidentEventType_INCIDENT_EVENT_TYPE_RESOLVED, got[0].event.GetType())
	require.Equal(t, "a-2", got[0].event.GetAlertId())
	stored := r.incident(t, firstID)
	require.Equal(t, amsv1.IncidentState_INCIDENT_STATE_RESOLVED, stored.GetState())
	require.True(t, stored.GetResolvedAt().AsTime().Equal(t0.Add(time.Minute)))

	// The resolving notification redelivered: announced again, stored once.
	r.apply(t, res)
	got = r.rec.take()
	require.Len(t, got, 1)
	require.Equal(t, "incident:"+firstID+":v2", got[0].msgID)
	require.True(t, got[0].duplicate)

	// A late copy of an older firing is stale and changes nothing.
	r.apply(t, alert("a-0", firing, 30*time.Second))
	require.Empty(t, r.rec.take())
	require.Len(t, r.incidentsStored(t), 1)

	// The problem comes back: a new incident.
	again := alert("a-3", firing, time.Hour)
	r.apply(t, again)
	secondID := idOf(again)
	require.NotEqual(t, firstID, secondID)
	got = r.rec.take()
	require.Len(t, got, 1)
	require.Equal(t, "ams.incident.opened.acme", got[0].subject)
	require.Equal(t, "incident:"+secondID+":v1", got[0].msgID)
	require.False(t, got[0].duplicate)

	require.Len(t, r.incidentsStored(t), 2)
	require.Equal(t, amsv1.IncidentState_INCIDENT_STATE_RESOLVED, r.incident(t, firstID).GetState())
	second := r.incident(t, secondID)
	require.Equal(t, amsv1.IncidentState_INCIDENT_STATE_OPEN, second.GetState())
	require.Equal(t, int64(1), second.GetAlertCount())

	// Further notifications go to the new incident.
	r.apply(t, alert("a-4", firing, 2*time.Hour))
	require.Equal(t, int64(2), r.incident(t, secondID).GetAlertCount())
	require.Equal(t, int64(2), r.incident(t, firstID).GetAlertCount())
}

func TestResolveBeforeOlderFiringLeavesNoIncident(t *testing.T) {
	_, r := setup(t)
	// Two workers: the resolve (received later) is handled first.
	r.apply(t, alert("a-2", resolved, time.Minute))
	r.apply(t, alert("a-1", firing, 0))
	require.Empty(t, r.rec.take())
	require.Empty(t, r.incidentsStored(t), "no incident for a problem already over")

	// The same firing notification at the same instant as the resolve is stale too.
	r.apply(t, alert("a-1b", firing, time.Minute))
	require.Empty(t, r.incidentsStored(t))

	// A genuinely new firing afterwards opens one.
	later := alert("a-3", firing, 2*time.Minute)
	r.apply(t, later)
	all := r.incidentsStored(t)
	require.Len(t, all, 1)
	require.Equal(t, idOf(later), all[0].GetId())
	got := r.rec.take()
	require.Len(t, got, 1)
	require.Equal(t, "ams.incident.opened.acme", got[0].subject)
}

func TestTenantsAndFingerprintsAreSeparate(t *testing.T) {
	_, r := setup(t)
	a := alert("a-1", firing, 0)
	b := alert("b-1", firing, 0)
	b.Fingerprint = "fp-2"
	c := alert("c-1", firing, 0)
	c.Tenant = "beta"
	for _, x := range []*amsv1.Alert{a, b, c} {
		r.apply(t, x)
	}
	require.Len(t, r.incidentsStored(t), 3)
	subjects := map[string]int{}
	for _, p := range r.rec.take() {
		subjects[p.subject]++
	}
	require.Equal(t, map[string]int{"ams.incident.opened.acme": 2, "ams.incident.opened.beta": 1}, subjects)
}

func TestApplyRejectsIncompleteAlert(t *testing.T) {
	_, r := setup(t)
	tests := []struct {
		name   string
		mutate func(a *amsv1.Alert)
	}{
		{"no tenant", func(a *amsv1.Alert) { a.Tenant = "" }},
		{"no id", func(a *amsv1.Alert) { a.Id = "" }},
		{"no fingerprint", func(a *amsv1.Alert) { a.Fingerprint = "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := alert("a-1", firing, 0)
			tt.mutate(a)
			err := r.g.Apply(context.Background(), a)
			require.ErrorContains(t, err, "lacks tenant, id or fingerprint")
			require.True(t, bus.IsPermanent(err))
		})
	}
	require.Empty(t, r.incidentsStored(t))
	require.Empty(t, r.rec.take())
}

func TestObserver(t *testing.T) {
	srv, _ := setup(t)
	r := newReplica(t, srv)
	obs := &observer{}
	r.g = newGrouper(r.groups, r.incidents, r.rec, nil, obs)
	r.apply(t, alert("a-1", firing, 0))
	r.apply(t, alert("a-2", firing, time.Minute))
	r.apply(t, alert("a-2", firing, time.Minute))
	r.apply(t, alert("a-0", firing, -time.Minute))
	r.apply(t, alert("a-3", resolved, 2*time.Minute))
	require.Equal(t, []incident.Change{incident.Updated, incident.Touched, incident.AlreadyApplied, incident.Stale, incident.Updated}, obs.changes)
	require.Equal(t, []amsv1.IncidentEventType{amsv1.IncidentEventType_INCIDENT_EVENT_TYPE_OPENED, amsv1.IncidentEventType_INCIDENT_EVENT_TYPE_RESOLVED}, obs.events)
}

// gatedKV holds the first Create until released, to force one interleaving.
type gatedKV struct {
	jetstream.KeyValue
	once             sync.Once
	entered, release chan struct{}
}

func (k *gatedKV) Create(ctx context.Context, key string, value []byte, opts ...jetstream.KVCreateOpt) (uint64, error) {
	first := false
	k.once.Do(func() { first = true })
	if first {
		close(k.entered)
		<-k.release
	}
	return k.KeyValue.Create(ctx, key, value, opts...)
}

// TestConcurrentOpenLosesNoAlert: replica A points the group at a new
// incident; before A creates it, replica B creates it from its own alert. A's
// alert must still be counted.
func TestConcurrentOpenLosesNoAlert(t *testing.T) {
	srv, b := setup(t)
	a := newReplica(t, srv)
	gated := &gatedKV{KeyValue: a.incidents, entered: make(chan struct{}), release: make(chan struct{})}
	a.g = newGrouper(a.groups, gated, a.rec, nil, nil)

	errc := make(chan error, 1)
	go func() { errc <- a.g.Apply(context.Background(), alert("a-1", firing, 0)) }()
	<-gated.entered
	b.apply(t, alert("b-1", firing, 0))
	close(gated.release)
	require.NoError(t, <-errc)

	all := b.incidentsStored(t)
	require.Len(t, all, 1)
	require.Equal(t, int64(2), all[0].GetAlertCount(), "both alerts counted")
}

// TestConcurrentReplicasLoseNoAlert: a storm of one fingerprint over four
// replicas ends with one incident counting every alert once.
func TestConcurrentReplicasLoseNoAlert(t *testing.T) {
	srv, _ := setup(t)
	const replicas, perReplica = 4, 50
	rs := make([]*replica, replicas)
	for i := range rs {
		rs[i] = newReplica(t, srv)
	}
	start := make(chan struct{})
	errs := make(chan error, replicas*perReplica)
	var wg sync.WaitGroup
	for i, r := range rs {
		wg.Go(func() {
			<-start
			for j := range perReplica {
				errs <- r.g.Apply(context.Background(), alert(fmt.Sprintf("a-%d-%d", i, j), firing, 0))
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	all := rs[0].incidentsStored(t)
	require.Len(t, all, 1, "one incident for one fingerprint")
	require.Equal(t, int64(replicas*perReplica), all[0].GetAlertCount(), "every alert counted once")
	require.Equal(t, int64(1), all[0].GetVersion())
	require.Equal(t, amsv1.IncidentState_INCIDENT_STATE_OPEN, all[0].GetState())
	var opened []published
	for _, r := range rs {
		opened = append(opened, r.rec.take()...)
	}
	require.NotEmpty(t, opened)
	for _, p := range opened {
		require.Equal(t, "incident:"+all[0].GetId()+":v1", p.msgID)
	}
	require.Equal(t, uint64(1), rs[0].streamMsgs(t), "one opened event stored")
}

// hostPolicy groups acme's alerts by host, with group window w.
func hostPolicy(tb testing.TB, w time.Duration) policies {
	tb.Helper()
	doc := "incidents:\n  group_by: [host]\n"
	if w > 0 {
		doc += "  group_window: " + w.String() + "\n"
	}
	p, err := policy.Parse([]byte(doc), "acme.yaml", config.Tenant{ID: "acme"})
	require.NoError(tb, err)
	return policies{"acme": p}
}

// hostAlert is a notification of fingerprint fp on host web-1.
func hostAlert(id, fp string, status amsv1.AlertStatus, at time.Duration) *amsv1.Alert {
	a := alert(id, status, at)
	a.Fingerprint = fp
	a.Labels = map[string]string{"host": "web-1"}
	return a
}

func TestGroupWindowRollsOverAndRoutesOlderAlerts(t *testing.T) {
	_, r := setup(t)
	r.g = newGrouper(r.groups, r.incidents, r.rec, hostPolicy(t, 10*time.Minute), nil)
	byID := func(id string) *amsv1.Incident { return r.incident(t, id) }

	r.apply(t, hostAlert("a1", "fp-a", firing, 0))
	r.apply(t, hostAlert("b1", "fp-b", firing, 5*time.Minute))
	all := r.incidentsStored(t)
	require.Len(t, all, 1, "within the window: one incident")
	first := all[0].GetId()
	require.Len(t, byID(first).GetAlerts(), 2)

	r.apply(t, hostAlert("c1", "fp-c", firing, 15*time.Minute))
	all = r.incidentsStored(t)
	require.Len(t, all, 2, "after the window: a new incident")
	var second string
	for _, inc := range all {
		if inc.GetId() != first {
			second = inc.GetId()
		}
	}
	require.Len(t, byID(second).GetAlerts(), 1)

	// The older incident's alerts still go to it.
	r.apply(t, hostAlert("a2", "fp-a", resolved, 16*time.Minute))
	require.Equal(t, resolved, byID(first).GetAlerts()[0].GetStatus())
	require.Len(t, byID(second).GetAlerts(), 1, "fp-a did not move to the new incident")
	r.apply(t, hostAlert("b2", "fp-b", resolved, 17*time.Minute))
	require.Equal(t, amsv1.IncidentState_INCIDENT_STATE_RESOLVED, byID(first).GetState())
	require.Equal(t, amsv1.IncidentState_INCIDENT_STATE_OPEN, byID(second).GetState())

	// A new alert within the new incident's window joins it.
	r.apply(t, hostAlert("d1", "fp-d", firing, 18*time.Minute))
	require.Len(t, byID(second).GetAlerts(), 2)
	require.Len(t, r.incidentsStored(t), 2)

	// fp-a firing again after its incident resolved: its route is gone, so
	// it joins the group's current incident.
	r.apply(t, hostAlert("a3", "fp-a", firing, 19*time.Minute))
	require.Len(t, byID(second).GetAlerts(), 3)
	require.Equal(t, amsv1.IncidentState_INCIDENT_STATE_RESOLVED, byID(first).GetState())
}

func TestGroupedAlertHandledLateIsNotLost(t *testing.T) {
	_, r := setup(t)
	r.g = newGrouper(r.groups, r.incidents, r.rec, hostPolicy(t, 0), nil)
	r.apply(t, hostAlert("a1", "fp-a", firing, 0))
	r.apply(t, hostAlert("a2", "fp-a", resolved, 2*time.Second))
	// fp-b fired at 1s but a worker handles it only now: another alert of
	// the group resolved later, yet fp-b's own notification is not stale.
	r.apply(t, hostAlert("b1", "fp-b", firing, time.Second))
	all := r.incidentsStored(t)
	require.Len(t, all, 2)
	open := 0
	for _, inc := range all {
		if inc.GetState() == amsv1.IncidentState_INCIDENT_STATE_OPEN {
			open++
			require.Equal(t, "fp-b", inc.GetAlerts()[0].GetFingerprint())
		}
	}
	require.Equal(t, 1, open)
	// fp-a's own older notification still is stale.
	r.apply(t, hostAlert("a0", "fp-a", firing, time.Second))
	require.Len(t, r.incidentsStored(t), 2)
}

func TestProgressMovesOnlyForward(t *testing.T) {
	_, r := setup(t)
	a := alert("a-1", firing, 0)
	r.apply(t, a)
	id := idOf(a)
	ctx := context.Background()
	state := func() amsv1.IncidentState { return r.incident(t, id).GetState() }

	require.NoError(t, r.g.Progress(ctx, "acme", id, amsv1.IncidentState_INCIDENT_STATE_AUTOMATING))
	require.Equal(t, amsv1.IncidentState_INCIDENT_STATE_AUTOMATING, state())
	require.NoError(t, r.g.Progress(ctx, "acme", id, amsv1.IncidentState_INCIDENT_STATE_ESCALATED))
	require.Equal(t, amsv1.IncidentState_INCIDENT_STATE_ESCALATED, state())
	require.NoError(t, r.g.Progress(ctx, "acme", id, amsv1.IncidentState_INCIDENT_STATE_AUTOMATING))
	require.Equal(t, amsv1.IncidentState_INCIDENT_STATE_ESCALATED, state(), "never back")
	require.Equal(t, int64(1), r.incident(t, id).GetVersion(), "no version, no event of its own")

	// Later changes keep it; resolving resolves it.
	r.apply(t, alert("a-2", resolved, time.Minute))
	require.Equal(t, amsv1.IncidentState_INCIDENT_STATE_RESOLVED, state())
	require.NoError(t, r.g.Progress(ctx, "acme", id, amsv1.IncidentState_INCIDENT_STATE_ESCALATED))
	require.Equal(t, amsv1.IncidentState_INCIDENT_STATE_RESOLVED, state(), "a resolved incident stays resolved")

	require.NoError(t, r.g.Progress(ctx, "acme", "inc-unknown", amsv1.IncidentState_INCIDENT_STATE_ESCALATED))
	err := r.g.Progress(ctx, "acme", id, amsv1.IncidentState_INCIDENT_STATE_OPEN)
	require.True(t, bus.IsPermanent(err))
}

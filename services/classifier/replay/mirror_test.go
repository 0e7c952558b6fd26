package replay

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/amsproject/ams/pkg/bus"
	"github.com/amsproject/ams/pkg/config"
	"github.com/amsproject/ams/pkg/kvproto"
	"github.com/amsproject/ams/pkg/natstest"
	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/classifier/internal/grouping"
	"github.com/amsproject/ams/services/classifier/internal/incident"
	"github.com/amsproject/ams/services/classifier/policy"
)

// The replay makes the live grouper's decisions: the same random alert
// streams (flapping, repeats, redeliveries, late notifications, delays,
// suppressions, a recurring window, reopening) go through the real
// grouping over JetStream KV, its reviews fired when the replayed time
// reaches them, and through a Run; both announce the same events and end
// with the same incidents, field for field.
func TestMirrorsTheGrouper(t *testing.T) {
	const rulesAndWindows = `
rules:
  - name: staging
    when: 'alert.resource.host.startsWith("stg-")'
    suppress: staging
  - name: host-down
    when: 'alert.labels.?alertname.orValue("") == "HostDown"'
    set: {priority: P1, runbook: host-recover}
    delay: 3m
  - name: disk
    when: 'alert.labels.?alertname.orValue("") == "DiskFull"'
    set: {priority: P2, escalation_policy: msp}
  - name: busy
    when: 'incident.alert_count >= 6'
    set: {priority: P4, runbook: busy}
maintenance:
  - name: quarter-past
    match: 'alert.resource.host == "db-1"'
    recurring: {cron: "15 * * * *", duration: 20m, time_zone: UTC}
`
	policies := map[string]string{
		"grouped by host, reopening": `
incidents:
  group_by: [host]
  resolve_delay: 1m
  reopen_window: 10m
  flapping: {threshold: 3, window: 10m, quiet: 5m}
` + rulesAndWindows,
		"grouped by host within a window": `
incidents:
  group_by: [host]
  group_window: 15m
  flapping: {threshold: 5, window: 10m, quiet: 5m}
` + rulesAndWindows,
		"by fingerprint, no reopening": `
incidents:
  flapping: {threshold: 4, window: 15m, quiet: 10m}
` + rulesAndWindows,
	}
	for name, doc := range policies {
		for seed := range uint64(3) {
			t.Run(fmt.Sprintf("%s/seed %d", name, seed), func(t *testing.T) {
				pol, err := policy.Parse([]byte(doc), "acme.yaml", config.Tenant{ID: "acme"})
				require.NoError(t, err)
				alerts := randomAlerts(seed, 300)
				until := alerts[len(alerts)-1].GetReceivedAt().AsTime().Add(2 * time.Hour)

				l := newLive(t, pol)
				for _, a := range alerts {
					l.add(t, a)
				}
				l.reviewUntil(t, until)

				r := New(pol, nil)
				var events []string
				r.announced = func(inc *amsv1.Incident, a incident.Announcement) {
					events = append(events, fmt.Sprintf("%s v%d %s", inc.GetId(), inc.GetVersion(), incident.EventName(a.Type)))
				}
				for _, a := range alerts {
					require.NoError(t, r.Add(t.Context(), a))
				}
				require.NoError(t, r.Finish(t.Context(), until))

				require.Equal(t, l.events, events)
				require.NotEmpty(t, events)
				stored := l.stored(t)
				require.Len(t, r.order, len(stored))
				for _, want := range stored {
					rec := r.records[want.GetId()]
					require.NotNil(t, rec, want.GetId())
					if rec.inc == nil {
						require.Equal(t, amsv1.IncidentState_INCIDENT_STATE_RESOLVED, want.GetState())
						continue
					}
					require.True(t, proto.Equal(want, rec.inc), "incident %s\nlive   %v\nreplay %v", want.GetId(), want, rec.inc)
				}
			})
		}
	}
}

// randomAlerts is n notifications of a few alerts on a few hosts, received
// seconds to minutes apart (at odd milliseconds, so review times round):
// status changes, repeats, redeliveries of the same notification, and
// notifications received late.
func randomAlerts(seed uint64, n int) []*amsv1.Alert {
	rnd := rand.New(rand.NewPCG(seed, 42))
	hosts := []string{"web-1", "web-2", "db-1", "stg-1"}
	names := []string{"HostDown", "HighLoad", "DiskFull"}
	status := map[string]amsv1.AlertStatus{}
	at := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	var out []*amsv1.Alert
	for i := range n {
		at = at.Add(time.Duration(rnd.IntN(240_000)) * time.Millisecond)
		if rnd.IntN(20) == 0 && len(out) > 0 {
			out = append(out, out[rnd.IntN(len(out))]) // a redelivery
			continue
		}
		host, name := hosts[rnd.IntN(len(hosts))], names[rnd.IntN(len(names))]
		fp := host + "/" + name
		st := amsv1.AlertStatus_ALERT_STATUS_FIRING
		if status[fp] == st && rnd.IntN(3) > 0 {
			st = amsv1.AlertStatus_ALERT_STATUS_RESOLVED
		}
		status[fp] = st
		recv := at
		if rnd.IntN(15) == 0 {
			recv = at.Add(-time.Duration(rnd.IntN(120)) * time.Second) // received late
		}
		out = append(out, &amsv1.Alert{
			Id: fmt.Sprint("n-", i), Tenant: "acme", Fingerprint: fp, Status: st,
			Severity: amsv1.Severity(1 + rnd.IntN(4)), Summary: name + " on " + host,
			Labels:   map[string]string{"alertname": name, "host": host},
			Resource: &amsv1.Resource{Host: host}, ReceivedAt: timestamppb.New(recv),
		})
	}
	return out
}

// live is the classifier's grouper over an embedded JetStream, driven the
// way JetStream drives it: one pending review per incident, fired at its
// time rounded up to the second.
type live struct {
	g         *grouping.Grouper
	incidents jetstream.KeyValue
	clock     time.Time
	seq       int
	pending   map[string]pendingReview
	published map[string]bool
	events    []string
}

type pendingReview struct {
	at  time.Time
	seq int
}

func newLive(tb testing.TB, pol *policy.Tenant) *live {
	tb.Helper()
	srv := natstest.RunServer(tb)
	_, js := natstest.Connect(tb, srv)
	ctx := context.Background()
	groups, err := bus.EnsureKV(ctx, js, jetstream.KeyValueConfig{Bucket: "incident-groups"})
	require.NoError(tb, err)
	incidents, err := bus.EnsureKV(ctx, js, jetstream.KeyValueConfig{Bucket: "incidents"})
	require.NoError(tb, err)
	l := &live{incidents: incidents, pending: map[string]pendingReview{}, published: map[string]bool{}}
	l.g = grouping.New(groups, incidents, grouping.Config{
		Policies: onePolicy{pol},
		Pub:      l,
		Schedule: func(_ context.Context, inc *amsv1.Incident) error {
			at := inc.GetReviewAt().AsTime()
			when := at.Truncate(time.Second)
			if when.Before(at) {
				when = when.Add(time.Second)
			}
			if when.Before(l.clock) {
				when = l.clock
			}
			l.seq++
			l.pending[inc.GetId()] = pendingReview{when, l.seq}
			return nil
		},
		Observe: nopObserver{},
		Log:     slog.New(slog.DiscardHandler),
		Now:     func() time.Time { return l.clock },
	})
	return l
}

// Publish records each event once (a message id published again is a
// duplicate JetStream drops).
func (l *live) Publish(_ context.Context, _, msgID string, m proto.Message) (*jetstream.PubAck, error) {
	if !l.published[msgID] {
		l.published[msgID] = true
		ev := m.(*amsv1.IncidentEvent)
		l.events = append(l.events, fmt.Sprintf("%s v%d %s", ev.GetIncident().GetId(), ev.GetIncident().GetVersion(), incident.EventName(ev.GetType())))
	}
	return &jetstream.PubAck{}, nil
}

func (l *live) add(tb testing.TB, a *amsv1.Alert) {
	tb.Helper()
	recv := a.GetReceivedAt().AsTime()
	l.reviewUntil(tb, recv)
	if recv.After(l.clock) {
		l.clock = recv
	}
	require.NoError(tb, l.g.Apply(context.Background(), a))
}

func (l *live) reviewUntil(tb testing.TB, t time.Time) {
	tb.Helper()
	for {
		id, due := "", pendingReview{}
		for k, p := range l.pending {
			if !p.at.After(t) && (id == "" || p.at.Before(due.at) || p.at.Equal(due.at) && p.seq < due.seq) {
				id, due = k, p
			}
		}
		if id == "" {
			return
		}
		delete(l.pending, id)
		if due.at.After(l.clock) {
			l.clock = due.at
		}
		require.NoError(tb, l.g.Review(context.Background(), "acme", id))
	}
}

func (l *live) stored(tb testing.TB) []*amsv1.Incident {
	tb.Helper()
	all, err := kvproto.List(context.Background(), l.incidents, ">", func() *amsv1.Incident { return &amsv1.Incident{} })
	require.NoError(tb, err)
	slices.SortFunc(all, func(a, b *amsv1.Incident) int { return a.GetFirstSeen().AsTime().Compare(b.GetFirstSeen().AsTime()) })
	return all
}

type onePolicy struct{ p *policy.Tenant }

func (o onePolicy) Tenant(string) *policy.Tenant { return o.p }

type nopObserver struct{}

func (nopObserver) Applied(string, incident.Change)                  {}
func (nopObserver) Announced(*amsv1.Incident, incident.Announcement) {}
func (nopObserver) Classified(string, policy.Verdict)                {}

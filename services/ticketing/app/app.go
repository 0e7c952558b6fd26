// Package app is the ticketing service with its built-in ticket store: one
// ticket per incident in the tickets KV bucket, written from incident events
// and action results, announced on ams.ticket.<event>.<tenant>.
package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/amsproject/ams/pkg/bus"
	"github.com/amsproject/ams/pkg/config"
	"github.com/amsproject/ams/pkg/kvproto"
	"github.com/amsproject/ams/pkg/service"
	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/ticketing/internal/ticket"
)

// Name is the component's name everywhere: target, binary, metrics prefix.
const Name = "ticketing"

// The ticketing topology: it owns the TICKETS stream and the tickets bucket,
// and two consumers, one on INCIDENTS and one on ACTIONS.
const (
	// TicketsStream holds ticket events: ams.ticket.<event>.<tenant>.
	TicketsStream = "TICKETS"
	// TicketsBucket holds each ticket under <tenant>.<ticket id>.
	TicketsBucket = "tickets"
)

func ticketsStream(replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        TicketsStream,
		Description: "Ticket events from ticketing.",
		Subjects:    []string{"ams.ticket.>"},
		MaxAge:      90 * 24 * time.Hour,
		Duplicates:  10 * time.Minute,
		Replicas:    replicas,
	}
}

func ticketsBucket(replicas int) jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:      TicketsBucket,
		Description: "Built-in ticket store: one ticket per incident.",
		History:     5,
		Replicas:    replicas,
	}
}

func incidentsConsumer() bus.ConsumerSpec {
	return bus.ConsumerSpec{
		Stream: "INCIDENTS", Durable: "ticketing-incidents", FilterSubjects: []string{"ams.incident.>"},
		Description: "Ticketing: incident changes into tickets.",
	}
}

func actionsConsumer() bus.ConsumerSpec {
	return bus.ConsumerSpec{
		Stream: "ACTIONS", Durable: "ticketing-actions", FilterSubjects: []string{"ams.action.>"},
		Description: "Ticketing: action results into tickets.",
	}
}

// Ticketing keeps one ticket per incident.
type Ticketing struct {
	cfg     *config.File
	deps    service.Deps
	written *prometheus.CounterVec
	// Running gives Ready: "starting" until Run has made the consumers.
	bus.Running
}

// New validates and wires ticketing; it starts nothing.
func New(cfg *config.File, deps service.Deps) (*Ticketing, error) {
	if deps.JS == nil || deps.Log == nil || deps.Registerer == nil || deps.Now == nil {
		return nil, errors.New("ticketing: missing dependencies")
	}
	written := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ams_ticketing_ticket_events_total", Help: "Ticket changes written, by tenant and event: created, updated, closed.",
	}, []string{"tenant", "event"})
	deps.Registerer.MustRegister(written)
	return &Ticketing{cfg: cfg, deps: deps, written: written}, nil
}

// Run creates the stream and bucket and consumes until ctx ends.
func (t *Ticketing) Run(ctx context.Context) error {
	js := t.deps.JS
	if _, err := bus.EnsureStream(ctx, js, ticketsStream(t.deps.Replicas)); err != nil {
		return err
	}
	kv, err := bus.EnsureKV(ctx, js, ticketsBucket(t.deps.Replicas))
	if err != nil {
		return err
	}
	w := &writer{kv: kv, pub: bus.NewPublisher(js, Name, t.deps.Tracing), now: t.deps.Now, written: t.written}
	c := t.cfg.Ticketing.Consumer
	incidents, err := bus.NewConsumer(js, incidentsConsumer().Tune(c), w.onIncident, t.deps.Log, t.deps.BusMetrics, t.deps.Tracing)
	if err != nil {
		return err
	}
	actions, err := bus.NewConsumer(js, actionsConsumer().Tune(c), w.onAction, t.deps.Log, t.deps.BusMetrics, t.deps.Tracing)
	if err != nil {
		return err
	}
	return t.Start(ctx, bus.Group{incidents, actions})
}

// writer applies events to tickets and announces each change.
type writer struct {
	kv      jetstream.KeyValue
	pub     *bus.Publisher
	now     func() time.Time
	written *prometheus.CounterVec
}

// errNoTicket is transient: the action result overtook its incident event
// and carries no incident snapshot to open the ticket from.
var errNoTicket = errors.New("no ticket yet for this incident; retrying after the incident event")

func (w *writer) onIncident(ctx context.Context, msg jetstream.Msg) error {
	var ev amsv1.IncidentEvent
	if err := bus.Decode(msg, &ev); err != nil {
		return err
	}
	inc := ev.GetIncident()
	return w.modify(ctx, inc.GetTenant(), ticket.ID(inc.GetId()), func(cur *amsv1.Ticket) (*amsv1.Ticket, error) {
		return ticket.FromIncident(cur, inc, w.now()), nil
	})
}

func (w *writer) onAction(ctx context.Context, msg jetstream.Msg) error {
	var res amsv1.ActionResult
	if err := bus.Decode(msg, &res); err != nil {
		return err
	}
	return w.modify(ctx, res.GetTenant(), ticket.ID(res.GetIncidentId()), func(cur *amsv1.Ticket) (*amsv1.Ticket, error) {
		if cur == nil {
			// The result overtook the incident event: open the ticket from
			// the snapshot the result carries; the event will find it applied.
			if res.GetIncident() == nil {
				return nil, errNoTicket
			}
			cur = ticket.FromIncident(nil, res.GetIncident(), w.now())
			if cur == nil {
				// A snapshot of an incident that never opened has no ticket
				// to start: wait for the incident event (or dead-letter).
				return nil, errNoTicket
			}
		}
		if next := ticket.AddAction(cur, &res, w.now()); next != nil {
			return next, nil
		}
		return nil, nil
	})
}

// modify applies change with compare-and-set and then announces the ticket's
// current state. The message id is the ticket and its entry count, so
// announcing an unchanged ticket again (redelivery) stores nothing new.
func (w *writer) modify(ctx context.Context, tenant, id string, change func(*amsv1.Ticket) (*amsv1.Ticket, error)) error {
	var final *amsv1.Ticket
	var changed, created bool
	err := kvproto.Modify(ctx, w.kv, tenant+"."+id, func(raw []byte) ([]byte, error) {
		var cur *amsv1.Ticket
		if raw != nil {
			cur = &amsv1.Ticket{}
			if err := proto.Unmarshal(raw, cur); err != nil {
				return nil, fmt.Errorf("decode ticket %s: %w", id, err)
			}
		}
		next, err := change(cur)
		if err != nil {
			return nil, err
		}
		final, changed, created = cur, next != nil, cur == nil && next != nil
		if next == nil {
			return nil, nil
		}
		final = next
		return proto.Marshal(next)
	})
	if err != nil || final == nil {
		return err
	}
	// A redelivery that changes nothing re-announces under the same message
	// id, so the stream drops it; its event type does not matter then.
	t := ticket.EventType(final, created)
	event := ticket.EventName(t)
	msgID := fmt.Sprintf("ticket:%s:%d", final.GetId(), len(final.GetEntries()))
	ack, err := w.pub.Publish(ctx, bus.Subject("ticket", event, tenant), msgID, &amsv1.TicketEvent{Type: t, Ticket: final})
	if err != nil {
		return err
	}
	if changed && !ack.Duplicate {
		w.written.WithLabelValues(tenant, event).Inc()
	}
	return nil
}

package app_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/amsproject/ams/pkg/natstest"
	amsv1 "github.com/amsproject/ams/proto/ams/v1"
)

// shapes are the two ways AMS runs: every service in one process, and each
// service as its own process sharing the bus.
var shapes = []struct {
	name      string
	processes [][]string
}{
	{"all-in-one", [][]string{{"all"}}},
	{"separate", [][]string{{"ingest"}, {"classifier"}, {"executor"}, {"ticketing"}, {"escalation"}}},
}

func TestPipeline(t *testing.T) {
	for _, shape := range shapes {
		t.Run(shape.name, func(t *testing.T) {
			srv := natstest.RunServer(t)
			_, js := natstest.Connect(t, srv)
			cfg := testConfig(t, srv.ClientURL(), "")
			var insts []*instance
			for _, targets := range shape.processes {
				insts = append(insts, start(t, cfg, targets...))
			}
			ingestAddr := insts[0].httpAddr
			adm := admin(t, insts[len(insts)-1].grpcAddr)
			ctx := context.Background()
			startsAt := time.Now().UTC().Add(-time.Minute).Format(time.RFC3339)

			// One alert: one incident, one open ticket, an escalation.
			code, body := post(t, ingestAddr, "demo-alertmanager", amToken, alertmanagerPayload("firing", "NodeDown", "web-1:9100", startsAt))
			require.Equal(t, http.StatusAccepted, code, body)
			var tk *amsv1.Ticket
			eventually(t, 20*time.Second, func() error {
				resp, err := adm.ListTickets(ctx, &amsv1.ListTicketsRequest{Tenant: "demo"})
				if err != nil {
					return err
				}
				if len(resp.GetTickets()) != 1 || len(resp.GetTickets()[0].GetActionIds()) != 1 {
					return fmt.Errorf("tickets: %v", resp.GetTickets())
				}
				tk = resp.GetTickets()[0]
				return nil
			})
			require.Equal(t, amsv1.TicketStatus_TICKET_STATUS_OPEN, tk.GetStatus())
			require.Equal(t, amsv1.Priority_PRIORITY_P1, tk.GetPriority())
			require.Equal(t, "NodeDown on web-1:9100", tk.GetTitle())
			incs, err := adm.ListIncidents(ctx, &amsv1.ListIncidentsRequest{Tenant: "demo"})
			require.NoError(t, err)
			require.Len(t, incs.GetIncidents(), 1)
			inc := incs.GetIncidents()[0]
			require.Equal(t, inc.GetId(), tk.GetIncidentId())
			require.Equal(t, "web-1", inc.GetResource().GetHost())
			waitIdle(t, js)
			require.EqualValues(t, 1, streamMessages(t, js, "ESCALATIONS", "ams.escalation.escalated.demo"))
			// The classifier follows the page: the incident shows escalated.
			eventually(t, 10*time.Second, func() error {
				got, err := adm.GetIncident(ctx, &amsv1.GetIncidentRequest{Id: inc.GetId()})
				if err != nil {
					return err
				}
				if s := got.GetIncident().GetState(); s != amsv1.IncidentState_INCIDENT_STATE_ESCALATED {
					return fmt.Errorf("incident %s is %s", inc.GetId(), s)
				}
				return nil
			})

			// The same notification again (Prometheus re-sends every minute):
			// stored once, nothing new downstream.
			code, body = post(t, ingestAddr, "demo-alertmanager", amToken, alertmanagerPayload("firing", "NodeDown", "web-1:9100", startsAt))
			require.Equal(t, http.StatusAccepted, code, body)
			// The same alert redelivered under a new message id (as after the
			// stream's duplicate window): nothing new either.
			republishLastAlert(t, js)
			waitIdle(t, js)
			incs, err = adm.ListIncidents(ctx, &amsv1.ListIncidentsRequest{})
			require.NoError(t, err)
			require.Len(t, incs.GetIncidents(), 1)
			tks, err := adm.ListTickets(ctx, &amsv1.ListTicketsRequest{})
			require.NoError(t, err)
			require.Len(t, tks.GetTickets(), 1)
			require.Len(t, tks.GetTickets()[0].GetEntries(), len(tk.GetEntries()), "no new ticket entries")
			require.EqualValues(t, 2, streamMessages(t, js, "ALERTS", ">"), "the re-sent notification is stored once; the redelivery copy once")
			require.EqualValues(t, 1, streamMessages(t, js, "INCIDENTS", ">"))
			require.EqualValues(t, 1, streamMessages(t, js, "ACTIONS", ">"))

			// Resolved: the incident resolves and the ticket closes.
			code, body = post(t, ingestAddr, "demo-alertmanager", amToken, alertmanagerPayload("resolved", "NodeDown", "web-1:9100", startsAt))
			require.Equal(t, http.StatusAccepted, code, body)
			eventually(t, 20*time.Second, func() error {
				got, err := adm.GetTicket(ctx, &amsv1.GetTicketRequest{Id: tk.GetId()})
				if err != nil {
					return err
				}
				if got.GetTicket().GetStatus() != amsv1.TicketStatus_TICKET_STATUS_CLOSED {
					return fmt.Errorf("ticket %s is %s", tk.GetId(), got.GetTicket().GetStatus())
				}
				return nil
			})
			got, err := adm.GetIncident(ctx, &amsv1.GetIncidentRequest{Id: inc.GetId()})
			require.NoError(t, err)
			require.Equal(t, amsv1.IncidentState_INCIDENT_STATE_RESOLVED, got.GetIncident().GetState())
			waitIdle(t, js)
			require.EqualValues(t, 1, streamMessages(t, js, "ESCALATIONS", "ams.escalation.resolved.demo"))
			tks, err = adm.ListTickets(ctx, &amsv1.ListTicketsRequest{})
			require.NoError(t, err)
			require.Len(t, tks.GetTickets(), 1, "resolving creates no second ticket")

			// Bad requests create nothing.
			code, _ = post(t, ingestAddr, "demo-alertmanager", "wrong-token", alertmanagerPayload("firing", "Other", "web-2:9100", startsAt))
			require.Equal(t, http.StatusUnauthorized, code)
			code, _ = post(t, ingestAddr, "demo-generic", genericToken, `{"alerts": [`)
			require.Equal(t, http.StatusBadRequest, code)
			require.EqualValues(t, 3, streamMessages(t, js, "ALERTS", ">"), "rejected requests store nothing")
		})
	}
}

// republishLastAlert stores the newest alert in ALERTS again under a fresh
// message id, as a redelivery the stream cannot recognise would.
func republishLastAlert(tb testing.TB, js jetstream.JetStream) {
	tb.Helper()
	ctx := context.Background()
	s, err := js.Stream(ctx, "ALERTS")
	require.NoError(tb, err)
	last, err := s.GetLastMsgForSubject(ctx, "ams.alert.received.demo")
	require.NoError(tb, err)
	msg := &nats.Msg{Subject: last.Subject, Data: last.Data, Header: nats.Header{}}
	for k, v := range last.Header {
		msg.Header[k] = v
	}
	msg.Header.Set(jetstream.MsgIDHeader, "redelivery-"+last.Header.Get(jetstream.MsgIDHeader))
	_, err = js.PublishMsg(ctx, msg)
	require.NoError(tb, err)
}

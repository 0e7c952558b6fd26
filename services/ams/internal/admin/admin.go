// Package admin implements the gRPC AdminService over the state the services
// keep in JetStream KV: incidents (classifier) and tickets (ticketing), read
// only, and maintenance windows (maintenance.go), the one thing it writes.
// It keeps no state of its own, so any ams process can serve it whatever its
// targets.
package admin

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/amsproject/ams/pkg/bus"
	"github.com/amsproject/ams/pkg/kvproto"
	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	classifier "github.com/amsproject/ams/services/classifier/app"
	"github.com/amsproject/ams/services/classifier/policy"
	"github.com/amsproject/ams/services/classifier/windows"
	ticketing "github.com/amsproject/ams/services/ticketing/app"
)

const (
	defaultLimit = 100
	maxLimit     = 1000
)

// Server is the AdminService.
type Server struct {
	amsv1.UnimplementedAdminServiceServer
	js jetstream.JetStream
	// now is the clock; maintenance windows are shown active or not by it.
	now func() time.Time
	// configWindows and tenants come from the configuration; nil when not
	// given (see WithConfigWindows, WithTenants).
	configWindows ConfigWindows
	tenants       func(id string) bool
	// configKill is executor.kill_switch of the configuration.
	configKill bool
	// pub publishes approval decisions (WithTracing); nil: one without tracing.
	pub *bus.Publisher
	// policies are the tenants' classifier policies (WithPolicies).
	policies *policy.Store

	// windowsMu guards windowKV, the runtime windows' store, opened on first use.
	windowsMu sync.Mutex
	windowKV  *windows.KVStore
}

// New returns a Server over js: read-only, except for maintenance windows.
func New(js jetstream.JetStream) *Server { return &Server{js: js, now: time.Now} }

// WithClock sets the clock (time.Now by default), so tests can pin it.
func (s *Server) WithClock(now func() time.Time) *Server {
	s.now = now
	return s
}

// ListIncidents returns incidents, newest first.
func (s *Server) ListIncidents(ctx context.Context, req *amsv1.ListIncidentsRequest) (*amsv1.ListIncidentsResponse, error) {
	all, err := list(ctx, s.js, classifier.IncidentsBucket, req.GetTenant(), func() *amsv1.Incident { return &amsv1.Incident{} })
	if err != nil {
		return nil, err
	}
	all = slices.DeleteFunc(all, func(i *amsv1.Incident) bool {
		return req.GetState() != amsv1.IncidentState_INCIDENT_STATE_UNSPECIFIED && i.GetState() != req.GetState()
	})
	slices.SortFunc(all, func(a, b *amsv1.Incident) int {
		return cmp.Or(b.GetOpenedAt().AsTime().Compare(a.GetOpenedAt().AsTime()), cmp.Compare(a.GetId(), b.GetId()))
	})
	return &amsv1.ListIncidentsResponse{Incidents: limit(all, req.GetLimit())}, nil
}

// GetIncident returns one incident.
func (s *Server) GetIncident(ctx context.Context, req *amsv1.GetIncidentRequest) (*amsv1.GetIncidentResponse, error) {
	inc, err := get(ctx, s.js, classifier.IncidentsBucket, "incident", req.GetId(), func() *amsv1.Incident { return &amsv1.Incident{} })
	if err != nil {
		return nil, err
	}
	return &amsv1.GetIncidentResponse{Incident: inc}, nil
}

// ListTickets returns tickets, newest first.
func (s *Server) ListTickets(ctx context.Context, req *amsv1.ListTicketsRequest) (*amsv1.ListTicketsResponse, error) {
	all, err := list(ctx, s.js, ticketing.TicketsBucket, req.GetTenant(), func() *amsv1.Ticket { return &amsv1.Ticket{} })
	if err != nil {
		return nil, err
	}
	all = slices.DeleteFunc(all, func(t *amsv1.Ticket) bool {
		return req.GetStatus() != amsv1.TicketStatus_TICKET_STATUS_UNSPECIFIED && t.GetStatus() != req.GetStatus()
	})
	slices.SortFunc(all, func(a, b *amsv1.Ticket) int {
		return cmp.Or(b.GetCreatedAt().AsTime().Compare(a.GetCreatedAt().AsTime()), cmp.Compare(a.GetId(), b.GetId()))
	})
	return &amsv1.ListTicketsResponse{Tickets: limit(all, req.GetLimit())}, nil
}

// GetTicket returns one ticket.
func (s *Server) GetTicket(ctx context.Context, req *amsv1.GetTicketRequest) (*amsv1.GetTicketResponse, error) {
	t, err := get(ctx, s.js, ticketing.TicketsBucket, "ticket", req.GetId(), func() *amsv1.Ticket { return &amsv1.Ticket{} })
	if err != nil {
		return nil, err
	}
	return &amsv1.GetTicketResponse{Ticket: t}, nil
}

// Keys are <tenant>.<id>; tenant ids and record ids are single tokens, so a
// tenant filter is "<tenant>.*" and an id lookup "*.<id>".
func list[T proto.Message](ctx context.Context, js jetstream.JetStream, bucket, tenant string, newT func() T) ([]T, error) {
	if tenant != "" && !validToken(tenant) {
		return nil, status.Errorf(codes.InvalidArgument, "tenant %q is not a valid tenant id", tenant)
	}
	kv, err := kvproto.Bucket(ctx, js, bucket)
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	filter := ">"
	if tenant != "" {
		filter = tenant + ".*"
	}
	all, err := kvproto.List(ctx, kv, filter, newT)
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil, nil
	}
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	return all, nil
}

func get[T proto.Message](ctx context.Context, js jetstream.JetStream, bucket, what, id string, newT func() T) (T, error) {
	var zero T
	if !validToken(id) {
		return zero, status.Errorf(codes.InvalidArgument, "%s id %q is not valid", what, id)
	}
	kv, err := kvproto.Bucket(ctx, js, bucket)
	if err != nil {
		return zero, status.Error(codes.Unavailable, err.Error())
	}
	v, err := kvproto.One(ctx, kv, "*."+id, newT)
	if errors.Is(err, kvproto.ErrNotFound) || errors.Is(err, jetstream.ErrNoKeysFound) {
		return zero, status.Errorf(codes.NotFound, "%s %s not found", what, id)
	}
	if err != nil {
		return zero, status.Error(codes.Unavailable, err.Error())
	}
	return v, nil
}

func limit[T any](all []T, n int32) []T {
	switch {
	case n <= 0:
		n = defaultLimit
	case n > maxLimit:
		n = maxLimit
	}
	if len(all) > int(n) {
		return all[:n]
	}
	return all
}

// validToken accepts what can stand as one NATS subject token in a key filter.
func validToken(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if !tokenRune(r) {
			return false
		}
	}
	return true
}

func tokenRune(r rune) bool {
	return r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}

package admin

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/amsproject/ams/pkg/bus"
	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/executor/control"
)

// WithKillSwitchConfig tells the server whether the configuration file
// holds the kill switch on (executor.kill_switch), so GetKillSwitch can say
// so: a runtime reset does not override the file.
func (s *Server) WithKillSwitchConfig(on bool) *Server {
	s.configKill = on
	return s
}

// WithTracing makes the messages the server publishes (approval decisions)
// carry the admin call's trace, so the executor's handling of a decision
// joins it. Without it they carry none.
func (s *Server) WithTracing(tp trace.TracerProvider) *Server {
	s.pub = bus.NewPublisher(s.js, "admin", tp)
	return s
}

// publisher is what the server publishes with.
func (s *Server) publisher() *bus.Publisher {
	if s.pub == nil {
		return bus.NewPublisher(s.js, "admin", noop.NewTracerProvider())
	}
	return s.pub
}

// DecideApproval approves or denies the step an incident's run waits on.
func (s *Server) DecideApproval(ctx context.Context, req *amsv1.DecideApprovalRequest) (*amsv1.DecideApprovalResponse, error) {
	if !validToken(req.GetTenant()) {
		return nil, status.Errorf(codes.InvalidArgument, "tenant %q is not a valid tenant id; give --tenant", req.GetTenant())
	}
	if !validToken(req.GetIncidentId()) {
		return nil, status.Errorf(codes.InvalidArgument, "incident %q is not a valid incident id", req.GetIncidentId())
	}
	if s.tenants != nil && !s.tenants(req.GetTenant()) {
		return nil, status.Errorf(codes.NotFound, "tenant %q is not in the configuration", req.GetTenant())
	}
	stepName, err := control.Decide(ctx, s.js, s.publisher(), req)
	switch {
	case errors.Is(err, control.ErrNotWaiting), errors.Is(err, control.ErrNoExecutor):
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	case err != nil:
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	return &amsv1.DecideApprovalResponse{Step: stepName}, nil
}

// GetKillSwitch returns the kill switch's state.
func (s *Server) GetKillSwitch(ctx context.Context, _ *amsv1.GetKillSwitchRequest) (*amsv1.GetKillSwitchResponse, error) {
	ks, err := control.KillSwitch(ctx, s.js)
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	return &amsv1.GetKillSwitchResponse{KillSwitch: s.killSwitch(ks)}, nil
}

// SetKillSwitch throws or resets the runtime kill switch.
func (s *Server) SetKillSwitch(ctx context.Context, req *amsv1.SetKillSwitchRequest) (*amsv1.SetKillSwitchResponse, error) {
	if req.GetOn() && req.GetReason() == "" {
		return nil, status.Error(codes.InvalidArgument, "say why the kill switch is thrown (--reason): the next operator needs to know when it can be reset")
	}
	ks, err := control.SetKillSwitch(ctx, s.js, req.GetOn(), req.GetBy(), req.GetReason(), s.now())
	switch {
	case errors.Is(err, control.ErrNoExecutor):
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	case err != nil:
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	return &amsv1.SetKillSwitchResponse{KillSwitch: s.killSwitch(ks)}, nil
}

func (s *Server) killSwitch(ks control.KillSwitchState) *amsv1.KillSwitch {
	out := &amsv1.KillSwitch{On: ks.On || s.configKill, By: ks.By, Reason: ks.Reason, ConfigOn: s.configKill}
	if !ks.ChangedAt.IsZero() {
		out.ChangedAt = timestamppb.New(ks.ChangedAt)
	}
	return out
}

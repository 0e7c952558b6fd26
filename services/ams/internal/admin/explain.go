package admin

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/classifier/policy"
	"github.com/amsproject/ams/services/classifier/windows"
)

// WithPolicies gives the server the tenants' classifier policies: explain
// and replay evaluate them, and their files' maintenance windows are listed.
func (s *Server) WithPolicies(p *policy.Store) *Server {
	s.policies = p
	return s.WithConfigWindows(func(tenant string) []*windows.Window { return p.ConfigWindows(tenant) })
}

// ExplainAlert evaluates the tenant's current rules and maintenance windows
// (the file's and the runtime ones) against an alert. Nothing is stored or
// published.
func (s *Server) ExplainAlert(ctx context.Context, req *amsv1.ExplainAlertRequest) (*amsv1.ExplainAlertResponse, error) {
	pol, err := s.policy(req.GetTenant())
	if err != nil {
		return nil, err
	}
	if req.GetAlert() == nil {
		return nil, status.Error(codes.InvalidArgument, "alert is missing: give the alert to explain (the JSON of an AMS alert)")
	}
	a := proto.Clone(req.GetAlert()).(*amsv1.Alert)
	a.Tenant = req.GetTenant()
	at := s.now()
	if req.GetAt() != nil {
		at = req.GetAt().AsTime()
	}
	runtime, err := s.runtimeWindows(ctx, req.GetTenant())
	if err != nil {
		return nil, err
	}
	out, err := pol.Classify(ctx, a, nil, runtime, at).Explain()
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return out, nil
}

// policy returns tenant's policy or the gRPC error saying why there is none.
func (s *Server) policy(tenant string) (*policy.Tenant, error) {
	if tenant == "" {
		return nil, status.Error(codes.InvalidArgument, "tenant is missing: say whose rules to use (--tenant)")
	}
	if s.policies == nil {
		return nil, status.Error(codes.Unimplemented, "this server has no classifier policies loaded")
	}
	pol := s.policies.Tenant(tenant)
	if pol == nil {
		return nil, status.Errorf(codes.NotFound, "tenant %q is not in the configuration", tenant)
	}
	return pol, nil
}

// runtimeWindows are the tenant's windows created with amsctl, compiled.
func (s *Server) runtimeWindows(ctx context.Context, tenant string) ([]*windows.Window, error) {
	st, err := s.windowStore(ctx, false)
	if err != nil || st == nil {
		return nil, err
	}
	all, err := st.List(ctx, tenant)
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	out := all[:0]
	for _, w := range all {
		if windows.Compile(w) == nil {
			out = append(out, w)
		}
	}
	return out, nil
}

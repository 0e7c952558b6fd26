package admin

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/amsproject/ams/pkg/bus"
	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/classifier/windows"
)

// defaultCreatedBy records who created a window when the request does not say.
const defaultCreatedBy = "amsctl"

// ConfigWindows returns the maintenance windows of tenant's configuration
// ("" for every tenant), compiled. The server only reads them: they are
// changed in the configuration file.
type ConfigWindows func(tenant string) []*windows.Window

// WithConfigWindows makes ListMaintenanceWindows show the windows of the
// configuration next to the runtime ones; nil shows none.
func (s *Server) WithConfigWindows(f ConfigWindows) *Server {
	s.configWindows = f
	return s
}

// WithTenants makes AddMaintenanceWindow refuse a tenant for which known is
// false; nil accepts any tenant.
func (s *Server) WithTenants(known func(id string) bool) *Server {
	s.tenants = known
	return s
}

// ListMaintenanceWindows returns the windows of the configuration and those
// created at runtime, of one tenant or all, by tenant and name, each with
// whether it is active now.
func (s *Server) ListMaintenanceWindows(ctx context.Context, req *amsv1.ListMaintenanceWindowsRequest) (*amsv1.ListMaintenanceWindowsResponse, error) {
	tenant := req.GetTenant()
	if tenant != "" && !validToken(tenant) {
		return nil, status.Errorf(codes.InvalidArgument, "tenant %q is not a valid tenant id", tenant)
	}
	var all []*windows.Window
	if s.configWindows != nil {
		for _, w := range s.configWindows(tenant) {
			if tenant == "" || w.Tenant == tenant {
				all = append(all, w)
			}
		}
	}
	st, err := s.windowStore(ctx, false)
	if err != nil {
		return nil, err
	}
	if st != nil {
		rt, err := st.List(ctx, tenant)
		if err != nil {
			return nil, status.Error(codes.Unavailable, err.Error())
		}
		for _, w := range rt {
			// A window that does not compile is listed all the same, never
			// active, as the classifier treats it, so it can be deleted.
			_ = windows.Compile(w)
		}
		all = append(all, rt...)
	}
	slices.SortFunc(all, func(a, b *windows.Window) int {
		return cmp.Or(cmp.Compare(a.Tenant, b.Tenant), cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID))
	})
	now := s.now()
	out := make([]*amsv1.MaintenanceWindow, len(all))
	for i, w := range all {
		out[i] = windows.ToProto(w, now)
	}
	return &amsv1.ListMaintenanceWindowsResponse{Windows: out}, nil
}

// AddMaintenanceWindow creates a runtime window under a new id, recording
// who created it (created_by, "amsctl" when empty) and when.
func (s *Server) AddMaintenanceWindow(ctx context.Context, req *amsv1.AddMaintenanceWindowRequest) (*amsv1.AddMaintenanceWindowResponse, error) {
	p := req.GetWindow()
	if p == nil {
		return nil, status.Error(codes.InvalidArgument, "window: missing")
	}
	switch tenant := p.GetTenant(); {
	case tenant == "":
		return nil, status.Error(codes.InvalidArgument, "tenant: missing; name the tenant whose alerts the window covers")
	case !validToken(tenant):
		return nil, status.Errorf(codes.InvalidArgument, "tenant: %q is not a valid tenant id", tenant)
	case s.tenants != nil && !s.tenants(tenant):
		return nil, status.Errorf(codes.NotFound, "tenant %q is not in the configuration; give the id of one of the tenants it lists", tenant)
	}
	w, err := windows.FromProto(p)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "maintenance window: %s", err)
	}
	now := s.now()
	w.ID = windows.NewID()
	w.CreatedAt = now.UTC()
	if w.CreatedBy == "" {
		w.CreatedBy = defaultCreatedBy
	}
	// Checked here as well as by Put, to tell the caller's mistakes apart
	// from the store's failures.
	if err := windows.Compile(w); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	st, err := s.windowStore(ctx, true)
	if err != nil {
		return nil, err
	}
	if err := st.Put(ctx, w); err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	return &amsv1.AddMaintenanceWindowResponse{Window: windows.ToProto(w, now)}, nil
}

// DeleteMaintenanceWindow deletes a runtime window. A window of the
// configuration is refused: it would come back with the next start.
func (s *Server) DeleteMaintenanceWindow(ctx context.Context, req *amsv1.DeleteMaintenanceWindowRequest) (*amsv1.DeleteMaintenanceWindowResponse, error) {
	tenant, id := req.GetTenant(), req.GetId()
	switch {
	case tenant == "":
		return nil, status.Error(codes.InvalidArgument, "tenant: missing; a window id is unique within its tenant")
	case !validToken(tenant):
		return nil, status.Errorf(codes.InvalidArgument, "tenant: %q is not a valid tenant id", tenant)
	case id == "":
		return nil, status.Error(codes.InvalidArgument, "id: missing")
	}
	notFound := status.Errorf(codes.NotFound, "maintenance window %s of tenant %s not found", id, tenant)
	if strings.HasPrefix(id, windows.ConfigIDPrefix) {
		// Without the configuration's windows, one cannot tell whether it
		// exists; it cannot be deleted here either way.
		if s.configWindows != nil && !slices.ContainsFunc(s.configWindows(tenant), func(w *windows.Window) bool {
			return w.Tenant == tenant && w.ID == id
		}) {
			return nil, notFound
		}
		return nil, status.Errorf(codes.FailedPrecondition, "window %s comes from the configuration file; remove it there", id)
	}
	st, err := s.windowStore(ctx, false)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return nil, notFound
	}
	err = st.Delete(ctx, tenant, id)
	if errors.Is(err, windows.ErrNotFound) {
		return nil, notFound
	}
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	return &amsv1.DeleteMaintenanceWindowResponse{}, nil
}

// windowStore opens the runtime windows' bucket on first use, creating it
// when create is set (it exists once the classifier has started, or a window
// was added). It returns nil when the bucket does not exist and create is
// not set: there are no runtime windows yet.
func (s *Server) windowStore(ctx context.Context, create bool) (*windows.KVStore, error) {
	s.windowsMu.Lock()
	defer s.windowsMu.Unlock()
	if s.windowKV != nil {
		return s.windowKV, nil
	}
	// Opened before created: EnsureKV would set the configuration of a
	// bucket its owner created, replicas included, back to this one's.
	kv, err := s.js.KeyValue(ctx, windows.Bucket)
	switch {
	case errors.Is(err, jetstream.ErrBucketNotFound) && !create:
		return nil, nil
	case errors.Is(err, jetstream.ErrBucketNotFound):
		kv, err = bus.EnsureKV(ctx, s.js, windows.BucketConfig(1))
	case err != nil:
		err = fmt.Errorf("open bucket %s: %w", windows.Bucket, err)
	}
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	s.windowKV = windows.NewKVStore(kv)
	return s.windowKV, nil
}

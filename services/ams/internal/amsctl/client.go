package amsctl

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
)

// withAdmin connects to --server, runs fn with a deadline of --timeout and
// closes the connection again. One connection per command is plenty for a
// CLI and keeps commands independent of each other.
//
// The error fn returns is passed through with its gRPC code intact so the
// caller can look at it (e.g. NotFound for a get) before calling rpcError;
// only a failure to connect at all is marked, as *unreachableError.
func (c *cli) withAdmin(ctx context.Context, fn func(context.Context, amsv1.AdminServiceClient) error) error {
	var watch connWatcher
	// Plain text for now: the admin API listens on loopback in the all-in-one
	// setup. TLS (and credentials) come later, together with the server side.
	conn, err := grpc.NewClient(c.server,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUserAgent("amsctl"),
		grpc.WithStatsHandler(&watch),
	)
	if err != nil {
		// NewClient does not dial; it fails only on a malformed target.
		return usageErrorf("--server %q: %v", c.server, err)
	}
	defer conn.Close()

	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	err = fn(ctx, amsv1.NewAdminServiceClient(conn))
	if status.Code(err) == codes.Unavailable && !watch.connected.Load() {
		return &unreachableError{err: err}
	}
	return err
}

// unreachableError is an Unavailable that happened before any connection
// was made: a wrong address or ams not running, rather than a running
// server saying it cannot serve (the admin server answers Unavailable when
// its store is down, and then "is ams running?" would mislead).
type unreachableError struct{ err error }

func (e *unreachableError) Error() string { return e.err.Error() }
func (e *unreachableError) Unwrap() error { return e.err }

// connWatcher is a gRPC stats handler that only notes whether a connection
// to the server was ever established.
type connWatcher struct{ connected atomic.Bool }

func (w *connWatcher) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context   { return ctx }
func (w *connWatcher) HandleRPC(context.Context, stats.RPCStats)                         {}
func (w *connWatcher) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }

func (w *connWatcher) HandleConn(_ context.Context, s stats.ConnStats) {
	if _, ok := s.(*stats.ConnBegin); ok {
		w.connected.Store(true)
	}
}

// rpcError turns an error from withAdmin while doing what (e.g. "list
// incidents") into the message an operator sees: the server's status
// message rather than gRPC's "rpc error: code = ... desc = ..." wrapping,
// and for the failures that usually mean "wrong address or ams not started"
// the address that was tried and a hint.
func (c *cli) rpcError(what string, err error) error {
	if u, ok := errors.AsType[*unreachableError](err); ok {
		return &hintError{
			err:  fmt.Errorf("%s: cannot reach AMS at %s: %s", what, c.server, status.Convert(u.err).Message()),
			hint: "is ams running? (make run) The address comes from --server or $" + serverEnv + ".",
		}
	}
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("%s: %w", what, err)
	}
	switch st.Code() {
	case codes.DeadlineExceeded:
		return &hintError{
			err:  fmt.Errorf("%s: no answer from AMS at %s within %s: %s", what, c.server, c.timeout, st.Message()),
			hint: "is ams running? (make run) Allow longer with --timeout.",
		}
	case codes.Canceled:
		return fmt.Errorf("%s: interrupted", what)
	default:
		return fmt.Errorf("%s: %s", what, st.Message())
	}
}

// call runs one unary AdminService method, given as a method expression such
// as amsv1.AdminServiceClient.ListIncidents, against --server.
func call[Req, Resp any](
	ctx context.Context,
	c *cli,
	method func(amsv1.AdminServiceClient, context.Context, Req, ...grpc.CallOption) (Resp, error),
	req Req,
) (Resp, error) {
	var resp Resp
	err := c.withAdmin(ctx, func(ctx context.Context, client amsv1.AdminServiceClient) error {
		var err error
		resp, err = method(client, ctx, req)
		return err
	})
	return resp, err
}

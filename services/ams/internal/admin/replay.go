package admin

import (
	"context"
	"errors"
	"iter"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/amsproject/ams/pkg/bus"
	"github.com/amsproject/ams/pkg/config"
	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/classifier/policy"
	"github.com/amsproject/ams/services/classifier/replay"
	"github.com/amsproject/ams/services/classifier/windows"
)

const (
	// alertsStream is ingest's stream of every alert stored (ams.alert.received.<tenant>).
	alertsStream = "ALERTS"
	// maxReplaySince bounds a replay to what ALERTS keeps (ingest's retention).
	maxReplaySince = 90 * 24 * time.Hour
	// fetchBatch is how many stored alerts one read asks for.
	fetchBatch = 500
)

// Replay reads the tenant's alerts of the last req.since from the ALERTS
// stream, in the order they were stored, runs each through the policy in
// force and through the candidate file, and streams progress and then the
// summary of what would change. Nothing is stored or published.
func (s *Server) Replay(req *amsv1.ReplayRequest, stream grpc.ServerStreamingServer[amsv1.ReplayResponse]) error {
	ctx := stream.Context()
	current, err := s.policy(req.GetTenant())
	if err != nil {
		return err
	}
	since := req.GetSince().AsDuration()
	if since <= 0 || since > maxReplaySince {
		return status.Errorf(codes.InvalidArgument, "since %s: give how far back to replay, more than 0 and at most %s (what ALERTS keeps), e.g. 720h", since, maxReplaySince)
	}
	if req.GetCandidateRules() == "" {
		return status.Error(codes.InvalidArgument, "candidate_rules is empty: send the contents of the candidate classifier file")
	}
	name := req.GetCandidateName()
	if name == "" {
		name = "candidate"
	}
	candidate, err := policy.Parse([]byte(req.GetCandidateRules()), name, config.Tenant{ID: current.ID, Name: current.Name})
	if err != nil {
		return status.Errorf(codes.InvalidArgument, "the candidate rules do not load: %v", err)
	}
	runtime, err := s.runtimeWindows(ctx, req.GetTenant())
	if err != nil {
		return err
	}
	now := s.now()
	alerts, total, err := storedAlerts(ctx, s.js, req.GetTenant(), now.Add(-since))
	if err != nil {
		return err
	}
	var sendErr error
	summary, err := replay.Compare(ctx, alerts, current, candidate, replay.Options{
		Windows:        func(string) []*windows.Window { return runtime },
		Until:          now,
		MaxDifferences: int(req.GetMaxDifferences()),
		Progress: func(done int) {
			if sendErr == nil {
				sendErr = stream.Send(&amsv1.ReplayResponse{Processed: int64(done), Total: int64(max(done, total))})
			}
		},
	})
	if err != nil {
		if st, ok := status.FromError(err); ok {
			return st.Err()
		}
		return status.Error(codes.Internal, err.Error())
	}
	if sendErr != nil {
		return sendErr
	}
	return stream.Send(&amsv1.ReplayResponse{Processed: summary.GetAlerts(), Total: summary.GetAlerts(), Summary: summary})
}

// storedAlerts reads tenant's alerts stored since start, in stream order,
// through an ordered consumer (nothing is left behind on the server), and
// says how many there are when it starts.
func storedAlerts(ctx context.Context, js jetstream.JetStream, tenant string, start time.Time) (iter.Seq2[*amsv1.Alert, error], int, error) {
	cons, err := js.OrderedConsumer(ctx, alertsStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{bus.Subject("alert", "received", tenant)},
		DeliverPolicy:  jetstream.DeliverByStartTimePolicy,
		OptStartTime:   &start,
	})
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return replay.Alerts(nil), 0, nil
	}
	if err != nil {
		return nil, 0, status.Errorf(codes.Unavailable, "read %s: %v", alertsStream, err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return nil, 0, status.Errorf(codes.Unavailable, "read %s: %v", alertsStream, err)
	}
	total := int(info.NumPending) //nolint:gosec // a count of stored messages
	seq := func(yield func(*amsv1.Alert, error) bool) {
		for n := 0; n < total; {
			batch, err := cons.Fetch(min(fetchBatch, total-n), jetstream.FetchMaxWait(5*time.Second))
			if err != nil {
				yield(nil, status.Errorf(codes.Unavailable, "read %s: %v", alertsStream, err))
				return
			}
			got := 0
			for m := range batch.Messages() {
				got++
				n++
				var a amsv1.Alert
				if err := proto.Unmarshal(m.Data(), &a); err != nil {
					continue // not an alert: ingest stores none such, and replay skips it
				}
				if !yield(&a, nil) {
					return
				}
			}
			if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
				yield(nil, status.Errorf(codes.Unavailable, "read %s: %v", alertsStream, err))
				return
			}
			if got == 0 {
				return // the oldest aged out while reading: the rest was read
			}
		}
	}
	return seq, total, nil
}

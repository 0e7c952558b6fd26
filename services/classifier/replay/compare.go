package replay

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/classifier/policy"
	"github.com/amsproject/ams/services/classifier/windows"
)

// DefaultMaxDifferences is how many differing incidents a summary lists
// when Options.MaxDifferences is 0, as ReplayRequest.max_differences says.
const DefaultMaxDifferences = 50

// ProgressEvery is how many alerts Compare replays between progress calls.
const ProgressEvery = 1000

// Options are what a comparison works with besides the alerts and the two
// policies. The zero value is usable.
type Options struct {
	// Windows gives a tenant's runtime maintenance windows; both policies
	// see the same ones. nil means none. The two replays run concurrently,
	// so it must be safe for concurrent use (windows.Live.Windows is).
	Windows func(tenant string) []*windows.Window
	// Until is the end of the replayed period: reviews due by then are
	// performed. Zero means the last alert's receive time.
	Until time.Time
	// MaxDifferences bounds the differences listed (all are counted): 0
	// means DefaultMaxDifferences, a negative value lists none.
	MaxDifferences int
	// Progress, when set, is called with the number of alerts replayed so
	// far every ProgressEvery alerts and once more when all are done.
	Progress func(done int)
}

// Alerts turns a slice into the sequence Compare reads.
func Alerts(alerts []*amsv1.Alert) iter.Seq2[*amsv1.Alert, error] {
	return func(yield func(*amsv1.Alert, error) bool) {
		for _, a := range alerts {
			if !yield(a, nil) {
				return
			}
		}
	}
}

// Compare replays alerts, in the order given (the stream's), through the
// policy in force and a candidate, and summarises what each would have done
// and which incidents they treat differently, earliest first. An error from
// the sequence or the end of ctx stops it.
func Compare(ctx context.Context, alerts iter.Seq2[*amsv1.Alert, error], current, candidate *policy.Tenant, opts Options) (*amsv1.ReplaySummary, error) {
	if current == nil || candidate == nil {
		return nil, errors.New("replay: both the current and the candidate policy are needed")
	}
	if current.ID != candidate.ID {
		return nil, fmt.Errorf("replay: the current policy is tenant %q's but the candidate is %q's; parse the candidate for the same tenant", current.ID, candidate.ID)
	}
	cur, cand := New(current, opts.Windows), New(candidate, opts.Windows)
	var from, to time.Time
	n, reported := 0, -1
	progress := func() {
		if opts.Progress != nil && reported != n {
			opts.Progress(n)
			reported = n
		}
	}
	// The two replays are independent: each chunk of alerts goes through
	// both at once, and progress is reported between chunks.
	chunk := make([]*amsv1.Alert, 0, ProgressEvery)
	flush := func() error {
		err := both(cur, cand, func(r *Run) error {
			for _, a := range chunk {
				if err := r.Add(ctx, a); err != nil {
					return fmt.Errorf("replay alert %s: %w", a.GetId(), err)
				}
			}
			return nil
		})
		chunk = chunk[:0]
		if err != nil {
			return err
		}
		progress()
		return nil
	}
	for a, err := range alerts {
		if err != nil {
			return nil, fmt.Errorf("replay: read alert %d: %w", n+1, err)
		}
		chunk = append(chunk, a)
		n++
		if a.GetReceivedAt() != nil {
			t := a.GetReceivedAt().AsTime()
			if from.IsZero() || t.Before(from) {
				from = t
			}
			if t.After(to) {
				to = t
			}
		}
		if len(chunk) == ProgressEvery {
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	if len(chunk) > 0 {
		if err := flush(); err != nil {
			return nil, err
		}
	}
	until := opts.Until
	if until.IsZero() {
		until = to
	}
	if err := both(cur, cand, func(r *Run) error { return r.Finish(ctx, until) }); err != nil {
		return nil, fmt.Errorf("replay: finish: %w", err)
	}
	progress()

	sum := &amsv1.ReplaySummary{Alerts: int64(n), Current: cur.Counts(), Candidate: cand.Counts()}
	if n > 0 && !from.IsZero() {
		sum.From, sum.To = timestamppb.New(from), timestamppb.New(to)
	}
	diffs := Differences(cur.Outcomes(), cand.Outcomes())
	sum.DifferingIncidents = int64(len(diffs))
	limit := opts.MaxDifferences
	if limit == 0 {
		limit = DefaultMaxDifferences
	}
	sum.Differences = diffs[:max(0, min(limit, len(diffs)))]
	return sum, nil
}

// both runs f on the current and the candidate replay concurrently.
func both(cur, cand *Run, f func(*Run) error) error {
	var wg sync.WaitGroup
	var errCur, errCand error
	wg.Go(func() { errCur = f(cur) })
	wg.Go(func() { errCand = f(cand) })
	wg.Wait()
	return cmp.Or(errCur, errCand)
}

// Differences lists the incidents current and candidate outcomes do not
// treat the same (see Outcome.Same), including those only one side has,
// earliest first.
func Differences(current, candidate map[Key]Outcome) []*amsv1.ReplayDifference {
	type diff struct {
		key Key
		d   *amsv1.ReplayDifference
	}
	var out []diff
	add := func(k Key, shown Outcome, cur, cand string) {
		out = append(out, diff{k, &amsv1.ReplayDifference{
			GroupKey: k.GroupKey, Title: shown.Title, FirstSeen: timestamppb.New(shown.FirstSeen),
			Current: cur, Candidate: cand,
		}})
	}
	for k, c := range current {
		p, ok := candidate[k]
		switch {
		case !ok:
			add(k, c, c.Summary(), NotAnIncident)
		case !c.Same(p):
			add(k, c, c.Summary(), p.Summary())
		}
	}
	for k, p := range candidate {
		if _, ok := current[k]; !ok {
			add(k, p, NotAnIncident, p.Summary())
		}
	}
	slices.SortFunc(out, func(a, b diff) int {
		return cmp.Or(
			a.d.GetFirstSeen().AsTime().Compare(b.d.GetFirstSeen().AsTime()),
			cmp.Compare(a.key.GroupKey, b.key.GroupKey),
			cmp.Compare(a.key.FirstAlertID, b.key.FirstAlertID),
		)
	})
	ds := make([]*amsv1.ReplayDifference, len(out))
	for i, d := range out {
		ds[i] = d.d
	}
	return ds
}

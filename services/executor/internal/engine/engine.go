// Package engine runs runbooks for incidents: it picks the runbook, takes
// its parameters from the alert, runs the steps in order under the safety
// rails, and records everything in a run record in KV before and after each
// step, so that redelivery, restarts and a second replica never run a step
// twice and never re-run a recovery whose outcome is unknown.
//
// A run is driven by whoever holds its lease: the replica that got the
// incident, or — after that replica died and its lease ran out — the one
// that got the redelivery. A run waiting for approval has no owner; the
// replica that receives the decision carries it on.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/amsproject/ams/pkg/config"
	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/executor/internal/rails"
	"github.com/amsproject/ams/services/executor/internal/step"
	"github.com/amsproject/ams/services/executor/runbook"
)

// AWS runs the AWS step kinds through the tenant's role.
type AWS interface {
	SSM(ctx context.Context, tenant string, acct *config.ExecutorAWS, instanceID, document string, params map[string]string, timeout time.Duration) (step.Result, error)
	EC2(ctx context.Context, tenant string, acct *config.ExecutorAWS, action, instanceID string, timeout time.Duration) (step.Result, error)
	CloudWatch(ctx context.Context, tenant string, acct *config.ExecutorAWS, namespace, metric string, dims map[string]string, stat string, period, lookback time.Duration) (step.Result, error)
}

// SSH runs a command on a host with the tenant's keys.
type SSH interface {
	Run(ctx context.Context, tenant string, cfg *config.ExecutorSSH, host string, argv []string, timeout time.Duration) (step.Result, error)
}

// Probe runs the network checks.
type Probe interface {
	HTTP(ctx context.Context, url, method string, expectStatus int, timeout time.Duration) (step.Result, error)
	TCP(ctx context.Context, address string, timeout time.Duration) (step.Result, error)
	DNS(ctx context.Context, name, qtype string, timeout time.Duration) (step.Result, error)
}

// HostScope says whether a host, host:port or URL is the tenant's.
type HostScope interface {
	Check(target string) error
	CheckAddress(address string) error
	CheckURL(rawURL string) error
}

// Publisher stores an event with an idempotency key.
type Publisher interface {
	Publish(ctx context.Context, subject, msgID string, m proto.Message) (*jetstream.PubAck, error)
}

// Tenant is what the engine knows of one tenant.
type Tenant struct {
	Executor config.TenantExecutor
	Hosts    HostScope
}

// Options wires an engine.
type Options struct {
	Runs      jetstream.KeyValue
	Rails     *rails.Rails
	Publisher Publisher
	// Schedule asks the bus to deliver data on target at a time (approval
	// timeouts); bus.Schedule bound to a JetStream.
	Schedule func(ctx context.Context, subject, target string, at time.Time, data []byte) error
	// Runbooks returns the runbooks in force.
	Runbooks func() map[string]*runbook.Runbook
	Tenants  map[string]*Tenant
	AWS      AWS
	SSH      SSH
	Probe    Probe
	// Owner names this replica in run records.
	Owner string
	// MaxOutput caps each step's recorded output (executor.max_output_bytes;
	// zero: step.DefaultMaxOutput).
	MaxOutput       int
	Lease           time.Duration
	ApprovalTimeout time.Duration
	// QueueWait is how long a run waits for one of its tenant's
	// concurrency slots before it is skipped (default 10m).
	QueueWait time.Duration
	// Beat is how often a running run renews its lease and tells the bus it
	// is still working (default Lease/4).
	Beat time.Duration
	Now  func() time.Time
	Log  *slog.Logger
	// Observe is told each finished run's tenant and outcome (metrics).
	Observe func(tenant string, outcome amsv1.ActionOutcome)
}

// Engine runs runbooks.
type Engine struct {
	o Options
	// active holds the runs this replica is driving right now, so that a
	// second delivery reaching the same replica does not drive the run
	// twice at once (the lease only tells replicas apart).
	active sync.Map // run key → struct{}
}

// ErrBusy means the run is being driven elsewhere; errors.Is matches a
// *BusyError with it.
var ErrBusy = errors.New("this incident's runbook is running elsewhere")

// BusyError says who holds a run and until when. Handle, Decide and Resume
// do not return it: they schedule a takeover check for when the lease ends
// (see Resume) and return nil, so a crashed replica's run is never lost to
// the bus's redelivery limit while its lease runs out.
type BusyError struct {
	Owner string
	Until time.Time
}

func (b *BusyError) Error() string {
	return fmt.Sprintf("replica %s is running this incident's runbook (lease until %s)", b.Owner, b.Until.UTC().Format(time.RFC3339))
}

// Is makes errors.Is(err, ErrBusy) true.
func (b *BusyError) Is(target error) bool { return target == ErrBusy }

// defaultLease applies when Options.Lease is not set.
const defaultLease = 2 * time.Minute

// New returns an engine.
func New(o Options) *Engine {
	if o.Lease <= 0 {
		o.Lease = defaultLease
	}
	if o.QueueWait <= 0 {
		o.QueueWait = 10 * time.Minute
	}
	if o.Beat <= 0 {
		o.Beat = o.Lease / 4
	}
	if o.Observe == nil {
		o.Observe = func(string, amsv1.ActionOutcome) {}
	}
	return &Engine{o: o}
}

// Rail names, as recorded and published.
const (
	RailKillSwitch  = "kill-switch"
	RailStorm       = "storm"
	RailRateLimit   = "rate-limit"
	RailConcurrency = "concurrency"
	RailDryRun      = "dry-run"
	RailApproval    = "approval"
	RailTenant      = "tenant-isolation"
)

// run is one run being driven by this replica.
type run struct {
	e   *Engine
	mu  sync.Mutex // guards rec and rev against the heartbeat
	rec *Record
	rev uint64
	rb  *runbook.Runbook
	inc *amsv1.Incident
	t   *Tenant
}

// save writes the record under the run's lock.
func (r *run) save(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.saveLocked(ctx)
}

func (r *run) saveLocked(ctx context.Context) error {
	rev, err := save(ctx, r.e.o.Runs, r.rec, r.rev)
	if err != nil {
		return err
	}
	r.rev = rev
	return nil
}

// Handle starts or resumes the run for an opened incident. beat tells the
// bus the message is still being worked on. A nil error means the incident
// needs nothing more from this delivery (run finished, waiting for
// approval, or already done before).
func (e *Engine) Handle(ctx context.Context, inc *amsv1.Incident, beat func()) error {
	key := Key(inc.GetTenant(), inc.GetId())
	rec, rev, err := load(ctx, e.o.Runs, key)
	if err != nil {
		return err
	}
	if rec == nil {
		rec = e.begin(ctx, inc)
		rev, err = save(ctx, e.o.Runs, rec, 0)
		switch {
		case errors.Is(err, ErrLost):
			// Another replica created it first: follow its record.
			if rec, rev, err = load(ctx, e.o.Runs, key); err != nil {
				return err
			}
		case err != nil:
			return err
		case rec.Finished:
			e.o.Observe(rec.Tenant, amsv1.ActionOutcome(amsv1.ActionOutcome_value[rec.Outcome]))
		}
	}
	return e.laterIfBusy(ctx, rec.Tenant, rec.Incident, e.drive(ctx, rec, rev, beat))
}

// Resume carries on a run whose takeover check (scheduled when the run was
// busy elsewhere) has come due: if the holder's lease has run out, this
// replica takes the run over; if it is still renewed, the check is
// scheduled again for the new end of the lease.
func (e *Engine) Resume(ctx context.Context, tenant, incident string, beat func()) error {
	rec, rev, err := load(ctx, e.o.Runs, Key(tenant, incident))
	if err != nil || rec == nil {
		return err
	}
	return e.laterIfBusy(ctx, tenant, incident, e.drive(ctx, rec, rev, beat))
}

// scheduleResume has Resume called for the incident's run at at (one
// pending check per incident: a later schedule replaces it).
func (e *Engine) scheduleResume(ctx context.Context, tenant, incident string, at time.Time) error {
	return e.o.Schedule(ctx, ResumeAtSubject(tenant, incident), ResumeSubject(tenant, incident), at, nil)
}

// laterIfBusy turns a busy run into a takeover check at the end of the
// holder's lease. Any other result is returned as it is.
func (e *Engine) laterIfBusy(ctx context.Context, tenant, incident string, err error) error {
	var busy *BusyError
	if !errors.As(err, &busy) {
		return err
	}
	at := busy.Until.Add(time.Second)
	if serr := e.scheduleResume(ctx, tenant, incident, at); serr != nil {
		return fmt.Errorf("%w; scheduling the takeover check failed: %w", busy, serr)
	}
	e.o.Log.Info("run busy; takeover check scheduled", "tenant", tenant, "incident", incident, "holder", busy.Owner, "at", at)
	return nil
}

// begin decides what a new run is: which runbook, its parameters, and the
// rails that end it before any step (storm). It does no I/O with machines.
func (e *Engine) begin(ctx context.Context, inc *amsv1.Incident) *Record {
	now := e.o.Now()
	rec := &Record{Tenant: inc.GetTenant(), Incident: inc.GetId(), Runbook: inc.GetRunbook(), StartedAt: now}
	var snapErr error
	rec.IncidentPB, snapErr = proto.Marshal(inc)
	finish := func(outcome amsv1.ActionOutcome, rail, reason string) *Record {
		rec.Finished, rec.FinishedAt = true, now
		rec.Outcome, rec.Rail, rec.Reason = outcome.String(), rail, reason
		return rec
	}
	if inc.GetRunbook() == "" {
		return finish(amsv1.ActionOutcome_ACTION_OUTCOME_NO_RUNBOOK, "", "no rule selected a runbook for this incident")
	}
	rb := e.o.Runbooks()[inc.GetRunbook()]
	if rb == nil {
		return finish(amsv1.ActionOutcome_ACTION_OUTCOME_FAILED, "", fmt.Sprintf("the rules selected runbook %q, but no runbook has that name (check executor.runbooks_dir and the rule)", inc.GetRunbook()))
	}
	t := e.o.Tenants[inc.GetTenant()]
	if t == nil {
		return finish(amsv1.ActionOutcome_ACTION_OUTCOME_FAILED, RailTenant, fmt.Sprintf("tenant %q is not in the configuration; nothing runs", inc.GetTenant()))
	}
	alert := inc.GetAlert()
	applies, err := rb.Applies(ctx, alert, inc)
	if err != nil {
		return finish(amsv1.ActionOutcome_ACTION_OUTCOME_FAILED, "", err.Error())
	}
	if !applies {
		return finish(amsv1.ActionOutcome_ACTION_OUTCOME_NO_RUNBOOK, "", fmt.Sprintf("runbook %s does not apply to this incident (applies_to: %s)", rb.Name, rb.AppliesTo))
	}
	params, err := rb.Parameters(ctx, alert, inc)
	if err != nil {
		return finish(amsv1.ActionOutcome_ACTION_OUTCOME_FAILED, "", err.Error())
	}
	rec.Params, rec.RunbookText = params, rb.Text
	// A run that goes on past this point needs its incident snapshot to be
	// taken over. The bus refuses a message that does not marshal before
	// it gets here; a run without its snapshot does not start.
	if snapErr != nil {
		return finish(amsv1.ActionOutcome_ACTION_OUTCOME_FAILED, "", "the incident cannot be stored with its run: "+snapErr.Error())
	}
	rec.Procedure = rb.RenderProcedure(params)
	rec.DryRun = rb.DryRun || t.Executor.DryRun
	if rec.DryRun {
		why := "the tenant is in dry run (tenants[].executor.dry_run)"
		if rb.DryRun {
			why = "the runbook is in dry run (dry_run: true)"
		}
		rec.Decisions = append(rec.Decisions, Decision{Time: now, Rail: RailDryRun, Decision: "reported", Reason: why + ": checks run, recovery steps are only reported"})
	}
	if rb.RecoverySteps() > 0 {
		id, count, err := e.o.Rails.Storm(ctx, rec.Tenant, rec.Incident, t.Executor.Storm, now)
		switch {
		case err != nil:
			rec.Decisions = append(rec.Decisions, Decision{Time: now, Rail: RailStorm, Decision: "blocked", Reason: "the storm breaker could not be read: " + err.Error()})
			return finish(amsv1.ActionOutcome_ACTION_OUTCOME_SKIPPED, RailStorm, "the storm breaker could not be read; no recovery without it: "+err.Error())
		case id != "":
			rec.StormID = id
			reason := fmt.Sprintf("storm: %d incidents of this tenant in the last %s (breaker at %d); recovery stops and escalation pages once for the storm %s", count, t.Executor.Storm.Window, t.Executor.Storm.Incidents, id)
			rec.Decisions = append(rec.Decisions, Decision{Time: now, Rail: RailStorm, Decision: "blocked", Reason: reason})
			return finish(amsv1.ActionOutcome_ACTION_OUTCOME_SKIPPED, RailStorm, reason)
		}
	}
	return rec
}

// drive carries a run on from its record.
func (e *Engine) drive(ctx context.Context, rec *Record, rev uint64, beat func()) error {
	r := &run{e: e, rec: rec, rev: rev}
	if rec.Finished {
		return r.announceEnd(ctx)
	}
	if rec.Waiting != nil {
		return r.announceApproval(ctx)
	}
	now := e.o.Now()
	if rec.Owner != "" && rec.Owner != e.o.Owner && rec.LeaseUntil.After(now) {
		return &BusyError{Owner: rec.Owner, Until: rec.LeaseUntil}
	}
	key := Key(rec.Tenant, rec.Incident)
	if _, driving := e.active.LoadOrStore(key, struct{}{}); driving {
		return &BusyError{Owner: e.o.Owner + " (another delivery)", Until: now.Add(e.o.Lease)}
	}
	defer e.active.Delete(key)
	r.inc = &amsv1.Incident{}
	if err := proto.Unmarshal(rec.IncidentPB, r.inc); err != nil {
		return fmt.Errorf("run %s: incident snapshot: %w", Key(rec.Tenant, rec.Incident), err)
	}
	r.rb = e.o.Runbooks()[rec.Runbook]
	if len(rec.RunbookText) > 0 {
		rb, err := runbook.Load(rec.RunbookText, rec.Runbook+" (as the run started)")
		if err != nil {
			return r.finish(ctx, amsv1.ActionOutcome_ACTION_OUTCOME_FAILED, "", fmt.Sprintf("the runbook %s kept with the run no longer loads (%v); the run cannot go on", rec.Runbook, err))
		}
		r.rb = rb
	}
	r.t = e.o.Tenants[rec.Tenant]
	if r.rb == nil || r.t == nil {
		return r.finish(ctx, amsv1.ActionOutcome_ACTION_OUTCOME_FAILED, "", fmt.Sprintf("runbook %q or tenant %q is no longer configured; the run cannot go on", rec.Runbook, rec.Tenant))
	}
	if rec.Owner != "" && rec.Owner != e.o.Owner {
		rec.Decisions = append(rec.Decisions, Decision{Time: now, Rail: "lease", Decision: "taken-over", Reason: fmt.Sprintf("replica %s stopped renewing its lease (until %s); %s carries the run on", rec.Owner, rec.LeaseUntil.Format(time.RFC3339), e.o.Owner)})
	}
	rec.Owner, rec.LeaseUntil = e.o.Owner, now.Add(e.o.Lease)
	if err := r.save(ctx); err != nil {
		if errors.Is(err, ErrLost) {
			return &BusyError{Owner: "another replica", Until: now.Add(e.o.Lease)}
		}
		return err
	}
	// A heartbeat that finds the record changed by another replica (this one
	// was cut off long enough for its lease to run out, and the run was taken
	// over) ends ctx with ErrLost: the step in flight is cancelled and this
	// replica writes nothing more; the taker carries the run on.
	ctx, lose := context.WithCancelCause(ctx)
	defer lose(nil)
	lost := func() bool { return errors.Is(context.Cause(ctx), ErrLost) }
	defer func() {
		if ctx.Err() != nil && !lost() {
			r.release()
		}
	}()
	held, err := r.acquire(ctx)
	if err != nil || !held {
		return err
	}
	defer func() {
		if lost() {
			return // the slot is the taker's now
		}
		// A fresh context: release even when ctx has ended; a slot not
		// released only waits for its lease.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := e.o.Rails.Release(rctx, rec.Tenant, rec.Incident); err != nil {
			e.o.Log.Warn("release concurrency slot", "tenant", rec.Tenant, "incident", rec.Incident, "err", err)
		}
	}()
	stop := r.heartbeat(ctx, beat, lose)
	defer stop()
	if !rec.StartAnnounced {
		if err := r.announceStart(ctx); err != nil {
			return err
		}
	}
	err = r.steps(ctx, beat)
	if lost() {
		e.o.Log.Warn("run taken over by another replica after this one's lease ran out; stopping here", "tenant", rec.Tenant, "incident", rec.Incident)
		return nil
	}
	return err
}

// queueRetry is how often a run waiting for a concurrency slot looks again.
const queueRetry = 2 * time.Second

// acquire takes one of the tenant's concurrency slots. When none is free
// the run waits without holding a bus worker: it gives its lease back,
// schedules a takeover check (Resume) for a little later and returns false,
// so that a tenant with many queued runs cannot occupy every worker of a
// replica. A run still without a slot after QueueWait from its first try is
// skipped (and has been finished when acquire returns false with no error).
func (r *run) acquire(ctx context.Context) (bool, error) {
	e := r.e
	limit := r.t.Executor.Concurrency
	now := e.o.Now()
	ok, err := e.o.Rails.Acquire(ctx, r.rec.Tenant, r.rec.Incident, limit, now, now.Add(e.o.Lease))
	if err != nil {
		return false, err
	}
	// The heartbeat has not started yet: nothing else writes the record.
	rec := r.rec
	if ok {
		if !rec.QueuedAt.IsZero() {
			rec.Decisions = append(rec.Decisions, Decision{Time: now, Rail: RailConcurrency, Decision: "waited",
				Reason: fmt.Sprintf("waited %s for one of the tenant's %d run slots", now.Sub(rec.QueuedAt).Round(time.Second), limit)})
			rec.QueuedAt = time.Time{}
		}
		return true, nil
	}
	if rec.QueuedAt.IsZero() {
		rec.QueuedAt = now
	}
	if now.Sub(rec.QueuedAt) >= e.o.QueueWait {
		reason := fmt.Sprintf("concurrency: the tenant's %d run slots stayed busy for %s", limit, e.o.QueueWait)
		rec.Decisions = append(rec.Decisions, Decision{Time: now, Rail: RailConcurrency, Decision: "blocked", Reason: reason})
		return false, r.finish(ctx, amsv1.ActionOutcome_ACTION_OUTCOME_SKIPPED, RailConcurrency, reason)
	}
	rec.Owner, rec.LeaseUntil = "", time.Time{}
	if err := r.save(ctx); err != nil {
		return false, err
	}
	if err := e.scheduleResume(ctx, rec.Tenant, rec.Incident, now.Add(queueRetry)); err != nil {
		return false, fmt.Errorf("queue for a concurrency slot: %w", err)
	}
	return false, nil
}

// heartbeat renews the lease, the concurrency slot and the bus delivery
// while steps run, until the returned stop is called.
func (r *run) heartbeat(ctx context.Context, beat func(), lose context.CancelCauseFunc) func() {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(r.e.o.Beat)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			beat()
			now := r.e.o.Now()
			err := r.renewLease(ctx, now)
			switch {
			case errors.Is(err, ErrLost):
				lose(ErrLost)
				return
			case err != nil && ctx.Err() == nil:
				r.e.o.Log.Warn("renew run lease", "tenant", r.rec.Tenant, "incident", r.rec.Incident, "err", err)
			}
			if _, err := r.e.o.Rails.Acquire(ctx, r.rec.Tenant, r.rec.Incident, r.t.Executor.Concurrency, now, now.Add(r.e.o.Lease)); err != nil && ctx.Err() == nil {
				r.e.o.Log.Warn("renew concurrency slot", "tenant", r.rec.Tenant, "incident", r.rec.Incident, "err", err)
			}
		}
	}()
	return func() { cancel(); <-done }
}

// renewLease extends this replica's hold on the run from now.
func (r *run) renewLease(ctx context.Context, now time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rec.LeaseUntil = now.Add(r.e.o.Lease)
	return r.saveLocked(ctx)
}

// release gives the run's lease back when this replica stops in the
// middle of it (shutdown), so another replica can take it over at once
// instead of after the lease. A step in flight stays recorded as running:
// the taker decides (a recovery is then unknown and only verified). It uses
// a fresh context, the run's own having ended; if the write fails, the
// lease simply runs out.
func (r *run) release() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rec.Finished || r.rec.Owner != r.e.o.Owner {
		return
	}
	r.rec.Decisions = append(r.rec.Decisions, Decision{Time: r.e.o.Now(), Rail: "lease", Decision: "released",
		Reason: fmt.Sprintf("replica %s stopped in the middle of the run (shutdown); another replica takes it over", r.e.o.Owner)})
	r.rec.Owner, r.rec.LeaseUntil = "", time.Time{}
	if err := r.saveLocked(ctx); err != nil {
		r.e.o.Log.Warn("give the run's lease back", "tenant", r.rec.Tenant, "incident", r.rec.Incident, "err", err)
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

package engine

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"time"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/executor/internal/step"
	"github.com/amsproject/ams/services/executor/runbook"
)

// steps runs the runbook's steps from rec.Next to the end, then finishes.
func (r *run) steps(ctx context.Context, beat func()) error {
	rec, rb := r.rec, r.rb
	for rec.Next < len(rb.Steps) {
		s := rb.Steps[rec.Next]
		now := r.e.o.Now()

		// A step recorded as running but never finished: this replica or
		// another stopped in the middle of it.
		if last := rec.last(); last != nil && last.Name == s.Name && last.Status == StatusRunning {
			if s.Recovery {
				r.mu.Lock()
				last.Status = StatusUnknown
				last.Reason = "the executor stopped while this recovery ran (crash, restart or lost delivery); it is not re-run blindly: only verification runs now"
				rec.Unknown = s.Name
				r.mu.Unlock()
				if err := r.endStep(ctx, *last); err != nil {
					return err
				}
				continue
			}
			// A check is safe to run again.
			r.mu.Lock()
			rec.Steps = rec.Steps[:len(rec.Steps)-1]
			r.mu.Unlock()
		}
		if rec.Unknown != "" && s.Kind != runbook.KindVerify {
			if err := r.skip(ctx, s, StatusSkipped, fmt.Sprintf("the outcome of %s is unknown: only verification runs after it", rec.Unknown)); err != nil {
				return err
			}
			continue
		}
		runs, err := s.Runs(ctx, rec.results())
		if err != nil {
			if err := r.skip(ctx, s, StatusSkipped, "its condition could not be evaluated ("+err.Error()+"): not run"); err != nil {
				return err
			}
			continue
		}
		if !runs {
			if err := r.skip(ctx, s, StatusSkipped, "its condition is false: "+s.When); err != nil {
				return err
			}
			continue
		}
		resolved, err := s.Resolve(rec.Params)
		if err != nil {
			return r.finish(ctx, amsv1.ActionOutcome_ACTION_OUTCOME_FAILED, "", err.Error())
		}
		if s.Recovery {
			verdict, err := r.recoveryRails(ctx, resolved, now)
			if err != nil || verdict == railsStop {
				return err
			}
			if verdict == railsReported {
				continue
			}
		}
		sr := StepRecord{Name: s.Name, Kind: string(s.Kind), Recovery: s.Recovery, Status: StatusRunning, StartedAt: now, Target: target(resolved)}
		r.mu.Lock()
		rec.Steps = append(rec.Steps, sr)
		err = r.saveLocked(ctx) // recorded as started before it runs
		r.mu.Unlock()
		if err != nil {
			return err
		}
		// The step works on its own copy; the record (which the heartbeat
		// writes) gets it under the lock when the step ends.
		cur := &sr
		var runErr error
		switch s.Kind {
		case runbook.KindWait:
			runErr = sleep(ctx, s.Wait.Duration)
			cur.OK, cur.Status, cur.Attempts = runErr == nil, StatusOK, 1
		case runbook.KindVerify:
			runErr = r.verify(ctx, s, cur, beat)
		default:
			runErr = r.attempts(ctx, resolved, cur)
		}
		cur.Duration = r.e.o.Now().Sub(cur.StartedAt)
		if runErr != nil && ctx.Err() != nil {
			// Shutting down: leave the step recorded as running; whoever
			// takes the run over decides (a recovery is then unknown).
			return ctx.Err()
		}
		if runErr != nil {
			switch {
			case step.IsOutsideTenant(runErr):
				cur.Status, cur.Reason = StatusBlocked, runErr.Error()
				r.decide(RailTenant, s.Name, "blocked", runErr.Error())
				if err := r.endStep(ctx, *cur); err != nil {
					return err
				}
				return r.finish(ctx, amsv1.ActionOutcome_ACTION_OUTCOME_FAILED, RailTenant, runErr.Error())
			case step.IsUnknownOutcome(runErr) && s.Recovery:
				cur.Status, cur.Reason = StatusUnknown, runErr.Error()+"; it is not re-run blindly: only verification runs now"
				r.mu.Lock()
				rec.Unknown = s.Name
				r.mu.Unlock()
			case s.Recovery:
				cur.Status, cur.Reason = StatusError, runErr.Error()
				if err := r.endStep(ctx, *cur); err != nil {
					return err
				}
				return r.finish(ctx, amsv1.ActionOutcome_ACTION_OUTCOME_FAILED, "", fmt.Sprintf("recovery step %s could not be run: %v", s.Name, runErr))
			default:
				cur.Status, cur.Reason, cur.OK = StatusError, runErr.Error(), false
			}
		}
		if err := r.endStep(ctx, *cur); err != nil {
			return err
		}
	}
	outcome, reason, rail := r.outcome()
	return r.finish(ctx, outcome, rail, reason)
}

// railsVerdict is what the rails say of a recovery step about to run.
type railsVerdict int

const (
	// railsRun: the step runs.
	railsRun railsVerdict = iota
	// railsReported: a dry run recorded the step as reported; the run goes
	// on with the next step.
	railsReported
	// railsStop: the run has ended (skipped) or waits for approval.
	railsStop
)

// recoveryRails applies the rails to a recovery step about to run, in
// order: kill switch, dry run, approval, rate limits.
func (r *run) recoveryRails(ctx context.Context, s *runbook.Step, now time.Time) (railsVerdict, error) {
	rec := r.rec
	if killed, why := r.e.o.Rails.Killed(ctx); killed {
		return railsStop, r.block(ctx, s, RailKillSwitch, why)
	}
	if rec.DryRun {
		why := fmt.Sprintf("dry run: would run %s on %s", describe(s), target(s))
		r.decide(RailDryRun, s.Name, "reported", why)
		return railsReported, r.skip(ctx, s, StatusDryRun, why)
	}
	if s.Approval && !slices.Contains(rec.Approved, s.Name) {
		return railsStop, r.wait(ctx, s, now)
	}
	ok, why, err := r.e.o.Rails.Reserve(ctx, rec.Tenant, rec.Runbook, target(s), r.t.Executor.RateLimits, now)
	if err != nil {
		return railsStop, err
	}
	if !ok {
		return railsStop, r.block(ctx, s, RailRateLimit, why)
	}
	r.decide(RailRateLimit, s.Name, "allowed", fmt.Sprintf("within %d per %s for %s and %d per %s for runbook %s",
		r.t.Executor.RateLimits.PerTarget.Count, r.t.Executor.RateLimits.PerTarget.Window, target(s),
		r.t.Executor.RateLimits.PerRunbook.Count, r.t.Executor.RateLimits.PerRunbook.Window, rec.Runbook))
	return railsRun, nil
}

// block ends the run because rail refused recovery step s: the step is
// recorded as blocked and the run as skipped, both with the reason.
func (r *run) block(ctx context.Context, s *runbook.Step, rail, why string) error {
	r.decide(rail, s.Name, "blocked", why)
	if err := r.skip(ctx, s, StatusBlocked, why); err != nil {
		return err
	}
	return r.finish(ctx, amsv1.ActionOutcome_ACTION_OUTCOME_SKIPPED, rail, fmt.Sprintf("recovery step %s not run: %s", s.Name, why))
}

// wait parks the run until a person approves or denies the step, or the
// approval timeout fires.
func (r *run) wait(ctx context.Context, s *runbook.Step, now time.Time) error {
	rec := r.rec
	deadline := now.Add(r.e.o.ApprovalTimeout)
	rec.Waiting = &Waiting{Step: s.Name, Since: now, Deadline: deadline}
	rec.Owner, rec.LeaseUntil = "", time.Time{}
	r.decide(RailApproval, s.Name, "waiting", fmt.Sprintf("recovery step %s (%s on %s) needs approval: amsctl approve %s --tenant %s, or deny; no answer by %s escalates",
		s.Name, describe(s), target(s), rec.Incident, rec.Tenant, deadline.UTC().Format(time.RFC3339)))
	if err := r.save(ctx); err != nil {
		return err
	}
	if err := r.e.o.Schedule(ctx, ScheduleSubject(rec.Tenant, rec.Incident), TimeoutSubject(rec.Tenant, rec.Incident), deadline, []byte(s.Name)); err != nil {
		return err
	}
	return r.announceApproval(ctx)
}

// attempts runs one action step with its retries (checks only; a recovery
// gets one attempt).
func (r *run) attempts(ctx context.Context, s *runbook.Step, cur *StepRecord) error {
	tries := 1 + s.Retries
	if s.Recovery {
		tries = 1
	}
	var res step.Result
	var err error
	for i := range tries {
		cur.Attempts = i + 1
		res, err = r.act(ctx, s)
		if err == nil && res.OK {
			break
		}
		if step.IsOutsideTenant(err) || ctx.Err() != nil {
			break
		}
		if i+1 < tries {
			if serr := sleep(ctx, time.Duration(i+1)*time.Second); serr != nil {
				return serr
			}
		}
	}
	if err != nil {
		return err
	}
	r.fill(cur, res)
	return nil
}

func (r *run) fill(cur *StepRecord, res step.Result) {
	cur.OK, cur.ExitCode, cur.Value = res.OK, res.ExitCode, res.Value
	// The step kinds cap what they capture; this bounds what they did not
	// (an error's text) by the same configured size.
	cur.Output = step.Cap(res.Output, r.e.o.MaxOutput)
	if res.Target != "" {
		cur.Target = res.Target
	}
	cur.Status = StatusOK
	if !res.OK {
		cur.Status = StatusFailed
	}
}

// verify re-runs the check until the condition holds or time is up.
func (r *run) verify(ctx context.Context, s *runbook.Step, cur *StepRecord, beat func()) error {
	v := s.Verify
	check := r.rb.Step(v.Step)
	resolved, err := check.Resolve(r.rec.Params)
	if err != nil {
		return err
	}
	cur.Rechecked = v.Step
	deadline := r.e.o.Now().Add(v.For)
	results := r.rec.results()
	for attempt := 1; ; attempt++ {
		cur.Attempts = attempt
		res, err := r.act(ctx, resolved)
		if step.IsOutsideTenant(err) {
			return err
		}
		if err != nil {
			res = step.Result{OK: false, Output: err.Error()}
		}
		results[v.Step] = runbook.StepResult{OK: res.OK, ExitCode: int64(res.ExitCode), Output: res.Output, Value: res.Value}
		healthy, herr := v.Healthy(ctx, results)
		r.fill(cur, res)
		cur.Target = target(resolved)
		if herr != nil {
			// A condition that cannot be evaluated fails this step, as an
			// unhealthy answer does; the error is kept on the step record.
			cur.OK, cur.Status, cur.Reason = false, StatusFailed, herr.Error()
			return nil //nolint:nilerr // the step failed, recorded on cur; the run itself goes on
		}
		if healthy {
			cur.OK, cur.Status, cur.Reason = true, StatusOK, fmt.Sprintf("healthy after %d check(s): %s", attempt, v.Until)
			return nil
		}
		if r.e.o.Now().Add(v.Every).After(deadline) {
			cur.OK, cur.Status, cur.Reason = false, StatusFailed, fmt.Sprintf("still not healthy after %d check(s) over %s: %s", attempt, v.For, v.Until)
			return nil
		}
		beat()
		if err := sleep(ctx, v.Every); err != nil {
			return err
		}
	}
}

// act runs one attempt of an action step, after checking its target is the
// tenant's.
func (r *run) act(ctx context.Context, s *runbook.Step) (step.Result, error) {
	tenant, x := r.rec.Tenant, &r.t.Executor
	timeout := s.Timeout
	outside := func(target, reason string) error {
		return &step.OutsideTenantError{Tenant: tenant, Target: target, Reason: reason}
	}
	switch s.Kind {
	case runbook.KindSSM:
		if x.AWS == nil {
			return step.Result{}, outside(s.SSM.Instance, "the tenant has no AWS account configured (tenants[].executor.aws)")
		}
		return r.e.o.AWS.SSM(ctx, tenant, x.AWS, s.SSM.Instance, s.SSM.Document, s.SSM.Parameters, timeout)
	case runbook.KindEC2:
		if x.AWS == nil {
			return step.Result{}, outside(s.EC2.Instance, "the tenant has no AWS account configured (tenants[].executor.aws)")
		}
		return r.e.o.AWS.EC2(ctx, tenant, x.AWS, s.EC2.Action, s.EC2.Instance, timeout)
	case runbook.KindCloudWatch:
		if x.AWS == nil {
			return step.Result{}, outside(s.CloudWatch.Namespace+"/"+s.CloudWatch.Metric, "the tenant has no AWS account configured (tenants[].executor.aws)")
		}
		c := s.CloudWatch
		return r.e.o.AWS.CloudWatch(ctx, tenant, x.AWS, c.Namespace, c.Metric, c.Dimensions, c.Stat, c.Period, 0)
	case runbook.KindSSH:
		if err := r.t.Hosts.Check(s.SSH.Host); err != nil {
			return step.Result{}, err
		}
		if x.SSH == nil {
			return step.Result{}, outside(s.SSH.Host, "the tenant has no SSH login configured (tenants[].executor.ssh)")
		}
		return r.e.o.SSH.Run(ctx, tenant, x.SSH, s.SSH.Host, s.SSH.Argv, timeout)
	case runbook.KindHTTP:
		if err := r.t.Hosts.CheckURL(s.HTTP.URL); err != nil {
			return step.Result{}, err
		}
		return r.e.o.Probe.HTTP(ctx, s.HTTP.URL, s.HTTP.Method, s.HTTP.ExpectStatus, timeout)
	case runbook.KindTCP:
		addr := tcpAddress(s.TCP)
		if err := r.t.Hosts.CheckAddress(addr); err != nil {
			return step.Result{}, err
		}
		return r.e.o.Probe.TCP(ctx, addr, timeout)
	case runbook.KindDNS:
		if err := r.t.Hosts.Check(s.DNS.Name); err != nil {
			return step.Result{}, err
		}
		return r.e.o.Probe.DNS(ctx, s.DNS.Name, s.DNS.Type, timeout)
	}
	return step.Result{}, fmt.Errorf("step %s: kind %s is not an action", s.Name, s.Kind)
}

// target names what a step acts on, for records and rate limits.
func target(s *runbook.Step) string {
	switch {
	case s.SSM != nil:
		return s.SSM.Instance
	case s.EC2 != nil:
		return s.EC2.Instance
	case s.SSH != nil:
		return s.SSH.Host
	case s.HTTP != nil:
		return s.HTTP.URL
	case s.TCP != nil:
		return tcpAddress(s.TCP)
	case s.DNS != nil:
		return s.DNS.Name
	case s.CloudWatch != nil:
		return s.CloudWatch.Namespace + "/" + s.CloudWatch.Metric
	}
	return ""
}

// tcpAddress is the host:port a TCP step connects to.
func tcpAddress(t *runbook.TCP) string {
	if t.Port != 0 {
		return net.JoinHostPort(t.Address, strconv.Itoa(t.Port))
	}
	return t.Address
}

func describe(s *runbook.Step) string {
	switch {
	case s.SSM != nil:
		return "SSM document " + s.SSM.Document
	case s.EC2 != nil:
		return "EC2 " + s.EC2.Action
	case s.SSH != nil:
		return fmt.Sprintf("ssh %q", s.SSH.Argv)
	}
	return string(s.Kind)
}

// skip records a step that did not run and moves on.
func (r *run) skip(ctx context.Context, s *runbook.Step, status, reason string) error {
	sr := StepRecord{Name: s.Name, Kind: string(s.Kind), Recovery: s.Recovery, Status: status, Reason: reason, StartedAt: r.e.o.Now()}
	r.mu.Lock()
	r.rec.Steps = append(r.rec.Steps, sr)
	r.mu.Unlock()
	return r.endStep(ctx, sr)
}

// endStep stores sr as the last recorded step, finished, moves to the next
// step and publishes it.
func (r *run) endStep(ctx context.Context, sr StepRecord) error {
	r.mu.Lock()
	*r.rec.last() = sr
	r.rec.Next++
	n := len(r.rec.Steps)
	err := r.saveLocked(ctx)
	r.mu.Unlock()
	if err != nil {
		return err
	}
	return r.announceStep(ctx, n, sr)
}

func (r *run) decide(rail, stepName, decision, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rec.Decisions = append(r.rec.Decisions, Decision{Time: r.e.o.Now(), Rail: rail, Step: stepName, Decision: decision, Reason: reason})
}

// outcome decides how a run that went through all its steps ended.
func (r *run) outcome() (amsv1.ActionOutcome, string, string) {
	rec := r.rec
	var lastVerify *StepRecord
	var dry []string
	recovered := false
	for i := range rec.Steps {
		s := &rec.Steps[i]
		switch {
		case s.Kind == string(runbook.KindVerify) && (s.Status == StatusOK || s.Status == StatusFailed):
			lastVerify = s
		case s.Status == StatusDryRun:
			dry = append(dry, s.Name)
		case s.Recovery && s.Status == StatusOK:
			recovered = true
		}
	}
	switch {
	case rec.Unknown != "" && (lastVerify == nil || !lastVerify.OK):
		return amsv1.ActionOutcome_ACTION_OUTCOME_FAILED, fmt.Sprintf("outcome unknown: recovery step %s may or may not have run, and verification did not show the incident healthy; a person must check", rec.Unknown), ""
	case rec.Unknown != "":
		return amsv1.ActionOutcome_ACTION_OUTCOME_RESOLVED, fmt.Sprintf("the outcome of recovery step %s is unknown, but %s shows the incident healthy", rec.Unknown, lastVerify.Name), ""
	case lastVerify != nil && lastVerify.OK:
		if len(dry) > 0 {
			return amsv1.ActionOutcome_ACTION_OUTCOME_RESOLVED, fmt.Sprintf("healthy without recovery (dry run reported %v): %s", dry, lastVerify.Reason), ""
		}
		return amsv1.ActionOutcome_ACTION_OUTCOME_RESOLVED, lastVerify.Name + ": " + lastVerify.Reason, ""
	case len(dry) > 0:
		return amsv1.ActionOutcome_ACTION_OUTCOME_SKIPPED, fmt.Sprintf("dry run: recovery %v only reported; a person decides", dry), RailDryRun
	case lastVerify != nil:
		return amsv1.ActionOutcome_ACTION_OUTCOME_UNRESOLVED, lastVerify.Name + ": " + lastVerify.Reason, ""
	case recovered:
		return amsv1.ActionOutcome_ACTION_OUTCOME_UNRESOLVED, "recovery ran, but the runbook has no verify step to show it worked; a person checks", ""
	default:
		return amsv1.ActionOutcome_ACTION_OUTCOME_UNRESOLVED, "information gathered; this runbook has no recovery, a person takes it from here", ""
	}
}

// finish ends the run with its outcome, stores and announces it.
func (r *run) finish(ctx context.Context, outcome amsv1.ActionOutcome, rail, reason string) error {
	r.mu.Lock()
	rec := r.rec
	rec.Finished, rec.FinishedAt = true, r.e.o.Now()
	rec.Outcome, rec.Rail, rec.Reason = outcome.String(), rail, reason
	rec.Owner, rec.LeaseUntil, rec.Waiting = "", time.Time{}, nil
	err := r.saveLocked(ctx)
	r.mu.Unlock()
	if err != nil {
		return err
	}
	r.e.o.Observe(rec.Tenant, outcome)
	return r.announceEnd(ctx)
}

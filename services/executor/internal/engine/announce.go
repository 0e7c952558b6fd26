package engine

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/amsproject/ams/pkg/bus"
	amsv1 "github.com/amsproject/ams/proto/ams/v1"
)

// Subjects of the executor's control stream: approval decisions from the
// admin API, and approval timeouts the bus delivers when they fall due.
const (
	ControlStream = "EXECUTOR_CONTROL"
)

// DecisionSubject carries an approve or deny for an incident's run.
func DecisionSubject(tenant, incident string) string {
	return "ams.executor.decision." + tenant + "." + incident
}

// ScheduleSubject holds the pending approval timeout of an incident (one
// per subject: a later schedule replaces it).
func ScheduleSubject(tenant, incident string) string {
	return "ams.executor.schedule." + tenant + "." + incident
}

// ResumeAtSubject holds an incident's pending takeover check, scheduled
// when a delivery found the run held by another replica's lease.
func ResumeAtSubject(tenant, incident string) string {
	return "ams.executor.resume-at." + tenant + "." + incident
}

// ResumeSubject is where a takeover check is delivered when due.
func ResumeSubject(tenant, incident string) string {
	return "ams.executor.resume." + tenant + "." + incident
}

// TimeoutSubject is where an approval timeout is delivered when due.
func TimeoutSubject(tenant, incident string) string {
	return "ams.executor.timeout." + tenant + "." + incident
}

// result builds the published form of the record.
func (r *run) result(event amsv1.ActionEvent) *amsv1.ActionResult {
	rec := r.rec
	inc := r.inc
	if inc == nil {
		inc = &amsv1.Incident{}
		_ = proto.Unmarshal(rec.IncidentPB, inc)
	}
	res := &amsv1.ActionResult{
		Id:         "act-" + rec.Incident,
		Tenant:     rec.Tenant,
		IncidentId: rec.Incident,
		Runbook:    rec.Runbook,
		Event:      event,
		StartedAt:  timestamppb.New(rec.StartedAt),
		Incident:   inc,
		Procedure:  rec.Procedure,
		Parameters: rec.Params,
		StormId:    rec.StormID,
		DryRun:     rec.DryRun,
	}
	for _, d := range rec.Decisions {
		res.Decisions = append(res.Decisions, &amsv1.RailDecision{Time: timestamppb.New(d.Time), Rail: d.Rail, Step: d.Step, Decision: d.Decision, Reason: d.Reason})
	}
	if event == amsv1.ActionEvent_ACTION_EVENT_COMPLETED {
		res.Outcome = amsv1.ActionOutcome(amsv1.ActionOutcome_value[rec.Outcome])
		res.Reason, res.Rail = rec.Reason, rec.Rail
		res.FinishedAt = timestamppb.New(rec.FinishedAt)
		for _, s := range rec.Steps {
			res.Steps = append(res.Steps, stepResult(s))
		}
	}
	return res
}

func stepResult(s StepRecord) *amsv1.StepResult {
	return &amsv1.StepResult{
		Name: s.Name, Kind: s.Kind, Recovery: s.Recovery, Status: s.Status, Output: s.Output,
		StartedAt: timestamppb.New(s.StartedAt), Duration: durationpb.New(s.Duration),
		ExitCode: int32(s.ExitCode), Target: s.Target, Attempts: int32(s.Attempts), Reason: s.Reason, Value: s.Value, //nolint:gosec // exit codes and attempts are small
	}
}

func (r *run) publish(ctx context.Context, event, msgID string, res *amsv1.ActionResult) error {
	if _, err := r.e.o.Publisher.Publish(ctx, bus.Subject("action", event, r.rec.Tenant), msgID, res); err != nil {
		return err
	}
	return nil
}

func (r *run) announceStart(ctx context.Context) error {
	res := r.result(amsv1.ActionEvent_ACTION_EVENT_STARTED)
	res.Id = "act-" + r.rec.Incident + "-started"
	if err := r.publish(ctx, "started", res.Id, res); err != nil {
		return err
	}
	r.rec.StartAnnounced = true
	return r.save(ctx)
}

// announceStep publishes the n-th recorded step (1-based) on its own, so
// ticketing can append its output as soon as it is known.
func (r *run) announceStep(ctx context.Context, n int, s StepRecord) error {
	res := r.result(amsv1.ActionEvent_ACTION_EVENT_STEP)
	res.Id = fmt.Sprintf("act-%s-step-%d", r.rec.Incident, n)
	res.Steps = []*amsv1.StepResult{stepResult(s)}
	return r.publish(ctx, "step", res.Id, res)
}

func (r *run) announceApproval(ctx context.Context) error {
	w := r.rec.Waiting
	res := r.result(amsv1.ActionEvent_ACTION_EVENT_APPROVAL)
	res.Id = "act-" + r.rec.Incident + "-approval-" + w.Step
	res.Outcome = amsv1.ActionOutcome_ACTION_OUTCOME_AWAITING_APPROVAL
	res.ApprovalStep = w.Step
	res.ApprovalDeadline = timestamppb.New(w.Deadline)
	res.Reason = fmt.Sprintf("recovery step %s waits for approval until %s (amsctl approve %s --tenant %s)", w.Step, w.Deadline.UTC().Format(time.RFC3339), r.rec.Incident, r.rec.Tenant)
	return r.publish(ctx, "approval", res.Id, res)
}

// announceEnd publishes the outcome. Its id is the incident's, so a run
// announced again (redelivery) stores nothing new.
func (r *run) announceEnd(ctx context.Context) error {
	res := r.result(amsv1.ActionEvent_ACTION_EVENT_COMPLETED)
	return r.publish(ctx, "completed", "action:"+r.rec.Incident, res)
}

// Decide applies an approval decision from a person to a waiting run and,
// when approved, carries the run on. A decision for a run not waiting (it
// timed out, was decided already) changes nothing.
func (e *Engine) Decide(ctx context.Context, req *amsv1.DecideApprovalRequest, beat func()) error {
	rec, rev, err := load(ctx, e.o.Runs, Key(req.GetTenant(), req.GetIncidentId()))
	if err != nil {
		return err
	}
	if rec == nil || rec.Waiting == nil || rec.Finished {
		e.o.Log.Info("approval decision for a run not waiting; ignored", "tenant", req.GetTenant(), "incident", req.GetIncidentId())
		return nil
	}
	r := &run{e: e, rec: rec, rev: rev}
	w := rec.Waiting
	who := req.GetBy()
	if who == "" {
		who = "an operator"
	}
	note := ""
	if req.GetComment() != "" {
		note = ": " + req.GetComment()
	}
	if !req.GetApprove() {
		reason := fmt.Sprintf("recovery step %s denied by %s%s; a person takes it from here", w.Step, who, note)
		r.decide(RailApproval, w.Step, "denied", reason)
		rec.Steps = append(rec.Steps, StepRecord{Name: w.Step, Kind: stepKind(e, rec, w.Step), Recovery: true, Status: StatusDenied, Reason: reason, StartedAt: e.o.Now()})
		return r.finish(ctx, amsv1.ActionOutcome_ACTION_OUTCOME_UNRESOLVED, RailApproval, reason)
	}
	r.decide(RailApproval, w.Step, "approved", fmt.Sprintf("recovery step %s approved by %s%s", w.Step, who, note))
	rec.Approved = append(rec.Approved, w.Step)
	rec.Waiting = nil
	rev, err = save(ctx, e.o.Runs, rec, rev)
	if err != nil {
		return err
	}
	return e.laterIfBusy(ctx, rec.Tenant, rec.Incident, e.drive(ctx, rec, rev, beat))
}

// Timeout ends a run still waiting for approval of step when its deadline
// has come.
func (e *Engine) Timeout(ctx context.Context, tenant, incident, stepName string) error {
	rec, rev, err := load(ctx, e.o.Runs, Key(tenant, incident))
	if err != nil || rec == nil || rec.Waiting == nil || rec.Finished || rec.Waiting.Step != stepName {
		return err
	}
	if e.o.Now().Add(time.Second).Before(rec.Waiting.Deadline) {
		return nil // an older schedule; the current one will come
	}
	r := &run{e: e, rec: rec, rev: rev}
	reason := fmt.Sprintf("no approval for recovery step %s by %s; escalated to a person", stepName, rec.Waiting.Deadline.UTC().Format(time.RFC3339))
	r.decide(RailApproval, stepName, "timed-out", reason)
	return r.finish(ctx, amsv1.ActionOutcome_ACTION_OUTCOME_UNRESOLVED, RailApproval, reason)
}

func stepKind(e *Engine, rec *Record, name string) string {
	if rb := e.o.Runbooks()[rec.Runbook]; rb != nil {
		if s := rb.Step(name); s != nil {
			return string(s.Kind)
		}
	}
	return ""
}

// WaitingStep returns the step the incident's run waits on for approval,
// and false when it waits on none; for the admin API, which refuses
// decisions nobody asked for.
func WaitingStep(rec *Record) (string, bool) {
	if rec == nil || rec.Finished || rec.Waiting == nil {
		return "", false
	}
	return rec.Waiting.Step, true
}

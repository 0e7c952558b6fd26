package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/amsproject/ams/services/executor/runbook"
)

// RunsBucket holds one run record per incident: <tenant>.<incident id>.
const RunsBucket = "executor-runs"

// RunsBucketConfig is the runs bucket. A record outlives its run so a
// redelivered incident finds it finished and runs nothing twice.
func RunsBucketConfig(replicas int) jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:      RunsBucket,
		Description: "Executor run records: steps started and finished, rail decisions, approvals, outcome.",
		History:     1,
		TTL:         90 * 24 * time.Hour,
		Replicas:    replicas,
	}
}

// Step statuses as recorded and published.
const (
	StatusRunning  = "running"
	StatusOK       = "ok"
	StatusFailed   = "failed"
	StatusSkipped  = "skipped"
	StatusDryRun   = "dry-run"
	StatusUnknown  = "unknown"
	StatusError    = "error"
	StatusBlocked  = "blocked"
	StatusAwaiting = "awaiting-approval"
	StatusDenied   = "denied"
)

// Record is the durable state of one incident's run. It is written before
// each step starts and after it ends, so a replica that takes over after a
// crash knows exactly which step was in flight.
type Record struct {
	Tenant   string `json:"tenant"`
	Incident string `json:"incident"`
	Runbook  string `json:"runbook,omitempty"`
	// RunbookText is the runbook's YAML as the run started: a run goes on
	// with it after a takeover or an approval even if the file changed.
	RunbookText []byte `json:"runbook_text,omitempty"`
	// IncidentPB is the incident snapshot the run acts on (protobuf).
	IncidentPB []byte            `json:"incident_pb,omitempty"`
	Params     map[string]string `json:"params,omitempty"`
	Procedure  string            `json:"procedure,omitempty"`
	DryRun     bool              `json:"dry_run,omitempty"`
	StartedAt  time.Time         `json:"started_at"`
	// Owner is the replica running it until LeaseUntil; another replica
	// takes over only after the lease has run out.
	Owner      string    `json:"owner,omitempty"`
	LeaseUntil time.Time `json:"lease_until,omitzero"`
	// Next is the index of the runbook step to consider next.
	Next      int          `json:"next"`
	Steps     []StepRecord `json:"steps,omitempty"`
	Decisions []Decision   `json:"decisions,omitempty"`
	// QueuedAt is when the run first found no free concurrency slot; zero
	// while it is not waiting for one.
	QueuedAt time.Time `json:"queued_at,omitzero"`
	// StartAnnounced is set once the started event is stored.
	StartAnnounced bool `json:"start_announced,omitempty"`
	// Unknown names a recovery step whose outcome is unknown: from then on
	// only verification runs.
	Unknown string `json:"unknown,omitempty"`
	// Approved lists the steps a person approved.
	Approved []string `json:"approved,omitempty"`
	Waiting  *Waiting `json:"waiting,omitempty"`
	StormID  string   `json:"storm_id,omitempty"`

	// Set when the run has ended.
	Finished   bool      `json:"finished,omitempty"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	Outcome    string    `json:"outcome,omitempty"` // an amsv1.ActionOutcome name
	Reason     string    `json:"reason,omitempty"`
	Rail       string    `json:"rail,omitempty"`
}

// StepRecord is one step as it ran (or was skipped).
type StepRecord struct {
	Name      string        `json:"name"`
	Kind      string        `json:"kind"`
	Recovery  bool          `json:"recovery,omitempty"`
	Status    string        `json:"status"`
	Reason    string        `json:"reason,omitempty"`
	Target    string        `json:"target,omitempty"`
	OK        bool          `json:"ok,omitempty"`
	ExitCode  int           `json:"exit_code,omitempty"`
	Value     float64       `json:"value,omitempty"`
	Output    string        `json:"output,omitempty"`
	Attempts  int           `json:"attempts,omitempty"`
	StartedAt time.Time     `json:"started_at"`
	Duration  time.Duration `json:"duration,omitempty"`
	// Rechecked is the check a verify step re-ran; its last result stands
	// for that check in later conditions.
	Rechecked string `json:"rechecked,omitempty"`
}

// Decision is one rail decision with its reason.
type Decision struct {
	Time     time.Time `json:"time"`
	Rail     string    `json:"rail"`
	Step     string    `json:"step,omitempty"`
	Decision string    `json:"decision"`
	Reason   string    `json:"reason"`
}

// Waiting is a step waiting for approval.
type Waiting struct {
	Step     string    `json:"step"`
	Since    time.Time `json:"since"`
	Deadline time.Time `json:"deadline"`
}

// Key is the record's key in the runs bucket.
func Key(tenant, incident string) string { return tenant + "." + incident }

// results is what conditions see: every recorded step by name, a verify's
// last re-check standing for the check it re-ran.
func (r *Record) results() map[string]runbook.StepResult {
	out := make(map[string]runbook.StepResult, len(r.Steps))
	for _, s := range r.Steps {
		res := runbook.StepResult{OK: s.OK, ExitCode: int64(s.ExitCode), Output: s.Output, Value: s.Value}
		out[s.Name] = res
		if s.Rechecked != "" {
			out[s.Rechecked] = res
		}
	}
	return out
}

func (r *Record) last() *StepRecord {
	if len(r.Steps) == 0 {
		return nil
	}
	return &r.Steps[len(r.Steps)-1]
}

// ErrLost means another replica changed the record under this one (it took
// the run over): this replica stops touching anything.
var ErrLost = errors.New("the run record changed under this replica (another replica took the run over); stopping")

// load reads the record; nil when there is none.
func load(ctx context.Context, kv jetstream.KeyValue, key string) (*Record, uint64, error) {
	e, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read run %s: %w", key, err)
	}
	var rec Record
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		return nil, 0, fmt.Errorf("read run %s: %w", key, err)
	}
	return &rec, e.Revision(), nil
}

// LoadRecord reads the run record of an incident, for the admin API; nil
// when the incident has none.
func LoadRecord(ctx context.Context, kv jetstream.KeyValue, tenant, incident string) (*Record, error) {
	rec, _, err := load(ctx, kv, Key(tenant, incident))
	return rec, err
}

// save writes rec with compare-and-set on rev (0: create) and returns the
// new revision. A conflict is ErrLost.
func save(ctx context.Context, kv jetstream.KeyValue, rec *Record, rev uint64) (uint64, error) {
	raw, err := json.Marshal(rec)
	if err != nil {
		return 0, err
	}
	key := Key(rec.Tenant, rec.Incident)
	var next uint64
	if rev == 0 {
		next, err = kv.Create(ctx, key, raw)
	} else {
		next, err = kv.Update(ctx, key, raw, rev)
	}
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return 0, ErrLost
	}
	if err != nil {
		return 0, fmt.Errorf("write run %s: %w", key, err)
	}
	return next, nil
}

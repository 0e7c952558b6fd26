// Package rails holds the executor's safety rails whose state is shared by
// every replica, in one JetStream KV bucket: the global kill switch, rate
// limits on recovery steps per target and per runbook, each tenant's
// concurrency slots and its storm breaker. Every check is a
// read–change–compare-and-set (kvproto.Modify), so two replicas deciding at
// the same moment cannot both take the last slot or the last allowed reboot.
package rails

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/amsproject/ams/pkg/config"
	"github.com/amsproject/ams/pkg/kvproto"
)

// Bucket is the KV bucket of the rails' state.
const Bucket = "executor-rails"

// KillSwitchKey holds the runtime kill switch.
const KillSwitchKey = "kill-switch"

// BucketConfig is the rails bucket. Rate-limit and storm entries are pruned
// on every write; the age bound drops keys of targets never seen again.
func BucketConfig(replicas int) jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:      Bucket,
		Description: "Executor safety rails: kill switch, rate limits, concurrency, storm breaker.",
		History:     1,
		TTL:         30 * 24 * time.Hour,
		Replicas:    replicas,
	}
}

// Rails decides, with shared state, whether automation may go on.
type Rails struct {
	kv jetstream.KeyValue
	// configKill is executor.kill_switch from the configuration file.
	configKill bool
}

// New returns rails over kv.
func New(kv jetstream.KeyValue, configKill bool) *Rails {
	return &Rails{kv: kv, configKill: configKill}
}

// KillSwitch is the runtime kill switch as stored.
type KillSwitch struct {
	On        bool      `json:"on"`
	By        string    `json:"by,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	ChangedAt time.Time `json:"changed_at,omitzero"`
}

// ReadKillSwitch returns the runtime switch stored in kv (off when never set).
func ReadKillSwitch(ctx context.Context, kv jetstream.KeyValue) (KillSwitch, error) {
	var ks KillSwitch
	e, err := kv.Get(ctx, KillSwitchKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return ks, nil
	}
	if err != nil {
		return ks, fmt.Errorf("read the kill switch: %w", err)
	}
	if err := json.Unmarshal(e.Value(), &ks); err != nil {
		return ks, fmt.Errorf("read the kill switch: %w", err)
	}
	return ks, nil
}

// WriteKillSwitch stores the runtime switch.
func WriteKillSwitch(ctx context.Context, kv jetstream.KeyValue, ks KillSwitch) error {
	raw, err := json.Marshal(ks)
	if err != nil {
		return err
	}
	if _, err := kv.Put(ctx, KillSwitchKey, raw); err != nil {
		return fmt.Errorf("write the kill switch: %w", err)
	}
	return nil
}

// Killed says whether the kill switch is on and why. An unreadable switch
// counts as on: when in doubt, do not touch machines.
func (r *Rails) Killed(ctx context.Context) (bool, string) {
	if r.configKill {
		return true, "the kill switch is on in the configuration (executor.kill_switch)"
	}
	ks, err := ReadKillSwitch(ctx, r.kv)
	if err != nil {
		return true, err.Error() + "; treated as on"
	}
	if ks.On {
		reason := "the kill switch is on"
		if ks.By != "" {
			reason += " (thrown by " + ks.By
			if ks.Reason != "" {
				reason += ": " + ks.Reason
			}
			reason += ")"
		}
		return true, reason
	}
	return false, ""
}

// stamps is a list of times within a window, oldest first.
type stamps []time.Time

func (s stamps) since(from time.Time) stamps {
	i := 0
	for i < len(s) && !s[i].After(from) {
		i++
	}
	return s[i:]
}

// keySafe keeps a key readable when it can and unambiguous always: KV keys
// allow only some characters, and targets come from alerts.
var keySafe = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$`)

func keyPart(s string) string {
	// keySafe already refuses a leading dot; a trailing one would make an
	// empty token in the key.
	if keySafe.MatchString(s) && s[len(s)-1] != '.' {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return "h-" + hex.EncodeToString(sum[:12])
}

// Reserve takes one recovery from the per-target and the per-runbook limits
// of the tenant, or says which is spent. Both are counted only when both
// allow it.
func (r *Rails) Reserve(ctx context.Context, tenant, runbookName, target string, limits config.RateLimits, now time.Time) (bool, string, error) {
	checks := []rateLimit{
		{"rate." + tenant + ".target." + keyPart(target), "target " + target, limits.PerTarget},
		{"rate." + tenant + ".runbook." + keyPart(runbookName), "runbook " + runbookName, limits.PerRunbook},
	}
	// Check both first, so a refusal by the second does not spend the first.
	for _, c := range checks {
		cur, err := r.stamps(ctx, c.key)
		if err != nil {
			return false, "", err
		}
		if _, spent := c.spent(cur, now); spent != "" {
			return false, spent, nil
		}
	}
	for _, c := range checks {
		spent := ""
		err := kvproto.Modify(ctx, r.kv, c.key, func(raw []byte) ([]byte, error) {
			var cur stamps
			if raw != nil {
				if err := json.Unmarshal(raw, &cur); err != nil {
					return nil, fmt.Errorf("rate limit %s: %w", c.key, err)
				}
			}
			var kept stamps
			if kept, spent = c.spent(cur, now); spent != "" {
				return nil, nil
			}
			return json.Marshal(append(kept, now))
		})
		if err != nil {
			return false, "", err
		}
		if spent != "" {
			// Another replica took the last one between the check and now.
			return false, spent, nil
		}
	}
	return true, "", nil
}

// rateLimit is one limit on recovery steps and the key counting them.
type rateLimit struct {
	key, what string
	l         config.RateLimit
}

// spent drops the stamps older than the window and says, when the rest
// leave no room, why.
func (c rateLimit) spent(cur stamps, now time.Time) (stamps, string) {
	kept := cur.since(now.Add(-c.l.Window))
	if len(kept) < c.l.Count {
		return kept, ""
	}
	return kept, fmt.Sprintf("rate limit: %s already had %d recovery steps in the last %s (limit %d per %s)", c.what, len(kept), c.l.Window, c.l.Count, c.l.Window)
}

func (r *Rails) stamps(ctx context.Context, key string) (stamps, error) {
	e, err := r.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	var s stamps
	if err := json.Unmarshal(e.Value(), &s); err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	return s, nil
}

// slots are a tenant's runs in progress: incident id → lease end.
type slots map[string]time.Time

// Acquire takes one of the tenant's concurrency slots for the incident
// until leaseEnd (a renewal when it already holds one). A slot whose lease
// ran out belonged to a replica that died: it is freed.
func (r *Rails) Acquire(ctx context.Context, tenant, incident string, limit int, now, leaseEnd time.Time) (bool, error) {
	got := false
	err := kvproto.Modify(ctx, r.kv, "running."+tenant, func(raw []byte) ([]byte, error) {
		cur := slots{}
		if raw != nil {
			if err := json.Unmarshal(raw, &cur); err != nil {
				return nil, fmt.Errorf("concurrency of %s: %w", tenant, err)
			}
		}
		for id, end := range cur {
			if end.Before(now) {
				delete(cur, id)
			}
		}
		if _, held := cur[incident]; !held && len(cur) >= limit {
			got = false
			return nil, nil
		}
		got = true
		cur[incident] = leaseEnd
		return json.Marshal(cur)
	})
	return got, err
}

// Release frees the incident's slot.
func (r *Rails) Release(ctx context.Context, tenant, incident string) error {
	return kvproto.Modify(ctx, r.kv, "running."+tenant, func(raw []byte) ([]byte, error) {
		cur := slots{}
		if raw != nil {
			if err := json.Unmarshal(raw, &cur); err != nil {
				return nil, fmt.Errorf("concurrency of %s: %w", tenant, err)
			}
		}
		if _, held := cur[incident]; !held {
			return nil, nil
		}
		delete(cur, incident)
		return json.Marshal(cur)
	})
}

// storm is a tenant's recent run starts and the storm in progress.
type storm struct {
	Starts  []startStamp `json:"starts"`
	ID      string       `json:"id,omitempty"`
	Started time.Time    `json:"started,omitzero"`
}

type startStamp struct {
	Incident string    `json:"incident"`
	At       time.Time `json:"at"`
}

// Storm counts a new run of the tenant and says whether the tenant is in a
// storm: more than cfg.Incidents runs started within cfg.Window. A storm
// keeps one id until the rate falls back, so escalation can page once for
// all of its incidents. An incident counted before (a redelivery) is not
// counted again.
func (r *Rails) Storm(ctx context.Context, tenant, incident string, cfg config.Storm, now time.Time) (id string, count int, err error) {
	err = kvproto.Modify(ctx, r.kv, "storm."+tenant, func(raw []byte) ([]byte, error) {
		var s storm
		if raw != nil {
			if err := json.Unmarshal(raw, &s); err != nil {
				return nil, fmt.Errorf("storm of %s: %w", tenant, err)
			}
		}
		from := now.Add(-cfg.Window)
		kept := s.Starts[:0]
		seen := false
		for _, st := range s.Starts {
			if st.At.After(from) {
				kept = append(kept, st)
				seen = seen || st.Incident == incident
			}
		}
		if !seen {
			kept = append(kept, startStamp{Incident: incident, At: now})
		}
		s.Starts = kept
		count = len(kept)
		switch {
		case count > cfg.Incidents && s.ID == "":
			s.ID = fmt.Sprintf("storm-%s-%d", tenant, now.Unix())
			s.Started = now
		case count <= cfg.Incidents:
			s.ID, s.Started = "", time.Time{}
		}
		id = s.ID
		return json.Marshal(s)
	})
	return id, count, err
}

package dxmonitor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/directconnect/types"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/amsproject/ams/pkg/bus"
	amsv1 "github.com/amsproject/ams/proto/ams/v1"
)

// Bucket is the KV bucket holding what is down: one key per VIF with an
// open (or not yet fully delivered) outage, <tenant>.<integration>.<region>.<vif id>.
// A VIF with nothing open has no key, so the bucket stays as small as the
// number of current outages.
const Bucket = "awsdx-state"

// EnsureBucket creates the state bucket, or updates it to this
// configuration, on file storage with the given replicas.
func EnsureBucket(ctx context.Context, js jetstream.JetStream, replicas int) (jetstream.KeyValue, error) {
	return bus.EnsureKV(ctx, js, jetstream.KeyValueConfig{
		Bucket:      Bucket,
		Description: "Ingest awsdx: Direct Connect VIFs and BGP peers currently down, and since when.",
		// A few revisions show an outage's history when debugging; the
		// current value is all the monitor reads.
		History:  5,
		Replicas: replicas,
	})
}

// maxReconcileAttempts bounds the read–plan–write loop of one VIF. Each
// turn either makes progress or lost a compare-and-set to another replica,
// which made the progress instead; giving up leaves the rest to the next poll.
const maxReconcileAttempts = 10

// VIF states (virtualInterfaceState) grouped by what they mean for alerts.
const (
	classUp           = iota // available: carrying traffic
	classDown                // down, testing, unknown, or a state AWS adds later
	classProvisioning        // confirming, verifying, pending: not in service yet
	classGone                // deleting, deleted, rejected, or no longer listed
)

func vifClass(state string) int {
	switch state {
	case "available":
		return classUp
	case "confirming", "verifying", "pending":
		return classProvisioning
	case "deleting", "deleted", "rejected":
		return classGone
	default:
		// An unrecognised state is treated as down: a false alarm is seen
		// and fixed, a silently ignored outage is not.
		return classDown
	}
}

func peerClass(p peerInfo) int {
	switch p.State {
	case "deleting", "deleted":
		return classGone
	case "verifying", "pending":
		return classProvisioning
	}
	if p.Status == "up" {
		return classUp
	}
	return classDown
}

// vifInfo is what an alert says about a VIF. It is kept in the state so a
// VIF that is no longer listed can still be resolved with its details. The
// BGP auth key AWS returns is deliberately not among these fields: it is a
// secret and must not reach alerts, tickets or the state bucket.
type vifInfo struct {
	ID           string `json:"id"`
	Name         string `json:"name,omitempty"`
	State        string `json:"state"`
	ConnectionID string `json:"connection_id,omitempty"`
	VLAN         int32  `json:"vlan,omitempty"`
	ASN          int64  `json:"asn,omitempty"`
	Location     string `json:"location,omitempty"`
	Type         string `json:"type,omitempty"`
	Owner        string `json:"owner_account,omitempty"`
}

type peerInfo struct {
	ID            string `json:"id"`
	State         string `json:"state,omitempty"`  // bgpPeerState
	Status        string `json:"status,omitempty"` // bgpStatus
	ASN           int64  `json:"asn,omitempty"`
	AddressFamily string `json:"address_family,omitempty"`
}

// observedVIF is one VIF as this poll saw it.
type observedVIF struct {
	Info  vifInfo
	Peers []peerInfo
}

func observe(v types.VirtualInterface) observedVIF {
	o := observedVIF{Info: vifInfo{
		ID:           deref(v.VirtualInterfaceId),
		Name:         deref(v.VirtualInterfaceName),
		State:        string(v.VirtualInterfaceState),
		ConnectionID: deref(v.ConnectionId),
		VLAN:         v.Vlan,
		ASN:          asn(v.Asn, v.AsnLong),
		Location:     deref(v.Location),
		Type:         deref(v.VirtualInterfaceType),
		Owner:        deref(v.OwnerAccount),
	}}
	for _, p := range v.BgpPeers {
		id := deref(p.BgpPeerId)
		if id == "" {
			// Every peer has an id; should one not, its address family and
			// address still tell the (at most two) peers of a VIF apart.
			id = string(p.AddressFamily) + "/" + deref(p.CustomerAddress)
		}
		o.Peers = append(o.Peers, peerInfo{
			ID:            id,
			State:         string(p.BgpPeerState),
			Status:        string(p.BgpStatus),
			ASN:           asn(p.Asn, p.AsnLong),
			AddressFamily: string(p.AddressFamily),
		})
	}
	return o
}

// asn prefers asnLong: AWS reports 0 in asn for 4-byte ASNs.
func asn(short int32, long *int64) int64 {
	if long != nil && *long != 0 {
		return *long
	}
	return int64(short)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// condition is one outage (the VIF's, or one BGP peer's) from the poll that
// first saw it until its resolve is delivered.
type condition struct {
	// Since is starts_at: when a poll first saw it down. It is written
	// before the firing alert is published, so every re-publish carries
	// the same value and so the same message id.
	Since time.Time `json:"since"`
	// Cause is the state seen then (down, testing, unknown, ...).
	Cause string `json:"cause"`
	// FiringSent is set once the firing alert was stored.
	FiringSent bool `json:"firing_sent,omitempty"`
	// Ended is ends_at, set when a poll saw it back (or the VIF or peer
	// gone); the condition is removed once the resolved alert is stored.
	Ended time.Time `json:"ended,omitzero"`
	// EndCause is why it ended: available, up, deleted, ...
	EndCause string `json:"end_cause,omitempty"`
}

func (c *condition) open() bool { return c != nil && c.Ended.IsZero() }

func (c *condition) end(now time.Time, cause string) {
	if c.open() {
		c.Ended, c.EndCause = now, cause
	}
}

type peerRecord struct {
	Peer peerInfo   `json:"peer"`
	Cond *condition `json:"cond"`
}

// record is the value under a VIF's key.
type record struct {
	VIF   vifInfo                `json:"vif"`
	Down  *condition             `json:"down,omitempty"`
	Peers map[string]*peerRecord `json:"peers,omitempty"`
}

func (r *record) empty() bool { return r == nil || (r.Down == nil && len(r.Peers) == 0) }

func (r *record) clone() *record {
	if r == nil {
		return &record{}
	}
	c := &record{VIF: r.VIF}
	if r.Down != nil {
		d := *r.Down
		c.Down = &d
	}
	if len(r.Peers) > 0 {
		c.Peers = make(map[string]*peerRecord, len(r.Peers))
		for k, p := range r.Peers {
			cond := *p.Cond
			c.Peers[k] = &peerRecord{Peer: p.Peer, Cond: &cond}
		}
	}
	return c
}

// plan applies one observation to the current record: obs nil means the
// VIF is no longer listed. It never changes cur. A condition whose resolve
// is still undelivered is left alone, even if the thing is down again:
// blocked says so, and the caller plans again once that resolve is out, so
// the old outage's resolved alert always precedes the new outage's firing.
func plan(cur *record, obs *observedVIF, now time.Time) (next *record, blocked bool) {
	next = cur.clone()
	class := classGone
	if obs != nil {
		next.VIF = obs.Info
		class = vifClass(obs.Info.State)
	}
	endCause := "deleted"
	if obs != nil && obs.Info.State != "" && class == classGone {
		endCause = obs.Info.State
	}

	switch class {
	case classDown:
		switch {
		case next.Down == nil:
			next.Down = &condition{Since: now, Cause: obs.Info.State}
		case !next.Down.open():
			blocked = true
		}
	case classUp:
		next.Down.end(now, "available")
	case classGone:
		// A deleted VIF will never come back to resolve its outage; leaving
		// it open would keep an incident open that nobody can fix.
		next.Down.end(now, endCause)
		for _, p := range next.Peers {
			p.Cond.end(now, endCause)
		}
	case classProvisioning:
		// Not in service yet: nothing to raise, and an outage already open
		// is not over until the VIF is available.
	}

	// Peers are judged only while the VIF is available. While it is down
	// its peers are down too and the VIF alert already says so; raising
	// them as well would page three times for one outage.
	if class == classUp {
		seen := map[string]bool{}
		for _, p := range obs.Peers {
			seen[p.ID] = true
			pr := next.Peers[p.ID]
			switch peerClass(p) {
			case classDown:
				switch {
				case pr == nil:
					if next.Peers == nil {
						next.Peers = map[string]*peerRecord{}
					}
					next.Peers[p.ID] = &peerRecord{Peer: p, Cond: &condition{Since: now, Cause: p.Status}}
				case !pr.Cond.open():
					blocked = true
				default:
					pr.Peer = p
				}
			case classUp:
				if pr != nil {
					pr.Peer = p
					pr.Cond.end(now, "up")
				}
			case classGone:
				if pr != nil {
					pr.Peer = p
					pr.Cond.end(now, p.State)
				}
			}
		}
		for id, pr := range next.Peers {
			if !seen[id] {
				pr.Cond.end(now, "deleted")
			}
		}
	}
	if next.empty() {
		return nil, blocked
	}
	return next, blocked
}

// settle is the record once every pending alert of next is stored: firing
// alerts sent, ended conditions gone. Nil means nothing is left to keep.
func settle(next *record) *record {
	if next == nil {
		return nil
	}
	s := next.clone()
	if s.Down != nil {
		s.Down.FiringSent = true
		if !s.Down.open() {
			s.Down = nil
		}
	}
	for id, p := range s.Peers {
		p.Cond.FiringSent = true
		if !p.Cond.open() {
			delete(s.Peers, id)
		}
	}
	if len(s.Peers) == 0 {
		s.Peers = nil
	}
	if s.empty() {
		return nil
	}
	return s
}

// vifIDPattern is what a VIF id must look like to become a key token: AWS
// data never gets to add key levels or wildcards.
var vifIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

func keyPrefix(t *target, region string) string {
	return t.Tenant + "." + t.Integration + "." + region + "."
}

// publishError marks a failure to publish, for the poll's result label.
type publishError struct{ err error }

func (e *publishError) Error() string { return e.err.Error() }
func (e *publishError) Unwrap() error { return e.err }

// reconcileRegion applies one poll's listing to the state of t in region
// and returns how many VIFs and BGP peers are down afterwards. It goes on
// past one VIF's failure so one bad VIF does not hold back the others.
func (m *Monitor) reconcileRegion(ctx context.Context, t *target, region string, vifs []observedVIF) (vifsDown, peersDown int, err error) {
	prefix := keyPrefix(t, region)
	stored, err := m.storedKeys(ctx, prefix)
	if err != nil {
		return 0, 0, err
	}
	now := m.opts.Now().UTC()
	var errs []error
	count := func(r *record) {
		if r == nil {
			return
		}
		if r.Down.open() {
			vifsDown++
		}
		for _, p := range r.Peers {
			if p.Cond.open() {
				peersDown++
			}
		}
	}
	seen := map[string]bool{}
	for i := range vifs {
		v := &vifs[i]
		if !vifIDPattern.MatchString(v.Info.ID) {
			errs = append(errs, fmt.Errorf("virtual interface id %q: not a valid id, skipped", v.Info.ID))
			continue
		}
		if seen[v.Info.ID] {
			continue // listed twice (a page boundary moved): the first is as good
		}
		seen[v.Info.ID] = true
		key := prefix + v.Info.ID
		if !stored[key] {
			// The common case, a healthy VIF with nothing open, costs no KV round trip.
			if next, _ := plan(nil, v, now); next == nil {
				continue
			}
		}
		r, err := m.reconcile(ctx, t, region, key, v, now)
		if err != nil {
			errs = append(errs, err)
		}
		count(r)
	}
	for _, key := range slices.Sorted(maps.Keys(stored)) {
		if seen[key[len(prefix):]] {
			continue
		}
		// Listed no more: deleted over 15 minutes ago, as AWS lists deleted
		// VIFs only that long. Its outage ends now.
		r, err := m.reconcile(ctx, t, region, key, nil, now)
		if err != nil {
			errs = append(errs, err)
		}
		count(r)
	}
	return vifsDown, peersDown, errors.Join(errs...)
}

func (m *Monitor) storedKeys(ctx context.Context, prefix string) (map[string]bool, error) {
	lister, err := m.opts.State.ListKeysFiltered(ctx, prefix+"*")
	if err != nil {
		return nil, fmt.Errorf("list %s* in %s: %w", prefix, m.opts.State.Bucket(), err)
	}
	defer func() { _ = lister.Stop() }() // a listing stopped early has nothing to report
	keys := map[string]bool{}
	for k := range lister.Keys() {
		keys[k] = true
	}
	return keys, nil
}

// reconcile brings one VIF's record up to date with obs and delivers what
// that raises, in three steps: write the planned record (the outage and its
// starts_at are now durable), publish its undelivered alerts, write the
// settled record. A crash or failed publish after the first write leaves
// the alerts undelivered in the record, so the next poll, of this or any
// replica, publishes them again unchanged: a duplicate the stream drops,
// never a lost or a second, different alert. Writes are compare-and-set;
// losing one to another replica means re-reading and starting over.
func (m *Monitor) reconcile(ctx context.Context, t *target, region, key string, obs *observedVIF, now time.Time) (*record, error) {
	kv := m.opts.State
	for range maxReconcileAttempts {
		cur, rev, err := load(ctx, kv, key)
		if err != nil {
			return nil, err
		}
		next, blocked := plan(cur, obs, now)
		// cur nil with a revision is a value this code could not read: it
		// is replaced (or removed) like any other outdated record.
		if !sameRecord(cur, next) || (cur == nil && rev != 0) {
			if rev, err = store(ctx, kv, key, next, rev); errors.Is(err, errConflict) {
				continue
			} else if err != nil {
				return nil, err
			}
		}
		alerts := m.pendingAlerts(t, region, next)
		if len(alerts) == 0 {
			return next, nil
		}
		if err := m.opts.Publisher.Publish(ctx, alerts); err != nil {
			return next, &publishError{fmt.Errorf("publish alerts of %s: %w", key, err)}
		}
		final := settle(next)
		if _, err := store(ctx, kv, key, final, rev); errors.Is(err, errConflict) {
			continue
		} else if err != nil {
			return next, err
		}
		if !blocked {
			return final, nil
		}
	}
	return nil, fmt.Errorf("update %s in %s: still conflicting after %d attempts", key, kv.Bucket(), maxReconcileAttempts)
}

var errConflict = errors.New("revision conflict")

func load(ctx context.Context, kv jetstream.KeyValue, key string) (*record, uint64, error) {
	e, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("get %s from %s: %w", key, kv.Bucket(), err)
	}
	var r record
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		// A value this code cannot read would block the VIF forever; an
		// outage it held is re-detected at this poll with a new starts_at.
		return nil, e.Revision(), nil //nolint:nilerr // deliberate, see above
	}
	return &r, e.Revision(), nil
}

// store writes r under key with compare-and-set on rev (0: key absent), or
// deletes the key when r is nil. It returns the new revision.
func store(ctx context.Context, kv jetstream.KeyValue, key string, r *record, rev uint64) (uint64, error) {
	var err error
	switch {
	case r == nil && rev == 0:
		return 0, nil
	case r == nil:
		err = kv.Delete(ctx, key, jetstream.LastRevision(rev))
		rev = 0
	default:
		data, merr := json.Marshal(r)
		if merr != nil {
			return 0, fmt.Errorf("encode %s: %w", key, merr)
		}
		if rev == 0 {
			rev, err = kv.Create(ctx, key, data)
		} else {
			rev, err = kv.Update(ctx, key, data, rev)
		}
	}
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return 0, errConflict
	}
	if err != nil {
		return 0, fmt.Errorf("write %s to %s: %w", key, kv.Bucket(), err)
	}
	return rev, nil
}

func sameRecord(a, b *record) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

// pendingAlerts are the alerts next still owes, in the order they happened
// per condition (firing before resolved), the VIF's before its peers'.
func (m *Monitor) pendingAlerts(t *target, region string, next *record) []*amsv1.Alert {
	if next == nil {
		return nil
	}
	var out []*amsv1.Alert
	add := func(c *condition, build func(resolved bool) *amsv1.Alert) {
		if !c.FiringSent {
			out = append(out, build(false))
		}
		if !c.open() {
			out = append(out, build(true))
		}
	}
	if next.Down != nil {
		add(next.Down, func(resolved bool) *amsv1.Alert { return m.vifAlert(t, region, next, resolved) })
	}
	for _, id := range slices.Sorted(maps.Keys(next.Peers)) {
		p := next.Peers[id]
		add(p.Cond, func(resolved bool) *amsv1.Alert { return m.peerAlert(t, region, next, p, resolved) })
	}
	return out
}

package flapping

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
)

const (
	firing   = amsv1.AlertStatus_ALERT_STATUS_FIRING
	resolved = amsv1.AlertStatus_ALERT_STATUS_RESOLVED
	acked    = amsv1.AlertStatus_ALERT_STATUS_ACKNOWLEDGED
	unknown  = amsv1.AlertStatus_ALERT_STATUS_UNSPECIFIED
)

var t0 = time.Date(2026, 6, 10, 12, 0, 0, 0, time.UTC)

func minutes(m float64) time.Time { return t0.Add(time.Duration(m * float64(time.Minute))) }

func detector(tb testing.TB, threshold int, window, quiet time.Duration) *Detector {
	tb.Helper()
	d, err := New(Config{Threshold: threshold, Window: window, Quiet: quiet})
	require.NoError(tb, err)
	return d
}

// step is one notification and what it should do.
type step struct {
	status   amsv1.AlertStatus
	at       float64 // minutes after t0
	became   bool
	stopped  bool
	flapping bool
}

func run(t *testing.T, d *Detector, steps []step) State {
	t.Helper()
	var s State
	for i, st := range steps {
		var tr Transition
		s, tr = d.Observe(s, st.status, minutes(st.at))
		require.Equal(t, Transition{BecameFlapping: st.became, StoppedFlapping: st.stopped}, tr, "step %d at %vm", i, st.at)
		require.Equal(t, st.flapping, s.Flapping(), "step %d at %vm", i, st.at)
		require.LessOrEqual(t, len(s.Changes), d.Config().Threshold+1)
	}
	return s
}

// alternate returns n notifications alternating firing and resolved, one
// every gap minutes from start, the first firing.
func alternate(n int, start, gap float64) []step {
	out := make([]step, n)
	for i := range out {
		out[i] = step{status: firing, at: start + float64(i)*gap}
		if i%2 == 1 {
			out[i].status = resolved
		}
	}
	return out
}

func TestThreshold(t *testing.T) {
	// Threshold 3: the 4th change within 30 minutes flaps. The first
	// notification is not a change, so the 4th change is the 5th notification.
	d := detector(t, 3, 30*time.Minute, 30*time.Minute)

	t.Run("below", func(t *testing.T) {
		s := run(t, d, alternate(4, 0, 1)) // 3 changes
		require.Len(t, s.Changes, 3)
		require.False(t, s.Flapping())
	})
	t.Run("at the threshold is not flapping, one more is", func(t *testing.T) {
		steps := alternate(6, 0, 1)
		steps[4].became, steps[4].flapping = true, true
		steps[5].flapping = true
		s := run(t, d, steps)
		require.True(t, s.FlappingSince.Equal(minutes(4)))
		require.Len(t, s.Changes, 4, "bounded to threshold+1")
		require.True(t, s.Changes[0].Equal(minutes(2)))
	})
	t.Run("re-sent notifications are not changes", func(t *testing.T) {
		var steps []step
		for i := range 20 {
			steps = append(steps, step{status: firing, at: float64(i)})
		}
		s := run(t, d, steps)
		require.Empty(t, s.Changes)
		require.True(t, s.LastSeen.Equal(minutes(19)))
	})
	t.Run("acknowledged counts as firing, unspecified is ignored", func(t *testing.T) {
		s := run(t, d, []step{
			{status: firing, at: 0}, {status: acked, at: 1}, {status: unknown, at: 2},
			{status: resolved, at: 3}, {status: acked, at: 4},
		})
		require.Len(t, s.Changes, 2)
		require.Equal(t, Firing, s.Status)
		require.True(t, s.LastSeen.Equal(minutes(4)), "unspecified is not even seen")
	})
}

func TestSlidingWindow(t *testing.T) {
	d := detector(t, 3, 10*time.Minute, 30*time.Minute)
	// Changes every 4 minutes: at most 3 fall within any 10 minutes
	// (t, t-4, t-8), never 4.
	s := run(t, d, alternate(12, 0, 4))
	require.False(t, s.Flapping())
	require.Len(t, s.Changes, 4)

	// A change exactly Window after another is outside it: every 3⅓ minutes
	// puts the 4th-previous change exactly 10 minutes back.
	run(t, d, alternate(8, 0, 10.0/3))

	// Old changes slide out: 3 changes, a pause, then 3 more: only the
	// recent ones count.
	steps := append(alternate(4, 0, 1), alternate(4, 30, 1)...)
	steps[4].status = resolved // keep alternating across the pause
	steps[5].status, steps[6].status, steps[7].status = firing, resolved, firing
	run(t, d, steps)

	// But a 4th change within the window does flap.
	steps = append(alternate(4, 0, 1), step{status: firing, at: 9.9, became: true, flapping: true})
	run(t, d, steps)
}

func TestOutOfOrderNotificationsAreIgnored(t *testing.T) {
	d := detector(t, 1, 30*time.Minute, 30*time.Minute)
	s := run(t, d, []step{
		{status: firing, at: 10},
		{status: resolved, at: 5},  // older: ignored
		{status: firing, at: 9.99}, // older: ignored
		{status: resolved, at: 11},
		{status: firing, at: 11, became: true, flapping: true}, // same instant is not older
		{status: resolved, at: 3, flapping: true},              // ignored, changes nothing
	})
	require.True(t, s.LastSeen.Equal(minutes(11)))
	require.Equal(t, Firing, s.Status)
	require.Len(t, s.Changes, 2)
}

func TestQuietPeriodEndsFlapping(t *testing.T) {
	d := detector(t, 3, 30*time.Minute, 20*time.Minute)
	steps := alternate(5, 0, 1) // flapping at 4
	steps[4].became, steps[4].flapping = true, true
	steps = append(steps,
		step{status: resolved, at: 10, flapping: true},               // a change: quiet restarts from 10
		step{status: resolved, at: 29.9, flapping: true},             // re-sent, 19.9 quiet minutes
		step{status: resolved, at: 30, stopped: true},                // 20 quiet minutes
		step{status: firing, at: 31},                                 // a change, but the episode's are forgotten
		step{status: resolved, at: 32},                               // 2
		step{status: firing, at: 33},                                 // 3
		step{status: resolved, at: 34, became: true, flapping: true}, // 4: a new episode, a new notice
	)
	s := run(t, d, steps)
	require.True(t, s.FlappingSince.Equal(minutes(34)))

	t.Run("Check ends it without a notification", func(t *testing.T) {
		end, ok := d.QuietAt(s)
		require.True(t, ok)
		require.True(t, end.Equal(minutes(54)))
		same, tr := d.Check(s, end.Add(-time.Nanosecond))
		require.Equal(t, Transition{}, tr)
		require.True(t, same.Flapping())
		quiet, tr := d.Check(s, end)
		require.Equal(t, Transition{StoppedFlapping: true}, tr)
		require.False(t, quiet.Flapping())
		require.Empty(t, quiet.Changes)
		require.Equal(t, s.Status, quiet.Status)
		require.True(t, s.Flapping(), "the state passed in is not modified")

		_, ok = d.QuietAt(quiet)
		require.False(t, ok)
		again, tr := d.Check(quiet, end.Add(time.Hour))
		require.Equal(t, Transition{}, tr, "stopping is said once")
		require.Equal(t, quiet, again)
	})
}

func TestOneNoticePerEpisode(t *testing.T) {
	d := detector(t, 2, time.Hour, time.Hour)
	steps := alternate(40, 0, 1) // changes every minute for 40 minutes
	for i := 3; i < len(steps); i++ {
		steps[i].flapping = true
	}
	steps[3].became = true
	run(t, d, steps)
}

func TestObserveDoesNotModifyItsInput(t *testing.T) {
	d := detector(t, 2, time.Hour, time.Hour)
	s := run(t, d, alternate(3, 0, 1))
	before := State{Status: s.Status, LastSeen: s.LastSeen, Changes: append([]time.Time(nil), s.Changes...)}
	for i := range 5 {
		_, _ = d.Observe(s, []amsv1.AlertStatus{firing, resolved}[i%2], minutes(float64(10+i)))
	}
	require.Equal(t, before, s)
}

func TestConfig(t *testing.T) {
	require.NoError(t, DefaultConfig().Validate())
	d, err := New(DefaultConfig())
	require.NoError(t, err)
	// The default: the 6th change within 30 minutes.
	s := State{}
	var tr Transition
	for i := range 6 {
		s, tr = d.Observe(s, []amsv1.AlertStatus{firing, resolved}[i%2], minutes(float64(i)))
		require.False(t, tr.BecameFlapping)
	}
	s, tr = d.Observe(s, firing, minutes(29))
	require.True(t, tr.BecameFlapping, "6 changes between minute 1 and 29")
	require.True(t, s.Flapping())

	_, err = New(Config{})
	require.Equal(t, []string{
		"flapping: threshold: 0 is too small: flapping is more than threshold changes within window, so use at least 1 (default 5)",
		"window: must be positive, e.g. 30m",
		"quiet: must be positive, e.g. 30m",
	}, strings.Split(err.Error(), "\n"))
}

func TestJSONRoundTrip(t *testing.T) {
	d := detector(t, 3, 30*time.Minute, 30*time.Minute)
	for _, s := range []State{
		{},
		run(t, d, []step{{status: firing, at: 0}}),
		run(t, d, []step{{status: firing, at: 0}, {status: resolved, at: 1}}),
		run(t, d, []step{{status: firing, at: 0}, {status: resolved, at: 1}, {status: firing, at: 2}, {status: resolved, at: 3}, {status: firing, at: 4, became: true, flapping: true}}),
	} {
		b, err := json.Marshal(s)
		require.NoError(t, err)
		var got State
		require.NoError(t, json.Unmarshal(b, &got))
		require.Equal(t, s.Flapping(), got.Flapping())
		require.True(t, equal(s, got), "%s", b)
		// The decoded state behaves the same.
		n1, tr1 := d.Observe(s, resolved, minutes(5))
		n2, tr2 := d.Observe(got, resolved, minutes(5))
		require.Equal(t, tr1, tr2)
		require.True(t, equal(n1, n2))
	}
	b, err := json.Marshal(State{})
	require.NoError(t, err)
	require.JSONEq(t, `{}`, string(b), "a fingerprint never seen costs nothing to store")

	b, err = json.Marshal(State{Status: Firing, LastSeen: minutes(4), Changes: []time.Time{minutes(1), minutes(4)}, FlappingSince: minutes(4)})
	require.NoError(t, err)
	require.JSONEq(t, `{"status":"firing","last_seen":"2026-06-10T12:04:00Z","changes":["2026-06-10T12:01:00Z","2026-06-10T12:04:00Z"],"flapping_since":"2026-06-10T12:04:00Z"}`, string(b))
}

func equal(a, b State) bool {
	if a.Status != b.Status || !a.LastSeen.Equal(b.LastSeen) || !a.FlappingSince.Equal(b.FlappingSince) || len(a.Changes) != len(b.Changes) {
		return false
	}
	for i := range a.Changes {
		if !a.Changes[i].Equal(b.Changes[i]) {
			return false
		}
	}
	return true
}

// model is the detector's rules written the obvious way, with every change
// of the current episode kept: the real detector must agree with it while
// keeping at most Threshold+1 times.
type model struct {
	cfg      Config
	status   string
	lastSeen time.Time
	changes  []time.Time
	flapping bool
}

func (m *model) quietCheck(now time.Time) (stopped bool) {
	if m.flapping && now.Sub(m.changes[len(m.changes)-1]) >= m.cfg.Quiet {
		m.flapping, m.changes = false, nil
		return true
	}
	return false
}

func (m *model) observe(status amsv1.AlertStatus, at time.Time) Transition {
	st := statusOf(status)
	if st == "" || at.Before(m.lastSeen) {
		return Transition{}
	}
	tr := Transition{StoppedFlapping: m.quietCheck(at)}
	m.lastSeen = at
	if m.status != "" && m.status != st {
		m.changes = append(m.changes, at)
		n := 0
		for _, c := range m.changes {
			if at.Sub(c) < m.cfg.Window {
				n++
			}
		}
		if !m.flapping && n > m.cfg.Threshold {
			m.flapping, tr.BecameFlapping = true, true
		}
	}
	m.status = st
	return tr
}

// TestRandomSequences runs random notification sequences (out of order
// sometimes, with pauses, with Check calls between) through the detector and
// the model, checking they agree and the invariants hold at every step.
func TestRandomSequences(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	statuses := []amsv1.AlertStatus{firing, resolved, firing, resolved, acked, unknown}
	for seq := range 300 {
		cfg := Config{
			Threshold: 1 + rng.IntN(6),
			Window:    time.Duration(1+rng.IntN(30)) * time.Minute,
			Quiet:     time.Duration(1+rng.IntN(30)) * time.Minute,
		}
		d, err := New(cfg)
		require.NoError(t, err)
		m := &model{cfg: cfg}
		var s State
		now := t0
		episodes, notices, stops := 0, 0, 0
		for i := range 200 {
			switch rng.IntN(20) {
			case 0:
				now = now.Add(time.Duration(rng.Int64N(int64(time.Hour)))) // a pause
			case 1:
				now = now.Add(-time.Duration(rng.Int64N(int64(5 * time.Minute)))) // late, out of order
			default:
				now = now.Add(time.Duration(rng.Int64N(int64(3 * time.Minute))))
			}
			var tr, want Transition
			wasFlapping := s.Flapping()
			if rng.IntN(10) == 0 {
				s, tr = d.Check(s, now)
				want.StoppedFlapping = m.quietCheck(now)
			} else {
				status := statuses[rng.IntN(len(statuses))]
				s, tr = d.Observe(s, status, now)
				want = m.observe(status, now)
			}
			where := func() string { return fmt.Sprintf("sequence %d step %d", seq, i) }

			require.Equal(t, want, tr, where())
			require.Equal(t, m.flapping, s.Flapping(), where())
			require.Equal(t, m.status, s.Status, where())
			require.True(t, m.lastSeen.Equal(s.LastSeen), where())
			// Bounded, and the newest changes of the model's.
			require.LessOrEqual(t, len(s.Changes), cfg.Threshold+1, where())
			keep := m.changes[max(0, len(m.changes)-cfg.Threshold-1):]
			require.Len(t, s.Changes, len(keep), where())
			for j := range keep {
				require.True(t, keep[j].Equal(s.Changes[j]), where())
			}
			// Transitions are consistent with the state before and after.
			require.False(t, tr.BecameFlapping && tr.StoppedFlapping, where())
			if tr.BecameFlapping {
				require.False(t, wasFlapping, where())
				require.True(t, s.Flapping(), where())
				episodes++
				notices++
			}
			if tr.StoppedFlapping {
				require.True(t, wasFlapping, where())
				stops++
			}
			if wasFlapping != s.Flapping() {
				require.True(t, tr.BecameFlapping || tr.StoppedFlapping, where())
			}
			// Notices and stops alternate: one notice per episode.
			require.Equal(t, episodes-stops, map[bool]int{true: 1, false: 0}[s.Flapping()], where())
			// The state survives JSON.
			b, err := json.Marshal(s)
			require.NoError(t, err)
			var back State
			require.NoError(t, json.Unmarshal(b, &back))
			require.True(t, equal(s, back), where())
		}
		require.Equal(t, episodes, notices)
	}
}

func TestDiffers(t *testing.T) {
	t0 := time.Date(2026, 6, 10, 12, 0, 0, 0, time.UTC)
	base := State{Status: Firing, LastSeen: t0, Changes: []time.Time{t0}}
	resent := base
	resent.LastSeen = t0.Add(time.Minute)
	require.False(t, Differs(base, resent), "a later re-send alone is not worth storing")
	changed := resent
	changed.Status = Resolved
	require.True(t, Differs(base, changed))
	more := base
	more.Changes = []time.Time{t0, t0.Add(time.Minute)}
	require.True(t, Differs(base, more))
	episode := base
	episode.FlappingSince = t0
	require.True(t, Differs(base, episode))
	require.True(t, Differs(State{}, base), "the first notification is stored")
}

package app_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
)

// BenchmarkIncidentToFirstCheckOutput measures how long an opened incident
// takes to show an operator its first check output: from publishing the
// incident on INCIDENTS to the step event on ACTIONS that carries the
// output of web-service-down's first check (systemctl is-active on the web
// server, over real SSH through the bastion). It covers the consumer fetch,
// the run record and rails in KV, the started event, the SSH login through
// the jump and the step event.
//
// The unit is active, so the check passes on its first attempt: with the
// unit down the figure would mostly be the runbook's retry pauses (the
// check's event is published once all its attempts are done), which the
// tests log. Each incident's run is let finish, off the clock, before the
// next is published, so each one meets an idle executor.
//
// ms/first-check is the mean, p50-ms and max-ms the median and the worst.
func BenchmarkIncidentToFirstCheckOutput(b *testing.B) {
	// The storm breaker would stop runs after ten incidents in ten minutes.
	h := newHarness(b, options{up: true, storm: 1000})
	h.startReplica(b, "a")
	took := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		id := fmt.Sprintf("inc-bench-%d", i)
		sent := h.publish(b, h.incident(id))
		took = append(took, h.firstCheckOutput(b, id).Sub(sent))
		b.StopTimer()
		done, _ := h.completed(b, id)
		require.Equal(b, amsv1.ActionOutcome_ACTION_OUTCOME_RESOLVED, done.GetOutcome(), done.GetReason())
		b.StartTimer()
	}
	b.StopTimer()
	var total time.Duration
	for _, d := range took {
		total += d
	}
	slices.Sort(took)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(total)/float64(len(took)), "ms/first-check")
	b.ReportMetric(ms(took[len(took)/2]), "p50-ms")
	b.ReportMetric(ms(took[len(took)-1]), "max-ms")
}

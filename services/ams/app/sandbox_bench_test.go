package app_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/amsproject/ams/pkg/config"
	amsv1 "github.com/amsproject/ams/proto/ams/v1"
)

// BenchmarkAlertToFirstCheck measures what an operator waits for first:
// from an alert being sent to the all-in-one with the example configuration
// until the first check's output of its runbook is published (high-cpu on
// the sandbox's batch-1: ps over SSH through the bastion). Each iteration is
// a new alert, so a new incident and a new run.
func BenchmarkAlertToFirstCheck(b *testing.B) {
	d := startDemo(b, func(cfg *config.File) {
		for i := range cfg.Tenants {
			// Every iteration is an incident: keep the storm breaker out of it.
			cfg.Tenants[i].Executor.Storm.Incidents = 1 << 20
		}
	})
	acts := watchActions(b, d.nc)
	seen := map[string]bool{}
	var accept, firstCheck []time.Duration
	for i := 0; b.Loop(); i++ {
		body := genericAlert("High CPU on batch-1", "batch-1", "i-0a1b2c3d4e5f6b001", map[string]string{"alertname": "HighCPU", "run": strconv.Itoa(i)})
		sent := time.Now()
		code, resp := post(b, d.inst.httpAddr, "demo-generic", genericToken, body)
		require.Equal(b, http.StatusAccepted, code, resp)
		accepted := time.Now()
		deadline := time.After(30 * time.Second)
		for {
			ev, at, ok := acts.first(func(ev *amsv1.ActionResult) bool {
				return !seen[ev.GetIncidentId()] && ev.GetEvent() == amsv1.ActionEvent_ACTION_EVENT_STEP && len(ev.GetSteps()) == 1 && ev.GetSteps()[0].GetOutput() != ""
			})
			if ok {
				seen[ev.GetIncidentId()] = true
				accept = append(accept, accepted.Sub(sent))
				firstCheck = append(firstCheck, at.Sub(accepted))
				break
			}
			select {
			case <-acts.arrived:
			case <-deadline:
				b.Fatalf("alert %d: no check output within 30s", i)
			}
		}
	}
	p50, p99 := percentiles(accept)
	b.ReportMetric(ms(p50), "ms-accept-p50")
	b.ReportMetric(ms(p99), "ms-accept-p99")
	p50, p99 = percentiles(firstCheck)
	b.ReportMetric(ms(p50), "ms-accepted-to-first-check-p50")
	b.ReportMetric(ms(p99), "ms-accepted-to-first-check-p99")
}

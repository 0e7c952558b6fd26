package app_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/amsproject/ams/pkg/bus"
)

// BenchmarkClassifier is the classifier's throughput with the demo tenant's
// classifier file (10 rules, 2 maintenance windows, flapping, resolve delay):
// b.N alerts already stored on ALERTS, over 500 fingerprints (so most open
// an incident or change one, the rest re-send), handled by one classifier
// with its default 8 workers. It reports alerts applied per second.
func BenchmarkClassifier(b *testing.B) {
	demo, err := os.ReadFile("../../../deploy/examples/rules/demo.yaml")
	require.NoError(b, err)
	h := newHarness(b, string(demo), 0)
	start := time.Now()
	names := []string{"DiskFull", "HostDown", "HighErrorRate", "HighLoad", "CertExpiring"}
	var out []bus.Outgoing
	for i := range b.N {
		fp := i % 500
		status := firing
		if (i/500)%3 == 2 {
			status = resolved
		}
		a := alert(fmt.Sprintf("bench-%d", i), fmt.Sprintf("fp-%d", fp), status, start.Add(time.Duration(i)*time.Millisecond),
			labels(names[fp%len(names)], fmt.Sprintf("web-%d", fp%50)))
		a.Tenant, a.Integration = "acme", "acme-am"
		out = append(out, bus.Outgoing{Subject: bus.Subject("alert", "received", "acme"), MsgID: "alert:" + a.GetId(), Message: a})
	}
	_, err = h.pub.PublishEach(context.Background(), out)
	require.NoError(b, err)

	b.ResetTimer()
	t0 := time.Now()
	h.runReplica(b, true)
	for h.applied(b) < float64(b.N) {
		time.Sleep(2 * time.Millisecond)
	}
	elapsed := time.Since(t0)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "alerts/s")
	b.ReportMetric(float64(elapsed.Microseconds())/float64(b.N), "µs/alert")
	// ns/op would repeat µs/alert in other units; the two figures above say it.
	b.ReportMetric(0, "ns/op")
	if n := len(h.incidents(b)); n == 0 {
		b.Fatal("no incidents")
	}
}

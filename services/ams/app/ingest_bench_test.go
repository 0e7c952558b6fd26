package app_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/amsproject/ams/pkg/natstest"
)

// ingestBatch is how many alerts each request of BenchmarkIngestAlertmanagerAPI carries.
const ingestBatch = 10

// BenchmarkIngestAlertmanagerAPI measures how fast ingest stores alerts
// sent to its Alertmanager API v2 endpoint, POST /api/v2/alerts, over real
// HTTP: b.N requests of ingestBatch alerts each, from senders concurrent
// clients, every alert of the run with its own label set so that none is a
// duplicate. A request counts when it is answered 200, which ingest does
// only once JetStream has stored (PubAck'd) its alerts; the figures are
// alerts/s over the whole run and the p50/p99 latency of a request (from
// sending it to reading its whole answer). One op is one request.
//
// Only the ingest target runs (as `ams -target=ingest` would), plus the
// admin API every process serves, against an in-process JetStream server
// on loopback as the other benchmarks use. The rest of the pipeline is left
// out on purpose: the classifier consuming ALERTS, and the services behind
// it, would share the CPU and the JetStream server with ingest and make the
// figure theirs as much as ingest's. So this is the cost of accepting and
// durably storing alerts, not of handling them. The client, ingest and the
// JetStream server share one process, so -benchmem's allocs/op count all
// three, per request.
//
// After the run it checks that ALERTS holds exactly b.N*ingestBatch new
// messages and that ingest counted as many accepted and no duplicates;
// otherwise the figure would not be what it claims, and the run fails.
func BenchmarkIngestAlertmanagerAPI(b *testing.B) {
	srv := natstest.RunServer(b)
	_, js := natstest.Connect(b, srv)
	inst := start(b, testConfig(b, srv.ClientURL(), ""), "ingest")
	const integration = `integration="demo-alertmanager"`
	ctx := context.Background()
	stream, err := js.Stream(ctx, "ALERTS")
	require.NoError(b, err, "ingest creates ALERTS when it starts")
	info, err := stream.Info(ctx)
	require.NoError(b, err)
	storedBefore := info.State.Msgs
	acceptedBefore := metricValue(b, inst.httpAddr, "ams_ingest_alerts_accepted_total", integration)
	dupBefore := metricValue(b, inst.httpAddr, "ams_ingest_alerts_duplicate_total", integration)

	// The bodies are made before the clock starts: the figure is ingest's,
	// not the client's formatting. Each b.N gets a fresh JetStream server,
	// so alert numbers need only be unique within the run.
	startsAt := time.Now().UTC().Add(-time.Minute).Format(time.RFC3339)
	bodies := make([]string, b.N)
	for i := range bodies {
		alerts := make([]string, ingestBatch)
		for j := range alerts {
			n := i*ingestBatch + j
			alerts[j] = fmt.Sprintf(`{"labels":{"alertname":"IngestBench","instance":"bench-%d:9100","job":"node","severity":"warning","n":"%d"},`+
				`"annotations":{"summary":"bench alert %d"},"startsAt":%q}`, n, n, n, startsAt)
		}
		bodies[i] = "[" + strings.Join(alerts, ",") + "]"
	}

	client := benchClient(b)
	url := "http://" + inst.httpAddr + "/api/v2/alerts"
	lat := make([]time.Duration, b.N) // each sender writes only its own i
	b.ResetTimer()
	begin := time.Now()
	err = sendConcurrently(b.N, func(i int) error {
		t0 := time.Now()
		status, body, err := postBench(client, url, amToken, bodies[i])
		lat[i] = time.Since(t0)
		if err != nil {
			return err
		}
		if status != http.StatusOK || len(body) != 0 {
			return statusError(status, http.StatusOK, body)
		}
		return nil
	})
	elapsed := time.Since(begin)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}

	want := uint64(b.N * ingestBatch)
	info, err = stream.Info(ctx)
	require.NoError(b, err)
	if got := info.State.Msgs - storedBefore; got != want {
		b.Fatalf("ALERTS holds %d new alerts, want %d", got, want)
	}
	if got := metricValue(b, inst.httpAddr, "ams_ingest_alerts_accepted_total", integration) - acceptedBefore; got != float64(want) {
		b.Fatalf("ingest counted %v alerts accepted, want %d", got, want)
	}
	if got := metricValue(b, inst.httpAddr, "ams_ingest_alerts_duplicate_total", integration) - dupBefore; got != 0 {
		b.Fatalf("ingest counted %v duplicates, want none", got)
	}

	rate := float64(want) / elapsed.Seconds()
	p50, p99 := percentiles(lat)
	b.ReportMetric(rate, "alerts/s")
	b.ReportMetric(ms(p50), "p50-ms")
	b.ReportMetric(ms(p99), "p99-ms")
	if b.N >= 100 {
		fmt.Printf("\nAMS ingest only, POST /api/v2/alerts, %d requests × %d alerts, %d senders:  %8.0f alerts/s  p50 %7.2f ms  p99 %7.2f ms (per request)\n\n",
			b.N, ingestBatch, senders, rate, ms(p50), ms(p99))
	}
}

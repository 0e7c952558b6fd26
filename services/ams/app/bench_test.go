package app_test

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/amsproject/ams/pkg/natstest"
	amsv1 "github.com/amsproject/ams/proto/ams/v1"
)

// BenchmarkPipeline sends b.N unique alerts through the all-in-one's real
// HTTP ingest and measures, per alert, the time from the 202 to the first
// ticket event for it; then it pushes b.N messages of the same size through
// four raw JetStream hops (publish, and three consume-and-republish steps,
// as ingest → classifier → executor → ticketing do) on the same kind of
// server, and reports both and their ratio. It prints figures; it does not
// pass or fail on time. Run with `make bench` (BENCHTIME=2000x by default).
func BenchmarkPipeline(b *testing.B) {
	pipe := runPipeline(b, b.N)
	base := runBaseline(b, b.N, pipe.msgSize)
	b.ReportMetric(pipe.rate, "alerts/s")
	b.ReportMetric(ms(pipe.p50), "p50-ms")
	b.ReportMetric(ms(pipe.p99), "p99-ms")
	b.ReportMetric(base.rate, "js-msgs/s")
	b.ReportMetric(ms(base.p50), "js-p50-ms")
	b.ReportMetric(ms(base.p99), "js-p99-ms")
	b.ReportMetric(pipe.rate/base.rate, "throughput-ratio")
	b.ReportMetric(float64(pipe.p50)/float64(base.p50), "p50-latency-ratio")
	if b.N >= 100 {
		fmt.Printf("\nAMS pipeline, %d alerts (HTTP ingest → ticket):  %8.0f alerts/s  p50 %7.2f ms  p99 %7.2f ms\n", b.N, pipe.rate, ms(pipe.p50), ms(pipe.p99))
		fmt.Printf("raw JetStream, 4 hops, %d-byte messages:        %8.0f msgs/s    p50 %7.2f ms  p99 %7.2f ms\n", pipe.msgSize, base.rate, ms(base.p50), ms(base.p99))
		fmt.Printf("ratio AMS/raw: throughput %.2f, p50 latency %.2fx, p99 latency %.2fx\n\n", pipe.rate/base.rate, float64(pipe.p50)/float64(base.p50), float64(pipe.p99)/float64(base.p99))
	}
}

type figures struct {
	rate     float64
	p50, p99 time.Duration
	msgSize  int
}

func runPipeline(b *testing.B, n int) figures {
	b.Helper()
	srv := natstest.RunServer(b)
	nc, _ := natstest.Connect(b, srv)
	cfg := testConfig(b, srv.ClientURL(), "")
	inst := start(b, cfg)

	var mu sync.Mutex
	accepted := make(map[string]time.Time, n)
	seen := make(map[string]time.Duration, n)
	done := make(chan struct{})
	sub, err := nc.Subscribe("ams.ticket.*.demo", func(m *nats.Msg) {
		var ev amsv1.TicketEvent
		if proto.Unmarshal(m.Data, &ev) != nil {
			return
		}
		at := time.Now()
		key := ev.GetTicket().GetTitle()
		mu.Lock()
		defer mu.Unlock()
		if _, dup := seen[key]; dup {
			return
		}
		start, ok := accepted[key]
		if !ok {
			start = at // ticket event raced the 202; count as zero
		}
		seen[key] = at.Sub(start)
		if len(seen) == n {
			close(done)
		}
	})
	require.NoError(b, err)
	b.Cleanup(func() { _ = sub.Unsubscribe() })

	client := benchClient(b)
	url := "http://" + inst.httpAddr + "/v1/webhooks/demo-generic"
	b.ResetTimer()
	begin := time.Now()
	err = sendConcurrently(n, func(i int) error {
		title := fmt.Sprintf("bench alert %d", i)
		body := fmt.Sprintf(`{"summary": %q, "severity": "warning", "labels": {"alertname": "Bench", "n": "%d"}, "resource": {"host": "bench-%d"}}`, title, i, i)
		status, resp, err := postBench(client, url, genericToken, body)
		if err != nil {
			return err
		}
		if status != http.StatusAccepted {
			return statusError(status, http.StatusAccepted, resp)
		}
		mu.Lock()
		if _, already := seen[title]; !already {
			accepted[title] = time.Now()
		}
		mu.Unlock()
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		b.Fatalf("only %d of %d tickets after 5m", len(seen), n)
	}
	elapsed := time.Since(begin)
	b.StopTimer()

	mu.Lock()
	defer mu.Unlock()
	p50, p99 := percentiles(slices.Collect(maps.Values(seen)))
	// The message the baseline carries is the size of a stored alert.
	return figures{rate: float64(n) / elapsed.Seconds(), p50: p50, p99: p99, msgSize: alertSize(b, nc)}
}

// alertSize is the mean stored size of the alerts in ALERTS (raw payload included).
func alertSize(b *testing.B, nc *nats.Conn) int {
	b.Helper()
	js, err := jetstream.New(nc)
	require.NoError(b, err)
	s, err := js.Stream(context.Background(), "ALERTS")
	require.NoError(b, err)
	info, err := s.Info(context.Background())
	require.NoError(b, err)
	if info.State.Msgs == 0 {
		return 512
	}
	return int(info.State.Bytes / info.State.Msgs)
}

// runBaseline pushes n messages of size bytes through four JetStream hops:
// a client publish (as ingest's) and three consumers that each store the
// message on the next hop's stream and then ack (as the services do).
// Latency runs from the first PubAck to the message reaching the fourth hop.
func runBaseline(b *testing.B, n, size int) figures {
	b.Helper()
	srv := natstest.RunServer(b)
	nc, js := natstest.Connect(b, srv)
	ctx := context.Background()
	const hops = 4
	for h := 1; h <= hops; h++ {
		_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: fmt.Sprintf("HOP%d", h), Subjects: []string{fmt.Sprintf("hop.%d", h)}, Storage: jetstream.FileStorage})
		require.NoError(b, err)
	}
	for h := 1; h < hops; h++ {
		cons, err := js.CreateOrUpdateConsumer(ctx, fmt.Sprintf("HOP%d", h), jetstream.ConsumerConfig{
			Durable: fmt.Sprintf("hop%d", h), AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 32,
		})
		require.NoError(b, err)
		next := fmt.Sprintf("hop.%d", h+1)
		cc, err := cons.Consume(func(m jetstream.Msg) {
			out := &nats.Msg{Subject: next, Data: m.Data(), Header: nats.Header{}}
			out.Header.Set(jetstream.MsgIDHeader, next+"-"+m.Headers().Get(jetstream.MsgIDHeader))
			if _, err := js.PublishMsg(ctx, out); err != nil {
				_ = m.Nak()
				return
			}
			_ = m.DoubleAck(ctx)
		})
		require.NoError(b, err)
		b.Cleanup(cc.Stop)
	}

	var mu sync.Mutex
	stored := make(map[string]time.Time, n)
	seen := make(map[string]time.Duration, n)
	done := make(chan struct{})
	sub, err := nc.Subscribe(fmt.Sprintf("hop.%d", hops), func(m *nats.Msg) {
		at := time.Now()
		id := strings.TrimPrefix(m.Header.Get(jetstream.MsgIDHeader), fmt.Sprintf("hop.%d-", hops))
		for h := hops - 1; h > 1; h-- {
			id = strings.TrimPrefix(id, fmt.Sprintf("hop.%d-", h))
		}
		mu.Lock()
		defer mu.Unlock()
		if _, dup := seen[id]; dup {
			return
		}
		start, ok := stored[id]
		if !ok {
			start = at
		}
		seen[id] = at.Sub(start)
		if len(seen) == n {
			close(done)
		}
	})
	require.NoError(b, err)
	b.Cleanup(func() { _ = sub.Unsubscribe() })

	payload := make([]byte, size)
	begin := time.Now()
	err = sendConcurrently(n, func(i int) error {
		id := fmt.Sprintf("m%d", i)
		m := &nats.Msg{Subject: "hop.1", Data: payload, Header: nats.Header{}}
		m.Header.Set(jetstream.MsgIDHeader, id)
		if _, err := js.PublishMsg(ctx, m); err != nil {
			return err
		}
		mu.Lock()
		if _, already := seen[id]; !already {
			stored[id] = time.Now()
		}
		mu.Unlock()
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		b.Fatalf("only %d of %d messages through the hops after 5m", len(seen), n)
	}
	elapsed := time.Since(begin)
	mu.Lock()
	defer mu.Unlock()
	p50, p99 := percentiles(slices.Collect(maps.Values(seen)))
	return figures{rate: float64(n) / elapsed.Seconds(), p50: p50, p99: p99, msgSize: size}
}

package app_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/amsproject/ams/pkg/config"
	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/ams/app"
)

const (
	amToken      = "demo-token"
	genericToken = "demo-generic-secret"
)

// testConfig is the example configuration pointed at a test bus and free ports.
func testConfig(tb testing.TB, natsURL, dataDir string) *config.File {
	tb.Helper()
	bus := "nats:\n  url: " + natsURL + "\n"
	if natsURL == "" {
		bus = "nats:\n  embedded:\n    enabled: true\n    data_dir: " + dataDir + "\n"
	}
	raw := `
server:
  http_listen_address: 127.0.0.1:0
  grpc_listen_address: 127.0.0.1:0
  shutdown_timeout: 10s
` + bus + `
telemetry:
  log_level: warn
classifier:
  consumer: {ack_wait: 5s}
executor:
  consumer: {ack_wait: 5s}
ticketing:
  consumer: {ack_wait: 5s}
escalation:
  consumer: {ack_wait: 5s}
tenants:
  - id: demo
    integrations:
      - {name: demo-alertmanager, source: alertmanager, tokens: [` + amToken + `]}
      - {name: demo-generic, source: generic, tokens: [` + genericToken + `]}
  - id: other
    integrations:
      - {name: other-generic, source: generic, tokens: [other-secret-token]}
`
	cfg, err := config.Parse([]byte(raw), func(string) (string, bool) { return "", false })
	require.NoError(tb, err)
	require.NoError(tb, app.ValidateConfig(cfg))
	return cfg
}

// instance is one running ams process in the test.
type instance struct {
	httpAddr, grpcAddr string
	stop               func()
}

// start runs an ams process with targets until stop or test cleanup, and
// waits until it reports ready.
func start(tb testing.TB, cfg *config.File, targets ...string) *instance {
	tb.Helper()
	if len(targets) == 0 {
		targets = []string{"all"}
	}
	ts, err := app.ParseTargets(strings.Join(targets, ","))
	require.NoError(tb, err)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(testWriter{tb}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	p := app.New(cfg, ts, log)
	addrs := make(chan [2]string, 1)
	p.OnListening = func(h, g net.Addr) { addrs <- [2]string{h.String(), g.String()} }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()

	inst := &instance{}
	select {
	case a := <-addrs:
		inst.httpAddr, inst.grpcAddr = a[0], a[1]
	case err := <-done:
		cancel()
		tb.Fatalf("ams exited before listening: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		tb.Fatal("ams did not start listening within 30s")
	}
	var once sync.Once
	inst.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				require.NoError(tb, err, "ams shutdown")
			case <-time.After(30 * time.Second):
				tb.Error("ams did not stop within 30s")
			}
		})
	}
	tb.Cleanup(inst.stop)
	eventually(tb, 30*time.Second, func() error {
		resp, err := http.Get("http://" + inst.httpAddr + "/readyz")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz %d: %s", resp.StatusCode, body)
		}
		return nil
	})
	return inst
}

type testWriter struct{ tb testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// eventually polls f until it returns nil or the deadline passes.
func eventually(tb testing.TB, within time.Duration, f func() error) {
	tb.Helper()
	deadline := time.Now().Add(within)
	wait := 5 * time.Millisecond
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("condition not met within %s: %v", within, err)
		}
		time.Sleep(wait)
		wait = min(wait*2, 200*time.Millisecond)
	}
}

// post sends body to integration with token and returns the status and body.
func post(tb testing.TB, httpAddr, integration, token, body string) (int, string) {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+httpAddr+"/v1/webhooks/"+integration, strings.NewReader(body))
	require.NoError(tb, err)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(tb, err)
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

func admin(tb testing.TB, grpcAddr string) amsv1.AdminServiceClient {
	tb.Helper()
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(tb, err)
	tb.Cleanup(func() { conn.Close() })
	return amsv1.NewAdminServiceClient(conn)
}

// waitIdle waits until every durable consumer on every stream has nothing
// pending and nothing unacknowledged: the pipeline has finished all it was given.
func waitIdle(tb testing.TB, js jetstream.JetStream) {
	tb.Helper()
	ctx := context.Background()
	want := map[string][]string{
		"ALERTS":    {"classifier-alerts"},
		"INCIDENTS": {"executor-incidents", "ticketing-incidents", "escalation-incidents"},
		"ACTIONS":   {"ticketing-actions", "escalation-actions"},
	}
	eventually(tb, 60*time.Second, func() error {
		for stream, durables := range want {
			for _, d := range durables {
				c, err := js.Consumer(ctx, stream, d)
				if err != nil {
					return fmt.Errorf("%s/%s: %w", stream, d, err)
				}
				info, err := c.Info(ctx)
				if err != nil {
					return err
				}
				if info.NumPending > 0 || info.NumAckPending > 0 || info.NumRedelivered > 0 {
					return fmt.Errorf("%s/%s: pending %d, ack pending %d, redelivered %d", stream, d, info.NumPending, info.NumAckPending, info.NumRedelivered)
				}
			}
		}
		return nil
	})
}

// streamMessages returns how many messages subject filter has in stream.
func streamMessages(tb testing.TB, js jetstream.JetStream, stream, filter string) uint64 {
	tb.Helper()
	s, err := js.Stream(context.Background(), stream)
	require.NoError(tb, err)
	info, err := s.Info(context.Background(), jetstream.WithSubjectFilter(filter))
	require.NoError(tb, err)
	var n uint64
	for _, c := range info.State.Subjects {
		n += c
	}
	return n
}

// alertmanagerPayload is an Alertmanager webhook v4 body with one alert.
func alertmanagerPayload(status, alertname, instance, startsAt string) string {
	endsAt := "0001-01-01T00:00:00Z"
	if status == "resolved" {
		endsAt = time.Now().UTC().Add(-time.Second).Format(time.RFC3339)
	}
	return fmt.Sprintf(`{
  "version": "4",
  "groupKey": "{}:{alertname=\"%[2]s\"}",
  "truncatedAlerts": 0,
  "status": %[1]q,
  "receiver": "ams",
  "groupLabels": {"alertname": %[2]q},
  "commonLabels": {"alertname": %[2]q, "severity": "critical"},
  "commonAnnotations": {},
  "externalURL": "http://alertmanager.example:9093",
  "alerts": [{
    "status": %[1]q,
    "labels": {"alertname": %[2]q, "instance": %[3]q, "job": "node", "severity": "critical"},
    "annotations": {"summary": "%[2]s on %[3]s"},
    "startsAt": %[4]q,
    "endsAt": %[5]q,
    "generatorURL": "http://prometheus.example:9090/graph",
    "fingerprint": ""
  }]
}`, status, alertname, instance, startsAt, endsAt)
}

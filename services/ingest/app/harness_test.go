package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/protobuf/proto"

	"github.com/amsproject/ams/pkg/bus"
	"github.com/amsproject/ams/pkg/config"
	"github.com/amsproject/ams/pkg/natstest"
	"github.com/amsproject/ams/pkg/service"
	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/ingest/app"
)

// Tokens of the test tenants' integrations.
const (
	tokenAcme        = "acme-token-current"
	tokenAcmeOld     = "acme-token-previous"
	tokenBeta        = "beta-token-current"
	tokenAcmeGeneric = "acme-generic-token"
)

// testNow is the injected clock: received_at must come from it.
var testNow = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// testConfig has two tenants: acme with an Alertmanager integration (two
// tokens, mid-rotation) and a generic one, and beta with a generic one.
func testConfig(tb testing.TB) *config.File {
	tb.Helper()
	cfg := config.Default()
	cfg.NATS.URL = "nats://127.0.0.1:4222" // not dialled: tests hand ingest a connection
	cfg.Ingest.MaxBodyBytes = 16 << 10
	cfg.Ingest.PublishTimeout = time.Second
	cfg.Tenants = []config.Tenant{
		{ID: "acme", Name: "Acme", Integrations: []config.Integration{
			{Name: "acme-am", Source: "alertmanager", Tokens: []string{tokenAcme, tokenAcmeOld}},
			{Name: "acme-generic", Source: "generic", Tokens: []string{tokenAcmeGeneric}},
		}},
		{ID: "beta", Name: "Beta", Integrations: []config.Integration{
			{Name: "beta-generic", Source: "generic", Tokens: []string{tokenBeta}},
		}},
	}
	require.NoError(tb, cfg.Validate())
	return cfg
}

// harness is one ingest serving HTTP on a real socket against a real
// embedded JetStream server.
type harness struct {
	url string
	srv *server.Server
	js  jetstream.JetStream
	ing *app.Ingest
	reg *prometheus.Registry
	cfg *config.File
	// run starts Run; start calls it unless told not to.
	run func()
}

func newHarness(tb testing.TB) *harness {
	tb.Helper()
	return newHarnessWith(tb, testConfig(tb), nil)
}

// newHarnessWith serves cfg; client, if not nil, makes ingest's outbound
// calls (SNS certificates).
func newHarnessWith(tb testing.TB, cfg *config.File, client *http.Client) *harness {
	tb.Helper()
	srv := natstest.RunServer(tb)
	_, js := natstest.Connect(tb, srv)
	reg := prometheus.NewRegistry()
	ing, err := app.New(cfg, service.Deps{
		JS:         js,
		Log:        slog.New(slog.DiscardHandler),
		Registerer: reg,
		Tracing:    noop.NewTracerProvider(),
		Now:        func() time.Time { return testNow },
		Replicas:   1,
		HTTPClient: client,
	})
	require.NoError(tb, err)
	mux := http.NewServeMux()
	ing.Register(mux)
	hs := httptest.NewServer(mux)
	tb.Cleanup(hs.Close)

	h := &harness{url: hs.URL, srv: srv, js: js, ing: ing, reg: reg, cfg: cfg}
	h.run = func() {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- ing.Run(ctx) }()
		tb.Cleanup(func() {
			cancel()
			require.NoError(tb, <-done, "Run must return nil on a clean shutdown")
		})
		require.Eventually(tb, func() bool { return ing.Ready() == nil }, 10*time.Second, 5*time.Millisecond, "ingest never became ready")
	}
	return h
}

// start returns a harness that is running and ready.
func start(tb testing.TB) *harness {
	tb.Helper()
	h := newHarness(tb)
	h.run()
	return h
}

// reply is any answer of the webhook endpoint.
type reply struct {
	status int
	header http.Header
	Body   struct {
		Accepted   int      `json:"accepted"`
		Duplicates int      `json:"duplicates"`
		AlertIDs   []string `json:"alert_ids"`
		Error      string   `json:"error"`
	}
}

func (h *harness) post(tb testing.TB, integration, token string, body []byte) reply {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPost, h.url+"/v1/webhooks/"+integration, bytes.NewReader(body))
	require.NoError(tb, err)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	require.NoError(tb, err)
	defer resp.Body.Close()
	require.Equal(tb, "application/json", resp.Header.Get("Content-Type"))
	r := reply{status: resp.StatusCode, header: resp.Header}
	require.NoError(tb, json.NewDecoder(resp.Body).Decode(&r.Body))
	return r
}

// storedMsg is one message read back from ALERTS.
type storedMsg struct {
	subject string
	msgID   string
	alert   *amsv1.Alert
}

// stored reads every message in ALERTS, in order, and decodes it.
func (h *harness) stored(tb testing.TB) []storedMsg {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := h.js.Stream(ctx, "ALERTS")
	require.NoError(tb, err)
	info, err := s.Info(ctx)
	require.NoError(tb, err)
	var out []storedMsg
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		require.NoError(tb, err)
		require.Equal(tb, "ams.v1.Alert", m.Header.Get(bus.HeaderType))
		require.Equal(tb, "ingest", m.Header.Get(bus.HeaderSource))
		a := &amsv1.Alert{}
		require.NoError(tb, proto.Unmarshal(m.Data, a))
		out = append(out, storedMsg{subject: m.Subject, msgID: m.Header.Get(jetstream.MsgIDHeader), alert: a})
	}
	return out
}

// metric returns the value of a counter, or a histogram's sample count, with
// exactly the given labels; 0 if it has not been recorded.
func (h *harness) metric(tb testing.TB, name string, labels map[string]string) float64 {
	tb.Helper()
	families, err := h.reg.Gather()
	require.NoError(tb, err)
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if !labelsEqual(m.GetLabel(), labels) {
				continue
			}
			if m.GetHistogram() != nil {
				return float64(m.GetHistogram().GetSampleCount())
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

func labelsEqual(got []*dto.LabelPair, want map[string]string) bool {
	if len(got) != len(want) {
		return false
	}
	for _, l := range got {
		if v, ok := want[l.GetName()]; !ok || v != l.GetValue() {
			return false
		}
	}
	return true
}

func readSample(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", name))
	require.NoError(tb, err)
	return b
}

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/amsproject/ams/pkg/natstest"
)

// Exit codes of service.Main.
const (
	exitOK     = 0
	exitConfig = 1
	exitUsage  = 2
)

func TestVerifyConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(text), 0o600))
		return p
	}
	unknownSource := write("unknown-source.yaml", `
nats: {url: "nats://127.0.0.1:4222"}
tenants:
  - id: acme
    integrations:
      - {name: acme-nagios, source: nagios, tokens: ["0123456789"]}
`)
	embedded := write("embedded.yaml", `
nats: {embedded: {enabled: true}}
`)
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"example config is valid", []string{"-config.file", filepath.Join("..", "..", "testdata", "ingest.yaml"), "-verify-config"},
			exitOK, "configuration is valid", ""},
		{"unknown source names the key", []string{"-config.file", unknownSource, "-verify-config"},
			exitConfig, "", `tenants[0].integrations[0].source: "nagios" is not a supported source (supported: alertmanager, awsdx, cloudwatch, datadog, generic, grafana, mackerel, pagerduty, pagerduty-events, zabbix)`},
		{"standalone needs an external bus", []string{"-config.file", embedded, "-verify-config"},
			exitConfig, "", "nats.url: missing"},
		{"missing file", []string{"-config.file", filepath.Join(dir, "nope.yaml"), "-verify-config"},
			exitConfig, "", "nope.yaml"},
		{"unknown flag", []string{"-bogus"}, exitUsage, "", "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := runArgs(context.Background(), tt.args, &stdout, &stderr)
			require.Equal(t, tt.wantCode, code, "stderr: %s", stderr.String())
			require.Contains(t, stdout.String(), tt.wantStdout)
			require.Contains(t, stderr.String(), tt.wantStderr)
		})
	}
}

func TestServeAndShutDown(t *testing.T) {
	srv := natstest.RunServer(t)
	addr := freeAddr(t)
	cfgPath := filepath.Join(t.TempDir(), "ams.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(fmt.Sprintf(`
server: {http_listen_address: %q, shutdown_timeout: 5s}
nats: {url: %q}
telemetry: {log_level: error}
tenants:
  - id: acme
    integrations:
      - {name: acme-scripts, source: generic, tokens: ["acme-scripts-token"]}
`, addr, srv.ClientURL())), 0o600))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	var stderr bytes.Buffer
	go func() { done <- runArgs(ctx, []string{"-config.file", cfgPath}, io.Discard, &stderr) }()

	base := "http://" + addr
	require.Eventually(t, func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 10*time.Second, 10*time.Millisecond, "never ready")

	req, err := http.NewRequest(http.MethodPost, base+"/v1/webhooks/acme-scripts", strings.NewReader(`{"summary":"hello"}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer acme-scripts-token")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusAccepted, resp.StatusCode)

	for path, want := range map[string]string{
		"/healthz": "ok",
		"/metrics": `ams_ingest_alerts_accepted_total{integration="acme-scripts"} 1`,
	} {
		resp, err := http.Get(base + path)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
		require.Contains(t, string(body), want, path)
	}

	cancel()
	select {
	case code := <-done:
		require.Equal(t, exitOK, code, "stderr: %s", stderr.String())
	case <-time.After(15 * time.Second):
		t.Fatal("ingest did not shut down")
	}
}

// freeAddr returns a loopback address nothing listens on right now.
func freeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	addr := ln.Addr().String()
	require.NoError(tb, ln.Close())
	return addr
}

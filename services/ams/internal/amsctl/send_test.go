package amsctl

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// sampleFile reads a built-in sample from disk, not through the embedded
// copy, so the tests also check that what is sent is what is checked in.
func sampleFile(t testing.TB, source, variant string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("samples", source, variant+".json"))
	require.NoError(t, err)
	return b
}

func hmacHex(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// TestSend sends to each kind of endpoint and checks the request on the
// wire and the line printed for the answer.
func TestSend(t *testing.T) {
	payload := filepath.Join(t.TempDir(), "payload.json")
	own := []byte(`{"summary":"my own alert","severity":"info"}`)
	require.NoError(t, os.WriteFile(payload, own, 0o600))

	pdEvents := func(variant string) []byte {
		b := sampleFile(t, sourcePagerDutyEvents, variant)
		// Only the routing key's value changes; the rest is sent byte for byte.
		for _, old := range []string{`"routing_key": "samplekeyhere"`, `"routing_key": "routingkeyhere"`} {
			b = bytes.Replace(b, []byte(old), []byte(`"routing_key": "demo-pagerduty-events-secret"`), 1)
		}
		return b
	}

	tests := []struct {
		name       string
		args       []string
		wantURI    string
		wantAuth   string // Authorization header; "" means none was sent
		wantSigned string // the signing secret X-PagerDuty-Signature must verify with; "" means no signature
		wantBody   []byte
		wantOut    string
	}{
		{
			name:     "generic is the default source",
			args:     []string{"--integration", "demo-generic", "--token", "demo-generic-secret"},
			wantURI:  "/v1/webhooks/demo-generic",
			wantAuth: "Bearer demo-generic-secret",
			wantBody: sampleFile(t, sourceGeneric, "firing"),
			wantOut:  "202 Accepted: 1 alert stored (0 duplicates), ids: 0190c0de-0001\n",
		},
		{
			name:     "generic resolved",
			args:     []string{"--integration", "demo-generic", "--token", "demo-generic-secret", "--resolved"},
			wantURI:  "/v1/webhooks/demo-generic",
			wantAuth: "Bearer demo-generic-secret",
			wantBody: sampleFile(t, sourceGeneric, "resolved"),
			wantOut:  "202 Accepted: 1 alert stored (0 duplicates), ids: 0190c0de-0001\n",
		},
		{
			name:     "alertmanager webhook",
			args:     []string{"--source", "alertmanager", "--integration", "demo-alertmanager", "--token", "demo-token"},
			wantURI:  "/v1/webhooks/demo-alertmanager",
			wantAuth: "Bearer demo-token",
			wantBody: sampleFile(t, sourceAlertmanager, "firing"),
			wantOut:  "202 Accepted: 2 alerts stored (0 duplicates), ids: 0190c0de-0001, 0190c0de-0002\n",
		},
		{
			name:     "alertmanager webhook resolved, source case-insensitive",
			args:     []string{"--source", "Alertmanager", "--integration", "demo-alertmanager", "--token", "demo-token", "--resolved"},
			wantURI:  "/v1/webhooks/demo-alertmanager",
			wantAuth: "Bearer demo-token",
			wantBody: sampleFile(t, sourceAlertmanager, "resolved"),
			wantOut:  "202 Accepted: 2 alerts stored (0 duplicates), ids: 0190c0de-0001, 0190c0de-0002\n",
		},
		{
			name:       "pagerduty signs the body with the token",
			args:       []string{"--source", "pagerduty", "--integration", "demo-pagerduty", "--token", "demo-pagerduty-secret"},
			wantURI:    "/v1/webhooks/demo-pagerduty",
			wantSigned: "demo-pagerduty-secret",
			wantBody:   sampleFile(t, sourcePagerDuty, "firing"),
			wantOut:    "202 Accepted: 1 alert stored (0 duplicates), ids: 0190c0de-0001\n",
		},
		{
			name:       "pagerduty resolved",
			args:       []string{"--source", "pagerduty", "--integration", "demo-pagerduty", "--token", "demo-pagerduty-secret", "--resolved"},
			wantURI:    "/v1/webhooks/demo-pagerduty",
			wantSigned: "demo-pagerduty-secret",
			wantBody:   sampleFile(t, sourcePagerDuty, "resolved"),
			wantOut:    "202 Accepted: 1 alert stored (0 duplicates), ids: 0190c0de-0001\n",
		},
		{
			name:     "pagerduty-events puts the token in routing_key",
			args:     []string{"--source", "pagerduty-events", "--token", "demo-pagerduty-events-secret"},
			wantURI:  "/v2/enqueue",
			wantBody: pdEvents("firing"),
			wantOut:  "202 Accepted: Event processed, dedup_key: samplekeyhere\n",
		},
		{
			name:     "pagerduty-events resolve has the trigger's dedup_key",
			args:     []string{"--source", "pagerduty-events", "--token", "demo-pagerduty-events-secret", "--resolved"},
			wantURI:  "/v2/enqueue",
			wantBody: pdEvents("resolved"),
			wantOut:  "202 Accepted: Event processed, dedup_key: samplekeyhere\n",
		},
		{
			name:     "alertmanager API",
			args:     []string{"--source", "alertmanager-api", "--token", "demo-token"},
			wantURI:  "/api/v2/alerts",
			wantAuth: "Bearer demo-token",
			wantBody: sampleFile(t, sourceAlertmanagerAPI, "firing"),
			wantOut:  "200 OK: accepted (2 alerts sent)\n",
		},
		{
			name:     "alertmanager API resolved",
			args:     []string{"--source", "alertmanager-api", "--token", "demo-token", "--resolved"},
			wantURI:  "/api/v2/alerts",
			wantAuth: "Bearer demo-token",
			wantBody: sampleFile(t, sourceAlertmanagerAPI, "resolved"),
			wantOut:  "200 OK: accepted (2 alerts sent)\n",
		},
		{
			name:     "cloudwatch as an EventBridge API destination",
			args:     []string{"--source", "cloudwatch", "--integration", "demo-cloudwatch", "--token", "demo-cloudwatch-secret"},
			wantURI:  "/v1/webhooks/demo-cloudwatch",
			wantAuth: "Bearer demo-cloudwatch-secret",
			wantBody: sampleFile(t, sourceCloudWatch, "firing"),
			wantOut:  "202 Accepted: 1 alert stored (0 duplicates), ids: 0190c0de-0001\n",
		},
		{
			name:     "datadog",
			args:     []string{"--source", "datadog", "--integration", "demo-datadog", "--token", "demo-datadog-secret", "--resolved"},
			wantURI:  "/v1/webhooks/demo-datadog",
			wantAuth: "Bearer demo-datadog-secret",
			wantBody: sampleFile(t, sourceDatadog, "resolved"),
			wantOut:  "202 Accepted: 1 alert stored (0 duplicates), ids: 0190c0de-0001\n",
		},
		{
			name:     "grafana",
			args:     []string{"--source", "grafana", "--integration", "demo-grafana", "--token", "demo-grafana-secret"},
			wantURI:  "/v1/webhooks/demo-grafana",
			wantAuth: "Bearer demo-grafana-secret",
			wantBody: sampleFile(t, sourceGrafana, "firing"),
			wantOut:  "202 Accepted: 2 alerts stored (0 duplicates), ids: 0190c0de-0001, 0190c0de-0002\n",
		},
		{
			name:     "mackerel",
			args:     []string{"--source", "mackerel", "--integration", "demo-mackerel", "--token", "demo-mackerel-secret"},
			wantURI:  "/v1/webhooks/demo-mackerel",
			wantAuth: "Bearer demo-mackerel-secret",
			wantBody: sampleFile(t, sourceMackerel, "firing"),
			wantOut:  "202 Accepted: 1 alert stored (0 duplicates), ids: 0190c0de-0001\n",
		},
		{
			name:     "zabbix",
			args:     []string{"--source", "zabbix", "--integration", "demo-zabbix", "--token", "demo-zabbix-secret", "--resolved"},
			wantURI:  "/v1/webhooks/demo-zabbix",
			wantAuth: "Bearer demo-zabbix-secret",
			wantBody: sampleFile(t, sourceZabbix, "resolved"),
			wantOut:  "202 Accepted: 1 alert stored (0 duplicates), ids: 0190c0de-0001\n",
		},
		{
			name:     "own file is sent as is",
			args:     []string{"--integration", "demo-generic", "--token", "demo-generic-secret", "--file", payload},
			wantURI:  "/v1/webhooks/demo-generic",
			wantAuth: "Bearer demo-generic-secret",
			wantBody: own,
			wantOut:  "202 Accepted: 1 alert stored (0 duplicates), ids: 0190c0de-0001\n",
		},
		{
			name:       "own file signed for pagerduty",
			args:       []string{"--source", "pagerduty", "--integration", "demo-pagerduty", "--token", "demo-pagerduty-secret", "--file", payload},
			wantURI:    "/v1/webhooks/demo-pagerduty",
			wantSigned: "demo-pagerduty-secret",
			wantBody:   own,
			wantOut:    "202 Accepted: 1 alert stored (0 duplicates), ids: 0190c0de-0001\n",
		},
		{
			name:     "own file for pagerduty-events gets routing_key added",
			args:     []string{"--source", "pagerduty-events", "--token", "demo-pagerduty-events-secret", "--file", payload},
			wantURI:  "/v2/enqueue",
			wantBody: []byte(`{"routing_key":"demo-pagerduty-events-secret","summary":"my own alert","severity":"info"}`),
			wantOut:  "202 Accepted: Event processed\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFakeIngest()
			url := startIngest(t, fake)
			res := runCLI(t, nil, append([]string{"send", "--url", url}, tt.args...)...)
			require.Equal(t, exitOK, res.code, res.stderr)
			require.Empty(t, res.stderr)
			require.Equal(t, tt.wantOut, res.stdout)

			req := fake.last(t)
			require.Equal(t, http.MethodPost, req.method)
			require.Equal(t, tt.wantURI, req.uri)
			require.Equal(t, "application/json", req.header.Get("Content-Type"))
			require.Equal(t, "amsctl", req.header.Get("User-Agent"))
			require.Equal(t, tt.wantAuth, req.header.Get("Authorization"))
			require.Equal(t, string(tt.wantBody), string(req.body))
			if tt.wantSigned != "" {
				require.Equal(t, "v1="+hmacHex(tt.wantSigned, req.body), req.header.Get("X-PagerDuty-Signature"))
			} else {
				require.Empty(t, req.header.Get("X-PagerDuty-Signature"))
			}
			if tt.wantURI == enqueuePath {
				var ev map[string]any
				require.NoError(t, json.Unmarshal(req.body, &ev))
				require.Equal(t, "demo-pagerduty-events-secret", ev["routing_key"])
			}
		})
	}
}

// TestSendAnswers checks how answers other than a plain success are shown.
func TestSendAnswers(t *testing.T) {
	dir := t.TempDir()
	ping := filepath.Join(dir, "ping.json")
	require.NoError(t, os.WriteFile(ping, []byte(`{"event":{"id":"01CH754SM17TWPE2V2H4VPBRO7","event_type":"pagey.ping","resource_type":"pagey","data":{"type":"ping"}}}`), 0o600))
	notJSON := filepath.Join(dir, "broken.json")
	require.NoError(t, os.WriteFile(notJSON, []byte(`{"summary": `), 0o600))

	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr []string // each must appear; stderr must be empty when nil
	}{
		{
			name:       "ignored",
			args:       []string{"--source", "pagerduty", "--integration", "demo-pagerduty", "--token", "demo-pagerduty-secret", "--file", ping},
			wantCode:   exitOK,
			wantStdout: "200 OK: ignored (ping)\n",
		},
		{
			name:     "wrong token",
			args:     []string{"--integration", "demo-generic", "--token", "nope"},
			wantCode: exitError,
			wantStderr: []string{
				"amsctl: 401 Unauthorized: missing or invalid credential: send Authorization: Bearer <token>\n",
				"amsctl: --token must be one of the integration's tokens.\n",
			},
		},
		{
			name:     "wrong signing secret",
			args:     []string{"--source", "pagerduty", "--integration", "demo-pagerduty", "--token", "not-the-secret"},
			wantCode: exitError,
			wantStderr: []string{
				"amsctl: 401 Unauthorized: X-PagerDuty-Signature matches none of the integration's signing secrets\n",
				"amsctl: --token must be one of the integration's signing_secrets.\n",
			},
		},
		{
			name:     "unknown routing key",
			args:     []string{"--source", "pagerduty-events", "--token", "nope"},
			wantCode: exitError,
			wantStderr: []string{
				"amsctl: 400 Bad Request: Event object is invalid: Invalid routing key\n",
				"amsctl: --token must be one of the routing_keys of an integration with source pagerduty-events.\n",
			},
		},
		{
			name:     "alertmanager API with a wrong token",
			args:     []string{"--source", "alertmanager-api", "--token", "demo-generic-secret"},
			wantCode: exitError,
			wantStderr: []string{
				"amsctl: 401 Unauthorized: missing or invalid credential: send the token of an alertmanager integration as a bearer token or as the basic-auth password\n",
				"amsctl: --token must be one of the tokens of an integration with source alertmanager.\n",
			},
		},
		{
			name:       "unknown integration",
			args:       []string{"--integration", "demo-genric", "--token", "t"},
			wantCode:   exitError,
			wantStderr: []string{"amsctl: 404 Not Found: no integration named \"demo-genric\" is configured\n"},
		},
		{
			name:       "invalid payload",
			args:       []string{"--integration", "demo-generic", "--token", "demo-generic-secret", "--file", notJSON},
			wantCode:   exitError,
			wantStderr: []string{"amsctl: 400 Bad Request: invalid JSON: unexpected end of JSON input\n"},
		},
		{
			name:       "not ready",
			args:       []string{"--integration", integrationNotReady, "--token", "t"},
			wantCode:   exitError,
			wantStderr: []string{"amsctl: 503 Service Unavailable: ingest is not ready to store alerts yet; retry later\n"},
		},
		{
			name:       "not ingest's JSON",
			args:       []string{"--integration", integrationProxy, "--token", "t"},
			wantCode:   exitError,
			wantStderr: []string{"amsctl: 502 Bad Gateway: <html> <body>Bad Gateway</body> </html>\n"},
		},
		{
			name:     "redirect is not followed",
			args:     []string{"--integration", integrationMoved, "--token", "t"},
			wantCode: exitError,
			wantStderr: []string{
				"amsctl: 308 Permanent Redirect\n",
				"amsctl: ingest redirected to https://ams.example.com/v1/webhooks/moved; use that address as --url.\n",
			},
		},
		{
			name:       "json prints the body as is",
			args:       []string{"-o", "json", "--integration", "demo-generic", "--token", "demo-generic-secret"},
			wantCode:   exitOK,
			wantStdout: `{"accepted":1,"alert_ids":["0190c0de-0001"],"duplicates":0}` + "\n",
		},
		{
			name:       "json of the events API",
			args:       []string{"--source", "pagerduty-events", "--token", "demo-pagerduty-events-secret", "-o", "json"},
			wantCode:   exitOK,
			wantStdout: `{"dedup_key":"samplekeyhere","message":"Event processed","status":"success"}` + "\n",
		},
		{
			name:     "json of the empty alertmanager API answer is empty",
			args:     []string{"--source", "alertmanager-api", "--token", "demo-token", "-o", "json"},
			wantCode: exitOK,
		},
		{
			name:       "json of an error prints the body and fails",
			args:       []string{"-o", "json", "--integration", "demo-genric", "--token", "t"},
			wantCode:   exitError,
			wantStdout: `{"error":"no integration named \"demo-genric\" is configured"}` + "\n",
			wantStderr: []string{"amsctl: 404 Not Found: no integration named \"demo-genric\" is configured\n"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFakeIngest()
			url := startIngest(t, fake)
			res := runCLI(t, nil, append([]string{"send", "--url", url}, tt.args...)...)
			require.Equal(t, tt.wantCode, res.code, res.stderr)
			require.Equal(t, tt.wantStdout, res.stdout)
			if tt.wantStderr == nil {
				require.Empty(t, res.stderr)
			}
			for _, want := range tt.wantStderr {
				require.Contains(t, res.stderr, want)
			}
			require.NotContains(t, res.stderr, "--help", "an answer is not a usage error")
			require.Equal(t, 1, fake.count())
		})
	}
}

func TestSendDuplicate(t *testing.T) {
	url := startIngest(t, newFakeIngest())
	args := []string{"send", "--url", url, "--source", "alertmanager", "--integration", "demo-alertmanager", "--token", "demo-token"}

	res := runCLI(t, nil, args...)
	require.Equal(t, exitOK, res.code, res.stderr)
	require.Equal(t, "202 Accepted: 2 alerts stored (0 duplicates), ids: 0190c0de-0001, 0190c0de-0002\n", res.stdout)

	res = runCLI(t, nil, args...)
	require.Equal(t, exitOK, res.code, res.stderr)
	require.Equal(t, "202 Accepted: 0 alerts stored (2 duplicates)\n", res.stdout)
}

func TestSendUsageErrors(t *testing.T) {
	fake := newFakeIngest()
	url := startIngest(t, fake)
	dir := t.TempDir()
	array := filepath.Join(dir, "array.json")
	require.NoError(t, os.WriteFile(array, []byte(`[{"event_action":"trigger"}]`), 0o600))

	tests := []struct {
		name       string
		args       []string
		wantStderr []string
	}{
		{
			name:       "missing token",
			args:       []string{"--integration", "demo-generic"},
			wantStderr: []string{"amsctl: --token is required"},
		},
		{
			name:       "empty token",
			args:       []string{"--integration", "demo-generic", "--token", ""},
			wantStderr: []string{"amsctl: --token is required"},
		},
		{
			name:       "token with a newline",
			args:       []string{"--integration", "demo-generic", "--token", "secret\n"},
			wantStderr: []string{"amsctl: --token contains a control character"},
		},
		{
			name: "unknown source lists the valid ones",
			args: []string{"--source", "nagios", "--integration", "x", "--token", "t"},
			wantStderr: []string{
				`invalid argument "nagios" for "--source" flag: must be one of alertmanager, alertmanager-api, cloudwatch, datadog, generic, grafana, mackerel, pagerduty, pagerduty-events, zabbix`,
			},
		},
		{
			name:       "missing file",
			args:       []string{"--integration", "demo-generic", "--token", "t", "--file", filepath.Join(dir, "nope.json")},
			wantStderr: []string{"amsctl: --file: open " + filepath.Join(dir, "nope.json") + ": no such file or directory"},
		},
		{
			name:       "file is a directory",
			args:       []string{"--integration", "demo-generic", "--token", "t", "--file", dir},
			wantStderr: []string{"amsctl: --file: read " + dir + ": is a directory"},
		},
		{
			name:       "pagerduty-events file that is not an object",
			args:       []string{"--source", "pagerduty-events", "--token", "t", "--file", array},
			wantStderr: []string{"amsctl: --file " + array + ": not a JSON object"},
		},
		{
			name:       "missing integration",
			args:       []string{"--source", "grafana", "--token", "t"},
			wantStderr: []string{"amsctl: --integration is required with --source grafana"},
		},
		{
			name:       "integration with pagerduty-events",
			args:       []string{"--source", "pagerduty-events", "--integration", "demo-pagerduty-events", "--token", "t"},
			wantStderr: []string{"amsctl: --integration is not used with --source pagerduty-events: the token selects the integration"},
		},
		{
			name:       "integration with alertmanager-api",
			args:       []string{"--source", "alertmanager-api", "--integration", "demo-alertmanager", "--token", "t"},
			wantStderr: []string{"amsctl: --integration is not used with --source alertmanager-api"},
		},
		{
			name:       "resolved with file",
			args:       []string{"--integration", "demo-generic", "--token", "t", "--file", array, "--resolved"},
			wantStderr: []string{"amsctl: --resolved picks the built-in resolved sample; it cannot be combined with --file"},
		},
		{
			name:       "url without scheme",
			args:       []string{"--url", "127.0.0.1:8080", "--integration", "demo-generic", "--token", "t"},
			wantStderr: []string{`amsctl: --url "127.0.0.1:8080": want the base URL of ingest, such as http://127.0.0.1:8080`},
		},
		{
			name:       "argument",
			args:       []string{"demo-generic", "--token", "t"},
			wantStderr: []string{"amsctl send takes 0 argument(s)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runCLI(t, nil, append([]string{"send", "--url", url}, tt.args...)...)
			require.Equal(t, exitUsage, res.code, res.stderr)
			require.Empty(t, res.stdout)
			for _, want := range tt.wantStderr {
				require.Contains(t, res.stderr, want)
			}
			require.Contains(t, res.stderr, "Run 'amsctl send --help' for usage.")
			require.Zero(t, fake.count(), "a usage error must not send anything")
		})
	}
}

func TestSendUnreachable(t *testing.T) {
	closed := "http://" + closedAddr(t)
	res := runCLI(t, nil, "send", "--url", closed, "--integration", "demo-generic", "--token", "t")
	require.Equal(t, exitError, res.code, res.stderr)
	require.Empty(t, res.stdout)
	require.Contains(t, res.stderr, "amsctl: send to "+closed+"/v1/webhooks/demo-generic: dial tcp ")
	require.Contains(t, res.stderr, "connection refused")
	require.Contains(t, res.stderr, "amsctl: is ams running with ingest? (make run) The address comes from --url or $AMS_URL.\n")
	require.NotContains(t, res.stderr, "Post \"", "the url.Error wrapping is dropped")

	url := startIngest(t, newFakeIngest())
	res = runCLI(t, nil, "send", "--url", url, "--timeout", "50ms", "--integration", integrationSlow, "--token", "t")
	require.Equal(t, exitError, res.code, res.stderr)
	require.Empty(t, res.stdout)
	require.Contains(t, res.stderr, "amsctl: send to "+url+"/v1/webhooks/slow: no answer within 50ms\n")
	require.Contains(t, res.stderr, "Allow longer with --timeout.")
}

func TestSendURL(t *testing.T) {
	fake := newFakeIngest()
	url := startIngest(t, fake)

	tests := []struct {
		name    string
		environ map[string]string
		args    []string
		wantURI string
	}{
		{
			name:    "AMS_URL sets the default",
			environ: map[string]string{urlEnv: url},
			args:    []string{"--integration", "demo-generic", "--token", "demo-generic-secret"},
			wantURI: "/v1/webhooks/demo-generic",
		},
		{
			name:    "--url beats AMS_URL",
			environ: map[string]string{urlEnv: "http://" + closedAddr(t)},
			args:    []string{"--url", url + "/", "--integration", "demo-generic", "--token", "demo-generic-secret"},
			wantURI: "/v1/webhooks/demo-generic",
		},
		{
			name:    "path prefix of a proxy is kept",
			args:    []string{"--url", url + "/ingest/", "--source", "alertmanager-api", "--token", "demo-token"},
			wantURI: "/ingest/api/v2/alerts",
		},
		{
			name:    "integration name is escaped",
			args:    []string{"--url", url, "--integration", "a b/c", "--token", "t"},
			wantURI: "/v1/webhooks/a%20b%2Fc",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runCLI(t, tt.environ, append([]string{"send"}, tt.args...)...)
			require.Contains(t, []int{exitOK, exitError}, res.code, res.stderr)
			require.Equal(t, tt.wantURI, fake.last(t).uri)
		})
	}
}

func TestSendHelp(t *testing.T) {
	res := runCLI(t, nil, "--help")
	require.Equal(t, exitOK, res.code, res.stderr)
	require.Contains(t, res.stdout, "send ")

	res = runCLI(t, nil, "send", "--help")
	require.Equal(t, exitOK, res.code, res.stderr)
	for _, want := range []string{"--source", strings.Join(sendSources, ", "), "--integration", "--token", "--file", "--resolved", "--url", urlEnv, defaultURL, "X-PagerDuty-Signature", "routing_key"} {
		require.Contains(t, res.stdout, want)
	}
}

// TestSamples checks the built-in samples: one firing and one resolved per
// source, valid JSON, and firing ones that stay firing whatever the date.
func TestSamples(t *testing.T) {
	entries, err := samples.ReadDir("samples")
	require.NoError(t, err)
	var dirs []string
	for _, e := range entries {
		dirs = append(dirs, e.Name())
	}
	require.Equal(t, sendSources, dirs, "one samples/<source> per --source value")

	for _, src := range sendSources {
		for _, variant := range []string{"firing", "resolved"} {
			b, err := sampleBody(src, variant == "resolved")
			require.NoError(t, err, "%s/%s", src, variant)
			require.True(t, json.Valid(b), "%s/%s is not valid JSON", src, variant)
			require.Equal(t, sampleFile(t, src, variant), b)
		}
	}

	// Alertmanager's API has no status: an alert with a past endsAt is resolved.
	var api []map[string]any
	require.NoError(t, json.Unmarshal(sampleFile(t, sourceAlertmanagerAPI, "firing"), &api))
	require.NotEmpty(t, api)
	for _, a := range api {
		require.NotContains(t, a, "endsAt")
	}
	require.NoError(t, json.Unmarshal(sampleFile(t, sourceAlertmanagerAPI, "resolved"), &api))
	for _, a := range api {
		require.Contains(t, a, "endsAt")
	}

	var generic map[string]any
	require.NoError(t, json.Unmarshal(sampleFile(t, sourceGeneric, "firing"), &generic))
	require.Equal(t, "firing", generic["status"])
	require.NotContains(t, generic, "ends_at")

	var am struct {
		Alerts []struct {
			Status string `json:"status"`
			EndsAt string `json:"endsAt"`
		} `json:"alerts"`
	}
	require.NoError(t, json.Unmarshal(sampleFile(t, sourceAlertmanager, "firing"), &am))
	for _, a := range am.Alerts {
		require.Equal(t, "firing", a.Status)
		require.Equal(t, "0001-01-01T00:00:00Z", a.EndsAt)
	}

	// The resolve event must name the trigger's dedup_key to resolve it.
	var trigger, resolve struct {
		DedupKey string `json:"dedup_key"`
	}
	require.NoError(t, json.Unmarshal(sampleFile(t, sourcePagerDutyEvents, "firing"), &trigger))
	require.NoError(t, json.Unmarshal(sampleFile(t, sourcePagerDutyEvents, "resolved"), &resolve))
	require.Equal(t, trigger.DedupKey, resolve.DedupKey)
}

func TestSetRoutingKey(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{name: "replaced", in: `{"routing_key":"old","event_action":"trigger"}`, want: `{"routing_key":"K\"ey","event_action":"trigger"}`},
		{name: "whitespace kept", in: "{\n  \"event_action\" : \"resolve\",\n  \"routing_key\"  :\t \"old\" ,\n  \"n\": 12\n}\n", want: "{\n  \"event_action\" : \"resolve\",\n  \"routing_key\"  :\t \"K\\\"ey\" ,\n  \"n\": 12\n}\n"},
		{name: "not a string", in: `{"routing_key":12}`, want: `{"routing_key":"K\"ey"}`},
		{name: "any case, every copy", in: `{"Routing_Key":"a","routing_key":"b"}`, want: `{"Routing_Key":"K\"ey","routing_key":"K\"ey"}`},
		{name: "nested one left alone", in: `{"payload":{"routing_key":"x"},"routing_key":"y"}`, want: `{"payload":{"routing_key":"x"},"routing_key":"K\"ey"}`},
		{name: "added when missing", in: ` {"event_action":"trigger"}`, want: ` {"routing_key":"K\"ey","event_action":"trigger"}`},
		{name: "added to an empty object", in: `{}`, want: `{"routing_key":"K\"ey"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := setRoutingKey([]byte(tt.in), `K"ey`)
			require.NoError(t, err)
			require.Equal(t, tt.want, string(got))
			require.True(t, json.Valid(got))
		})
	}

	for _, in := range []string{``, `[]`, `"routing_key"`, `{"routing_key":`, `{"a":1} {}`, `{"a":1}x`} {
		_, err := setRoutingKey([]byte(in), "k")
		require.Error(t, err, "%q", in)
	}
}

package amsctl

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"unicode"

	"github.com/spf13/cobra"
)

const (
	// defaultURL is where `make run` serves ingest's HTTP API.
	defaultURL = "http://127.0.0.1:8080"
	// urlEnv overrides defaultURL, as serverEnv does for --server.
	urlEnv = "AMS_URL"

	// maxAnswerBytes caps how much of an answer is read: ingest's answers
	// are small, and a wrong --url must not fill the terminal.
	maxAnswerBytes = 1 << 20
)

// samples holds one firing and one resolved payload per source, copied
// from ingest's testdata: samples/<source>/{firing,resolved}.json.
//
//go:embed samples
var samples embed.FS

// Source types `amsctl send` can post, as written in an integration's
// `source` key, plus alertmanager-api for Alertmanager's own API.
const (
	sourceAlertmanager    = "alertmanager"
	sourceAlertmanagerAPI = "alertmanager-api"
	sourceCloudWatch      = "cloudwatch"
	sourceDatadog         = "datadog"
	sourceGeneric         = "generic"
	sourceGrafana         = "grafana"
	sourceMackerel        = "mackerel"
	sourcePagerDuty       = "pagerduty"
	sourcePagerDutyEvents = "pagerduty-events"
	sourceZabbix          = "zabbix"
)

// sendSources lists the values of --source, sorted.
var sendSources = []string{
	sourceAlertmanager, sourceAlertmanagerAPI, sourceCloudWatch, sourceDatadog, sourceGeneric,
	sourceGrafana, sourceMackerel, sourcePagerDuty, sourcePagerDutyEvents, sourceZabbix,
}

// Routes and headers of ingest's HTTP API (services/ingest/internal/httpapi).
const (
	enqueuePath            = "/v2/enqueue"
	alertmanagerAlertsPath = "/api/v2/alerts"
	pagerDutySignature     = "X-PagerDuty-Signature"
)

// sendRequest is what `amsctl send` posts, decided from the flags before
// anything goes over the network.
type sendRequest struct {
	source string
	url    *url.URL
	header http.Header
	body   []byte
}

func (c *cli) sendCommand() *cobra.Command {
	source := newChoiceFlag(sourceGeneric, sendSources...)
	var (
		integration, token, file string
		resolved                 bool
	)
	baseURL := defaultURL
	if u := c.getenv(urlEnv); u != "" {
		baseURL = u
	}
	cmd := &cobra.Command{
		Use:   "send",
		Short: "Post a test alert to ingest: a built-in sample or your own payload",
		Long: "send posts an alert to ingest's HTTP API, to check an integration end to end:\n" +
			"the built-in sample of --source (firing, or resolved with --resolved), or the body in --file.\n" +
			"\n" +
			"How --token is presented depends on --source:\n" +
			"  pagerduty         POST /v1/webhooks/{integration}, body signed with --token as the signing\n" +
			"                    secret (X-PagerDuty-Signature: v1=<HMAC-SHA256>)\n" +
			"  pagerduty-events  POST " + enqueuePath + " (PagerDuty Events API v2), --token is put in the body\n" +
			"                    as routing_key; the routing key selects the integration, so no --integration\n" +
			"  alertmanager-api  POST " + alertmanagerAlertsPath + " (Alertmanager API v2), Authorization: Bearer --token;\n" +
			"                    the token selects the integration, so no --integration\n" +
			"  any other         POST /v1/webhooks/{integration}, Authorization: Bearer --token\n" +
			"                    (cloudwatch: as an EventBridge API destination sends it)\n" +
			"\n" +
			"Prints the answer on one line, or the answer's body as is with -o json. Exits 0 when ingest\n" +
			"answers 2xx and 1 otherwise. Sending the same payload again is stored once: ingest counts it\n" +
			"as a duplicate.",
		Example: "  amsctl send --integration demo-generic --token demo-generic-secret\n" +
			"  amsctl send --source alertmanager --integration demo-alertmanager --token demo-token --resolved\n" +
			"  amsctl send --source pagerduty --integration demo-pagerduty --token demo-pagerduty-secret\n" +
			"  amsctl send --source pagerduty-events --token demo-pagerduty-events-secret\n" +
			"  amsctl send --source alertmanager-api --token demo-token\n" +
			"  amsctl send --integration acme-zabbix --source zabbix --token \"$TOKEN\" --file problem.json",
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			req, err := buildSendRequest(source.value, baseURL, integration, token, file, resolved)
			if err != nil {
				return err
			}
			return c.send(cmd.Context(), req)
		},
	}
	flags := cmd.Flags()
	flags.Var(source, "source", "payload format and endpoint: "+source.allowedList())
	flags.StringVar(&integration, "integration", "", "integration name, the {integration} of /v1/webhooks/{integration} (not for pagerduty-events, alertmanager-api)")
	flags.StringVar(&token, "token", "", "the integration's token; for pagerduty its signing secret, for pagerduty-events its routing key (required)")
	flags.StringVar(&file, "file", "", "send this file's content instead of the built-in sample")
	flags.StringVar(&baseURL, "url", baseURL, "base URL of ingest's HTTP API; $"+urlEnv+" sets the default")
	flags.BoolVar(&resolved, "resolved", false, "send the resolved variant of the built-in sample")
	return cmd
}

// buildSendRequest checks the flags and builds the request, so that every
// usage error is found before anything is sent.
func buildSendRequest(source, baseURL, integration, token, file string, resolved bool) (*sendRequest, error) {
	if token == "" {
		return nil, usageErrorf("--token is required: the integration's token (for --source pagerduty its signing secret, for pagerduty-events its routing key)")
	}
	if strings.ContainsFunc(token, unicode.IsControl) {
		return nil, usageErrorf("--token contains a control character (a newline from a file?)")
	}
	byCredential := source == sourcePagerDutyEvents || source == sourceAlertmanagerAPI
	switch {
	case byCredential && integration != "":
		return nil, usageErrorf("--integration is not used with --source %s: the token selects the integration", source)
	case !byCredential && integration == "":
		return nil, usageErrorf("--integration is required with --source %s: the name of the integration to send to", source)
	case !byCredential && (integration == "." || integration == ".."):
		return nil, usageErrorf("--integration %q is not an integration name", integration)
	}
	if resolved && file != "" {
		return nil, usageErrorf("--resolved picks the built-in resolved sample; it cannot be combined with --file")
	}

	base, err := url.Parse(baseURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, usageErrorf("--url %q: want the base URL of ingest, such as %s (the default comes from $%s)", baseURL, defaultURL, urlEnv)
	}
	var target *url.URL
	switch source {
	case sourcePagerDutyEvents:
		target = base.JoinPath(enqueuePath)
	case sourceAlertmanagerAPI:
		target = base.JoinPath(alertmanagerAlertsPath)
	default:
		// JoinPath takes escaped segments: a / in the name stays in the segment.
		target = base.JoinPath("v1", "webhooks", url.PathEscape(integration))
	}

	var body []byte
	if file != "" {
		if body, err = os.ReadFile(file); err != nil { //nolint:gosec // the operator names the file to send
			return nil, usageErrorf("--file: %v", err)
		}
	} else if body, err = sampleBody(source, resolved); err != nil {
		return nil, err
	}

	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("Accept", "application/json")
	h.Set("User-Agent", "amsctl")
	switch source {
	case sourcePagerDuty:
		// PagerDuty signs instead of sending a token; sending the secret
		// as a bearer token too would only spread it.
		h.Set(pagerDutySignature, signPagerDuty(body, token))
	case sourcePagerDutyEvents:
		if body, err = setRoutingKey(body, token); err != nil {
			if file == "" {
				return nil, fmt.Errorf("built-in sample of %s: %w", source, err)
			}
			return nil, usageErrorf("--file %s: %v", file, err)
		}
	default:
		h.Set("Authorization", "Bearer "+token)
	}
	return &sendRequest{source: source, url: target, header: h, body: body}, nil
}

// sampleBody returns the built-in sample of source.
func sampleBody(source string, resolved bool) ([]byte, error) {
	variant := "firing"
	if resolved {
		variant = "resolved"
	}
	b, err := samples.ReadFile("samples/" + source + "/" + variant + ".json")
	if errors.Is(err, fs.ErrNotExist) && resolved {
		return nil, usageErrorf("--source %s has no resolved sample: send one with --file", source)
	}
	if err != nil {
		// Every source in sendSources has a firing sample (see the tests).
		return nil, fmt.Errorf("built-in sample of %s: %w", source, err)
	}
	return b, nil
}

// signPagerDuty is the X-PagerDuty-Signature PagerDuty sends: v1= and the
// hex HMAC-SHA256 of the body keyed with the subscription's signing secret.
func signPagerDuty(body []byte, secret string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "v1=" + hex.EncodeToString(mac.Sum(nil))
}

// setRoutingKey returns the PagerDuty event body with every top-level
// routing_key (matched case-insensitively, as ingest does) set to key, or
// with routing_key added first if it has none. The rest of the body is kept
// byte for byte.
func setRoutingKey(body []byte, key string) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if d, ok := tok.(json.Delim); err != nil || !ok || d != '{' {
		return nil, errors.New("not a JSON object: a PagerDuty event is an object with routing_key, event_action and payload, and --token goes in its routing_key")
	}
	open := dec.InputOffset()
	type span struct{ start, end int64 }
	var found []span
	members := 0
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("not valid JSON: %w", err)
		}
		name, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("not valid JSON: %w", err)
		}
		members++
		if strings.EqualFold(name, "routing_key") {
			end := dec.InputOffset()
			found = append(found, span{end - int64(len(raw)), end})
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("not valid JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("not valid JSON: more data after the object")
	}

	quoted, err := json.Marshal(key)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if len(found) == 0 {
		out.Write(body[:open])
		out.WriteString(`"routing_key":`)
		out.Write(quoted)
		if members > 0 {
			out.WriteByte(',')
		}
		out.Write(body[open:])
		return out.Bytes(), nil
	}
	var last int64
	for _, s := range found {
		out.Write(body[last:s.start])
		out.Write(quoted)
		last = s.end
	}
	out.Write(body[last:])
	return out.Bytes(), nil
}

// send posts req and reports ingest's answer.
func (c *cli) send(ctx context.Context, req *sendRequest) error {
	target := req.url.String()
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(req.body))
	if err != nil {
		return usageErrorf("--url: %v", err)
	}
	hr.Header = req.header

	client := &http.Client{
		// A redirect is reported, not followed: following would turn the
		// POST into a GET or carry the token to another address.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(hr)
	var answer []byte
	if err == nil {
		answer, err = io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
		resp.Body.Close()
	}
	if err != nil {
		return c.sendError(parent, target, err)
	}

	if c.jsonWanted() {
		if len(answer) > 0 {
			if !bytes.HasSuffix(answer, []byte("\n")) {
				answer = append(answer, '\n')
			}
			if _, err := c.stdout.Write(answer); err != nil {
				return err
			}
		}
	}
	line := describeAnswer(resp.StatusCode, answer, req)
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if c.jsonWanted() {
			return nil
		}
		_, err := fmt.Fprintln(c.stdout, line)
		return err
	}
	if hint := answerHint(resp, answer, req); hint != "" {
		return &hintError{err: errors.New(line), hint: hint}
	}
	return errors.New(line)
}

// sendError words a failure to get an answer at all.
func (c *cli) sendError(parent context.Context, target string, err error) error {
	if parent.Err() != nil {
		return fmt.Errorf("send to %s: interrupted", target)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &hintError{
			err:  fmt.Errorf("send to %s: no answer within %s", target, c.timeout),
			hint: "is ams running with ingest? (make run) Allow longer with --timeout.",
		}
	}
	if ue := (*url.Error)(nil); errors.As(err, &ue) {
		err = ue.Err
	}
	return &hintError{
		err:  fmt.Errorf("send to %s: %w", target, err),
		hint: "is ams running with ingest? (make run) The address comes from --url or $" + urlEnv + ".",
	}
}

// ingestAnswer has the fields of every answer body ingest sends: the native
// webhook's ({"accepted","duplicates","alert_ids"}, {"accepted":0,
// "ignored"}, {"error"}) and the Events API's ({"status","message",
// "dedup_key","errors"}).
type ingestAnswer struct {
	Accepted   *int     `json:"accepted"`
	Duplicates int      `json:"duplicates"`
	AlertIDs   []string `json:"alert_ids"`
	Ignored    *string  `json:"ignored"`
	Error      *string  `json:"error"`
	Message    string   `json:"message"`
	DedupKey   string   `json:"dedup_key"`
	Errors     []string `json:"errors"`
}

// describeAnswer is the one line printed for an answer: the status, and
// what the body says, e.g. "202 Accepted: 1 alert stored (0 duplicates),
// ids: 0190...".
func describeAnswer(code int, body []byte, req *sendRequest) string {
	status := strconv.Itoa(code)
	if text := http.StatusText(code); text != "" {
		status += " " + text
	}
	if detail := answerDetail(code, body, req); detail != "" {
		return status + ": " + detail
	}
	return status
}

func answerDetail(code int, body []byte, req *sendRequest) string {
	if len(bytes.TrimSpace(body)) == 0 {
		// Alertmanager's API answers a stored batch with an empty 200.
		if req.source == sourceAlertmanagerAPI && code >= 200 && code < 300 {
			var alerts []json.RawMessage
			if json.Unmarshal(req.body, &alerts) == nil {
				return "accepted (" + plural(len(alerts), "alert") + " sent)"
			}
			return "accepted"
		}
		return ""
	}
	var a ingestAnswer
	if err := json.Unmarshal(body, &a); err == nil {
		switch {
		case a.Error != nil:
			return oneLine(*a.Error)
		case a.Ignored != nil:
			return "ignored (" + oneLine(*a.Ignored) + ")"
		case a.Accepted != nil:
			s := fmt.Sprintf("%s stored (%s)", plural(*a.Accepted, "alert"), plural(a.Duplicates, "duplicate"))
			if len(a.AlertIDs) > 0 {
				ids := make([]string, len(a.AlertIDs))
				for i, id := range a.AlertIDs {
					ids[i] = oneLine(id)
				}
				s += ", ids: " + strings.Join(ids, ", ")
			}
			return s
		case a.Message != "":
			s := oneLine(a.Message)
			if len(a.Errors) > 0 {
				s += ": " + oneLine(strings.Join(a.Errors, "; "))
			}
			if a.DedupKey != "" {
				s += ", dedup_key: " + oneLine(a.DedupKey)
			}
			return s
		}
	}
	// Alertmanager's API words errors as a bare JSON string.
	var msg string
	if err := json.Unmarshal(body, &msg); err == nil {
		return oneLine(msg)
	}
	// Not ingest's JSON (a proxy's error page, a wrong --url): show the start.
	return truncate(oneLine(string(body)), 200)
}

// answerHint suggests what to check after a failed answer, where the answer
// alone does not make it obvious.
func answerHint(resp *http.Response, body []byte, req *sendRequest) string {
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		if loc := resp.Header.Get("Location"); loc != "" {
			return "ingest redirected to " + oneLine(loc) + "; use that address as --url."
		}
	case resp.StatusCode == http.StatusUnauthorized:
		switch req.source {
		case sourcePagerDuty:
			return "--token must be one of the integration's signing_secrets."
		case sourceAlertmanagerAPI:
			return "--token must be one of the tokens of an integration with source alertmanager."
		default:
			return "--token must be one of the integration's tokens."
		}
	case resp.StatusCode == http.StatusBadRequest && req.source == sourcePagerDutyEvents:
		var a ingestAnswer
		if json.Unmarshal(body, &a) == nil && len(a.Errors) == 1 && a.Errors[0] == "Invalid routing key" {
			return "--token must be one of the routing_keys of an integration with source pagerduty-events."
		}
	}
	return ""
}

// plural is "1 alert", "2 alerts", "0 alerts".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

package awsfake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// SSM's documented limits on GetCommandInvocation's inline output.
const (
	maxStdoutChars = 24000
	maxStderrChars = 8000
)

// Document is an SSM Command document of one account.
type Document struct {
	Name       string
	Parameters []DocumentParameter
	// Run is the document's script, run once per instance. env holds every
	// declared parameter as SSM_<name>, as the agent sets them for
	// interpolationType: ENV_VAR, so a test can see the values exactly as
	// the script would, and AWS_SSM_INSTANCE_ID, which the agent sets too.
	// A nil Run prints nothing and exits 0.
	Run func(env map[string]string) (stdout, stderr string, exitCode int)
	// UnseenPolls is how many GetCommandInvocation calls answer
	// InvocationDoesNotExist first: SSM is eventually consistent and
	// right after SendCommand the invocation is often not visible yet.
	UnseenPolls int
	// InProgressPolls is how many GetCommandInvocation calls answer
	// InProgress before the result; negative: the command never finishes.
	InProgressPolls int
}

// DocumentParameter is a parameter a document declares. A parameter is
// required unless Optional; an omitted optional one gets Default.
type DocumentParameter struct {
	Name string
	// AllowedPattern is the document's allowedPattern, a regular
	// expression the value must match. As in SSM, it is not implicitly
	// anchored: documents anchor it with ^ and $.
	AllowedPattern string
	Optional       bool
	Default        string
}

// Command is a command SendCommand accepted.
type Command struct {
	ID          string
	Account     string
	Document    string
	InstanceIDs []string
	// Parameters are as received on the wire.
	Parameters     map[string][]string
	Env            map[string]string
	TimeoutSeconds int
	// Cancelled is whether CancelCommand was called for it.
	Cancelled bool
}

type docKey struct{ account, name string }

type command struct {
	Command
	doc         *Document
	requested   time.Time
	invocations map[string]*invocation // by instance id
}

type invocation struct {
	polls          int
	done           bool
	cancelled      bool // CancelCommand arrived while it was running
	stdout, stderr string
	code           int
	started, ended time.Time
}

// AddDocument registers a document in account. Its patterns are compiled
// here, so a bad one fails the test that wrote it.
func (f *Fake) AddDocument(account string, d Document) error {
	for _, p := range d.Parameters {
		if p.AllowedPattern != "" {
			if _, err := regexp.Compile(p.AllowedPattern); err != nil {
				return fmt.Errorf("document %s parameter %s: allowedPattern: %w", d.Name, p.Name, err)
			}
		}
	}
	d.Parameters = append([]DocumentParameter(nil), d.Parameters...)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.documents[docKey{account, d.Name}] = &d
	return nil
}

// Commands returns every command SendCommand accepted, oldest first.
func (f *Fake) Commands() []Command {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Command, 0, len(f.order))
	for _, id := range f.order {
		c := f.commands[id].Command
		c.InstanceIDs = append([]string(nil), c.InstanceIDs...)
		c.Env = copyMap(c.Env)
		params := make(map[string][]string, len(c.Parameters))
		for k, v := range c.Parameters {
			params[k] = append([]string(nil), v...)
		}
		c.Parameters = params
		out = append(out, c)
	}
	return out
}

// jsonProto is awsJson1.1: POST / with X-Amz-Target, JSON both ways,
// errors as {"__type": code, "message": ...}.
type jsonProto struct{}

func (jsonProto) service() string      { return "ssm" }
func (jsonProto) throttleCode() string { return "ThrottlingException" }
func (jsonProto) internalCode() string { return "InternalServerError" }

func (jsonProto) writeError(w http.ResponseWriter, status int, code, msg string) {
	body := map[string]string{"__type": code}
	if msg != "" {
		body["message"] = msg
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Requestid", requestID())
	w.WriteHeader(status)
	_, _ = w.Write(data)
}

func (x *exchange) okJSON(v any) {
	writeJSON(x.resp, http.StatusOK, v)
}

func (f *Fake) serveSSM(x *exchange) {
	switch x.op {
	case "SendCommand":
		f.sendCommand(x)
	case "GetCommandInvocation":
		f.getCommandInvocation(x)
	case "CancelCommand":
		f.cancelCommand(x)
	default:
		x.fail(http.StatusBadRequest, "UnknownOperationException", "unknown operation "+x.op)
	}
}

// decodeJSON reads the body strictly enough to catch a client that sent
// the wrong shape: a value of the wrong type is a SerializationException.
func decodeJSON(x *exchange, v any) bool {
	if err := json.NewDecoder(bytes.NewReader(x.body)).Decode(v); err != nil {
		x.fail(http.StatusBadRequest, "SerializationException", err.Error())
		return false
	}
	return true
}

func (f *Fake) sendCommand(x *exchange) {
	var in struct {
		DocumentName           string              `json:"DocumentName"`
		InstanceIDs            []string            `json:"InstanceIds"`
		Targets                []json.RawMessage   `json:"Targets"`
		Parameters             map[string][]string `json:"Parameters"`
		TimeoutSeconds         *int                `json:"TimeoutSeconds"`
		Comment                string              `json:"Comment"`
		CloudWatchOutputConfig *struct {
			CloudWatchOutputEnabled bool `json:"CloudWatchOutputEnabled"`
		} `json:"CloudWatchOutputConfig"`
	}
	if !decodeJSON(x, &in) {
		return
	}
	x.call.InstanceIDs = in.InstanceIDs
	switch {
	case in.DocumentName == "":
		x.fail(http.StatusBadRequest, "ValidationException", "1 validation error detected: Value null at 'documentName' failed to satisfy constraint: Member must not be null")
		return
	case len(in.Targets) > 0:
		x.fail(http.StatusBadRequest, "InvalidParameters", "the fake supports InstanceIds, not Targets")
		return
	case len(in.InstanceIDs) == 0 || len(in.InstanceIDs) > 50:
		x.fail(http.StatusBadRequest, "ValidationException", "1 validation error detected: Value at 'instanceIds' failed to satisfy constraint: Member must have length between 0 and 50")
		return
	case in.TimeoutSeconds != nil && (*in.TimeoutSeconds < 30 || *in.TimeoutSeconds > 2592000):
		x.fail(http.StatusBadRequest, "ValidationException", fmt.Sprintf("1 validation error detected: Value '%d' at 'timeoutSeconds' failed to satisfy constraint: Member must have value between 30 and 2592000", *in.TimeoutSeconds))
		return
	}
	timeout := 3600
	if in.TimeoutSeconds != nil {
		timeout = *in.TimeoutSeconds
	}

	f.mu.Lock()
	doc, ok := f.documents[docKey{x.account, in.DocumentName}]
	if !ok {
		f.mu.Unlock()
		x.fail(http.StatusBadRequest, "InvalidDocument", fmt.Sprintf("Document with name %s does not exist.", in.DocumentName))
		return
	}
	var bad []string
	for _, id := range in.InstanceIDs {
		inst, ok := f.instances[id]
		if !ok || inst.Account != x.account || inst.State != "running" {
			bad = append(bad, id)
		}
	}
	if len(bad) > 0 {
		f.mu.Unlock()
		x.fail(http.StatusBadRequest, "InvalidInstanceId", fmt.Sprintf("Instances [[%s]] not in a valid state for account %s", strings.Join(bad, ", "), x.account))
		return
	}
	env, err := documentEnv(doc, in.Parameters)
	if err != nil {
		f.mu.Unlock()
		x.fail(http.StatusBadRequest, "InvalidParameters", err.Error())
		return
	}
	now := time.Now()
	c := &command{
		Command: Command{
			ID: requestID(), Account: x.account, Document: in.DocumentName,
			InstanceIDs: append([]string(nil), in.InstanceIDs...), Parameters: in.Parameters,
			Env: env, TimeoutSeconds: timeout,
		},
		doc:         doc,
		requested:   now,
		invocations: map[string]*invocation{},
	}
	for _, id := range in.InstanceIDs {
		c.invocations[id] = &invocation{started: now}
	}
	f.commands[c.ID] = c
	f.order = append(f.order, c.ID)
	run := doc.Run
	f.mu.Unlock()
	x.call.Applied = true

	// The script runs outside the lock: it is the caller's code.
	for _, id := range in.InstanceIDs {
		stdout, stderr, code := "", "", 0
		if run != nil {
			scriptEnv := copyMap(env)
			scriptEnv["AWS_SSM_INSTANCE_ID"] = id
			stdout, stderr, code = run(scriptEnv)
		}
		f.mu.Lock()
		inv := c.invocations[id]
		inv.stdout, inv.stderr, inv.code, inv.done, inv.ended = stdout, stderr, code, true, time.Now()
		f.mu.Unlock()
	}

	cw := false
	if in.CloudWatchOutputConfig != nil {
		cw = in.CloudWatchOutputConfig.CloudWatchOutputEnabled
	}
	params := in.Parameters
	if params == nil {
		params = map[string][]string{}
	}
	x.okJSON(map[string]any{"Command": map[string]any{
		"CommandId":              c.ID,
		"DocumentName":           in.DocumentName,
		"DocumentVersion":        "$DEFAULT",
		"Comment":                in.Comment,
		"InstanceIds":            in.InstanceIDs,
		"Parameters":             params,
		"RequestedDateTime":      epochSeconds(now),
		"ExpiresAfter":           epochSeconds(now.Add(time.Duration(timeout) * time.Second)),
		"Status":                 "Pending",
		"StatusDetails":          "Pending",
		"TimeoutSeconds":         timeout,
		"TargetCount":            len(in.InstanceIDs),
		"CompletedCount":         0,
		"ErrorCount":             0,
		"DeliveryTimedOutCount":  0,
		"MaxConcurrency":         "50",
		"MaxErrors":              "0",
		"CloudWatchOutputConfig": map[string]any{"CloudWatchOutputEnabled": cw},
	}})
}

// documentEnv checks the parameters against the document's declarations
// and returns the script's environment.
func documentEnv(doc *Document, params map[string][]string) (map[string]string, error) {
	declared := map[string]DocumentParameter{}
	for _, p := range doc.Parameters {
		declared[p.Name] = p
	}
	names := make([]string, 0, len(params))
	for name := range params {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if _, ok := declared[name]; !ok {
			return nil, fmt.Errorf("Parameter %q is not declared in document %s.", name, doc.Name) //nolint:revive,staticcheck // AWS's own error text, which the fake reproduces
		}
	}
	env := map[string]string{}
	for _, p := range doc.Parameters {
		values, given := params[p.Name]
		value := p.Default
		switch {
		case !given && !p.Optional:
			return nil, fmt.Errorf("Parameter %q is required by document %s.", p.Name, doc.Name) //nolint:revive,staticcheck // AWS's own error text, which the fake reproduces
		case given && len(values) != 1:
			return nil, fmt.Errorf("Parameter %q of type String takes exactly one value, got %d.", p.Name, len(values)) //nolint:revive,staticcheck // AWS's own error text, which the fake reproduces
		case given:
			value = values[0]
		}
		if p.AllowedPattern != "" && (given || value != "") {
			if !regexp.MustCompile(p.AllowedPattern).MatchString(value) {
				return nil, fmt.Errorf("Parameter %q value failed to satisfy constraint: Member must satisfy regular expression pattern: %s", p.Name, p.AllowedPattern) //nolint:staticcheck // AWS's own error text, which the fake reproduces
			}
		}
		env["SSM_"+p.Name] = value
	}
	return env, nil
}

func (f *Fake) getCommandInvocation(x *exchange) {
	var in struct {
		CommandID  string `json:"CommandId"`
		InstanceID string `json:"InstanceId"`
		PluginName string `json:"PluginName"`
	}
	if !decodeJSON(x, &in) {
		return
	}
	x.call.InstanceIDs = []string{in.InstanceID}
	f.mu.Lock()
	c, ok := f.commands[in.CommandID]
	var inv *invocation
	if ok && c.Account == x.account {
		inv = c.invocations[in.InstanceID]
	}
	if inv == nil {
		f.mu.Unlock()
		x.fail(http.StatusBadRequest, "InvocationDoesNotExist", "")
		return
	}
	inv.polls++
	if inv.polls <= c.doc.UnseenPolls {
		f.mu.Unlock()
		x.fail(http.StatusBadRequest, "InvocationDoesNotExist", "")
		return
	}
	seen := inv.polls - c.doc.UnseenPolls
	running := !inv.done || c.doc.InProgressPolls < 0 || seen <= c.doc.InProgressPolls
	out := map[string]any{
		"CommandId":              c.ID,
		"InstanceId":             in.InstanceID,
		"DocumentName":           c.Document,
		"DocumentVersion":        "1",
		"PluginName":             "aws:runShellScript",
		"ExecutionStartDateTime": inv.started.UTC().Format("2006-01-02T15:04:05.000Z"),
		"CloudWatchOutputConfig": map[string]any{"CloudWatchOutputEnabled": false},
	}
	switch {
	case running && inv.cancelled:
		out["Status"], out["StatusDetails"], out["ResponseCode"] = "Cancelled", "Cancelled", -1
		out["StandardOutputContent"], out["StandardErrorContent"] = "", ""
	case running:
		out["Status"], out["StatusDetails"], out["ResponseCode"] = "InProgress", "InProgress", -1
		out["StandardOutputContent"], out["StandardErrorContent"] = "", ""
	default:
		status := "Success"
		if inv.code != 0 {
			status = "Failed"
		}
		out["Status"], out["StatusDetails"], out["ResponseCode"] = status, status, inv.code
		out["StandardOutputContent"] = truncateChars(inv.stdout, maxStdoutChars)
		out["StandardErrorContent"] = truncateChars(inv.stderr, maxStderrChars)
		out["ExecutionEndDateTime"] = inv.ended.UTC().Format("2006-01-02T15:04:05.000Z")
		out["ExecutionElapsedTime"] = fmt.Sprintf("PT%.3fS", inv.ended.Sub(inv.started).Seconds())
	}
	f.mu.Unlock()
	x.okJSON(out)
}

// cancelCommand asks SSM to stop a command. As in SSM it is asynchronous
// and succeeds for a command that already ended; invocations still running
// then report Cancelled. A command of another account does not exist.
func (f *Fake) cancelCommand(x *exchange) {
	var in struct {
		CommandID   string   `json:"CommandId"`
		InstanceIDs []string `json:"InstanceIds"`
	}
	if !decodeJSON(x, &in) {
		return
	}
	x.call.InstanceIDs = in.InstanceIDs
	f.mu.Lock()
	c, ok := f.commands[in.CommandID]
	if !ok || c.Account != x.account {
		f.mu.Unlock()
		x.fail(http.StatusBadRequest, "InvalidCommandId", "")
		return
	}
	for id, inv := range c.invocations {
		if len(in.InstanceIDs) == 0 || slices.Contains(in.InstanceIDs, id) {
			inv.cancelled = true
		}
	}
	c.Cancelled = true
	f.mu.Unlock()
	x.call.Applied = true
	x.okJSON(map[string]any{})
}

// truncateChars keeps the first n characters, as SSM does with inline output.
func truncateChars(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i := 0
	for pos := range s {
		if i == n {
			return s[:pos]
		}
		i++
	}
	return s
}

// epochSeconds is how awsJson encodes a timestamp: seconds since the epoch.
func epochSeconds(t time.Time) float64 {
	return float64(t.UnixMilli()) / 1000
}

package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace/noop"
	"golang.org/x/crypto/ssh"

	"github.com/amsproject/ams/pkg/bus"
	"github.com/amsproject/ams/pkg/config"
	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/executor/internal/awsstep"
	"github.com/amsproject/ams/services/executor/internal/injection"
	"github.com/amsproject/ams/services/executor/internal/probe"
	"github.com/amsproject/ams/services/executor/internal/rails"
	"github.com/amsproject/ams/services/executor/internal/scope"
	"github.com/amsproject/ams/services/executor/internal/sshstep"
	"github.com/amsproject/ams/services/executor/internal/step"
	"github.com/amsproject/ams/services/executor/runbook"
	"github.com/amsproject/ams/services/executor/sandbox/awsfake"
	"github.com/amsproject/ams/services/executor/sandbox/dnsfake"
	"github.com/amsproject/ams/services/executor/sandbox/sshd"
)

// This file puts the injection corpus into alerts and runs them through
// the engine and the real step kinds: SSM and EC2 and CloudWatch against
// awsfake through aws-sdk-go-v2, SSH against a real SSH server whose
// commands a real /bin/sh runs, and the HTTP, TCP and DNS probes against
// real servers. Every value, in every parameter kind, must either stop the
// run before any step with a bad-parameter reason, or (when a permissive
// pattern lets it through) arrive as exactly one argument or one document
// parameter, byte for byte, with no file on the host touched and no extra
// command sent; a target (host, URL, address, instance) must be refused or
// stopped by the tenant check with nothing sent.

const (
	injAccount  = "111111111111"
	injRole     = "arn:aws:iam::111111111111:role/ams-executor"
	injExtID    = "acme-injection"
	injInstance = "i-0a1b2c3d4e5f60718"
	injDocument = "AMS-Inject"
	injKey      = "AKIAMSPEXAMPLEKEY01"
	injSecret   = "msp-secret"
	// injBatch is how many values one run of the batch runbook carries.
	injBatch = 8
	// injWorkers is how many runs go through the engine at once.
	injWorkers = 4
)

// safePattern is the widest pattern Load takes without allow_unsafe: any
// text without a shell metacharacter or a control character that does not
// start with '-'. unsafePattern is what allow_unsafe lets through: anything.
const (
	safeClass     = `;|&$\x60<>()'"*? \\\x00-\x1f\x7f`
	safePattern   = `[^-` + safeClass + `][^` + safeClass + `]*`
	unsafePattern = `[\s\S]+`
)

// shellSyntax are the characters safePattern refuses anywhere (the runbook
// package's shellMeta).
const shellSyntax = ";|&$`\n<>()'\"* ?\t\r\\"

// universallyRefused says whether v is refused whatever the pattern: the
// runbook takes no empty, over-long, non-UTF-8 or NUL value.
func universallyRefused(v string) bool {
	return v == "" || len(v) > runbook.MaxValueBytes || !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0
}

// inert says whether safePattern matches v: nothing a shell or a program
// would read as syntax or an option.
func inert(v string) bool {
	if strings.ContainsAny(v, shellSyntax) || strings.HasPrefix(v, "-") {
		return false
	}
	for _, c := range v {
		if c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

// q writes s as a YAML double-quoted scalar (JSON is valid YAML).
func q(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// injKind is one parameter kind: a step block using {{v}}.
type injKind struct {
	name string
	// target: v is what the step acts on (host, URL, address, instance);
	// it must be refused or stopped by the tenant check, never reached.
	target bool
	// block is the step's kind and settings, with {{v}} for the value.
	block string
	// good is a value that reaches the machine: the control run.
	good string
	// counter is the side effect a run that reaches the machine leaves.
	counter string
}

// step is the kind's step in a runbook, named after the kind.
func (k injKind) step() string {
	kind, _, _ := strings.Cut(k.block, ":")
	return "  - name: " + k.name + "\n    kind: " + kind + "\n    timeout: 10s\n    " + k.block + "\n"
}

// injRun is one incident through the engine.
type injRun struct {
	id     string
	values []string // labels v (one value) or v0..v7 (batch)
	seq    int      // unique; the CloudWatch datapoint value of this run
	inc    *amsv1.Incident
	rec    *Record
	err    error
}

// injectionWorld is one engine with the real step kinds and the machines
// they act on.
type injectionWorld struct {
	h      *harness
	e      *Engine
	aws    *awsfake.Fake
	ssh    *sshd.Server
	dir    string // the SSH host's working directory (HOME), with injection.Files
	probes *countingProbe
	url    string // the HTTP server's health URL
	port   int    // the TCP listener's port
	kinds  []injKind
	seq    int

	mu      sync.Mutex
	httpLog []string
	accepts int
	stdout  map[string]string            // raw SSH stdout by run id (its first NUL-ended field)
	env     map[string]map[string]string // SSM script environment by SSM_run
}

// countingProbe passes probes to the real prober and counts them; the DNS
// server keeps no log of its own.
type countingProbe struct {
	Probe
	mu    sync.Mutex
	calls []string
}

func (c *countingProbe) add(s string) {
	c.mu.Lock()
	c.calls = append(c.calls, s)
	c.mu.Unlock()
}

func (c *countingProbe) HTTP(ctx context.Context, url, method string, expect int, timeout time.Duration) (step.Result, error) {
	c.add("http " + url)
	return c.Probe.HTTP(ctx, url, method, expect, timeout)
}

func (c *countingProbe) TCP(ctx context.Context, address string, timeout time.Duration) (step.Result, error) {
	c.add("tcp " + address)
	return c.Probe.TCP(ctx, address, timeout)
}

func (c *countingProbe) DNS(ctx context.Context, name, qtype string, timeout time.Duration) (step.Result, error) {
	c.add("dns " + name)
	return c.Probe.DNS(ctx, name, qtype, timeout)
}

func newInjectionWorld(t *testing.T) *injectionWorld {
	h := newHarness(t)
	w := &injectionWorld{h: h, stdout: map[string]string{}, env: map[string]map[string]string{}}

	// AWS: the tenant's role, one instance of its own, one document.
	w.aws = awsfake.New()
	awsSrv := httptest.NewServer(w.aws)
	t.Cleanup(awsSrv.Close)
	w.aws.AddCaller(injKey, injSecret)
	w.aws.AddRole(injRole, injExtID)
	w.aws.AddInstance(awsfake.Instance{ID: injInstance, Account: injAccount, Tags: map[string]string{"Customer": "acme"}})
	params := []awsfake.DocumentParameter{{Name: "run", AllowedPattern: `^[a-z][a-z0-9-]{0,63}$`}}
	for i := range injBatch {
		// As wide as allowedPattern goes: this is about transport, the
		// runbook's patterns are what decide.
		params = append(params, awsfake.DocumentParameter{Name: fmt.Sprintf("v%d", i), AllowedPattern: `^[\s\S]*$`, Optional: true})
	}
	require.NoError(t, w.aws.AddDocument(injAccount, awsfake.Document{
		Name: injDocument, Parameters: params,
		Run: func(env map[string]string) (string, string, int) {
			w.mu.Lock()
			defer w.mu.Unlock()
			w.env[env["SSM_run"]] = env
			return "ok\n", "", 0
		},
	}))
	w.aws.AddDatapoints(injAccount, "AWS/EC2", "CPUUtilization", map[string]string{"InstanceId": injInstance},
		awsfake.Datapoint{Time: time.Now().Add(-2 * time.Minute), Value: 42})

	// SSH: a real server whose commands /bin/sh runs in dir, next to files
	// a glob or a redirection would find.
	w.dir = t.TempDir()
	for _, name := range injection.Files {
		require.NoError(t, os.WriteFile(filepath.Join(w.dir, name), []byte(name), 0o600))
	}
	key, err := sshd.NewClientKey()
	require.NoError(t, err)
	shell := sshd.Shell(w.dir)
	w.ssh, err = sshd.Start(sshd.Options{
		AuthorizedKeys: []ssh.PublicKey{key.PublicKey()},
		Dir:            w.dir,
		Exec: func(ctx context.Context, user, command string) ([]byte, []byte, int) {
			out, errOut, exit := shell(ctx, user, command)
			run, _, _ := strings.Cut(string(out), "\x00")
			w.mu.Lock()
			w.stdout[run] = string(out)
			w.mu.Unlock()
			return out, errOut, exit
		},
	})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, w.ssh.Close()) })
	keyFile, knownHosts, err := sshd.WriteClientFiles(t.TempDir(), key, w.ssh.KnownHostsLine(""))
	require.NoError(t, err)

	// HTTP, TCP and DNS: servers that log what reached them.
	httpSrv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.mu.Lock()
		w.httpLog = append(w.httpLog, r.URL.String())
		w.mu.Unlock()
		rw.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(httpSrv.Close)
	w.url = httpSrv.URL + "/healthz"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	w.port = ln.Addr().(*net.TCPAddr).Port
	accepting := make(chan struct{})
	go func() {
		defer close(accepting)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			w.mu.Lock()
			w.accepts++
			w.mu.Unlock()
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-accepting })
	records, err := dnsfake.ParseRecords("web.acme.test. 60 IN A 10.0.0.5")
	require.NoError(t, err)
	dns, err := dnsfake.Start(records)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, dns.Close()) })

	hostScope, err := scope.New("acme", []string{"127.0.0.1", "*.acme.test"})
	require.NoError(t, err)
	// No step is a recovery: the storm breaker and the rate limits do not
	// apply, and a run only waits for one of the tenant's slots.
	ten := &Tenant{Hosts: hostScope, Executor: config.TenantExecutor{
		Concurrency: 2 * injWorkers,
		SSH:         &config.ExecutorSSH{User: "ams", Port: w.ssh.Port(), KeyFile: keyFile, KnownHostsFile: knownHosts},
		AWS:         &config.ExecutorAWS{RoleARN: injRole, ExternalID: injExtID, Region: "eu-west-1", Tags: map[string]string{"Customer": "acme"}},
	}}
	w.probes = &countingProbe{Probe: probe.New(probe.Options{DNSServer: dns.Addr(), MaxOutput: 1 << 16})}

	// The argument kinds first: a run of the all-kinds runbook goes through
	// them and stops at the first target.
	w.kinds = []injKind{
		{name: "ssh-argv", counter: "ssh", good: "web-01",
			block: `ssh: {host: "127.0.0.1", argv: [printf, ` + q(`%s\0`) + `, "{{run}}", "{{v}}"]}`},
		{name: "ssm-parameter", counter: "SendCommand", good: "/var/log",
			block: `ssm: {document: ` + injDocument + `, instance: "{{instance}}", parameters: {run: "{{run}}", v0: "{{v}}"}}`},
		{name: "cloudwatch-dimension", counter: "GetMetricData", good: "web-01",
			block: `cloudwatch: {namespace: AMS/Injection, metric: Probe, stat: Maximum, period: 1m, dimensions: {Run: "{{run}}", V0: "{{v}}"}}`},
		{name: "ssh-host", counter: "ssh", good: "127.0.0.1", target: true,
			block: `ssh: {host: "{{v}}", argv: [printf, ` + q(`%s\0`) + `, "{{run}}"]}`},
		{name: "ssm-instance", counter: "SendCommand", good: injInstance, target: true,
			block: `ssm: {document: ` + injDocument + `, instance: "{{v}}", parameters: {run: "{{run}}"}}`},
		{name: "ec2-instance", counter: "DescribeInstanceStatus", good: injInstance, target: true,
			block: `ec2: {action: status, instance: "{{v}}"}`},
		{name: "cloudwatch-instance", counter: "GetMetricData", good: injInstance, target: true,
			block: `cloudwatch: {namespace: AWS/EC2, metric: CPUUtilization, stat: Maximum, period: 1m, dimensions: {InstanceId: "{{v}}"}}`},
		{name: "http-url", counter: "http", good: w.url, target: true,
			block: `http: {url: "{{v}}", expect_status: 200}`},
		{name: "tcp-address", counter: "tcp", good: "127.0.0.1", target: true,
			block: fmt.Sprintf(`tcp: {address: "{{v}}", port: %d}`, w.port)},
		{name: "dns-name", counter: "probe-dns", good: "web.acme.test", target: true,
			block: `dns: {name: "{{v}}", type: A}`},
	}
	for _, unsafe := range []bool{false, true} {
		all := ""
		for _, k := range w.kinds {
			w.addRunbook(t, injRunbookName(k.name, unsafe), []string{"v"}, unsafe, k.step())
			all += k.step()
		}
		w.addRunbook(t, injRunbookName("all", unsafe), []string{"v"}, unsafe, all)
	}
	w.addRunbook(t, "inj-unsafe-arguments", batchParams(), true, batchSteps())

	w.e = New(Options{
		Runs: h.runs, Rails: rails.New(h.rkv, false), Publisher: bus.NewPublisher(h.js, "executor", noop.NewTracerProvider()),
		Schedule: func(ctx context.Context, subject, target string, at time.Time, data []byte) error {
			return bus.Schedule(ctx, h.js, subject, target, at, data)
		},
		Runbooks: func() map[string]*runbook.Runbook { return h.rbs },
		Tenants:  map[string]*Tenant{"acme": ten},
		AWS: awsstep.New(awsstep.Options{
			Endpoints:    config.AWSEndpoints{STS: awsSrv.URL, SSM: awsSrv.URL, EC2: awsSrv.URL, CloudWatch: awsSrv.URL},
			PollInterval: 5 * time.Millisecond,
			Base: func(context.Context) (aws.Config, error) {
				return aws.Config{
					Region: "eu-west-1",
					Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
						return aws.Credentials{AccessKeyID: injKey, SecretAccessKey: injSecret, Source: "test"}, nil
					}),
					Retryer: func() aws.Retryer {
						return retry.NewStandard(func(o *retry.StandardOptions) { o.MaxBackoff = 5 * time.Millisecond })
					},
				}, nil
			},
		}),
		SSH:   sshstep.New(sshstep.Options{MaxOutput: 1 << 16}),
		Probe: w.probes,
		Owner: "injection", MaxOutput: 1 << 16, Lease: 30 * time.Second, ApprovalTimeout: time.Minute, QueueWait: 10 * time.Second,
		Now: time.Now, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	return w
}

func injRunbookName(kind string, unsafe bool) string {
	if unsafe {
		return "inj-unsafe-" + kind
	}
	return "inj-safe-" + kind
}

// addRunbook loads a runbook whose value parameters (names) come from the
// alert labels of the same name, with run (the incident id) and instance
// (the alert's own, good instance) beside them.
func (w *injectionWorld) addRunbook(t *testing.T, name string, names []string, unsafe bool, steps string) {
	pattern := safePattern
	if unsafe {
		pattern = unsafePattern
	}
	var b strings.Builder
	fmt.Fprintf(&b, "name: %s\ndescription: The injection corpus through the engine.\nparameters:\n", name)
	b.WriteString("  run: {from: incident.id, pattern: '^[a-z][a-z0-9-]{0,63}$'}\n")
	b.WriteString("  instance: {from: alert.resource.instance_id, pattern: '^i-[0-9a-f]{17}$'}\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  %s: {from: alert.labels.%s, pattern: %s, allow_unsafe: %t}\n", n, n, q(pattern), unsafe)
	}
	b.WriteString("steps:\n")
	b.WriteString(steps)
	rb, err := runbook.Load([]byte(b.String()), name+".yaml")
	require.NoError(t, err, "%s", b.String())
	w.h.rbs[rb.Name] = rb
}

// batchParams are the value parameters of the batch runbook, v0..v7.
func batchParams() []string {
	names := make([]string, injBatch)
	for i := range names {
		names[i] = fmt.Sprintf("v%d", i)
	}
	return names
}

// batchSteps put v0..v7 in every argument kind at once: SSH argv elements,
// SSM document parameters and CloudWatch dimensions.
func batchSteps() string {
	argv := []string{"printf", q(`%s\0`), `"{{run}}"`}
	ssm := []string{`run: "{{run}}"`}
	dims := []string{`Run: "{{run}}"`}
	for i, n := range batchParams() {
		argv = append(argv, `"{{`+n+`}}"`)
		ssm = append(ssm, fmt.Sprintf(`%s: "{{%s}}"`, n, n))
		dims = append(dims, fmt.Sprintf(`V%d: "{{%s}}"`, i, n))
	}
	return "  - name: ssh\n    kind: ssh\n    timeout: 10s\n    ssh: {host: \"127.0.0.1\", argv: [" + strings.Join(argv, ", ") + "]}\n" +
		"  - name: ssm\n    kind: ssm\n    timeout: 10s\n    ssm: {document: " + injDocument + ", instance: \"{{instance}}\", parameters: {" + strings.Join(ssm, ", ") + "}}\n" +
		"  - name: cloudwatch\n    kind: cloudwatch\n    cloudwatch: {namespace: AMS/Injection, metric: Probe, stat: Maximum, period: 1m, dimensions: {" + strings.Join(dims, ", ") + "}}\n"
}

// newRun makes the incident of one run: values in the labels v (one) or
// v0..v7 (batch) and the good instance on the alert; for a runbook that
// queries CloudWatch (metric), a datapoint that only a query with exactly
// these dimensions finds.
func (w *injectionWorld) newRun(id, rb string, values []string, metric bool) *injRun {
	w.seq++
	labels := map[string]string{}
	dims := map[string]string{"Run": id}
	if len(values) == 1 {
		labels["v"] = values[0]
		dims["V0"] = values[0]
	} else {
		for i, v := range values {
			labels[fmt.Sprintf("v%d", i)] = v
			dims[fmt.Sprintf("V%d", i)] = v
		}
	}
	if metric {
		w.aws.AddDatapoints(injAccount, "AMS/Injection", "Probe", dims, awsfake.Datapoint{Time: time.Now().Add(-2 * time.Minute), Value: float64(w.seq)})
	}
	return &injRun{id: id, values: values, seq: w.seq, inc: &amsv1.Incident{
		Id: id, Tenant: "acme", Runbook: rb, Title: "injection",
		Alert: &amsv1.Alert{Resource: &amsv1.Resource{Host: "web.acme.test", InstanceId: injInstance}, Labels: labels},
	}}
}

// handle runs every incident through the engine, injWorkers at a time,
// and reads each run's record.
func (w *injectionWorld) handle(t *testing.T, runs []*injRun) {
	ctx := t.Context()
	jobs := make(chan *injRun)
	var wg sync.WaitGroup
	for range injWorkers {
		wg.Go(func() {
			for r := range jobs {
				if r.err = w.e.Handle(ctx, r.inc, nobeat); r.err == nil {
					r.rec, r.err = LoadRecord(ctx, w.h.runs, "acme", r.id)
				}
			}
		})
	}
	for _, r := range runs {
		jobs <- r
	}
	close(jobs)
	wg.Wait()
	for _, r := range runs {
		require.NoError(t, r.err, "values %q", r.values)
		require.NotNil(t, r.rec, "values %q", r.values)
		require.True(t, r.rec.Finished, "values %q", r.values)
	}
}

// effects counts what reached the machines: SSH commands; AWS calls by
// operation, with aws-calls counting every call but the tenant check's own
// (AssumeRole, the DescribeInstances lookup) and aws-foreign those naming
// an instance other than the tenant's; HTTP requests and TCP connections
// as the servers saw them; and probes asked of the prober (the DNS server
// keeps no log).
func (w *injectionWorld) effects() map[string]int {
	out := map[string]int{"ssh": len(w.ssh.Commands())}
	for _, c := range w.aws.Calls() {
		switch c.Operation {
		case "AssumeRole", "DescribeInstances":
			continue
		case "SendCommand", "DescribeInstanceStatus", "RebootInstances", "StartInstances", "GetMetricData":
			out[c.Operation]++
		}
		out["aws-calls"]++
		if len(c.InstanceIDs) > 0 && !slices.Equal(c.InstanceIDs, []string{injInstance}) {
			out["aws-foreign"]++
		}
	}
	w.mu.Lock()
	out["http"], out["tcp"] = len(w.httpLog), w.accepts
	w.mu.Unlock()
	w.probes.mu.Lock()
	for _, c := range w.probes.calls {
		kind, _, _ := strings.Cut(c, " ")
		out["probe-"+kind]++
	}
	w.probes.mu.Unlock()
	return out
}

// delta is after-before, keeping only what changed.
func delta(before, after map[string]int) map[string]int {
	d := map[string]int{}
	for k, v := range after {
		if v != before[k] {
			d[k] = v - before[k]
		}
	}
	return d
}

// expectedEffects is what n runs of kind k that reached the machine leave:
// its own side effect n times, and for the HTTP and TCP servers the probe
// call too. AWS calls other than the action (AssumeRole, the instance
// lookup, polls for the result) are not counted here.
func expectedEffects(k injKind, n int) map[string]int {
	d := map[string]int{}
	if n == 0 {
		return d
	}
	d[k.counter] = n
	switch k.counter {
	case "http", "tcp":
		d["probe-"+k.counter] = n
	}
	return d
}

// withoutAWSCalls drops the count of all AWS calls from d when the runs
// may have made some (how many polls a command takes varies).
func withoutAWSCalls(d map[string]int, may bool) map[string]int {
	if may {
		delete(d, "aws-calls")
	}
	return d
}

// requireRefused checks a run that stopped before any step because the
// parameter took no such value.
func requireRefused(t *testing.T, r *injRun) {
	t.Helper()
	rec := r.rec
	require.Equal(t, amsv1.ActionOutcome_ACTION_OUTCOME_FAILED.String(), rec.Outcome, "values %q: %s", r.values, rec.Reason)
	require.Empty(t, rec.Steps, "values %q: a step ran", r.values)
	require.Empty(t, rec.Params, "values %q", r.values)
	require.Empty(t, rec.Rail, "values %q", r.values)
	require.Regexp(t, `^runbook inj-[a-z0-9-]+: parameter v[0-7]?: `, rec.Reason, "values %q", r.values)
	require.True(t, strings.HasSuffix(rec.Reason, "; the run stops"), "values %q: %s", r.values, rec.Reason)
	reasons := []string{"does not match the pattern", "is empty for this alert", "is longer than", "is not clean UTF-8 text"}
	require.True(t, slices.ContainsFunc(reasons, func(s string) bool { return strings.Contains(rec.Reason, s) }), "values %q: %s", r.values, rec.Reason)
	require.LessOrEqual(t, len(rec.Reason), 600, "the reason echoes at most a part of the value")
}

// requireOutsideTenant checks a run stopped by the tenant check on the
// target of its last recorded step.
func requireOutsideTenant(t *testing.T, r *injRun) {
	t.Helper()
	rec := r.rec
	require.Equal(t, amsv1.ActionOutcome_ACTION_OUTCOME_FAILED.String(), rec.Outcome, "values %q: %s", r.values, rec.Reason)
	require.Equal(t, RailTenant, rec.Rail, "values %q: %s", r.values, rec.Reason)
	require.NotEmpty(t, rec.Steps, "values %q", r.values)
	last := rec.Steps[len(rec.Steps)-1]
	require.Equal(t, StatusBlocked, last.Status, "values %q", r.values)
	require.Equal(t, rec.Reason, last.Reason, "values %q", r.values)
	require.Contains(t, rec.Reason, "is not tenant acme's", "values %q", r.values)
	require.Contains(t, rec.Reason, "nothing was sent", "values %q", r.values)
}

// requireArrived checks that a run's values reached the machine whole, in
// the kind's own way: printed back by the host's shell as separate
// arguments, seen by the SSM document's script as its own parameters,
// matched exactly as CloudWatch dimensions.
func (w *injectionWorld) requireArrived(t *testing.T, r *injRun, kind string, s StepRecord) {
	t.Helper()
	require.Equal(t, StatusOK, s.Status, "values %q: %s %s", r.values, s.Reason, s.Output)
	require.True(t, s.OK, "values %q: %s", r.values, s.Output)
	switch kind {
	case "ssh":
		want := r.id + "\x00" + strings.Join(r.values, "\x00") + "\x00"
		w.mu.Lock()
		raw := w.stdout[r.id]
		w.mu.Unlock()
		require.Equal(t, want, raw, "values %q did not arrive as separate arguments, byte for byte", r.values)
		require.Equal(t, want, s.Output, "values %q: the recorded output", r.values)
	case "ssm":
		w.mu.Lock()
		env := w.env[r.id]
		w.mu.Unlock()
		require.NotNil(t, env, "values %q: the document did not run for %s", r.values, r.id)
		var cmd *awsfake.Command
		for _, c := range w.aws.Commands() {
			if slices.Equal(c.Parameters["run"], []string{r.id}) {
				require.Nil(t, cmd, "values %q: sent twice", r.values)
				cmd = &c
			}
		}
		require.NotNil(t, cmd, "values %q", r.values)
		require.Equal(t, []string{injInstance}, cmd.InstanceIDs)
		require.Len(t, cmd.Parameters, len(r.values)+1, "values %q: no parameter added or lost", r.values)
		for i, v := range r.values {
			name := fmt.Sprintf("v%d", i)
			require.Equal(t, []string{v}, cmd.Parameters[name], "values %q: one whole value on the wire", r.values)
			require.Equal(t, v, env["SSM_"+name], "values %q: the script sees the value unchanged", r.values)
		}
		for i := len(r.values); i < injBatch; i++ {
			require.Empty(t, env[fmt.Sprintf("SSM_v%d", i)], "values %q: no value spilled into another parameter", r.values)
		}
	case "cloudwatch":
		require.Equal(t, float64(r.seq), s.Value, "values %q: only a query with exactly these dimensions finds this run's datapoint", r.values)
	}
}

// argumentOf is the way a value arrives in an argument kind.
func argumentOf(kind string) string {
	kind, _, _ = strings.Cut(kind, "-")
	return kind
}

// control runs a good value through one kind's runbook: it reaches the
// machine, so the counters the sweeps compare can see a side effect.
func (w *injectionWorld) control(t *testing.T, k injKind) {
	rb := injRunbookName(k.name, false)
	before := w.effects()
	r := w.newRun(rb+"-control", rb, []string{k.good}, k.name == "cloudwatch-dimension")
	w.handle(t, []*injRun{r})
	require.Equal(t, amsv1.ActionOutcome_ACTION_OUTCOME_UNRESOLVED.String(), r.rec.Outcome, r.rec.Reason)
	require.Len(t, r.rec.Steps, 1)
	s := r.rec.Steps[0]
	require.Equal(t, StatusOK, s.Status, "%s %s", s.Reason, s.Output)
	require.True(t, s.OK, s.Output)
	if !k.target {
		w.requireArrived(t, r, argumentOf(k.name), s)
	}
	// The TCP listener may count its accept just after the probe returns.
	aws := strings.HasPrefix(k.name, "ssm-") || strings.HasPrefix(k.name, "ec2-") || strings.HasPrefix(k.name, "cloudwatch-")
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.Equal(c, expectedEffects(k, 1), withoutAWSCalls(delta(before, w.effects()), aws))
	}, 5*time.Second, 10*time.Millisecond)
}

// sweep runs each of vals, one a run, through runbook rb whose steps are
// kinds (argument kinds first), and checks every run and everything that
// reached the machines: a value the pattern refuses stops the run before
// any step and reaches nothing; any other arrives whole in each argument
// kind and is stopped by the tenant check at the first target.
func (w *injectionWorld) sweep(t *testing.T, rb string, kinds []injKind, unsafe bool, vals []string) {
	metric := slices.ContainsFunc(kinds, func(k injKind) bool { return k.name == "cloudwatch-dimension" })
	before := w.effects()
	runs := make([]*injRun, len(vals))
	for i, v := range vals {
		runs[i] = w.newRun(fmt.Sprintf("%s-%d", rb, i), rb, []string{v}, metric)
	}
	w.handle(t, runs)
	passed := 0
	for _, r := range runs {
		v := r.values[0]
		if universallyRefused(v) || (!unsafe && !inert(v)) {
			requireRefused(t, r)
			continue
		}
		passed++
		require.NotEmpty(t, r.rec.Steps, "values %q: the pattern admits the value, yet the run stopped before any step: %s", r.values, r.rec.Reason)
		w.requireSteps(t, r, kinds)
	}
	want := map[string]int{}
	aws := false
	for _, k := range kinds {
		if k.target {
			break
		}
		for c, n := range expectedEffects(k, passed) {
			want[c] += n
		}
		aws = aws || (passed > 0 && k.name != "ssh-argv")
	}
	require.Equal(t, want, withoutAWSCalls(delta(before, w.effects()), aws),
		"only the values that arrived whole reached a machine; nothing else was sent, dialled or looked up")
	t.Logf("%d values: %d refused by the pattern, %d passed it", len(vals), len(vals)-passed, passed)
}

// requireSteps checks a run whose value passed the pattern: it arrived
// whole in each argument kind, and the first target stopped the run with
// the tenant check; no later step ran.
func (w *injectionWorld) requireSteps(t *testing.T, r *injRun, kinds []injKind) {
	t.Helper()
	for i, k := range kinds {
		if k.target {
			require.Len(t, r.rec.Steps, i+1, "values %q: the run went on after %s", r.values, k.name)
			require.Equal(t, k.name, r.rec.Steps[i].Name)
			requireOutsideTenant(t, r)
			return
		}
		require.Greater(t, len(r.rec.Steps), i, "values %q: %s did not run: %s", r.values, k.name, r.rec.Reason)
		w.requireArrived(t, r, argumentOf(k.name), r.rec.Steps[i])
	}
	require.Len(t, r.rec.Steps, len(kinds), "values %q", r.values)
	require.Equal(t, amsv1.ActionOutcome_ACTION_OUTCOME_UNRESOLVED.String(), r.rec.Outcome, "values %q: %s", r.values, r.rec.Reason)
}

func TestInjectionCorpusEndToEnd(t *testing.T) {
	start := time.Now()
	w := newInjectionWorld(t)
	vals := injection.Corpus()
	require.GreaterOrEqual(t, len(vals), 500)
	var inertVals, hostile, refusedAlways, batchable []string
	for _, v := range vals {
		switch {
		case universallyRefused(v):
			refusedAlways = append(refusedAlways, v)
		case inert(v):
			inertVals = append(inertVals, v)
		default:
			hostile = append(hostile, v)
		}
		if !universallyRefused(v) {
			batchable = append(batchable, v)
		}
	}

	t.Run("controls", func(t *testing.T) {
		for _, k := range w.kinds {
			w.control(t, k)
		}
	})
	// Every value in every kind at once, with the widest pattern Load
	// allows without allow_unsafe: a value with shell syntax, a control
	// character or a leading '-' never gets past its parameter, so no kind
	// sees it; an inert one arrives whole in the argument kinds and is
	// stopped at the first target by the tenant check.
	t.Run("safe-pattern/all-kinds", func(t *testing.T) {
		w.sweep(t, injRunbookName("all", false), w.kinds, false, vals)
	})
	// Each target kind meets every value that passes the safe pattern.
	for _, k := range w.kinds {
		if k.target {
			t.Run("safe-pattern/"+k.name, func(t *testing.T) {
				w.sweep(t, injRunbookName(k.name, false), []injKind{k}, false, inertVals)
			})
		}
	}
	// Even allow_unsafe takes no empty, over-long, non-UTF-8 or NUL value.
	t.Run("unsafe-pattern/all-kinds", func(t *testing.T) {
		w.sweep(t, injRunbookName("all", true), w.kinds, true, refusedAlways)
	})
	// A permissive pattern lets every other value through to the argument
	// kinds: each arrives whole, as one argument of its own, one document
	// parameter of its own, one dimension value of its own.
	t.Run("unsafe-pattern/arguments", func(t *testing.T) {
		before := w.effects()
		var runs []*injRun
		for i := 0; i < len(batchable); i += injBatch {
			chunk := slices.Clone(batchable[i:min(i+injBatch, len(batchable))])
			for len(chunk) < injBatch {
				chunk = append(chunk, fmt.Sprintf("pad-%d", len(chunk)))
			}
			runs = append(runs, w.newRun(fmt.Sprintf("inj-unsafe-arguments-%d", i/injBatch), "inj-unsafe-arguments", chunk, true))
		}
		w.handle(t, runs)
		for _, r := range runs {
			require.Equal(t, amsv1.ActionOutcome_ACTION_OUTCOME_UNRESOLVED.String(), r.rec.Outcome, "values %q: %s", r.values, r.rec.Reason)
			require.Len(t, r.rec.Steps, 3, "values %q", r.values)
			for _, s := range r.rec.Steps {
				w.requireArrived(t, r, s.Name, s)
			}
		}
		n := len(runs)
		require.Equal(t, map[string]int{"ssh": n, "SendCommand": n, "GetMetricData": n}, withoutAWSCalls(delta(before, w.effects()), true),
			"one command, one document run and one query per run; nothing else")
		t.Logf("%d values in %d runs arrived whole in every argument kind", len(batchable), n)
	})
	// A permissive pattern on a target lets hostile values through to the
	// tenant check, which stops them with nothing sent. Each hostile value
	// meets one target kind (in turn), so every kind meets a share of them
	// and the run count stays affordable; the safe-pattern sweeps above
	// gave every value to every kind.
	var targets []injKind
	for _, k := range w.kinds {
		if k.target {
			targets = append(targets, k)
		}
	}
	for i, k := range targets {
		var share []string
		for j := i; j < len(hostile); j += len(targets) {
			share = append(share, hostile[j])
		}
		t.Run("unsafe-pattern/"+k.name, func(t *testing.T) {
			w.sweep(t, injRunbookName(k.name, true), []injKind{k}, true, share)
		})
	}

	// The host's shell ran every SSH command in dir: nothing a value said
	// was run there.
	entries, err := os.ReadDir(w.dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	require.ElementsMatch(t, injection.Files, names, "a value created or removed a file on the host")
	for _, name := range injection.Files {
		content, err := os.ReadFile(filepath.Join(w.dir, name))
		require.NoError(t, err)
		require.Equal(t, name, string(content), "a value changed %s on the host", name)
	}
	for _, c := range w.ssh.Commands() {
		require.True(t, strings.HasPrefix(c, `'printf' '%s\0' 'inj-`), "every command sent is the runbook's own: %q", c)
	}
	require.Equal(t, w.seq, w.h.count("ams.action.completed.acme"), "one outcome published per run")
	t.Logf("%d corpus values (%d inert, %d hostile, %d refused by any pattern); %d runs through the engine in %s",
		len(vals), len(inertVals), len(hostile), len(refusedAlways), w.seq, time.Since(start).Round(time.Millisecond))
}

package runbook

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestExamplesLoad(t *testing.T) {
	tests := []struct {
		file            string
		name            string
		steps, recovery int
	}{
		{"disk-full.yaml", "disk-full", 4, 1},
		{"web-service-down.yaml", "web-service-down", 5, 1},
		{"ec2-status-check-failed.yaml", "ec2-status-check-failed", 4, 1},
		{"high-cpu.yaml", "high-cpu", 3, 0},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			rb, err := LoadFile(filepath.Join("testdata", tt.file))
			require.NoError(t, err)
			require.Equal(t, tt.name, rb.Name)
			require.Len(t, rb.Steps, tt.steps)
			require.Equal(t, tt.recovery, rb.RecoverySteps())
			require.NotEmpty(t, rb.Procedure)
			for _, s := range rb.Steps {
				require.Positive(t, s.Timeout, "default timeout applied to %s", s.Name)
			}
		})
	}
}

func TestLoadDir(t *testing.T) {
	rbs, err := LoadDir("testdata")
	require.NoError(t, err)
	require.Len(t, rbs, 4)
	require.Contains(t, rbs, "disk-full")
	require.Equal(t, filepath.Join("testdata", "disk-full.yaml"), rbs["disk-full"].Source)

	dir := t.TempDir()
	data, err := os.ReadFile(filepath.Join("testdata", "high-cpu.yaml"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a.yaml"), data, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "b.yml"), data, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not a runbook"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "c.yaml"), []byte("name: Bad\n"), 0o600))
	_, err = LoadDir(dir)
	require.Error(t, err)
	msg := err.Error()
	require.Contains(t, msg, filepath.Join(dir, "b.yml")+`:1: name: runbook "high-cpu" is also defined in `+filepath.Join(dir, "a.yaml"))
	require.Contains(t, msg, filepath.Join(dir, "c.yaml")+`:1: name: "Bad" is not a valid runbook name`)
	require.NotContains(t, msg, "notes.txt")

	_, err = LoadDir(filepath.Join(dir, "missing"))
	require.ErrorContains(t, err, "read runbook directory")
}

// everyKind uses every step kind once, with the optional settings.
const everyKind = `name: every-kind
description: One step of each kind.
parameters:
  host:
    from: alert.resource.host
    pattern: '^[a-z0-9][a-z0-9.-]{0,62}$'
  instance:
    from: 'incident.resource.instance_id'
    pattern: '^i-[0-9a-f]{8,17}$'
  url:
    from: 'alert.annotations.?url.orValue("")'
    pattern: '^https://[a-z0-9.-]{1,253}/[a-z/]{0,64}$'
steps:
  - name: check-ssh
    kind: ssh
    ssh: {host: "{{ host }}", argv: [uptime]}
  - name: status
    kind: ec2
    ec2: {action: status, instance: "{{instance}}"}
  - name: cpu
    kind: cloudwatch
    cloudwatch: {namespace: AWS/EC2, metric: CPUUtilization, stat: p99, period: 1m, dimensions: {InstanceId: "{{instance}}"}}
  - name: site
    kind: http
    http: {url: "{{url}}", method: HEAD, expect_status: 204}
  - name: fixed-site
    kind: http
    http: {url: "https://status.example.com/healthz", expect_status: 200}
  - name: port
    kind: tcp
    tcp: {address: "{{host}}", port: 22}
  - name: fixed-port
    kind: tcp
    tcp: {address: "db.example.com:5432"}
  - name: lookup
    kind: dns
    dns: {name: "{{host}}", type: AAAA}
  - name: pause
    kind: wait
    wait: {duration: 30s}
  - name: fix
    kind: ssm
    recovery: true
    approval: true
    when: 'steps["check-ssh"].exit_code != 0 && !steps.status.ok && steps.port.output.contains("refused")'
    ssm: {document: MSP-Fix.v2, instance: "{{instance}}", parameters: {Host: "{{host}}", Mode: quick}}
    timeout: 30m
  - name: start
    kind: ec2
    recovery: true
    when: 'has(steps.status) && steps.?status.hasValue()'
    ec2: {action: start, instance: "{{instance}}"}
  - name: restart-over-ssh
    kind: ssh
    recovery: true
    ssh: {host: "{{host}}", argv: [systemctl, restart, nginx.service]}
  - name: verify-site
    kind: verify
    verify: {step: site, until: 'steps.site.ok || steps["fixed-site"].ok', every: 5s, for: 5s}
procedure: |
  Look at {{host}} ({{instance}}); the site is {{ url }}.
`

func TestEveryKindLoads(t *testing.T) {
	rb, err := Load([]byte(everyKind), "every.yaml")
	require.NoError(t, err)
	require.Len(t, rb.Steps, 13)
	require.Equal(t, 3, rb.RecoverySteps())
	require.Equal(t, []string{"host", "instance", "url"}, rb.ParameterNames())
	seen := map[Kind]bool{}
	for _, s := range rb.Steps {
		seen[s.Kind] = true
	}
	for _, k := range Kinds {
		require.True(t, seen[k], "kind %s is exercised", k)
	}
	require.Equal(t, DefaultTimeout, rb.Steps[0].Timeout)
	require.Equal(t, 30*time.Minute, rb.Steps[9].Timeout)
	require.Equal(t, "quick", rb.Steps[9].SSM.Parameters["Mode"])
	require.Equal(t, 5*time.Second, rb.Steps[12].Verify.Every)
	require.NotNil(t, rb.Steps[9].when)
	require.NotNil(t, rb.Steps[12].Verify.until)
}

// header declares two parameters; the first step starts on line 11.
const header = `name: t
description: d
parameters:
  host:
    from: alert.resource.host
    pattern: '^[a-z0-9][a-z0-9.-]{0,62}$'
  instance:
    from: alert.resource.instance_id
    pattern: '^i-[0-9a-f]{8,17}$'
steps:
`

// okStep is a valid first step named "a", lines 11–13.
const okStep = `  - name: a
    kind: ssh
    ssh: {host: "{{host}}", argv: [uptime]}
`

func TestValidation(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // each must appear in the error
	}{
		// File level.
		{"empty file", ``, []string{"t.yaml: the file is empty"}},
		{"two documents", header + okStep + "---\nname: u\n", []string{"t.yaml: more than one YAML document"}},
		{"not yaml", "name: [\n", []string{"t.yaml:1: yaml: did not find expected node content"}},
		{"unknown top-level key", "name: t\ndescription: d\nstep: []\n", []string{`t.yaml:3: unknown key "step" in the runbook`}},
		{"unknown step key", header + okStep + "    timout: 5s\n", []string{`t.yaml:14: unknown key "timout" in a step`}},
		{"unknown block key", header + "  - name: a\n    kind: ssh\n    ssh: {host: \"{{host}}\", argv: [uptime], cmd: x}\n", []string{`t.yaml:13: unknown key "cmd" in a ssh block`}},
		{"wrong type", header + okStep + "    retries: many\n", []string{"t.yaml:14: yaml: cannot unmarshal !!str `many` into int"}},
		{"integer duration", header + okStep + "    timeout: 30\n", []string{"t.yaml:14: yaml: cannot unmarshal !!int `30` into time.Duration"}},

		// Runbook.
		{"bad name", strings.Replace(header, "name: t", "name: Disk_Full", 1) + okStep, []string{`t.yaml:1: name: "Disk_Full" is not a valid runbook name`}},
		{"missing name", strings.Replace(header, "name: t\n", "", 1) + okStep, []string{"t.yaml:1: name: missing"}},
		{"missing description", strings.Replace(header, "description: d\n", "", 1) + okStep, []string{"description: missing"}},
		{"no steps", header, []string{"t.yaml:10: steps: a runbook needs at least one step"}},

		// Parameters.
		{"bad parameter name", strings.Replace(header, "  host:", "  Host:", 1) + okStep, []string{`t.yaml:4: parameter "Host": not a valid parameter name`, `{{host}} names no parameter`}},
		{"parameter name too long", strings.Replace(header, "  instance:", "  "+strings.Repeat("i", 33)+":", 1) + okStep, []string{"t.yaml:7: parameter \"iii", "not a valid parameter name"}},
		{"from missing", strings.Replace(header, "    from: alert.resource.host\n", "", 1) + okStep, []string{`t.yaml:4: parameter "host": from: missing`}},
		{"from does not compile", strings.Replace(header, "alert.resource.host", "alert.resource.hostname", 1) + okStep, []string{`t.yaml:5: parameter "host": from: does not compile as CEL`, "hostname"}},
		{"from is not a string", strings.Replace(header, "alert.resource.host", "alert.labels", 1) + okStep, []string{`t.yaml:5: parameter "host": from: must give a string, but gives map(string, string)`}},
		{"from uses an unknown variable", strings.Replace(header, "alert.resource.host", "tenant.name", 1) + okStep, []string{`parameter "host": from: does not compile`, "undeclared reference to 'tenant'"}},
		{"pattern missing", strings.Replace(header, "    pattern: '^[a-z0-9][a-z0-9.-]{0,62}$'\n", "", 1) + okStep, []string{`t.yaml:4: parameter "host": pattern: missing`}},
		{"pattern invalid", strings.Replace(header, "'^[a-z0-9][a-z0-9.-]{0,62}$'", "'^[a-z'", 1) + okStep, []string{`t.yaml:6: parameter "host": pattern: not a valid RE2 pattern`}},
		{"pattern accepts anything", strings.Replace(header, "'^[a-z0-9][a-z0-9.-]{0,62}$'", "'.*'", 1) + okStep, []string{`t.yaml:6: parameter "host": pattern: the pattern accepts`, "allow_unsafe: true"}},
		{"pattern accepts \\S", strings.Replace(header, "'^[a-z0-9][a-z0-9.-]{0,62}$'", `'^\S+$'`, 1) + okStep, []string{`parameter "host": pattern: the pattern accepts ";"`}},
		{"pattern accepts a space", strings.Replace(header, "'^[a-z0-9][a-z0-9.-]{0,62}$'", `'^[a-z ]+$'`, 1) + okStep, []string{`parameter "host": pattern: the pattern accepts " "`}},
		{"pattern accepts a leading dash", strings.Replace(header, "'^[a-z0-9][a-z0-9.-]{0,62}$'", "'^[a-z0-9.-]+$'", 1) + okStep, []string{`parameter "host": pattern: the pattern accepts "-"`, "option"}},
		{"pattern hides a metacharacter from the probes", strings.Replace(header, "'^[a-z0-9][a-z0-9.-]{0,62}$'", "'^web[0-9]{2};[a-z]{3}x$'", 1) + okStep, []string{`parameter "host": pattern: the pattern can accept ";"`}},
		{"pattern hides a leading dash from the probes", strings.Replace(header, "'^[a-z0-9][a-z0-9.-]{0,62}$'", "'^(?:-{0,1}zz[0-9])$'", 1) + okStep, []string{`parameter "host": pattern: the pattern can accept a value starting with '-'`}},
		{"pattern with dollar", strings.Replace(header, "'^[a-z0-9][a-z0-9.-]{0,62}$'", `'^[a-z$]{2,8}$'`, 1) + okStep, []string{`the pattern accepts "a$"`}},

		// Placeholders.
		{"spliced flag", header + "  - name: a\n    kind: ssh\n    ssh:\n      host: \"{{host}}\"\n      argv: [du, \"--path={{host}}\"]\n", []string{`t.yaml:15: step "a": ssh.argv[1]: "--path={{host}}": a parameter must be a whole value; it is never spliced into text`}},
		{"spliced command line", header + "  - name: a\n    kind: ssh\n    ssh:\n      host: \"{{host}}\"\n      argv: [sh, -c, \"df {{host}}\"]\n", []string{`t.yaml:15: step "a": ssh.argv[2]: "df {{host}}": a parameter must be a whole value`}},
		{"spliced host", header + "  - name: a\n    kind: ssh\n    ssh: {host: \"{{host}}.example.com\", argv: [uptime]}\n", []string{`t.yaml:13: step "a": ssh.host: "{{host}}.example.com": a parameter must be a whole value`}},
		{"two placeholders", header + "  - name: a\n    kind: ssh\n    ssh: {host: \"{{host}}{{instance}}\", argv: [uptime]}\n", []string{`ssh.host: "{{host}}{{instance}}": a parameter must be a whole value`}},
		{"spliced ssm value", header + "  - name: a\n    kind: ssm\n    ssm:\n      document: Doc-1\n      parameters:\n        Path: \"/var/{{host}}\"\n", []string{`t.yaml:16: step "a": ssm.parameters.Path: "/var/{{host}}": a parameter must be a whole value`}},
		{"spliced url", header + "  - name: a\n    kind: http\n    http: {url: \"https://{{host}}/healthz\", expect_status: 200}\n", []string{`t.yaml:13: step "a": http.url: "https://{{host}}/healthz": a parameter must be a whole value`}},
		{"spliced tcp address", header + "  - name: a\n    kind: tcp\n    tcp: {address: \"{{host}}:22\"}\n", []string{`step "a": tcp.address: "{{host}}:22": a parameter must be a whole value`}},
		{"spliced dns name", header + "  - name: a\n    kind: dns\n    dns: {name: \"www.{{host}}\"}\n", []string{`step "a": dns.name: "www.{{host}}": a parameter must be a whole value`}},
		{"unknown placeholder", header + "  - name: a\n    kind: ssh\n    ssh: {host: \"{{hots}}\", argv: [uptime]}\n", []string{`t.yaml:13: step "a": ssh.host: {{hots}} names no parameter; declare "hots"`}},
		{"unknown placeholder in procedure", header + okStep + "procedure: |\n  Log in to {{host}} and {{nothere}}.\n", []string{`t.yaml:14: procedure: {{nothere}} names no parameter`}},
		{"program from a parameter", header + "  - name: a\n    kind: ssh\n    ssh: {host: \"{{host}}\", argv: [\"{{host}}\"]}\n", []string{`t.yaml:13: step "a": ssh.argv[0]: the program to run must be written in the runbook`}},

		// Steps.
		{"empty step", header + "  -\n", []string{"t.yaml:11: steps[0]: empty step"}},
		{"missing step name", header + "  - kind: wait\n    wait: {duration: 1s}\n", []string{"t.yaml:11: steps[0]: missing name"}},
		{"bad step name", header + "  - name: Check_Disk\n    kind: wait\n    wait: {duration: 1s}\n", []string{`t.yaml:11: steps[0]: step name "Check_Disk" is not valid`}},
		{"duplicate step name", header + okStep + okStep, []string{`t.yaml:14: step "a": the name is already used by steps[0]`}},
		{"missing kind", header + "  - name: a\n    ssh: {host: \"{{host}}\", argv: [uptime]}\n", []string{`t.yaml:11: step "a": missing kind; use one of ssm, ec2, cloudwatch, ssh, http, tcp, dns, wait, verify`}},
		{"unknown kind", header + "  - name: a\n    kind: shell\n", []string{`t.yaml:12: step "a": unknown kind "shell"`}},
		{"kind without its block", header + "  - name: a\n    kind: ssh\n", []string{`t.yaml:11: step "a": kind ssh needs a ssh: block`}},
		{"another kind's block", header + "  - name: a\n    kind: wait\n    wait: {duration: 1s}\n    ssh: {host: \"{{host}}\", argv: [uptime]}\n", []string{`t.yaml:14: step "a": has a ssh: block but kind is "wait"`}},
		{"timeout too long", header + okStep + "    timeout: 31m\n", []string{`t.yaml:14: step "a": timeout: 31m0s is longer than the maximum 30m0s`}},
		{"negative timeout", header + okStep + "    timeout: -1s\n", []string{`t.yaml:14: step "a": timeout: must not be negative`}},
		{"too many retries", header + okStep + "    retries: 6\n", []string{`t.yaml:14: step "a": retries: 6 is out of range; use 0 to 5`}},
		{"negative retries", header + okStep + "    retries: -1\n", []string{`step "a": retries: -1 is out of range`}},
		{"recovery on a probe", header + "  - name: a\n    kind: http\n    recovery: true\n    http: {url: \"https://x.example\", expect_status: 200}\n", []string{`t.yaml:13: step "a": recovery: only ssh, ssm and ec2 reboot|start steps can be recovery steps`}},
		{"recovery on ec2 status", header + "  - name: a\n    kind: ec2\n    recovery: true\n    ec2: {action: status, instance: \"{{instance}}\"}\n", []string{`step "a": recovery: only ssh, ssm and ec2 reboot|start`}},
		{"recovery retried", header + okStep + "    recovery: true\n    retries: 1\n", []string{`t.yaml:15: step "a": retries: a recovery step is never retried blindly`}},
		{"reboot not marked recovery", header + "  - name: a\n    kind: ec2\n    ec2: {action: reboot, instance: \"{{instance}}\"}\n", []string{`t.yaml:13: step "a": recovery: ec2 reboot changes the instance; mark the step recovery: true`}},
		{"approval without recovery", header + okStep + "    approval: true\n", []string{`t.yaml:14: step "a": approval: only a recovery step can ask for approval`}},

		// Conditions.
		{"when not bool", header + okStep + "  - name: b\n    kind: wait\n    when: steps.a.output\n    wait: {duration: 1s}\n", []string{`t.yaml:16: step "b": when: must give a bool, but gives string`}},
		{"when does not compile", header + okStep + "  - name: b\n    kind: wait\n    when: 'steps.a.ok &&'\n    wait: {duration: 1s}\n", []string{`t.yaml:16: step "b": when: does not compile as CEL`}},
		{"when unknown result field", header + okStep + "  - name: b\n    kind: wait\n    when: steps.a.stdout == ''\n    wait: {duration: 1s}\n", []string{`step "b": when: does not compile as CEL`, "stdout"}},
		{"when reads a later step", header + okStep + "  - name: b\n    kind: wait\n    when: steps.c.ok\n    wait: {duration: 1s}\n  - name: c\n    kind: wait\n    wait: {duration: 1s}\n", []string{`t.yaml:16: step "b": when: steps.c is not an earlier step`}},
		{"when reads itself", header + okStep + "  - name: b\n    kind: wait\n    when: 'steps[\"b\"].ok'\n    wait: {duration: 1s}\n", []string{`step "b": when: steps.b is not an earlier step`}},
		{"when ranges over steps", header + okStep + "  - name: b\n    kind: wait\n    when: 'steps.all(k, steps[k].ok)'\n    wait: {duration: 1s}\n", []string{`step "b": when: `, "name one earlier step at a time"}},
		{"when computes a step name", header + okStep + "  - name: b\n    kind: wait\n    when: 'steps[\"a\" + \"\"].ok'\n    wait: {duration: 1s}\n", []string{`step "b": when: steps used in `, "name one earlier step at a time"}},
		{"when on the first step", header + "  - name: a\n    kind: wait\n    when: steps.a.ok\n    wait: {duration: 1s}\n", []string{`t.yaml:13: step "a": when: steps.a is not an earlier step`}},

		// Blocks.
		{"ssh without host and argv", header + "  - name: a\n    kind: ssh\n    ssh: {argv: []}\n", []string{`t.yaml:13: step "a": ssh.host: missing`, `t.yaml:13: step "a": ssh.argv: missing`}},
		{"ssm without document", header + "  - name: a\n    kind: ssm\n    ssm: {parameters: {A: b}}\n", []string{`step "a": ssm.document: missing`}},
		{"ssm document from a parameter", header + "  - name: a\n    kind: ssm\n    ssm: {document: \"{{host}}\"}\n", []string{`step "a": ssm.document: "{{host}}": the document must be written in the runbook`}},
		{"ssm bad document name", header + "  - name: a\n    kind: ssm\n    ssm: {document: \"a b\"}\n", []string{`step "a": ssm.document: "a b" is not an SSM document name`}},
		{"ssm bad parameter name", header + "  - name: a\n    kind: ssm\n    ssm: {document: Doc-1, parameters: {\"a b\": x}}\n", []string{`step "a": ssm.parameters.a b: "a b" is not a document parameter name`}},
		{"ec2 bad action", header + "  - name: a\n    kind: ec2\n    ec2: {action: terminate, instance: \"{{instance}}\"}\n", []string{`t.yaml:13: step "a": ec2.action: unknown action "terminate"`}},
		{"ec2 fixed instance", header + "  - name: a\n    kind: ec2\n    ec2: {action: status, instance: i-0123456789abcdef0}\n", []string{`step "a": ec2.instance: "i-0123456789abcdef0" must be a parameter`}},
		{"ec2 missing fields", header + "  - name: a\n    kind: ec2\n    ec2: {}\n", []string{`step "a": ec2.action: missing`, `step "a": ec2.instance: missing`}},
		{"cloudwatch missing fields", header + "  - name: a\n    kind: cloudwatch\n    cloudwatch: {}\n", []string{"cloudwatch.namespace: missing", "cloudwatch.metric: missing", "cloudwatch.stat: missing", "cloudwatch.period: missing"}},
		{"cloudwatch bad stat and period", header + "  - name: a\n    kind: cloudwatch\n    cloudwatch: {namespace: AWS/EC2, metric: CPUUtilization, stat: Mean, period: 90s}\n", []string{`cloudwatch.stat: "Mean" is not a statistic`, "cloudwatch.period: 1m30s is not a CloudWatch period"}},
		{"cloudwatch metric from a parameter", header + "  - name: a\n    kind: cloudwatch\n    cloudwatch: {namespace: AWS/EC2, metric: \"{{host}}\", stat: Sum, period: 1m}\n", []string{`cloudwatch.metric: "{{host}}": the metric must be written in the runbook`}},
		{"http bad url", header + "  - name: a\n    kind: http\n    http: {url: \"ftp://x.example/\", expect_status: 200}\n", []string{`step "a": http.url: "ftp://x.example/" is not an http:// or https:// URL`}},
		{"http missing status and bad method", header + "  - name: a\n    kind: http\n    http: {url: \"https://x.example/\", method: POST}\n", []string{`http.method: "POST" is not allowed`, "http.expect_status: missing"}},
		{"http bad status", header + "  - name: a\n    kind: http\n    http: {url: \"https://x.example/\", expect_status: 700}\n", []string{"http.expect_status: 700 is not an HTTP status code"}},
		{"tcp placeholder without port", header + "  - name: a\n    kind: tcp\n    tcp: {address: \"{{host}}\"}\n", []string{`step "a": tcp.port: missing`}},
		{"tcp address without port", header + "  - name: a\n    kind: tcp\n    tcp: {address: db.example.com}\n", []string{`tcp.address: "db.example.com" has no port`}},
		{"tcp two ports", header + "  - name: a\n    kind: tcp\n    tcp: {address: \"db.example.com:1\", port: 2}\n", []string{`tcp.port: the address "db.example.com:1" already has a port`}},
		{"tcp bad port", header + "  - name: a\n    kind: tcp\n    tcp: {address: \"{{host}}\", port: 70000}\n", []string{"tcp.port: 70000 is not a port"}},
		{"dns missing name, bad type", header + "  - name: a\n    kind: dns\n    dns: {type: SRV}\n", []string{"dns.name: missing", `dns.type: "SRV" is not supported`}},
		{"wait without duration", header + "  - name: a\n    kind: wait\n    wait: {}\n", []string{`t.yaml:13: step "a": wait.duration: missing or not positive`}},
		{"wait too long", header + "  - name: a\n    kind: wait\n    wait: {duration: 1h}\n", []string{`wait.duration: 1h0m0s is longer than the maximum`}},
		{"verify a later step", header + "  - name: v\n    kind: verify\n    verify: {step: a, until: steps.a.ok, every: 1s, for: 1m}\n" + okStep, []string{`t.yaml:13: step "v": verify.step: "a" is not an earlier step`, `step "v": verify.until: steps.a is not an earlier step`}},
		{"verify a recovery step", header + okStep + "    recovery: true\n  - name: v\n    kind: verify\n    verify: {step: a, until: steps.a.ok, every: 1s, for: 1m}\n", []string{`step "v": verify.step: "a" is a recovery step`}},
		{"verify a wait", header + "  - name: a\n    kind: wait\n    wait: {duration: 1s}\n  - name: v\n    kind: verify\n    verify: {step: a, until: steps.a.ok, every: 1s, for: 1m}\n", []string{`step "v": verify.step: "a" is a wait step`}},
		{"verify missing everything", header + okStep + "  - name: v\n    kind: verify\n    verify: {}\n", []string{"verify.step: missing", "verify.until: missing", "verify.every: missing", "verify.for: missing"}},
		{"verify every longer than for", header + okStep + "  - name: v\n    kind: verify\n    verify: {step: a, until: steps.a.ok, every: 2m, for: 1m}\n", []string{`t.yaml:16: step "v": verify.every: 2m0s is longer than for: 1m0s`}},
		{"verify until not bool", header + okStep + "  - name: v\n    kind: verify\n    verify: {step: a, until: steps.a.exit_code, every: 1s, for: 1m}\n", []string{`step "v": verify.until: must give a bool, but gives int`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rb, err := Load([]byte(tt.yaml), "t.yaml")
			require.Error(t, err)
			require.Nil(t, rb)
			_, ok := errors.AsType[*LoadError](err)
			require.True(t, ok, "error is a *LoadError: %T", err)
			for _, want := range tt.want {
				require.Contains(t, err.Error(), want)
			}
		})
	}
}

func TestAllowUnsafe(t *testing.T) {
	y := strings.Replace(header, "'^[a-z0-9][a-z0-9.-]{0,62}$'", "'.*'\n    allow_unsafe: true", 1) + okStep
	rb, err := Load([]byte(y), "t.yaml")
	require.NoError(t, err)
	require.True(t, rb.Params["host"].AllowUnsafe)

	// allow_unsafe never allows splicing.
	y = strings.Replace(header, "'^[a-z0-9][a-z0-9.-]{0,62}$'", "'.*'\n    allow_unsafe: true", 1) +
		"  - name: a\n    kind: ssh\n    ssh: {host: \"{{host}}\", argv: [sh, -c, \"echo {{host}}\"]}\n"
	_, err = Load([]byte(y), "t.yaml")
	require.ErrorContains(t, err, "a parameter must be a whole value; it is never spliced into text")
}

func TestEveryProblemAtOnce(t *testing.T) {
	y := `name: Bad Name
description: ""
parameters:
  host:
    from: alert.resource.nope
    pattern: '.*'
steps:
  - name: a
    kind: ssh
    ssh: {host: "x{{host}}", argv: ["{{host}}"]}
    retries: 9
  - name: a
    kind: teleport
`
	_, err := Load([]byte(y), "bad.yaml")
	le, ok := errors.AsType[*LoadError](err)
	require.True(t, ok)
	var got []string
	for _, p := range le.Problems {
		got = append(got, p.String())
	}
	want := []string{
		`bad.yaml:1: name: "Bad Name" is not a valid runbook name`,
		"bad.yaml:2: description: missing",
		`bad.yaml:5: parameter "host": from: does not compile as CEL`,
		`bad.yaml:6: parameter "host": pattern: the pattern accepts`,
		`bad.yaml:11: step "a": retries: 9 is out of range`,
		`bad.yaml:10: step "a": ssh.host: "x{{host}}": a parameter must be a whole value`,
		`bad.yaml:10: step "a": ssh.argv[0]: the program to run must be written in the runbook`,
		`bad.yaml:12: step "a": the name is already used by steps[0]`,
		`bad.yaml:13: step "a": unknown kind "teleport"`,
	}
	require.Len(t, got, len(want), strings.Join(got, "\n"))
	for i := range want {
		require.True(t, strings.HasPrefix(got[i], want[i]), "problem %d:\n got %s\nwant %s…", i, got[i], want[i])
	}
}

// The example runbooks shipped in deploy/examples load as the executor
// loads them.
func TestExampleRunbooks(t *testing.T) {
	rbs, err := LoadDir("../../../deploy/examples/runbooks")
	require.NoError(t, err)
	names := make([]string, 0, len(rbs))
	for n := range rbs {
		names = append(names, n)
	}
	slices.Sort(names)
	require.Equal(t, []string{"disk-full", "ec2-status-check-failed", "high-cpu", "web-service-down"}, names)
	require.Zero(t, rbs["high-cpu"].RecoverySteps(), "high CPU only gathers information")
}

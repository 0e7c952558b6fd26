package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// env returns a lookup over a fixed map, so tests never depend on the real environment.
func env(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

const minimal = "nats:\n  url: nats://nats:4222\n"

func TestParseAppliesDefaults(t *testing.T) {
	f, err := Parse([]byte(minimal), env(nil))
	require.NoError(t, err)

	require.Equal(t, "nats://nats:4222", f.NATS.URL)
	require.Equal(t, "127.0.0.1:8080", f.Server.HTTPListenAddress)
	require.Equal(t, "127.0.0.1:9090", f.Server.GRPCListenAddress)
	require.Equal(t, 30*time.Second, f.Server.ShutdownTimeout)
	require.Equal(t, 1, f.NATS.Replicas)
	require.Equal(t, "data/nats", f.NATS.Embedded.DataDir)
	require.Equal(t, "always", f.NATS.Embedded.SyncInterval)
	require.Equal(t, "info", f.Telemetry.LogLevel)
	require.Equal(t, "text", f.Telemetry.LogFormat)
	require.Equal(t, int64(1<<20), f.Ingest.MaxBodyBytes)
	require.Equal(t, 10*time.Minute, f.Ingest.DuplicateWindow)
	require.Equal(t, 5*time.Second, f.Ingest.PublishTimeout)
	for name, c := range map[string]Consumer{
		"classifier": f.Classifier.Consumer, "executor": f.Executor.Consumer,
		"ticketing": f.Ticketing.Consumer, "escalation": f.Escalation.Consumer,
	} {
		require.Equal(t, Consumer{Workers: 8, AckWait: 30 * time.Second, MaxDeliver: 10}, c, name)
	}
	require.Empty(t, f.Tenants)
}

func TestParseKeepsExplicitValues(t *testing.T) {
	doc := `
server:
  http_listen_address: 0.0.0.0:80
  shutdown_timeout: 5s
nats:
  url: nats://nats:4222
  replicas: 3
telemetry:
  log_level: debug
  log_format: json
executor:
  consumer:
    workers: 2
    ack_wait: 2m
    max_deliver: 3
`
	f, err := Parse([]byte(doc), env(nil))
	require.NoError(t, err)
	require.Equal(t, "0.0.0.0:80", f.Server.HTTPListenAddress)
	require.Equal(t, 5*time.Second, f.Server.ShutdownTimeout)
	require.Equal(t, 3, f.NATS.Replicas)
	require.Equal(t, "debug", f.Telemetry.LogLevel)
	require.Equal(t, "json", f.Telemetry.LogFormat)
	require.Equal(t, Consumer{Workers: 2, AckWait: 2 * time.Minute, MaxDeliver: 3}, f.Executor.Consumer)
	// Other consumers still get their defaults.
	require.Equal(t, Consumer{Workers: 8, AckWait: 30 * time.Second, MaxDeliver: 10}, f.Ticketing.Consumer)
}

func TestDefault(t *testing.T) {
	f := Default()
	require.Equal(t, "127.0.0.1:8080", f.Server.HTTPListenAddress)
	require.Equal(t, 8, f.Classifier.Consumer.Workers)
	require.Empty(t, f.Tenants)
	// Defaults alone choose no event bus, so they are not a valid file.
	require.ErrorContains(t, f.Validate(), "nats: no event bus")
}

func TestParseExpandsEnvironment(t *testing.T) {
	vars := map[string]string{
		"HOST":  "nats.example:4222",
		"EMPTY": "",
		"A_1":   "one",
	}
	tests := []struct {
		name  string
		value string // the credentials_file value as written in the file
		want  string
	}{
		{"plain reference", "${HOST}", "nats.example:4222"},
		{"reference inside text", "/etc/${A_1}/x.creds", "/etc/one/x.creds"},
		{"two references", "${A_1}-${A_1}", "one-one"},
		{"default when unset", "${MISSING:-/fallback.creds}", "/fallback.creds"},
		{"default when set but empty", "${EMPTY:-dflt}", "dflt"},
		{"value wins over default", "${A_1:-dflt}", "one"},
		{"empty default", "${MISSING:-}", ""},
		{"set but empty without default", "${EMPTY}", ""},
		{"default containing a colon", "${MISSING:-a:b}", "a:b"},
		{"escaped reference", "$${HOST}", "${HOST}"},
		{"escape then reference", "$${A_1}${A_1}", "${A_1}one"},
		{"bare dollar kept", "pa$$word$", "pa$$word$"},
		{"dollar name without braces kept", "$HOST", "$HOST"},
		{"regexp anchor kept", "^abc$", "^abc$"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := minimal + "  credentials_file: '" + tt.value + "'\n"
			f, err := Parse([]byte(doc), env(vars))
			require.NoError(t, err)
			require.Equal(t, tt.want, f.NATS.CredentialsFile)
		})
	}
}

func TestParseExpansionErrors(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{
			name: "unset variable names variable and line",
			doc:  "# comment\nnats:\n  url: ${NATS_URL}\n",
			want: []string{"line 3:", "NATS_URL is not set", "${NATS_URL:-default}"},
		},
		{
			name: "unset variable on first line",
			doc:  "nats: {url: '${FIRST}'}\n",
			want: []string{"line 1:", "FIRST is not set"},
		},
		{
			name: "unterminated reference",
			doc:  minimal + "  credentials_file: ${OOPS\n",
			want: []string{"line 3:", "unterminated ${"},
		},
		{
			name: "invalid variable name",
			doc:  minimal + "\n  credentials_file: ${1ABC}\n",
			want: []string{"line 4:", "${1ABC} is not a valid variable reference"},
		},
		{
			name: "empty reference",
			doc:  "nats:\n  url: ${}\n",
			want: []string{"line 2:", "${} is not a valid variable reference"},
		},
		{
			name: "reference with a dash",
			doc:  "nats:\n  url: ${MY-VAR}\n",
			want: []string{"line 2:", "${MY-VAR}"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse([]byte(tt.doc), env(map[string]string{"OTHER": "x"}))
			require.Error(t, err)
			require.Nil(t, f)
			for _, w := range tt.want {
				require.ErrorContains(t, err, w)
			}
		})
	}
}

func TestParseStrictDecode(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{
			name: "unknown nested key",
			doc:  "nats:\n  url: nats://x:4222\n  replica: 3\n",
			want: []string{"decode", "line 3", "replica"},
		},
		{
			name: "unknown top-level key",
			doc:  "nats:\n  url: nats://x:4222\nclasifier:\n  consumer: {}\n",
			want: []string{"decode", "line 3", "clasifier"},
		},
		{
			name: "unknown key in a tenant",
			doc:  "nats:\n  url: nats://x:4222\ntenants:\n  - id: acme\n    integration: []\n",
			want: []string{"decode", "line 5", "integration"},
		},
		{
			name: "wrong type",
			doc:  "nats:\n  url: nats://x:4222\n  replicas: three\n",
			want: []string{"decode", "line 3", "three"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc), env(nil))
			require.Error(t, err)
			for _, w := range tt.want {
				require.ErrorContains(t, err, w)
			}
		})
	}
}

func TestParseEmptyDocumentIsValidated(t *testing.T) {
	_, err := Parse(nil, env(nil))
	require.ErrorContains(t, err, "nats: no event bus")
}

// valid returns a file that passes Validate, for cases to break one thing in.
func valid() *File {
	f := Default()
	f.NATS.URL = "nats://nats:4222"
	f.Tenants = []Tenant{
		{ID: "acme", Name: "Acme", Integrations: []Integration{
			{Name: "acme-am", Source: "alertmanager", Tokens: []string{"0123456789abcdef"}},
		}},
		{ID: "beta-2", Name: "Beta", Integrations: []Integration{
			{Name: "beta.generic_1", Source: "generic", Tokens: []string{"12345678", "abcdefgh"}},
		}},
	}
	f.applyDefaults() // the tenants' executor defaults
	return f
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(f *File)
		want   []string // substrings of the error; none means valid
		// problems is how many errors the mutation makes (0 means 1).
		problems int
	}{
		{name: "valid", mutate: func(*File) {}},
		{name: "embedded instead of url", mutate: func(f *File) {
			f.NATS.URL = ""
			f.NATS.Embedded.Enabled = true
			f.NATS.Embedded.Listen = "127.0.0.1:4222"
		}},
		{name: "sync interval duration", mutate: func(f *File) { f.NATS.Embedded.SyncInterval = "2s" }},
		{name: "replicas 5", mutate: func(f *File) { f.NATS.Replicas = 5 }},
		{name: "no tenants", mutate: func(f *File) { f.Tenants = nil }},
		{name: "reload interval too short", mutate: func(f *File) { f.Classifier.ReloadInterval = 100 * time.Millisecond },
			want: []string{"classifier.reload_interval: 100ms is too short"}},

		{name: "tenant id uppercase", mutate: func(f *File) { f.Tenants[0].ID = "Acme" },
			want: []string{`tenants[0].id: "Acme" must be lowercase`}},
		{name: "tenant id with dot", mutate: func(f *File) { f.Tenants[1].ID = "a.b" },
			want: []string{`tenants[1].id: "a.b"`}},
		{name: "tenant id empty", mutate: func(f *File) { f.Tenants[0].ID = "" },
			want: []string{`tenants[0].id: ""`}},
		{name: "tenant id starting with dash", mutate: func(f *File) { f.Tenants[0].ID = "-x" },
			want: []string{`tenants[0].id: "-x"`}},
		{name: "tenant id wildcard", mutate: func(f *File) { f.Tenants[0].ID = "*" },
			want: []string{`tenants[0].id: "*"`}},
		{name: "tenant id too long", mutate: func(f *File) { f.Tenants[0].ID = strings.Repeat("a", 64) },
			want: []string{"tenants[0].id:"}},
		{name: "duplicate tenant", mutate: func(f *File) { f.Tenants[1].ID = "acme" },
			want: []string{`tenants[1].id: "acme" is already used by tenants[0]`}},
		{name: "duplicate integration across tenants", mutate: func(f *File) { f.Tenants[1].Integrations[0].Name = "acme-am" },
			want: []string{`tenants[1].integrations[0].name: "acme-am" is already used by tenants[0].integrations[0]`}},
		{name: "duplicate integration within a tenant", mutate: func(f *File) {
			dup := f.Tenants[0].Integrations[0]
			dup.Tokens = []string{"another-token-value"}
			f.Tenants[0].Integrations = append(f.Tenants[0].Integrations, dup)
		}, want: []string{`tenants[0].integrations[1].name: "acme-am" is already used by tenants[0].integrations[0]`}},
		{name: "token shared by two integrations", mutate: func(f *File) {
			f.Tenants[1].Integrations[0].Tokens = append(f.Tenants[1].Integrations[0].Tokens, f.Tenants[0].Integrations[0].Tokens[0])
		}, want: []string{`tenants[1].integrations[0].tokens[`, `the same value is already used by tenants[0].integrations[0]`}},
		{name: "routing key shared by two integrations", mutate: func(f *File) {
			f.Tenants[0].Integrations[0].RoutingKeys = []string{"routing-key-1"}
			f.Tenants[1].Integrations[0].RoutingKeys = []string{"routing-key-1"}
		}, want: []string{`tenants[1].integrations[0].routing_keys[0]: the same value is already used by tenants[0].integrations[0]`}},
		{name: "short signing secret", mutate: func(f *File) { f.Tenants[0].Integrations[0].SigningSecrets = []string{"abc"} },
			want: []string{"tenants[0].integrations[0].signing_secrets[0]: too short (3 characters)"}},
		{name: "bad topic arn", mutate: func(f *File) {
			f.Tenants[0].Integrations[0].TopicARNs = []string{"arn:aws:sqs:us-east-1:123456789012:q"}
		},
			want: []string{`tenants[0].integrations[0].topic_arns[0]: "arn:aws:sqs:us-east-1:123456789012:q" is not an SNS topic ARN`}},
		{name: "aws role arn", mutate: func(f *File) {
			f.Tenants[0].Integrations[0].AWS = goodAWS(func(a *AWSAccount) { a.RoleARN = "role/x" })
		},
			want: []string{`tenants[0].integrations[0].aws.role_arn: "role/x" is not an IAM role ARN`}},
		{name: "aws external id", mutate: func(f *File) { f.Tenants[0].Integrations[0].AWS = goodAWS(func(a *AWSAccount) { a.ExternalID = "" }) },
			want: []string{`tenants[0].integrations[0].aws.external_id: missing`}},
		{name: "aws region", mutate: func(f *File) {
			f.Tenants[0].Integrations[0].AWS = goodAWS(func(a *AWSAccount) { a.Regions = []string{"tokyo"} })
		},
			want: []string{`tenants[0].integrations[0].aws.regions[0]: "tokyo" is not an AWS region code`}},
		{name: "aws poll interval", mutate: func(f *File) {
			f.Tenants[0].Integrations[0].AWS = goodAWS(func(a *AWSAccount) { a.PollInterval = time.Second })
		}, want: []string{`tenants[0].integrations[0].aws.poll_interval: 1s is too often`}},

		{name: "integration name with slash", mutate: func(f *File) { f.Tenants[0].Integrations[0].Name = "a/b" },
			want: []string{`tenants[0].integrations[0].name: "a/b"`}},
		{name: "missing source", mutate: func(f *File) { f.Tenants[0].Integrations[0].Source = "" },
			want: []string{"tenants[0].integrations[0].source: missing"}},
		{name: "blank source", mutate: func(f *File) { f.Tenants[1].Integrations[0].Source = "  " },
			want: []string{"tenants[1].integrations[0].source: missing"}},
		{name: "missing tokens", mutate: func(f *File) { f.Tenants[0].Integrations[0].Tokens = nil },
			want: []string{"tenants[0].integrations[0].tokens: missing"}},
		{name: "short token", mutate: func(f *File) { f.Tenants[1].Integrations[0].Tokens[1] = "abc" },
			want: []string{"tenants[1].integrations[0].tokens[1]: too short (3 characters)"}},
		{name: "empty token", mutate: func(f *File) { f.Tenants[0].Integrations[0].Tokens[0] = "" },
			want: []string{"tenants[0].integrations[0].tokens[0]: too short (0 characters)"}},
		{name: "both url and embedded", mutate: func(f *File) { f.NATS.Embedded.Enabled = true },
			want: []string{"nats: set either nats.url", "not both"}},
		{name: "neither url nor embedded", mutate: func(f *File) { f.NATS.URL = "" },
			want: []string{"nats: no event bus"}},
		{name: "replicas 2", mutate: func(f *File) { f.NATS.Replicas = 2 },
			want: []string{"nats.replicas: 2 is not 1, 3 or 5"}},
		{name: "replicas 0", mutate: func(f *File) { f.NATS.Replicas = 0 },
			want: []string{"nats.replicas: 0 is not 1, 3 or 5"}},
		{name: "embedded with 3 replicas", mutate: func(f *File) {
			f.NATS.URL, f.NATS.Embedded.Enabled, f.NATS.Replicas = "", true, 3
		}, want: []string{"nats.replicas: the embedded server is a single node"}},
		{name: "sync interval word", mutate: func(f *File) { f.NATS.Embedded.SyncInterval = "sometimes" },
			want: []string{`nats.embedded.sync_interval: "sometimes"`}},
		{name: "sync interval zero", mutate: func(f *File) { f.NATS.Embedded.SyncInterval = "0s" },
			want: []string{`nats.embedded.sync_interval: "0s"`}},
		{name: "sync interval negative", mutate: func(f *File) { f.NATS.Embedded.SyncInterval = "-1s" },
			want: []string{`nats.embedded.sync_interval: "-1s"`}},
		{name: "log level", mutate: func(f *File) { f.Telemetry.LogLevel = "verbose" },
			want: []string{`telemetry.log_level: "verbose" is not one of debug, info, warn, error`}},
		{name: "log format", mutate: func(f *File) { f.Telemetry.LogFormat = "xml" },
			want: []string{`telemetry.log_format: "xml"`}},
		{name: "http address without port", mutate: func(f *File) { f.Server.HTTPListenAddress = "localhost" },
			want: []string{`server.http_listen_address: "localhost" is not host:port`}},
		{name: "grpc address", mutate: func(f *File) { f.Server.GRPCListenAddress = "9090" },
			want: []string{`server.grpc_listen_address: "9090" is not host:port`}},
		{name: "embedded listen address", mutate: func(f *File) { f.NATS.Embedded.Listen = "nope" },
			want: []string{`nats.embedded.listen: "nope" is not host:port`}},
		{name: "negative shutdown timeout", mutate: func(f *File) { f.Server.ShutdownTimeout = -time.Second },
			want: []string{"server.shutdown_timeout: must not be negative"}},
		{name: "small body limit", mutate: func(f *File) { f.Ingest.MaxBodyBytes = 100 },
			want: []string{"ingest.max_body_bytes: 100 is too small"}},
		{name: "publish timeout", mutate: func(f *File) { f.Ingest.PublishTimeout = -1 },
			want: []string{"ingest.publish_timeout: must be positive"}},
		{name: "duplicate window", mutate: func(f *File) { f.Ingest.DuplicateWindow = -1 },
			want: []string{"ingest.duplicate_window: must be positive"}},
		{name: "consumer workers", mutate: func(f *File) { f.Classifier.Consumer.Workers = 2000 },
			want: []string{"classifier.consumer.workers: 2000 is not between 1 and 1024"}},
		{name: "consumer ack wait", mutate: func(f *File) { f.Executor.Consumer.AckWait = 500 * time.Millisecond },
			want: []string{"executor.consumer.ack_wait: 500ms is too short"}},
		{name: "consumer max deliver", mutate: func(f *File) { f.Escalation.Consumer.MaxDeliver = 1 },
			want: []string{"escalation.consumer.max_deliver: 1 leaves no retry"}},
		{name: "ticketing consumer", mutate: func(f *File) { f.Ticketing.Consumer.Workers = -1 },
			want: []string{"ticketing.consumer.workers: -1"}},
		{name: "executor scope", mutate: func(f *File) {
			f.Tenants[0].Executor.Hosts = []string{"web-1.acme.internal", "*.acme.internal", "10.1.0.0/16", "192.0.2.7"}
			f.Tenants[0].Executor.AWS = &ExecutorAWS{RoleARN: "arn:aws:iam::123456789012:role/ams-executor", ExternalID: "acme-ext", Region: "ap-northeast-1"}
			f.Tenants[0].Executor.SSH = &ExecutorSSH{User: "ams", Port: 22, KeyFile: "k", KnownHostsFile: "kh", Bastion: "bastion.acme.internal:22"}
		}},
		{name: "executor bad scope", mutate: func(f *File) {
			f.Tenants[1].Executor.Hosts = []string{"*", "10.0.0.0/33", "Web_1", "*.*.x"}
			f.Tenants[1].Executor.AWS = &ExecutorAWS{RoleARN: "arn:aws:iam::1:user/x", Region: "tokyo", Accounts: []string{"12"}}
			f.Tenants[1].Executor.SSH = &ExecutorSSH{Port: 70000, Bastion: "bastion"}
		}, want: []string{
			`tenants[1].executor.hosts[0]: "*"`, `tenants[1].executor.hosts[1]: "10.0.0.0/33" is not a CIDR block`,
			`tenants[1].executor.hosts[2]: "Web_1"`, `tenants[1].executor.hosts[3]: "*.*.x"`,
			"tenants[1].executor.aws.role_arn", "tenants[1].executor.aws.external_id: missing", `tenants[1].executor.aws.region: "tokyo"`,
			`tenants[1].executor.aws.accounts[0]: "12"`, "tenants[1].executor.ssh.user: missing", "tenants[1].executor.ssh.key_file: missing",
			"tenants[1].executor.ssh.known_hosts_file: missing", "tenants[1].executor.ssh.port: 70000", `tenants[1].executor.ssh.bastion: "bastion"`,
		}, problems: 13},
		{name: "executor rails", mutate: func(f *File) {
			f.Tenants[0].Executor.Concurrency = 2000
			f.Tenants[0].Executor.Storm = Storm{Incidents: -1, Window: time.Second}
			f.Tenants[0].Executor.RateLimits.PerTarget = RateLimit{Count: 0, Window: time.Hour}
			f.Executor.ApprovalTimeout = time.Second
			f.Executor.AWSEndpoints.SSM = "localhost:4566"
			f.Executor.DNSServer = "10.0.0.2"
		}, want: []string{
			"tenants[0].executor.concurrency: 2000", "tenants[0].executor.storm.incidents", "tenants[0].executor.storm.window: 1s",
			"tenants[0].executor.rate_limits.per_target.count: 0", "executor.approval_timeout: 1s",
			`executor.aws_endpoints.ssm: "localhost:4566"`, `executor.dns_server: "10.0.0.2"`,
		}, problems: 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := valid()
			tt.mutate(f)
			err := f.Validate()
			if len(tt.want) == 0 {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, w := range tt.want {
				require.ErrorContains(t, err, w)
			}
			require.Len(t, unjoin(err), max(tt.problems, 1), "one problem gives one error: %v", err)
		})
	}
}

// unjoin returns the errors joined in err.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func TestValidateReturnsEveryProblem(t *testing.T) {
	f := valid()
	f.NATS.URL = ""
	f.NATS.Replicas = 4
	f.Telemetry.LogLevel = "loud"
	f.Server.HTTPListenAddress = "x"
	f.Tenants[0].ID = "ACME"
	f.Tenants[1].Integrations[0].Tokens = nil

	err := f.Validate()
	require.Error(t, err)
	require.Len(t, unjoin(err), 6, "%v", err)
	for _, key := range []string{
		"nats: no event bus", "nats.replicas:", "telemetry.log_level:",
		"server.http_listen_address:", "tenants[0].id:", "tenants[1].integrations[0].tokens: missing",
	} {
		require.ErrorContains(t, err, key)
	}
}

func TestParseReturnsValidationErrors(t *testing.T) {
	doc := `
nats:
  url: ${NATS_URL}
telemetry:
  log_level: trace
tenants:
  - id: acme
    integrations:
      - name: acme-am
        source: alertmanager
        tokens: ["${ACME_TOKEN}"]
`
	_, err := Parse([]byte(doc), env(map[string]string{"NATS_URL": "nats://x:4222", "ACME_TOKEN": "short"}))
	require.Error(t, err)
	require.ErrorContains(t, err, `telemetry.log_level: "trace"`)
	require.ErrorContains(t, err, "tenants[0].integrations[0].tokens[0]: too short (5 characters)")
	require.Len(t, unjoin(err), 2)

	f, err := Parse([]byte(doc), env(map[string]string{"NATS_URL": "nats://x:4222", "ACME_TOKEN": "long-enough-token"}))
	require.ErrorContains(t, err, "telemetry.log_level")
	require.Nil(t, f)
}

func TestLoad(t *testing.T) {
	write := func(t testing.TB, body string) string {
		t.Helper()
		path := filepath.Join(t.TempDir(), "ams.yaml")
		require.NoError(t, os.WriteFile(path, []byte(body), 0o600))
		return path
	}

	t.Run("valid file with environment", func(t *testing.T) {
		t.Setenv("AMS_TEST_TOKEN", "s3cr3t-token-value")
		path := write(t, minimal+"tenants:\n  - id: acme\n    integrations:\n      - {name: acme-am, source: generic, tokens: ['${AMS_TEST_TOKEN}']}\n")
		f, err := Load(path)
		require.NoError(t, err)
		tn, ok := f.Tenant("acme")
		require.True(t, ok)
		require.Equal(t, []string{"s3cr3t-token-value"}, tn.Integrations[0].Tokens)
	})

	t.Run("rules files are relative to the config file", func(t *testing.T) {
		path := write(t, minimal+"tenants:\n  - id: acme\n    rules_file: rules/acme.yaml\n    integrations:\n      - {name: acme-am, source: generic, tokens: ['0123456789']}\n")
		f, err := Load(path)
		require.NoError(t, err)
		tn, _ := f.Tenant("acme")
		require.Equal(t, filepath.Join(filepath.Dir(path), "rules", "acme.yaml"), f.Path(tn.RulesFile))
		require.Equal(t, "/etc/ams/x.yaml", f.Path("/etc/ams/x.yaml"))
		require.Empty(t, f.Path(""))
	})

	tests := []struct {
		name string
		body string
		want string
	}{
		{"expansion error", "nats:\n  url: ${AMS_TEST_SURELY_UNSET_VARIABLE}\n", "line 2: environment variable AMS_TEST_SURELY_UNSET_VARIABLE is not set"},
		{"decode error", minimal + "bogus: 1\n", "bogus"},
		{"validation error", minimal + "telemetry:\n  log_format: yaml\n", "telemetry.log_format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := write(t, tt.body)
			_, err := Load(path)
			require.Error(t, err)
			require.True(t, strings.HasPrefix(err.Error(), path+": "), "error %q does not start with the path", err)
			require.ErrorContains(t, err, tt.want)
		})
	}

	t.Run("missing file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "absent.yaml")
		_, err := Load(path)
		require.Error(t, err)
		require.True(t, errors.Is(err, os.ErrNotExist))
		require.ErrorContains(t, err, path)
	})
}

func TestTenant(t *testing.T) {
	f := valid()
	got, ok := f.Tenant("beta-2")
	require.True(t, ok)
	require.Equal(t, "Beta", got.Name)

	_, ok = f.Tenant("nobody")
	require.False(t, ok)
}

// goodAWS is a valid AWSAccount changed by mutate.
func goodAWS(mutate func(a *AWSAccount)) *AWSAccount {
	a := &AWSAccount{RoleARN: "arn:aws:iam::123456789012:role/ams-monitor", ExternalID: "acme-ext-1", Regions: []string{"ap-northeast-1"}}
	mutate(a)
	return a
}

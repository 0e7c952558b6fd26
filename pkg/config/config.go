// Package config loads AMS's single YAML configuration file: ${ENV}
// expansion for secrets, strict decoding (an unknown key is an error, since a
// misspelt key silently ignored is a misconfigured production system), defaults,
// and validation whose errors name the file, the key and the fix.
//
// The whole file's schema lives here, in one reviewed place, so every binary
// (the all-in-one and each service) decodes it strictly and the same way.
// Services validate the parts only they understand (rule syntax, source types)
// in their own New.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"go.yaml.in/yaml/v3"
)

// File is the whole configuration file.
type File struct {
	// Dir is the folder of the file Load read, against which relative paths
	// in it (rules files) are resolved; empty for Parse, meaning the working directory.
	Dir        string     `yaml:"-"`
	Server     Server     `yaml:"server"`
	NATS       NATS       `yaml:"nats"`
	Telemetry  Telemetry  `yaml:"telemetry"`
	Ingest     Ingest     `yaml:"ingest"`
	Classifier Classifier `yaml:"classifier"`
	Executor   Executor   `yaml:"executor"`
	Ticketing  Ticketing  `yaml:"ticketing"`
	Escalation Escalation `yaml:"escalation"`
	Tenants    []Tenant   `yaml:"tenants"`
}

// Server is the process's listeners.
type Server struct {
	// HTTPListenAddress serves webhooks, /healthz, /readyz and /metrics.
	HTTPListenAddress string `yaml:"http_listen_address"`
	// GRPCListenAddress serves the admin API.
	GRPCListenAddress string `yaml:"grpc_listen_address"`
	// ShutdownTimeout bounds how long in-flight work may take to finish on SIGTERM.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
}

// NATS says where the event bus is.
type NATS struct {
	// URL of an external NATS JetStream cluster. Empty when Embedded is enabled.
	URL string `yaml:"url"`
	// CredentialsFile is a NATS .creds file for the external cluster.
	CredentialsFile string `yaml:"credentials_file"`
	// Replicas for the streams and KV buckets AMS creates: 1 for a single
	// server, 3 for a production cluster.
	Replicas int `yaml:"replicas"`
	// Embedded runs a JetStream server inside the process (all-in-one).
	Embedded Embedded `yaml:"embedded"`
}

// Embedded configures the in-process JetStream server.
type Embedded struct {
	Enabled bool `yaml:"enabled"`
	// DataDir holds the file store; it survives restarts.
	DataDir string `yaml:"data_dir"`
	// Listen optionally exposes the server (host:port) to NATS tools; empty keeps it in-process only.
	Listen string `yaml:"listen"`
	// SyncInterval is how often the file store is fsynced: "always" (every
	// write, so an acknowledged alert survives power loss) or a duration.
	SyncInterval string `yaml:"sync_interval"`
}

// Telemetry configures logs and traces.
type Telemetry struct {
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level"`
	// LogFormat is text or json.
	LogFormat string `yaml:"log_format"`
	// OTLPEndpoint (host:port) receives traces over OTLP/gRPC; empty disables export
	// (trace context is still propagated across every hop).
	OTLPEndpoint string `yaml:"otlp_endpoint"`
	// OTLPInsecure sends traces without TLS.
	OTLPInsecure bool `yaml:"otlp_insecure"`
}

// Ingest configures the webhook receiver.
type Ingest struct {
	// MaxBodyBytes caps a request body; larger bodies get 413.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// DuplicateWindow is how long the ALERTS stream remembers message ids, so
	// a re-sent notification within it is stored once.
	DuplicateWindow time.Duration `yaml:"duplicate_window"`
	// PublishTimeout bounds the wait for JetStream to store an alert before answering 503.
	PublishTimeout time.Duration `yaml:"publish_timeout"`
}

// Consumer tunes a service's durable consumers.
type Consumer struct {
	// Workers is how many messages one replica handles at once.
	Workers int `yaml:"workers"`
	// AckWait is how long the server waits for an ack before redelivering.
	AckWait time.Duration `yaml:"ack_wait"`
	// MaxDeliver is how many deliveries a message gets before it is dead-lettered.
	MaxDeliver int `yaml:"max_deliver"`
}

// Classifier configures incident grouping and classification.
type Classifier struct {
	Consumer Consumer `yaml:"consumer"`
	// ReloadInterval is how often tenants' rules files are checked for
	// changes; a changed file that compiles replaces the rules in force.
	ReloadInterval time.Duration `yaml:"reload_interval"`
}

// Executor configures runbook execution.
type Executor struct {
	Consumer Consumer `yaml:"consumer"`
	// RunbooksDir holds the runbook files (*.yaml, *.yml), relative to the
	// configuration file's folder. Empty: no runbooks, every incident gets
	// "no runbook".
	RunbooksDir string `yaml:"runbooks_dir"`
	// ReloadInterval is how often runbooks_dir is checked for changed
	// files (default 10s). A changed set is loaded whole or not at all; a
	// run goes on with the runbook it started with.
	ReloadInterval time.Duration `yaml:"reload_interval"`
	// KillSwitch stops every recovery step of every tenant while true. It
	// can also be thrown at run time (amsctl executor kill-switch on); either
	// one being on is enough.
	KillSwitch bool `yaml:"kill_switch"`
	// ApprovalTimeout is how long a step marked approval waits for
	// amsctl approve or deny before the run ends and the incident is
	// escalated (default 15m).
	ApprovalTimeout time.Duration `yaml:"approval_timeout"`
	// MaxOutputBytes caps each step's captured output (default 16 KiB).
	MaxOutputBytes int `yaml:"max_output_bytes"`
	// Lease is how long a replica owns a run without renewing it; after a
	// crash another replica takes the run over once it has expired
	// (default 2m).
	Lease time.Duration `yaml:"lease"`
	// AWSEndpoints points the AWS clients at other endpoints: VPC
	// endpoints, or local stand-ins in tests and the sandbox. Empty: AWS's own.
	AWSEndpoints AWSEndpoints `yaml:"aws_endpoints"`
	// DNSServer is the host:port DNS lookups ask (default: the system resolver).
	DNSServer string `yaml:"dns_server"`
}

// AWSEndpoints are per-service endpoint URLs (aws-sdk-go-v2 BaseEndpoint).
type AWSEndpoints struct {
	STS        string `yaml:"sts"`
	SSM        string `yaml:"ssm"`
	EC2        string `yaml:"ec2"`
	CloudWatch string `yaml:"cloudwatch"`
}

// Ticketing configures the ticket store.
type Ticketing struct {
	Consumer Consumer `yaml:"consumer"`
}

// Escalation configures paging decisions.
type Escalation struct {
	Consumer Consumer `yaml:"consumer"`
}

// Tenant is one customer of the MSP.
type Tenant struct {
	// ID is the tenant's stable key; it appears in NATS subjects, so it is
	// lowercase letters, digits and dashes.
	ID           string        `yaml:"id"`
	Name         string        `yaml:"name"`
	Integrations []Integration `yaml:"integrations"`
	// RulesFile is the tenant's classification file: incident grouping,
	// rules and maintenance windows (services/classifier/docs/rules.md).
	// Relative to the configuration file's folder. Empty: group by
	// fingerprint, priority from severity, no rules.
	RulesFile string `yaml:"rules_file"`
	// Executor is what automation may do for this tenant and where: its
	// machines, its AWS role, its SSH keys, and its rails. Without it no
	// step that reaches a machine runs for the tenant.
	Executor TenantExecutor `yaml:"executor"`
}

// TenantExecutor is one tenant's automation scope, credentials and rails.
type TenantExecutor struct {
	// DryRun runs checks but only reports recovery steps.
	DryRun bool `yaml:"dry_run"`
	// Concurrency bounds the tenant's runs in progress at once across all
	// replicas (default 4); further incidents wait their turn.
	Concurrency int `yaml:"concurrency"`
	// Storm is the storm breaker: more incidents than Incidents within
	// Window and recovery stops for the tenant; escalation pages once.
	Storm Storm `yaml:"storm"`
	// RateLimits bound recovery steps.
	RateLimits RateLimits `yaml:"rate_limits"`
	// Hosts are the tenant's machines for SSH, HTTP, TCP and DNS steps:
	// exact names, "*.example.com" suffixes, IP addresses or CIDR blocks.
	Hosts []string `yaml:"hosts"`
	// AWS is the tenant's AWS account for SSM, EC2 and CloudWatch steps.
	AWS *ExecutorAWS `yaml:"aws"`
	// SSH is how SSH steps log in to the tenant's hosts.
	SSH *ExecutorSSH `yaml:"ssh"`
}

// Storm configures a tenant's storm breaker.
type Storm struct {
	Incidents int           `yaml:"incidents"` // default 10
	Window    time.Duration `yaml:"window"`    // default 10m
}

// RateLimit allows Count recovery steps per Window.
type RateLimit struct {
	Count  int           `yaml:"count"`
	Window time.Duration `yaml:"window"`
}

// RateLimits are a tenant's limits on recovery steps.
type RateLimits struct {
	// PerTarget bounds recovery steps on one host or instance (default 3 per 6h).
	PerTarget RateLimit `yaml:"per_target"`
	// PerRunbook bounds recovery steps of one runbook for the tenant (default 20 per 1h).
	PerRunbook RateLimit `yaml:"per_runbook"`
}

// ExecutorAWS is the role the executor assumes in the tenant's account,
// and which instances count as the tenant's.
type ExecutorAWS struct {
	RoleARN    string `yaml:"role_arn"`
	ExternalID string `yaml:"external_id"`
	Region     string `yaml:"region"`
	// Accounts own the tenant's instances (default: the role's account).
	Accounts []string `yaml:"accounts"`
	// Tags every instance acted on must carry, e.g. {Customer: acme}.
	Tags map[string]string `yaml:"tags"`
}

// ExecutorSSH is the tenant's SSH login: its own key and known hosts,
// optionally through a bastion.
type ExecutorSSH struct {
	User           string `yaml:"user"`
	Port           int    `yaml:"port"` // default 22
	KeyFile        string `yaml:"key_file"`
	KnownHostsFile string `yaml:"known_hosts_file"`
	// Bastion is host:port of a jump host reached with the same key.
	Bastion     string `yaml:"bastion"`
	BastionUser string `yaml:"bastion_user"` // default User
}

// Path resolves a path written in the file: relative paths are relative to
// the file's folder.
func (f *File) Path(p string) string {
	if p == "" || filepath.IsAbs(p) || f.Dir == "" {
		return p
	}
	return filepath.Join(f.Dir, p)
}

// Integration is one configured inbound endpoint: a source type and the
// credentials that prove a request belongs to this tenant. Which credential
// a source needs is checked by ingest (each list may hold several values
// while a secret is rotated).
type Integration struct {
	// Name is unique across tenants; it is the {integration} in /v1/webhooks/{integration}.
	Name string `yaml:"name"`
	// Source is the payload format, e.g. alertmanager or generic.
	Source string `yaml:"source"`
	// Tokens are accepted as a bearer token, a basic-auth password or a
	// ?token= query parameter. Unique across integrations: on the
	// compatible APIs the token alone says which integration is sending.
	Tokens []string `yaml:"tokens"`
	// RoutingKeys are the PagerDuty Events API v2 routing keys that select
	// this integration on POST /v2/enqueue. Unique across integrations.
	RoutingKeys []string `yaml:"routing_keys"`
	// SigningSecrets verify HMAC-signed webhooks (PagerDuty webhooks v3).
	SigningSecrets []string `yaml:"signing_secrets"`
	// TopicARNs are the SNS topics whose messages are accepted (cloudwatch).
	TopicARNs []string `yaml:"topic_arns"`
	// AWS is the tenant's account for pull sources (awsdx).
	AWS *AWSAccount `yaml:"aws"`
}

// AWSAccount is how AMS reaches a tenant's AWS account: by assuming a role
// the tenant created for the MSP, with the ExternalId agreed for it.
type AWSAccount struct {
	RoleARN    string   `yaml:"role_arn"`
	ExternalID string   `yaml:"external_id"`
	Regions    []string `yaml:"regions"`
	// PollInterval is how often a pull source asks AWS (default 1m).
	PollInterval time.Duration `yaml:"poll_interval"`
}

// Load reads, expands and decodes the file at path, applies defaults and
// validates it. Errors start with the path.
func Load(path string) (*File, error) {
	raw, err := os.ReadFile(path) //nolint:gosec // the operator names the config file
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	f, err := Parse(raw, os.LookupEnv)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f.Dir = filepath.Dir(path)
	return f, nil
}

// Parse decodes a configuration document, expanding ${ENV} references with lookup.
func Parse(raw []byte, lookup func(string) (string, bool)) (*File, error) {
	text, err := expandEnv(string(raw), lookup)
	if err != nil {
		return nil, err
	}
	var f File
	dec := yaml.NewDecoder(bytes.NewReader([]byte(text)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("decode: %w", err)
	}
	f.applyDefaults()
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return &f, nil
}

// Default returns a configuration with every default applied and no tenants.
func Default() *File {
	var f File
	f.applyDefaults()
	return &f
}

func (f *File) applyDefaults() {
	setDefault(&f.Server.HTTPListenAddress, "127.0.0.1:8080")
	setDefault(&f.Server.GRPCListenAddress, "127.0.0.1:9090")
	setDefault(&f.Server.ShutdownTimeout, 30*time.Second)
	setDefault(&f.NATS.Replicas, 1)
	setDefault(&f.NATS.Embedded.DataDir, "data/nats")
	setDefault(&f.NATS.Embedded.SyncInterval, "always")
	setDefault(&f.Telemetry.LogLevel, "info")
	setDefault(&f.Telemetry.LogFormat, "text")
	setDefault(&f.Ingest.MaxBodyBytes, 1<<20)
	setDefault(&f.Ingest.DuplicateWindow, 10*time.Minute)
	setDefault(&f.Ingest.PublishTimeout, 5*time.Second)
	for _, c := range []*Consumer{&f.Classifier.Consumer, &f.Executor.Consumer, &f.Ticketing.Consumer, &f.Escalation.Consumer} {
		setDefault(&c.Workers, 8)
		setDefault(&c.AckWait, 30*time.Second)
		setDefault(&c.MaxDeliver, 10)
	}
	setDefault(&f.Classifier.ReloadInterval, 10*time.Second)
	setDefault(&f.Executor.ReloadInterval, 10*time.Second)
	setDefault(&f.Executor.ApprovalTimeout, 15*time.Minute)
	setDefault(&f.Executor.MaxOutputBytes, 16<<10)
	setDefault(&f.Executor.Lease, 2*time.Minute)
	f.applyTenantDefaults()
}

// applyTenantDefaults fills each tenant's executor defaults. Validate calls
// it too, so a File built in code (tests, tools) gets them like a parsed one.
func (f *File) applyTenantDefaults() {
	for i := range f.Tenants {
		x := &f.Tenants[i].Executor
		setDefault(&x.Concurrency, 4)
		setDefault(&x.Storm.Incidents, 10)
		setDefault(&x.Storm.Window, 10*time.Minute)
		setDefault(&x.RateLimits.PerTarget, RateLimit{Count: 3, Window: 6 * time.Hour})
		setDefault(&x.RateLimits.PerRunbook, RateLimit{Count: 20, Window: time.Hour})
		if x.SSH != nil {
			setDefault(&x.SSH.Port, 22)
			setDefault(&x.SSH.BastionUser, x.SSH.User)
		}
		if x.AWS != nil && len(x.AWS.Accounts) == 0 {
			if m := iamRoleARN.FindStringSubmatch(x.AWS.RoleARN); m != nil {
				x.AWS.Accounts = []string{m[1]}
			}
		}
	}
}

func setDefault[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}

package config

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
	"time"
)

var (
	tenantIDPattern        = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	integrationNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,127}$`)
)

// Validate checks the whole file and returns every problem at once, each
// naming the key, what is wrong and how to fix it.
func (f *File) Validate() error {
	f.applyTenantDefaults()
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}

	checkAddr := func(key, addr string) {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			bad(key, "%q is not host:port (e.g. 127.0.0.1:8080)", addr)
		}
	}
	checkAddr("server.http_listen_address", f.Server.HTTPListenAddress)
	checkAddr("server.grpc_listen_address", f.Server.GRPCListenAddress)
	if f.Server.ShutdownTimeout < 0 {
		bad("server.shutdown_timeout", "must not be negative")
	}

	switch {
	case f.NATS.Embedded.Enabled && f.NATS.URL != "":
		bad("nats", "set either nats.url (external cluster) or nats.embedded.enabled, not both")
	case !f.NATS.Embedded.Enabled && f.NATS.URL == "":
		bad("nats", "no event bus: set nats.url to your NATS cluster, or nats.embedded.enabled: true for the all-in-one")
	}
	if f.NATS.Embedded.Listen != "" {
		checkAddr("nats.embedded.listen", f.NATS.Embedded.Listen)
	}
	if si := f.NATS.Embedded.SyncInterval; si != "always" {
		if d, err := time.ParseDuration(si); err != nil || d <= 0 {
			bad("nats.embedded.sync_interval", "%q is not \"always\" or a positive duration such as 1s", si)
		}
	}
	if f.NATS.Replicas != 1 && f.NATS.Replicas != 3 && f.NATS.Replicas != 5 {
		bad("nats.replicas", "%d is not 1, 3 or 5", f.NATS.Replicas)
	}
	if f.NATS.Embedded.Enabled && f.NATS.Replicas != 1 {
		bad("nats.replicas", "the embedded server is a single node: use 1")
	}

	switch f.Telemetry.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("telemetry.log_level", "%q is not one of debug, info, warn, error", f.Telemetry.LogLevel)
	}
	switch f.Telemetry.LogFormat {
	case "text", "json":
	default:
		bad("telemetry.log_format", "%q is not text or json", f.Telemetry.LogFormat)
	}

	if f.Ingest.MaxBodyBytes < 1024 {
		bad("ingest.max_body_bytes", "%d is too small: use at least 1024", f.Ingest.MaxBodyBytes)
	}
	if f.Ingest.PublishTimeout <= 0 {
		bad("ingest.publish_timeout", "must be positive, e.g. 5s")
	}
	if f.Ingest.DuplicateWindow <= 0 {
		bad("ingest.duplicate_window", "must be positive, e.g. 10m")
	}
	for name, c := range map[string]Consumer{
		"classifier": f.Classifier.Consumer, "executor": f.Executor.Consumer,
		"ticketing": f.Ticketing.Consumer, "escalation": f.Escalation.Consumer,
	} {
		if c.Workers < 1 || c.Workers > 1024 {
			bad(name+".consumer.workers", "%d is not between 1 and 1024", c.Workers)
		}
		if c.AckWait < 1e9 {
			bad(name+".consumer.ack_wait", "%s is too short: use at least 1s", c.AckWait)
		}
		if c.MaxDeliver < 2 {
			bad(name+".consumer.max_deliver", "%d leaves no retry: use at least 2", c.MaxDeliver)
		}
	}

	if f.Classifier.ReloadInterval < time.Second {
		bad("classifier.reload_interval", "%s is too short: use at least 1s", f.Classifier.ReloadInterval)
	}

	tenants := map[string]int{}
	integrations := map[string]string{}
	tokens := map[string]string{}      // token -> the integration key that has it
	routingKeys := map[string]string{} // routing key -> the integration key that has it
	for i, t := range f.Tenants {
		key := fmt.Sprintf("tenants[%d]", i)
		if !tenantIDPattern.MatchString(t.ID) {
			bad(key+".id", "%q must be lowercase letters, digits and dashes, starting with a letter or digit (it is part of NATS subjects)", t.ID)
		}
		if j, dup := tenants[t.ID]; dup {
			bad(key+".id", "%q is already used by tenants[%d]", t.ID, j)
		}
		tenants[t.ID] = i
		for j, in := range t.Integrations {
			ikey := fmt.Sprintf("%s.integrations[%d]", key, j)
			if !integrationNamePattern.MatchString(in.Name) {
				bad(ikey+".name", "%q must be lowercase letters, digits, '.', '_' or '-' (it is part of the webhook URL)", in.Name)
			}
			if other, dup := integrations[in.Name]; dup {
				bad(ikey+".name", "%q is already used by %s: integration names are unique across tenants", in.Name, other)
			}
			integrations[in.Name] = ikey
			if strings.TrimSpace(in.Source) == "" {
				bad(ikey+".source", "missing: say which payload format this integration receives, e.g. alertmanager or generic")
			}
			if len(in.Tokens)+len(in.RoutingKeys)+len(in.SigningSecrets)+len(in.TopicARNs) == 0 && in.AWS == nil {
				bad(ikey+".tokens", "missing: give at least one credential (tokens, routing_keys, signing_secrets or topic_arns, as the source needs; use ${ENV} to keep it out of the file)")
			}
			for _, list := range []struct {
				key    string
				values []string
				owners map[string]string // nil: need not be unique
			}{
				{"tokens", in.Tokens, tokens},
				{"routing_keys", in.RoutingKeys, routingKeys},
				{"signing_secrets", in.SigningSecrets, nil},
			} {
				for k, v := range list.values {
					vkey := fmt.Sprintf("%s.%s[%d]", ikey, list.key, k)
					if len(v) < 8 {
						bad(vkey, "too short (%d characters): use at least 8", len(v))
						continue
					}
					if list.owners == nil {
						continue
					}
					if other, dup := list.owners[v]; dup && other != ikey {
						bad(vkey, "the same value is already used by %s: each integration needs its own, since the value alone says who is sending", other)
					}
					list.owners[v] = ikey
				}
			}
			for k, arn := range in.TopicARNs {
				if !snsTopicARN.MatchString(arn) {
					bad(fmt.Sprintf("%s.topic_arns[%d]", ikey, k), "%q is not an SNS topic ARN such as arn:aws:sns:ap-northeast-1:123456789012:alerts", arn)
				}
			}
			if in.AWS != nil {
				validateAWS(bad, ikey+".aws", in.AWS)
			}
		}
		validateTenantExecutor(bad, key+".executor", &t.Executor)
	}
	validateExecutor(bad, &f.Executor)
	return errors.Join(errs...)
}

// Tenant returns the tenant with id, or false.
func (f *File) Tenant(id string) (Tenant, bool) {
	for _, t := range f.Tenants {
		if t.ID == id {
			return t, true
		}
	}
	return Tenant{}, false
}

var (
	snsTopicARN = regexp.MustCompile(`^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_.-]{1,256}$`)
	iamRoleARN  = regexp.MustCompile(`^arn:aws[a-z-]*:iam::([0-9]{12}):role/[A-Za-z0-9+=,.@_/-]{1,512}$`)
	awsRegion   = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]$`)
)

func validateAWS(bad func(key, format string, args ...any), key string, a *AWSAccount) {
	if !iamRoleARN.MatchString(a.RoleARN) {
		bad(key+".role_arn", "%q is not an IAM role ARN such as arn:aws:iam::123456789012:role/ams-monitor", a.RoleARN)
	}
	if n := len(a.ExternalID); n < 2 || n > 1224 {
		bad(key+".external_id", "missing or %d characters: give the ExternalId the tenant's role trusts (2 to 1224 characters)", n)
	}
	if len(a.Regions) == 0 {
		bad(key+".regions", "missing: list the regions to watch, e.g. [ap-northeast-1]")
	}
	for i, r := range a.Regions {
		if !awsRegion.MatchString(r) {
			bad(fmt.Sprintf("%s.regions[%d]", key, i), "%q is not an AWS region code such as ap-northeast-1", r)
		}
	}
	if a.PollInterval < 0 || (a.PollInterval > 0 && a.PollInterval < 10*time.Second) {
		bad(key+".poll_interval", "%s is too often: use 10s or more (AWS throttles API calls)", a.PollInterval)
	}
}

var awsAccountID = regexp.MustCompile(`^[0-9]{12}$`)

func validateExecutor(bad func(key, format string, args ...any), x *Executor) {
	if x.ReloadInterval < time.Second {
		bad("executor.reload_interval", "%s is too short: use at least 1s", x.ReloadInterval)
	}
	if x.ApprovalTimeout < time.Minute {
		bad("executor.approval_timeout", "%s is too short for a person to answer: use at least 1m", x.ApprovalTimeout)
	}
	if x.MaxOutputBytes < 1024 || x.MaxOutputBytes > 1<<20 {
		bad("executor.max_output_bytes", "%d is not between 1024 and 1048576", x.MaxOutputBytes)
	}
	if x.Lease < 10*time.Second {
		bad("executor.lease", "%s is too short: use at least 10s", x.Lease)
	}
	for key, u := range map[string]string{"sts": x.AWSEndpoints.STS, "ssm": x.AWSEndpoints.SSM, "ec2": x.AWSEndpoints.EC2, "cloudwatch": x.AWSEndpoints.CloudWatch} {
		if u != "" && !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			bad("executor.aws_endpoints."+key, "%q is not an http:// or https:// URL", u)
		}
	}
	if x.DNSServer != "" {
		if _, _, err := net.SplitHostPort(x.DNSServer); err != nil {
			bad("executor.dns_server", "%q is not host:port (e.g. 10.0.0.2:53)", x.DNSServer)
		}
	}
}

func validateTenantExecutor(bad func(key, format string, args ...any), key string, x *TenantExecutor) {
	if x.Concurrency < 1 || x.Concurrency > 1000 {
		bad(key+".concurrency", "%d is not between 1 and 1000", x.Concurrency)
	}
	if x.Storm.Incidents < 1 {
		bad(key+".storm.incidents", "%d: use at least 1", x.Storm.Incidents)
	}
	if x.Storm.Window < time.Minute {
		bad(key+".storm.window", "%s is too short: use at least 1m", x.Storm.Window)
	}
	for name, l := range map[string]RateLimit{"per_target": x.RateLimits.PerTarget, "per_runbook": x.RateLimits.PerRunbook} {
		if l.Count < 1 {
			bad(key+".rate_limits."+name+".count", "%d: use at least 1 (to forbid recovery, use dry_run)", l.Count)
		}
		if l.Window < time.Minute {
			bad(key+".rate_limits."+name+".window", "%s is too short: use at least 1m", l.Window)
		}
	}
	for i, h := range x.Hosts {
		if msg := HostPatternProblem(h); msg != "" {
			bad(fmt.Sprintf("%s.hosts[%d]", key, i), "%q %s", h, msg)
		}
	}
	if a := x.AWS; a != nil {
		if !iamRoleARN.MatchString(a.RoleARN) {
			bad(key+".aws.role_arn", "%q is not an IAM role ARN such as arn:aws:iam::123456789012:role/ams-executor", a.RoleARN)
		}
		if n := len(a.ExternalID); n < 2 || n > 1224 {
			bad(key+".aws.external_id", "missing or %d characters: give the ExternalId the tenant's role trusts (2 to 1224 characters)", n)
		}
		if !awsRegion.MatchString(a.Region) {
			bad(key+".aws.region", "%q is not an AWS region code such as ap-northeast-1", a.Region)
		}
		for i, acct := range a.Accounts {
			if !awsAccountID.MatchString(acct) {
				bad(fmt.Sprintf("%s.aws.accounts[%d]", key, i), "%q is not a 12-digit AWS account id", acct)
			}
		}
	}
	if s := x.SSH; s != nil {
		if s.User == "" {
			bad(key+".ssh.user", "missing: the user the executor logs in as")
		}
		if s.KeyFile == "" {
			bad(key+".ssh.key_file", "missing: the tenant's private key file (never shared with another tenant)")
		}
		if s.KnownHostsFile == "" {
			bad(key+".ssh.known_hosts_file", "missing: the tenant's known_hosts file; host keys are always checked")
		}
		if s.Port < 1 || s.Port > 65535 {
			bad(key+".ssh.port", "%d is not a TCP port", s.Port)
		}
		if s.Bastion != "" {
			if _, _, err := net.SplitHostPort(s.Bastion); err != nil {
				bad(key+".ssh.bastion", "%q is not host:port (e.g. bastion.example.com:22)", s.Bastion)
			}
		}
	}
}

var hostNamePattern = regexp.MustCompile(`^(\*\.)?[a-z0-9]([a-z0-9-]{0,62})(\.[a-z0-9]([a-z0-9-]{0,62}))*$`)

// HostPatternProblem says what is wrong with a tenant host pattern, or ""
// when it is an exact host name, a "*.domain" suffix, an IP address or a
// CIDR block.
func HostPatternProblem(h string) string {
	if strings.Contains(h, "/") {
		if _, _, err := net.ParseCIDR(h); err != nil {
			return "is not a CIDR block such as 10.0.0.0/24"
		}
		return ""
	}
	if net.ParseIP(h) != nil {
		return ""
	}
	if !hostNamePattern.MatchString(h) || len(h) > 253 {
		return "is not a lowercase host name, *.domain, IP address or CIDR block"
	}
	if h == "*" || strings.Count(h, "*") > 1 {
		return "matches too much: a wildcard must be *.domain"
	}
	return ""
}

// Package awsstep runs the AWS step kinds of a runbook — SSM Run Command,
// EC2 reboot, start and status, and CloudWatch metric queries — in the
// incident tenant's own AWS account, through the role the tenant gave the
// MSP.
//
// Three rules shape it:
//
//   - Tenant from the credential. Every call is made with temporary
//     credentials from STS AssumeRole on the tenant's role, with the
//     tenant's ExternalId. Each tenant has its own credentials cache, so
//     one tenant's session can never serve another's step. Before acting
//     on an instance the runner looks it up through that role and checks
//     its owner account and tags; an instance that fails is reported as a
//     *step.OutsideTenantError and nothing is sent.
//   - Values are never spliced. SSM parameters go to SendCommand as
//     document parameters, each value whole; the document reads them from
//     its environment (interpolationType: ENV_VAR) and restricts them with
//     allowedPattern.
//   - Nothing done twice. SendCommand, RebootInstances and StartInstances
//     are never retried once the request may have reached AWS (only
//     throttling answers and failed connects are). If the answer is lost,
//     or a command is still running when the step's time runs out, the
//     result is a *step.UnknownOutcomeError, which the engine verifies or
//     escalates instead of re-running.
package awsstep

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/amsproject/ams/pkg/config"
	"github.com/amsproject/ams/services/executor/internal/step"
)

// Options configures a Runner. The zero value is usable.
type Options struct {
	// Endpoints sets each client's BaseEndpoint when non-empty: VPC
	// endpoints in production, the fake in tests and the sandbox.
	Endpoints config.AWSEndpoints
	// Base returns the MSP's own AWS configuration, whose credentials
	// assume the tenants' roles (default config.LoadDefaultConfig). Its
	// retryer is used as is, so tests can keep retries small.
	Base func(ctx context.Context) (aws.Config, error)
	// MaxOutput caps a step's output (default step.DefaultMaxOutput).
	MaxOutput int
	// PollInterval is the pause between GetCommandInvocation calls
	// (default 1s).
	PollInterval time.Duration
}

// defaultTimeout is a step's time when it gives none (runbook.DefaultTimeout).
const defaultTimeout = 60 * time.Second

// Runner runs AWS steps. It is safe for concurrent use.
type Runner struct {
	opts Options

	mu      sync.Mutex
	base    *aws.Config
	tenants map[string]*tenantClients
}

// New returns a Runner. It loads nothing and calls nothing until a step runs.
func New(opts Options) *Runner {
	if opts.Base == nil {
		opts.Base = func(ctx context.Context) (aws.Config, error) { return awsconfig.LoadDefaultConfig(ctx) }
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Second
	}
	return &Runner{opts: opts, tenants: map[string]*tenantClients{}}
}

// tenantClients are one tenant's clients, all over one credentials cache
// on the tenant's role.
type tenantClients struct {
	// key is what the clients were built from; a changed configuration
	// builds new ones instead of reusing a session on the old role.
	key         string
	roleAccount string
	ec2         *ec2.Client
	ssm         *ssm.Client
	cw          *cloudwatch.Client
}

var roleARNPattern = regexp.MustCompile(`^arn:aws[a-z-]*:iam::(\d{12}):role/.+$`)

// clients returns the tenant's clients, building them at first use.
func (r *Runner) clients(ctx context.Context, tenant string, acct *config.ExecutorAWS) (*tenantClients, error) {
	if acct == nil {
		return nil, fmt.Errorf("tenant %s has no aws block in its executor configuration", tenant)
	}
	m := roleARNPattern.FindStringSubmatch(acct.RoleARN)
	if m == nil {
		return nil, fmt.Errorf("tenant %s: aws.role_arn %q is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)", tenant, acct.RoleARN)
	}
	if acct.ExternalID == "" {
		return nil, fmt.Errorf("tenant %s: aws.external_id is empty; the executor assumes a tenant's role only with the tenant's ExternalId", tenant)
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if r.base == nil {
		cfg, err := r.opts.Base(ctx)
		if err != nil {
			return nil, fmt.Errorf("load the executor's aws configuration: %w", err)
		}
		r.base = &cfg
	}
	region := acct.Region
	if region == "" {
		region = r.base.Region
	}
	if region == "" {
		return nil, fmt.Errorf("tenant %s: aws.region is empty and the environment names no region", tenant)
	}
	key := strings.Join([]string{acct.RoleARN, acct.ExternalID, region}, "\x00")
	if c, ok := r.tenants[tenant]; ok && c.key == key {
		return c, nil
	}

	ep := r.opts.Endpoints
	stsClient := sts.NewFromConfig(*r.base, func(o *sts.Options) {
		o.Region = region
		if ep.STS != "" {
			o.BaseEndpoint = aws.String(ep.STS)
		}
	})
	provider := stscreds.NewAssumeRoleProvider(stsClient, acct.RoleARN, func(o *stscreds.AssumeRoleOptions) {
		o.ExternalID = aws.String(acct.ExternalID)
		o.RoleSessionName = sessionName(tenant)
	})
	cfg := r.base.Copy()
	cfg.Region = region
	cfg.Credentials = aws.NewCredentialsCache(provider)
	c := &tenantClients{
		key:         key,
		roleAccount: m[1],
		ec2: ec2.NewFromConfig(cfg, func(o *ec2.Options) {
			if ep.EC2 != "" {
				o.BaseEndpoint = aws.String(ep.EC2)
			}
		}),
		ssm: ssm.NewFromConfig(cfg, func(o *ssm.Options) {
			if ep.SSM != "" {
				o.BaseEndpoint = aws.String(ep.SSM)
			}
		}),
		cw: cloudwatch.NewFromConfig(cfg, func(o *cloudwatch.Options) {
			if ep.CloudWatch != "" {
				o.BaseEndpoint = aws.String(ep.CloudWatch)
			}
		}),
	}
	r.tenants[tenant] = c
	return c, nil
}

// sessionName is the RoleSessionName, which the tenant sees in CloudTrail
// next to every call the executor made with their role. STS allows 64
// characters of [\w+=,.@-]; tenant ids are lowercase letters, digits and
// dashes.
func sessionName(tenant string) string {
	s := "ams-executor-" + tenant
	if len(s) > 64 {
		s = s[:64]
	}
	return s
}

var instanceIDPattern = regexp.MustCompile(`^i-([0-9a-f]{8}|[0-9a-f]{17})$`)

// CheckInstance returns nil when instanceID is the tenant's: it exists in
// the tenant's account as seen through the tenant's role, its reservation
// is owned by one of acct.Accounts (default: the role's account), and it
// carries every tag in acct.Tags. Otherwise it returns a
// *step.OutsideTenantError saying which check failed, or an error when AWS
// could not be asked.
func (r *Runner) CheckInstance(ctx context.Context, tenant string, acct *config.ExecutorAWS, instanceID string) error {
	_, err := r.instanceClients(ctx, tenant, acct, instanceID)
	return err
}

// instanceClients returns the tenant's clients once instanceID has passed
// CheckInstance: what every step acting on an instance needs first.
func (r *Runner) instanceClients(ctx context.Context, tenant string, acct *config.ExecutorAWS, instanceID string) (*tenantClients, error) {
	c, err := r.clients(ctx, tenant, acct)
	if err != nil {
		return nil, err
	}
	if err := r.checkInstance(ctx, c, tenant, acct, instanceID); err != nil {
		return nil, err
	}
	return c, nil
}

func (r *Runner) checkInstance(ctx context.Context, c *tenantClients, tenant string, acct *config.ExecutorAWS, instanceID string) error {
	outside := func(format string, args ...any) error {
		return &step.OutsideTenantError{Tenant: tenant, Target: instanceID, Reason: fmt.Sprintf(format, args...)}
	}
	if !instanceIDPattern.MatchString(instanceID) {
		return outside("not an EC2 instance id (i- and 8 or 17 hex digits)")
	}
	out, err := c.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{instanceID}})
	switch code := apiCode(err); {
	case code == "InvalidInstanceID.NotFound" || code == "InvalidInstanceID.Malformed":
		return outside("not found in the tenant's account %s", c.roleAccount)
	case err != nil:
		return explain(acct, "ec2:DescribeInstances", err)
	}
	for _, res := range out.Reservations {
		for _, in := range res.Instances {
			if aws.ToString(in.InstanceId) != instanceID {
				continue
			}
			owner := aws.ToString(res.OwnerId)
			accounts := acct.Accounts
			if len(accounts) == 0 {
				accounts = []string{c.roleAccount}
			}
			if !slices.Contains(accounts, owner) {
				return outside("owned by account %s, not the tenant's (%s)", owner, strings.Join(accounts, ", "))
			}
			tags := map[string]string{}
			for _, t := range in.Tags {
				tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
			}
			for _, k := range sortedKeys(acct.Tags) {
				want := acct.Tags[k]
				have, ok := tags[k]
				switch {
				case !ok:
					return outside("tag %s is missing, want %q", k, want)
				case have != want:
					return outside("tag %s is %q, not %q", k, have, want)
				}
			}
			return nil
		}
	}
	return outside("not found in the tenant's account %s", c.roleAccount)
}

// accessDeniedCodes are the answers of a role the tenant has not set up as
// documented: STS refusing AssumeRole (wrong ExternalId, trust policy
// missing the MSP) or the role lacking a permission.
var accessDeniedCodes = map[string]bool{
	"AccessDenied":                true,
	"AccessDeniedException":       true,
	"UnauthorizedOperation":       true,
	"AuthFailure":                 true,
	"UnrecognizedClientException": true,
	"InvalidClientTokenId":        true,
	"ExpiredToken":                true,
	"ExpiredTokenException":       true,
	"RegionDisabledException":     true,
}

// explain wraps err with what the operator has to do about it: fix the
// tenant's role, or wait out throttling.
func explain(acct *config.ExecutorAWS, op string, err error) error {
	code := apiCode(err)
	switch {
	case accessDeniedCodes[code] && assumeRoleFailed(err):
		return fmt.Errorf("%s: STS refused to let the executor assume the tenant's role %s with the tenant's ExternalId (%s); check that the role's trust policy names the MSP and requires exactly the ExternalId configured for the tenant: %w",
			op, acct.RoleARN, code, err)
	case accessDeniedCodes[code]:
		return fmt.Errorf("%s: AWS refused the tenant's role %s (%s); check that its trust policy lets the MSP assume it with the tenant's ExternalId and that it allows %s: %w",
			op, acct.RoleARN, code, op, err)
	case isThrottle(err):
		return fmt.Errorf("%s: AWS kept throttling the tenant's calls after the SDK's retries; try again later: %w", op, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// assumeRoleFailed reports whether err came from STS while the SDK was
// getting the tenant's credentials, rather than from the service called.
func assumeRoleFailed(err error) bool {
	for e := err; e != nil; e = errors.Unwrap(e) {
		// Not errors.As: that stops at the outermost OperationError, the
		// called service's, and STS's is the one wrapped inside it.
		if oe, ok := e.(*smithy.OperationError); ok && oe.Service() == "STS" { //nolint:errorlint // the loop walks the chain itself
			return true
		}
	}
	return false
}

// apiCode is the AWS error code in err's chain, or "".
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func isThrottle(err error) bool {
	if (retry.ThrottleErrorCode{Codes: retry.DefaultThrottleErrorCodes}).IsErrorThrottle(err) == aws.TrueTernary {
		return true
	}
	return httpStatus(err) == http.StatusTooManyRequests
}

// httpStatus is the status of the HTTP answer in err's chain, or 0 when
// there was none.
func httpStatus(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

package dxmonitor

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/directconnect"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// maxPages bounds the pages read from one DescribeVirtualInterfaces listing:
// an endpoint that kept returning a next token would otherwise hold the
// poll until its timeout. No account has this many pages of VIFs.
const maxPages = 100

// sessionName is the RoleSessionName, which the customer sees in their
// CloudTrail next to every call the MSP made with their role.
const sessionName = "ams-awsdx"

func loadDefaultConfig(ctx context.Context) (aws.Config, error) {
	return config.LoadDefaultConfig(ctx)
}

// client returns the Direct Connect client for t in region, building it at
// first use. Every client of one target shares one credentials cache over
// that target's own role, so each target assumes its role once per session
// lifetime and no two targets ever share credentials.
func (m *Monitor) client(ctx context.Context, t *target, region string) (*directconnect.Client, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := fmt.Sprintf("%d/%s", t.index, region)
	if c, ok := m.clients[key]; ok {
		return c, nil
	}
	if m.base == nil {
		cfg, err := m.opts.AWSConfig(ctx)
		if err != nil {
			return nil, fmt.Errorf("load aws config: %w", err)
		}
		m.base = &cfg
	}
	creds := m.targetCredentials(t)
	c := directconnect.NewFromConfig(*m.base, func(o *directconnect.Options) {
		o.Region = region
		o.Credentials = creds
		if m.opts.DirectConnectEndpoint != "" {
			o.BaseEndpoint = aws.String(m.opts.DirectConnectEndpoint)
		}
	})
	m.clients[key] = c
	return c, nil
}

// targetCredentials returns t's credentials cache, shared by its regions.
// Called with m.mu held.
func (m *Monitor) targetCredentials(t *target) aws.CredentialsProvider {
	if c, ok := m.creds[t.index]; ok {
		return c
	}
	// STS is called in the target's first region: regional STS endpoints
	// keep working when another region has trouble, and a region the
	// customer enabled is one STS is enabled in.
	stsClient := sts.NewFromConfig(*m.base, func(o *sts.Options) {
		o.Region = t.Regions[0]
		if m.opts.STSEndpoint != "" {
			o.BaseEndpoint = aws.String(m.opts.STSEndpoint)
		}
	})
	provider := stscreds.NewAssumeRoleProvider(stsClient, t.RoleARN, func(o *stscreds.AssumeRoleOptions) {
		o.ExternalID = aws.String(t.ExternalID)
		o.RoleSessionName = sessionName
	})
	c := aws.NewCredentialsCache(provider)
	m.creds[t.index] = c
	return c
}

// describeAll returns every virtual interface of the client's account and
// region, following next tokens.
func describeAll(ctx context.Context, c *directconnect.Client) ([]observedVIF, error) {
	var out []observedVIF
	var token *string
	for range maxPages {
		page, err := c.DescribeVirtualInterfaces(ctx, &directconnect.DescribeVirtualInterfacesInput{NextToken: token})
		if err != nil {
			return nil, fmt.Errorf("describe virtual interfaces: %w", err)
		}
		for _, v := range page.VirtualInterfaces {
			out = append(out, observe(v))
		}
		if page.NextToken == nil || *page.NextToken == "" {
			return out, nil
		}
		if token != nil && *token == *page.NextToken {
			return nil, fmt.Errorf("describe virtual interfaces: the next token %q repeats", *token)
		}
		token = page.NextToken
	}
	return nil, fmt.Errorf("describe virtual interfaces: more than %d pages", maxPages)
}

// Results, the result label of ams_ingest_awsdx_polls_total.
const (
	resultOK           = "ok"
	resultAccessDenied = "access_denied"
	resultThrottled    = "throttled"
	resultAWSError     = "aws_error"
	resultStateError   = "state_error"
	resultPublishError = "publish_error"
)

// accessDeniedCodes are the error codes of a role the customer has not set
// up as documented: STS refusing the AssumeRole (wrong ExternalId, trust
// policy missing the MSP), or the role lacking the Direct Connect permission.
var accessDeniedCodes = map[string]bool{
	"AccessDenied":                true,
	"AccessDeniedException":       true,
	"UnauthorizedOperation":       true,
	"UnrecognizedClientException": true,
	"InvalidClientTokenId":        true,
	"ExpiredToken":                true,
	"ExpiredTokenException":       true,
	"RegionDisabledException":     true,
}

// classifyAWSError tells a misconfigured role (the customer must act) from
// throttling (it passes by itself) from anything else, so the metric points
// at who has to do something.
func classifyAWSError(err error) string {
	throttle := retry.ThrottleErrorCode{Codes: retry.DefaultThrottleErrorCodes}
	if throttle.IsErrorThrottle(err) == aws.TrueTernary {
		return resultThrottled
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() == http.StatusTooManyRequests {
		return resultThrottled
	}
	var ae smithy.APIError
	if errors.As(err, &ae) && accessDeniedCodes[ae.ErrorCode()] {
		return resultAccessDenied
	}
	if errors.As(err, &re) && (re.HTTPStatusCode() == http.StatusForbidden || re.HTTPStatusCode() == http.StatusUnauthorized) {
		return resultAccessDenied
	}
	return resultAWSError
}

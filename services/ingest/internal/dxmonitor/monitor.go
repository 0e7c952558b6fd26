// Package dxmonitor is ingest's AWS Direct Connect source: a pull source
// that polls each tenant's AWS accounts for the state of their Direct
// Connect virtual interfaces (VIFs) and their BGP peers, and turns changes
// into AMS alerts ("awsdx" source).
//
// Direct Connect has no webhook of its own, so ingest asks instead: every
// Interval, for each configured Target and region, it calls
// DescribeVirtualInterfaces with that tenant's own role (sts:AssumeRole with
// the tenant's ExternalId) and compares what it sees with what it last
// reported. A VIF that leaves `available`, or a BGP peer whose bgpStatus
// leaves `up`, raises a firing alert; its return raises the resolved alert.
//
// What is currently down, and since when, lives in a JetStream KV bucket so
// that a restart neither raises an outage twice nor forgets to resolve it.
// Every transition is recorded there before its alert is published and
// marked delivered only after the PubAck, so a crash in between re-publishes
// the very same alert (same starts_at, hence same message id, which the
// ALERTS stream drops as a duplicate) rather than losing it.
//
// The tenant and integration of every alert come from the Target, never from
// what AWS returns: AWS data only says which VIF is in which state.
package dxmonitor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/directconnect"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/ingest/internal/publish"
)

// SourceName is the source of every alert this package raises.
const SourceName = "awsdx"

// DefaultInterval is how often each account and region is polled when
// Options.Interval is zero: DescribeVirtualInterfaces is cheap and
// unthrottled at this rate, and a minute is well inside the time an
// operator would take to notice an outage any other way.
const DefaultInterval = time.Minute

// DefaultConcurrency bounds how many account/region polls run at once, so a
// large MSP does not open hundreds of connections at the same instant.
const DefaultConcurrency = 8

// Target is one integration of source awsdx: the tenant it belongs to and
// how to reach that tenant's AWS account.
type Target struct {
	// Tenant and Integration stamp every alert; they come from configuration
	// because the tenant must never be read from what the source returns.
	Tenant      string
	Integration string
	// RoleARN is the role the customer created in their account for the MSP.
	RoleARN string
	// ExternalID is the value the role's trust policy requires in
	// sts:ExternalId; it stops another customer of the MSP from pointing
	// their integration at this customer's role (the confused deputy).
	ExternalID string
	// Regions are the regions whose virtual interfaces are watched.
	Regions []string
}

// Publisher stores alerts durably, in order. It returns only once each alert
// is stored (or recognised as a duplicate), because the monitor marks an
// alert delivered as soon as Publish returns nil.
type Publisher interface {
	Publish(ctx context.Context, alerts []*amsv1.Alert) error
}

// PublisherFunc adapts a function to Publisher.
type PublisherFunc func(ctx context.Context, alerts []*amsv1.Alert) error

// Publish calls f.
func (f PublisherFunc) Publish(ctx context.Context, alerts []*amsv1.Alert) error {
	return f(ctx, alerts)
}

// AlertPublisher adapts ingest's publisher, which stores each alert under a
// message id derived from tenant|integration|fingerprint|status|starts_at:
// a re-publish of the same transition is stored once.
func AlertPublisher(p *publish.Publisher) Publisher {
	return PublisherFunc(func(ctx context.Context, alerts []*amsv1.Alert) error {
		_, err := p.Publish(ctx, alerts)
		return err
	})
}

// Options configure a Monitor.
type Options struct {
	Targets []Target
	// Interval between polls of each account and region; DefaultInterval if zero.
	Interval time.Duration
	// PollTimeout bounds one account/region poll, SDK retries included, so
	// a hanging endpoint delays only that poll; Interval if zero.
	PollTimeout time.Duration
	// Concurrency bounds parallel account/region polls; DefaultConcurrency if zero.
	Concurrency int

	Publisher Publisher
	// State is the bucket made by EnsureBucket.
	State jetstream.KeyValue

	// AWSConfig returns the base SDK configuration: the MSP's own
	// credentials, which sign the AssumeRole calls, and SDK settings such as
	// RetryMaxAttempts. Nil means config.LoadDefaultConfig. It is called at
	// the first poll (and again after a failure), not by New.
	AWSConfig func(ctx context.Context) (aws.Config, error)
	// STSEndpoint and DirectConnectEndpoint override the services'
	// endpoints (a VPC endpoint, or a local fake in tests). Empty means the
	// SDK's regional endpoint.
	STSEndpoint           string
	DirectConnectEndpoint string

	// Registerer gets the metrics; a private registry if nil.
	Registerer prometheus.Registerer
	// Log gets poll failures; discarded if nil.
	Log *slog.Logger
	// Now stamps received_at and the start and end of outages; time.Now if nil.
	Now func() time.Time
	// NewID returns a fresh alert id; a random UUID if nil.
	NewID func() string
}

// Monitor polls Direct Connect for every target. Create it with New.
type Monitor struct {
	opts    Options
	targets []target
	metrics *metrics
	log     *slog.Logger

	mu      sync.Mutex
	clients map[string]*directconnect.Client // by target index and region, built at first use
	creds   map[int]aws.CredentialsProvider  // by target index: one role session per target
	base    *aws.Config
}

// target is a validated Target with what is derived from it.
type target struct {
	Target
	index   int
	account string // from the role ARN: the account whose VIFs are watched
	part    string // ARN partition: aws, aws-cn, aws-us-gov
}

var (
	// Tenant ids and integration names are validated by the config loader
	// with the same patterns; the monitor checks again because they become
	// KV key tokens, where a space or a wildcard would be refused or worse.
	tenantPattern      = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	integrationPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,127}$`)
	regionPattern      = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
)

// New validates opts and returns a Monitor. It starts nothing and makes no
// AWS call.
func New(opts Options) (*Monitor, error) {
	if opts.Publisher == nil {
		return nil, errors.New("dxmonitor: no publisher")
	}
	if opts.State == nil {
		return nil, errors.New("dxmonitor: no state bucket (see EnsureBucket)")
	}
	if opts.Interval < 0 || opts.PollTimeout < 0 || opts.Concurrency < 0 {
		return nil, errors.New("dxmonitor: interval, poll timeout and concurrency must not be negative")
	}
	if opts.Interval == 0 {
		opts.Interval = DefaultInterval
	}
	if opts.PollTimeout == 0 {
		opts.PollTimeout = opts.Interval
	}
	if opts.Concurrency == 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.AWSConfig == nil {
		opts.AWSConfig = loadDefaultConfig
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.NewID == nil {
		opts.NewID = uuid.NewString
	}
	targets, err := validateTargets(opts.Targets)
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	return &Monitor{
		opts:    opts,
		targets: targets,
		metrics: m,
		log:     opts.Log,
		clients: map[string]*directconnect.Client{},
		creds:   map[int]aws.CredentialsProvider{},
	}, nil
}

func validateTargets(in []Target) ([]target, error) {
	var errs []error
	bad := func(i int, key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("targets[%d].%s: %s", i, key, fmt.Sprintf(format, args...)))
	}
	seen := map[string]int{}
	out := make([]target, 0, len(in))
	for i, t := range in {
		if !tenantPattern.MatchString(t.Tenant) {
			bad(i, "tenant", "%q is not a tenant id (lowercase letters, digits and dashes)", t.Tenant)
		}
		if !integrationPattern.MatchString(t.Integration) {
			bad(i, "integration", "%q is not an integration name (lowercase letters, digits, dot, dash, underscore)", t.Integration)
		} else if j, dup := seen[t.Integration]; dup {
			bad(i, "integration", "%q is already targets[%d]: each integration is polled once", t.Integration, j)
		} else {
			seen[t.Integration] = i
		}
		a, err := arn.Parse(t.RoleARN)
		if err != nil || a.Service != "iam" || !strings.HasPrefix(a.Resource, "role/") || a.AccountID == "" {
			bad(i, "role_arn", "%q is not an IAM role ARN such as arn:aws:iam::123456789012:role/ams-monitor", t.RoleARN)
		}
		if strings.TrimSpace(t.ExternalID) == "" {
			bad(i, "external_id", "missing: the customer's role must require an sts:ExternalId, and this is its value")
		}
		if len(t.Regions) == 0 {
			bad(i, "regions", "missing: list the regions whose virtual interfaces to watch, e.g. [us-east-1]")
		}
		regions := map[string]bool{}
		for j, r := range t.Regions {
			switch {
			case !regionPattern.MatchString(r):
				bad(i, fmt.Sprintf("regions[%d]", j), "%q is not an AWS region code such as ap-northeast-1", r)
			case regions[r]:
				bad(i, fmt.Sprintf("regions[%d]", j), "%q is listed twice", r)
			}
			regions[r] = true
		}
		out = append(out, target{Target: t, index: i, account: a.AccountID, part: a.Partition})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("dxmonitor: %w", err)
	}
	return out, nil
}

// Run polls at once and then every Interval until ctx ends, and returns nil
// then. A failed poll is logged and counted; the next interval tries again,
// so one tenant's broken role or a throttled account never stops the others.
func (m *Monitor) Run(ctx context.Context) error {
	ticker := time.NewTicker(m.opts.Interval)
	defer ticker.Stop()
	for {
		err := m.PollOnce(ctx)
		if ctx.Err() != nil {
			return nil // shutting down: what was cut short is not a failure
		}
		m.logFailures(err)
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

func (m *Monitor) logFailures(err error) {
	if err == nil {
		return
	}
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	for _, e := range errs {
		var pe *PollError
		if errors.As(e, &pe) {
			m.log.Warn("direct connect poll failed", "tenant", pe.Tenant, "integration", pe.Integration,
				"region", pe.Region, "result", pe.Result, "err", pe.Err)
			continue
		}
		m.log.Warn("direct connect poll failed", "err", e)
	}
}

// PollError is one account/region poll that failed.
type PollError struct {
	Tenant, Integration, Region string
	// Result is the polls_total result label: access_denied, throttled,
	// aws_error, state_error or publish_error.
	Result string
	Err    error
}

func (e *PollError) Error() string {
	return fmt.Sprintf("poll direct connect for tenant %s integration %s in %s (%s): %v",
		e.Tenant, e.Integration, e.Region, e.Result, e.Err)
}

func (e *PollError) Unwrap() error { return e.Err }

// PollOnce polls every target in every region once, concurrently, and
// returns the failures joined (each a *PollError); polls that succeeded
// have published their alerts whatever happened to the others.
func (m *Monitor) PollOnce(ctx context.Context) error {
	type job struct {
		t      *target
		region string
	}
	var jobs []job
	for i := range m.targets {
		for _, r := range m.targets[i].Regions {
			jobs = append(jobs, job{&m.targets[i], r})
		}
	}
	errs := make([]error, len(jobs))
	sem := make(chan struct{}, m.opts.Concurrency)
	var wg sync.WaitGroup
	for i, j := range jobs {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			errs[i] = &PollError{Tenant: j.t.Tenant, Integration: j.t.Integration, Region: j.region, Result: resultAWSError, Err: ctx.Err()}
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = m.poll(ctx, j.t, j.region)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// poll polls one account in one region and records the outcome.
func (m *Monitor) poll(parent context.Context, t *target, region string) error {
	ctx, cancel := context.WithTimeout(parent, m.opts.PollTimeout)
	defer cancel()
	result, err := m.pollRegion(ctx, t, region)
	// A poll cut short by shutdown says nothing about the account.
	if parent.Err() == nil {
		m.metrics.polls.WithLabelValues(t.Tenant, t.Integration, region, result).Inc()
	}
	if err != nil {
		return &PollError{Tenant: t.Tenant, Integration: t.Integration, Region: region, Result: result, Err: err}
	}
	return nil
}

func (m *Monitor) pollRegion(ctx context.Context, t *target, region string) (string, error) {
	client, err := m.client(ctx, t, region)
	if err != nil {
		return resultAWSError, err
	}
	vifs, err := describeAll(ctx, client)
	if err != nil {
		return classifyAWSError(err), err
	}
	down, peersDown, err := m.reconcileRegion(ctx, t, region, vifs)
	if err != nil {
		var pe *publishError
		if errors.As(err, &pe) {
			return resultPublishError, err
		}
		return resultStateError, err
	}
	m.metrics.vifsDown.WithLabelValues(t.Tenant, t.Integration, region).Set(float64(down))
	m.metrics.peersDown.WithLabelValues(t.Tenant, t.Integration, region).Set(float64(peersDown))
	return resultOK, nil
}

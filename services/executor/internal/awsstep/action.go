package awsstep

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/amsproject/ams/services/executor/internal/step"
)

// An action (SendCommand, RebootInstances, StartInstances) has no client
// token in the AWS API, so sending it twice may run it twice. The SDK's
// standard retryer would resend it after a dropped connection or a 5xx.
// The per-call options below keep the retries that are safe — a throttling
// answer, a connection that was never obtained — and turn every other
// failure once the request could have been written into an unknown
// outcome.

type sentKey struct{}

// sendTracker records whether the last attempt of one call got a
// connection to send on: from then on the request may have reached AWS.
// Getting the connection is the last step the transport reports
// synchronously; whether every byte was written it only reports from
// another goroutine, possibly after the answer, so the tracker does not
// rely on it.
type sendTracker struct {
	sent atomic.Bool
}

// track returns ctx carrying a new tracker for one action call.
func track(ctx context.Context) (context.Context, *sendTracker) {
	t := &sendTracker{}
	return context.WithValue(ctx, sentKey{}, t), t
}

// httpClient is what the SDK's clients call to send a request.
type httpClient interface {
	Do(*http.Request) (*http.Response, error)
}

// trackingClient marks the call's tracker once a connection is in hand,
// and makes a transport error after that non-retryable.
type trackingClient struct {
	next httpClient
}

func (c trackingClient) Do(req *http.Request) (*http.Response, error) {
	t, _ := req.Context().Value(sentKey{}).(*sendTracker)
	if t == nil {
		return c.next.Do(req)
	}
	// Each attempt starts unsent: an earlier attempt that was answered
	// (throttled) did not act.
	t.sent.Store(false)
	trace := &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) { t.sent.Store(true) },
	}
	resp, err := c.next.Do(req.WithContext(httptrace.WithClientTrace(req.Context(), trace)))
	if err != nil && strings.Contains(err.Error(), "server closed idle connection") {
		// net/http's errServerClosedIdle: the server closed a kept-alive
		// connection before the request was written to it.
		t.sent.Store(false)
	}
	if err != nil && t.sent.Load() {
		return resp, &sentError{err: err}
	}
	return resp, err
}

// sentError is a transport error once the request could have been
// written. The SDK's retryer asks RetryableError() before its own checks
// (which would call a dropped connection retryable).
type sentError struct{ err error }

func (e *sentError) Error() string        { return e.err.Error() }
func (e *sentError) Unwrap() error        { return e.err }
func (e *sentError) RetryableError() bool { return false }

// actionRetryer is the client's retryer, except that a 5xx answer to an
// action is not retried: the service failed while handling it and may have
// acted.
type actionRetryer struct {
	aws.RetryerV2
}

func (r actionRetryer) IsErrorRetryable(err error) bool {
	if httpStatus(err) >= 500 {
		return false
	}
	return r.RetryerV2.IsErrorRetryable(err)
}

// retryerV1 adapts a retryer without GetAttemptToken.
type retryerV1 struct{ aws.Retryer }

func (r retryerV1) GetAttemptToken(context.Context) (func(error) error, error) {
	return r.GetInitialToken(), nil
}

func forAction(r aws.Retryer) aws.Retryer {
	if v2, ok := r.(aws.RetryerV2); ok {
		return actionRetryer{v2}
	}
	return actionRetryer{retryerV1{r}}
}

// ssmAction and ec2Action are the per-call options of actions.
func ssmAction(o *ssm.Options) {
	o.Retryer = forAction(o.Retryer)
	o.HTTPClient = trackingClient{next: o.HTTPClient}
}

func ec2Action(o *ec2.Options) {
	o.Retryer = forAction(o.Retryer)
	o.HTTPClient = trackingClient{next: o.HTTPClient}
}

// actionError classifies the error of an action call. An HTTP 4xx answer
// means AWS refused the request (bad parameters, access denied, still
// throttled): nothing ran. A request that never got a connection did not
// run either (this includes a failed AssumeRole: credentials come before
// the connection). Anything else — no answer once the request could have
// been written, or a 5xx — may have acted: the outcome is unknown.
func actionError(t *sendTracker, err error) error {
	if st := httpStatus(err); st >= 400 && st < 500 {
		return err
	}
	if !t.sent.Load() {
		return err
	}
	return &step.UnknownOutcomeError{Err: fmt.Errorf("%w (the request reached AWS but its answer was lost or a server error; it may have been carried out)", err)}
}

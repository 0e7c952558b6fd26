// Package sigauth authenticates the sources that sign their requests
// instead of sending a token: PagerDuty webhooks (an HMAC of the body with
// the subscription's secret) and Amazon SNS (an RSA signature by a
// certificate AWS serves). Each type implements httpapi.Authenticator.
package sigauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/amsproject/ams/services/ingest/internal/httpapi"
	"github.com/amsproject/ams/services/ingest/internal/snsverify"
	"github.com/amsproject/ams/services/ingest/internal/source"
	"github.com/amsproject/ams/services/ingest/internal/source/pagerduty"
)

// PagerDutySignatureHeader carries "v1=<hex HMAC-SHA256>", several
// comma-separated while a secret is rotated.
const PagerDutySignatureHeader = "X-PagerDuty-Signature"

// PagerDuty checks the X-PagerDuty-Signature of a webhook v3 delivery
// against the integration's signing secrets.
type PagerDuty struct{ Secrets []string }

// Header refuses a request with no signature before its body is read.
func (PagerDuty) Header(r *http.Request) error {
	if r.Header.Get(PagerDutySignatureHeader) == "" {
		return errors.New("missing " + PagerDutySignatureHeader + ": PagerDuty signs every webhook; check that the subscription's signing secret is in the integration's signing_secrets")
	}
	return nil
}

// Body verifies the signature over the raw body.
func (p PagerDuty) Body(_ context.Context, r *http.Request, body []byte) error {
	if !pagerduty.VerifySignature(p.Secrets, body, r.Header.Get(PagerDutySignatureHeader)) {
		return errors.New(PagerDutySignatureHeader + " matches none of the integration's signing secrets")
	}
	return nil
}

// SNSTypeHeader is set by SNS on every HTTP(S) delivery.
const SNSTypeHeader = "X-Amz-Sns-Message-Type"

// SNS accepts messages Amazon SNS signed for one of the integration's
// topics, and confirms subscriptions to them. Requests that are not SNS
// deliveries (an EventBridge API destination) must carry a token instead.
type SNS struct {
	// Topics may be nil: the integration then takes no SNS deliveries.
	Topics   *snsverify.AllowedTopics
	Verifier *snsverify.Verifier
	Tokens   httpapi.TokenAuth
}

// Header lets SNS deliveries through to the body check and holds every
// other request to a token.
func (a SNS) Header(r *http.Request) error {
	if r.Header.Get(SNSTypeHeader) == "" {
		return a.Tokens.Header(r)
	}
	if a.Topics == nil {
		return errors.New("this integration has no topic_arns, so it accepts no SNS deliveries: add the topic's ARN to its topic_arns")
	}
	return nil
}

// Body verifies an SNS delivery: the topic, then the signature. A
// subscription confirmation is confirmed here and carries no alert.
func (a SNS) Body(ctx context.Context, r *http.Request, body []byte) error {
	if r.Header.Get(SNSTypeHeader) == "" {
		return nil
	}
	m, err := snsverify.Parse(body)
	if err != nil {
		return &source.Error{Problem: err.Error()}
	}
	if err := a.Topics.Check(m.TopicArn); err != nil {
		return err
	}
	if err := a.Verifier.Verify(ctx, m); err != nil {
		return unavailable(err)
	}
	switch m.Type {
	case snsverify.TypeSubscriptionConfirmation:
		if err := a.Verifier.Confirm(ctx, m); err != nil {
			return unavailable(err)
		}
		return &source.Ignored{Reason: "subscription to " + m.TopicArn + " confirmed"}
	case snsverify.TypeUnsubscribeConfirmation:
		return &source.Ignored{Reason: "unsubscribed from " + m.TopicArn}
	}
	return nil
}

// unavailable marks errors SNS should retry (a certificate that could not
// be fetched) so that ingest answers 503 rather than 401.
func unavailable(err error) error {
	if errors.Is(err, snsverify.ErrUnavailable) {
		return fmt.Errorf("%w: %w", httpapi.ErrUnavailable, err)
	}
	return err
}

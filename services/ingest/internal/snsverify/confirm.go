package snsverify

import (
	"context"
)

// Confirm confirms the subscription a SubscriptionConfirmation asks about
// by visiting its SubscribeURL, as AWS documents for HTTP(S) endpoints. m
// must be a message Verify accepted: the URL comes from the body, and only
// SNS's signature makes it safe to request. The URL is checked like a
// certificate URL (https, sns.<region>.amazonaws.com[.cn], no user info or
// other port), its region must be the topic's, and it must be the
// ConfirmSubscription action for this very topic, so a confirmation can
// neither reach another host nor subscribe AMS to a topic it did not name.
//
// UnsubscribeConfirmation is refused: visiting its SubscribeURL would undo
// an unsubscribe someone chose.
func (v *Verifier) Confirm(ctx context.Context, m *Message) error {
	if m == nil {
		return invalid("", "no message: call Parse first")
	}
	if m.Type != TypeSubscriptionConfirmation {
		return rejected("Type", "%q is not a SubscriptionConfirmation: only those are confirmed", m.Type)
	}
	if !m.verified {
		return rejected("", "message not verified: call Verify before Confirm")
	}
	u, region, err := checkSNSURL("SubscribeURL", m.SubscribeURL)
	if err != nil {
		return err
	}
	topicRegion, err := TopicRegion(m.TopicArn)
	if err != nil {
		return invalid("TopicArn", "%v", err)
	}
	if region != topicRegion {
		return rejected("SubscribeURL", "host region %s is not the topic's region %s", region, topicRegion)
	}
	if u.Path != "/" && u.Path != "" {
		return rejected("SubscribeURL", "path %q is not SNS's API root /", u.Path)
	}
	q := u.Query()
	if a := q.Get("Action"); a != "ConfirmSubscription" {
		return rejected("SubscribeURL", "Action %q is not ConfirmSubscription", a)
	}
	if t := q.Get("TopicArn"); t != m.TopicArn {
		return rejected("SubscribeURL", "TopicArn %q is not the message's topic %q", t, m.TopicArn)
	}
	if q.Get("Token") == "" {
		return rejected("SubscribeURL", "no Token: SNS cannot confirm without it")
	}
	_, err = v.get(ctx, "SubscribeURL", u.String(), maxConfirmBody)
	return err
}

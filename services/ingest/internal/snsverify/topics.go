package snsverify

import (
	"fmt"
	"slices"
)

// AllowedTopics is an integration's allow-list of SNS topic ARNs. A valid
// signature only proves that SNS sent a message, and anyone with an AWS
// account can subscribe AMS's URL to their own topic and have SNS sign what
// they publish; the topic is what ties a message to its owner.
type AllowedTopics struct {
	arns map[string]struct{}
}

// NewAllowedTopics returns the allow-list of the given exact topic ARNs.
// It refuses an empty list and anything that is not a topic ARN, so a
// mistyped configuration fails at start rather than refusing every message.
func NewAllowedTopics(arns ...string) (*AllowedTopics, error) {
	if len(arns) == 0 {
		return nil, fmt.Errorf("no SNS topics allowed: list the topic ARNs (arn:aws:sns:<region>:<account>:<topic>) whose messages this integration accepts")
	}
	t := &AllowedTopics{arns: make(map[string]struct{}, len(arns))}
	for i, arn := range arns {
		if _, err := TopicRegion(arn); err != nil {
			return nil, fmt.Errorf("topic %d: %w", i, err)
		}
		t.arns[arn] = struct{}{}
	}
	return t, nil
}

// Check returns nil if topicArn is allowed, or an ErrRejected error naming
// it. Matching is exact: ARNs are case-sensitive and a prefix or pattern
// would let a look-alike topic in another account through.
func (t *AllowedTopics) Check(topicArn string) error {
	if t != nil {
		if _, ok := t.arns[topicArn]; ok {
			return nil
		}
	}
	return rejected("TopicArn", "topic %q is not allowed for this integration: add it to the integration's SNS topics if its messages are wanted", topicArn)
}

// List returns the allowed ARNs, sorted, for logs and docs.
func (t *AllowedTopics) List() []string {
	out := make([]string, 0, len(t.arns))
	for a := range t.arns {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

// Package snsverify proves that a request body is a message Amazon SNS sent
// to an HTTP(S) subscription, following AWS's "Verifying the signatures of
// Amazon SNS messages" (https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html).
//
// Anyone can POST a JSON document that looks like an SNS message, so an
// endpoint subscribed to a topic must not act on one until it has checked
// that the topic is one it expects and that SNS signed it. The HTTP layer
// calls, in this order:
//
//  1. Parse(body): the JSON envelope, with errors naming the field (400).
//  2. AllowedTopics.Check(msg.TopicArn): cheap, and refuses messages for
//     other topics before anything is fetched (403).
//  3. Verifier.Verify(ctx, msg): signature version, Timestamp age, the
//     SigningCertURL's host, then the (cached) certificate and signature.
//  4. For Type SubscriptionConfirmation, Verifier.Confirm(ctx, msg) visits
//     the SubscribeURL; for Notification, the source parser reads
//     msg.Message; UnsubscribeConfirmation needs nothing.
//
// Every error is an *Error; errors.Is tells the kind: ErrInvalid (a
// malformed body), ErrRejected (well formed, but not proven to be a fresh SNS
// message for an allowed topic) or ErrUnavailable (a certificate or
// confirmation could not be fetched: the message may be genuine, so answer
// 5xx and let SNS retry).
package snsverify

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// SNS message types, the Type field of the envelope.
const (
	TypeNotification             = "Notification"
	TypeSubscriptionConfirmation = "SubscriptionConfirmation"
	TypeUnsubscribeConfirmation  = "UnsubscribeConfirmation"
)

// Kinds of error, for errors.Is on an *Error.
var (
	// ErrInvalid: the body is not a well-formed SNS message.
	ErrInvalid = errors.New("invalid SNS message")
	// ErrRejected: the message is well formed but not accepted: a topic
	// not allowed, a certificate URL that is not Amazon SNS's, a bad or
	// unsupported signature, an expired certificate, a stale Timestamp.
	ErrRejected = errors.New("SNS message rejected")
	// ErrUnavailable: SNS's certificate or confirmation URL could not be
	// reached or answered 5xx. The message may be genuine; retry later.
	ErrUnavailable = errors.New("SNS endpoint unavailable")
)

// Error is a problem with an SNS message. Field names the envelope field at
// fault (SigningCertURL), or is empty for the body as a whole.
type Error struct {
	kind    error
	Field   string
	Problem string
	// Err is the underlying cause, when there is one (a network error).
	Err error
}

// Error returns "Field: problem", with the cause when there is one.
func (e *Error) Error() string {
	s := e.Problem
	if e.Field != "" {
		s = e.Field + ": " + s
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Is reports whether target is this error's kind (ErrInvalid, ErrRejected
// or ErrUnavailable).
func (e *Error) Is(target error) bool { return target == e.kind }

// Unwrap returns the underlying cause, or nil.
func (e *Error) Unwrap() error { return e.Err }

func invalid(field, format string, args ...any) *Error {
	return &Error{kind: ErrInvalid, Field: field, Problem: fmt.Sprintf(format, args...)}
}

func rejected(field, format string, args ...any) *Error {
	return &Error{kind: ErrRejected, Field: field, Problem: fmt.Sprintf(format, args...)}
}

// Message is an SNS HTTP(S) message envelope (Notification,
// SubscriptionConfirmation or UnsubscribeConfirmation). The strings are
// exactly as sent: the signature covers them byte for byte.
type Message struct {
	Type      string
	MessageID string
	// Token is set on confirmations only.
	Token    string
	TopicArn string
	// Subject is set only on notifications published with one; HasSubject
	// tells an empty Subject from none, which sign differently.
	Subject    string
	HasSubject bool
	// Message is the payload: for CloudWatch, the alarm as a JSON string.
	Message string
	// Timestamp is the time SNS published the message, as sent
	// (RFC 3339); Published is the same, parsed.
	Timestamp        string
	Published        time.Time
	SignatureVersion string
	Signature        string
	SigningCertURL   string
	// SubscribeURL is set on confirmations only.
	SubscribeURL   string
	UnsubscribeURL string

	// verified is set by Verify, so Confirm never visits a URL from a
	// message nobody proved SNS sent.
	verified bool
}

// wireMessage decodes the envelope with pointers, to tell a missing or
// null field from an empty one (Subject is signed only when present).
type wireMessage struct {
	Type             *string `json:"Type"`
	MessageID        *string `json:"MessageId"`
	Token            *string `json:"Token"`
	TopicArn         *string `json:"TopicArn"`
	Subject          *string `json:"Subject"`
	Message          *string `json:"Message"`
	Timestamp        *string `json:"Timestamp"`
	SignatureVersion *string `json:"SignatureVersion"`
	Signature        *string `json:"Signature"`
	SigningCertURL   *string `json:"SigningCertURL"`
	SubscribeURL     *string `json:"SubscribeURL"`
	UnsubscribeURL   *string `json:"UnsubscribeURL"`
}

// Parse decodes an SNS HTTP(S) message body and checks that the fields its
// type needs are present. It proves nothing about who sent it: call Verify.
func Parse(body []byte) (*Message, error) {
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil, invalid("", "empty body: expected an SNS message (a JSON object)")
	}
	var w wireMessage
	if err := json.Unmarshal(body, &w); err != nil {
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) {
			field := typ.Field
			if field == "" {
				return nil, invalid("", "body is a JSON %s, not an object", typ.Value)
			}
			return nil, invalid(field, "expected a string, got %s", typ.Value)
		}
		return nil, &Error{kind: ErrInvalid, Problem: "invalid JSON", Err: err}
	}
	m := &Message{
		Type:             deref(w.Type),
		MessageID:        deref(w.MessageID),
		Token:            deref(w.Token),
		TopicArn:         deref(w.TopicArn),
		Subject:          deref(w.Subject),
		HasSubject:       w.Subject != nil,
		Message:          deref(w.Message),
		Timestamp:        deref(w.Timestamp),
		SignatureVersion: deref(w.SignatureVersion),
		Signature:        deref(w.Signature),
		SigningCertURL:   deref(w.SigningCertURL),
		SubscribeURL:     deref(w.SubscribeURL),
		UnsubscribeURL:   deref(w.UnsubscribeURL),
	}
	required := []struct{ field, value string }{
		{"MessageId", m.MessageID},
		{"TopicArn", m.TopicArn},
		{"Message", m.Message},
		{"Timestamp", m.Timestamp},
		{"SignatureVersion", m.SignatureVersion},
		{"Signature", m.Signature},
		{"SigningCertURL", m.SigningCertURL},
	}
	switch m.Type {
	case TypeNotification:
	case TypeSubscriptionConfirmation, TypeUnsubscribeConfirmation:
		required = append(required, struct{ field, value string }{"Token", m.Token}, struct{ field, value string }{"SubscribeURL", m.SubscribeURL})
	case "":
		return nil, invalid("Type", "missing: want Notification, SubscriptionConfirmation or UnsubscribeConfirmation")
	default:
		return nil, invalid("Type", "%q is not an SNS message type: want Notification, SubscriptionConfirmation or UnsubscribeConfirmation", m.Type)
	}
	for _, r := range required {
		if r.value == "" {
			return nil, invalid(r.field, "missing: an SNS %s always carries it", m.Type)
		}
	}
	if _, err := TopicRegion(m.TopicArn); err != nil {
		return nil, invalid("TopicArn", "%v", err)
	}
	t, err := time.Parse(time.RFC3339Nano, m.Timestamp)
	if err != nil {
		return nil, invalid("Timestamp", "%q is not an RFC 3339 time such as 2024-05-01T12:00:00.000Z", m.Timestamp)
	}
	m.Published = t.UTC()
	return m, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// stringToSign builds the canonical text SNS signs: name, newline, value,
// newline for each signed field, in byte order of the names. Which fields
// depends on the type; Subject is included only when the message has one.
func (m *Message) stringToSign() (string, error) {
	var fields []struct{ name, value string }
	add := func(name, value string) { fields = append(fields, struct{ name, value string }{name, value}) }
	switch m.Type {
	case TypeNotification:
		add("Message", m.Message)
		add("MessageId", m.MessageID)
		if m.HasSubject {
			add("Subject", m.Subject)
		}
		add("Timestamp", m.Timestamp)
		add("TopicArn", m.TopicArn)
		add("Type", m.Type)
	case TypeSubscriptionConfirmation, TypeUnsubscribeConfirmation:
		add("Message", m.Message)
		add("MessageId", m.MessageID)
		add("SubscribeURL", m.SubscribeURL)
		add("Timestamp", m.Timestamp)
		add("Token", m.Token)
		add("TopicArn", m.TopicArn)
		add("Type", m.Type)
	default:
		return "", invalid("Type", "%q is not an SNS message type", m.Type)
	}
	var b strings.Builder
	for _, f := range fields {
		b.WriteString(f.name)
		b.WriteByte('\n')
		b.WriteString(f.value)
		b.WriteByte('\n')
	}
	return b.String(), nil
}

// regionPattern matches AWS region codes: us-east-1, us-gov-west-1,
// cn-north-1, ap-southeast-5.
var regionPattern = regexp.MustCompile(`^[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}$`)

// topicARNPattern matches arn:<partition>:sns:<region>:<account>:<topic>.
// Topic names are letters, digits, hyphens and underscores, with .fifo for
// FIFO topics; a subscription ARN (one more :<id>) does not match.
var topicARNPattern = regexp.MustCompile(`^arn:(aws(?:-[a-z]+)*):sns:([a-z0-9-]+):([0-9]{12}):([A-Za-z0-9_-]{1,256}(?:\.fifo)?)$`)

// TopicRegion returns the region code of an SNS topic ARN such as
// arn:aws:sns:us-east-1:123456789012:alarms, or an error saying why it is
// not one.
func TopicRegion(arn string) (string, error) {
	m := topicARNPattern.FindStringSubmatch(arn)
	if m == nil || !regionPattern.MatchString(m[2]) {
		return "", fmt.Errorf("%q is not an SNS topic ARN such as arn:aws:sns:us-east-1:123456789012:alarms", arn)
	}
	return m[2], nil
}

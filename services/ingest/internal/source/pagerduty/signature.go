package pagerduty

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"strings"
)

// Headers PagerDuty sends with every v3 webhook delivery.
const (
	// HeaderSignature carries one "v1=<hex HMAC-SHA256 of the body>" per
	// signing secret of the subscription, comma-separated.
	HeaderSignature = "X-PagerDuty-Signature"
	// HeaderWebhookID is unique to one webhook and repeated on each of its
	// delivery attempts, so it identifies re-deliveries.
	HeaderWebhookID = "X-Webhook-Id"
	// HeaderSubscription is the id of the webhook subscription that sent it.
	HeaderSubscription = "X-Webhook-Subscription"
)

// signaturePrefix marks the only signature version PagerDuty defines.
const signaturePrefix = "v1="

// VerifySignature reports whether header (the X-PagerDuty-Signature value)
// holds a v1 signature of body made with one of secrets: HMAC-SHA256 of the
// raw body keyed with the secret, hex-encoded.
//
// Several secrets (configured during a rotation) and several signatures
// (PagerDuty signs with each of the subscription's secrets while it rotates
// them) may be given; any pair that matches wins. Every pair is compared, in
// constant time, so the time taken says neither which secret nor which
// signature matched. Signatures of other versions are skipped, as the
// PagerDuty docs ask, so that a future v2 does not break verification.
//
// Empty secrets are skipped: an HMAC keyed with "" is one anybody can make.
// body must be the bytes as received: re-encoded JSON no longer matches.
func VerifySignature(secrets []string, body []byte, header string) bool {
	if header == "" {
		return false
	}
	sums := make([][]byte, 0, len(secrets))
	for _, s := range secrets {
		if s == "" {
			continue
		}
		mac := hmac.New(sha256.New, []byte(s))
		mac.Write(body)
		sums = append(sums, mac.Sum(nil))
	}
	if len(sums) == 0 {
		return false
	}
	match := 0
	for sig := range strings.SplitSeq(header, ",") {
		// PagerDuty sends no spaces; tolerating them costs nothing, as the
		// HMAC must still match.
		hexSig, ok := strings.CutPrefix(strings.TrimSpace(sig), signaturePrefix)
		if !ok || len(hexSig) != 2*sha256.Size {
			continue
		}
		got, err := hex.DecodeString(hexSig)
		if err != nil {
			continue
		}
		for _, want := range sums {
			match |= subtle.ConstantTimeCompare(got, want)
		}
	}
	return match == 1
}

// Sign returns the X-PagerDuty-Signature value PagerDuty would send for body
// with secrets: for tests and for tools that replay a webhook to AMS.
func Sign(body []byte, secrets ...string) string {
	sigs := make([]string, 0, len(secrets))
	for _, s := range secrets {
		mac := hmac.New(sha256.New, []byte(s))
		mac.Write(body)
		sigs = append(sigs, signaturePrefix+hex.EncodeToString(mac.Sum(nil)))
	}
	return strings.Join(sigs, ",")
}

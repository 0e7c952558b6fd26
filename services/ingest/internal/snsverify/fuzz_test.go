package snsverify

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/amsproject/ams/services/ingest/internal/snsverify/snstest"
)

// FuzzParse feeds arbitrary bodies to Parse (seeds in
// testdata/fuzz/FuzzParse). It must not panic, must reject with an
// ErrInvalid *Error, and whatever it accepts must have what its type needs.
func FuzzParse(f *testing.F) {
	sns := snstest.New(f, snstest.At(testNow))
	f.Add(sns.Sign(f, notification()))
	f.Add(sns.Sign(f, confirmation()))
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := Parse(body)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %T %q is not an ErrInvalid *Error", err, err)
			}
			return
		}
		if m.MessageID == "" || m.TopicArn == "" || m.Message == "" || m.Signature == "" || m.SigningCertURL == "" || m.SignatureVersion == "" {
			t.Fatalf("accepted a message missing a required field: %+v", m)
		}
		if m.Published.IsZero() {
			t.Fatalf("accepted a message without a time: %q", m.Timestamp)
		}
		if m.Type != TypeNotification && (m.Token == "" || m.SubscribeURL == "") {
			t.Fatalf("accepted a %s without Token or SubscribeURL", m.Type)
		}
		if _, err := TopicRegion(m.TopicArn); err != nil {
			t.Fatalf("accepted TopicArn %q: %v", m.TopicArn, err)
		}
		if _, err := m.stringToSign(); err != nil {
			t.Fatalf("accepted a message that cannot be signed: %v", err)
		}
	})
}

// roundTripFunc serves requests in memory: fuzzing makes too many for a
// TLS server, and the TLS path is covered by the other tests.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// FuzzVerify feeds arbitrary bodies through Parse, Verify and Confirm
// against a fake SNS that serves the test signing certificate for any .pem
// on sns.us-east-1.amazonaws.com. Seeds are validly signed messages (made
// here, as the key is made per run) and the files in
// testdata/fuzz/FuzzVerify. Nothing may panic, every error must be an
// *Error, and Verify may accept only a message whose signed text is one the
// test signed: garbage must never verify.
func FuzzVerify(f *testing.F) {
	sns := snstest.New(f, snstest.At(testNow)) // signs the seeds; its server goes unused
	good := sns.CertificatePEM(f, testNow.Add(-24*time.Hour), testNow.Add(30*24*time.Hour))
	client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		status, body := http.StatusNotFound, []byte("not found")
		switch {
		case r.URL.Host != snsHost:
			return nil, errors.New("fake SNS: no such host")
		case strings.HasSuffix(r.URL.Path, ".pem"):
			status, body = http.StatusOK, good
		case r.URL.Query().Get("Action") == "ConfirmSubscription":
			status, body = http.StatusOK, []byte("<ConfirmSubscriptionResponse/>")
		}
		return &http.Response{StatusCode: status, Status: http.StatusText(status), Body: io.NopCloser(bytes.NewReader(body)), Header: http.Header{}, Request: r}, nil
	})}
	v, err := New(Options{Client: client, Now: func() time.Time { return testNow }})
	if err != nil {
		f.Fatal(err)
	}

	signed := map[string]bool{}
	seed := func(fields map[string]string) {
		body := sns.Sign(f, fields)
		m, err := Parse(body)
		if err != nil {
			f.Fatal(err)
		}
		s, err := m.stringToSign()
		if err != nil {
			f.Fatal(err)
		}
		signed[s] = true
		f.Add(body)
	}
	n2 := notification()
	n2["SignatureVersion"] = "2"
	noSubject := notification()
	delete(noSubject, "Subject")
	unsub := confirmation()
	unsub["Type"] = TypeUnsubscribeConfirmation
	for _, fields := range []map[string]string{notification(), n2, noSubject, confirmation(), unsub} {
		seed(fields)
	}

	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := Parse(body)
		if err != nil {
			return // FuzzParse covers Parse's errors
		}
		ctx := context.Background()
		if err := v.Verify(ctx, m); err != nil {
			requireSNSError(t, err)
			if err := v.Confirm(ctx, m); err == nil {
				t.Fatal("Confirm accepted a message Verify refused")
			}
			return
		}
		s, err := m.stringToSign()
		if err != nil || !signed[s] {
			t.Fatalf("Verify accepted a message the test never signed:\n%q", s)
		}
		if err := v.Confirm(ctx, m); err != nil {
			requireSNSError(t, err)
		} else if m.Type != TypeSubscriptionConfirmation {
			t.Fatalf("Confirm accepted a %s", m.Type)
		}
	})
}

func requireSNSError(t *testing.T, err error) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %T %q is not an *Error", err, err)
	}
	if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrRejected) && !errors.Is(err, ErrUnavailable) {
		t.Fatalf("error %q has no kind", err)
	}
}

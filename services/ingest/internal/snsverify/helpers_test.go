package snsverify

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/amsproject/ams/services/ingest/internal/snsverify/snstest"
)

// testNow is the injected clock. Messages are published a minute before.
var testNow = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

const (
	testTopic   = "arn:aws:sns:us-east-1:123456789012:ams-alarms"
	snsHost     = snstest.Host
	goodCertURL = snstest.CertURL
	// goodCertPath is goodCertURL's path, for fakeSNS.Requests.
	goodCertPath = snstest.CertPath
)

// fakeSNS is snstest's fake SNS, its certificate made for testNow, also
// serving the broken certificates the Verifier must refuse:
//
//   - /SimpleNotificationService-expired.pem: expired an hour before testNow
//   - /b-short.pem: valid for a day after testNow (the others for 30)
//   - /SimpleNotificationService-ecdsa.pem: an ECDSA key, not RSA
//   - /SimpleNotificationService-missing.pem: 404
//   - /SimpleNotificationService-unavailable.pem: 503
//   - /SimpleNotificationService-redirect.pem: 302 to the good certificate
//   - /SimpleNotificationService-notpem.pem: not PEM
//
// Every other .pem path serves the good certificate.
type fakeSNS struct{ *snstest.Fake }

func newFakeSNS(t *testing.T) *fakeSNS {
	t.Helper()
	f := snstest.New(t, snstest.At(testNow))
	short := f.CertificatePEM(t, testNow.Add(-24*time.Hour), testNow.Add(24*time.Hour))
	expired := f.CertificatePEM(t, testNow.Add(-30*24*time.Hour), testNow.Add(-time.Hour))
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	ecCert := certPEM(t, &ecKey.PublicKey, ecKey, testNow.Add(-time.Hour), testNow.Add(time.Hour))

	serve := func(body []byte) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(body) })
	}
	f.Handle("/SimpleNotificationService-expired.pem", serve(expired))
	f.Handle("/b-short.pem", serve(short))
	f.Handle("/SimpleNotificationService-ecdsa.pem", serve(ecCert))
	f.Handle("/SimpleNotificationService-missing.pem", http.NotFoundHandler())
	f.Handle("/SimpleNotificationService-unavailable.pem", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "slow down", http.StatusServiceUnavailable)
	}))
	f.Handle("/SimpleNotificationService-redirect.pem", http.RedirectHandler(snstest.CertPath, http.StatusFound))
	f.Handle("/SimpleNotificationService-notpem.pem", serve([]byte("not a certificate")))
	return &fakeSNS{f}
}

// certPEM returns a self-signed certificate for pub, valid in [from, to].
func certPEM(tb testing.TB, pub, priv any, from, to time.Time) []byte {
	tb.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "sns.amazonaws.com"},
		NotBefore:    from,
		NotAfter:     to,
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	require.NoError(tb, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// clock is an adjustable injected clock.
type clock struct{ now atomic.Pointer[time.Time] }

func newClock(t time.Time) *clock {
	c := &clock{}
	c.set(t)
	return c
}

func (c *clock) set(t time.Time) { c.now.Store(&t) }
func (c *clock) Now() time.Time  { return *c.now.Load() }

// verifier returns a Verifier using f's client and clk.
func (f *fakeSNS) verifier(t *testing.T, clk *clock, o Options) *Verifier {
	t.Helper()
	o.Client = f.Client()
	o.Now = clk.Now
	v, err := New(o)
	require.NoError(t, err)
	return v
}

// snsTime formats t as SNS does: RFC 3339 with milliseconds.
func snsTime(t time.Time) string { return snstest.Timestamp(t) }

// notification returns the fields of a Notification published a minute
// before testNow, shaped like AWS's documented example.
func notification() map[string]string {
	return map[string]string{
		"Type":             TypeNotification,
		"MessageId":        "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
		"TopicArn":         testTopic,
		"Subject":          `ALARM: "ServerCpuTooHigh" in US East (N. Virginia)`,
		"Message":          `{"AlarmName":"ServerCpuTooHigh","NewStateValue":"ALARM"}`,
		"Timestamp":        snsTime(testNow.Add(-time.Minute)),
		"SignatureVersion": "1",
		"SigningCertURL":   goodCertURL,
		"UnsubscribeURL":   "https://" + snsHost + "/?Action=Unsubscribe&SubscriptionArn=" + testTopic + ":c9135db0-26c4-47ec-8998-413945fb5a96",
	}
}

// confirmation returns the fields of a SubscriptionConfirmation.
func confirmation() map[string]string {
	token := "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a747ba6f3beb71854e285d6ad02428b09ceece29417f1f02d609c582afbacc99c583a916b9981dd2728f4ae6fdb82efd087cc3b7849e05798d2d2785c03b0879594eeac82c01f235d0e717736"
	return map[string]string{
		"Type":             TypeSubscriptionConfirmation,
		"MessageId":        "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
		"Token":            token,
		"TopicArn":         testTopic,
		"Message":          "You have chosen to subscribe to the topic " + testTopic + ".\nTo confirm the subscription, visit the SubscribeURL included in this message.",
		"SubscribeURL":     "https://" + snsHost + "/?Action=ConfirmSubscription&TopicArn=" + testTopic + "&Token=" + token,
		"Timestamp":        snsTime(testNow.Add(-time.Minute)),
		"SignatureVersion": "1",
		"SigningCertURL":   goodCertURL,
	}
}

func marshal(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	require.NoError(tb, err)
	return b
}

// parse parses body and requires success.
func parse(tb testing.TB, body []byte) *Message {
	tb.Helper()
	m, err := Parse(body)
	require.NoError(tb, err)
	return m
}

// requireKind requires err to be an *Error of kind, whose message starts
// with want.
func requireKind(tb testing.TB, err, kind error, want string) {
	tb.Helper()
	require.Error(tb, err)
	var e *Error
	require.ErrorAs(tb, err, &e)
	require.ErrorIs(tb, err, kind)
	require.True(tb, strings.HasPrefix(err.Error(), want), "error %q does not start with %q", err, want)
}

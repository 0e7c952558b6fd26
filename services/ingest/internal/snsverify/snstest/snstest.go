// Package snstest is test support: a fake Amazon SNS for tests of code that
// verifies SNS HTTP(S) messages with package snsverify. It is used by
// snsverify's own tests and by the ingest app's HTTP tests. It imports
// testing and must only be imported from _test.go files.
//
// A Fake is a real TLS server posing as sns.us-east-1.amazonaws.com (Host).
// Its TLS certificate names that host, and the http.Client it hands out
// (Client) dials the server for that host, and refuses every other, so a
// snsverify.Verifier given that client runs its production URL checks and
// TLS verification unchanged. The fake serves the certificate of the key it
// signs messages with at any .pem path and answers the ConfirmSubscription
// action of a SubscribeURL, counting the requests it gets.
//
// A test builds signed bodies and checks what was fetched:
//
//	sns := snstest.New(t)
//	v, err := snsverify.New(snsverify.Options{Client: sns.Client()})
//	// ...
//	body := sns.Notification(t, "arn:aws:sns:us-east-1:123456789012:ams-alarms", alarmJSON, time.Now())
//	// POST body to the handler under test, then:
//	require.Equal(t, 1, sns.Requests(snstest.CertPath))
//
// SubscriptionConfirmation builds a confirmation whose SubscribeURL the fake
// serves; Confirmations tells how often it was visited. Sign signs any set
// of envelope fields, for messages the builders do not make.
//
// The fake only serves us-east-1: use topics in that region (Confirm
// requires a SubscribeURL in the topic's region). Every Fake in a test
// binary signs with the same RSA key, made once because making one is
// slow.
package snstest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // SignatureVersion 1 is SHA1withRSA.
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"html"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	// Host is the SNS endpoint the fake poses as, the only one its client
	// connects to.
	Host = "sns.us-east-1.amazonaws.com"
	// CertPath is the path of the signing certificate the messages built
	// here name, for Requests.
	CertPath = "/SimpleNotificationService-01d088a6f77103d0fe307c0069e40ed6.pem"
	// CertURL is the SigningCertURL of the messages built here.
	CertURL = "https://" + Host + CertPath
)

// signingKey is the RSA key standing in for SNS's, made once per test
// binary because RSA key generation is slow.
var signingKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// Fake is a fake Amazon SNS. Make one with New; it is safe for concurrent
// use.
type Fake struct {
	srv    *httptest.Server
	client *http.Client
	cert   []byte // PEM, served at every .pem path without a handler
	dials  atomic.Int32

	mu            sync.Mutex
	requests      map[string]int // by path
	confirmations int
	handlers      map[string]http.Handler // by exact path
}

// Option configures New.
type Option struct{ apply func(*options) }

type options struct{ now time.Time }

// At sets the time the fake's signing certificate is made for: it is valid
// from a day before now to 30 days after. The default is the time New is
// called; use At when the Verifier runs on a fixed clock
// (snsverify.Options.Now).
func At(now time.Time) Option { return Option{func(o *options) { o.now = now }} }

// New starts a fake SNS, stopped by tb.Cleanup.
func New(tb testing.TB, opts ...Option) *Fake {
	tb.Helper()
	o := options{now: time.Now()}
	for _, opt := range opts {
		opt.apply(&o)
	}
	f := &Fake{requests: map[string]int{}, handlers: map[string]http.Handler{}}
	f.cert = f.CertificatePEM(tb, o.now.Add(-24*time.Hour), o.now.Add(30*24*time.Hour))
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))

	// The server's TLS certificate names Host, so the client verifies it
	// exactly as it would verify AWS.
	tlsKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatalf("snstest: TLS key: %v", err)
	}
	tlsTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: Host},
		DNSNames:              []string{Host},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	tlsDER, err := x509.CreateCertificate(rand.Reader, tlsTmpl, tlsTmpl, &tlsKey.PublicKey, tlsKey)
	if err != nil {
		tb.Fatalf("snstest: TLS certificate: %v", err)
	}
	f.srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{tlsDER}, PrivateKey: tlsKey}},
		MinVersion:   tls.VersionTLS12,
	}
	f.srv.StartTLS()
	tb.Cleanup(f.srv.Close)

	roots := x509.NewCertPool()
	roots.AddCert(f.srv.Certificate())
	transport := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			f.dials.Add(1)
			if addr != Host+":443" {
				return nil, fmt.Errorf("fake SNS: refusing to dial %s", addr)
			}
			var d net.Dialer
			return d.DialContext(ctx, network, f.srv.Listener.Addr().String())
		},
		TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
	}
	tb.Cleanup(transport.CloseIdleConnections)
	f.client = &http.Client{Transport: transport}
	return f
}

// serve counts the request, then answers it with the handler registered
// for its path, the signing certificate for a .pem path, or the
// ConfirmSubscription action; anything else is not found.
func (f *Fake) serve(w http.ResponseWriter, r *http.Request) {
	confirm := r.URL.Path == "/" && r.URL.Query().Get("Action") == "ConfirmSubscription"
	f.mu.Lock()
	f.requests[r.URL.Path]++
	if confirm {
		f.confirmations++
	}
	h := f.handlers[r.URL.Path]
	f.mu.Unlock()
	switch {
	case h != nil:
		h.ServeHTTP(w, r)
	case confirm:
		w.Header().Set("Content-Type", "text/xml")
		_, _ = fmt.Fprintf(w, `<ConfirmSubscriptionResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">`+
			`<ConfirmSubscriptionResult><SubscriptionArn>%s:%s</SubscriptionArn></ConfirmSubscriptionResult>`+
			`<ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></ConfirmSubscriptionResponse>`,
			html.EscapeString(r.URL.Query().Get("TopicArn")), newID(), newID())
	case strings.HasSuffix(r.URL.Path, ".pem"):
		_, _ = w.Write(f.cert)
	default:
		http.NotFound(w, r)
	}
}

// Client returns the client that reaches the fake, for
// snsverify.Options.Client. It connects to Host on port 443 only and
// refuses every other address.
func (f *Fake) Client() *http.Client { return f.client }

// Handle serves h at path (exact, such as "/SimpleNotificationService-expired.pem")
// instead of the default answer, to make the fake misbehave. Requests to
// path are still counted.
func (f *Fake) Handle(path string, h http.Handler) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.handlers[path] = h
}

// Requests returns how many requests the fake answered for path (such as
// CertPath, or "/" for SubscribeURLs), whatever the query.
func (f *Fake) Requests(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests[path]
}

// TotalRequests returns how many requests the fake answered in all.
func (f *Fake) TotalRequests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.requests {
		n += c
	}
	return n
}

// Confirmations returns how many times a SubscribeURL (the
// ConfirmSubscription action) was visited.
func (f *Fake) Confirmations() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.confirmations
}

// Dials returns how many connections the client tried to open, to any
// address, including those it refused.
func (f *Fake) Dials() int { return int(f.dials.Load()) }

// CertificatePEM returns a self-signed PEM certificate for the key the fake
// signs with, valid from notBefore to notAfter: serve it with Handle to
// offer an expired or short-lived signing certificate.
func (f *Fake) CertificatePEM(tb testing.TB, notBefore, notAfter time.Time) []byte {
	tb.Helper()
	key := signingKey()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "sns.amazonaws.com"},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatalf("snstest: signing certificate: %v", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// MessageOption changes a message built by Notification or
// SubscriptionConfirmation.
type MessageOption struct{ apply func(*message) }

type message struct {
	id, version string
	subject     *string
}

// MessageID sets the MessageId instead of a fresh one, to build a
// re-delivery of a message (SNS retries keep the MessageId).
func MessageID(id string) MessageOption {
	return MessageOption{func(m *message) { m.id = id }}
}

// SignatureV1 signs with SignatureVersion 1 (SHA1withRSA), the default of
// SNS topics, instead of 2 (SHA256withRSA).
func SignatureV1() MessageOption {
	return MessageOption{func(m *message) { m.version = "1" }}
}

// Subject sets the Subject of a Notification (which has none otherwise),
// such as `ALARM: "HighCPU" in US East (N. Virginia)` for CloudWatch.
func Subject(s string) MessageOption {
	return MessageOption{func(m *message) { m.subject = &s }}
}

func buildMessage(opts []MessageOption) message {
	m := message{id: newID(), version: "2"}
	for _, o := range opts {
		o.apply(&m)
	}
	return m
}

// Notification returns the JSON body of a Notification SNS would POST for
// a message published to topicARN at published, signed (SignatureVersion 2
// unless SignatureV1) with a SigningCertURL the fake serves, and a fresh
// MessageId unless MessageID.
func (f *Fake) Notification(tb testing.TB, topicARN, message string, published time.Time, opts ...MessageOption) []byte {
	tb.Helper()
	m := buildMessage(opts)
	fields := map[string]string{
		"Type":             "Notification",
		"MessageId":        m.id,
		"TopicArn":         topicARN,
		"Message":          message,
		"Timestamp":        Timestamp(published),
		"SignatureVersion": m.version,
		"SigningCertURL":   CertURL,
		"UnsubscribeURL":   "https://" + Host + "/?Action=Unsubscribe&SubscriptionArn=" + topicARN + ":" + newID(),
	}
	if m.subject != nil {
		fields["Subject"] = *m.subject
	}
	return f.Sign(tb, fields)
}

// SubscriptionConfirmation returns the JSON body of the
// SubscriptionConfirmation SNS would POST to a new subscription to
// topicARN, signed like a Notification, with a fresh Token and a
// SubscribeURL the fake serves (see Confirmations). The Subject option is
// not allowed.
func (f *Fake) SubscriptionConfirmation(tb testing.TB, topicARN string, published time.Time, opts ...MessageOption) []byte {
	tb.Helper()
	m := buildMessage(opts)
	if m.subject != nil {
		tb.Fatalf("snstest: a SubscriptionConfirmation has no Subject")
	}
	token := make([]byte, 64)
	_, _ = rand.Read(token)
	tok := hex.EncodeToString(token)
	return f.Sign(tb, map[string]string{
		"Type":      "SubscriptionConfirmation",
		"MessageId": m.id,
		"Token":     tok,
		"TopicArn":  topicARN,
		"Message": "You have chosen to subscribe to the topic " + topicARN +
			".\nTo confirm the subscription, visit the SubscribeURL included in this message.",
		"SubscribeURL":     "https://" + Host + "/?Action=ConfirmSubscription&TopicArn=" + topicARN + "&Token=" + tok,
		"Timestamp":        Timestamp(published),
		"SignatureVersion": m.version,
		"SigningCertURL":   CertURL,
	})
}

// Sign returns fields as an SNS JSON body, with the Signature SNS would
// compute for them with the fake's key, per AWS's "Verifying the
// signatures of Amazon SNS messages": SHA1withRSA or SHA256withRSA
// following fields["SignatureVersion"] ("1" or "2"), over the fields its
// Type (Notification, SubscriptionConfirmation or UnsubscribeConfirmation)
// signs. A Subject absent from fields is not signed; one present, even
// empty, is. fields is not modified; any Signature in it is replaced. Sign
// does not check the fields otherwise, so it also makes messages the
// Verifier must refuse (a SigningCertURL on another host, a stale
// Timestamp).
func (f *Fake) Sign(tb testing.TB, fields map[string]string) []byte {
	tb.Helper()
	var signed []string
	switch t := fields["Type"]; t {
	case "Notification":
		signed = []string{"Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"}
	case "SubscriptionConfirmation", "UnsubscribeConfirmation":
		signed = []string{"Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"}
	default:
		tb.Fatalf("snstest: cannot sign Type %q: want Notification, SubscriptionConfirmation or UnsubscribeConfirmation", t)
	}
	var canonical strings.Builder
	for _, name := range signed {
		v, ok := fields[name]
		if !ok && name == "Subject" {
			continue
		}
		canonical.WriteString(name + "\n" + v + "\n")
	}
	var hash crypto.Hash
	var digest []byte
	switch v := fields["SignatureVersion"]; v {
	case "1":
		d := sha1.Sum([]byte(canonical.String())) //nolint:gosec // SignatureVersion 1.
		hash, digest = crypto.SHA1, d[:]
	case "2":
		d := sha256.Sum256([]byte(canonical.String()))
		hash, digest = crypto.SHA256, d[:]
	default:
		tb.Fatalf("snstest: cannot sign SignatureVersion %q: want 1 or 2", v)
	}
	sig, err := rsa.SignPKCS1v15(rand.Reader, signingKey(), hash, digest)
	if err != nil {
		tb.Fatalf("snstest: sign: %v", err)
	}
	out := make(map[string]string, len(fields)+1)
	for k, v := range fields {
		out[k] = v
	}
	out["Signature"] = base64.StdEncoding.EncodeToString(sig)
	return marshal(tb, out)
}

// fieldOrder is the order SNS writes envelope fields in.
var fieldOrder = []string{
	"Type", "MessageId", "Token", "TopicArn", "Subject", "Message", "SubscribeURL", "Timestamp",
	"SignatureVersion", "Signature", "SigningCertURL", "UnsubscribeURL",
}

// marshal writes fields as a JSON object in SNS's field order (others
// after, sorted), without escaping &, < and > as SNS does not.
func marshal(tb testing.TB, fields map[string]string) []byte {
	tb.Helper()
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	rank := func(k string) int {
		if i := slices.Index(fieldOrder, k); i >= 0 {
			return i
		}
		return len(fieldOrder)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra - rb
		}
		return strings.Compare(a, b)
	})
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	str := func(s string) {
		if err := enc.Encode(s); err != nil {
			tb.Fatalf("snstest: marshal: %v", err)
		}
		buf.Truncate(buf.Len() - 1) // Encode's newline
	}
	buf.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			buf.WriteByte(',')
		}
		str(k)
		buf.WriteByte(':')
		str(fields[k])
	}
	buf.WriteByte('}')
	return buf.Bytes()
}

// Timestamp formats t as SNS writes the Timestamp field: RFC 3339 in UTC
// with milliseconds.
func Timestamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// newID returns a random version 4 UUID, as SNS's MessageIds are.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

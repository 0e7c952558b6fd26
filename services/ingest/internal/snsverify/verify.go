package snsverify

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // SNS SignatureVersion 1 is SHA1withRSA; AWS still sends it by default.
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Defaults for Options left zero.
const (
	// DefaultMaxAge is how old a message may be. SNS retries keep the
	// original Timestamp, and its default HTTP delivery policy gives up
	// within minutes; an hour leaves room for custom retry policies while
	// making a captured message useless to replay soon after.
	DefaultMaxAge = time.Hour
	// DefaultFetchTimeout bounds one certificate fetch or confirmation.
	// SNS waits about 15 seconds for an endpoint's answer, so a slower
	// fetch would fail the delivery anyway.
	DefaultFetchTimeout = 10 * time.Second
	// DefaultMaxCertBytes caps a certificate download. SNS's PEM files are
	// about 2 KiB; the cap stops a slow or huge answer tying up memory.
	DefaultMaxCertBytes = 64 << 10
	// DefaultCacheSize bounds the certificate cache. SNS signs with one
	// certificate per region at a time, so a few entries suffice; the bound
	// stops forged messages with varied URLs from growing it without end.
	DefaultCacheSize = 32
)

// maxFutureSkew is how far in the future a Timestamp may be: clocks drift,
// but a message published well after now cannot be one SNS sent.
const maxFutureSkew = 5 * time.Minute

// maxConfirmBody caps what is read of a confirmation answer (a short XML
// document), only so the connection can be reused.
const maxConfirmBody = 64 << 10

// Options configure a Verifier. The zero value of each field means its
// default.
type Options struct {
	// Client fetches signing certificates and visits SubscribeURLs; nil
	// means a client on Go's default transport. The Verifier uses a copy
	// that never follows redirects: a redirect could lead away from the
	// SNS host that was checked.
	Client *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MaxAge is the oldest Timestamp accepted (DefaultMaxAge). It should
	// exceed the longest retry span of the topics' delivery policies.
	MaxAge time.Duration
	// FetchTimeout bounds each HTTP request (DefaultFetchTimeout).
	FetchTimeout time.Duration
	// MaxCertBytes caps a certificate download (DefaultMaxCertBytes).
	MaxCertBytes int64
	// CacheSize bounds the certificates kept (DefaultCacheSize).
	CacheSize int
}

// Verifier checks SNS message signatures, caching signing certificates by
// URL until they expire. It is safe for concurrent use.
type Verifier struct {
	client       *http.Client
	now          func() time.Time
	maxAge       time.Duration
	fetchTimeout time.Duration
	maxCertBytes int64
	cacheSize    int

	mu    sync.Mutex
	certs map[string]*x509.Certificate
}

// New returns a Verifier. It returns an error for negative options.
func New(o Options) (*Verifier, error) {
	switch {
	case o.MaxAge < 0:
		return nil, fmt.Errorf("snsverify: MaxAge %v is negative: use a positive duration such as 1h, or 0 for the default", o.MaxAge)
	case o.FetchTimeout < 0:
		return nil, fmt.Errorf("snsverify: FetchTimeout %v is negative: use a positive duration such as 10s, or 0 for the default", o.FetchTimeout)
	case o.MaxCertBytes < 0:
		return nil, fmt.Errorf("snsverify: MaxCertBytes %d is negative: use a positive size, or 0 for the default", o.MaxCertBytes)
	case o.CacheSize < 0:
		return nil, fmt.Errorf("snsverify: CacheSize %d is negative: use a positive count, or 0 for the default", o.CacheSize)
	}
	v := &Verifier{
		now:          o.Now,
		maxAge:       cmpOr(o.MaxAge, DefaultMaxAge),
		fetchTimeout: cmpOr(o.FetchTimeout, DefaultFetchTimeout),
		maxCertBytes: cmpOr(o.MaxCertBytes, DefaultMaxCertBytes),
		cacheSize:    cmpOr(o.CacheSize, DefaultCacheSize),
		certs:        make(map[string]*x509.Certificate),
	}
	if v.now == nil {
		v.now = time.Now
	}
	client := http.Client{}
	if o.Client != nil {
		client = *o.Client
	}
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	v.client = &client
	return v, nil
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Verify checks that m is a message SNS signed and sent recently. The
// cheap checks (signature version, Timestamp, the certificate URL's host)
// come before any network request, so a forged message costs AMS no
// outbound request unless it names a real SNS certificate URL.
func (v *Verifier) Verify(ctx context.Context, m *Message) error {
	if m == nil {
		return invalid("", "no message: call Parse first")
	}
	var hash crypto.Hash
	switch m.SignatureVersion {
	case "1":
		hash = crypto.SHA1
	case "2":
		hash = crypto.SHA256
	default:
		return rejected("SignatureVersion", "%q is not supported: want 1 (SHA1withRSA) or 2 (SHA256withRSA)", m.SignatureVersion)
	}
	now := v.now()
	switch {
	case m.Published.IsZero():
		return rejected("Timestamp", "missing: cannot tell how old the message is")
	case m.Published.Before(now.Add(-v.maxAge)):
		return rejected("Timestamp", "%s is more than %v ago: refusing a message that old limits replay", m.Timestamp, v.maxAge)
	case m.Published.After(now.Add(maxFutureSkew)):
		return rejected("Timestamp", "%s is in the future: check this host's clock", m.Timestamp)
	}
	certURL, err := checkCertURL(m.SigningCertURL)
	if err != nil {
		return err
	}
	sig, err := base64.StdEncoding.DecodeString(m.Signature)
	if err != nil {
		return rejected("Signature", "not base64")
	}
	canonical, err := m.stringToSign()
	if err != nil {
		return err
	}
	cert, err := v.certificate(ctx, certURL, now)
	if err != nil {
		return err
	}
	pub := cert.PublicKey.(*rsa.PublicKey) // fetchCert admits RSA keys only
	var digest []byte
	if hash == crypto.SHA1 {
		d := sha1.Sum([]byte(canonical)) //nolint:gosec // see the import
		digest = d[:]
	} else {
		d := sha256.Sum256([]byte(canonical))
		digest = d[:]
	}
	if err := rsa.VerifyPKCS1v15(pub, hash, digest, sig); err != nil {
		return rejected("Signature", "does not match the message: it was altered or not signed by SNS")
	}
	m.verified = true
	return nil
}

// snsHostPattern matches Amazon SNS's regional endpoints, whose TLS
// certificates prove the host: sns.<region>.amazonaws.com and, in the China
// partition, sns.<region>.amazonaws.com.cn.
var snsHostPattern = regexp.MustCompile(`^sns\.([a-z]{2}(?:-[a-z]+)+-[0-9]{1,2})\.amazonaws\.com(\.cn)?$`)

// checkSNSURL checks that raw is an https URL on an Amazon SNS regional
// host (and nothing that could change where a request goes: user info, a
// port other than 443) and returns it parsed, with the host's region.
func checkSNSURL(field, raw string) (*url.URL, string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, "", rejected(field, "not a URL")
	}
	if u.Scheme != "https" {
		return nil, "", rejected(field, "scheme %q is not https", u.Scheme)
	}
	if u.User != nil {
		return nil, "", rejected(field, "user information in the URL is not allowed")
	}
	if p := u.Port(); p != "" && p != "443" {
		return nil, "", rejected(field, "port %s is not allowed: SNS serves on 443", p)
	}
	host := u.Hostname()
	m := snsHostPattern.FindStringSubmatch(host)
	if m == nil {
		return nil, "", rejected(field, "host %q is not Amazon SNS's (sns.<region>.amazonaws.com or sns.<region>.amazonaws.com.cn)", host)
	}
	region, china := m[1], m[2] != ""
	if china != strings.HasPrefix(region, "cn-") {
		return nil, "", rejected(field, "host %q does not match its partition: China regions (cn-*) use amazonaws.com.cn, others amazonaws.com", host)
	}
	return u, region, nil
}

// checkCertURL checks a SigningCertURL before anything is fetched from it.
func checkCertURL(raw string) (string, error) {
	u, _, err := checkSNSURL("SigningCertURL", raw)
	if err != nil {
		return "", err
	}
	if !strings.HasSuffix(u.Path, ".pem") || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return "", rejected("SigningCertURL", "path %q is not a .pem file (SNS certificate URLs end in .pem and have no query)", u.Path)
	}
	return u.String(), nil
}

// certificate returns the certificate at certURL, from the cache or
// fetched, and checks it is valid at now. The cache holds a certificate
// until its NotAfter: SNS rotates to new URLs rather than changing a file.
func (v *Verifier) certificate(ctx context.Context, certURL string, now time.Time) (*x509.Certificate, error) {
	v.mu.Lock()
	cert, ok := v.certs[certURL]
	if ok && !now.Before(cert.NotAfter) {
		delete(v.certs, certURL)
		ok = false
	}
	v.mu.Unlock()
	if !ok {
		var err error
		if cert, err = v.fetchCert(ctx, certURL); err != nil {
			return nil, err
		}
	}
	if now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
		return nil, rejected("SigningCertURL", "certificate is valid from %s to %s, not now (%s)",
			cert.NotBefore.UTC().Format(time.RFC3339), cert.NotAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if !ok {
		v.store(certURL, cert, now)
	}
	return cert, nil
}

// store adds cert to the cache, first dropping expired entries and then,
// if still full, the one that expires soonest.
func (v *Verifier) store(certURL string, cert *x509.Certificate, now time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, ok := v.certs[certURL]; !ok && len(v.certs) >= v.cacheSize {
		var soonest string
		for u, c := range v.certs {
			if !now.Before(c.NotAfter) {
				delete(v.certs, u)
				continue
			}
			if soonest == "" || c.NotAfter.Before(v.certs[soonest].NotAfter) {
				soonest = u
			}
		}
		if len(v.certs) >= v.cacheSize {
			delete(v.certs, soonest)
		}
	}
	v.certs[certURL] = cert
}

// fetchCert downloads and parses the PEM certificate at certURL. The URL's
// host was checked and TLS proves the server is that host, which is what
// makes the certificate SNS's: the .pem holds only the signing certificate,
// without a chain to check it against.
func (v *Verifier) fetchCert(ctx context.Context, certURL string) (*x509.Certificate, error) {
	body, err := v.get(ctx, "SigningCertURL", certURL, v.maxCertBytes)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(body)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, rejected("SigningCertURL", "%s did not return a PEM certificate", certURL)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, &Error{kind: ErrRejected, Field: "SigningCertURL", Problem: "certificate does not parse", Err: err}
	}
	if _, ok := cert.PublicKey.(*rsa.PublicKey); !ok {
		return nil, rejected("SigningCertURL", "certificate key is %T, not RSA (SNS signs with RSA)", cert.PublicKey)
	}
	return cert, nil
}

// get fetches rawURL with the timeout, reading at most limit bytes. A
// network failure or a 5xx/429 is ErrUnavailable (SNS may answer next
// time); any other non-200 answer or an over-long body is ErrRejected.
func (v *Verifier) get(ctx context.Context, field, rawURL string, limit int64) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, v.fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, &Error{kind: ErrRejected, Field: field, Problem: "cannot build request", Err: err}
	}
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, &Error{kind: ErrUnavailable, Field: field, Problem: "GET " + rawURL, Err: err}
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	switch {
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return nil, &Error{kind: ErrUnavailable, Field: field, Problem: fmt.Sprintf("GET %s answered %s", rawURL, resp.Status)}
	case resp.StatusCode != http.StatusOK:
		return nil, rejected(field, "GET %s answered %s", rawURL, resp.Status)
	case err != nil:
		return nil, &Error{kind: ErrUnavailable, Field: field, Problem: "read " + rawURL, Err: err}
	case int64(len(body)) > limit:
		return nil, rejected(field, "GET %s returned more than %d bytes", rawURL, limit)
	}
	return body, nil
}

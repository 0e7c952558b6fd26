// Package awsfake is an in-memory AWS that speaks the documented wire
// protocols of the four services the executor calls: STS (query protocol,
// XML answers), EC2 (EC2 query protocol), SSM (awsJson1.1) and CloudWatch
// (Smithy RPC v2 CBOR, which aws-sdk-go-v2's cloudwatch client speaks since
// v1.76). It is one http.Handler, so tests put it behind httptest.NewServer
// and the sandbox binary serves it for the `make run` demo; the real SDK
// clients talk to it through BaseEndpoint.
//
// It is honest where the executor's safety depends on AWS's behaviour:
// every request must carry a SigV4 signature, and calls to EC2, SSM and
// CloudWatch must be signed with temporary credentials that AssumeRole
// issued, which fixes the account the call acts in. An instance, document
// or metric of another account is invisible, exactly as in AWS, so an
// executor that used one tenant's session for another's instance would be
// answered "not found" here too. Errors come in each protocol's own shape,
// so the SDK parses them into the same error codes it would in production.
// STS verifies the signatures of the callers added with AddCaller; with
// none added (the sandbox) it accepts any well-formed signature, but the
// role's ExternalId is always required.
//
// Faults (throttling with Retry-After, 500s, a connection dropped after the
// request was received and applied) are injected per operation to test the
// paths where the outcome of an action is unknown.
package awsfake

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Fake is the in-memory AWS. The zero value is not usable; call New. It is
// safe for concurrent use.
type Fake struct {
	mu sync.Mutex

	// callers are the long-term keys allowed to call STS, with their secrets.
	// Empty: any well-formed SigV4 signature is accepted on STS (the sandbox,
	// where the executor signs with whatever the environment gives it).
	callers map[string]string
	roles   map[string]*role   // by ARN
	keys    map[string]session // issued temporary access key id → session
	assumed []AssumeRoleCall

	instances map[string]*Instance // by id
	documents map[docKey]*Document
	commands  map[string]*command // by command id
	order     []string            // command ids in the order sent
	metrics   []*metric

	faults []*Fault
	calls  []Call
}

// New returns an empty fake: no roles, instances, documents or metrics.
func New() *Fake {
	return &Fake{
		callers:   map[string]string{},
		roles:     map[string]*role{},
		keys:      map[string]session{},
		instances: map[string]*Instance{},
		documents: map[docKey]*Document{},
		commands:  map[string]*command{},
	}
}

// Call is one request the fake received, as it was decided.
type Call struct {
	// Service is the SigV4 signing name: sts, ec2, ssm or monitoring.
	Service string
	// Operation is the API operation, e.g. RebootInstances.
	Operation string
	// Account is the account the caller acted in (empty for STS and for
	// requests that failed authentication).
	Account string
	// InstanceIDs are the instances the request named.
	InstanceIDs []string
	// Status is the HTTP status answered; 0 when the connection was dropped.
	Status int
	// ErrorCode is the AWS error code answered, if any.
	ErrorCode string
	// Applied is whether the operation changed state: a reboot or start
	// happened, a command was sent. A dropped connection can still have
	// Applied set: that is the unknown outcome the caller must not repeat.
	Applied bool
	// Fault names the injected fault that decided the answer, if any.
	Fault string
}

// Calls returns every request received so far, oldest first.
func (f *Fake) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Call, len(f.calls))
	for i, c := range f.calls {
		c.InstanceIDs = append([]string(nil), c.InstanceIDs...)
		out[i] = c
	}
	return out
}

// CallsOf returns the calls of one operation, oldest first.
func (f *Fake) CallsOf(operation string) []Call {
	var out []Call
	for _, c := range f.Calls() {
		if c.Operation == operation {
			out = append(out, c)
		}
	}
	return out
}

// AddCaller allows a long-term access key to call STS and makes the fake
// verify its signatures. With no caller added, STS accepts any well-formed
// SigV4 signature.
func (f *Fake) AddCaller(accessKeyID, secretAccessKey string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.callers[accessKeyID] = secretAccessKey
}

// FaultKind is what an injected fault does to a call.
type FaultKind int

const (
	// Throttle answers HTTP 429 with Retry-After and the protocol's
	// throttling error code, without applying the operation.
	Throttle FaultKind = iota + 1
	// ServerError answers HTTP 500 with the protocol's internal error code,
	// without applying the operation.
	ServerError
	// DropConnection applies the operation, then closes the connection
	// without answering: the caller cannot know whether it happened.
	DropConnection
)

func (k FaultKind) String() string {
	switch k {
	case Throttle:
		return "throttle"
	case ServerError:
		return "server-error"
	case DropConnection:
		return "drop-connection"
	}
	return "fault(" + strconv.Itoa(int(k)) + ")"
}

// Fault affects the next Times calls of Operation.
type Fault struct {
	Operation string // e.g. SendCommand, RebootInstances, GetMetricData, AssumeRole
	Kind      FaultKind
	Times     int // default 1
	// RetryAfter is sent with Throttle: as Retry-After in whole seconds
	// (rounded up; the HTTP standard) and as x-amz-retry-after in
	// milliseconds, the header aws-sdk-go-v2's retryer reads.
	RetryAfter time.Duration
}

// Inject adds a fault. Faults of one operation are used in the order added.
func (f *Fake) Inject(ft Fault) {
	if ft.Times <= 0 {
		ft.Times = 1
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = append(f.faults, &ft)
}

// takeFault returns the next fault of op, using it up. Called with f.mu held.
func (f *Fake) takeFault(op string) *Fault {
	for i, ft := range f.faults {
		if ft.Operation != op {
			continue
		}
		taken := *ft
		ft.Times--
		if ft.Times == 0 {
			f.faults = append(f.faults[:i], f.faults[i+1:]...)
		}
		return &taken
	}
	return nil
}

// protocol is one of the wire protocols the fake speaks.
type protocol interface {
	// service is the SigV4 signing name.
	service() string
	// writeError answers an error in the protocol's shape.
	writeError(w http.ResponseWriter, status int, code, msg string)
	throttleCode() string
	internalCode() string
}

// exchange is one request being served: what was received and the answer
// being built, which is written only at the end so a DropConnection fault
// can withhold it after the operation was applied.
type exchange struct {
	r     *http.Request
	body  []byte
	proto protocol
	op    string
	// account is the caller's account once authenticated.
	account string
	call    Call
	resp    *bufferedResponse
}

// ServeHTTP routes by protocol, the way AWS's endpoints would tell the
// requests apart: X-Amz-Target for awsJson1.1, Smithy-Protocol and the
// /service/.../operation/... path for RPC v2 CBOR, and the Action and
// Version of a form body for the query protocols (EC2 2016-11-15, STS
// 2011-06-15).
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil {
		http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	x := &exchange{r: r, body: body, resp: newBufferedResponse()}
	drop := f.serve(x)
	// Recorded before answering, so a client that has its answer finds
	// its call in Calls.
	f.record(x, drop)
	if drop {
		hijackAndClose(w)
		return
	}
	x.resp.flush(w)
}

// serve builds the answer to x in x.resp. It reports whether the
// connection must be dropped instead of answered.
func (f *Fake) serve(x *exchange) (drop bool) {
	if !f.route(x) {
		return false
	}
	x.call.Service = x.proto.service()
	x.call.Operation = x.op
	if !f.authenticate(x) {
		return false
	}
	x.call.Account = x.account

	f.mu.Lock()
	ft := f.takeFault(x.op)
	f.mu.Unlock()
	if ft != nil {
		x.call.Fault = ft.Kind.String()
		switch ft.Kind {
		case Throttle:
			secs := int((ft.RetryAfter + time.Second - 1) / time.Second)
			x.resp.Header().Set("Retry-After", strconv.Itoa(secs))
			x.resp.Header().Set("X-Amz-Retry-After", strconv.FormatInt(ft.RetryAfter.Milliseconds(), 10))
			x.fail(http.StatusTooManyRequests, x.proto.throttleCode(), "Rate exceeded")
			return false
		case ServerError:
			x.fail(http.StatusInternalServerError, x.proto.internalCode(), "An internal error has occurred")
			return false
		}
	}
	f.dispatch(x)
	return ft != nil && ft.Kind == DropConnection
}

// route detects the protocol and operation. It answers and returns false
// for a request no AWS endpoint would understand.
func (f *Fake) route(x *exchange) bool {
	r := x.r
	if r.Method != http.MethodPost {
		x.proto = stsProto{}
		x.fail(http.StatusMethodNotAllowed, "InvalidAction", "want POST")
		return false
	}
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		x.proto = jsonProto{}
		svc, op, _ := strings.Cut(target, ".")
		if svc != "AmazonSSM" {
			x.fail(http.StatusBadRequest, "UnknownOperationException", "unknown target "+target)
			return false
		}
		if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-amz-json-1.1") {
			x.fail(http.StatusBadRequest, "SerializationException", "want Content-Type application/x-amz-json-1.1")
			return false
		}
		x.op = op
		return true
	}
	if r.Header.Get("Smithy-Protocol") != "" || strings.HasPrefix(r.URL.Path, "/service/") {
		x.proto = cborProto{}
		if r.Header.Get("Smithy-Protocol") != "rpc-v2-cbor" {
			x.fail(http.StatusBadRequest, "UnknownOperationException", "want Smithy-Protocol: rpc-v2-cbor")
			return false
		}
		svc, op, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/service/"), "/operation/")
		if !ok || svc != cloudWatchService {
			x.fail(http.StatusNotFound, "UnknownOperationException", "unknown path "+r.URL.Path)
			return false
		}
		x.op = op
		return true
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		form, err := parseForm(x.body)
		if err != nil {
			x.proto = stsProto{}
			x.fail(http.StatusBadRequest, "MalformedQueryString", err.Error())
			return false
		}
		x.op = form.Get("Action")
		switch form.Get("Version") {
		case ec2Version:
			x.proto = ec2Proto{}
			return true
		case stsVersion:
			x.proto = stsProto{}
			return true
		}
		x.proto = stsProto{}
		x.fail(http.StatusBadRequest, "InvalidAction", fmt.Sprintf("no service answers Version %q", form.Get("Version")))
		return false
	}
	x.proto = stsProto{}
	x.fail(http.StatusBadRequest, "InvalidAction", "unrecognised request: no X-Amz-Target, Smithy-Protocol or form body")
	return false
}

func (f *Fake) dispatch(x *exchange) {
	switch x.proto.(type) {
	case stsProto:
		f.serveSTS(x)
	case ec2Proto:
		f.serveEC2(x)
	case jsonProto:
		f.serveSSM(x)
	case cborProto:
		f.serveCloudWatch(x)
	}
}

func (x *exchange) fail(status int, code, msg string) {
	x.call.ErrorCode = code
	x.proto.writeError(x.resp, status, code, msg)
}

func (f *Fake) record(x *exchange, dropped bool) {
	x.call.Status = x.resp.status
	if x.call.Status == 0 {
		x.call.Status = http.StatusOK
	}
	if dropped {
		x.call.Status = 0
	}
	if x.call.Service == "" && x.proto != nil {
		x.call.Service = x.proto.service()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, x.call)
}

// --- authentication ---

// session is a set of temporary credentials AssumeRole issued.
type session struct {
	role          *role
	secret, token string
}

// authenticate checks the SigV4 signature. STS calls are signed with a
// caller's long-term key; every other service only accepts the temporary
// keys AssumeRole issued, and learns the account from them.
func (f *Fake) authenticate(x *exchange) bool {
	auth := x.r.Header.Get("Authorization")
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 ") {
		code := "MissingAuthenticationToken"
		if _, ok := x.proto.(jsonProto); ok {
			code = "MissingAuthenticationTokenException"
		}
		x.fail(authStatus(x.proto), code, "Request is missing Authentication Token")
		return false
	}
	sig, err := parseAuthorization(auth)
	if err != nil {
		x.fail(authStatus(x.proto), "IncompleteSignature", err.Error())
		return false
	}
	if sig.service != x.proto.service() {
		x.fail(authStatus(x.proto), "SignatureDoesNotMatch",
			fmt.Sprintf("Credential should be scoped to correct service: '%s'.", x.proto.service()))
		return false
	}

	if _, isSTS := x.proto.(stsProto); isSTS {
		f.mu.Lock()
		secret, known := f.callers[sig.keyID]
		open := len(f.callers) == 0
		f.mu.Unlock()
		if open {
			return true
		}
		if !known {
			x.fail(http.StatusForbidden, "InvalidClientTokenId", "The security token included in the request is invalid.")
			return false
		}
		if err := verifySignature(x.r, x.body, sig, aws.Credentials{AccessKeyID: sig.keyID, SecretAccessKey: secret}); err != nil {
			x.fail(http.StatusForbidden, "SignatureDoesNotMatch", err.Error())
			return false
		}
		return true
	}

	f.mu.Lock()
	s, ok := f.keys[sig.keyID]
	f.mu.Unlock()
	if !ok {
		code := "UnrecognizedClientException"
		if _, isEC2 := x.proto.(ec2Proto); isEC2 {
			code = "AuthFailure"
		}
		x.fail(authStatus(x.proto), code, "The security token included in the request is invalid.")
		return false
	}
	if x.r.Header.Get("X-Amz-Security-Token") != s.token {
		x.fail(authStatus(x.proto), "UnrecognizedClientException", "The security token included in the request is invalid.")
		return false
	}
	if err := verifySignature(x.r, x.body, sig, aws.Credentials{AccessKeyID: sig.keyID, SecretAccessKey: s.secret, SessionToken: s.token}); err != nil {
		x.fail(authStatus(x.proto), "SignatureDoesNotMatch", err.Error())
		return false
	}
	x.account = s.role.account
	return true
}

// authStatus is the HTTP status of an authentication failure per protocol.
func authStatus(p protocol) int {
	switch p.(type) {
	case jsonProto:
		return http.StatusBadRequest
	case ec2Proto:
		return http.StatusUnauthorized
	}
	return http.StatusForbidden
}

type sigV4 struct {
	keyID, date, region, service string
	signedHeaders                []string
}

func parseAuthorization(auth string) (sigV4, error) {
	fields := map[string]string{}
	for _, part := range strings.Split(strings.TrimPrefix(auth, "AWS4-HMAC-SHA256 "), ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		fields[k] = v
	}
	scope := strings.Split(fields["Credential"], "/")
	if len(scope) != 5 || scope[4] != "aws4_request" || fields["SignedHeaders"] == "" || fields["Signature"] == "" {
		return sigV4{}, fmt.Errorf("Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters") //nolint:staticcheck // AWS's own error text, which the fake reproduces
	}
	return sigV4{keyID: scope[0], date: scope[1], region: scope[2], service: scope[3],
		signedHeaders: strings.Split(fields["SignedHeaders"], ";")}, nil
}

// maxSkew is how far the signing time may be from the fake's clock; AWS
// refuses signatures more than 15 minutes off.
const maxSkew = 15 * time.Minute

// verifySignature recomputes the signature with the SDK's own signer over
// the headers the request says it signed and the body as received, and
// compares it with the one sent.
func verifySignature(r *http.Request, body []byte, sig sigV4, creds aws.Credentials) error {
	signedAt, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return fmt.Errorf("X-Amz-Date: %w", err)
	}
	if d := time.Since(signedAt); d > maxSkew || d < -maxSkew {
		return fmt.Errorf("Signature expired: %s is now earlier or later than the allowed 15 minutes", r.Header.Get("X-Amz-Date")) //nolint:staticcheck // AWS's own error text, which the fake reproduces
	}
	re, err := http.NewRequestWithContext(r.Context(), r.Method, "http://"+r.Host+r.URL.RequestURI(), bytes.NewReader(body)) //nolint:gosec // built only to be signed and compared, never sent
	if err != nil {
		return err
	}
	for _, h := range sig.signedHeaders {
		if h == "host" || h == "content-length" {
			continue
		}
		re.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, re, hex.EncodeToString(sum[:]), sig.service, sig.region, signedAt); err != nil {
		return err
	}
	if got, want := r.Header.Get("Authorization"), re.Header.Get("Authorization"); got != want {
		return fmt.Errorf("The request signature we calculated does not match the signature you provided") //nolint:staticcheck // AWS's own error text, which the fake reproduces
	}
	return nil
}

// --- responses ---

// bufferedResponse holds an answer until the fault decision is made.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newBufferedResponse() *bufferedResponse {
	return &bufferedResponse{header: http.Header{}}
}

func (b *bufferedResponse) Header() http.Header { return b.header }

func (b *bufferedResponse) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

func (b *bufferedResponse) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

func (b *bufferedResponse) flush(w http.ResponseWriter) {
	for k, v := range b.header {
		w.Header()[k] = v
	}
	if b.status == 0 {
		b.status = http.StatusOK
	}
	w.Header().Set("Content-Length", strconv.Itoa(b.body.Len()))
	w.WriteHeader(b.status)
	_, _ = w.Write(b.body.Bytes())
}

// hijackAndClose drops the connection without an answer, as a load
// balancer or a network failure would after the service acted.
func hijackAndClose(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		// HTTP/2 cannot hijack; abort the stream instead.
		panic(http.ErrAbortHandler)
	}
	conn, buf, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	_ = buf.Flush()
	_ = conn.Close()
}

// requestID returns a random id in the shape AWS uses.
func requestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

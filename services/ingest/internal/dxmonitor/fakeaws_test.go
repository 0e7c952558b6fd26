package dxmonitor

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// fakeAWS is STS and Direct Connect as local servers speaking their wire
// protocols: STS the query protocol (form POST, XML answers), Direct
// Connect awsJson1.1 (X-Amz-Target OvertureService.*). Each checks the
// SigV4 signature of every request against the secret of the access key it
// names: STS calls must be signed by the MSP's own key, Direct Connect
// calls by the temporary key STS issued for the role of the account whose
// VIFs are asked for. So a monitor that used tenant A's session for tenant
// B would be served A's VIFs under B, and the tests would see it.
type fakeAWS struct {
	tb  testing.TB
	sts *httptest.Server
	dx  *httptest.Server

	mspKey, mspSecret string

	mu       sync.Mutex
	roles    map[string]*fakeRole   // by role ARN
	sessions map[string]fakeSession // by issued access key id
	issued   int
	// assumed records each AssumeRole call, accepted or not.
	assumed []assumeCall
	// dxCalls counts Direct Connect calls per account, accepted or not.
	dxCalls map[string]int
	// pageSize > 0 splits listings into pages with next tokens.
	pageSize int
}

type assumeCall struct {
	RoleARN, ExternalID, SessionName string
	Accepted                         bool
}

// fakeSession is a set of temporary credentials STS issued for a role.
type fakeSession struct {
	role          *fakeRole
	secret, token string
}

type fakeRole struct {
	arn, account, externalID string
	// denyDX makes Direct Connect refuse this role: it lacks
	// directconnect:DescribeVirtualInterfaces.
	denyDX bool
	// failures are answered, one per call, before the VIFs are.
	failures []fakeFailure
	// vifs by region.
	vifs map[string][]*fakeVIF
}

type fakeFailure struct {
	status int
	typ    string // __type; empty: no JSON body
	msg    string
}

// fakeVIF is a VIF as the Direct Connect API returns it (the JSON field
// names of the API reference's VirtualInterface and BGPPeer).
type fakeVIF struct {
	VirtualInterfaceID    string        `json:"virtualInterfaceId"`
	VirtualInterfaceName  string        `json:"virtualInterfaceName,omitempty"`
	VirtualInterfaceState string        `json:"virtualInterfaceState"`
	VirtualInterfaceType  string        `json:"virtualInterfaceType,omitempty"`
	ConnectionID          string        `json:"connectionId,omitempty"`
	VLAN                  int           `json:"vlan,omitempty"`
	ASN                   int64         `json:"asn,omitempty"`
	AmazonSideASN         int64         `json:"amazonSideAsn,omitempty"`
	AuthKey               string        `json:"authKey,omitempty"`
	Location              string        `json:"location,omitempty"`
	OwnerAccount          string        `json:"ownerAccount,omitempty"`
	Region                string        `json:"region,omitempty"`
	BGPPeers              []fakeBGPPeer `json:"bgpPeers,omitempty"`
}

type fakeBGPPeer struct {
	BGPPeerID     string `json:"bgpPeerId"`
	BGPPeerState  string `json:"bgpPeerState,omitempty"`
	BGPStatus     string `json:"bgpStatus,omitempty"`
	ASN           int64  `json:"asn,omitempty"`
	AddressFamily string `json:"addressFamily,omitempty"`
	AuthKey       string `json:"authKey,omitempty"`
}

// testAuthKey is the BGP MD5 key the fake puts on every VIF and peer; no
// alert may ever contain it.
const testAuthKey = "bgp-md5-s3cr3t"

func newFakeAWS(tb testing.TB) *fakeAWS {
	tb.Helper()
	f := &fakeAWS{
		tb:        tb,
		mspKey:    "AKIAMSPEXAMPLE",
		mspSecret: "msp-secret",
		roles:     map[string]*fakeRole{},
		sessions:  map[string]fakeSession{},
		dxCalls:   map[string]int{},
	}
	f.sts = httptest.NewServer(http.HandlerFunc(f.serveSTS))
	tb.Cleanup(f.sts.Close)
	f.dx = httptest.NewServer(http.HandlerFunc(f.serveDX))
	tb.Cleanup(f.dx.Close)
	return f
}

// addRole creates a customer account with a role trusting the MSP under externalID.
func (f *fakeAWS) addRole(account, externalID string) *fakeRole {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := &fakeRole{
		arn:        "arn:aws:iam::" + account + ":role/ams-monitor",
		account:    account,
		externalID: externalID,
		vifs:       map[string][]*fakeVIF{},
	}
	f.roles[r.arn] = r
	return r
}

// update changes fake state under the lock.
func (f *fakeAWS) update(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn()
}

func (f *fakeAWS) assumeCalls() []assumeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]assumeCall(nil), f.assumed...)
}

func (f *fakeAWS) dxCallCount(account string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.dxCalls[account]
}

// config is the MSP's base SDK configuration, retries off unless maxAttempts > 1.
func (f *fakeAWS) config(maxAttempts int) func(context.Context) (aws.Config, error) {
	return func(context.Context) (aws.Config, error) {
		return aws.Config{
			Region: "us-east-1",
			Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
				return aws.Credentials{AccessKeyID: f.mspKey, SecretAccessKey: f.mspSecret, Source: "test"}, nil
			}),
			RetryMaxAttempts: maxAttempts,
		}, nil
	}
}

// --- STS (query protocol) ---

const stsNS = "https://sts.amazonaws.com/doc/2011-06-15/"

func (f *fakeAWS) serveSTS(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		stsError(w, http.StatusBadRequest, "InvalidAction", "want a form-encoded POST")
		return
	}
	keyID, err := verifySigV4(r, body, "sts", func(id string) (aws.Credentials, bool) {
		if id != f.mspKey {
			return aws.Credentials{}, false
		}
		return aws.Credentials{AccessKeyID: f.mspKey, SecretAccessKey: f.mspSecret}, true
	})
	if err != nil {
		stsError(w, http.StatusForbidden, "SignatureDoesNotMatch", err.Error())
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err := r.ParseForm(); err != nil {
		stsError(w, http.StatusBadRequest, "MalformedInput", err.Error())
		return
	}
	form := r.PostForm
	if form.Get("Action") != "AssumeRole" || form.Get("Version") != "2011-06-15" {
		stsError(w, http.StatusBadRequest, "InvalidAction", "only AssumeRole of version 2011-06-15")
		return
	}
	roleARN, externalID, session := form.Get("RoleArn"), form.Get("ExternalId"), form.Get("RoleSessionName")

	f.mu.Lock()
	role, ok := f.roles[roleARN]
	accepted := ok && role.externalID == externalID && session != ""
	f.assumed = append(f.assumed, assumeCall{RoleARN: roleARN, ExternalID: externalID, SessionName: session, Accepted: accepted})
	var key, secret, token string
	if accepted {
		f.issued++
		key = fmt.Sprintf("ASIA%s%04d", role.account, f.issued)
		secret = fmt.Sprintf("secret-%s-%d", role.account, f.issued)
		token = fmt.Sprintf("token-%s-%d", role.account, f.issued)
		f.sessions[key] = fakeSession{role: role, secret: secret, token: token}
	}
	f.mu.Unlock()

	if !accepted {
		stsError(w, http.StatusForbidden, "AccessDenied", fmt.Sprintf(
			"User: arn:aws:iam::000000000000:user/%s is not authorized to perform: sts:AssumeRole on resource: %s", keyID, roleARN))
		return
	}
	type credentials struct {
		AccessKeyID     string `xml:"AccessKeyId"`
		SecretAccessKey string `xml:"SecretAccessKey"`
		SessionToken    string `xml:"SessionToken"`
		Expiration      string `xml:"Expiration"`
	}
	type response struct {
		XMLName xml.Name `xml:"AssumeRoleResponse"`
		NS      string   `xml:"xmlns,attr"`
		Result  struct {
			AssumedRoleUser struct {
				Arn           string `xml:"Arn"`
				AssumedRoleID string `xml:"AssumedRoleId"`
			} `xml:"AssumedRoleUser"`
			Credentials credentials `xml:"Credentials"`
		} `xml:"AssumeRoleResult"`
		RequestID string `xml:"ResponseMetadata>RequestId"`
	}
	resp := response{NS: stsNS, RequestID: "req-assume"}
	resp.Result.AssumedRoleUser.Arn = "arn:aws:sts::" + role.account + ":assumed-role/ams-monitor/" + session
	resp.Result.AssumedRoleUser.AssumedRoleID = "AROAEXAMPLE:" + session
	// Real time, not the test clock: the SDK's credentials cache compares
	// the expiry with the wall clock.
	resp.Result.Credentials = credentials{key, secret, token, time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}
	w.Header().Set("Content-Type", "text/xml")
	_ = xml.NewEncoder(w).Encode(resp)
}

func stsError(w http.ResponseWriter, status int, code, msg string) {
	type errorResponse struct {
		XMLName xml.Name `xml:"ErrorResponse"`
		NS      string   `xml:"xmlns,attr"`
		Error   struct {
			Type    string `xml:"Type"`
			Code    string `xml:"Code"`
			Message string `xml:"Message"`
		} `xml:"Error"`
		RequestID string `xml:"RequestId"`
	}
	e := errorResponse{NS: stsNS, RequestID: "req-error"}
	e.Error.Type, e.Error.Code, e.Error.Message = "Sender", code, msg
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	_ = xml.NewEncoder(w).Encode(e)
}

// --- Direct Connect (awsJson1.1) ---

func (f *fakeAWS) serveDX(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	switch {
	case r.Method != http.MethodPost || r.URL.Path != "/":
		dxError(w, http.StatusBadRequest, "UnknownOperationException", "want POST /")
		return
	case r.Header.Get("Content-Type") != "application/x-amz-json-1.1":
		dxError(w, http.StatusBadRequest, "SerializationException", "want Content-Type application/x-amz-json-1.1")
		return
	case r.Header.Get("X-Amz-Target") != "OvertureService.DescribeVirtualInterfaces":
		dxError(w, http.StatusBadRequest, "UnknownOperationException", "unknown target "+r.Header.Get("X-Amz-Target"))
		return
	}
	var sess fakeSession
	_, err := verifySigV4(r, body, "directconnect", func(id string) (aws.Credentials, bool) {
		f.mu.Lock()
		defer f.mu.Unlock()
		s, ok := f.sessions[id]
		sess = s
		return aws.Credentials{AccessKeyID: id, SecretAccessKey: s.secret, SessionToken: s.token}, ok
	})
	if err != nil {
		dxError(w, http.StatusBadRequest, "UnrecognizedClientException", "The security token included in the request is invalid. ("+err.Error()+")")
		return
	}
	session := sess.role
	if r.Header.Get("X-Amz-Security-Token") != sess.token {
		dxError(w, http.StatusBadRequest, "UnrecognizedClientException", "The security token included in the request is invalid.")
		return
	}
	region := scopeRegion(r.Header.Get("Authorization"))

	var in struct {
		NextToken string `json:"nextToken"`
	}
	if len(body) > 0 {
		if err := json.Unmarshal(body, &in); err != nil {
			dxError(w, http.StatusBadRequest, "SerializationException", err.Error())
			return
		}
	}

	f.mu.Lock()
	f.dxCalls[session.account]++
	if session.denyDX {
		f.mu.Unlock()
		dxError(w, http.StatusBadRequest, "AccessDeniedException", fmt.Sprintf(
			"User: arn:aws:sts::%s:assumed-role/ams-monitor/%s is not authorized to perform: directconnect:DescribeVirtualInterfaces", session.account, sessionName))
		return
	}
	if len(session.failures) > 0 {
		fail := session.failures[0]
		session.failures = session.failures[1:]
		f.mu.Unlock()
		if fail.typ == "" {
			w.WriteHeader(fail.status)
			return
		}
		dxError(w, fail.status, fail.typ, fail.msg)
		return
	}
	all := session.vifs[region]
	start := 0
	if in.NextToken != "" {
		_, _ = fmt.Sscanf(in.NextToken, "page-%d", &start)
	}
	end := len(all)
	var next string
	if f.pageSize > 0 && start+f.pageSize < len(all) {
		end = start + f.pageSize
		next = fmt.Sprintf("page-%d", end)
	}
	out := struct {
		VirtualInterfaces []*fakeVIF `json:"virtualInterfaces"`
		NextToken         string     `json:"nextToken,omitempty"`
	}{VirtualInterfaces: all[start:end], NextToken: next}
	data, err := json.Marshal(out)
	f.mu.Unlock()
	if err != nil {
		f.tb.Errorf("fake direct connect: %v", err)
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_, _ = w.Write(data)
}

func dxError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": typ, "message": msg})
}

// verifySigV4 checks r's Authorization header: the credential scope names
// service, the access key is one lookup knows, and the signature is what
// the SDK's own signer computes over the signed headers and body with that
// key's secret. It returns the access key id.
func verifySigV4(r *http.Request, body []byte, service string, lookup func(keyID string) (aws.Credentials, bool)) (string, error) {
	auth := r.Header.Get("Authorization")
	const algo = "AWS4-HMAC-SHA256 "
	if !strings.HasPrefix(auth, algo) {
		return "", fmt.Errorf("not signed with SigV4")
	}
	fields := map[string]string{}
	for _, part := range strings.Split(strings.TrimPrefix(auth, algo), ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		fields[k] = v
	}
	scope := strings.Split(fields["Credential"], "/")
	if len(scope) != 5 || scope[3] != service || scope[4] != "aws4_request" {
		return "", fmt.Errorf("credential scope %q is not for %s", fields["Credential"], service)
	}
	creds, ok := lookup(scope[0])
	if !ok {
		return "", fmt.Errorf("unknown access key %s", scope[0])
	}
	signedAt, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return "", fmt.Errorf("X-Amz-Date: %w", err)
	}
	re, err := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	for _, h := range strings.Split(fields["SignedHeaders"], ";") {
		if h == "host" || h == "content-length" {
			continue
		}
		re.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, re, hex.EncodeToString(sum[:]), service, scope[2], signedAt); err != nil {
		return "", err
	}
	if got := re.Header.Get("Authorization"); got != auth {
		return "", fmt.Errorf("signature does not match: got %q, want %q", auth, got)
	}
	return scope[0], nil
}

func scopeRegion(auth string) string {
	_, rest, _ := strings.Cut(auth, "Credential=")
	parts := strings.Split(rest, "/")
	if len(parts) < 3 {
		return ""
	}
	return parts[2]
}

// vif is a healthy fake VIF with two BGP peers (IPv4 and IPv6).
func vif(id, name, owner, region string) *fakeVIF {
	return &fakeVIF{
		VirtualInterfaceID:    id,
		VirtualInterfaceName:  name,
		VirtualInterfaceState: "available",
		VirtualInterfaceType:  "private",
		ConnectionID:          "dxcon-fgab1234",
		VLAN:                  101,
		ASN:                   65000,
		AmazonSideASN:         64512,
		AuthKey:               testAuthKey,
		Location:              "EqDC2",
		OwnerAccount:          owner,
		Region:                region,
		BGPPeers: []fakeBGPPeer{
			{BGPPeerID: "dxpeer-" + id[6:] + "4", BGPPeerState: "available", BGPStatus: "up", ASN: 65000, AddressFamily: "ipv4", AuthKey: testAuthKey},
			{BGPPeerID: "dxpeer-" + id[6:] + "6", BGPPeerState: "available", BGPStatus: "up", ASN: 65000, AddressFamily: "ipv6", AuthKey: testAuthKey},
		},
	}
}

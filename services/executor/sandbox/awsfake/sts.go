package awsfake

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

const (
	stsVersion = "2011-06-15"
	stsNS      = "https://sts.amazonaws.com/doc/2011-06-15/"
)

// role is a customer role that trusts the MSP under an ExternalId.
type role struct {
	arn, account, externalID string
}

// AssumeRoleCall is one AssumeRole request as STS saw it.
type AssumeRoleCall struct {
	RoleARN, ExternalID, SessionName string
	Accepted                         bool
}

// AddRole registers a role whose trust policy requires externalID. The
// account is the ARN's (arn:aws:iam::<account>:role/<name>); credentials
// issued for the role act in that account.
func (f *Fake) AddRole(arn, externalID string) {
	account := ""
	if parts := strings.Split(arn, ":"); len(parts) == 6 {
		account = parts[4]
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.roles[arn] = &role{arn: arn, account: account, externalID: externalID}
}

// AssumeRoleCalls returns every AssumeRole request, accepted or not.
func (f *Fake) AssumeRoleCalls() []AssumeRoleCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]AssumeRoleCall(nil), f.assumed...)
}

// stsProto is the AWS query protocol as STS speaks it: form-encoded POST,
// XML answers, errors as <ErrorResponse><Error>.
type stsProto struct{}

func (stsProto) service() string      { return "sts" }
func (stsProto) throttleCode() string { return "Throttling" }
func (stsProto) internalCode() string { return "InternalFailure" }

func (stsProto) writeError(w http.ResponseWriter, status int, code, msg string) {
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
	e := errorResponse{NS: stsNS, RequestID: requestID()}
	e.Error.Type = "Sender"
	if status >= 500 {
		e.Error.Type = "Receiver"
	}
	e.Error.Code, e.Error.Message = code, msg
	writeXML(w, status, e)
}

var sessionNamePattern = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)

func (f *Fake) serveSTS(x *exchange) {
	form, _ := parseForm(x.body)
	if x.op != "AssumeRole" {
		x.fail(http.StatusBadRequest, "InvalidAction", fmt.Sprintf("Could not find operation %s for version %s", x.op, stsVersion))
		return
	}
	roleARN, externalID, sessionName := form.Get("RoleArn"), form.Get("ExternalId"), form.Get("RoleSessionName")
	duration := 3600
	if d := form.Get("DurationSeconds"); d != "" {
		n, err := strconv.Atoi(d)
		if err != nil || n < 900 || n > 43200 {
			x.fail(http.StatusBadRequest, "ValidationError", "1 validation error detected: Value at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and 43200")
			return
		}
		duration = n
	}
	if roleARN == "" || !sessionNamePattern.MatchString(sessionName) {
		x.fail(http.StatusBadRequest, "ValidationError", "1 validation error detected: Value at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*")
		return
	}

	f.mu.Lock()
	r, ok := f.roles[roleARN]
	// AWS does not say whether the role is missing or the ExternalId is
	// wrong: both are the same AccessDenied.
	accepted := ok && r.externalID == externalID
	f.assumed = append(f.assumed, AssumeRoleCall{RoleARN: roleARN, ExternalID: externalID, SessionName: sessionName, Accepted: accepted})
	var key, secret, token string
	if accepted {
		key = "ASIA" + strings.ToUpper(strings.ReplaceAll(requestID(), "-", "")[:16])
		secret = "secret-" + requestID()
		token = "token-" + requestID()
		f.keys[key] = session{role: r, secret: secret, token: token}
	}
	f.mu.Unlock()

	if !accepted {
		x.fail(http.StatusForbidden, "AccessDenied", fmt.Sprintf(
			"User: arn:aws:iam::000000000000:user/ams-executor is not authorized to perform: sts:AssumeRole on resource: %s", roleARN))
		return
	}
	x.call.Applied = true

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
	resp := response{NS: stsNS, RequestID: requestID()}
	roleName := roleARN[strings.LastIndex(roleARN, "/")+1:]
	resp.Result.AssumedRoleUser.Arn = "arn:aws:sts::" + r.account + ":assumed-role/" + roleName + "/" + sessionName
	resp.Result.AssumedRoleUser.AssumedRoleID = "AROAFAKEROLEID:" + sessionName
	// Wall-clock time: the SDK's credentials cache compares the expiry
	// with the wall clock.
	resp.Result.Credentials = credentials{key, secret, token, time.Now().Add(time.Duration(duration) * time.Second).UTC().Format(time.RFC3339)}
	writeXML(x.resp, http.StatusOK, resp)
}

func parseForm(body []byte) (url.Values, error) {
	return url.ParseQuery(string(body))
}

func writeXML(w http.ResponseWriter, status int, v any) {
	data, err := xml.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.Header().Set("X-Amzn-Requestid", requestID())
	w.WriteHeader(status)
	_, _ = w.Write([]byte(xml.Header))
	_, _ = w.Write(data)
}

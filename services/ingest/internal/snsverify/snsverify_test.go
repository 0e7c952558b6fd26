package snsverify

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestStringToSign checks the canonical text against the examples in AWS's
// "Verifying the signatures of Amazon SNS messages".
func TestStringToSign(t *testing.T) {
	tests := []struct {
		name   string
		fields map[string]string
		want   string
	}{
		{
			name: "notification from the AWS guide",
			fields: map[string]string{
				"Type": "Notification", "MessageId": "4d4dc071-ddbf-465d-bba8-08f81c89da64",
				"TopicArn": "arn:aws:sns:us-east-2:123456789012:s4-MySNSTopic-1G1WEFCOXTC0P",
				"Subject":  "My subject", "Message": "My Test Message", "Timestamp": "2019-01-31T04:37:04.321Z",
				"SignatureVersion": "1", "Signature": "x", "SigningCertURL": goodCertURL,
				"UnsubscribeURL": "https://sns.us-east-2.amazonaws.com/?Action=Unsubscribe",
			},
			want: "Message\nMy Test Message\nMessageId\n4d4dc071-ddbf-465d-bba8-08f81c89da64\nSubject\nMy subject\n" +
				"Timestamp\n2019-01-31T04:37:04.321Z\nTopicArn\narn:aws:sns:us-east-2:123456789012:s4-MySNSTopic-1G1WEFCOXTC0P\nType\nNotification\n",
		},
		{
			name: "subscription confirmation from the AWS guide",
			fields: map[string]string{
				"Type": "SubscriptionConfirmation", "MessageId": "3d891288-136d-417f-bc05-901c108273ee", "Token": "233...",
				"TopicArn":     "arn:aws:sns:us-east-2:123456789012:s4-MySNSTopic-1G1WEFCOXTC0P",
				"Message":      "My Test Message",
				"SubscribeURL": "https://sns.us-east-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-east-2:123456789012:s4-MySNSTopic-1G1WEFCOXTC0P&Token=233...",
				"Timestamp":    "2019-01-31T19:25:13.719Z", "SignatureVersion": "1", "Signature": "x", "SigningCertURL": goodCertURL,
			},
			want: "Message\nMy Test Message\nMessageId\n3d891288-136d-417f-bc05-901c108273ee\n" +
				"SubscribeURL\nhttps://sns.us-east-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-east-2:123456789012:s4-MySNSTopic-1G1WEFCOXTC0P&Token=233...\n" +
				"Timestamp\n2019-01-31T19:25:13.719Z\nToken\n233...\nTopicArn\narn:aws:sns:us-east-2:123456789012:s4-MySNSTopic-1G1WEFCOXTC0P\nType\nSubscriptionConfirmation\n",
		},
		{
			name: "notification without Subject leaves it out",
			fields: map[string]string{
				"Type": "Notification", "MessageId": "m", "TopicArn": testTopic, "Message": "line 1\nline 2",
				"Timestamp": "2019-01-31T04:37:04.321Z", "SignatureVersion": "2", "Signature": "x", "SigningCertURL": goodCertURL,
			},
			want: "Message\nline 1\nline 2\nMessageId\nm\nTimestamp\n2019-01-31T04:37:04.321Z\nTopicArn\n" + testTopic + "\nType\nNotification\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parse(t, marshal(t, tt.fields)).stringToSign()
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}

	t.Run("empty Subject present is signed, null Subject is not", func(t *testing.T) {
		empty := parse(t, []byte(`{"Type":"Notification","MessageId":"m","TopicArn":"`+testTopic+`","Subject":"","Message":"x","Timestamp":"2019-01-31T04:37:04.321Z","SignatureVersion":"1","Signature":"x","SigningCertURL":"`+goodCertURL+`"}`))
		s, err := empty.stringToSign()
		require.NoError(t, err)
		require.Contains(t, s, "MessageId\nm\nSubject\n\nTimestamp\n")
		null := parse(t, []byte(`{"Type":"Notification","MessageId":"m","TopicArn":"`+testTopic+`","Subject":null,"Message":"x","Timestamp":"2019-01-31T04:37:04.321Z","SignatureVersion":"1","Signature":"x","SigningCertURL":"`+goodCertURL+`"}`))
		s, err = null.stringToSign()
		require.NoError(t, err)
		require.NotContains(t, s, "Subject")
	})
}

func TestParse(t *testing.T) {
	f := newFakeSNS(t)
	m := parse(t, f.Sign(t, notification()))
	require.Equal(t, TypeNotification, m.Type)
	require.Equal(t, "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324", m.MessageID)
	require.Equal(t, testTopic, m.TopicArn)
	require.True(t, m.HasSubject)
	require.Equal(t, testNow.Add(-time.Minute), m.Published)
	require.Equal(t, goodCertURL, m.SigningCertURL)
	require.Empty(t, m.SubscribeURL)
}

func TestParseErrors(t *testing.T) {
	with := func(base func() map[string]string, key, value string) []byte {
		f := base()
		f["Signature"] = "x"
		if value == "<delete>" {
			delete(f, key)
		} else {
			f[key] = value
		}
		return marshal(t, f)
	}
	tests := []struct {
		name string
		body []byte
		want string
	}{
		{"empty body", []byte(" \n"), "empty body: expected an SNS message (a JSON object)"},
		{"not JSON", []byte("Type=Notification"), "invalid JSON: invalid character 'T'…"},
		{"array", []byte(`[{"Type":"Notification"}]`), "body is a JSON array, not an object"},
		{"field not a string", []byte(`{"Type":"Notification","SignatureVersion":1}`), "SignatureVersion: expected a string, got number"},
		{"no Type", with(notification, "Type", "<delete>"), "Type: missing: want Notification, SubscriptionConfirmation or UnsubscribeConfirmation"},
		{"unknown Type", with(notification, "Type", "Ping"), `Type: "Ping" is not an SNS message type…`},
		{"no MessageId", with(notification, "MessageId", ""), "MessageId: missing: an SNS Notification always carries it"},
		{"no Message", with(notification, "Message", "<delete>"), "Message: missing…"},
		{"no Signature", with(notification, "Signature", ""), "Signature: missing…"},
		{"no SigningCertURL", with(notification, "SigningCertURL", "<delete>"), "SigningCertURL: missing…"},
		{"confirmation without Token", with(confirmation, "Token", "<delete>"), "Token: missing: an SNS SubscriptionConfirmation always carries it"},
		{"confirmation without SubscribeURL", with(confirmation, "SubscribeURL", ""), "SubscribeURL: missing…"},
		{"bad Timestamp", with(notification, "Timestamp", "yesterday"), `Timestamp: "yesterday" is not an RFC 3339 time…`},
		{"subscription ARN for TopicArn", with(notification, "TopicArn", testTopic+":c9135db0"), `TopicArn: "` + testTopic + `:c9135db0" is not an SNS topic ARN…`},
		{"bad region in TopicArn", with(notification, "TopicArn", "arn:aws:sns:useast1:123456789012:t"), "TopicArn: …"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse(tt.body)
			require.Nil(t, m)
			requireKind(t, err, ErrInvalid, strings.TrimSuffix(tt.want, "…"))
			if !strings.HasSuffix(tt.want, "…") {
				require.Equal(t, tt.want, strings.SplitN(err.Error(), ": invalid character", 2)[0])
			}
		})
	}
}

func TestVerifyGood(t *testing.T) {
	f := newFakeSNS(t)
	v := f.verifier(t, newClock(testNow), Options{})
	tests := []struct {
		name   string
		fields map[string]string
	}{
		{"version 1", notification()},
		{"version 2", func() map[string]string { n := notification(); n["SignatureVersion"] = "2"; return n }()},
		{"version 2 without Subject", func() map[string]string {
			n := notification()
			n["SignatureVersion"] = "2"
			delete(n, "Subject")
			return n
		}()},
		{"subscription confirmation", confirmation()},
		{"unsubscribe confirmation", func() map[string]string { c := confirmation(); c["Type"] = TypeUnsubscribeConfirmation; return c }()},
		{"a day-old certificate URL on port 443", func() map[string]string {
			n := notification()
			n["SigningCertURL"] = "https://" + snsHost + ":443/SimpleNotificationService-good.pem"
			return n
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := parse(t, f.Sign(t, tt.fields))
			require.NoError(t, v.Verify(context.Background(), m))
		})
	}
}

func TestVerifyTampered(t *testing.T) {
	f := newFakeSNS(t)
	v := f.verifier(t, newClock(testNow), Options{})
	tests := []struct {
		name   string
		tamper func(m *Message)
	}{
		{"Message changed", func(m *Message) { m.Message = strings.Replace(m.Message, "ALARM", "OK", 1) }},
		{"MessageId changed", func(m *Message) { m.MessageID = "another" }},
		{"Subject dropped", func(m *Message) { m.HasSubject = false }},
		{"TopicArn changed", func(m *Message) { m.TopicArn = "arn:aws:sns:us-east-1:999999999999:ams-alarms" }},
		{"signature of another message", func(m *Message) {
			other := notification()
			other["MessageId"] = "other"
			m.Signature = parse(t, f.Sign(t, other)).Signature
		}},
		{"version 1 signature claimed as version 2", func(m *Message) { m.SignatureVersion = "2" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := parse(t, f.Sign(t, notification()))
			tt.tamper(m)
			requireKind(t, v.Verify(context.Background(), m), ErrRejected, "Signature: does not match the message")
		})
	}

	t.Run("tampered body", func(t *testing.T) {
		body := f.Sign(t, notification())
		body = []byte(strings.Replace(string(body), "ServerCpuTooHigh", "ServerCpuTooLow", 1))
		requireKind(t, v.Verify(context.Background(), parse(t, body)), ErrRejected, "Signature: does not match")
	})
	t.Run("signature not base64", func(t *testing.T) {
		m := parse(t, f.Sign(t, notification()))
		m.Signature = "not base64!"
		requireKind(t, v.Verify(context.Background(), m), ErrRejected, "Signature: not base64")
	})
}

// TestVerifyRejectsCertURLWithoutFetching checks that a SigningCertURL
// that is not Amazon SNS's is refused before any connection is made: the
// messages are validly signed, so only the URL check stands in the way.
func TestVerifyRejectsCertURLWithoutFetching(t *testing.T) {
	tests := []struct {
		url  string
		want string
	}{
		{"https://sns.us-east-1.amazonaws.com.evil.com/SimpleNotificationService-good.pem", `SigningCertURL: host "sns.us-east-1.amazonaws.com.evil.com" is not Amazon SNS's`},
		{"http://sns.us-east-1.amazonaws.com/SimpleNotificationService-good.pem", `SigningCertURL: scheme "http" is not https`},
		{"https://sns.us-east-1.amazonaws.com/SimpleNotificationService-good", `SigningCertURL: path "/SimpleNotificationService-good" is not a .pem file`},
		{"https://sns.us-east-1.amazonaws.com/cert.pem?x=1", `SigningCertURL: path "/cert.pem" is not a .pem file`},
		{"https://sns.us-east-1.amazonaws.com/cert.pem#x", `SigningCertURL: path "/cert.pem" is not a .pem file`},
		{"https://attacker@sns.us-east-1.amazonaws.com/SimpleNotificationService-good.pem", "SigningCertURL: user information in the URL is not allowed"},
		{"https://sns.us-east-1.amazonaws.com:8443/SimpleNotificationService-good.pem", "SigningCertURL: port 8443 is not allowed"},
		{"https://evil.com/sns.us-east-1.amazonaws.com/SimpleNotificationService-good.pem", `SigningCertURL: host "evil.com" is not Amazon SNS's`},
		{"https://evilsns.us-east-1.amazonaws.com/x.pem", `SigningCertURL: host "evilsns.us-east-1.amazonaws.com" is not Amazon SNS's`},
		{"https://s3.us-east-1.amazonaws.com/x.pem", `SigningCertURL: host "s3.us-east-1.amazonaws.com" is not Amazon SNS's`},
		{"https://sns.amazonaws.com/x.pem", `SigningCertURL: host "sns.amazonaws.com" is not Amazon SNS's`},
		{"https://SNS.us-east-1.amazonaws.com/x.pem", `SigningCertURL: host "SNS.us-east-1.amazonaws.com" is not Amazon SNS's`},
		{"https://sns.us-east-1.amazonaws.com./x.pem", `SigningCertURL: host "sns.us-east-1.amazonaws.com." is not Amazon SNS's`},
		{"https://sns.us-east-1.amazonaws.com.cn/x.pem", `SigningCertURL: host "sns.us-east-1.amazonaws.com.cn" does not match its partition`},
		{"https://sns.cn-north-1.amazonaws.com/x.pem", `SigningCertURL: host "sns.cn-north-1.amazonaws.com" does not match its partition`},
		{"//sns.us-east-1.amazonaws.com/x.pem", `SigningCertURL: scheme "" is not https`},
		{"https://127.0.0.1/x.pem", `SigningCertURL: host "127.0.0.1" is not Amazon SNS's`},
		{"https://sns.us-east-1.amazonaws.com\x00.evil.com/x.pem", "SigningCertURL: not a URL"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			f := newFakeSNS(t)
			v := f.verifier(t, newClock(testNow), Options{})
			n := notification()
			n["SigningCertURL"] = tt.url
			m := parse(t, f.Sign(t, n))
			requireKind(t, v.Verify(context.Background(), m), ErrRejected, tt.want)
			require.Zero(t, f.TotalRequests(), "requests made")
			require.Zero(t, f.Dials(), "connections attempted")
		})
	}
}

// TestCertURLHosts checks the hosts of every partition SNS runs in.
func TestCertURLHosts(t *testing.T) {
	for _, u := range []string{
		"https://sns.us-east-1.amazonaws.com/SimpleNotificationService-7ff5318490ec183fbaddaa2a969abfda.pem",
		"https://sns.ap-northeast-1.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem",
		"https://sns.us-gov-west-1.amazonaws.com/SimpleNotificationService-x.pem",
		"https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-x.pem",
		"https://sns.cn-northwest-1.amazonaws.com.cn/SimpleNotificationService-x.pem",
		"https://sns.eu-central-2.amazonaws.com:443/SimpleNotificationService-x.pem",
	} {
		t.Run(u, func(t *testing.T) {
			_, err := checkCertURL(u)
			require.NoError(t, err)
		})
	}
}

func TestVerifySignatureVersion(t *testing.T) {
	for _, version := range []string{"3", "0", "SHA256", " 1"} {
		t.Run(version, func(t *testing.T) {
			f := newFakeSNS(t)
			v := f.verifier(t, newClock(testNow), Options{})
			m := parse(t, f.Sign(t, notification()))
			m.SignatureVersion = version
			requireKind(t, v.Verify(context.Background(), m), ErrRejected, "SignatureVersion: "+`"`+version+`" is not supported: want 1 (SHA1withRSA) or 2 (SHA256withRSA)`)
			require.Zero(t, f.TotalRequests(), "requests made")
		})
	}
}

func TestVerifyTimestamp(t *testing.T) {
	tests := []struct {
		name      string
		published time.Time
		want      string // empty: accepted
	}{
		{"a minute old", testNow.Add(-time.Minute), ""},
		{"just under the limit", testNow.Add(-59 * time.Minute), ""},
		{"a little ahead (clock drift)", testNow.Add(2 * time.Minute), ""},
		{"stale", testNow.Add(-61 * time.Minute), "Timestamp: 2024-05-01T10:59:00.000Z is more than 1h0m0s ago"},
		{"far in the future", testNow.Add(10 * time.Minute), "Timestamp: 2024-05-01T12:10:00.000Z is in the future"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeSNS(t)
			v := f.verifier(t, newClock(testNow), Options{})
			n := notification()
			n["Timestamp"] = snsTime(tt.published)
			err := v.Verify(context.Background(), parse(t, f.Sign(t, n)))
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			requireKind(t, err, ErrRejected, tt.want)
			require.Zero(t, f.TotalRequests(), "a stale message must be refused before fetching")
		})
	}

	t.Run("MaxAge is configurable", func(t *testing.T) {
		f := newFakeSNS(t)
		v := f.verifier(t, newClock(testNow), Options{MaxAge: 5 * time.Minute})
		n := notification()
		n["Timestamp"] = snsTime(testNow.Add(-6 * time.Minute))
		requireKind(t, v.Verify(context.Background(), parse(t, f.Sign(t, n))), ErrRejected, "Timestamp: 2024-05-01T11:54:00.000Z is more than 5m0s ago")
	})
}

func TestCertCache(t *testing.T) {
	f := newFakeSNS(t)
	clk := newClock(testNow)
	v := f.verifier(t, clk, Options{})
	for i, id := range []string{"first", "second", "third"} {
		n := notification()
		n["MessageId"] = id
		require.NoError(t, v.Verify(context.Background(), parse(t, f.Sign(t, n))), "message %d", i)
	}
	require.Equal(t, 1, f.Requests(goodCertPath), "the certificate is fetched once")

	t.Run("an expired entry is fetched again and refused", func(t *testing.T) {
		clk.set(testNow.Add(31 * 24 * time.Hour)) // past the certificate's NotAfter
		n := notification()
		n["Timestamp"] = snsTime(clk.Now().Add(-time.Minute))
		requireKind(t, v.Verify(context.Background(), parse(t, f.Sign(t, n))), ErrRejected,
			"SigningCertURL: certificate is valid from 2024-04-30T12:00:00Z to 2024-05-31T12:00:00Z, not now (2024-06-01T12:00:00Z)")
		require.Equal(t, 2, f.Requests(goodCertPath))
	})
}

func TestCertCacheIsBounded(t *testing.T) {
	f := newFakeSNS(t)
	v := f.verifier(t, newClock(testNow), Options{CacheSize: 2})
	verify := func(path string) {
		t.Helper()
		n := notification()
		n["SigningCertURL"] = "https://" + snsHost + path
		require.NoError(t, v.Verify(context.Background(), parse(t, f.Sign(t, n))))
	}
	verify("/a.pem")
	verify("/b-short.pem") // expires in a day, the others in a month
	verify("/a.pem")
	require.Equal(t, 1, f.Requests("/a.pem"), "a is cached")
	verify("/c.pem") // the cache is full: the entry expiring soonest goes
	verify("/a.pem")
	verify("/c.pem")
	require.Equal(t, 1, f.Requests("/a.pem"), "a was kept")
	require.Equal(t, 1, f.Requests("/c.pem"), "c was kept")
	verify("/b-short.pem")
	require.Equal(t, 2, f.Requests("/b-short.pem"), "b was evicted and fetched again")
	v.mu.Lock()
	require.Len(t, v.certs, 2)
	v.mu.Unlock()
}

func TestVerifyCertificateProblems(t *testing.T) {
	tests := []struct {
		path string
		kind error
		want string
	}{
		{"/SimpleNotificationService-expired.pem", ErrRejected, "SigningCertURL: certificate is valid from 2024-04-01T12:00:00Z to 2024-05-01T11:00:00Z, not now (2024-05-01T12:00:00Z)"},
		{"/SimpleNotificationService-ecdsa.pem", ErrRejected, "SigningCertURL: certificate key is *ecdsa.PublicKey, not RSA (SNS signs with RSA)"},
		{"/SimpleNotificationService-missing.pem", ErrRejected, "SigningCertURL: GET https://sns.us-east-1.amazonaws.com/SimpleNotificationService-missing.pem answered 404 Not Found"},
		{"/SimpleNotificationService-notpem.pem", ErrRejected, "SigningCertURL: https://sns.us-east-1.amazonaws.com/SimpleNotificationService-notpem.pem did not return a PEM certificate"},
		{"/SimpleNotificationService-redirect.pem", ErrRejected, "SigningCertURL: GET https://sns.us-east-1.amazonaws.com/SimpleNotificationService-redirect.pem answered 302 Found"},
		{"/SimpleNotificationService-unavailable.pem", ErrUnavailable, "SigningCertURL: GET https://sns.us-east-1.amazonaws.com/SimpleNotificationService-unavailable.pem answered 503 Service Unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			f := newFakeSNS(t)
			v := f.verifier(t, newClock(testNow), Options{})
			n := notification()
			n["SigningCertURL"] = "https://" + snsHost + tt.path
			requireKind(t, v.Verify(context.Background(), parse(t, f.Sign(t, n))), tt.kind, tt.want)
			require.Equal(t, 1, f.TotalRequests(), "one request, and no redirect followed")
			v.mu.Lock()
			require.Empty(t, v.certs, "nothing cached")
			v.mu.Unlock()
		})
	}

	t.Run("unreachable host is unavailable", func(t *testing.T) {
		f := newFakeSNS(t)
		v := f.verifier(t, newClock(testNow), Options{})
		n := notification()
		n["SigningCertURL"] = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-good.pem"
		requireKind(t, v.Verify(context.Background(), parse(t, f.Sign(t, n))), ErrUnavailable,
			"SigningCertURL: GET https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-good.pem: ")
	})

	t.Run("oversized certificate", func(t *testing.T) {
		f := newFakeSNS(t)
		v := f.verifier(t, newClock(testNow), Options{MaxCertBytes: 100})
		requireKind(t, v.Verify(context.Background(), parse(t, f.Sign(t, notification()))), ErrRejected,
			"SigningCertURL: GET "+goodCertURL+" returned more than 100 bytes")
	})

	t.Run("fetch timeout", func(t *testing.T) {
		f := newFakeSNS(t)
		v := f.verifier(t, newClock(testNow), Options{})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		requireKind(t, v.Verify(ctx, parse(t, f.Sign(t, notification()))), ErrUnavailable, "SigningCertURL: GET "+goodCertURL)
	})
}

func TestConfirm(t *testing.T) {
	f := newFakeSNS(t)
	v := f.verifier(t, newClock(testNow), Options{})
	m := parse(t, f.Sign(t, confirmation()))
	require.NoError(t, v.Verify(context.Background(), m))
	require.NoError(t, v.Confirm(context.Background(), m))
	require.Equal(t, 1, f.Requests("/"), "the SubscribeURL is visited once")
	require.Equal(t, 1, f.Confirmations(), "the SubscribeURL is visited once")
}

func TestConfirmRefuses(t *testing.T) {
	token := confirmation()["Token"]
	subscribeURL := func(host, query string) string { return "https://" + host + "/?" + query }
	good := "Action=ConfirmSubscription&TopicArn=" + testTopic + "&Token=" + token
	tests := []struct {
		name   string
		fields map[string]string
		verify bool
		want   string
	}{
		{"not verified", confirmation(), false, "message not verified: call Verify before Confirm"},
		{"a notification", notification(), true, `Type: "Notification" is not a SubscriptionConfirmation`},
		{"an unsubscribe confirmation", func() map[string]string { c := confirmation(); c["Type"] = TypeUnsubscribeConfirmation; return c }(), true,
			`Type: "UnsubscribeConfirmation" is not a SubscriptionConfirmation`},
		{"another region than the topic's", func() map[string]string {
			c := confirmation()
			c["SubscribeURL"] = subscribeURL("sns.us-west-2.amazonaws.com", good)
			return c
		}(), true, "SubscribeURL: host region us-west-2 is not the topic's region us-east-1"},
		{"not an SNS host", func() map[string]string {
			c := confirmation()
			c["SubscribeURL"] = subscribeURL("sns.us-east-1.amazonaws.com.evil.com", good)
			return c
		}(), true, `SubscribeURL: host "sns.us-east-1.amazonaws.com.evil.com" is not Amazon SNS's`},
		{"http", func() map[string]string {
			c := confirmation()
			c["SubscribeURL"] = "http://" + snsHost + "/?" + good
			return c
		}(), true, `SubscribeURL: scheme "http" is not https`},
		{"user info", func() map[string]string {
			c := confirmation()
			c["SubscribeURL"] = subscribeURL("u:p@"+snsHost, good)
			return c
		}(), true, "SubscribeURL: user information in the URL is not allowed"},
		{"another action", func() map[string]string {
			c := confirmation()
			c["SubscribeURL"] = subscribeURL(snsHost, "Action=Unsubscribe&TopicArn="+testTopic+"&Token="+token)
			return c
		}(), true, `SubscribeURL: Action "Unsubscribe" is not ConfirmSubscription`},
		{"another topic", func() map[string]string {
			c := confirmation()
			c["SubscribeURL"] = subscribeURL(snsHost, "Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-east-1:999999999999:other&Token="+token)
			return c
		}(), true, `SubscribeURL: TopicArn "arn:aws:sns:us-east-1:999999999999:other" is not the message's topic`},
		{"another path", func() map[string]string {
			c := confirmation()
			c["SubscribeURL"] = "https://" + snsHost + "/x/?" + good
			return c
		}(), true, `SubscribeURL: path "/x/" is not SNS's API root /`},
		{"no token", func() map[string]string {
			c := confirmation()
			c["SubscribeURL"] = subscribeURL(snsHost, "Action=ConfirmSubscription&TopicArn="+testTopic)
			return c
		}(), true, "SubscribeURL: no Token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeSNS(t)
			v := f.verifier(t, newClock(testNow), Options{})
			m := parse(t, f.Sign(t, tt.fields))
			if tt.verify {
				require.NoError(t, v.Verify(context.Background(), m))
			}
			requireKind(t, v.Confirm(context.Background(), m), ErrRejected, tt.want)
			require.Zero(t, f.Requests("/"), "nothing confirmed")
			require.Zero(t, f.Confirmations(), "nothing confirmed")
		})
	}
}

func TestAllowedTopics(t *testing.T) {
	topics, err := NewAllowedTopics(testTopic, "arn:aws-cn:sns:cn-north-1:123456789012:alarms", "arn:aws:sns:us-east-1:123456789012:orders.fifo")
	require.NoError(t, err)
	require.NoError(t, topics.Check(testTopic))
	require.NoError(t, topics.Check("arn:aws-cn:sns:cn-north-1:123456789012:alarms"))
	require.Equal(t, []string{"arn:aws-cn:sns:cn-north-1:123456789012:alarms", "arn:aws:sns:us-east-1:123456789012:ams-alarms", "arn:aws:sns:us-east-1:123456789012:orders.fifo"}, topics.List())

	for _, refused := range []string{
		"arn:aws:sns:us-east-1:999999999999:ams-alarms", // same name, another account
		"arn:aws:sns:us-east-1:123456789012:AMS-ALARMS",
		"arn:aws:sns:us-east-1:123456789012:ams-alarms-2",
		"",
	} {
		requireKind(t, topics.Check(refused), ErrRejected, `TopicArn: topic "`+refused+`" is not allowed for this integration`)
	}

	t.Run("a nil list refuses everything", func(t *testing.T) {
		var none *AllowedTopics
		requireKind(t, none.Check(testTopic), ErrRejected, "TopicArn: topic")
	})

	t.Run("configuration errors", func(t *testing.T) {
		_, err := NewAllowedTopics()
		require.EqualError(t, err, "no SNS topics allowed: list the topic ARNs (arn:aws:sns:<region>:<account>:<topic>) whose messages this integration accepts")
		_, err = NewAllowedTopics(testTopic, testTopic+":c9135db0-26c4-47ec-8998-413945fb5a96")
		require.ErrorContains(t, err, "topic 1: ")
		require.ErrorContains(t, err, "is not an SNS topic ARN")
		_, err = NewAllowedTopics("arn:aws:sqs:us-east-1:123456789012:queue")
		require.ErrorContains(t, err, "topic 0: ")
	})
}

func TestNilMessage(t *testing.T) {
	v, err := New(Options{})
	require.NoError(t, err)
	requireKind(t, v.Verify(context.Background(), nil), ErrInvalid, "no message: call Parse first")
	requireKind(t, v.Confirm(context.Background(), nil), ErrInvalid, "no message: call Parse first")
}

func TestNewOptions(t *testing.T) {
	for _, tt := range []struct {
		o    Options
		want string
	}{
		{Options{MaxAge: -time.Second}, "snsverify: MaxAge -1s is negative…"},
		{Options{FetchTimeout: -time.Second}, "snsverify: FetchTimeout -1s is negative…"},
		{Options{MaxCertBytes: -1}, "snsverify: MaxCertBytes -1 is negative…"},
		{Options{CacheSize: -1}, "snsverify: CacheSize -1 is negative…"},
	} {
		_, err := New(tt.o)
		require.Error(t, err)
		require.True(t, strings.HasPrefix(err.Error(), strings.TrimSuffix(tt.want, "…")), err.Error())
	}
	v, err := New(Options{})
	require.NoError(t, err)
	require.Equal(t, DefaultMaxAge, v.maxAge)
	require.Equal(t, DefaultFetchTimeout, v.fetchTimeout)
	require.Equal(t, int64(DefaultMaxCertBytes), v.maxCertBytes)
	require.Equal(t, DefaultCacheSize, v.cacheSize)
	require.NotNil(t, v.client.CheckRedirect, "redirects are never followed")
}

package pagerduty

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"unicode"

	"github.com/PagerDuty/go-pagerduty/webhookv3"
	"github.com/stretchr/testify/require"

	"github.com/amsproject/ams/services/ingest/internal/source/sourcetest"
)

// goPagerDutySecret and goPagerDutySignature sign goPagerDutyBody in
// go-pagerduty v1.8.0's webhookv3 tests: a vector computed by someone else.
const (
	goPagerDutySecret    = "lDQHScfUeXUKaQRNF+8XIiDKZ7XX3itBAYzwU0TARw8lJqRnkKl2iB1anSb0Z+IK" // #nosec G101 -- public test vector
	goPagerDutySignature = "v1=0c0b9495b893a39e70d1fea2fe11fbe0a825f88b9f67846f6cc07dd2bc5476cd"
)

func TestVerifySignature(t *testing.T) {
	body := []byte(goPagerDutyBody)
	other := "a-second-secret"
	otherSig := Sign(body, other)
	tests := []struct {
		name    string
		secrets []string
		body    []byte
		header  string
		want    bool
	}{
		{"go-pagerduty's vector", []string{goPagerDutySecret}, body, goPagerDutySignature, true},
		{"upper-case hex", []string{goPagerDutySecret}, body, "v1=" + strings.ToUpper(strings.TrimPrefix(goPagerDutySignature, "v1=")), true},
		{"go-pagerduty's mismatch", []string{goPagerDutySecret}, body, "v1=7020c8a7ec668a9b7012bc3dd82e483394b038f4230acc6785efbf2a7d8bcaf5", false},
		{"body changed by one byte", []string{goPagerDutySecret}, bytes.Replace(body, []byte(`"number":2`), []byte(`"number":3`), 1), goPagerDutySignature, false},
		{"re-encoded body does not match", []string{goPagerDutySecret}, append([]byte(" "), body...), goPagerDutySignature, false},
		{"PagerDuty rotating: two signatures, we know the new secret", []string{other}, body, goPagerDutySignature + "," + otherSig, true},
		{"PagerDuty rotating: two signatures, we know the old secret", []string{goPagerDutySecret}, body, goPagerDutySignature + "," + otherSig, true},
		{"we rotate: two secrets configured, PagerDuty signs with one", []string{"old-one", goPagerDutySecret}, body, goPagerDutySignature, true},
		{"spaces after commas are tolerated", []string{other}, body, goPagerDutySignature + ", " + otherSig, true},
		{"other versions are ignored", []string{goPagerDutySecret}, body, "v2=" + strings.TrimPrefix(goPagerDutySignature, "v1="), false},
		{"unknown version next to a valid v1", []string{goPagerDutySecret}, body, "v2=zz," + goPagerDutySignature, true},
		{"signature without its version", []string{goPagerDutySecret}, body, strings.TrimPrefix(goPagerDutySignature, "v1="), false},
		{"truncated signature", []string{goPagerDutySecret}, body, goPagerDutySignature[:40], false},
		{"not hex", []string{goPagerDutySecret}, body, "v1=" + strings.Repeat("zz", 32), false},
		{"empty header", []string{goPagerDutySecret}, body, "", false},
		{"only commas", []string{goPagerDutySecret}, body, ",,,", false},
		{"no secrets configured", nil, body, goPagerDutySignature, false},
		{"an empty secret is no secret", []string{""}, body, Sign(body, ""), false},
		{"wrong secret", []string{"guess"}, body, goPagerDutySignature, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, VerifySignature(tt.secrets, tt.body, tt.header))
		})
	}
}

func TestSignMatchesGoPagerDuty(t *testing.T) {
	require.Equal(t, goPagerDutySignature, Sign([]byte(goPagerDutyBody), goPagerDutySecret))
	require.Equal(t, goPagerDutySignature+","+Sign([]byte(goPagerDutyBody), "b"), Sign([]byte(goPagerDutyBody), goPagerDutySecret, "b"))
}

// The samples, signed as PagerDuty would, verify and parse: the order the
// HTTP layer uses.
func TestSignedSamplesVerify(t *testing.T) {
	for _, file := range sourcetest.Samples(t, "pagerduty") {
		body := sourcetest.ReadSample(t, strings.TrimPrefix(file, sourcetest.Testdata()+"/"))
		require.True(t, VerifySignature([]string{"s3cret"}, body, Sign(body, "s3cret")), file)
		require.False(t, VerifySignature([]string{"s3cret"}, body, Sign(body, "other")), file)
	}
}

// FuzzVerifySignature checks VerifySignature against go-pagerduty's own
// webhookv3.VerifySignature wherever both define the answer, and that a
// signature made with the secret always verifies, whatever else the header
// holds.
func FuzzVerifySignature(f *testing.F) {
	f.Add(goPagerDutySecret, []byte(goPagerDutyBody), goPagerDutySignature)
	f.Add(goPagerDutySecret, []byte(goPagerDutyBody), "v1=7020c8a7ec668a9b7012bc3dd82e483394b038f4230acc6785efbf2a7d8bcaf5")
	f.Add("k", []byte("{}"), "v1=,v2=00")
	f.Fuzz(func(t *testing.T, secret string, body []byte, header string) {
		got := VerifySignature([]string{secret}, body, header)
		if secret != "" && len(body) > 0 && header != "" && !strings.ContainsFunc(header, unicode.IsSpace) {
			req, err := http.NewRequest(http.MethodPost, "http://ams.test/", bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set(HeaderSignature, header)
			if want := webhookv3.VerifySignature(req, secret) == nil; got != want {
				t.Fatalf("VerifySignature = %v, webhookv3 says %v", got, want)
			}
		}
		if secret == "" && got {
			t.Fatal("verified with an empty secret")
		}
		if secret != "" {
			signed := header + "," + Sign(body, secret)
			if !VerifySignature([]string{"other", secret}, body, signed) {
				t.Fatalf("a valid signature after %q was not accepted", header)
			}
		}
	})
}

// Package sourcetest is the test kit every source parser uses: golden files
// for the vendor's documented samples, the fuzz harness with the invariants
// every parser must keep, and small helpers. Samples live in the service's
// testdata/<source>/ folder (the app tests send the same files over HTTP);
// goldens in testdata/golden/<source>_<sample>.json.
package sourcetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/ingest/internal/source"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the parsers' current output")

// Now is the injected clock for golden output.
var Now = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// Testdata is the ingest service's testdata folder, found from this file so
// that any package's tests can use it.
func Testdata() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "testdata")
}

// SeqIDs returns an id function giving 00000000-0000-7000-8000-000000000001, ...
func SeqIDs() func() string {
	n := 0
	return func() string {
		n++
		return fmt.Sprintf("00000000-0000-7000-8000-%012d", n)
	}
}

// Envelope is the envelope goldens are made with: tenant acme, integration
// acme-<src>, the fixed clock and sequential ids.
func Envelope(src string) source.Envelope {
	return source.Envelope{Tenant: "acme", Integration: "acme-" + src, Source: src, ReceivedAt: Now, NewID: SeqIDs()}
}

// ReadSample reads testdata/<name>.
func ReadSample(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(Testdata(), name))
	require.NoError(tb, err)
	return b
}

// Samples lists the sample payloads testdata/<src>/*.json.
func Samples(tb testing.TB, src string) []string {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(Testdata(), src, "*.json"))
	require.NoError(tb, err)
	require.NotEmpty(tb, files, "no sample payloads under testdata/%s", src)
	return files
}

// Golden parses every sample of src with p and compares the normalised
// alerts with testdata/golden/<src>_<sample>.json (go test -update writes
// them). header, if not nil, gives the request headers for a sample name
// (without .json); the raw payload is checked here and left out of the file.
func Golden(t *testing.T, p source.Parser, src string, header func(sample string) http.Header) {
	for _, file := range Samples(t, src) {
		name := strings.TrimSuffix(filepath.Base(file), ".json")
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(file)
			require.NoError(t, err)
			var h http.Header
			if header != nil {
				h = header(name)
			}
			alerts, err := source.Normalize(p, body, h, Envelope(src))
			require.NoError(t, err)
			for _, a := range alerts {
				require.Equal(t, body[:min(len(body), source.MaxRawPayload)], a.GetRawPayload())
				a.RawPayload = nil
			}
			got := MarshalGolden(t, alerts)
			path := filepath.Join(Testdata(), "golden", src+"_"+name+".json")
			if *update {
				require.NoError(t, os.WriteFile(path, got, 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run go test -update to create it")
			require.JSONEq(t, string(want), string(got))
		})
	}
}

// MarshalGolden renders alerts as an indented JSON array of protojson
// objects. protojson deliberately varies its whitespace, so the output is
// compacted and re-indented to make the file stable across builds.
func MarshalGolden(tb testing.TB, alerts []*amsv1.Alert) []byte {
	tb.Helper()
	var arr bytes.Buffer
	arr.WriteByte('[')
	for i, a := range alerts {
		if i > 0 {
			arr.WriteByte(',')
		}
		b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(a)
		require.NoError(tb, err)
		arr.Write(b)
	}
	arr.WriteByte(']')
	var compact, out bytes.Buffer
	require.NoError(tb, json.Compact(&compact, arr.Bytes()))
	require.NoError(tb, json.Indent(&out, compact.Bytes(), "", "  "))
	out.WriteByte('\n')
	return out.Bytes()
}

// Fuzz feeds arbitrary bodies to p, seeded with the samples of src (and
// testdata/fuzz/<FuzzName> of the calling package, which go test reads
// itself). Whatever the input, a parser must not panic, must reject with a
// *source.Error or set it aside with a *source.Ignored, and everything it
// accepts must be an alert the rest of AMS can rely on. header, if not nil,
// is sent with every input.
func Fuzz(f *testing.F, p source.Parser, src string, header http.Header) {
	for _, file := range Samples(f, src) {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		alerts, err := source.Normalize(p, body, header, Envelope(src))
		if err != nil {
			var se *source.Error
			var ig *source.Ignored
			if !errors.As(err, &se) && !errors.As(err, &ig) {
				t.Fatalf("error %T is neither a *source.Error nor a *source.Ignored: %v", err, err)
			}
			if alerts != nil {
				t.Fatalf("returned %d alerts with an error", len(alerts))
			}
			return
		}
		CheckAlerts(t, alerts)
	})
}

// CheckAlerts asserts what every accepted alert must have.
func CheckAlerts(t *testing.T, alerts []*amsv1.Alert) {
	t.Helper()
	if len(alerts) == 0 {
		t.Fatal("accepted a body with no alerts")
	}
	for i, a := range alerts {
		if a.GetFingerprint() == "" {
			t.Errorf("alert %d: empty fingerprint", i)
		}
		if a.GetStatus() == amsv1.AlertStatus_ALERT_STATUS_UNSPECIFIED {
			t.Errorf("alert %d: status unspecified", i)
		}
		if a.GetSeverity() == amsv1.Severity_SEVERITY_UNSPECIFIED {
			t.Errorf("alert %d: severity unspecified", i)
		}
		if a.GetSummary() == "" {
			t.Errorf("alert %d: empty summary", i)
		}
		if len(a.GetFingerprint()) > source.MaxFingerprint {
			t.Errorf("alert %d: fingerprint of %d bytes", i, len(a.GetFingerprint()))
		}
		// Publishing marshals the alert: it must encode (valid UTF-8 and all).
		if _, err := proto.Marshal(a); err != nil {
			t.Errorf("alert %d does not marshal: %v", i, err)
		}
	}
}

// ParseOne parses body with p at Now and requires exactly one alert.
func ParseOne(tb testing.TB, p source.Parser, body string) *amsv1.Alert {
	tb.Helper()
	alerts, err := p.Parse(source.Request{Body: []byte(body), Now: Now})
	require.NoError(tb, err)
	require.Len(tb, alerts, 1)
	return alerts[0]
}

// RequireError parses body with p and requires it to be rejected with a
// *source.Error whose message is want, or starts with want when want ends
// in "…".
func RequireError(t *testing.T, p source.Parser, body, want string) {
	t.Helper()
	alerts, err := p.Parse(source.Request{Body: []byte(body), Now: Now})
	require.Error(t, err)
	require.Nil(t, alerts)
	var se *source.Error
	require.True(t, errors.As(err, &se), "error %T is not a *source.Error", err)
	if prefix, ok := strings.CutSuffix(want, "…"); ok {
		require.True(t, strings.HasPrefix(err.Error(), prefix), "error %q does not start with %q", err, prefix)
		return
	}
	require.Equal(t, want, err.Error())
}

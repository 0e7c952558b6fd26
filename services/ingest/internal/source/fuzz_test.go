package source

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
)

// The fuzz targets feed arbitrary bodies to each parser. Whatever the input,
// a parser must not panic, must reject with a *source.Error, and everything it
// accepts must be an alert the rest of AMS can rely on. Seeds: the samples
// under ../../testdata plus testdata/fuzz/<FuzzName>.

func FuzzAlertmanager(f *testing.F) { fuzzParser(f, Alertmanager) }

func FuzzGeneric(f *testing.F) { fuzzParser(f, Generic) }

func fuzzParser(f *testing.F, src string) {
	files, err := filepath.Glob(filepath.Join(samples, src, "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no sample payloads for %s: %v", src, err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	p, _ := ForName(src)
	f.Fuzz(func(t *testing.T, body []byte) {
		alerts, err := Normalize(p, body, testEnvelope(src))
		if err != nil {
			var se *Error
			if !errors.As(err, &se) {
				t.Fatalf("error %T is not a *source.Error: %v", err, err)
			}
			return
		}
		if len(alerts) == 0 {
			t.Fatal("accepted a body with no alerts")
		}
		for i, a := range alerts {
			if a.GetFingerprint() == "" {
				t.Errorf("alert %d: empty fingerprint", i)
			}
			if s := a.GetStatus(); s != amsv1.AlertStatus_ALERT_STATUS_FIRING && s != amsv1.AlertStatus_ALERT_STATUS_RESOLVED {
				t.Errorf("alert %d: status %v", i, s)
			}
			if a.GetSeverity() == amsv1.Severity_SEVERITY_UNSPECIFIED {
				t.Errorf("alert %d: severity unspecified", i)
			}
			if a.GetSummary() == "" {
				t.Errorf("alert %d: empty summary", i)
			}
			// Publishing marshals the alert: it must encode (valid UTF-8 and all).
			if _, err := proto.Marshal(a); err != nil {
				t.Errorf("alert %d does not marshal: %v", i, err)
			}
		}
	})
}

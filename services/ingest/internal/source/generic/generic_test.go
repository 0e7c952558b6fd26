package generic

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/ingest/internal/source"
	"github.com/amsproject/ams/services/ingest/internal/source/sourcetest"
)

func TestGolden(t *testing.T) { sourcetest.Golden(t, Parser{}, "generic", nil) }

func FuzzGeneric(f *testing.F) { sourcetest.Fuzz(f, Parser{}, "generic", nil) }

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		wantErr string // the whole message, or its start when ending in "…"
	}{
		{"null body", `null`, "body: expected an object, got null"},
		{"body is a string", `"hello"`, "body: expected an object, got string"},
		{"missing summary", `{"severity":"info"}`, "summary: missing: give a one-line summary (or title)"},
		{"blank title", `{"title":"  "}`, "summary: missing…"},
		{"unknown field", `{"sumary":"x"}`, `body: unknown field "sumary"`},
		{"bad severity", `{"summary":"x","severity":"high"}`, `severity: "high" is not critical, error, warning or info`},
		{"resource field type", `{"summary":"x","resource":{"host":1}}`, "resource.host: expected a string, got number"},
		{"relative link", `{"summary":"x","links":[{"url":"https://a.example/x"},{"url":"/d/x"}]}`, `links[1].url: "/d/x" is not an absolute URL…`},
		{"link without url", `{"summary":"x","links":[{"title":"t"}]}`, "links[0].url: missing"},
		{"ends before starts", `{"summary":"x","starts_at":"2024-05-01T10:00:00Z","ends_at":"2024-05-01T09:00:00Z"}`, "ends_at: 2024-05-01T09:00:00Z is before starts_at 2024-05-01T10:00:00Z"},
		{"bad starts_at", `{"summary":"x","starts_at":"1714557600"}`, `starts_at: "1714557600" is not an RFC 3339 time…`},
		{"batch bad status", `{"alerts":[{"summary":"a"},{"summary":"b"},{"summary":"c","status":"fring"}]}`, `alerts[2].status: "fring" is not firing or resolved`},
		{"batch unknown field", `{"alerts":[{"summary":"a","sevrity":"info"}]}`, `alerts[0]: unknown field "sevrity"`},
		{"batch type error", `{"alerts":[{"summary":"a"},{"summary":["b"]}]}`, "alerts[1].summary: expected a string, got array"},
		{"batch empty", `{"alerts":[]}`, "alerts: empty: send at least one alert"},
		{"batch null", `{"alerts":null}`, "alerts: empty: send at least one alert"},
		{"batch with alert fields", `{"alerts":[{"summary":"a"}],"summary":"b"}`, `body: unknown field "summary": a batch has only "alerts"…`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { sourcetest.RequireError(t, Parser{}, tt.body, tt.wantErr) })
	}
}

func TestGenericFields(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		check func(t *testing.T, a *amsv1.Alert)
	}{
		{"defaults", `{"summary":"S"}`, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, amsv1.AlertStatus_ALERT_STATUS_FIRING, a.GetStatus())
			require.Equal(t, amsv1.Severity_SEVERITY_WARNING, a.GetSeverity())
			require.Equal(t, source.HashParts("S", ""), a.GetFingerprint())
			require.Nil(t, a.GetStartsAt())
		}},
		{"title is an alias of summary", `{"title":"T"}`, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "T", a.GetSummary())
		}},
		{"summary wins over title", `{"summary":"S","title":"T"}`, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "S", a.GetSummary())
		}},
		{"status and severity are case-insensitive", `{"summary":"S","status":"Resolved","severity":"CRITICAL"}`, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, amsv1.AlertStatus_ALERT_STATUS_RESOLVED, a.GetStatus())
			require.Equal(t, amsv1.Severity_SEVERITY_CRITICAL, a.GetSeverity())
		}},
		{"fingerprint from summary and host without labels", `{"summary":"S","resource":{"host":"h1"}}`, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, source.HashParts("S", "h1"), a.GetFingerprint())
			require.NotEqual(t, source.HashParts("S", "h2"), a.GetFingerprint())
		}},
		{"fingerprint from labels ignores summary", `{"summary":"changing text 42","labels":{"check":"disk"},"resource":{"host":"h1"}}`, func(t *testing.T, a *amsv1.Alert) {
			same := sourcetest.ParseOne(t, Parser{}, `{"summary":"other text 43","labels":{"check":"disk"},"resource":{"host":"h1"}}`)
			require.Equal(t, same.GetFingerprint(), a.GetFingerprint())
			otherHost := sourcetest.ParseOne(t, Parser{}, `{"summary":"changing text 42","labels":{"check":"disk"},"resource":{"host":"h2"}}`)
			require.NotEqual(t, otherHost.GetFingerprint(), a.GetFingerprint(), "same labels on another host is another condition")
		}},
		{"explicit fingerprint is kept", `{"summary":"S","fingerprint":" fp-1 ","labels":{"a":"b"}}`, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "fp-1", a.GetFingerprint())
		}},
		{"ends_at in the past resolves", `{"summary":"S","ends_at":"2024-05-01T11:00:00Z"}`, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, amsv1.AlertStatus_ALERT_STATUS_RESOLVED, a.GetStatus())
			require.Equal(t, time.Date(2024, 5, 1, 11, 0, 0, 0, time.UTC), a.GetEndsAt().AsTime())
		}},
		{"times are normalised to UTC", `{"summary":"S","starts_at":"2024-05-01T20:00:00+09:00"}`, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, time.Date(2024, 5, 1, 11, 0, 0, 0, time.UTC), a.GetStartsAt().AsTime())
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, sourcetest.ParseOne(t, Parser{}, tt.body))
		})
	}
}

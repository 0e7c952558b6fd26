package source

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the parsers' current output")

// samples is the service's shared testdata: payloads are also sent over
// HTTP by the app tests.
var samples = filepath.Join("..", "..", "testdata")

// testNow is the injected clock for golden output.
var testNow = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// seqIDs returns an id function giving 00000000-0000-7000-8000-000000000001, ...
func seqIDs() func() string {
	n := 0
	return func() string {
		n++
		return fmt.Sprintf("00000000-0000-7000-8000-%012d", n)
	}
}

func testEnvelope(src string) Envelope {
	return Envelope{Tenant: "acme", Integration: "acme-" + src, Source: src, ReceivedAt: testNow, NewID: seqIDs()}
}

func readSample(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(samples, name))
	require.NoError(tb, err)
	return b
}

func TestGolden(t *testing.T) {
	tests := []struct {
		name   string
		source string
		sample string
	}{
		{"alertmanager_firing", Alertmanager, "alertmanager/firing.json"},
		{"alertmanager_resolved", Alertmanager, "alertmanager/resolved.json"},
		{"generic_single", Generic, "generic/single.json"},
		{"generic_batch", Generic, "generic/batch.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := readSample(t, tt.sample)
			p, ok := ForName(tt.source)
			require.True(t, ok)
			alerts, err := Normalize(p, body, testEnvelope(tt.source))
			require.NoError(t, err)
			for _, a := range alerts {
				// Kept out of the golden file to keep it readable; checked here.
				require.Equal(t, body, a.GetRawPayload())
				a.RawPayload = nil
			}
			got := marshalGolden(t, alerts)
			path := filepath.Join(samples, "golden", tt.name+".json")
			if *update {
				require.NoError(t, os.WriteFile(path, got, 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run go test -update to create it")
			require.JSONEq(t, string(want), string(got))
		})
	}
}

// marshalGolden renders alerts as an indented JSON array of protojson
// objects. protojson deliberately varies its whitespace, so the output is
// compacted and re-indented to make the file stable across builds.
func marshalGolden(tb testing.TB, alerts []*amsv1.Alert) []byte {
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

func TestRawPayloadIsCapped(t *testing.T) {
	// A batch as large as the cap plus some: a valid payload padded with an
	// annotation so that it still parses.
	pad := bytes.Repeat([]byte("x"), MaxRawPayload)
	body := []byte(fmt.Sprintf(`{"summary":"big","annotations":{"pad":%q}}`, pad))
	alerts, err := Normalize(genericParser{}, body, testEnvelope(Generic))
	require.NoError(t, err)
	require.Len(t, alerts, 1)
	require.Equal(t, body[:MaxRawPayload], alerts[0].GetRawPayload())
}

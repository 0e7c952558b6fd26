package source_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/amsproject/ams/services/ingest/internal/source"
	"github.com/amsproject/ams/services/ingest/internal/source/generic"
	"github.com/amsproject/ams/services/ingest/internal/source/sourcetest"
)

func TestHostFromInstance(t *testing.T) {
	tests := map[string]string{
		"db1:9100":                       "db1",
		"10.0.0.5:9100":                  "10.0.0.5",
		"[2001:db8::1]:9100":             "2001:db8::1",
		"https://www.example.com/health": "www.example.com",
		"http://www.example.com:8080":    "www.example.com",
		"db1":                            "db1",
		"db1:notaport":                   "db1:notaport",
		"":                               "",
	}
	for in, want := range tests {
		t.Run(in, func(t *testing.T) {
			require.Equal(t, want, source.HostFromInstance(in))
		})
	}
}

func TestRawPayloadIsCapped(t *testing.T) {
	// A batch as large as the cap plus some: a valid payload padded with an
	// annotation so that it still parses.
	pad := bytes.Repeat([]byte("x"), source.MaxRawPayload)
	body := []byte(fmt.Sprintf(`{"summary":"big","annotations":{"pad":%q}}`, pad))
	alerts, err := source.Normalize(generic.Parser{}, body, nil, sourcetest.Envelope("generic"))
	require.NoError(t, err)
	require.Len(t, alerts, 1)
	require.Equal(t, body[:source.MaxRawPayload], alerts[0].GetRawPayload())
}

package app_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
)

// TestRestartMidStreamLosesNothing accepts a burst of alerts into the
// all-in-one on its embedded file store, stops it while the pipeline is still
// working on them, starts it again on the same data, and expects exactly one
// incident and one ticket (with its automation entry) per accepted alert.
func TestRestartMidStreamLosesNothing(t *testing.T) {
	const n = 60
	cfg := testConfig(t, "", t.TempDir())
	first := start(t, cfg)
	for i := range n {
		body := fmt.Sprintf(`{"summary": "disk almost full on db-%d", "severity": "error", "resource": {"host": "db-%d"}, "labels": {"mount": "/var", "host": "db-%d"}}`, i, i, i)
		code, resp := post(t, first.httpAddr, "demo-generic", genericToken, body)
		require.Equal(t, http.StatusAccepted, code, resp)
	}
	first.stop()

	second := start(t, cfg)
	adm := admin(t, second.grpcAddr)
	ctx := context.Background()
	eventually(t, 60*time.Second, func() error {
		resp, err := adm.ListTickets(ctx, &amsv1.ListTicketsRequest{Limit: 1000})
		if err != nil {
			return err
		}
		withAction := 0
		for _, tk := range resp.GetTickets() {
			if len(tk.GetActionIds()) == 1 {
				withAction++
			}
		}
		if len(resp.GetTickets()) != n || withAction != n {
			return fmt.Errorf("%d tickets, %d with their action result; want %d", len(resp.GetTickets()), withAction, n)
		}
		return nil
	})
	incs, err := adm.ListIncidents(ctx, &amsv1.ListIncidentsRequest{Limit: 1000})
	require.NoError(t, err)
	require.Len(t, incs.GetIncidents(), n)
	seen := map[string]bool{}
	tks, err := adm.ListTickets(ctx, &amsv1.ListTicketsRequest{Limit: 1000})
	require.NoError(t, err)
	for _, tk := range tks.GetTickets() {
		require.False(t, seen[tk.GetIncidentId()], "second ticket for incident %s", tk.GetIncidentId())
		seen[tk.GetIncidentId()] = true
	}
}

package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
)

// runMainEnv makes the test binary act as the ams command, so the kill test
// runs the real main (flags, config, signals, embedded server) in a child
// process it can SIGKILL, without a separate build step.
const runMainEnv = "AMS_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		os.Exit(run())
	}
	os.Exit(m.Run())
}

// TestKillMidStreamLosesNothing sends alerts to a real ams process, kills it
// with SIGKILL while alerts are arriving and the pipeline is working on
// them, and starts it again on the same data directory. Every alert that
// was answered 202 before the kill must become exactly one incident and one
// ticket without being sent again; the alerts whose requests the kill cut
// off are re-sent, as a sender would, and must not create anything twice.
func TestKillMidStreamLosesNothing(t *testing.T) {
	const n, killAfter = 120, 40
	dir := t.TempDir()
	httpAddr, grpcAddr := freeAddr(t), freeAddr(t)
	cfgFile := filepath.Join(dir, "ams.yaml")
	require.NoError(t, os.WriteFile(cfgFile, []byte(fmt.Sprintf(`
server:
  http_listen_address: %s
  grpc_listen_address: %s
nats:
  embedded: {enabled: true, data_dir: %s}
telemetry: {log_level: warn}
classifier: {consumer: {ack_wait: 3s}}
executor: {consumer: {ack_wait: 3s}}
ticketing: {consumer: {ack_wait: 3s}}
escalation: {consumer: {ack_wait: 3s}}
tenants:
  - id: demo
    integrations:
      - {name: demo-generic, source: generic, tokens: [kill-test-token]}
`, httpAddr, grpcAddr, filepath.Join(dir, "nats"))), 0o600))

	first := startAMS(t, cfgFile, httpAddr)

	// Four senders share the alerts; the kill lands while they are busy.
	var (
		mu       sync.Mutex
		accepted = map[int]bool{}
		next     int
	)
	take := func() (int, bool) {
		mu.Lock()
		defer mu.Unlock()
		if next >= n {
			return 0, false
		}
		next++
		return next - 1, true
	}
	killed := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i, ok := take()
				if !ok {
					return
				}
				if sendAlert(httpAddr, i) == http.StatusAccepted {
					mu.Lock()
					accepted[i] = true
					if len(accepted) == killAfter {
						once.Do(func() { require.NoError(t, first.Process.Kill()); close(killed) })
					}
					mu.Unlock()
				}
				select {
				case <-killed:
					return
				default:
				}
			}
		}()
	}
	wg.Wait()
	<-killed
	_ = first.Wait() // killed: the exit status says so and is not an error here
	mu.Lock()
	acked := len(accepted)
	mu.Unlock()
	require.GreaterOrEqual(t, acked, killAfter)
	t.Logf("%d alerts answered 202 before SIGKILL", acked)

	startAMS(t, cfgFile, httpAddr)
	adm := adminClient(t, grpcAddr)

	// What was acknowledged before the kill completes the pipeline on its
	// own: nothing is re-sent yet.
	waitTickets(t, adm, func(titles map[string]int) error {
		for i := range accepted {
			if titles[title(i)] != 1 {
				return fmt.Errorf("alert %d: %d tickets", i, titles[title(i)])
			}
		}
		return nil
	})

	// The sender retries what it never saw accepted.
	for i := range n {
		if accepted[i] {
			continue
		}
		require.Equal(t, http.StatusAccepted, sendAlert(httpAddr, i), "alert %d after restart", i)
	}
	waitTickets(t, adm, func(titles map[string]int) error {
		if len(titles) != n {
			return fmt.Errorf("%d distinct tickets, want %d", len(titles), n)
		}
		for tt, c := range titles {
			if c != 1 {
				return fmt.Errorf("%q has %d tickets", tt, c)
			}
		}
		return nil
	})
	incs, err := adm.ListIncidents(context.Background(), &amsv1.ListIncidentsRequest{Limit: 1000})
	require.NoError(t, err)
	require.Len(t, incs.GetIncidents(), n, "one incident per alert")
}

func title(i int) string { return fmt.Sprintf("disk almost full on db-%d", i) }

// sendAlert posts alert i and returns the status, or 0 when the request
// failed (the process was killed under it).
func sendAlert(httpAddr string, i int) int {
	body := fmt.Sprintf(`{"summary": %q, "severity": "error", "resource": {"host": "db-%d"}, "labels": {"mount": "/var"}}`, title(i), i)
	req, err := http.NewRequest(http.MethodPost, "http://"+httpAddr+"/v1/webhooks/demo-generic", strings.NewReader(body))
	if err != nil {
		return 0
	}
	req.Header.Set("Authorization", "Bearer kill-test-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// startAMS starts this test binary as ams on cfgFile and waits for /readyz.
func startAMS(t *testing.T, cfgFile, httpAddr string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-config.file="+cfgFile)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + httpAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return cmd
			}
		}
		require.True(t, time.Now().Before(deadline), "ams not ready within 30s: %v", err)
		time.Sleep(50 * time.Millisecond)
	}
}

func adminClient(t *testing.T, addr string) amsv1.AdminServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return amsv1.NewAdminServiceClient(conn)
}

// waitTickets polls the tickets, counted by title, until check passes.
func waitTickets(t *testing.T, adm amsv1.AdminServiceClient, check func(map[string]int) error) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := adm.ListTickets(context.Background(), &amsv1.ListTicketsRequest{Limit: 1000})
		if err == nil {
			titles := map[string]int{}
			for _, tk := range resp.GetTickets() {
				titles[tk.GetTitle()]++
			}
			if err = check(titles); err == nil {
				return
			}
		}
		require.True(t, time.Now().Before(deadline), "tickets not as expected within 60s: %v", err)
		time.Sleep(100 * time.Millisecond)
	}
}

// freeAddr returns a loopback address with a port free right now. The
// process binds it a moment later; the port is fixed because the restarted
// process must serve on the same one.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

package app_test

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Helpers shared by the benchmarks (bench_test.go, ingest_bench_test.go).

// senders is how many clients send at once in the benchmarks.
const senders = 16

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// percentiles returns the median and the 99th percentile of lat, which it sorts.
func percentiles(lat []time.Duration) (p50, p99 time.Duration) {
	slices.Sort(lat)
	return lat[len(lat)*50/100], lat[min(len(lat)-1, len(lat)*99/100)]
}

// sendConcurrently calls send(i) for every i in [0, n) from senders
// goroutines at once, each taking the next i as soon as it has finished its
// last, and waits for them. It returns the first error a send returned;
// after one fails no further send starts.
func sendConcurrently(n int, send func(i int) error) error {
	var (
		next   atomic.Int64
		failed atomic.Bool
		once   sync.Once
		first  error
		wg     sync.WaitGroup
	)
	for range min(senders, n) {
		wg.Go(func() {
			for !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := send(i); err != nil {
					once.Do(func() { first = err })
					failed.Store(true)
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}

// benchClient is an HTTP client that keeps a connection per sender open,
// closed at cleanup.
func benchClient(tb testing.TB) *http.Client {
	tb.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: senders}
	tb.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// postBench posts the JSON body to url with a bearer token and returns the
// response's status and whole body.
func postBench(client *http.Client, url, token, body string) (status int, respBody []byte, err error) {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	respBody, err = io.ReadAll(resp.Body)
	return resp.StatusCode, respBody, err
}

// metricValue reads the sample name{labels} (labels as Prometheus prints
// them, e.g. `integration="x"`) from the process's /metrics; 0 when absent.
func metricValue(tb testing.TB, httpAddr, name, labels string) float64 {
	tb.Helper()
	resp, err := http.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		tb.Fatalf("get /metrics: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("get /metrics: status %d", resp.StatusCode)
	}
	prefix := name + " "
	if labels != "" {
		prefix = name + "{" + labels + "} "
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), prefix); ok {
			f, err := strconv.ParseFloat(strings.Fields(v)[0], 64)
			if err != nil {
				tb.Fatalf("metric %s: %v", prefix, err)
			}
			return f
		}
	}
	if err := sc.Err(); err != nil {
		tb.Fatalf("read /metrics: %v", err)
	}
	return 0
}

// statusError describes a response that was not the one expected.
func statusError(got, want int, body []byte) error {
	return fmt.Errorf("status %d, want %d: %.200s", got, want, body)
}

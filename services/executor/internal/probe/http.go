package probe

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/amsproject/ams/services/executor/internal/step"
)

// maxBodyPreview bounds how much of a response body is read and shown: the
// probe is about the status, and the start of the body is enough to say
// what answered (an error page, a maintenance notice).
const maxBodyPreview = 2 << 10

// HTTP requests rawURL with method (GET when empty, or HEAD) and expects
// expectStatus (200 when zero). The Result's ExitCode is the status (0 when
// no response came), OK is whether it is the expected one, Value is the
// round trip to the response headers in milliseconds, and Output is the
// status line, Content-Type, Server and Location, and the start of the
// body. A redirect is not followed: it is OK only when its own status is
// the expected one.
func (p *Prober) HTTP(ctx context.Context, rawURL, method string, expectStatus int, timeout time.Duration) (step.Result, error) {
	method = strings.ToUpper(method)
	switch method {
	case "":
		method = http.MethodGet
	case http.MethodGet, http.MethodHead:
	default:
		return step.Result{}, fmt.Errorf("http probe %s: method %q is not GET or HEAD", rawURL, method)
	}
	if expectStatus == 0 {
		expectStatus = http.StatusOK
	}
	if expectStatus < 100 || expectStatus > 599 {
		return step.Result{}, fmt.Errorf("http probe %s: expected status %d is not an HTTP status (100-599)", rawURL, expectStatus)
	}
	if u, err := url.Parse(rawURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return step.Result{}, fmt.Errorf("http probe: %q is not an absolute http:// or https:// URL", rawURL)
	}

	probeCtx, cancel := withTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(probeCtx, method, rawURL, nil)
	if err != nil {
		return step.Result{}, fmt.Errorf("http probe %s: %w", rawURL, err)
	}
	req.Header.Set("User-Agent", UserAgent)

	start := time.Now()
	resp, err := p.client.Do(req)
	if err != nil {
		if err := stopped(ctx, "http probe "+rawURL); err != nil {
			return step.Result{}, err
		}
		return step.Result{
			Target: rawURL,
			Output: step.Cap(fmt.Sprintf("%s %s: %s", method, rawURL, describe(err, timeout)), p.maxOutput),
		}, nil
	}
	roundTrip := time.Since(start)
	defer resp.Body.Close()

	var out strings.Builder
	fmt.Fprintf(&out, "%s %s", resp.Proto, resp.Status)
	if resp.StatusCode != expectStatus {
		fmt.Fprintf(&out, " (expected %d)", expectStatus)
	}
	out.WriteString("\n")
	for _, h := range []string{"Content-Type", "Server", "Location"} {
		if v := resp.Header.Get(h); v != "" {
			fmt.Fprintf(&out, "%s: %s\n", h, v)
		}
	}
	if resp.Header.Get("Location") != "" && resp.StatusCode >= 300 && resp.StatusCode < 400 {
		out.WriteString("(redirect not followed: its target was not checked against the tenant's hosts)\n")
	}
	if method != http.MethodHead {
		// Closing the body unread is fine: keep-alives are off, so the
		// connection is not reused and nothing more is downloaded.
		body, note := readPreview(resp.Body, min(p.maxOutput, maxBodyPreview), timeout)
		if len(body) > 0 || note != "" {
			out.WriteString("\n")
			out.WriteString(body)
			out.WriteString(note)
		}
	}
	return step.Result{
		OK:       resp.StatusCode == expectStatus,
		ExitCode: resp.StatusCode,
		Value:    ms(roundTrip),
		Target:   rawURL,
		Output:   step.Cap(out.String(), p.maxOutput),
	}, nil
}

// readPreview reads at most limit bytes of body. note says when there was
// more, or why reading stopped early (the timeout during a slow body).
func readPreview(body io.Reader, limit int, timeout time.Duration) (preview, note string) {
	buf, err := io.ReadAll(io.LimitReader(body, int64(limit)+1))
	if err != nil {
		note = fmt.Sprintf("\n… (reading the body stopped: %s)", describe(err, timeout))
	}
	if len(buf) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(buf[cut]) {
			cut--
		}
		buf = buf[:cut]
		note = fmt.Sprintf("\n… (body cut after %d bytes)", cut)
	}
	return string(buf), note
}

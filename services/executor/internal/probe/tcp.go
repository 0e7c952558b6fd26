package probe

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/amsproject/ams/services/executor/internal/step"
)

// TCP connects to address (host:port) and closes the connection at once.
// OK is whether the connection was made; Value is the time to connect in
// milliseconds.
func (p *Prober) TCP(ctx context.Context, address string, timeout time.Duration) (step.Result, error) {
	if _, _, err := net.SplitHostPort(address); err != nil {
		return step.Result{}, fmt.Errorf("tcp probe: %q is not host:port: %w", address, err)
	}
	probeCtx, cancel := withTimeout(ctx, timeout)
	defer cancel()

	start := time.Now()
	conn, err := p.dial(probeCtx, "tcp", address)
	if err != nil {
		if err := stopped(ctx, "tcp probe "+address); err != nil {
			return step.Result{}, err
		}
		return step.Result{
			ExitCode: 1,
			Target:   address,
			Output:   step.Cap(fmt.Sprintf("connect %s: %s", address, describe(err, timeout)), p.maxOutput),
		}, nil
	}
	took := time.Since(start)
	remote := conn.RemoteAddr().String()
	_ = conn.Close() // nothing was sent; a failed close changes nothing

	return step.Result{
		OK:     true,
		Value:  ms(took),
		Target: address,
		Output: step.Cap(fmt.Sprintf("connected to %s (%s) in %.1f ms", address, remote, ms(took)), p.maxOutput),
	}, nil
}

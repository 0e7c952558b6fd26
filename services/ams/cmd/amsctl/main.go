// Command amsctl is the operator CLI of AMS: it reads incidents and tickets
// (and later more) from the gRPC admin API of a running ams.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/amsproject/ams/services/ams/internal/amsctl"
)

func main() {
	// Ctrl-C cancels the call in flight instead of killing the process mid-write,
	// which matters once long-running commands such as tail arrive.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := amsctl.MainContext(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

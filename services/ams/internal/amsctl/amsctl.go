// Package amsctl implements amsctl, the operator CLI that talks to the AMS
// gRPC admin API (AdminService) and prints what it gets as tables or JSON,
// and that posts test alerts to ingest's HTTP API (send.go).
//
// Each command group lives in its own file (incidents.go, tickets.go, send.go) and is
// built from a *cli that holds the global flags and the process surroundings
// (output streams, clock, environment), so tests can run the whole CLI
// in-process against a real gRPC server with a fixed clock.
package amsctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Exit codes, following the usual Unix convention that 2 means "you called
// me wrong" so scripts can tell a typo from a failing server.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// Main runs amsctl with args (without the program name) and returns the
// process exit code: 0 on success, 1 when the call failed, 2 on a usage error.
func Main(args []string, stdout, stderr io.Writer) int {
	return MainContext(context.Background(), args, stdout, stderr)
}

// MainContext is Main with a context whose cancellation (e.g. on SIGINT)
// aborts the call in flight.
func MainContext(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return run(ctx, args, env{
		stdout: stdout,
		stderr: stderr,
		now:    time.Now,
		loc:    time.Local,
		getenv: os.Getenv,
	})
}

// env is what amsctl takes from the process around it. Everything is passed
// in rather than read from globals so tests can pin the clock, the time zone
// and the environment.
type env struct {
	stdout, stderr io.Writer
	now            func() time.Time
	// loc is the zone times are shown in on tables; JSON is always UTC.
	loc    *time.Location
	getenv func(string) string
}

func run(ctx context.Context, args []string, e env) int {
	root := newRootCommand(e)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(e.stderr, "amsctl: %v\n", err)

	if _, ok := errors.AsType[*usageError](err); ok {
		fmt.Fprintf(e.stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
		return exitUsage
	}
	if h, ok := errors.AsType[*hintError](err); ok {
		fmt.Fprintf(e.stderr, "amsctl: %s\n", h.hint)
	}
	return exitError
}

// usageError marks a mistake in how amsctl was called, as opposed to a
// failure talking to the server; it decides the exit code.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usageErrorf(format string, a ...any) error {
	return &usageError{err: fmt.Errorf(format, a...)}
}

// hintError carries a second line telling the operator what to try next.
type hintError struct {
	err  error
	hint string
}

func (e *hintError) Error() string { return e.err.Error() }
func (e *hintError) Unwrap() error { return e.err }

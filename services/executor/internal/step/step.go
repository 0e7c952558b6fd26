// Package step holds what every step kind shares: the result of one attempt,
// the errors that mean "stop the run" (a target outside the tenant) and
// "do not re-run blindly" (an action that may or may not have happened),
// and the output cap. Each step kind lives in its own package and returns
// these; the run engine decides what they mean for the run.
package step

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Result is the outcome of one attempt of one step.
type Result struct {
	// OK is whether the check passed or the action succeeded: exit code 0,
	// the expected HTTP status, a connection made, a name resolved, an
	// instance in the wanted state, a metric with data.
	OK bool
	// ExitCode is the command's exit code (SSH, SSM), the HTTP status
	// (HTTP), otherwise 0 when OK and 1 when not.
	ExitCode int
	// Value is a number the step measured, when it has one: the latest
	// CloudWatch datapoint, the HTTP or TCP round trip in milliseconds.
	Value float64
	// Output is what the step printed or found, capped (Cap) and valid UTF-8.
	Output string
	// Target is what the step touched: a host, an instance id, a URL.
	Target string
}

// OutsideTenantError is returned, before anything is sent, when a step's
// target does not belong to the incident's tenant. The run stops and the
// attempt is reported.
type OutsideTenantError struct {
	Tenant string
	Target string
	// Reason says which check failed, e.g. "not in the tenant's hosts".
	Reason string
}

func (e *OutsideTenantError) Error() string {
	return fmt.Sprintf("target %q is not tenant %s's: %s; the run stops and nothing was sent", e.Target, e.Tenant, e.Reason)
}

// IsOutsideTenant reports whether err is or wraps an *OutsideTenantError.
func IsOutsideTenant(err error) bool {
	_, ok := errors.AsType[*OutsideTenantError](err)
	return ok
}

// UnknownOutcomeError is returned when an action was sent but its result
// could not be learned (the connection dropped after the request, the
// command was still running at the timeout). A recovery step with an
// unknown outcome is never re-run blindly.
type UnknownOutcomeError struct {
	Err error
}

func (e *UnknownOutcomeError) Error() string {
	return "outcome unknown: " + e.Err.Error()
}

func (e *UnknownOutcomeError) Unwrap() error { return e.Err }

// IsUnknownOutcome reports whether err is or wraps an *UnknownOutcomeError.
func IsUnknownOutcome(err error) bool {
	_, ok := errors.AsType[*UnknownOutcomeError](err)
	return ok
}

// DefaultMaxOutput is the output cap when the configuration gives none.
const DefaultMaxOutput = 16 << 10

// Cap returns s as valid UTF-8 of at most limit bytes; a cut one ends with a
// note of how much was dropped. Output comes from machines and may be huge
// or binary: it goes into events and tickets.
func Cap(s string, limit int) string { return CapDropped(s, 0, limit) }

// CapDropped is Cap for output of which only the start, s, was kept while
// reading and dropped more bytes were thrown away: the note counts those
// too. The note is sized for the largest count it can show, so the result
// never exceeds limit.
func CapDropped(s string, dropped, limit int) string {
	if limit <= 0 {
		limit = DefaultMaxOutput
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	if dropped == 0 && len(s) <= limit {
		return s
	}
	total := len(s) + dropped
	cut := min(max(limit-len(cutNote(total)), 0), len(s))
	for cut > 0 && cut < len(s) && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + cutNote(total-cut)
}

func cutNote(n int) string { return fmt.Sprintf("\n… (%d bytes cut)", n) }

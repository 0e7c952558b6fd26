package awsstep_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/amsproject/ams/services/executor/internal/injection"
	"github.com/amsproject/ams/services/executor/internal/step"
	"github.com/amsproject/ams/services/executor/sandbox/awsfake"
)

func TestSSMResult(t *testing.T) {
	bigStdout := strings.Repeat("log line\n", 5000) // 45 KB; SSM itself keeps 24000 characters
	cases := []struct {
		name           string
		stdout, stderr string
		code           int
		maxOutput      int
		wantOK         bool
		wantCode       int
		wantIn         []string
	}{
		{name: "success", stdout: "nginx restarted\n", wantOK: true, wantCode: 0,
			wantIn: []string{"--- stdout ---\nnginx restarted\n"}},
		{name: "failure with exit code", stdout: "stopping nginx\n", stderr: "nginx: unit not found\n", code: 3, wantCode: 3,
			wantIn: []string{"ended Failed", "response code 3", "--- stdout ---\nstopping nginx\n", "--- stderr ---\nnginx: unit not found\n"}},
		{name: "output capped, stderr kept", stdout: bigStdout, stderr: "ERROR at the end\n", code: 1, maxOutput: 1024, wantCode: 1,
			wantIn: []string{"bytes cut", "--- stderr ---\nERROR at the end\n"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var opts []envOption
			if tc.maxOutput > 0 {
				opts = append(opts, withMaxOutput(tc.maxOutput))
			}
			e := newEnv(t, opts...)
			e.addDocument(t, awsfake.Document{
				Name: "AMS-RestartService",
				Run: func(map[string]string) (string, string, int) {
					return tc.stdout, tc.stderr, tc.code
				},
			})
			res, err := e.runner.SSM(ctx(t), "acme", e.acme, acmeWeb, "AMS-RestartService", nil, 10*time.Second)
			require.NoError(t, err)
			require.Equal(t, tc.wantOK, res.OK)
			require.Equal(t, tc.wantCode, res.ExitCode)
			require.Equal(t, acmeWeb, res.Target)
			for _, want := range tc.wantIn {
				require.Contains(t, res.Output, want)
			}
			if tc.maxOutput > 0 {
				require.LessOrEqual(t, len(res.Output), tc.maxOutput+8)
			}

			cmds := e.fake.Commands()
			require.Len(t, cmds, 1)
			require.Equal(t, []string{acmeWeb}, cmds[0].InstanceIDs)
			require.GreaterOrEqual(t, cmds[0].TimeoutSeconds, 30, "SSM refuses a delivery timeout under 30s")
		})
	}
}

// TestSSMParametersArriveUnchanged sends the injection corpus as document
// parameters, several values to a command, and checks the document's
// script sees each one byte for byte, as one whole parameter value of its
// own.
func TestSSMParametersArriveUnchanged(t *testing.T) {
	const batch = 8
	e := newEnv(t)
	var mu sync.Mutex
	var seen []map[string]string
	params := []awsfake.DocumentParameter{
		{Name: "mode", AllowedPattern: `^(check|fix)$`, Optional: true, Default: "check"},
	}
	for i := range batch {
		// The widest pattern: this test is about transport, not about
		// the runbook's own patterns.
		params = append(params, awsfake.DocumentParameter{Name: fmt.Sprintf("path%d", i), AllowedPattern: `^[\s\S]*$`, Optional: true})
	}
	e.addDocument(t, awsfake.Document{
		Name:       "AMS-CheckPath",
		Parameters: params,
		Run: func(env map[string]string) (string, string, int) {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, env)
			return "", "", 0
		},
	})
	// JSON carries text: a value that is not UTF-8 cannot cross it
	// unchanged, and a NUL would end the script's string; the runbook
	// refuses both before any step (runbook.Parameters) and the step
	// refuses them again (TestValuesAWSCannotCarryAreRefused).
	var vals []string
	for _, v := range injection.Corpus() {
		if utf8.ValidString(v) && !strings.Contains(v, "\x00") {
			vals = append(vals, v)
		}
	}
	require.GreaterOrEqual(t, len(vals), 300)
	for i := 0; i < len(vals); i += batch {
		chunk := vals[i:min(i+batch, len(vals))]
		sent := map[string]string{}
		for j, v := range chunk {
			sent[fmt.Sprintf("path%d", j)] = v
		}
		mu.Lock()
		before := len(seen)
		mu.Unlock()
		res, err := e.runner.SSM(ctx(t), "acme", e.acme, acmeWeb, "AMS-CheckPath", sent, 10*time.Second)
		require.NoError(t, err, "values %q", chunk)
		require.True(t, res.OK, res.Output)

		mu.Lock()
		require.Len(t, seen, before+1, "one command ran the script once")
		env := seen[before]
		mu.Unlock()
		cmds := e.fake.Commands()
		last := cmds[len(cmds)-1]
		for name, value := range sent {
			require.Equal(t, value, env["SSM_"+name], "the script sees the value unchanged")
			require.Equal(t, []string{value}, last.Parameters[name], "one whole value on the wire, never split or joined")
		}
		require.Equal(t, "check", env["SSM_mode"], "an omitted optional parameter takes its default")
		require.Len(t, last.Parameters, len(sent), "no parameter added")
	}
	require.Len(t, e.fake.Commands(), (len(vals)+batch-1)/batch)
}

func TestSSMPollsUntilDone(t *testing.T) {
	e := newEnv(t)
	e.addDocument(t, awsfake.Document{
		Name:            "AMS-Slow",
		UnseenPolls:     2, // InvocationDoesNotExist right after the send
		InProgressPolls: 3,
		Run:             func(map[string]string) (string, string, int) { return "done\n", "", 0 },
	})
	res, err := e.runner.SSM(ctx(t), "acme", e.acme, acmeWeb, "AMS-Slow", nil, 10*time.Second)
	require.NoError(t, err)
	require.True(t, res.OK)
	require.Contains(t, res.Output, "done")
	polls := e.fake.CallsOf("GetCommandInvocation")
	require.Len(t, polls, 6, "2 not yet visible + 3 in progress + the result")
	require.Equal(t, "InvocationDoesNotExist", polls[0].ErrorCode)
	require.Equal(t, 1, e.applied("SendCommand"))
}

func TestSSMTimeoutWhileRunning(t *testing.T) {
	e := newEnv(t)
	e.addDocument(t, awsfake.Document{Name: "AMS-Hangs", InProgressPolls: -1})
	start := time.Now()
	_, err := e.runner.SSM(ctx(t), "acme", e.acme, acmeWeb, "AMS-Hangs", nil, 300*time.Millisecond)
	require.True(t, step.IsUnknownOutcome(err), "got %v", err)
	require.ErrorContains(t, err, "still InProgress")
	require.Less(t, time.Since(start), 3*time.Second, "the step's timeout bounds the wait")
	require.Len(t, e.fake.Commands(), 1, "sent once")
}

func TestSSMRefusedBeforeRunning(t *testing.T) {
	e := newEnv(t)
	e.addDocument(t, awsfake.Document{
		Name:       "AMS-RestartService",
		Parameters: []awsfake.DocumentParameter{{Name: "service", AllowedPattern: `^[a-z][a-z0-9@._-]{0,63}$`}},
	})
	cases := []struct {
		name     string
		document string
		params   map[string]string
		want     string
	}{
		{"value outside allowedPattern", "AMS-RestartService", map[string]string{"service": "nginx; reboot"}, "InvalidParameters"},
		{"undeclared parameter", "AMS-RestartService", map[string]string{"service": "nginx", "extra": "x"}, "InvalidParameters"},
		{"required parameter missing", "AMS-RestartService", nil, "InvalidParameters"},
		{"document not in the tenant's account", "AMS-Unknown", nil, "InvalidDocument"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.runner.SSM(ctx(t), "acme", e.acme, acmeWeb, tc.document, tc.params, 5*time.Second)
			require.ErrorContains(t, err, tc.want)
			require.False(t, step.IsUnknownOutcome(err), "a refused SendCommand ran nothing: %v", err)
		})
	}
	require.Empty(t, e.fake.Commands())
}

func TestSSMSendOutcomeUnknown(t *testing.T) {
	cases := []struct {
		name        string
		fault       awsfake.FaultKind
		wantApplied int
	}{
		// AWS received and ran the command; the answer never came.
		{"connection dropped after the request", awsfake.DropConnection, 1},
		// A 5xx may come after the service acted; it is not retried.
		{"server error", awsfake.ServerError, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.addDocument(t, awsfake.Document{Name: "AMS-RestartService"})
			e.fake.Inject(awsfake.Fault{Operation: "SendCommand", Kind: tc.fault})
			_, err := e.runner.SSM(ctx(t), "acme", e.acme, acmeWeb, "AMS-RestartService", nil, 5*time.Second)
			require.True(t, step.IsUnknownOutcome(err), "got %v", err)
			require.Len(t, e.fake.CallsOf("SendCommand"), 1, "never re-sent by the SDK's retryer")
			require.Len(t, e.fake.Commands(), tc.wantApplied)
			require.Empty(t, e.fake.CallsOf("GetCommandInvocation"))
		})
	}
}

func TestSSMPollingKeepsFailing(t *testing.T) {
	e := newEnv(t, withMaxAttempts(1))
	e.addDocument(t, awsfake.Document{Name: "AMS-RestartService"})
	e.fake.Inject(awsfake.Fault{Operation: "GetCommandInvocation", Kind: awsfake.ServerError, Times: 100})
	_, err := e.runner.SSM(ctx(t), "acme", e.acme, acmeWeb, "AMS-RestartService", nil, 10*time.Second)
	require.True(t, step.IsUnknownOutcome(err), "got %v", err)
	require.ErrorContains(t, err, "reading its result failed 5 times")
	require.Len(t, e.fake.Commands(), 1)
}

func TestSSMPollingRetriesServerErrors(t *testing.T) {
	e := newEnv(t)
	e.addDocument(t, awsfake.Document{Name: "AMS-RestartService", Run: func(map[string]string) (string, string, int) { return "ok\n", "", 0 }})
	// Reads are safe to repeat: the SDK retries a 500 on its own.
	e.fake.Inject(awsfake.Fault{Operation: "GetCommandInvocation", Kind: awsfake.ServerError, Times: 2})
	res, err := e.runner.SSM(ctx(t), "acme", e.acme, acmeWeb, "AMS-RestartService", nil, 10*time.Second)
	require.NoError(t, err)
	require.True(t, res.OK)
	require.Len(t, e.fake.CallsOf("GetCommandInvocation"), 3)
}

package awsstep

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/amsproject/ams/pkg/config"
	"github.com/amsproject/ams/services/executor/internal/step"
)

// maxPollFailures is how many GetCommandInvocation calls in a row may fail
// (after the SDK's own retries) before the runner gives up on learning the
// command's result.
const maxPollFailures = 5

// SSM runs document on instanceID with SSM Run Command and waits for its
// result. Each parameter value is passed whole as the one value of its
// document parameter. The instance must pass CheckInstance first.
//
// The result is OK when the command succeeded; ExitCode is its response
// code and Output its stdout and stderr. A failed command is a result, not
// an error. When the command was sent but its result could not be learned
// within timeout, the error is a *step.UnknownOutcomeError: the command
// may still run.
func (r *Runner) SSM(ctx context.Context, tenant string, acct *config.ExecutorAWS, instanceID, document string, params map[string]string, timeout time.Duration) (step.Result, error) {
	res := step.Result{Target: instanceID, ExitCode: 1}
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	parent := ctx
	if err := textValues("ssm step "+document+": parameter", params); err != nil {
		return res, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := r.instanceClients(ctx, tenant, acct, instanceID)
	if err != nil {
		return res, err
	}

	parameters := make(map[string][]string, len(params))
	for k, v := range params {
		parameters[k] = []string{v}
	}
	sendCtx, sent := track(ctx)
	out, err := c.ssm.SendCommand(sendCtx, &ssm.SendCommandInput{
		DocumentName: aws.String(document),
		InstanceIds:  []string{instanceID},
		Parameters:   parameters,
		// TimeoutSeconds is how long SSM tries to deliver the command
		// before giving up on starting it; SSM accepts 30s at least.
		TimeoutSeconds:         aws.Int32(deliveryTimeout(timeout)),
		Comment:                aws.String(comment(tenant)),
		CloudWatchOutputConfig: &ssmtypes.CloudWatchOutputConfig{CloudWatchOutputEnabled: false},
	}, ssmAction)
	if err != nil {
		return res, actionError(sent, explain(acct, "ssm:SendCommand of "+document, err))
	}
	if out.Command == nil || aws.ToString(out.Command.CommandId) == "" {
		return res, &step.UnknownOutcomeError{Err: fmt.Errorf("ssm:SendCommand of %s on %s answered without a command id", document, instanceID)}
	}
	commandID := aws.ToString(out.Command.CommandId)
	res, err = r.waitCommand(ctx, c, acct, commandID, instanceID)
	if err != nil && parent.Err() == nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		// The step's own time ran out while the command runs on: ask SSM
		// to stop it, as an operator would, so it does not go on changing
		// the host after the run has moved on to verifying. The outcome
		// stays unknown (the command may have done its work, and the
		// cancel is asynchronous). When the executor itself is stopping
		// (parent ended) the command is left alone: another replica takes
		// the run over and verifies.
		err = &step.UnknownOutcomeError{Err: fmt.Errorf("%w; %s", err, r.cancelCommand(parent, c, acct, commandID, instanceID))}
	}
	return res, err
}

// cancelTimeout bounds the CancelCommand call after a step's time ran out.
const cancelTimeout = 10 * time.Second

// cancelCommand asks SSM to cancel the command and says how that went.
func (r *Runner) cancelCommand(parent context.Context, c *tenantClients, acct *config.ExecutorAWS, commandID, instanceID string) string {
	ctx, cancel := context.WithTimeout(parent, cancelTimeout)
	defer cancel()
	_, err := c.ssm.CancelCommand(ctx, &ssm.CancelCommandInput{CommandId: aws.String(commandID), InstanceIds: []string{instanceID}})
	if err != nil {
		return "cancelling it failed: " + explain(acct, "ssm:CancelCommand", err).Error()
	}
	return "cancel requested (ssm:CancelCommand)"
}

// deliveryTimeout is SendCommand's TimeoutSeconds for a step of timeout,
// within what SSM accepts (30s to 30 days).
func deliveryTimeout(timeout time.Duration) int32 {
	s := int64(timeout / time.Second)
	return int32(min(max(s, 30), 2592000))
}

// comment is the command's comment, which the tenant sees in the SSM
// console; SSM allows 100 characters.
func comment(tenant string) string {
	s := "AMS executor step for tenant " + tenant
	if len(s) > 100 {
		s = s[:100]
	}
	return s
}

// waitCommand polls the command's invocation until it ends or ctx does.
func (r *Runner) waitCommand(ctx context.Context, c *tenantClients, acct *config.ExecutorAWS, commandID, instanceID string) (step.Result, error) {
	// The command id goes with an unknown outcome: it is what a later
	// check looks the command up by.
	res := step.Result{Target: instanceID, ExitCode: 1, Output: "ssm command " + commandID}
	status := "not yet visible"
	failures := 0
	timer := time.NewTimer(r.opts.PollInterval)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return res, &step.UnknownOutcomeError{Err: fmt.Errorf("ssm command %s on %s was still %s when the step's time ran out; it may still be running", commandID, instanceID, status)}
		case <-timer.C:
		}
		inv, err := c.ssm.GetCommandInvocation(ctx, &ssm.GetCommandInvocationInput{
			CommandId:  aws.String(commandID),
			InstanceId: aws.String(instanceID),
		})
		switch code := apiCode(err); {
		case err == nil:
			failures = 0
			status = string(inv.Status)
			switch inv.Status {
			case ssmtypes.CommandInvocationStatusSuccess, ssmtypes.CommandInvocationStatusFailed,
				ssmtypes.CommandInvocationStatusCancelled, ssmtypes.CommandInvocationStatusTimedOut:
				return r.commandResult(res, commandID, inv), nil
			}
			// Pending, InProgress, Delayed, Cancelling: not over yet.
		case code == "InvocationDoesNotExist":
			// Right after SendCommand the invocation is often not visible
			// yet; it is not a failure.
		case ctx.Err() != nil:
			// The loop reports the timeout.
		case accessDeniedCodes[code]:
			return res, &step.UnknownOutcomeError{Err: fmt.Errorf("ssm command %s on %s was sent, but its result cannot be read: %w", commandID, instanceID, explain(acct, "ssm:GetCommandInvocation", err))}
		default:
			failures++
			if failures >= maxPollFailures {
				return res, &step.UnknownOutcomeError{Err: fmt.Errorf("ssm command %s on %s was sent, but reading its result failed %d times: %w", commandID, instanceID, failures, explain(acct, "ssm:GetCommandInvocation", err))}
			}
		}
		timer.Reset(r.opts.PollInterval)
	}
}

// commandResult turns a finished invocation into the step's result.
func (r *Runner) commandResult(res step.Result, commandID string, inv *ssm.GetCommandInvocationOutput) step.Result {
	res.OK = inv.Status == ssmtypes.CommandInvocationStatusSuccess
	res.ExitCode = int(inv.ResponseCode)
	var head string
	if !res.OK {
		head = fmt.Sprintf("ssm command %s ended %s (%s), response code %d\n", commandID, inv.Status, aws.ToString(inv.StatusDetails), inv.ResponseCode)
	}
	res.Output = joinOutput(head, aws.ToString(inv.StandardOutputContent), aws.ToString(inv.StandardErrorContent), r.opts.MaxOutput)
	return res
}

// joinOutput labels stdout and stderr and caps the whole. When the whole
// is too long, stderr keeps up to half of the room: it is where the reason
// for a failure usually is.
func joinOutput(head, stdout, stderr string, maxOut int) string {
	if maxOut <= 0 {
		maxOut = step.DefaultMaxOutput
	}
	var errPart string
	if stderr != "" {
		errPart = "--- stderr ---\n" + stderr
		if !strings.HasSuffix(errPart, "\n") {
			errPart += "\n"
		}
	}
	outPart := "--- stdout ---\n" + stdout
	if stdout != "" && !strings.HasSuffix(outPart, "\n") {
		outPart += "\n"
	}
	if len(head)+len(outPart)+len(errPart) > maxOut {
		if len(errPart) > maxOut/2 {
			errPart = step.Cap(errPart, maxOut/2)
		}
		// The slack covers the newline added below and step.Cap's note
		// growing by a digit.
		outPart = step.Cap(outPart, max(maxOut-len(head)-len(errPart)-8, 64))
		if !strings.HasSuffix(outPart, "\n") {
			outPart += "\n"
		}
	}
	return step.Cap(head+outPart+errPart, maxOut)
}

// textValues refuses values AWS would not carry unchanged: JSON and CBOR
// text is UTF-8 (invalid bytes would arrive as U+FFFD, or the request be
// refused), and a NUL ends a string in the script that reads it. Runbook
// parameters are refused earlier; this keeps the step itself honest.
func textValues(what string, values map[string]string) error {
	for _, k := range sortedKeys(values) {
		switch v := values[k]; {
		case !utf8.ValidString(v):
			return fmt.Errorf("%s %s is not valid UTF-8; nothing was sent", what, k)
		case strings.IndexByte(v, 0) >= 0:
			return fmt.Errorf("%s %s contains a NUL byte; nothing was sent", what, k)
		}
	}
	return nil
}

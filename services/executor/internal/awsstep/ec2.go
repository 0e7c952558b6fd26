package awsstep

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/amsproject/ams/pkg/config"
	"github.com/amsproject/ams/services/executor/internal/step"
)

// The EC2 actions (runbook.EC2Reboot, EC2Start, EC2Status).
const (
	ec2Reboot = "reboot"
	ec2Start  = "start"
	ec2Status = "status"
)

// EC2 runs an EC2 action on instanceID after CheckInstance:
//
//   - status: OK when the instance is running and both its instance and
//     system status checks are ok.
//   - reboot: RebootInstances; OK when EC2 accepted it. It does not wait
//     for the instance to come back: a later status or verify step does.
//   - start: StartInstances; OK when EC2 accepted it; Output gives the
//     previous and current state.
//
// If a reboot or start was sent and its answer lost, the error is a
// *step.UnknownOutcomeError.
func (r *Runner) EC2(ctx context.Context, tenant string, acct *config.ExecutorAWS, action, instanceID string, timeout time.Duration) (step.Result, error) {
	res := step.Result{Target: instanceID, ExitCode: 1}
	switch action {
	case ec2Status, ec2Reboot, ec2Start:
	default:
		return res, fmt.Errorf("ec2 action %q: want reboot, start or status", action)
	}
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := r.instanceClients(ctx, tenant, acct, instanceID)
	if err != nil {
		return res, err
	}

	switch action {
	case ec2Status:
		out, err := c.ec2.DescribeInstanceStatus(ctx, &ec2.DescribeInstanceStatusInput{
			InstanceIds: []string{instanceID},
			// Without it EC2 leaves out instances that are not running,
			// and "stopped" is exactly what the step must report.
			IncludeAllInstances: aws.Bool(true),
		})
		if err != nil {
			return res, explain(acct, "ec2:DescribeInstanceStatus", err)
		}
		var st *ec2types.InstanceStatus
		for i := range out.InstanceStatuses {
			if aws.ToString(out.InstanceStatuses[i].InstanceId) == instanceID {
				st = &out.InstanceStatuses[i]
			}
		}
		if st == nil {
			res.Output = "EC2 reported no status for " + instanceID
			return res, nil
		}
		var state ec2types.InstanceStateName
		if st.InstanceState != nil {
			state = st.InstanceState.Name
		}
		inst, sys := summaryStatus(st.InstanceStatus), summaryStatus(st.SystemStatus)
		res.OK = state == ec2types.InstanceStateNameRunning && inst == ec2types.SummaryStatusOk && sys == ec2types.SummaryStatusOk
		res.Output = fmt.Sprintf("state %s, instance status %s, system status %s", state, inst, sys)

	case ec2Reboot:
		sendCtx, sent := track(ctx)
		if _, err := c.ec2.RebootInstances(sendCtx, &ec2.RebootInstancesInput{InstanceIds: []string{instanceID}}, ec2Action); err != nil {
			return res, actionError(sent, explain(acct, "ec2:RebootInstances of "+instanceID, err))
		}
		res.OK = true
		res.Output = "reboot of " + instanceID + " accepted"

	case ec2Start:
		sendCtx, sent := track(ctx)
		out, err := c.ec2.StartInstances(sendCtx, &ec2.StartInstancesInput{InstanceIds: []string{instanceID}}, ec2Action)
		if err != nil {
			return res, actionError(sent, explain(acct, "ec2:StartInstances of "+instanceID, err))
		}
		res.OK = true
		res.Output = "start of " + instanceID + " accepted"
		for _, ch := range out.StartingInstances {
			if aws.ToString(ch.InstanceId) == instanceID && ch.PreviousState != nil && ch.CurrentState != nil {
				res.Output = fmt.Sprintf("start of %s accepted: %s -> %s", instanceID, ch.PreviousState.Name, ch.CurrentState.Name)
			}
		}
	}
	if res.OK {
		res.ExitCode = 0
	}
	res.Output = step.Cap(res.Output, r.opts.MaxOutput)
	return res, nil
}

func summaryStatus(s *ec2types.InstanceStatusSummary) ec2types.SummaryStatus {
	if s == nil || s.Status == "" {
		return "unknown"
	}
	return s.Status
}

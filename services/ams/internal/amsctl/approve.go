package amsctl

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
)

// approvalCommand is approve or deny: the same request with Approve set.
func (c *cli) approvalCommand(approve bool) *cobra.Command {
	var tenant, comment, by string
	verb, short := "deny", "Deny the recovery step an incident's runbook waits on (the incident is escalated)"
	if approve {
		verb, short = "approve", "Approve the recovery step an incident's runbook waits on (the run carries on)"
	}
	cmd := &cobra.Command{
		Use:   verb + " INCIDENT",
		Short: short,
		Long: "A runbook step marked approval: true waits for a person before it runs; the request\n" +
			"reaches on-call through escalation. The first decision counts; with no decision before\n" +
			"executor.approval_timeout the incident is escalated.",
		Example: fmt.Sprintf("  amsctl %s inc-01JF3K8Y2M --tenant acme --comment \"customer agreed on the phone\"", verb),
		Args:    exactArgs("INCIDENT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(tenant) == "" {
				return usageErrorf("--tenant is required: incident ids are unique within their tenant")
			}
			if by == "" {
				by = c.getenv("USER")
			}
			resp, err := call(cmd.Context(), c, amsv1.AdminServiceClient.DecideApproval,
				&amsv1.DecideApprovalRequest{Tenant: tenant, IncidentId: args[0], Approve: approve, By: by, Comment: comment})
			if status.Code(err) == codes.FailedPrecondition {
				return fmt.Errorf("cannot %s: %s", verb, status.Convert(err).Message())
			}
			if err != nil {
				return c.rpcError(verb+" "+args[0], err)
			}
			if c.jsonWanted() {
				return c.printJSON(resp)
			}
			done := "Denied"
			if approve {
				done = "Approved"
			}
			_, err = fmt.Fprintf(c.stdout, "%s step %s of incident %s (tenant %s).\n", done, resp.GetStep(), args[0], tenant)
			return err
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", "the incident's tenant (required)")
	cmd.Flags().StringVar(&comment, "comment", "", "why, for the ticket")
	cmd.Flags().StringVar(&by, "by", "", "who decides, for the record (default: $USER)")
	return cmd
}

func (c *cli) killSwitchCommand() *cobra.Command {
	var reason, by string
	cmd := &cobra.Command{
		Use:   "kill-switch [on|off]",
		Short: "Show, throw or reset the executor's global kill switch",
		Long: "While the kill switch is on, no recovery step runs for any tenant on any replica (checks\n" +
			"still run; each run ends skipped and is escalated). It takes effect before the next\n" +
			"recovery step; a step already running is not interrupted. executor.kill_switch: true in\n" +
			"the configuration holds it on whatever is set here.",
		Example: "  amsctl kill-switch\n  amsctl kill-switch on --reason \"bad SSM document rollout\"\n  amsctl kill-switch off",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 || (len(args) == 1 && args[0] != "on" && args[0] != "off") {
				return usageErrorf("%s takes on, off or nothing (show)", cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			var ks *amsv1.KillSwitch
			if len(args) == 0 {
				resp, err := call(cmd.Context(), c, amsv1.AdminServiceClient.GetKillSwitch, &amsv1.GetKillSwitchRequest{})
				if err != nil {
					return c.rpcError("read the kill switch", err)
				}
				ks = resp.GetKillSwitch()
			} else {
				on := args[0] == "on"
				if on && strings.TrimSpace(reason) == "" {
					return usageErrorf("--reason is required to throw the kill switch: the next operator needs to know when it can be reset")
				}
				if by == "" {
					by = c.getenv("USER")
				}
				resp, err := call(cmd.Context(), c, amsv1.AdminServiceClient.SetKillSwitch, &amsv1.SetKillSwitchRequest{On: on, By: by, Reason: reason})
				if status.Code(err) == codes.FailedPrecondition {
					return fmt.Errorf("cannot set the kill switch: %s", status.Convert(err).Message())
				}
				if err != nil {
					return c.rpcError("set the kill switch", err)
				}
				ks = resp.GetKillSwitch()
			}
			if c.jsonWanted() {
				return c.printJSON(ks)
			}
			state := "off: recovery steps run under the other rails"
			if ks.GetOn() {
				state = "ON: no recovery step runs"
			}
			fmt.Fprintf(c.stdout, "Kill switch %s.\n", state)
			if ks.GetConfigOn() {
				fmt.Fprintln(c.stdout, "Held on by the configuration (executor.kill_switch: true).")
			}
			if ks.GetChangedAt() != nil {
				fmt.Fprintf(c.stdout, "Last set by %s at %s", orDash(ks.GetBy()), ks.GetChangedAt().AsTime().UTC().Format(time.RFC3339))
				if ks.GetReason() != "" {
					fmt.Fprintf(c.stdout, ": %s", ks.GetReason())
				}
				fmt.Fprintln(c.stdout, ".")
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why it is thrown (required for on)")
	cmd.Flags().StringVar(&by, "by", "", "who sets it, for the record (default: $USER)")
	return cmd
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

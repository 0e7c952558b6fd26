package amsctl

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
)

func (c *cli) rulesCommand() *cobra.Command {
	cmd := groupCommand(&cobra.Command{
		Use:   "rules",
		Short: "Try a tenant's classification rules",
	})
	cmd.AddCommand(c.rulesExplainCommand())
	return cmd
}

func (c *cli) rulesExplainCommand() *cobra.Command {
	var tenant, file, incidentID, at string
	cmd := &cobra.Command{
		Use:   "explain",
		Short: "Show which rules and maintenance windows apply to an alert, and the outcome (changes nothing)",
		Long: "Evaluates the tenant's rules and maintenance windows in force on the server against an\n" +
			"alert given as AMS alert JSON (the \"alert\" field of `amsctl incidents get ID -o json`):\n" +
			"every rule in order with what it set, the decision and why. Nothing is stored,\n" +
			"published or paged.",
		Example: "  amsctl rules explain --tenant demo --file alert.json\n" +
			"  amsctl rules explain --incident inc-1712ed2aa4da9026   # the alert an incident last saw\n" +
			"  amsctl rules explain --tenant demo --file alert.json --at 2026-11-22T02:30:00+09:00",
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (file == "") == (incidentID == "") {
				return usageErrorf("give the alert to explain: --file alert.json (AMS alert JSON) or --incident ID (the alert it last saw)")
			}
			var a *amsv1.Alert
			if incidentID != "" {
				resp, err := call(cmd.Context(), c, amsv1.AdminServiceClient.GetIncident, &amsv1.GetIncidentRequest{Id: incidentID})
				if err != nil {
					return c.rpcError("get incident", err)
				}
				a = resp.GetIncident().GetAlert()
				if a == nil {
					return fmt.Errorf("incident %s keeps no alert to explain (it was stored by an older version); use --file", incidentID)
				}
				if tenant == "" {
					tenant = resp.GetIncident().GetTenant()
				}
			} else {
				data, err := os.ReadFile(file) //nolint:gosec // the operator names the file
				if err != nil {
					return usageErrorf("read --file: %v", err)
				}
				a = &amsv1.Alert{}
				if err := (protojson.UnmarshalOptions{}).Unmarshal(data, a); err != nil {
					return usageErrorf("%s is not the JSON of an AMS alert: %v", file, err)
				}
			}
			if tenant == "" {
				return usageErrorf("--tenant is required: whose rules to use")
			}
			req := &amsv1.ExplainAlertRequest{Tenant: tenant, Alert: a}
			if at != "" {
				t, err := time.Parse(time.RFC3339, at)
				if err != nil {
					return usageErrorf("--at %q is not an RFC 3339 time such as 2026-11-22T02:30:00+09:00", at)
				}
				req.At = timestamppb.New(t)
			}
			resp, err := call(cmd.Context(), c, amsv1.AdminServiceClient.ExplainAlert, req)
			if err != nil {
				return c.rpcError("explain", err)
			}
			if c.jsonWanted() {
				return c.printJSON(resp)
			}
			_, err = fmt.Fprint(c.stdout, resp.GetText())
			return err
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&tenant, "tenant", "", "the tenant whose rules and windows apply (with --incident: its tenant)")
	fs.StringVar(&file, "file", "", "the alert, as AMS alert JSON")
	fs.StringVar(&incidentID, "incident", "", "explain the alert this incident last saw")
	fs.StringVar(&at, "at", "", "evaluate as at this time (RFC 3339); default now")
	return cmd
}

package amsctl

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
)

const (
	incidentStatePrefix = "INCIDENT_STATE_"
	// titleWidth keeps list tables readable on an ordinary terminal.
	titleWidth = 60
)

func (c *cli) incidentsCommand() *cobra.Command {
	cmd := groupCommand(&cobra.Command{
		Use:     "incidents",
		Aliases: []string{"incident", "inc"},
		Short:   "List and show incidents",
	})
	cmd.AddCommand(c.incidentsListCommand(), c.incidentsGetCommand())
	return cmd
}

func (c *cli) incidentsListCommand() *cobra.Command {
	states, stateNumbers := enumChoices(amsv1.IncidentState(0).Descriptor(), incidentStatePrefix)
	state := newChoiceFlag("", states...)
	var (
		tenant string
		limit  int32
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List incidents, newest first",
		Example: "  amsctl incidents list --tenant acme --state open\n" +
			"  amsctl incidents list -o json --limit 10",
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkLimit(limit); err != nil {
				return err
			}
			req := &amsv1.ListIncidentsRequest{
				Tenant: tenant,
				State:  amsv1.IncidentState(stateNumbers[state.value]),
				Limit:  limit,
			}
			resp, err := call(cmd.Context(), c, amsv1.AdminServiceClient.ListIncidents, req)
			if err != nil {
				return c.rpcError("list incidents", err)
			}
			if c.jsonWanted() {
				return c.printJSON(resp)
			}
			return c.printIncidentList(resp.GetIncidents())
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&tenant, "tenant", "", "only this tenant's incidents")
	fs.Var(state, "state", "only incidents in this state: "+state.allowedList())
	limitFlag(fs, &limit)
	return cmd
}

func (c *cli) incidentsGetCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "get ID",
		Short:   "Show one incident with its grouped alerts",
		Example: "  amsctl incidents get inc-01J9Z6",
		Args:    exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			if id == "" {
				return usageErrorf("incident ID must not be empty")
			}
			resp, err := call(cmd.Context(), c, amsv1.AdminServiceClient.GetIncident, &amsv1.GetIncidentRequest{Id: id})
			if status.Code(err) == codes.NotFound {
				return fmt.Errorf("incident %s not found", id)
			}
			if err != nil {
				return c.rpcError("get incident "+id, err)
			}
			if c.jsonWanted() {
				return c.printJSON(resp.GetIncident())
			}
			return c.printIncident(resp.GetIncident())
		},
	}
}

func (c *cli) printIncidentList(incidents []*amsv1.Incident) error {
	if len(incidents) == 0 {
		_, err := fmt.Fprintln(c.stdout, "No incidents found.")
		return err
	}
	// The last header is empty: OPENED spans the age and the time cells.
	t := newTable(c.stdout, "ID", "TENANT", "STATE", "PRIORITY", "ALERTS", "TITLE", "OPENED", "")
	for _, in := range incidents {
		ago, at := c.when(in.GetOpenedAt())
		t.row(
			oneLine(in.GetId()),
			oneLine(in.GetTenant()),
			stateLabel(in),
			priorityLabel(in.GetPriority()),
			// Notifications, re-sends included: what shows how noisy it is.
			strconv.FormatInt(in.GetAlertCount(), 10),
			truncate(oneLine(in.GetTitle()), titleWidth),
			ago, at,
		)
	}
	return t.flush()
}

// stateLabel is the incident's state, with what keeps an open one from
// automation: a delay still running, or flapping.
func stateLabel(in *amsv1.Incident) string {
	state := enumLabel(in.GetState(), incidentStatePrefix)
	if in.GetState() != amsv1.IncidentState_INCIDENT_STATE_OPEN {
		return state
	}
	switch {
	case in.GetFlapping():
		return state + " (flapping)"
	case in.GetActivatedAt() == nil && in.GetActAfter() != nil:
		return state + " (held)"
	}
	return state
}

func (c *cli) printIncident(in *amsv1.Incident) error {
	t := newTable(c.stdout)
	t.row("ID:", oneLine(in.GetId()))
	t.row("Tenant:", oneLine(in.GetTenant()))
	t.row("Title:", oneLine(in.GetTitle()))
	t.row("State:", stateLabel(in))
	t.row("Priority:", priorityLabel(in.GetPriority()))
	t.row("Severity:", enumLabel(in.GetSeverity(), "SEVERITY_"))
	t.row("Category:", oneLine(in.GetCategory()))
	t.row("Runbook:", oneLine(in.GetRunbook()))
	t.row("Escalation:", oneLine(in.GetEscalationPolicy()))
	if in.GetSuppressReason() != "" {
		t.row("Suppressed:", oneLine(in.GetSuppressReason()))
	}
	if in.GetFlapping() {
		t.row("Flapping:", "yes: automation held, changes kept quiet until it settles")
	}
	if in.GetActivatedAt() == nil && in.GetActAfter() != nil {
		t.row("Held until:", c.whenText(in.GetActAfter())+" (a rule's delay: opened then if still firing)")
	}
	if in.GetResolveAfter() != nil {
		t.row("Resolving:", c.whenText(in.GetResolveAfter())+" (every alert resolved; the resolve delay runs)")
	}
	if rules := in.GetMatchedRules(); len(rules) > 0 {
		t.row("Rules:", oneLine(strings.Join(rules, ", ")))
	}
	if in.GetReopenCount() > 0 {
		t.row("Reopened:", strconv.Itoa(int(in.GetReopenCount())))
	}
	t.row("Group key:", oneLine(in.GetGroupKey()))
	t.row("Resource:", resourceText(in.GetResource()))
	labels := slices.Sorted(maps.Keys(in.GetLabels()))
	if len(labels) == 0 {
		t.row("Labels:", "-")
	}
	for i, k := range labels {
		key := ""
		if i == 0 {
			key = "Labels:"
		}
		t.row(key, oneLine(k+"="+in.GetLabels()[k]))
	}
	t.row("Notifications:", strconv.FormatInt(in.GetAlertCount(), 10))
	t.row("First seen:", c.whenText(in.GetFirstSeen()))
	t.row("Last seen:", c.whenText(in.GetLastSeen()))
	t.row("Opened:", c.whenText(in.GetOpenedAt()))
	t.row("Activated:", c.whenText(in.GetActivatedAt()))
	t.row("Resolved:", c.whenText(in.GetResolvedAt()))
	t.row("Version:", strconv.FormatInt(in.GetVersion(), 10))
	if err := t.flush(); err != nil {
		return err
	}

	alerts := in.GetAlerts()
	if len(alerts) == 0 {
		_, err := fmt.Fprintln(c.stdout, "\nNo grouped alerts.")
		return err
	}
	fmt.Fprintf(c.stdout, "\nAlerts (%d):\n", len(alerts))
	t = newTable(c.stdout, "  FINGERPRINT", "STATUS", "LAST SEEN", "", "SUMMARY")
	for _, a := range alerts {
		ago, at := c.when(a.GetLastSeen())
		t.row(
			"  "+oneLine(a.GetFingerprint()),
			enumLabel(a.GetStatus(), "ALERT_STATUS_"),
			ago, at,
			oneLine(a.GetSummary()),
		)
	}
	return t.flush()
}

// resourceText lists the parts of a resource the source told us, as
// key=value pairs, or "-" when it told us none.
func resourceText(r *amsv1.Resource) string {
	var parts []string
	for _, kv := range [][2]string{
		{"host", r.GetHost()},
		{"instance", r.GetInstanceId()},
		{"account", r.GetAccount()},
		{"region", r.GetRegion()},
		{"service", r.GetService()},
	} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+"="+kv[1])
		}
	}
	return oneLine(strings.Join(parts, " "))
}

// priorityLabel prints priorities the way operators say them: P1 … P5.
func priorityLabel(p amsv1.Priority) string {
	return strings.ToUpper(enumLabel(p, "PRIORITY_"))
}

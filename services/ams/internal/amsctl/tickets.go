package amsctl

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
)

const ticketStatusPrefix = "TICKET_STATUS_"

func (c *cli) ticketsCommand() *cobra.Command {
	cmd := groupCommand(&cobra.Command{
		Use:     "tickets",
		Aliases: []string{"ticket", "tkt"},
		Short:   "List and show tickets",
	})
	cmd.AddCommand(c.ticketsListCommand(), c.ticketsGetCommand())
	return cmd
}

func (c *cli) ticketsListCommand() *cobra.Command {
	statuses, statusNumbers := enumChoices(amsv1.TicketStatus(0).Descriptor(), ticketStatusPrefix)
	ticketStatus := newChoiceFlag("", statuses...)
	var (
		tenant string
		limit  int32
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List tickets, newest first",
		Example: "  amsctl tickets list --tenant acme --status open\n" +
			"  amsctl tickets list -o json --limit 10",
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkLimit(limit); err != nil {
				return err
			}
			req := &amsv1.ListTicketsRequest{
				Tenant: tenant,
				Status: amsv1.TicketStatus(statusNumbers[ticketStatus.value]),
				Limit:  limit,
			}
			resp, err := call(cmd.Context(), c, amsv1.AdminServiceClient.ListTickets, req)
			if err != nil {
				return c.rpcError("list tickets", err)
			}
			if c.jsonWanted() {
				return c.printJSON(resp)
			}
			return c.printTicketList(resp.GetTickets())
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&tenant, "tenant", "", "only this tenant's tickets")
	fs.Var(ticketStatus, "status", "only tickets with this status: "+ticketStatus.allowedList())
	limitFlag(fs, &limit)
	return cmd
}

func (c *cli) ticketsGetCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "get ID",
		Short:   "Show one ticket with its entries",
		Example: "  amsctl tickets get tkt-01J9Z6",
		Args:    exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			if id == "" {
				return usageErrorf("ticket ID must not be empty")
			}
			resp, err := call(cmd.Context(), c, amsv1.AdminServiceClient.GetTicket, &amsv1.GetTicketRequest{Id: id})
			if status.Code(err) == codes.NotFound {
				return fmt.Errorf("ticket %s not found", id)
			}
			if err != nil {
				return c.rpcError("get ticket "+id, err)
			}
			if c.jsonWanted() {
				return c.printJSON(resp.GetTicket())
			}
			return c.printTicket(resp.GetTicket())
		},
	}
}

func (c *cli) printTicketList(tickets []*amsv1.Ticket) error {
	if len(tickets) == 0 {
		_, err := fmt.Fprintln(c.stdout, "No tickets found.")
		return err
	}
	// The last header is empty: UPDATED spans the age and the time cells.
	t := newTable(c.stdout, "ID", "TENANT", "INCIDENT", "STATUS", "PRIORITY", "TITLE", "UPDATED", "")
	for _, tk := range tickets {
		ago, at := c.when(tk.GetUpdatedAt())
		t.row(
			oneLine(tk.GetId()),
			oneLine(tk.GetTenant()),
			oneLine(tk.GetIncidentId()),
			enumLabel(tk.GetStatus(), ticketStatusPrefix),
			priorityLabel(tk.GetPriority()),
			truncate(oneLine(tk.GetTitle()), titleWidth),
			ago, at,
		)
	}
	return t.flush()
}

func (c *cli) printTicket(tk *amsv1.Ticket) error {
	t := newTable(c.stdout)
	t.row("ID:", oneLine(tk.GetId()))
	t.row("Tenant:", oneLine(tk.GetTenant()))
	t.row("Incident:", oneLine(tk.GetIncidentId()))
	t.row("Title:", oneLine(tk.GetTitle()))
	t.row("Status:", enumLabel(tk.GetStatus(), ticketStatusPrefix))
	t.row("Priority:", priorityLabel(tk.GetPriority()))
	t.row("External ref:", oneLine(tk.GetExternalRef()))
	t.row("Created:", c.whenText(tk.GetCreatedAt()))
	t.row("Updated:", c.whenText(tk.GetUpdatedAt()))
	t.row("Closed:", c.whenText(tk.GetClosedAt()))
	t.row("Incident version:", strconv.FormatInt(tk.GetIncidentVersion(), 10))
	if err := t.flush(); err != nil {
		return err
	}

	entries := tk.GetEntries()
	if len(entries) == 0 {
		_, err := fmt.Fprintln(c.stdout, "\nNo entries.")
		return err
	}
	// Entries hold command output and check procedures that span many
	// lines, so each gets a heading line and its text indented below it
	// rather than a table cell.
	var b strings.Builder
	fmt.Fprintf(&b, "\nEntries (%d):\n", len(entries))
	for _, e := range entries {
		fmt.Fprintf(&b, "  %s  %s\n", c.whenText(e.GetTime()), oneLine(e.GetKind()))
		for line := range strings.Lines(multiLine(e.GetText())) {
			b.WriteString("      " + strings.TrimRight(line, "\n") + "\n")
		}
	}
	_, err := fmt.Fprint(c.stdout, b.String())
	return err
}

package amsctl

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/classifier/windows"
)

// matchWidth keeps a long match expression from pushing ACTIVE and ORIGIN
// off the screen; -o json shows it whole.
const matchWidth = 40

func (c *cli) maintenanceCommand() *cobra.Command {
	cmd := groupCommand(&cobra.Command{
		Use:     "maintenance",
		Aliases: []string{"maint", "mw"},
		Short:   "List, add and delete maintenance windows",
		Long: "A maintenance window suppresses the matching alerts of one tenant while it is on.\n" +
			"Windows come from the configuration file (ids config/<name>, changed there)\n" +
			"or are added at runtime with `amsctl maintenance add` (ids rt-...).",
	})
	cmd.AddCommand(c.maintenanceListCommand(), c.maintenanceAddCommand(), c.maintenanceDeleteCommand())
	return cmd
}

func (c *cli) maintenanceListCommand() *cobra.Command {
	var tenant string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List maintenance windows, by tenant and name, and whether each is on now",
		Example: "  amsctl maintenance list\n" +
			"  amsctl maintenance list --tenant acme -o json",
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			resp, err := call(cmd.Context(), c, amsv1.AdminServiceClient.ListMaintenanceWindows,
				&amsv1.ListMaintenanceWindowsRequest{Tenant: tenant})
			if err != nil {
				return c.rpcError("list maintenance windows", err)
			}
			if c.jsonWanted() {
				return c.printJSON(resp)
			}
			return c.printWindowList(resp.GetWindows())
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", "only this tenant's windows")
	return cmd
}

// addFlags are the flags of maintenance add, as given.
type addFlags struct {
	tenant, name, reason, match string
	start, end                  string
	rrule, dtstart, cron        string
	duration                    time.Duration
	timeZone, createdBy         string
}

func (c *cli) maintenanceAddCommand() *cobra.Command {
	var f addFlags
	cmd := &cobra.Command{
		Use:   "add",
		Short: "Add a maintenance window: one-off (--start, --end) or recurring (--rrule or --cron, --duration)",
		Example: "  # A one-off window, in local time:\n" +
			"  amsctl maintenance add --tenant acme --name dc-move --reason 'moving racks' \\\n" +
			"    --start 2026-12-01T22:00 --end 2026-12-02T04:00 --time-zone Asia/Tokyo\n" +
			"  # Every night 02:00-03:00 Tokyo time, database hosts only:\n" +
			"  amsctl maintenance add --tenant acme --name nightly-db-backup \\\n" +
			"    --match 'alert.resource.host.startsWith(\"db-\")' \\\n" +
			"    --rrule 'FREQ=DAILY;BYHOUR=2;BYMINUTE=0' --duration 1h --time-zone Asia/Tokyo\n" +
			"  # Sundays 03:00 London time, for two hours:\n" +
			"  amsctl maintenance add --tenant globex --name weekly-patch --cron '0 3 * * SUN' --duration 2h --time-zone Europe/London",
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.createdBy == "" {
				f.createdBy = c.getenv("USER")
			}
			w, err := f.window()
			if err != nil {
				return err
			}
			resp, err := call(cmd.Context(), c, amsv1.AdminServiceClient.AddMaintenanceWindow,
				&amsv1.AddMaintenanceWindowRequest{Window: w})
			if err != nil {
				return c.rpcError("add maintenance window", err)
			}
			if c.jsonWanted() {
				return c.printJSON(resp.GetWindow())
			}
			return c.printWindowList([]*amsv1.MaintenanceWindow{resp.GetWindow()})
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.tenant, "tenant", "", "the tenant whose alerts the window covers (required)")
	fs.StringVar(&f.name, "name", "", "a name for the window, e.g. dc-move (required)")
	fs.StringVar(&f.reason, "reason", "", "why; shown on the incidents the window suppresses")
	fs.StringVar(&f.match, "match", "true", "CEL condition over alert selecting the alerts covered; true covers all of the tenant's")
	fs.StringVar(&f.start, "start", "", "one-off window start: RFC 3339 (2026-12-01T22:00:00+09:00), or local time (2026-12-01T22:00) with --time-zone")
	fs.StringVar(&f.end, "end", "", "one-off window end (excluded), written like --start")
	fs.StringVar(&f.rrule, "rrule", "", "recurring window: RFC 5545 RRULE without DTSTART, e.g. FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;BYMINUTE=0")
	fs.StringVar(&f.dtstart, "dtstart", "", "first start of --rrule, local time without offset (2026-01-04T02:00:00); needed with COUNT")
	fs.StringVar(&f.cron, "cron", "", "recurring window: five-field cron expression (minute hour day-of-month month day-of-week), e.g. '0 3 * * SUN'")
	fs.DurationVar(&f.duration, "duration", 0, "how long each occurrence of --rrule or --cron lasts, e.g. 2h or 90m")
	fs.StringVar(&f.timeZone, "time-zone", "", "IANA time zone the schedule is read in, e.g. Asia/Tokyo (required with --rrule and --cron)")
	fs.StringVar(&f.createdBy, "created-by", "", "who is adding the window, for the record (default: $USER)")
	return cmd
}

// window checks the flags and builds the request's window; every mistake is
// a usage error, so it never reaches the server.
func (f *addFlags) window() (*amsv1.MaintenanceWindow, error) {
	switch {
	case strings.TrimSpace(f.tenant) == "":
		return nil, usageErrorf("--tenant is required: the tenant whose alerts the window covers")
	case strings.TrimSpace(f.name) == "":
		return nil, usageErrorf("--name is required, e.g. --name dc-move")
	case strings.TrimSpace(f.match) == "":
		return nil, usageErrorf("--match must not be empty; leave it out (or write true) to cover every alert of the tenant")
	}
	w := &amsv1.MaintenanceWindow{
		Tenant: f.tenant, Name: f.name, Reason: f.reason, Match: f.match,
		TimeZone: f.timeZone, CreatedBy: f.createdBy,
	}
	once := f.start != "" || f.end != ""
	kinds := 0
	for _, set := range []bool{once, f.rrule != "", f.cron != ""} {
		if set {
			kinds++
		}
	}
	switch {
	case kinds == 0:
		return nil, usageErrorf("a schedule is required: --start and --end for a one-off window, or --rrule or --cron with --duration for a recurring one")
	case kinds > 1:
		return nil, usageErrorf("give one schedule: --start and --end, or --rrule, or --cron")
	case f.dtstart != "" && f.rrule == "":
		return nil, usageErrorf("--dtstart applies to --rrule only")
	case once && f.duration != 0:
		return nil, usageErrorf("--duration applies to --rrule and --cron; a one-off window lasts from --start to --end")
	case once && (f.start == "" || f.end == ""):
		return nil, usageErrorf("a one-off window needs both --start and --end")
	case !once && f.duration <= 0:
		return nil, usageErrorf("--duration is required with --rrule and --cron and must be positive, e.g. --duration 2h")
	case !once && f.timeZone == "":
		return nil, usageErrorf("--time-zone is required with --rrule and --cron: the zone the schedule is read in, e.g. Asia/Tokyo or UTC")
	}
	if !once {
		w.Rrule, w.Dtstart, w.Cron = f.rrule, f.dtstart, f.cron
		w.Duration = durationpb.New(f.duration)
		return w, nil
	}
	for _, t := range []struct {
		flag, value string
		dst         **timestamppb.Timestamp
	}{{"--start", f.start, &w.Start}, {"--end", f.end, &w.End}} {
		at, err := windows.ParseTime(t.value, f.timeZone)
		if err != nil {
			return nil, usageErrorf("%s: %s", t.flag, strings.ReplaceAll(err.Error(), "time_zone", "--time-zone"))
		}
		*t.dst = timestamppb.New(at)
	}
	return w, nil
}

func (c *cli) maintenanceDeleteCommand() *cobra.Command {
	var tenant string
	cmd := &cobra.Command{
		Use:     "delete ID",
		Aliases: []string{"rm"},
		Short:   "Delete a maintenance window added at runtime",
		Long: "Delete a maintenance window added with `amsctl maintenance add` (id rt-...).\n" +
			"Windows of the configuration file (id config/<name>) are removed from that file.",
		Example: "  amsctl maintenance delete --tenant acme rt-k3j9x2m4qa",
		Args:    exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			switch {
			case strings.TrimSpace(tenant) == "":
				return usageErrorf("--tenant is required: window ids are unique within their tenant")
			case id == "":
				return usageErrorf("maintenance window ID must not be empty")
			}
			resp, err := call(cmd.Context(), c, amsv1.AdminServiceClient.DeleteMaintenanceWindow,
				&amsv1.DeleteMaintenanceWindowRequest{Tenant: tenant, Id: id})
			if status.Code(err) == codes.NotFound {
				return fmt.Errorf("maintenance window %s of tenant %s not found", id, tenant)
			}
			if err != nil {
				return c.rpcError("delete maintenance window "+id, err)
			}
			if c.jsonWanted() {
				return c.printJSON(resp)
			}
			_, err = fmt.Fprintf(c.stdout, "Deleted maintenance window %s of tenant %s.\n", id, tenant)
			return err
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", "the tenant the window belongs to (required)")
	return cmd
}

func (c *cli) printWindowList(ws []*amsv1.MaintenanceWindow) error {
	if len(ws) == 0 {
		_, err := fmt.Fprintln(c.stdout, "No maintenance windows found.")
		return err
	}
	t := newTable(c.stdout, "ID", "TENANT", "NAME", "SCHEDULE", "MATCH", "ACTIVE", "ORIGIN")
	for _, w := range ws {
		t.row(
			oneLine(w.GetId()),
			oneLine(w.GetTenant()),
			oneLine(w.GetName()),
			oneLine(c.scheduleText(w)),
			truncate(oneLine(w.GetMatch()), matchWidth),
			c.activeText(w),
			oneLine(w.GetOrigin()),
		)
	}
	return t.flush()
}

// scheduleText says when a window is on: "2026-12-01 22:00 → 12-02 04:00
// +09:00" for a one-off window, in its own time zone when it has one, or
// "rrule FREQ=DAILY;BYHOUR=2 for 1h (Asia/Tokyo)" for a recurring one.
func (c *cli) scheduleText(w *amsv1.MaintenanceWindow) string {
	if w.GetStart() != nil || w.GetEnd() != nil {
		loc := c.loc
		if z, err := time.LoadLocation(w.GetTimeZone()); err == nil && w.GetTimeZone() != "" {
			loc = z
		}
		return onceText(w.GetStart(), w.GetEnd(), loc)
	}
	var kind, rule string
	switch {
	case w.GetRrule() != "":
		kind, rule = "rrule", w.GetRrule()
		if w.GetDtstart() != "" {
			rule += " from " + w.GetDtstart()
		}
	case w.GetCron() != "":
		kind, rule = "cron", w.GetCron()
	default:
		return "-"
	}
	return fmt.Sprintf("%s %s for %s (%s)", kind, rule, shortDuration(w.GetDuration().AsDuration()), w.GetTimeZone())
}

// onceText writes the end only as far as it differs from the start, and the
// UTC offset once when both share it.
func onceText(start, end *timestamppb.Timestamp, loc *time.Location) string {
	if start == nil || end == nil {
		return "-"
	}
	s, e := start.AsTime().In(loc), end.AsTime().In(loc)
	endLayout := "2006-01-02 15:04"
	switch {
	case s.Year() == e.Year() && s.YearDay() == e.YearDay():
		endLayout = "15:04"
	case s.Year() == e.Year():
		endLayout = "01-02 15:04"
	}
	if s.Format("-07:00") == e.Format("-07:00") {
		return s.Format("2006-01-02 15:04") + " → " + e.Format(endLayout+" -07:00")
	}
	return s.Format("2006-01-02 15:04 -07:00") + " → " + e.Format(endLayout+" -07:00")
}

// activeText is "yes, until …" for a window on now, "no, next …" for one
// that starts again, and "no" for one that is over.
func (c *cli) activeText(w *amsv1.MaintenanceWindow) string {
	at := func(ts *timestamppb.Timestamp) string { return ts.AsTime().In(c.loc).Format("2006-01-02 15:04 MST") }
	switch {
	case w.GetActive() && w.GetActiveUntil() != nil:
		return "yes, until " + at(w.GetActiveUntil())
	case w.GetActive():
		return "yes"
	case w.GetNextStart() != nil:
		return "no, next " + at(w.GetNextStart())
	default:
		return "no"
	}
}

// shortDuration is d without the zero units Duration.String adds: 1h, 1h30m, 90s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

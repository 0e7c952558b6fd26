package amsctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/durationpb"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
)

// replayTimeout bounds a replay when --timeout is not given: reading a month
// of alerts takes longer than an ordinary call's 10s.
const replayTimeout = time.Hour

func (c *cli) replayCommand() *cobra.Command {
	var (
		tenant, rulesFile string
		since             time.Duration
		maxDiff           int32
	)
	cmd := &cobra.Command{
		Use:   "replay",
		Short: "Run stored alerts through candidate rules and show what would change",
		Long: "Reads the tenant's alerts of the last --since from the event log (the ALERTS stream), runs\n" +
			"them through the tenant's current classifier file and through --rules, and prints what\n" +
			"would change: incidents, suppressions (by reason), automation runs, pages, incidents held\n" +
			"by a delay, priorities, and the incidents classified differently. Progress goes to\n" +
			"stderr. Nothing is stored, published or paged.",
		Example: "  amsctl replay --tenant demo --since 720h --rules candidate.yaml\n" +
			"  amsctl replay --tenant demo --since 24h --rules candidate.yaml -o json",
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if tenant == "" {
				return usageErrorf("--tenant is required: whose alerts and rules to replay")
			}
			if rulesFile == "" {
				return usageErrorf("--rules is required: the candidate classifier file")
			}
			if since <= 0 {
				return usageErrorf("--since must be positive, e.g. 720h for 30 days")
			}
			if maxDiff < 0 {
				return usageErrorf("--max-differences must not be negative")
			}
			data, err := os.ReadFile(rulesFile) //nolint:gosec // the operator names the file
			if err != nil {
				return usageErrorf("read --rules: %v", err)
			}
			req := &amsv1.ReplayRequest{
				Tenant: tenant, Since: durationpb.New(since), CandidateRules: string(data),
				CandidateName: filepath.Base(rulesFile), MaxDifferences: maxDiff,
			}
			timeout := c.timeout
			if !cmd.Flags().Changed("timeout") {
				timeout = replayTimeout
			}
			summary, err := c.replay(cmd.Context(), req, timeout)
			if err != nil {
				return c.rpcError("replay", err)
			}
			if c.jsonWanted() {
				return c.printJSON(summary)
			}
			return c.printReplay(summary, filepath.Base(rulesFile))
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&tenant, "tenant", "", "the tenant whose alerts and rules to replay (required)")
	fs.StringVar(&rulesFile, "rules", "", "the candidate classifier file (required)")
	fs.DurationVar(&since, "since", 0, "how far back to replay, e.g. 720h (required)")
	fs.Int32Var(&maxDiff, "max-differences", 0, "list at most this many differing incidents (default 50)")
	return cmd
}

// replay streams the replay, printing progress to stderr, and returns the summary.
func (c *cli) replay(ctx context.Context, req *amsv1.ReplayRequest, timeout time.Duration) (*amsv1.ReplaySummary, error) {
	saved := c.timeout
	c.timeout = timeout
	defer func() { c.timeout = saved }()
	var summary *amsv1.ReplaySummary
	err := c.withAdmin(ctx, func(ctx context.Context, client amsv1.AdminServiceClient) error {
		stream, err := client.Replay(ctx, req)
		if err != nil {
			return err
		}
		last := time.Time{}
		for {
			resp, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return err
			}
			if resp.GetSummary() != nil {
				summary = resp.GetSummary()
				continue
			}
			if now := time.Now(); now.Sub(last) >= 200*time.Millisecond || resp.GetProcessed() == resp.GetTotal() {
				fmt.Fprintf(c.stderr, "replayed %d/%d alerts\n", resp.GetProcessed(), resp.GetTotal())
				last = now
			}
		}
		if summary == nil {
			return errors.New("the server ended the replay without a summary")
		}
		return nil
	})
	return summary, err
}

func (c *cli) printReplay(s *amsv1.ReplaySummary, candidate string) error {
	fmt.Fprintf(c.stdout, "Replayed %d alerts", s.GetAlerts())
	if s.GetAlerts() > 0 {
		fmt.Fprintf(c.stdout, " from %s to %s", c.formatTime(s.GetFrom().AsTime()), c.formatTime(s.GetTo().AsTime()))
	}
	fmt.Fprint(c.stdout, ".\n\n")
	cur, cand := s.GetCurrent(), s.GetCandidate()
	t := newTable(c.stdout, "", "CURRENT", oneLine(candidate), "CHANGE")
	row := func(name string, a, b int64) {
		t.row(name, strconv.FormatInt(a, 10), strconv.FormatInt(b, 10), delta(a, b))
	}
	row("incidents", cur.GetIncidents(), cand.GetIncidents())
	row("suppressed", cur.GetSuppressed(), cand.GetSuppressed())
	for _, r := range unionKeys(cur.GetSuppressedByReason(), cand.GetSuppressedByReason()) {
		row("  "+truncate(oneLine(r), titleWidth), cur.GetSuppressedByReason()[r], cand.GetSuppressedByReason()[r])
	}
	row("opened (automation or page)", cur.GetActivated(), cand.GetActivated())
	row("  automation runs", cur.GetAutomationRuns(), cand.GetAutomationRuns())
	row("  pages", cur.GetPages(), cand.GetPages())
	row("held by a delay, then resolved", cur.GetHeldThenResolved(), cand.GetHeldThenResolved())
	for _, p := range unionKeys(cur.GetByPriority(), cand.GetByPriority()) {
		row("opened "+p, cur.GetByPriority()[p], cand.GetByPriority()[p])
	}
	if err := t.flush(); err != nil {
		return err
	}
	if s.GetDifferingIncidents() == 0 {
		_, err := fmt.Fprintln(c.stdout, "\nNo incident would be classified differently.")
		return err
	}
	noun := "incidents"
	if s.GetDifferingIncidents() == 1 {
		noun = "incident"
	}
	fmt.Fprintf(c.stdout, "\n%d %s would be classified differently", s.GetDifferingIncidents(), noun)
	if n := len(s.GetDifferences()); int64(n) < s.GetDifferingIncidents() {
		fmt.Fprintf(c.stdout, " (the first %d)", n)
	}
	fmt.Fprint(c.stdout, ":\n")
	t = newTable(c.stdout, "  FIRST SEEN", "TITLE", "CURRENT", "CANDIDATE")
	for _, d := range s.GetDifferences() {
		t.row("  "+c.formatTime(d.GetFirstSeen().AsTime()), truncate(oneLine(d.GetTitle()), 40), oneLine(d.GetCurrent()), oneLine(d.GetCandidate()))
	}
	return t.flush()
}

func delta(a, b int64) string {
	switch {
	case b > a:
		return "+" + strconv.FormatInt(b-a, 10)
	case b < a:
		return strconv.FormatInt(b-a, 10)
	}
	return "="
}

func unionKeys(a, b map[string]int64) []string {
	keys := maps.Collect(maps.All(a))
	maps.Copy(keys, b)
	return slices.Sorted(maps.Keys(keys))
}

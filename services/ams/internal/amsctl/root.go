package amsctl

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

const (
	// defaultServer is where `make run` serves the admin API.
	defaultServer = "127.0.0.1:9090"
	// serverEnv overrides defaultServer so an operator can point every call
	// at one cluster without repeating --server.
	serverEnv = "AMS_SERVER"
)

// cli holds the global flags and the surroundings every command needs.
// Command groups hang their subcommands off it (see incidents.go).
type cli struct {
	env

	server  string
	output  *choiceFlag
	timeout time.Duration
}

func newRootCommand(e env) *cobra.Command {
	c := &cli{
		env:    e,
		output: newChoiceFlag(outputTable, outputTable, outputJSON),
	}
	server := defaultServer
	if s := e.getenv(serverEnv); s != "" {
		server = s
	}

	root := groupCommand(&cobra.Command{
		Use:   "amsctl",
		Short: "Operate AMS: inspect incidents and tickets, send test alerts",
		Long: "amsctl talks to the gRPC admin API of a running ams (see `make run`)\n" +
			"and prints tables, or JSON with -o json.\n" +
			"`amsctl send` posts a test alert to ingest's HTTP API (--url) instead.",
	})
	// Errors are printed once, by run, with the exit code decided there;
	// cobra would otherwise print them too and dump usage on every failed call.
	root.SilenceErrors = true
	root.SilenceUsage = true
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &usageError{err: err}
	})

	pf := root.PersistentFlags()
	pf.StringVar(&c.server, "server", server, "address of the AMS admin API (host:port); $"+serverEnv+" sets the default")
	pf.VarP(c.output, "output", "o", "output format: "+c.output.allowedList())
	pf.DurationVar(&c.timeout, "timeout", 10*time.Second, "how long to wait for the server to answer")

	root.PersistentPreRunE = func(*cobra.Command, []string) error {
		if c.timeout <= 0 {
			return usageErrorf("--timeout must be positive, got %s", c.timeout)
		}
		if c.server == "" {
			return usageErrorf("--server must not be empty")
		}
		return nil
	}

	root.AddCommand(
		c.incidentsCommand(),
		c.ticketsCommand(),
		c.maintenanceCommand(),
		c.rulesCommand(),
		c.replayCommand(),
		c.sendCommand(),
		c.runbooksCommand(),
		c.approvalCommand(true),
		c.approvalCommand(false),
		c.killSwitchCommand(),
	)
	return root
}

// groupCommand makes cmd a command that only holds subcommands. Cobra
// prints help and succeeds for `amsctl incidents lst`; giving the group an
// argument check turns that typo into a usage error instead.
func groupCommand(cmd *cobra.Command) *cobra.Command {
	cmd.Args = func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 {
			return usageErrorf("unknown command %q for %q", args[0], cmd.CommandPath())
		}
		return nil
	}
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return cmd.Help()
	}
	return cmd
}

// exactArgs is cobra.ExactArgs with the failure marked as a usage error and
// the missing arguments named.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != len(names) {
			return usageErrorf("%s takes %d argument(s) (%s), got %d", cmd.CommandPath(), len(names), strings.Join(names, " "), len(args))
		}
		return nil
	}
}

// limitFlag registers the --limit flag shared by the list commands.
func limitFlag(fs *pflag.FlagSet, limit *int32) {
	fs.Int32Var(limit, "limit", 0, "return at most this many (0: the server default, 100)")
}

func checkLimit(limit int32) error {
	if limit < 0 {
		return usageErrorf("--limit must not be negative, got %d", limit)
	}
	return nil
}

// choiceFlag is a string flag that accepts only a fixed set of values, so a
// typo like --state opne fails at parse time with the allowed values listed
// instead of silently returning nothing.
type choiceFlag struct {
	value   string
	allowed []string
}

func newChoiceFlag(def string, allowed ...string) *choiceFlag {
	return &choiceFlag{value: def, allowed: allowed}
}

func (f *choiceFlag) String() string { return f.value }
func (f *choiceFlag) Type() string   { return "string" }

func (f *choiceFlag) Set(s string) error {
	s = strings.ToLower(s)
	if !slices.Contains(f.allowed, s) {
		return fmt.Errorf("must be one of %s", f.allowedList())
	}
	f.value = s
	return nil
}

func (f *choiceFlag) allowedList() string { return strings.Join(f.allowed, ", ") }

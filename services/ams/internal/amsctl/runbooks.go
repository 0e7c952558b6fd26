package amsctl

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/spf13/cobra"

	"github.com/amsproject/ams/services/executor/runbook"
)

func (c *cli) runbooksCommand() *cobra.Command {
	cmd := groupCommand(&cobra.Command{
		Use:   "runbooks",
		Short: "Check runbook files",
	})
	cmd.AddCommand(c.runbooksValidateCommand())
	return cmd
}

func (c *cli) runbooksValidateCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE|DIR...",
		Short: "Check runbook files offline, as the executor would load them (no server needed)",
		Long: "Loads each runbook file, and every *.yaml and *.yml file directly in each directory,\n" +
			"with the executor's rules: strict keys, parameters with safe patterns, placeholders only\n" +
			"as whole values, steps of known kinds with their settings, conditions that compile.\n" +
			"Prints one line per valid runbook, every problem of the others, and exits 1 if any\n" +
			"file fails. Runbook names must be unique across everything given.",
		Example: "  amsctl runbooks validate runbooks/\n" +
			"  amsctl runbooks validate disk-full.yaml web-service-down.yaml",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErrorf("%s takes at least one runbook file or directory", cmd.CommandPath())
			}
			return nil
		},
		RunE: func(_ *cobra.Command, args []string) error {
			files, err := runbookFiles(args)
			if err != nil {
				return err
			}
			var loaded []*runbook.Runbook
			failed := 0
			for _, f := range files {
				rb, err := runbook.LoadFile(f)
				if err != nil {
					failed++
					fmt.Fprintln(c.stderr, multiLine(err.Error()))
					continue
				}
				loaded = append(loaded, rb)
			}
			dups := runbook.DuplicateNames(loaded)
			bad := map[string]bool{}
			for _, p := range dups {
				fmt.Fprintln(c.stderr, multiLine(p.String()))
				bad[p.Source] = true
			}
			failed += len(bad)
			t := newTable(c.stdout)
			for _, rb := range loaded {
				if bad[rb.Source] {
					continue
				}
				t.row("ok", rb.Source, rb.Name, fmt.Sprintf("%d steps (%d recovery)", len(rb.Steps), rb.RecoverySteps()))
			}
			if err := t.flush(); err != nil {
				return err
			}
			if failed > 0 {
				return fmt.Errorf("%d of %d runbook files failed validation", failed, len(files))
			}
			return nil
		},
	}
}

// runbookFiles expands the arguments: a file is taken as given, a
// directory gives its *.yaml and *.yml files, sorted. A directory without
// any, or a path that does not exist, is a usage error.
func runbookFiles(args []string) ([]string, error) {
	var files []string
	for _, arg := range args {
		info, err := os.Stat(arg)
		if err != nil {
			return nil, usageErrorf("%v", unwrapPathError(err))
		}
		if !info.IsDir() {
			files = append(files, arg)
			continue
		}
		entries, err := os.ReadDir(arg)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", arg, err)
		}
		var found []string
		for _, e := range entries {
			if !e.IsDir() && runbook.IsRunbookFile(e.Name()) {
				found = append(found, filepath.Join(arg, e.Name()))
			}
		}
		if len(found) == 0 {
			return nil, usageErrorf("%s holds no runbook files (*.yaml, *.yml)", arg)
		}
		slices.Sort(found)
		files = append(files, found...)
	}
	return files, nil
}

func unwrapPathError(err error) error {
	if pe, ok := errors.AsType[*os.PathError](err); ok {
		return fmt.Errorf("%s: %w", pe.Path, pe.Err)
	}
	return err
}

package runbook_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/amsproject/ams/services/executor/runbook"
)

// TestSetReload: a changed file is picked up, a broken one is refused
// while the previous set stays in force, and nothing unchanged reloads.
func TestSetReload(t *testing.T) {
	src, err := os.ReadFile("testdata/high-cpu.yaml")
	require.NoError(t, err)
	dir := t.TempDir()
	write := func(name, text string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600))
	}
	write("high-cpu.yaml", string(src))
	set, err := runbook.NewSet(dir)
	require.NoError(t, err)
	first := set.Runbooks()["high-cpu"]
	require.NotNil(t, first)
	require.Equal(t, src, first.Text)

	changed, err := set.Reload()
	require.NoError(t, err)
	require.False(t, changed, "nothing changed")

	edited := strings.Replace(string(src), "description:", "description: (edited)", 1)
	write("high-cpu.yaml", edited)
	changed, err = set.Reload()
	require.NoError(t, err)
	require.True(t, changed)
	require.Contains(t, set.Runbooks()["high-cpu"].Description, "(edited)")
	require.Contains(t, string(first.Text), "description:", "a runbook already handed out is not changed")
	require.NotContains(t, first.Description, "(edited)")

	// A broken new file: the whole reload is refused, the set stays.
	write("broken.yaml", "name: broken\nsteps: [\n")
	changed, err = set.Reload()
	require.Error(t, err)
	require.Contains(t, err.Error(), "broken.yaml")
	require.False(t, changed)
	require.Len(t, set.Runbooks(), 1)
	require.Contains(t, set.Runbooks()["high-cpu"].Description, "(edited)")

	// Removed again: the files are the set in force, nothing to load.
	require.NoError(t, os.Remove(filepath.Join(dir, "broken.yaml")))
	write("notes.txt", "not a runbook")
	changed, err = set.Reload()
	require.NoError(t, err)
	require.False(t, changed)

	// Fixed: the next reload takes it.
	write("broken.yaml", strings.Replace(string(src), "name: high-cpu", "name: high-cpu-2", 1))
	changed, err = set.Reload()
	require.NoError(t, err)
	require.True(t, changed)
	require.Len(t, set.Runbooks(), 2)

	_, err = runbook.NewSet(filepath.Join(dir, "missing"))
	require.ErrorContains(t, err, "read runbook directory")
}

package runbook

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds Load arbitrary bytes: it must never panic, and whatever it
// accepts must be usable.
func FuzzLoad(f *testing.F) {
	for _, name := range []string{"disk-full.yaml", "web-service-down.yaml", "ec2-status-check-failed.yaml", "high-cpu.yaml"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(everyKind))
	f.Fuzz(func(t *testing.T, data []byte) {
		rb, err := Load(data, "fuzz.yaml")
		if err != nil {
			return
		}
		_ = rb.RecoverySteps()
		_, _ = rb.Parameters(context.Background(), diskAlert("web-01", "/"), nil)
	})
}

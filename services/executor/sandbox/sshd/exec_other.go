//go:build !unix

package sshd

import "os/exec"

// setProcessGroup does nothing where there are no process groups; the
// sandbox runs on Unix, this only keeps the module building elsewhere.
func setProcessGroup(*exec.Cmd) {}

func exitStatus(ee *exec.ExitError) int { return ee.ExitCode() }

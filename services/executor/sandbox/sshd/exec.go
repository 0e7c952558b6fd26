package sshd

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"time"
)

// killGrace is how long a killed command's children may keep its output
// pipes open before Shell stops waiting for them.
const killGrace = 2 * time.Second

// Shell returns the ExecFunc that runs a command as OpenSSH's sshd does for
// an account whose login shell is /bin/sh: argv is ["sh", "-c", command],
// stdin is empty, and the environment is the minimal one sshd builds
// (PATH, HOME, USER, LOGNAME, SHELL) rather than the server process's own,
// so nothing from the test process leaks into what the command sees. dir is
// the working directory and HOME.
//
// When ctx ends the whole process group is killed, so a `sleep` started by
// the shell does not outlive the session.
func Shell(dir string) ExecFunc {
	return func(ctx context.Context, user, command string) ([]byte, []byte, int) {
		cmd := exec.CommandContext(ctx, "/bin/sh", "-c", command) //nolint:gosec // a test SSH server: running the client's command is its job
		// sshd passes the shell's base name as argv[0].
		cmd.Args[0] = "sh"
		cmd.Dir = dir
		cmd.Env = []string{
			"PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
			"HOME=" + dir,
			"USER=" + user,
			"LOGNAME=" + user,
			"SHELL=/bin/sh",
		}
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		setProcessGroup(cmd)
		cmd.WaitDelay = killGrace
		err := cmd.Run()
		var ee *exec.ExitError
		switch {
		case err == nil:
			return stdout.Bytes(), stderr.Bytes(), 0
		case errors.As(err, &ee):
			return stdout.Bytes(), stderr.Bytes(), exitStatus(ee)
		default:
			// The shell could not be started: sshd reports this on stderr
			// with status 127 (command not found), as a shell would.
			stderr.WriteString("sh: " + err.Error() + "\n")
			return stdout.Bytes(), stderr.Bytes(), 127
		}
	}
}

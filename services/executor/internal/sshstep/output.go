package sshstep

import (
	"strings"
	"sync"

	"github.com/amsproject/ams/services/executor/internal/step"
)

// capWriter keeps the first max bytes of one output stream. A host can
// print gigabytes; the rest is counted and dropped, never stored, but still
// read so the remote command is not blocked on a full SSH window and can
// finish and report its exit status.
type capWriter struct {
	max int

	mu    sync.Mutex // Write runs in x/crypto/ssh's copying goroutine
	buf   []byte
	total int
}

func newCapWriter(max int) *capWriter { return &capWriter{max: max} }

func (w *capWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.total += len(p)
	if room := w.max - len(w.buf); room > 0 {
		w.buf = append(w.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// text is the stream as valid UTF-8 of at most limit bytes, cut as
// step.Cap cuts, the note counting the bytes dropped while reading too.
func (w *capWriter) text(limit int) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return step.CapDropped(string(w.buf), w.total-len(w.buf), limit)
}

func (w *capWriter) size() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.total
}

// stderrLabel separates stderr from stdout in Result.Output.
const stderrLabel = "--- stderr ---\n"

// output is Result.Output: stdout, then stderr under a label when there
// was any, in at most max bytes. The streams are kept apart rather than
// interleaved because their arrival order over SSH is not reliable, and a
// runbook's `when` may compare the output: a quiet command's output is
// exactly its stdout. When both are long, stderr keeps at least half the
// room: that is where the reason for a failure usually is.
func output(stdout, stderr *capWriter, max int) string {
	if stderr.size() == 0 {
		return stdout.text(max)
	}
	room := max - len(stderrLabel) - 1 // -1: a newline ending stdout
	so, se := stdout.size(), stderr.size()
	seRoom := min(se, room)
	if so+se > room {
		seRoom = min(se, room-min(so, room/2))
	}
	out := stdout.text(room - seRoom)
	if out != "" && !strings.HasSuffix(out, "\n") {
		out += "\n"
	}
	return out + stderrLabel + stderr.text(seRoom)
}

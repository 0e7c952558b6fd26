package maintenance

import (
	"testing"
	"time"
)

// FuzzConfig feeds arbitrary documents through decoding, checking and the
// schedule questions: nothing may panic or hang, and a window that passes
// the checks answers consistently.
func FuzzConfig(f *testing.F) {
	f.Add([]byte(exampleConfig))
	f.Add([]byte("maintenance:\n  - name: x\n    match: 'true'\n    recurring: {rrule: \"FREQ=MONTHLY;BYDAY=-1SU;BYSETPOS=1\", duration: 3h, time_zone: Australia/Lord_Howe}\n"))
	f.Add([]byte("maintenance:\n  - name: x\n    match: 'true'\n    recurring: {cron: \"@weekly\", duration: 1h, time_zone: America/Sao_Paulo}\n"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		c, err := ParseConfig(doc)
		if err != nil {
			return
		}
		ws, err := c.Windows("acme", fakeCompile)
		if err != nil {
			return
		}
		now := time.Date(2026, 3, 8, 7, 30, 0, 0, time.UTC)
		for _, w := range ws {
			if end, ok := w.NextEnd(now); ok != w.Active(now) || (ok && !end.After(now)) {
				t.Fatalf("%s: active %v, NextEnd %s %v", w.Name, w.Active(now), end, ok)
			}
			if start, ok := w.NextStart(now); ok && !start.After(now) {
				t.Fatalf("%s: NextStart %s is not after %s", w.Name, start, now)
			}
		}
	})
}

// FuzzUnmarshal feeds arbitrary JSON to the runtime window decoder.
func FuzzUnmarshal(f *testing.F) {
	for _, w := range runtimeWindows(f) {
		b, err := Marshal(w)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		w, err := Unmarshal(b)
		if err != nil {
			return
		}
		if w.Compile(fakeCompile) != nil {
			return
		}
		now := time.Date(2026, 11, 1, 6, 30, 0, 0, time.UTC)
		_ = w.Active(now)
		_, _ = w.NextStart(now)
		again, err := Marshal(w)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Unmarshal(again); err != nil {
			t.Fatalf("a decoded window does not decode again: %v\n%s", err, again)
		}
	})
}

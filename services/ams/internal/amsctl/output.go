package amsctl

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Output formats accepted by -o.
const (
	outputTable = "table"
	outputJSON  = "json"
)

func (c *cli) jsonWanted() bool { return c.output.value == outputJSON }

// printJSON prints m with the proto field names (incident_id, not
// incidentId) so the JSON matches the .proto files operators read, and
// leaves out unset fields to keep it short.
func (c *cli) printJSON(m proto.Message) error {
	b, err := protojson.MarshalOptions{
		UseProtoNames:   true,
		Multiline:       true,
		Indent:          "  ",
		EmitUnpopulated: false,
	}.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode %s as JSON: %w", m.ProtoReflect().Descriptor().FullName(), err)
	}
	_, err = fmt.Fprintf(c.stdout, "%s\n", b)
	return err
}

// table lays out rows in aligned columns. It buffers everything so it can
// drop the trailing padding tabwriter leaves after a last empty header cell.
type table struct {
	w   io.Writer
	buf bytes.Buffer
	tw  *tabwriter.Writer
}

func newTable(w io.Writer, header ...string) *table {
	t := &table{w: w}
	t.tw = tabwriter.NewWriter(&t.buf, 0, 0, 2, ' ', 0)
	if len(header) > 0 {
		t.row(header...)
	}
	return t
}

// row adds one line; cells must already be single-line (see oneLine).
func (t *table) row(cells ...string) {
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

func (t *table) flush() error {
	if err := t.tw.Flush(); err != nil {
		return err
	}
	var out strings.Builder
	for line := range strings.Lines(t.buf.String()) {
		out.WriteString(strings.TrimRight(line, " \n"))
		out.WriteByte('\n')
	}
	_, err := io.WriteString(t.w, out.String())
	return err
}

// when renders a timestamp as two cells: how long ago, and the time itself
// in the operator's zone. A missing timestamp is shown as "-" in both.
func (c *cli) when(ts *timestamppb.Timestamp) (ago, at string) {
	if ts == nil {
		return "-", "-"
	}
	t := ts.AsTime()
	return age(c.now(), t), c.formatTime(t)
}

// whenText is when as one string, for key: value blocks.
func (c *cli) whenText(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return "-"
	}
	ago, at := c.when(ts)
	return at + " (" + ago + ")"
}

func (c *cli) formatTime(t time.Time) string {
	return t.In(c.loc).Format("2006-01-02 15:04:05 MST")
}

// age says how long before now t was, in the coarsest unit that still
// tells incidents apart at a glance, like kubectl's AGE column.
func age(now, t time.Time) string {
	d := now.Sub(t)
	suffix := " ago"
	prefix := ""
	if d < 0 {
		// The server's clock may run a little ahead of ours.
		d = -d
		prefix, suffix = "in ", ""
	}
	var s string
	switch {
	case d < time.Second:
		return "just now"
	case d < time.Minute:
		s = strconv.Itoa(int(d/time.Second)) + "s"
	case d < time.Hour:
		s = strconv.Itoa(int(d/time.Minute)) + "m"
	case d < 48*time.Hour:
		s = strconv.Itoa(int(d/time.Hour)) + "h"
	default:
		s = strconv.Itoa(int(d/(24*time.Hour))) + "d"
	}
	return prefix + s + suffix
}

// enumLabel is the short lowercase name of an enum value with the type's
// prefix taken off (INCIDENT_STATE_OPEN → open), or "-" when unset. A value
// this build does not know (a newer server) is shown as its number.
func enumLabel(e protoreflect.Enum, prefix string) string {
	n := e.Number()
	if n == 0 {
		return "-"
	}
	v := e.Descriptor().Values().ByNumber(n)
	if v == nil {
		return strconv.Itoa(int(n))
	}
	return strings.ToLower(strings.TrimPrefix(string(v.Name()), prefix))
}

// enumChoices lists the values a flag accepts for an enum, in declaration
// order and without the unspecified zero value, and maps each back to its number.
func enumChoices(ed protoreflect.EnumDescriptor, prefix string) ([]string, map[string]protoreflect.EnumNumber) {
	values := ed.Values()
	names := make([]string, 0, values.Len())
	byName := make(map[string]protoreflect.EnumNumber, values.Len())
	for i := range values.Len() {
		v := values.Get(i)
		if v.Number() == 0 {
			continue
		}
		name := strings.ToLower(strings.TrimPrefix(string(v.Name()), prefix))
		names = append(names, name)
		byName[name] = v.Number()
	}
	return names, byName
}

// oneLine makes server-provided text safe for a table cell: alert titles
// come from outside, and a newline, tab or terminal escape in one must not
// break the layout or drive the operator's terminal.
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	if s = strings.TrimSpace(s); s == "" {
		return "-"
	}
	return s
}

// multiLine is oneLine for text shown on its own lines (ticket entries):
// newlines and tabs stay, other control characters go.
func multiLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' {
			return r
		}
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, strings.TrimRight(s, "\n"))
}

// truncate shortens s to at most n runes so one long title does not push
// the other columns off the screen; `get` shows the full text.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

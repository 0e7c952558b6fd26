package rules

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
)

func TestLoad(t *testing.T) {
	set, err := Load([]byte(`
rules:
  - name: db-disk-full
    when: 'alert.labels["alertname"] == "DiskFull" && alert.severity >= SEVERITY_ERROR'
    set:
      priority: P1
      category: storage
      labels: {team: dba}
      runbook: disk-cleanup
      escalation_policy: dba-oncall
    suppress: "known noise during nightly backup"
    delay: 10m
    stop: true
`), "demo.yaml")
	require.NoError(t, err)
	require.Equal(t, "demo.yaml", set.Source())
	require.Equal(t, 1, set.Len())
	require.Equal(t, []Rule{{
		Name: "db-disk-full",
		When: `alert.labels["alertname"] == "DiskFull" && alert.severity >= SEVERITY_ERROR`,
		Set: Actions{Priority: "P1", Category: "storage", Labels: map[string]string{"team": "dba"},
			Runbook: "disk-cleanup", EscalationPolicy: "dba-oncall"},
		Suppress: "known noise during nightly backup",
		Delay:    "10m",
		Stop:     true,
	}}, set.Rules())
}

func TestLoadEmpty(t *testing.T) {
	for name, doc := range map[string]string{
		"empty file":  "",
		"only a note": "# no rules yet\n",
		"empty list":  "rules: []\n",
	} {
		t.Run(name, func(t *testing.T) {
			set, err := Load([]byte(doc), "t.yaml")
			require.NoError(t, err)
			require.Equal(t, 0, set.Len())
		})
	}
}

// rule makes a one-rule file with the given lines (indented under "- ").
func rule(lines ...string) string {
	return "rules:\n  - " + strings.Join(lines, "\n    ") + "\n"
}

func TestLoadErrors(t *testing.T) {
	cases := []struct {
		name string
		doc  string
		want []string
	}{{
		name: "syntax error with position",
		doc:  rule("name: broken", `when: 'alert.severity >= '`, "set: {priority: P1}"),
		want: []string{
			`t.yaml:3: rules[0] "broken": when: 1:18: Syntax error: mismatched input '<EOF>'`,
			"    | alert.severity >=\n    | .................^",
		},
	}, {
		name: "syntax error on the second line of a block",
		doc:  rule("name: broken", "when: |", "  alert.severity >= SEVERITY_ERROR &&", "    (alert.summary == ", "set: {priority: P1}"),
		want: []string{`t.yaml:3: rules[0] "broken": when: 2:20: Syntax error`},
	}, {
		name: "unknown field",
		doc:  rule("name: typo", `when: 'alert.lables["alertname"] == "DiskFull"'`, "set: {priority: P1}"),
		want: []string{
			`t.yaml:3: rules[0] "typo": when: 1:6: undefined field 'lables'; did you mean 'labels'?`,
			"    | alert.lables[\"alertname\"] == \"DiskFull\"\n    | .....^",
		},
	}, {
		name: "unknown nested field",
		doc:  rule("name: typo", `when: 'alert.resource.hostname == "db-1"'`, "set: {priority: P1}"),
		want: []string{`when: 1:15: undefined field 'hostname'; did you mean 'host'?`},
	}, {
		name: "undeclared variable",
		doc:  rule("name: typo", `when: 'alrt.severity > 2'`, "set: {priority: P1}"),
		want: []string{`when: 1:1: undeclared reference to 'alrt' (in container 'ams.v1') (did you mean 'alert'?)`},
	}, {
		name: "misspelt enum value",
		doc:  rule("name: typo", `when: 'alert.severity >= SEVERITY_EROR'`, "set: {priority: P1}"),
		want: []string{`did you mean 'SEVERITY_ERROR'?`},
	}, {
		name: "enum compared with a string",
		doc:  rule("name: types", `when: 'alert.severity == "critical"'`, "set: {priority: P1}"),
		want: []string{`when: 1:16: found no matching overload for '_==_' applied to '(int, string)'; the operand types do not fit`},
	}, {
		name: "non-bool when",
		doc:  rule("name: not-bool", `when: 'alert.labels["env"]'`, "set: {priority: P1}"),
		want: []string{`t.yaml:3: rules[0] "not-bool": when: must be a boolean condition but is of type string; compare it`},
	}, {
		name: "missing when",
		doc:  rule("name: no-when", "set: {priority: P1}"),
		want: []string{`t.yaml:2: rules[0] "no-when": when: missing; write a CEL condition, or "true" to match every alert`},
	}, {
		name: "missing name",
		doc:  rule("when: 'true'", "set: {priority: P1}"),
		want: []string{`t.yaml:2: rules[0]: name: missing; give every rule a unique name`},
	}, {
		name: "bad name",
		doc:  rule("name: disk full", "when: 'true'", "set: {priority: P1}"),
		want: []string{`t.yaml:2: rules[0] "disk full": name: "disk full" must start with a letter or digit and contain only letters, digits`},
	}, {
		name: "duplicate rule name",
		doc: "rules:\n" +
			"  - {name: disk, when: 'true', set: {priority: P2}}\n" +
			"  - {name: disk, when: 'true', set: {priority: P1}}\n",
		want: []string{`t.yaml:3: rules[1] "disk": name: "disk" is already used by rules[0]; rule names must be unique`},
	}, {
		name: "bad priority",
		doc:  rule("name: p0", "when: 'true'", "set: {priority: P0}"),
		want: []string{`t.yaml:4: rules[0] "p0": set.priority: "P0" is not a priority; use one of P1 (most urgent), P2, P3, P4, P5`},
	}, {
		name: "priority spelt as the enum",
		doc:  rule("name: p1", "when: 'true'", "set: {priority: PRIORITY_P1}"),
		want: []string{`set.priority: "PRIORITY_P1" is not a priority`},
	}, {
		name: "bad delay",
		doc:  rule("name: slow", "when: 'true'", "delay: 10 minutes"),
		want: []string{`t.yaml:4: rules[0] "slow": delay: "10 minutes" is not a duration; write it like 90s, 10m or 1h30m`},
	}, {
		name: "delay without unit",
		doc:  rule("name: slow", "when: 'true'", "delay: 10"),
		want: []string{`delay: "10" is not a duration`},
	}, {
		name: "negative delay",
		doc:  rule("name: slow", "when: 'true'", "delay: -1m"),
		want: []string{`delay: "-1m" is negative`},
	}, {
		name: "empty label name",
		doc:  rule("name: lbl", "when: 'true'", `set: {labels: {"": x}}`),
		want: []string{`set.labels: a label name is empty`},
	}, {
		name: "rule without effect",
		doc:  rule("name: idle", "when: 'true'"),
		want: []string{`t.yaml:2: rules[0] "idle": the rule does nothing; give it set, suppress, delay or stop: true`},
	}, {
		name: "unknown key in a rule",
		doc:  rule("name: x", "when: 'true'", "suppres: noisy"),
		want: []string{`t.yaml:4: unknown key "suppres" in a rule; allowed keys: name, when, set, suppress, delay, stop`},
	}, {
		name: "unknown key in set",
		doc:  rule("name: x", "when: 'true'", "set: {priority: P1, team: dba}"),
		want: []string{`t.yaml:4: unknown key "team" in set; allowed keys: priority, category, labels, runbook, escalation_policy`},
	}, {
		name: "unknown top-level key",
		doc:  "rule:\n  - name: x\n",
		want: []string{`t.yaml:1: unknown key "rule" at the top level; the only key is rules`},
	}, {
		name: "wrong type",
		doc:  rule("name: x", "when: 'true'", "stop: maybe"),
		want: []string{"t.yaml:4: cannot unmarshal !!str `maybe`; want true or false"},
	}, {
		name: "rules not a list",
		doc:  "rules: {name: x}\n",
		want: []string{"t.yaml:1: cannot unmarshal !!map; want a list of rules"},
	}, {
		name: "labels not a mapping",
		doc:  rule("name: x", "when: 'true'", "set: {labels: [team]}"),
		want: []string{"t.yaml:4: cannot unmarshal !!seq; want a mapping of label names to values"},
	}, {
		name: "duplicate key",
		doc:  rule("name: x", "name: y", "when: 'true'", "stop: true"),
		want: []string{`t.yaml:3: mapping key "name" already defined at line 2`},
	}, {
		name: "YAML syntax error",
		doc:  rule("name: x", "when: alert.summary: x", "stop: true"),
		want: []string{"t.yaml:3: mapping values are not allowed in this context; quote a condition that contains \": \""},
	}, {
		name: "two documents",
		doc:  rule("name: x", "when: 'true'", "stop: true") + "---\nrules: []\n",
		want: []string{"t.yaml: more than one YAML document"},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			set, err := Load([]byte(tc.doc), "t.yaml")
			require.Error(t, err)
			require.Nil(t, set)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}
}

// A file with many problems reports all of them, each once, in file order.
func TestLoadReportsEveryError(t *testing.T) {
	_, err := Load([]byte(`rules:
  - name: a
    when: alert.lables.x == "y"
    set: {priority: P9}
  - name: a
    when: 'alert.summary'
    delay: soon
    colour: blue
  - name: ok
    when: "true"
    stop: true
`), "many.yaml")
	require.Error(t, err)
	got := strings.Split(err.Error(), "\n")
	var heads []string
	for _, l := range got {
		if !strings.HasPrefix(l, "    |") {
			heads = append(heads, l)
		}
	}
	require.Equal(t, []string{
		`many.yaml:8: unknown key "colour" in a rule; allowed keys: name, when, set, suppress, delay, stop`,
		`many.yaml:3: rules[0] "a": when: 1:6: undefined field 'lables'; did you mean 'labels'?`,
		`many.yaml:4: rules[0] "a": set.priority: "P9" is not a priority; use one of P1 (most urgent), P2, P3, P4, P5`,
		`many.yaml:5: rules[1] "a": name: "a" is already used by rules[0]; rule names must be unique`,
		`many.yaml:6: rules[1] "a": when: must be a boolean condition but is of type string; compare it, e.g. alert.labels["env"] == "prod"`,
		`many.yaml:7: rules[1] "a": delay: "soon" is not a duration; write it like 90s, 10m or 1h30m`,
	}, heads)
}

func TestCompile(t *testing.T) {
	set, err := Compile([]Rule{
		{Name: "p1", When: "alert.severity == SEVERITY_CRITICAL", Set: Actions{Priority: "P1"}},
		{Name: "p1", When: "1", Set: Actions{Priority: "P1"}},
	}, "admin-api")
	require.Nil(t, set)
	require.EqualError(t, err, `admin-api: rules[1] "p1": name: "p1" is already used by rules[0]; rule names must be unique`+"\n"+
		`admin-api: rules[1] "p1": when: must be a boolean condition but is of type int; compare it, e.g. alert.labels["env"] == "prod"`)

	set, err = Compile([]Rule{{Name: "p1", When: "alert.severity == SEVERITY_CRITICAL", Set: Actions{Priority: "P1"}}}, "admin-api")
	require.NoError(t, err)
	d, _ := set.Evaluate(t.Context(), Input{Alert: &amsv1.Alert{Severity: amsv1.Severity_SEVERITY_CRITICAL}})
	require.Equal(t, amsv1.Priority_PRIORITY_P1, d.Priority)
}

func TestPriorityNames(t *testing.T) {
	for i, name := range []string{"P1", "P2", "P3", "P4", "P5"} {
		set, err := Compile([]Rule{{Name: "r", When: "true", Set: Actions{Priority: name}}}, "t")
		require.NoError(t, err)
		d, _ := set.Evaluate(t.Context(), Input{})
		require.Equal(t, amsv1.Priority(i+1), d.Priority)
		require.Equal(t, name, PriorityName(d.Priority))
	}
	require.Empty(t, PriorityName(amsv1.Priority_PRIORITY_UNSPECIFIED))
}

// FuzzLoad feeds arbitrary files to Load: it must return a Set or an error,
// never panic, and a Set it returns must evaluate.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(rule("name: a", `when: 'alert.labels.?alertname.orValue("") == "DiskFull"'`, "set: {priority: P1, labels: {team: dba}}", "delay: 2m", "stop: true")))
	f.Add([]byte(rule("name: b", "when: alert.severity >= SEVERITY_ERROR && now.getHours(\"Asia/Tokyo\") < 6", "suppress: night")))
	f.Add([]byte("rules:\n  - {name: c, when: '[1,2].all(x, x > 0)', set: {category: x}}\n"))
	f.Add([]byte("rules: [{name: d, when: 'alert.lables', colour: red}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		set, err := Load(data, "fuzz.yaml")
		if err != nil {
			require.Nil(t, set)
			return
		}
		_, tr := set.Evaluate(t.Context(), Input{Alert: &amsv1.Alert{Labels: map[string]string{"alertname": "DiskFull"}}})
		require.Len(t, tr.Rules, set.Len())
	})
}

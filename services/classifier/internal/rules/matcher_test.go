package rules

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestCompileMatcher(t *testing.T) {
	// at is 02:30 in Tokyo.
	cases := []struct {
		name string
		expr string
		want bool
	}{
		{name: "true", expr: "true", want: true},
		{name: "host prefix", expr: `alert.resource.host.startsWith("db-")`, want: true},
		{name: "other host", expr: `alert.resource.host.startsWith("web-")`, want: false},
		{name: "label and enum", expr: `alert.labels["env"] == "prod" && alert.severity >= SEVERITY_ERROR`, want: true},
		{name: "optional label", expr: `alert.labels.?team.orValue("none") == "none"`, want: true},
		{name: "now in a zone", expr: `now.getHours("Asia/Tokyo") == 2`, want: true},
		{name: "comprehension variable named like a rules variable", expr: `alert.labels.exists(tenant, tenant == "env")`, want: true},
		{name: "bound variable named like a rules variable", expr: `cel.bind(incident, alert.resource.host, incident == "db-01")`, want: true},
		{name: "trailing newline", expr: "alert.labels[\"job\"] == \"node\"\n", want: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := CompileMatcher(tc.expr)
			require.NoError(t, err)
			got, err := m.MatchAt(diskFull(), at)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
			require.Equal(t, tc.expr, m.String())
		})
	}
}

func TestMatcherNowDefaultsToTheClock(t *testing.T) {
	m, err := CompileMatcher(`now > timestamp("2020-01-01T00:00:00Z")`)
	require.NoError(t, err)
	got, err := m.Match(diskFull())
	require.NoError(t, err)
	require.True(t, got)
}

func TestMatcherNilAlert(t *testing.T) {
	m, err := CompileMatcher(`alert.summary == ""`)
	require.NoError(t, err)
	got, err := m.Match(nil)
	require.NoError(t, err)
	require.True(t, got)
}

func TestCompileMatcherErrors(t *testing.T) {
	cases := []struct {
		name string
		expr string
		want []string // each must appear in the error
	}{
		{
			name: "missing",
			expr: "  ",
			want: []string{`missing; write a CEL condition over alert, or "true"`},
		},
		{
			name: "misspelt field",
			expr: `alert.resource.hostname == "db-01"`,
			want: []string{"1:15: undefined field 'hostname'; did you mean 'host'?", "    | alert.resource.hostname", "    | ..............^"},
		},
		{
			name: "type error",
			expr: `alert.severity == "critical"`,
			want: []string{"1:16: found no matching overload for '_==_'", "enums are ints"},
		},
		{
			name: "not a boolean",
			expr: `alert.resource.host`,
			want: []string{"must be a boolean condition but is of type string"},
		},
		{
			name: "syntax error",
			expr: `alert.resource.host ==`,
			want: []string{"1:23: Syntax error"},
		},
		{
			name: "incident is not available",
			expr: "alert.summary != \"\" &&\n  incident.category == \"disk\"",
			want: []string{"2:3: incident is not available here: a match sees only alert and now", "    |   incident.category", "    | ..^"},
		},
		{
			name: "tenant is not available",
			expr: `tenant.id == "acme"`,
			want: []string{"1:1: tenant is not available here"},
		},
		{
			name: "outside the comprehension that shadows it",
			expr: `alert.labels.exists(tenant, tenant == "env") || tenant.id == ""`,
			want: []string{"1:49: tenant is not available here"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := CompileMatcher(tc.expr)
			require.Error(t, err)
			require.Nil(t, m)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestMatcherRuntimeErrors(t *testing.T) {
	cases := []struct {
		name string
		expr string
		want string
	}{
		{
			name: "missing map key",
			expr: `alert.labels["team"] == "dba"`,
			want: `no such key: team (use alert.labels.?name.orValue("") or "name" in alert.labels when a key may be absent)`,
		},
		{
			name: "cost limit",
			expr: `[1,2,3,4,5,6,7,8,9,10].all(a, [1,2,3,4,5,6,7,8,9,10].all(b, [1,2,3,4,5,6,7,8,9,10].all(c, [1,2,3,4,5,6,7,8,9,10].all(d, [1,2,3,4,5,6,7,8,9,10].all(e, true)))))`,
			want: "cost limit 100000 exceeded",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := CompileMatcher(tc.expr)
			require.NoError(t, err)
			got, err := m.MatchAt(diskFull(), time.Now())
			require.False(t, got)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

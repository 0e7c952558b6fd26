package runbook

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
)

func TestEvaluation(t *testing.T) {
	ctx := context.Background()
	rb, err := Load([]byte(everyKind), "every.yaml")
	require.NoError(t, err)

	// Resolve: whole values only, the template untouched.
	params := map[string]string{"host": "web-1.acme.internal", "instance": "i-0123456789abcdef0", "url": "https://web-1.acme.internal/"}
	fix := rb.Step("fix")
	got, err := fix.Resolve(params)
	require.NoError(t, err)
	require.Equal(t, "i-0123456789abcdef0", got.SSM.Instance)
	require.Equal(t, map[string]string{"Host": "web-1.acme.internal", "Mode": "quick"}, got.SSM.Parameters)
	require.Equal(t, "{{host}}", fix.SSM.Parameters["Host"], "the loaded runbook is not changed")
	ssh, err := rb.Step("restart-over-ssh").Resolve(params)
	require.NoError(t, err)
	require.Equal(t, "web-1.acme.internal", ssh.SSH.Host)
	require.Equal(t, []string{"systemctl", "restart", "nginx.service"}, ssh.SSH.Argv)
	_, err = fix.Resolve(map[string]string{"host": "x"})
	require.ErrorContains(t, err, "step fix: no value for [instance]")

	// when and until over earlier results.
	runs, err := fix.Runs(ctx, map[string]StepResult{
		"check-ssh": {ExitCode: 1}, "status": {OK: false}, "port": {Output: "connection refused"},
	})
	require.NoError(t, err)
	require.True(t, runs)
	runs, err = fix.Runs(ctx, map[string]StepResult{"check-ssh": {ExitCode: 0}, "status": {}, "port": {}})
	require.NoError(t, err)
	require.False(t, runs)
	_, err = fix.Runs(ctx, nil)
	require.ErrorContains(t, err, "step fix: when:", "a step that has not run has no result: the condition errs, it does not guess")
	always, err := rb.Step("site").Runs(ctx, nil)
	require.NoError(t, err)
	require.True(t, always)

	healthy, err := rb.Step("verify-site").Verify.Healthy(ctx, map[string]StepResult{"site": {OK: false}, "fixed-site": {OK: true}})
	require.NoError(t, err)
	require.True(t, healthy)
	healthy, err = rb.Step("verify-site").Verify.Healthy(ctx, map[string]StepResult{"site": {}, "fixed-site": {}})
	require.NoError(t, err)
	require.False(t, healthy)

	require.Equal(t, "Look at web-1.acme.internal (i-0123456789abcdef0); the site is https://web-1.acme.internal/.\n", rb.RenderProcedure(params))
	require.Nil(t, rb.Step("nope"))
}

func TestAppliesTo(t *testing.T) {
	ctx := context.Background()
	src := strings.Replace(header, "description: d\n", "description: d\napplies_to: 'alert.labels.?os.orValue(\"linux\") == \"linux\" && incident.priority != ams.v1.Priority.PRIORITY_P5'\n", 1) + okStep
	rb, err := Load([]byte(src), "t.yaml")
	require.NoError(t, err)
	ok, err := rb.Applies(ctx, &amsv1.Alert{Labels: map[string]string{"os": "windows"}}, &amsv1.Incident{Priority: amsv1.Priority_PRIORITY_P2})
	require.NoError(t, err)
	require.False(t, ok)
	ok, err = rb.Applies(ctx, &amsv1.Alert{}, &amsv1.Incident{Priority: amsv1.Priority_PRIORITY_P2})
	require.NoError(t, err)
	require.True(t, ok)

	_, err = Load([]byte(strings.Replace(header, "description: d\n", "description: d\napplies_to: 'alert.summary'\n", 1)+okStep), "t.yaml")
	require.ErrorContains(t, err, "t.yaml:3: applies_to: must give a bool, but gives string")

	none, err := Load([]byte(header+okStep), "t.yaml")
	require.NoError(t, err)
	ok, err = none.Applies(ctx, nil, nil)
	require.NoError(t, err)
	require.True(t, ok)
}

func TestSSMInstance(t *testing.T) {
	for name, tc := range map[string]struct{ block, want string }{
		"missing":       {`ssm: {document: Doc-1}`, `step "a": ssm.instance: missing`},
		"fixed":         {`ssm: {document: Doc-1, instance: i-0123456789abcdef0}`, `ssm.instance: "i-0123456789abcdef0" must be a parameter`},
		"spliced":       {`ssm: {document: Doc-1, instance: "i-{{host}}"}`, `ssm.instance: "i-{{host}}": a parameter must be a whole value`},
		"unknown param": {`ssm: {document: Doc-1, instance: "{{nope}}"}`, `ssm.instance: {{nope}} names no parameter`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Load([]byte(header+"  - name: a\n    kind: ssm\n    "+tc.block+"\n"), "t.yaml")
			require.ErrorContains(t, err, tc.want)
		})
	}
}

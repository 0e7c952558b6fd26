package runbook

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/executor/internal/injection"
)

func loadExample(t testing.TB, file string) *Runbook {
	t.Helper()
	rb, err := LoadFile(filepath.Join("testdata", file))
	require.NoError(t, err)
	return rb
}

func diskAlert(host, mount string) *amsv1.Alert {
	a := &amsv1.Alert{
		Resource: &amsv1.Resource{Host: host, InstanceId: "i-0123456789abcdef0"},
		Labels:   map[string]string{},
	}
	if mount != "" {
		a.Labels["mountpoint"] = mount
	}
	return a
}

func TestParameters(t *testing.T) {
	rb := loadExample(t, "disk-full.yaml")
	tests := []struct {
		name    string
		alert   *amsv1.Alert
		want    map[string]string
		wantErr []string
	}{
		{
			name:  "matching values",
			alert: diskAlert("web-01.example.com", "/var/log"),
			want:  map[string]string{"host": "web-01.example.com", "instance": "i-0123456789abcdef0", "mount": "/var/log"},
		},
		{
			name:  "optional label falls back",
			alert: diskAlert("db1", ""),
			want:  map[string]string{"host": "db1", "instance": "i-0123456789abcdef0", "mount": "/"},
		},
		{
			name:    "empty value stops the run",
			alert:   diskAlert("", "/"),
			wantErr: []string{"runbook disk-full: parameter host: alert.resource.host is empty for this alert; the run stops"},
		},
		{
			name:    "non-matching value stops the run",
			alert:   diskAlert("web-01", "/var/log; rm -rf /"),
			wantErr: []string{`runbook disk-full: parameter mount: value "/var/log; rm -rf /" does not match the pattern ^/$|^(/[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}){1,16}$; the run stops`},
		},
		{
			name:    "a long value is echoed only in part",
			alert:   diskAlert("web-01", "/"+strings.Repeat("a", 300)+";reboot"),
			wantErr: []string{`parameter mount: value "/` + strings.Repeat("a", 63) + `"… (308 bytes) does not match`},
		},
		{
			name:    "a huge value is refused before matching",
			alert:   diskAlert(strings.Repeat("a", MaxValueBytes+1), "/"),
			wantErr: []string{"parameter host: value", "is longer than 4096 bytes; the run stops"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := rb.Parameters(t.Context(), tt.alert, &amsv1.Incident{})
			if tt.wantErr != nil {
				require.Error(t, err)
				require.Nil(t, got)
				for _, w := range tt.wantErr {
					require.Contains(t, err.Error(), w)
				}
				require.NotContains(t, err.Error(), strings.Repeat("a", 65))
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestParametersFromIncidentAndNil(t *testing.T) {
	rb := loadExample(t, "high-cpu.yaml")
	got, err := rb.Parameters(t.Context(),
		&amsv1.Alert{Resource: &amsv1.Resource{Host: "app3"}},
		&amsv1.Incident{Resource: &amsv1.Resource{InstanceId: "i-00000000000000abc"}})
	require.NoError(t, err)
	require.Equal(t, map[string]string{"host": "app3", "instance": "i-00000000000000abc"}, got)

	_, err = rb.Parameters(t.Context(), nil, nil)
	require.ErrorContains(t, err, "parameter host: alert.resource.host is empty for this alert; the run stops")
}

func TestParametersEvaluationError(t *testing.T) {
	y := strings.Replace(header, "alert.resource.host", "alert.labels.host", 1) + okStep
	rb, err := Load([]byte(y), "t.yaml")
	require.NoError(t, err)
	_, err = rb.Parameters(t.Context(), &amsv1.Alert{}, nil)
	require.ErrorContains(t, err, "runbook t: parameter host: evaluate alert.labels.host: no such key: host; the run stops")
}

func TestParametersCancelled(t *testing.T) {
	rb := loadExample(t, "high-cpu.yaml")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := rb.Parameters(ctx, diskAlert("a", "/"), nil)
	// A cancelled context may or may not interrupt so short an
	// evaluation; either way nothing may panic, and an error names the run stop.
	if err != nil {
		require.Contains(t, err.Error(), "the run stops")
	}
}

func TestParametersNotLoaded(t *testing.T) {
	rb := &Runbook{Name: "x", Params: map[string]*Parameter{"host": {From: "alert.resource.host", Pattern: "^a$"}}}
	_, err := rb.Parameters(t.Context(), nil, nil)
	require.ErrorContains(t, err, "parameter host is not compiled; load runbooks with Load")
}

// inert reports whether v holds nothing a shell or a program would read
// as syntax or an option: no shell metacharacter, no control character,
// no leading "-". The corpus has such values too ("xay", "é", "a=b"); a
// pattern may take them.
func inert(v string) bool {
	if strings.ContainsAny(v, shellMeta) || strings.HasPrefix(v, "-") {
		return false
	}
	for _, c := range v {
		if c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

func TestInjectionCorpus(t *testing.T) {
	vals := injection.Corpus()
	require.GreaterOrEqual(t, len(vals), 200)

	runbooks := []*Runbook{
		loadExample(t, "disk-full.yaml"),
		loadExample(t, "web-service-down.yaml"),
		loadExample(t, "ec2-status-check-failed.yaml"),
		loadExample(t, "high-cpu.yaml"),
	}
	good := &amsv1.Alert{
		Resource: &amsv1.Resource{Host: "web-01", InstanceId: "i-0123456789abcdef0"},
		Labels:   map[string]string{"mountpoint": "/var", "unit": "nginx.service", "probe_url": "https://web-01.example.com/healthz"},
	}
	goodValues := map[string]map[string]string{}
	for _, rb := range runbooks {
		vals, err := rb.Parameters(t.Context(), good, nil)
		require.NoError(t, err, "the good alert passes %s", rb.Name)
		goodValues[rb.Name] = vals
	}

	// Every hostile value, put in every field a parameter reads, must stop the run.
	inject := func(field, v string) *amsv1.Alert {
		a := &amsv1.Alert{
			Resource: &amsv1.Resource{Host: good.Resource.Host, InstanceId: good.Resource.InstanceId},
			Labels:   map[string]string{},
		}
		for k, l := range good.Labels {
			a.Labels[k] = l
		}
		switch field {
		case "host":
			a.Resource.Host = v
		case "instance":
			a.Resource.InstanceId = v
		default:
			a.Labels[field] = v
		}
		return a
	}
	checked := 0
	for _, rb := range runbooks {
		for _, field := range []string{"host", "instance", "mountpoint", "unit", "probe_url"} {
			for _, v := range vals {
				a := inject(field, v)
				got, err := rb.Parameters(t.Context(), a, nil)
				if err == nil {
					// The field is not read by this runbook, or the value
					// is inert and fits its patterns: every parameter holds
					// the good value or, whole, this one.
					for name, val := range got {
						if val == goodValues[rb.Name][name] {
							continue
						}
						require.Equal(t, v, val, "%s changed the value of %s read from %s", rb.Name, name, field)
						require.True(t, inert(v), "%s took the hostile value %q in %s", rb.Name, v, field)
					}
					continue
				}
				checked++
				require.Contains(t, err.Error(), "the run stops")
				require.LessOrEqual(t, len(err.Error()), 600, "the error echoes at most 64 characters of the value")
			}
		}
	}
	require.GreaterOrEqual(t, checked, 5*len(vals), "every field a parameter reads was tried")
	t.Logf("%d hostile values, %d rejections", len(vals), checked)
}

func TestProbesRejectedByExamplePatterns(t *testing.T) {
	// The probes themselves are hostile values: no example pattern takes one.
	for _, f := range []string{"disk-full.yaml", "web-service-down.yaml", "ec2-status-check-failed.yaml", "high-cpu.yaml"} {
		rb := loadExample(t, f)
		for _, name := range rb.ParameterNames() {
			for _, p := range unsafeProbes {
				require.False(t, rb.Params[name].re.MatchString(p), fmt.Sprintf("%s %s accepts %q", f, name, p))
			}
		}
	}
}

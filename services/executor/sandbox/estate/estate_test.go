package estate_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/amsproject/ams/services/executor/sandbox/estate"
)

func TestArgv(t *testing.T) {
	for _, tc := range []struct {
		line string
		want []string
	}{
		{"", nil},
		{"uptime", []string{"uptime"}},
		// How the executor's SSH step quotes: every word in single quotes,
		// a quote inside closed, escaped and reopened.
		{`'df' '-h' '--' '/'`, []string{"df", "-h", "--", "/"}},
		{`'echo' 'it'\''s' '$(touch x)' '*' '; rm -rf /'`, []string{"echo", "it's", "$(touch x)", "*", "; rm -rf /"}},
		{`echo "a b" c\ d "*"`, []string{"echo", "a b", "c d", "*"}},
		{"'echo' 'two\nlines'", []string{"echo", "two\nlines"}},
		{"'echo' ''", []string{"echo", ""}},
	} {
		got, err := estate.Argv(tc.line)
		require.NoError(t, err, tc.line)
		require.Equal(t, tc.want, got, tc.line)
	}
}

// TestArgvRefusesWhatAShellWouldRun: anything beyond one simple command of
// literal words is refused, naming what the shell would have done.
func TestArgvRefusesWhatAShellWouldRun(t *testing.T) {
	for line, want := range map[string]string{
		"df; touch x":            "2 commands",
		"df\ntouch x":            "2 commands",
		"df | sh":                "pipeline",
		"df && touch x":          "pipeline",
		"df $(touch x)":          "command substitution",
		"df `touch x`":           "command substitution",
		`df "$(touch x)"`:        "command substitution",
		"df $HOME":               "parameter ($HOME)",
		"df ${HOME}":             "parameter ($HOME)",
		"df $((1+1))":            "arithmetic",
		"df > /etc/passwd":       "redirection",
		"X=1 df":                 "sets a variable",
		"df &":                   "background",
		"df /var/*":              "glob (/var/*)",
		"df /va?":                "glob",
		"(touch x)":              "compound",
		"df 'unterminated":       "syntax error",
		"! df":                   "negated",
		"df \"$(echo) ${x:-y}\"": "command substitution",
	} {
		_, err := estate.Argv(line)
		require.Error(t, err, line)
		require.Contains(t, err.Error(), want, line)
	}
}

func demo(t *testing.T) *estate.Estate {
	t.Helper()
	e, err := estate.New(estate.Demo()...)
	require.NoError(t, err)
	return e
}

func run(t *testing.T, e *estate.Estate, host, line string) (string, string, int) {
	t.Helper()
	out, errOut, code := e.Exec(host)(context.Background(), "ams", line)
	return string(out), string(errOut), code
}

func TestCommands(t *testing.T) {
	e := demo(t)
	out, _, code := run(t, e, "web-1", "'systemctl' 'is-active' '--' 'nginx.service'")
	require.Equal(t, "inactive\n", out)
	require.Equal(t, 3, code)
	out, _, code = run(t, e, "web-2", "systemctl is-active nginx.service")
	require.Equal(t, "failed\n", out)
	require.Equal(t, 3, code)
	out, _, code = run(t, e, "db-1", "systemctl is-active postgresql.service")
	require.Equal(t, "active\n", out)
	require.Equal(t, 0, code)

	out, _, code = run(t, e, "db-1", "df --output=pcent -- /")
	require.Equal(t, 0, code)
	require.Equal(t, "Use%\n96%\n", out)
	// A path is answered by the file system holding it.
	out, _, code = run(t, e, "db-1", "df -h -- /var/lib/postgresql")
	require.Equal(t, 0, code)
	require.Contains(t, out, "/dev/nvme0n1p1  50G   48G   2G     96%   /")
	_, errOut, code := run(t, e, "db-1", "df -- relative")
	require.Equal(t, 1, code)
	require.Equal(t, "df: relative: No such file or directory\n", errOut)

	out, _, _ = run(t, e, "batch-1", "ps -eo pid,user,pcpu --sort=-pcpu")
	require.Contains(t, out, "30412  etl   187.3")
	out, _, _ = run(t, e, "batch-1", "uptime")
	require.Contains(t, out, "load average: 7.92, 7.81, 7.40")

	_, errOut, code = run(t, e, "web-1", "rm -rf /")
	require.Equal(t, 127, code)
	require.Equal(t, "sh: 1: rm: not found\n", errOut)
	_, errOut, code = run(t, e, "web-1", "df; rm -rf /")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "2 commands")
	_, _, code = run(t, e, "nowhere", "uptime")
	require.Equal(t, 255, code)
}

// TestDocumentsChangeTheHosts: the SSM documents act on the host of the
// instance they are sent to, and the checks see it.
func TestDocumentsChangeTheHosts(t *testing.T) {
	e := demo(t)
	docs := map[string]func(map[string]string) (string, string, int){}
	for _, d := range e.Documents() {
		docs[d.Name] = d.Run
	}
	site := httptest.NewServer(e.Site("web-1"))
	defer site.Close()
	status := func() int {
		resp, err := http.Get(site.URL)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, http.StatusServiceUnavailable, status())

	out, _, code := docs[estate.RestartServiceDocument](map[string]string{"AWS_SSM_INSTANCE_ID": "i-0a1b2c3d4e5f60001", "SSM_Unit": "nginx.service"})
	require.Equal(t, 0, code, out)
	require.Equal(t, http.StatusOK, status())
	out, _, code = run(t, e, "web-1", "systemctl is-active nginx.service")
	require.Equal(t, "active\n", out)
	require.Equal(t, 0, code)

	// web-2's configuration is broken: the restart fails and says why.
	_, errOut, code := docs[estate.RestartServiceDocument](map[string]string{"AWS_SSM_INSTANCE_ID": "i-0a1b2c3d4e5f60002", "SSM_Unit": "nginx.service"})
	require.Equal(t, 1, code)
	require.Contains(t, errOut, `unknown directive "proxy_pas"`)
	require.False(t, e.SiteUp("web-2"))
	_, errOut, code = docs[estate.RestartServiceDocument](map[string]string{"AWS_SSM_INSTANCE_ID": "i-0a1b2c3d4e5f60002", "SSM_Unit": "httpd.service"})
	require.Equal(t, 5, code)
	require.Contains(t, errOut, "Unit httpd.service not found")

	out, _, code = docs[estate.CleanTempFilesDocument](map[string]string{"AWS_SSM_INSTANCE_ID": "i-0a1b2c3d4e5f6d001", "SSM_Path": "/"})
	require.Equal(t, 0, code)
	require.Contains(t, out, "freed 14 GiB, now 68% used")
	out, _, _ = run(t, e, "db-1", "df --output=pcent /")
	require.Equal(t, "Use%\n68%\n", out)
	// db-2 is full of data, not temporary files.
	out, _, _ = docs[estate.CleanTempFilesDocument](map[string]string{"AWS_SSM_INSTANCE_ID": "i-0a1b2c3d4e5f6d002", "SSM_Path": "/"})
	require.Contains(t, out, "now 96% used")

	_, errOut, code = docs[estate.CleanTempFilesDocument](map[string]string{"AWS_SSM_INSTANCE_ID": "i-99999999", "SSM_Path": "/"})
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "no host of the sandbox")
}

func TestInstances(t *testing.T) {
	e := demo(t)
	ins := e.Instances("123456789012", map[string]string{"Customer": "demo"})
	require.Len(t, ins, len(estate.Demo()))
	impaired := 0
	for _, in := range ins {
		require.Equal(t, "123456789012", in.Account)
		require.Equal(t, "demo", in.Tags["Customer"])
		require.NotEmpty(t, in.Tags["Name"])
		if in.InstanceStatus == "impaired" {
			impaired++
			require.Equal(t, "app-1", in.Tags["Name"])
			require.True(t, in.RecoverOnReboot)
		}
	}
	require.Equal(t, 1, impaired)
}

func TestNewRefusesBadEstates(t *testing.T) {
	_, err := estate.New(estate.Host{Name: "a"})
	require.ErrorContains(t, err, "instance id")
	_, err = estate.New(estate.Host{Name: "a", InstanceID: "i-1"}, estate.Host{Name: "a", InstanceID: "i-2"})
	require.ErrorContains(t, err, "listed twice")
	_, err = estate.New(estate.Host{Name: "a", InstanceID: "i-1", Site: "nginx.service"})
	require.ErrorContains(t, err, "site unit")
}

// TestArgvConcurrently: hosts answer sessions at once (the sandbox's sshd
// runs each in its own goroutine); run with -race.
func TestArgvConcurrently(t *testing.T) {
	done := make(chan []string, 8)
	for range 8 {
		go func() {
			argv, err := estate.Argv(`'df' '--output=pcent' '--' '/'`)
			if err != nil {
				argv = []string{err.Error()}
			}
			done <- argv
		}()
	}
	for range 8 {
		require.Equal(t, []string{"df", "--output=pcent", "--", "/"}, <-done)
	}
}

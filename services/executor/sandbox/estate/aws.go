package estate

import (
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/amsproject/ams/services/executor/sandbox/awsfake"
)

// The MSP's own SSM documents the example runbooks call. Their parameters
// carry allowedPatterns, as the design asks of every document that takes
// alert values, so SSM itself refuses a value the runbook's pattern missed.
const (
	RestartServiceDocument = "MSP-RestartService"
	CleanTempFilesDocument = "MSP-CleanTempFiles"
)

// Documents are the SSM documents the estate answers, for awsfake. A
// document runs on the host of the instance it was sent to.
func (e *Estate) Documents() []awsfake.Document {
	return []awsfake.Document{
		{
			Name: RestartServiceDocument,
			Parameters: []awsfake.DocumentParameter{
				{Name: "Unit", AllowedPattern: `^[a-zA-Z0-9][a-zA-Z0-9_.@-]{0,127}\.service$`},
			},
			Run: e.onInstance(func(h *Host, env map[string]string) (string, string, int) {
				return e.restart(h, env["SSM_Unit"])
			}),
			UnseenPolls: 1, InProgressPolls: 1,
		},
		{
			Name: CleanTempFilesDocument,
			Parameters: []awsfake.DocumentParameter{
				{Name: "Path", AllowedPattern: `^/$|^(/[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}){1,16}$`},
			},
			Run:         e.onInstance(cleanTemp),
			UnseenPolls: 1, InProgressPolls: 1,
		},
	}
}

// onInstance runs a document's script on the host of the instance the
// agent names in AWS_SSM_INSTANCE_ID, under the estate's lock.
func (e *Estate) onInstance(script func(h *Host, env map[string]string) (string, string, int)) func(map[string]string) (string, string, int) {
	return func(env map[string]string) (string, string, int) {
		e.mu.Lock()
		defer e.mu.Unlock()
		h, ok := e.byInstance[env["AWS_SSM_INSTANCE_ID"]]
		if !ok {
			return "", "the instance runs no host of the sandbox estate\n", 1
		}
		return script(h, env)
	}
}

// cleanTemp removes the known temporary files of the file system holding
// Path (older than two days under /tmp and /var/tmp, rotated logs).
func cleanTemp(h *Host, env map[string]string) (string, string, int) {
	path := env["SSM_Path"]
	m, ok := mountOf(h, path)
	if !ok {
		return "", fmt.Sprintf("%s: no such file system\n", path), 1
	}
	d := h.Disks[m]
	freed := d.TempGiB
	d.UsedGiB, d.TempGiB = d.UsedGiB-freed, 0
	h.Disks[m] = d
	return fmt.Sprintf("Cleaned /tmp, /var/tmp (older than 2 days) and rotated logs on %s (%s): freed %.0f GiB, now %d%% used.\n",
		m, h.Name, freed, percent(d)), "", 0
}

// Instances are the hosts' EC2 instances in account, tagged with tags, for
// awsfake. An impaired host's instance fails its status checks until
// rebooted.
func (e *Estate) Instances(account string, tags map[string]string) []awsfake.Instance {
	var out []awsfake.Instance
	for _, h := range e.Hosts() {
		in := awsfake.Instance{
			ID: h.InstanceID, Account: account, AvailabilityZone: "ap-northeast-1a",
			Tags: map[string]string{"Name": h.Name}, RecoverOnReboot: true,
		}
		for k, v := range tags {
			in.Tags[k] = v
		}
		if h.Impaired {
			in.InstanceStatus = "impaired"
		}
		out = append(out, in)
	}
	return out
}

// CPUPoints are a host's CPUUtilization datapoints, one a minute over the
// span ending at end: the host's CPU figure with a little movement, so a
// graph of it looks like one.
func CPUPoints(h Host, end time.Time, span time.Duration) []awsfake.Datapoint {
	var out []awsfake.Datapoint
	end = end.Truncate(time.Minute)
	for t := end.Add(-span); !t.After(end); t = t.Add(time.Minute) {
		wobble := 3 * math.Sin(float64(t.Unix()/60)/3)
		v := math.Max(0, math.Min(100, h.CPU+wobble))
		out = append(out, awsfake.Datapoint{Time: t, Value: math.Round(v*10) / 10})
	}
	return out
}

// Site is host's web site: 200 while the unit serving it is active, 503
// (as the load balancer in front answers) while it is not.
func (e *Estate) Site(host string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !e.SiteUp(host) {
			http.Error(w, "503 Service Unavailable: no healthy upstream ("+host+")", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "ok: %s serves %s\n", host, r.URL.Path) //nolint:gosec // text/plain (set above), never read as HTML
	})
}

// Package estate is the demo customer's servers for the `make run` sandbox:
// a few Linux hosts with systemd units, disks, processes and a web site,
// and the EC2 instances they run on. Runbook steps read and change that
// state through the real protocols — SSH commands through the sandbox's
// sshd, SSM documents, EC2 reboots and CloudWatch queries through awsfake,
// HTTP probes at each host's site — so a demo alert goes check → recovery →
// verify as it would on a customer's machine, without touching the machine
// AMS runs on.
//
// Commands are answered, not run: each host's shell parses the command line
// as POSIX sh would (mvdan.cc/sh) and answers the few commands runbooks use
// (systemctl, df, du, ps, uptime, hostname, echo). A line that would make a
// shell expand or run anything beyond one simple command of literal words
// is refused, so the sandbox also shows when a value was not kept as data.
package estate

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"
)

// Host is one simulated Linux server.
type Host struct {
	// Name is the host name alerts carry ("web-1") and SSH steps reach
	// through the bastion.
	Name string
	// Address is the private address the sandbox's DNS gives the name.
	Address string
	// InstanceID is the EC2 instance the host runs on.
	InstanceID string
	// Units are the systemd units; a unit not listed is not installed.
	Units map[string]Unit
	// Disks are the mounted file systems by mount point.
	Disks map[string]Disk
	// Processes are what ps lists.
	Processes []Process
	// Load is uptime's load average; CPU is the CPUUtilization (percent)
	// CloudWatch reports for the instance.
	Load [3]float64
	CPU  float64
	// Site is the unit serving the host's web site, if it has one: the site
	// answers 200 while that unit is active and 503 otherwise.
	Site string
	// Impaired makes the instance's status checks fail until a reboot.
	Impaired bool
}

// Unit is a systemd unit's state.
type Unit struct {
	// Active is whether the unit runs.
	Active bool
	// RestartFails is why a restart fails (a broken configuration file);
	// empty: a restart brings the unit up.
	RestartFails string
}

// Disk is a mounted file system.
type Disk struct {
	Device  string
	SizeGiB float64
	// UsedGiB is what is in use, TempGiB the part of it a clean-up of the
	// known temporary paths frees.
	UsedGiB, TempGiB float64
}

// Process is a line of ps.
type Process struct {
	PID      int
	User     string
	CPU, Mem float64
	Elapsed  string
	Command  string
}

// Estate holds the hosts' state. It is safe for concurrent use.
type Estate struct {
	mu         sync.Mutex
	hosts      map[string]*Host // by name
	byInstance map[string]*Host
}

// New returns an estate of hosts (copied).
func New(hosts ...Host) (*Estate, error) {
	e := &Estate{hosts: map[string]*Host{}, byInstance: map[string]*Host{}}
	for _, h := range hosts {
		if h.Name == "" || h.InstanceID == "" {
			return nil, fmt.Errorf("estate: a host needs a name and an instance id (%q, %q)", h.Name, h.InstanceID)
		}
		if _, dup := e.hosts[h.Name]; dup {
			return nil, fmt.Errorf("estate: host %s listed twice", h.Name)
		}
		if _, dup := e.byInstance[h.InstanceID]; dup {
			return nil, fmt.Errorf("estate: instance %s listed twice", h.InstanceID)
		}
		if _, ok := h.Units[h.Site]; h.Site != "" && !ok {
			return nil, fmt.Errorf("estate: host %s: site unit %s is not one of its units", h.Name, h.Site)
		}
		c := h
		c.Units, c.Disks = maps.Clone(h.Units), maps.Clone(h.Disks)
		c.Processes = slices.Clone(h.Processes)
		e.hosts[h.Name], e.byInstance[h.InstanceID] = &c, &c
	}
	return e, nil
}

// Hosts returns a copy of every host, sorted by name.
func (e *Estate) Hosts() []Host {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Host, 0, len(e.hosts))
	for _, h := range e.hosts {
		c := *h
		c.Units, c.Disks, c.Processes = maps.Clone(h.Units), maps.Clone(h.Disks), slices.Clone(h.Processes)
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// SiteUp reports whether host's site answers: the unit serving it is
// active.
func (e *Estate) SiteUp(host string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	h, ok := e.hosts[host]
	return ok && h.Site != "" && h.Units[h.Site].Active
}

// restart restarts a unit on the host with instance id, as systemctl
// restart does, and says what happened.
func (e *Estate) restart(h *Host, unit string) (stdout, stderr string, exit int) {
	u, ok := h.Units[unit]
	if !ok {
		return "", fmt.Sprintf("Failed to restart %s: Unit %s not found.\n", unit, unit), 5
	}
	if u.RestartFails != "" {
		u.Active = false
		h.Units[unit] = u
		return "", fmt.Sprintf("Job for %s failed because the control process exited with error code.\n%s\nSee \"systemctl status %s\" and \"journalctl -xeu %s\" for details.\n",
			unit, u.RestartFails, unit, unit), 1
	}
	u.Active = true
	h.Units[unit] = u
	return fmt.Sprintf("%s restarted on %s; it is active.\n", unit, h.Name), "", 0
}

// mountOf is the mount point holding path: the longest mount that is path
// or one of its parents.
func mountOf(h *Host, path string) (string, bool) {
	best, found := "", false
	for m := range h.Disks {
		if m == path || m == "/" || (len(path) > len(m) && path[:len(m)] == m && path[len(m)] == '/') {
			if !found || len(m) > len(best) {
				best, found = m, true
			}
		}
	}
	return best, found && len(path) > 0 && path[0] == '/'
}

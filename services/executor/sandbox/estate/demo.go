package estate

// Demo is the estate of the example configuration's demo tenant, one host
// per situation the example runbooks handle (deploy/examples/runbooks):
//
//   - web-1: nginx stopped; a restart brings the site back (web-service-down
//     resolves).
//   - web-2: nginx fails to start on a broken configuration (the recovery
//     fails, the run ends unresolved and is escalated).
//   - db-1: the root file system is 96% full, mostly temporary files
//     (disk-full cleans up and resolves).
//   - db-2: 97% full of data, not temporary files (the clean-up frees too
//     little: unresolved).
//   - app-1: its EC2 status check fails until a reboot
//     (ec2-status-check-failed resolves).
//   - batch-1: a runaway import job holds the CPU (high-cpu gathers the
//     top processes and the metric; a person decides).
func Demo() []Host {
	disk := func(size, used, temp float64) map[string]Disk {
		return map[string]Disk{"/": {Device: "/dev/nvme0n1p1", SizeGiB: size, UsedGiB: used, TempGiB: temp}}
	}
	base := []Process{
		{PID: 1, User: "root", CPU: 0.0, Mem: 0.1, Elapsed: "41-03:12:07", Command: "systemd"},
		{PID: 812, User: "root", CPU: 0.1, Mem: 0.3, Elapsed: "41-03:11:58", Command: "amazon-ssm-agent"},
		{PID: 845, User: "root", CPU: 0.0, Mem: 0.1, Elapsed: "41-03:11:57", Command: "sshd"},
	}
	with := func(more ...Process) []Process { return append(append([]Process(nil), base...), more...) }
	return []Host{
		{
			Name: "web-1", Address: "10.0.1.11", InstanceID: "i-0a1b2c3d4e5f60001",
			Units: map[string]Unit{"nginx.service": {Active: false}},
			Disks: disk(30, 11, 1), Load: [3]float64{0.12, 0.20, 0.18}, CPU: 4, Site: "nginx.service",
			Processes: with(),
		},
		{
			Name: "web-2", Address: "10.0.1.12", InstanceID: "i-0a1b2c3d4e5f60002",
			Units: map[string]Unit{"nginx.service": {
				RestartFails: `nginx: [emerg] unknown directive "proxy_pas" in /etc/nginx/conf.d/shop.conf:14`,
			}},
			Disks: disk(30, 12, 1), Load: [3]float64{0.08, 0.10, 0.09}, CPU: 3, Site: "nginx.service",
			Processes: with(),
		},
		{
			Name: "db-1", Address: "10.0.2.21", InstanceID: "i-0a1b2c3d4e5f6d001",
			Units: map[string]Unit{"postgresql.service": {Active: true}},
			Disks: disk(50, 48, 14), Load: [3]float64{1.10, 0.95, 0.90}, CPU: 22,
			Processes: with(Process{PID: 1290, User: "postgres", CPU: 12.4, Mem: 31.0, Elapsed: "41-03:11:40", Command: "postgres"}),
		},
		{
			Name: "db-2", Address: "10.0.2.22", InstanceID: "i-0a1b2c3d4e5f6d002",
			Units: map[string]Unit{"postgresql.service": {Active: true}},
			Disks: disk(50, 48.4, 0.4), Load: [3]float64{0.90, 0.85, 0.80}, CPU: 18,
			Processes: with(Process{PID: 1301, User: "postgres", CPU: 9.8, Mem: 35.2, Elapsed: "41-03:11:39", Command: "postgres"}),
		},
		{
			Name: "app-1", Address: "10.0.3.31", InstanceID: "i-0a1b2c3d4e5f6a001", Impaired: true,
			Units: map[string]Unit{"app.service": {Active: true}},
			Disks: disk(30, 9, 1), Load: [3]float64{0.30, 0.28, 0.25}, CPU: 7,
			Processes: with(Process{PID: 2011, User: "app", CPU: 3.2, Mem: 12.5, Elapsed: "2-01:04:11", Command: "java"}),
		},
		{
			Name: "batch-1", Address: "10.0.4.41", InstanceID: "i-0a1b2c3d4e5f6b001",
			Units: map[string]Unit{"etl.timer": {Active: true}},
			Disks: disk(100, 41, 2), Load: [3]float64{7.92, 7.81, 7.40}, CPU: 97,
			Processes: with(
				Process{PID: 30412, User: "etl", CPU: 187.3, Mem: 22.1, Elapsed: "03:41:09", Command: "python3 /opt/etl/nightly_import.py"},
				Process{PID: 30477, User: "etl", CPU: 4.1, Mem: 1.2, Elapsed: "03:40:58", Command: "gzip"},
			),
		},
	}
}

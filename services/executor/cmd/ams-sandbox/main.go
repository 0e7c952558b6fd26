// Command ams-sandbox runs the demo customer's estate behind local servers
// that speak AWS's, SSH's, HTTP's and DNS's real protocols (package
// sandbox), so that the example configuration's runbooks check, recover and
// verify something without a cloud account. `make run` starts it in front
// of ams:
//
//	ams-sandbox -dir=data/sandbox -- bin/ams -config.file=deploy/examples/ams.yaml
//
// With a command after "--" it starts the servers, runs the command with
// the sandbox's AWS credentials in its environment (so nothing is signed
// with the user's own), and stops when the command ends; without one it
// serves until interrupted. It is a development tool, never part of a
// deployment.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/amsproject/ams/services/executor/sandbox"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ams-sandbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: ams-sandbox [flags] [-- command [args...]]")
		fs.PrintDefaults()
	}
	dir := fs.String("dir", "data/sandbox", "folder for the tenant's SSH key, known_hosts and the host keys (kept across restarts)")
	awsAddr := fs.String("aws", sandbox.DefaultAWSAddr, "listen address of AWS (STS, EC2, SSM, CloudWatch)")
	sshAddr := fs.String("ssh", sandbox.DefaultSSHAddr, "listen address of the SSH bastion")
	dnsAddr := fs.String("dns", sandbox.DefaultDNSAddr, "listen address of DNS (UDP and TCP)")
	sites := fs.String("sites", siteFlag(sandbox.DefaultSites()), "listen addresses of the web hosts' sites, host=addr,...")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	siteAddrs, err := parseSites(*sites)
	if err != nil {
		fmt.Fprintln(stderr, "ams-sandbox: -sites:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil)).With("component", "sandbox")
	sb, err := sandbox.Start(sandbox.Options{
		Dir: *dir, AWSAddr: *awsAddr, SSHAddr: *sshAddr, DNSAddr: *dnsAddr, Sites: siteAddrs, Log: log,
	})
	if err != nil {
		fmt.Fprintln(stderr, "ams-sandbox:", err)
		return 1
	}
	defer sb.Close()
	printEstate(stdout, sb)

	command := fs.Args()
	if len(command) == 0 {
		<-ctx.Done()
		return 0
	}
	// Not CommandContext: when ctx ends the command gets SIGTERM below and
	// may shut down gracefully, rather than being killed.
	cmd := exec.Command(command[0], command[1:]...) //nolint:gosec,noctx // the operator's own command line, run as `env` runs one
	cmd.Env = Env(os.Environ())
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, stdout, stderr
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(stderr, "ams-sandbox:", err)
		return 1
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		// A terminal's Ctrl-C reaches the command too; `kill` of the
		// sandbox alone does not, so pass it on. The command shuts down
		// gracefully, and the servers stay up until it has.
		_ = cmd.Process.Signal(syscall.SIGTERM)
		err = <-done
	}
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit) && exit.ExitCode() >= 0:
		return exit.ExitCode()
	case errors.As(err, &exit):
		return 0 // ended by the signal passed on
	default:
		fmt.Fprintln(stderr, "ams-sandbox:", err)
		return 1
	}
}

// Env is environ with the sandbox's AWS credentials in place of any the
// user has: the example configuration points every AWS client at the
// sandbox, which accepts any signature, and a real key has no business
// there. Instance metadata is off so the SDK never looks for a role.
func Env(environ []string) []string {
	var out []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "AWS_") {
			continue
		}
		out = append(out, kv)
	}
	return append(out,
		"AWS_ACCESS_KEY_ID=AKIAAMSSANDBOX000000",
		"AWS_SECRET_ACCESS_KEY=ams-sandbox-secret",
		"AWS_REGION="+sandbox.Region,
		"AWS_EC2_METADATA_DISABLED=true",
	)
}

func siteFlag(sites map[string]string) string {
	var parts []string
	for h, a := range sites {
		parts = append(parts, h+"="+a)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func parseSites(s string) (map[string]string, error) {
	out := map[string]string{}
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		host, addr, ok := strings.Cut(part, "=")
		if !ok || host == "" || addr == "" {
			return nil, fmt.Errorf("%q is not host=address, such as web-1=127.0.0.1:8081", part)
		}
		out[host] = addr
	}
	return out, nil
}

// printEstate says what runs where and what each host is for.
func printEstate(w io.Writer, sb *sandbox.Sandbox) {
	fmt.Fprintf(w, "ams-sandbox: AWS %s, SSH bastion %s, DNS %s; tenant key %s\n", sb.AWSEndpoint(), sb.Bastion(), sb.DNSAddr(), sb.KeyFile)
	for _, h := range sb.Estate.Hosts() {
		site := ""
		if u := sb.SiteURL(h.Name); u != "" {
			site = " site " + u
		}
		fmt.Fprintf(w, "ams-sandbox:   %-8s %s%s\n", h.Name, h.InstanceID, site)
	}
}

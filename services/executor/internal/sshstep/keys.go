package sshstep

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/amsproject/ams/pkg/config"
)

// credKey names one tenant's key material. The tenant is part of it so two
// tenants never share a parsed key or host database, even when their
// configuration points at the same paths.
type credKey struct {
	tenant, keyFile, knownHostsFile string
}

// stamp identifies a version of a file, so a rotated key or an edited
// known_hosts is picked up on the next step without a restart.
type stamp struct {
	mod  time.Time
	size int64
}

// creds are a tenant's parsed key and known hosts.
type creds struct {
	tenant         string
	keyFile        string
	knownHostsFile string
	keyStamp       stamp
	khStamp        stamp
	signer         ssh.Signer
	known          ssh.HostKeyCallback // straight from knownhosts.New
}

// credentials returns the tenant's key material, from the cache when
// neither file changed since it was read.
func (r *Runner) credentials(tenant string, cfg *config.ExecutorSSH) (*creds, error) {
	k := credKey{tenant, cfg.KeyFile, cfg.KnownHostsFile}
	if k.keyFile == "" {
		return nil, fmt.Errorf("tenant %s has no SSH key: set executor.ssh.key_file", tenant)
	}
	if k.knownHostsFile == "" {
		return nil, fmt.Errorf("tenant %s has no known_hosts: set executor.ssh.known_hosts_file (host keys are always checked)", tenant)
	}
	ks, err := statFile(k.keyFile)
	if err != nil {
		return nil, fmt.Errorf("tenant %s's SSH key (executor.ssh.key_file): %w", tenant, err)
	}
	khs, err := statFile(k.knownHostsFile)
	if err != nil {
		return nil, fmt.Errorf("tenant %s's known_hosts (executor.ssh.known_hosts_file): %w", tenant, err)
	}

	r.mu.Lock()
	c, ok := r.creds[k]
	r.mu.Unlock()
	if ok && c.keyStamp == ks && c.khStamp == khs {
		return c, nil
	}

	c = &creds{tenant: tenant, keyFile: k.keyFile, knownHostsFile: k.knownHostsFile, keyStamp: ks, khStamp: khs}
	pem, err := os.ReadFile(k.keyFile)
	if err != nil {
		return nil, fmt.Errorf("tenant %s's SSH key (executor.ssh.key_file): %w", tenant, err)
	}
	c.signer, err = ssh.ParsePrivateKey(pem)
	if _, ok := errors.AsType[*ssh.PassphraseMissingError](err); ok {
		return nil, fmt.Errorf("tenant %s's SSH key %s is encrypted: the executor needs an unencrypted OpenSSH private key (ssh-keygen -p -N '' -f %s), readable only by the executor", tenant, k.keyFile, k.keyFile)
	}
	if err != nil {
		return nil, fmt.Errorf("tenant %s's SSH key %s is not an OpenSSH private key: %w", tenant, k.keyFile, err)
	}
	c.known, err = knownhosts.New(k.knownHostsFile)
	if err != nil {
		return nil, fmt.Errorf("tenant %s's known_hosts %s: %w", tenant, k.knownHostsFile, err)
	}

	r.mu.Lock()
	r.creds[k] = c
	r.mu.Unlock()
	return c, nil
}

func statFile(path string) (stamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return stamp{}, err // *PathError names the file and says what is wrong
	}
	if !fi.Mode().IsRegular() {
		return stamp{}, fmt.Errorf("%s is not a regular file", path)
	}
	return stamp{fi.ModTime(), fi.Size()}, nil
}

// hostKeyCallback checks the key a host presents against the tenant's
// known_hosts and turns a refusal into an error that says what to do.
// role is "host" or "bastion", for the message.
func (c *creds) hostKeyCallback(role string) ssh.HostKeyCallback {
	return func(addr string, remote net.Addr, key ssh.PublicKey) error {
		err := c.known(addr, remote, key)
		if err == nil {
			return nil
		}
		fp := key.Type() + " " + ssh.FingerprintSHA256(key)
		if ke, ok := errors.AsType[*knownhosts.KeyError](err); ok {
			if len(ke.Want) == 0 {
				return fmt.Errorf("%s %s is unknown: its host key (%s) is not in tenant %s's known_hosts %s; check the fingerprint with the host's owner, then add the key to that file (e.g. from ssh-keyscan); host keys are always checked",
					role, addr, fp, c.tenant, c.knownHostsFile)
			}
			return fmt.Errorf("%s %s presented a host key (%s) that does not match the one in tenant %s's known_hosts %s (line %d): the host was reinstalled or someone is in the middle; verify the new key with the host's owner before replacing that line",
				role, addr, fp, c.tenant, c.knownHostsFile, ke.Want[0].Line)
		}
		if re, ok := errors.AsType[*knownhosts.RevokedError](err); ok {
			return fmt.Errorf("%s %s presented a host key (%s) revoked in tenant %s's known_hosts %s (line %d)",
				role, addr, fp, c.tenant, c.knownHostsFile, re.Revoked.Line)
		}
		return fmt.Errorf("check host key of %s %s against tenant %s's known_hosts %s: %w", role, addr, c.tenant, c.knownHostsFile, err)
	}
}

// probeKey matches no real host key; asking the host database about it
// makes it list the keys it does know for an address.
var probeKey, _ = ssh.NewPublicKey(ed25519.PublicKey(make([]byte, ed25519.PublicKeySize)))

// hostKeyAlgorithms are the host key algorithms to offer to addr: those of
// the keys known_hosts has for it. A host usually has several host keys;
// if the client let the server pick, it could pick one known_hosts does
// not hold and the check would fail as a "changed key" although the host
// is the right one. Nil (no known key) leaves the default, and the check
// then reports the host as unknown.
func (c *creds) hostKeyAlgorithms(addr string) []string {
	err := c.known(addr, &net.TCPAddr{IP: net.IPv4zero}, probeKey)
	ke, ok := errors.AsType[*knownhosts.KeyError](err)
	if !ok {
		return nil
	}
	var algos []string
	add := func(a ...string) {
		for _, x := range a {
			if !slices.Contains(algos, x) {
				algos = append(algos, x)
			}
		}
	}
	for _, k := range ke.Want {
		if t := k.Key.Type(); t == ssh.KeyAlgoRSA {
			// An RSA key signs with any of these; prefer SHA-2.
			add(ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA)
		} else {
			add(t)
		}
	}
	return algos
}

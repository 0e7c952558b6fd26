package sshd

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"
)

// ClientKey is a tenant's login key pair, generated for a test or the
// sandbox.
type ClientKey struct {
	// Private is the ed25519 private key.
	Private ed25519.PrivateKey
	// Signer signs with Private.
	Signer ssh.Signer
}

// NewClientKey generates an ed25519 key pair.
func NewClientKey() (*ClientKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate client key: %w", err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, fmt.Errorf("generate client key: %w", err)
	}
	return &ClientKey{Private: priv, Signer: signer}, nil
}

// PublicKey is the key a server lists in AuthorizedKeys.
func (k *ClientKey) PublicKey() ssh.PublicKey { return k.Signer.PublicKey() }

// WriteFile writes the private key unencrypted in OpenSSH format, readable
// only by its owner, as ssh-keygen -N "" does.
func (k *ClientKey) WriteFile(path string) error {
	block, err := ssh.MarshalPrivateKey(k.Private, "ams-sandbox")
	if err != nil {
		return fmt.Errorf("encode key %s: %w", path, err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return fmt.Errorf("write key: %w", err)
	}
	return nil
}

// WriteClientFiles writes what a tenant's executor.ssh configuration points
// at into dir: the private key as dir/id_ed25519 and a known_hosts file
// holding knownHosts (lines from Server.KnownHostsLine) as dir/known_hosts.
func WriteClientFiles(dir string, key *ClientKey, knownHosts ...string) (keyFile, knownHostsFile string, err error) {
	keyFile = filepath.Join(dir, "id_ed25519")
	knownHostsFile = filepath.Join(dir, "known_hosts")
	if err := key.WriteFile(keyFile); err != nil {
		return "", "", err
	}
	if err := WriteKnownHosts(knownHostsFile, knownHosts...); err != nil {
		return "", "", err
	}
	return keyFile, knownHostsFile, nil
}

// WriteKnownHosts writes lines as a known_hosts file, replacing it.
func WriteKnownHosts(path string, lines ...string) error {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(strings.TrimRight(l, "\n"))
		b.WriteByte('\n')
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("write known_hosts: %w", err)
	}
	return nil
}

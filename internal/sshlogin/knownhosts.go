package sshlogin

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// knownHostsMu serialises pinning across all callbacks of this process.
var knownHostsMu sync.Mutex

// KnownHosts returns a trust-on-first-use HostKeyCallback backed by an
// OpenSSH known_hosts file at path (created 0600 if missing):
//   - a host:port seen for the first time has its key appended to the file
//     and is accepted;
//   - a host:port whose pinned key(s) differ from the key presented is
//     refused with an error wrapping ErrHostKeyChanged that names the host
//     and both fingerprints. A key of another algorithm than the pinned one
//     counts as changed too (no silent downgrade); to accept a legitimately
//     changed key an administrator removes the line from the file;
//   - a key marked @revoked is refused.
//
// The file is re-read on every call, so edits by an administrator take
// effect at once.
func KnownHosts(path string) (ssh.HostKeyCallback, error) {
	if path == "" {
		return nil, fmt.Errorf("%w: known_hosts path is empty", ErrInvalidInput)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sshlogin: known_hosts: %w", err)
	}
	f.Close()
	if _, err := knownhosts.New(path); err != nil {
		return nil, fmt.Errorf("sshlogin: known_hosts %s: %w", path, err)
	}
	return func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		knownHostsMu.Lock()
		defer knownHostsMu.Unlock()
		check, err := knownhosts.New(path)
		if err != nil {
			return fmt.Errorf("sshlogin: known_hosts %s: %w", path, err)
		}
		err = check(hostname, remote, key)
		var ke *knownhosts.KeyError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &ke) && len(ke.Want) > 0:
			var want []string
			for _, k := range ke.Want {
				want = append(want, fmt.Sprintf("%s %s (%s:%d)", k.Key.Type(), ssh.FingerprintSHA256(k.Key), k.Filename, k.Line))
			}
			return fmt.Errorf("%w: %s presented %s %s but %s pins %s; if the server's key really changed, remove that line",
				ErrHostKeyChanged, hostname, key.Type(), ssh.FingerprintSHA256(key), path, strings.Join(want, ", "))
		case errors.As(err, &ke):
			// Unknown host: pin it (first contact).
			line := knownhosts.Line([]string{knownhosts.Normalize(hostname)}, key)
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
			if err != nil {
				return fmt.Errorf("sshlogin: pin host key: %w", err)
			}
			_, werr := f.WriteString(line + "\n")
			cerr := f.Close()
			if werr != nil || cerr != nil {
				return fmt.Errorf("sshlogin: pin host key: %w", errors.Join(werr, cerr))
			}
			return nil
		default:
			return fmt.Errorf("sshlogin: host key of %s: %w", hostname, err)
		}
	}, nil
}

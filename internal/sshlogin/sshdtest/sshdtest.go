// Package sshdtest runs a real OpenSSH sshd on 127.0.0.1 for tests, with
// test Linux accounts for every login method deskhub relays.
//
// Start needs root (it creates Linux users and runs sshd); it installs
// openssh-server with apt-get when /usr/sbin/sshd is missing. It never
// touches the system sshd's configuration or /etc/pam.d: its sshd runs from
// a config in a temp dir and uses the packaged PAM service "sshd" as is.
// When sshd cannot be started the test fails; set DESKHUB_SKIP_SSHD=1 to
// skip instead.
//
// The accounts (all prefixed "dhtest-", allowed by AllowUsers dhtest-*):
//
//	dhtest-pw     password only          (Match: AuthenticationMethods password)
//	dhtest-kbd    keyboard-interactive   (Match: AuthenticationMethods keyboard-interactive; PAM asks "Password:")
//	dhtest-pk     public key only        (Match: AuthenticationMethods publickey; ed25519 key in authorized_keys)
//	dhtest-multi  several stages         (Match: AuthenticationMethods publickey,keyboard-interactive;
//	              RSA key in authorized_keys; password expired with chage -d 0, so after the
//	              public key PAM asks in keyboard-interactive: Password, then the forced
//	              change: current password, new password, retype)
//	dhtest-pkpw   two methods in a row   (Match: AuthenticationMethods publickey,password; same key as dhtest-pk)
//
// Passwords are random per test process; keys are generated per process.
// Because the accounts are system-wide, Start holds an exclusive lock file
// (/tmp/deskhub-sshdtest.lock) while any of its servers is running, so test
// binaries of different packages using sshdtest run one after the other;
// within a process several servers may run at once and share the accounts
// (each Start resets the passwords and re-expires dhtest-multi).
package sshdtest

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// Account names.
const (
	UserPassword = "dhtest-pw"
	UserKbd      = "dhtest-kbd"
	UserPK       = "dhtest-pk"
	UserMulti    = "dhtest-multi"
	// UserPKPassword needs two methods in a row: publickey, then password
	// (same key as UserPK).
	UserPKPassword = "dhtest-pkpw"
	// UserUnknown matches AllowUsers but has no Linux account.
	UserUnknown = "dhtest-nosuchuser"
)

var allUsers = []string{UserPassword, UserKbd, UserPK, UserMulti, UserPKPassword}

// SSHD is the sshd binary used.
const SSHD = "/usr/sbin/sshd"

// Server is a running test sshd.
type Server struct {
	Addr            string              // 127.0.0.1:port
	Passwords       map[string]string   // user -> password set by Start (all accounts)
	PKSigner        ssh.Signer          // private key of dhtest-pk and dhtest-pkpw (ed25519)
	MultiSigner     ssh.Signer          // private key of dhtest-multi (RSA 2048)
	PKKey           ed25519.PrivateKey  // PKSigner's key (to write it as a key file, e.g. for a browser)
	MultiKey        *rsa.PrivateKey     // MultiSigner's key
	HostKey         ssh.PublicKey       // the server's host key
	HostKeyCallback ssh.HostKeyCallback // ssh.FixedHostKey(HostKey)
	Dir             string              // temp dir with sshd_config, host key, log
	LogPath         string              // sshd's stderr (LogLevel VERBOSE)
	cmd             *exec.Cmd
	exited          chan error
}

// Log returns sshd's log so far (for failure messages).
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.LogPath)
	return string(b)
}

var (
	procMu    sync.Mutex // guards the fields below
	procRefs  int        // running servers of this process
	lockFile  *os.File   // flock held while procRefs > 0
	creds     *credentials
	installMu sync.Mutex
)

type credentials struct {
	passwords map[string]string
	pk, multi ssh.Signer
	pkKey     ed25519.PrivateKey
	multiKey  *rsa.PrivateKey
}

// Start starts a test sshd (see the package doc) and stops it in t.Cleanup.
func Start(t testing.TB) *Server {
	t.Helper()
	if os.Getenv("DESKHUB_SKIP_SSHD") == "1" {
		t.Skip("DESKHUB_SKIP_SSHD=1: not starting a test sshd")
	}
	if os.Geteuid() != 0 {
		t.Fatalf("sshdtest: must run as root to create test users and run sshd (set DESKHUB_SKIP_SSHD=1 to skip)")
	}
	if err := acquire(); err != nil {
		t.Fatalf("sshdtest: %v", err)
	}
	released := false
	release := func() {
		if !released {
			released = true
			releaseLock()
		}
	}
	t.Cleanup(release)

	if err := ensureSSHD(); err != nil {
		t.Fatalf("sshdtest: %v", err)
	}
	c, err := getCredentials()
	if err != nil {
		t.Fatalf("sshdtest: %v", err)
	}
	if err := setupUsers(c); err != nil {
		t.Fatalf("sshdtest: %v", err)
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil { // privilege separation dir
		t.Fatalf("sshdtest: %v", err)
	}

	dir := t.TempDir()
	hostKeyPath := filepath.Join(dir, "ssh_host_ed25519_key")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "deskhub-sshdtest", "-f", hostKeyPath).CombinedOutput(); err != nil {
		t.Fatalf("sshdtest: ssh-keygen: %v: %s", err, out)
	}
	pubText, err := os.ReadFile(hostKeyPath + ".pub")
	if err != nil {
		t.Fatalf("sshdtest: %v", err)
	}
	hostKey, _, _, _, err := ssh.ParseAuthorizedKey(pubText)
	if err != nil {
		t.Fatalf("sshdtest: host key: %v", err)
	}

	s := &Server{
		Passwords:       map[string]string{},
		PKSigner:        c.pk,
		MultiSigner:     c.multi,
		PKKey:           c.pkKey,
		MultiKey:        c.multiKey,
		HostKey:         hostKey,
		HostKeyCallback: ssh.FixedHostKey(hostKey),
		Dir:             dir,
		LogPath:         filepath.Join(dir, "sshd.log"),
	}
	for u, p := range c.passwords {
		s.Passwords[u] = p
	}

	var lastErr error
	for try := 0; try < 3; try++ { // the free port may be taken between probe and bind
		port, err := freePort()
		if err != nil {
			t.Fatalf("sshdtest: %v", err)
		}
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if lastErr = s.start(port, hostKeyPath); lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		t.Fatalf("sshdtest: %v\n--- sshd log ---\n%s", lastErr, s.Log())
	}
	t.Cleanup(func() {
		s.stop()
		release()
	})
	return s
}

func (s *Server) start(port int, hostKeyPath string) error {
	cfgPath := filepath.Join(s.Dir, "sshd_config")
	cfg := fmt.Sprintf(`# deskhub sshdtest: a private sshd for tests, never the system one.
ListenAddress 127.0.0.1
Port %d
HostKey %s
PidFile %s
UsePAM yes
PasswordAuthentication yes
KbdInteractiveAuthentication yes
PubkeyAuthentication yes
PermitRootLogin no
AuthorizedKeysFile .ssh/authorized_keys
StrictModes yes
LogLevel VERBOSE
AllowUsers dhtest-*
PrintMotd no
PrintLastLog no
UseDNS no
MaxAuthTries 10
LoginGraceTime 120

Match User %s
	AuthenticationMethods password
Match User %s
	AuthenticationMethods keyboard-interactive
Match User %s
	AuthenticationMethods publickey
Match User %s
	AuthenticationMethods publickey,keyboard-interactive
Match User %s
	AuthenticationMethods publickey,password
`, port, hostKeyPath, filepath.Join(s.Dir, "sshd.pid"), UserPassword, UserKbd, UserPK, UserMulti, UserPKPassword)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return err
	}
	if out, err := exec.Command(SSHD, "-t", "-f", cfgPath).CombinedOutput(); err != nil {
		return fmt.Errorf("sshd -t rejects the config: %v: %s", err, out)
	}
	logf, err := os.OpenFile(s.LogPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(SSHD, "-D", "-e", "-f", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // so stop can end its children too
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start sshd: %w", err)
	}
	logf.Close()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.Addr, time.Second)
		if err == nil {
			c.Close()
			s.cmd, s.exited = cmd, exited
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("sshd exited before listening on %s: %v", s.Addr, err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
			return fmt.Errorf("sshd did not listen on %s within 15s", s.Addr)
		}
	}
}

func (s *Server) stop() {
	if s.cmd == nil {
		return
	}
	pid := s.cmd.Process.Pid
	// SIGTERM the listener and its per-connection children (same process group).
	syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
		syscall.Kill(-pid, syscall.SIGKILL)
		<-s.exited
	}
	// Per-connection children that outlived the listener.
	syscall.Kill(-pid, syscall.SIGKILL)
	s.cmd = nil
}

// acquire takes the process reference and, for the first, the lock file.
func acquire() error {
	procMu.Lock()
	defer procMu.Unlock()
	if procRefs > 0 {
		procRefs++
		return nil
	}
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "deskhub-sshdtest.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			f.Close()
			return fmt.Errorf("another test process holds %s for more than 5 minutes", f.Name())
		}
		time.Sleep(100 * time.Millisecond)
	}
	lockFile = f
	procRefs = 1
	return nil
}

func releaseLock() {
	procMu.Lock()
	defer procMu.Unlock()
	procRefs--
	if procRefs == 0 && lockFile != nil {
		lockFile.Close() // drops the flock
		lockFile = nil
	}
}

// ensureSSHD installs openssh-server if /usr/sbin/sshd is missing.
func ensureSSHD() error {
	installMu.Lock()
	defer installMu.Unlock()
	if _, err := os.Stat(SSHD); err == nil {
		return nil
	}
	env := append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	for _, args := range [][]string{
		{"update", "-qq"},
		{"install", "-y", "-qq", "--no-install-recommends", "-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold", "openssh-server"},
	} {
		cmd := exec.Command("apt-get", args...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s is missing and apt-get %s failed: %v\n%s", SSHD, strings.Join(args, " "), err, out)
		}
	}
	if _, err := os.Stat(SSHD); err != nil {
		return fmt.Errorf("openssh-server installed but %s is missing: %v", SSHD, err)
	}
	return nil
}

func getCredentials() (*credentials, error) {
	procMu.Lock()
	defer procMu.Unlock()
	if creds != nil {
		return creds, nil
	}
	c := &credentials{passwords: map[string]string{}}
	for _, u := range allUsers {
		c.passwords[u] = randomPassword()
	}
	_, edPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	c.pkKey = edPriv
	if c.pk, err = ssh.NewSignerFromKey(edPriv); err != nil {
		return nil, err
	}
	rsaPriv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	c.multiKey = rsaPriv
	if c.multi, err = ssh.NewSignerFromKey(rsaPriv); err != nil {
		return nil, err
	}
	creds = c
	return c, nil
}

// RandomPassword returns a fresh random password (e.g. the new password of a
// forced change).
func RandomPassword() string { return randomPassword() }

// randomPassword: 18 random bytes, URL-safe base64 (24 chars, passes
// pam_unix "obscure" checks).
func randomPassword() string {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return "Dh" + base64.RawURLEncoding.EncodeToString(b)
}

// setupUsers creates the accounts if needed and (re)sets their passwords,
// keys and dhtest-multi's expiry. Idempotent.
func setupUsers(c *credentials) error {
	keys := map[string]ssh.Signer{UserPK: c.pk, UserMulti: c.multi, UserPKPassword: c.pk}
	for _, u := range allUsers {
		if err := exec.Command("id", "-u", u).Run(); err != nil {
			if out, err := exec.Command("useradd", "-m", "-s", "/bin/bash", "-c", "deskhub test account", u).CombinedOutput(); err != nil {
				return fmt.Errorf("useradd %s: %v: %s", u, err, out)
			}
		}
		cmd := exec.Command("chpasswd")
		cmd.Stdin = strings.NewReader(u + ":" + c.passwords[u] + "\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("chpasswd %s: %v: %s", u, err, out)
		}
		// Unlock and un-expire (a previous run may have left a changed state).
		if out, err := exec.Command("chage", "-d", strconv.FormatInt(time.Now().Unix()/86400, 10), "-M", "-1", "-E", "-1", u).CombinedOutput(); err != nil {
			return fmt.Errorf("chage %s: %v: %s", u, err, out)
		}
		if signer, ok := keys[u]; ok {
			if err := writeAuthorizedKeys(u, signer.PublicKey()); err != nil {
				return err
			}
		}
	}
	// dhtest-multi: password expired, so PAM forces a change during
	// keyboard-interactive (several prompts).
	if out, err := exec.Command("chage", "-d", "0", UserMulti).CombinedOutput(); err != nil {
		return fmt.Errorf("chage -d 0 %s: %v: %s", UserMulti, err, out)
	}
	return nil
}

// writeAuthorizedKeys writes ~/.ssh/authorized_keys owned by the user with
// the modes sshd's StrictModes requires (home not group/world-writable,
// .ssh 0700, file 0600).
func writeAuthorizedKeys(user string, pub ssh.PublicKey) error {
	out, err := exec.Command("getent", "passwd", user).Output()
	if err != nil {
		return fmt.Errorf("getent passwd %s: %v", user, err)
	}
	f := strings.Split(strings.TrimSpace(string(out)), ":")
	if len(f) < 7 {
		return fmt.Errorf("getent passwd %s: %q", user, out)
	}
	uid, _ := strconv.Atoi(f[2])
	gid, _ := strconv.Atoi(f[3])
	home := f[5]
	if err := os.Chmod(home, 0o750); err != nil {
		return err
	}
	sshDir := filepath.Join(home, ".ssh")
	if err := os.MkdirAll(sshDir, 0o700); err != nil {
		return err
	}
	ak := filepath.Join(sshDir, "authorized_keys")
	if err := os.WriteFile(ak, ssh.MarshalAuthorizedKey(pub), 0o600); err != nil {
		return err
	}
	for _, p := range []string{home, sshDir, ak} {
		if err := os.Chown(p, uid, gid); err != nil {
			return err
		}
	}
	if err := os.Chmod(sshDir, 0o700); err != nil {
		return err
	}
	return os.Chmod(ak, 0o600)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

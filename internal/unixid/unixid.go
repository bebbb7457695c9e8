// Package unixid gives every deskhub account a Unix identity of its own on this host, so that one
// account's desktops cannot read another's files, sockets, display or sound: a system user named
// <prefix><account id> (default dh-42) with its own group, no password and no login shell, created on
// first use; its home is <HomeRoot>/<login>, 0700. Host accounts (the ssh provider) do not go through
// here: their desktops run as themselves.
//
// Retiring an identity (the account is deleted) kills every process it still runs, moves its home out
// of the way (<HomeRoot>/.retired/, root-only) and renames and locks the Unix user instead of deleting
// it, so that its uid is never handed to anyone else while files it owned may linger (/tmp, /dev/shm).
package unixid

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/deskhub/deskhub/internal/provider"
)

// DefaultPrefix names identities dh-<account id>.
const DefaultPrefix = "dh-"

var prefixRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,15}$`) })

// CheckPrefix tells whether prefix makes valid Unix user names.
func CheckPrefix(prefix string) error {
	if !prefixRE().MatchString(prefix) {
		return fmt.Errorf("unix user prefix %q: want 1 to 16 of a-z, 0-9, '_' or '-', starting with a letter or '_'", prefix)
	}
	return nil
}

// Registry creates, finds and retires the identities of one deskhub installation.
type Registry struct {
	Prefix   string // e.g. "dh-"
	HomeRoot string // absolute; homes are <HomeRoot>/<login>

	mu sync.Mutex // one useradd/usermod at a time from this process
}

// New checks the options and returns a Registry.
func New(prefix, homeRoot string) (*Registry, error) {
	if err := CheckPrefix(prefix); err != nil {
		return nil, err
	}
	if !filepath.IsAbs(homeRoot) {
		return nil, fmt.Errorf("unixid: home root %q is not an absolute path", homeRoot)
	}
	return &Registry{Prefix: prefix, HomeRoot: filepath.Clean(homeRoot)}, nil
}

// Name is the Unix user name of account id.
func (r *Registry) Name(id int64) string { return r.Prefix + strconv.FormatInt(id, 10) }

// Home is the home directory of a login.
func (r *Registry) Home(login string) (string, error) {
	if login == "" || login == "." || login == ".." || strings.ContainsAny(login, "/\x00") || strings.HasPrefix(login, ".") {
		return "", fmt.Errorf("unixid: login %q cannot name a home directory", login)
	}
	return filepath.Join(r.HomeRoot, login), nil
}

// Ensure creates the identity of account id when it does not exist yet, re-owns a home left by an
// earlier owner (the one shared desktop user of older deskhub versions), and answers whom to run as.
func (r *Registry) Ensure(id int64, login string) (provider.RunAs, error) {
	home, err := r.Home(login)
	if err != nil {
		return provider.RunAs{}, err
	}
	name := r.Name(id)
	u, err := r.lookupOrAdd(name, login, home)
	if err != nil {
		return provider.RunAs{}, err
	}
	if err := reown(home, u); err != nil {
		return provider.RunAs{}, err
	}
	return provider.RunAs{User: name, Home: home}, nil
}

// ids are a user's numeric ids.
type ids struct{ uid, gid int }

func lookup(name string) (ids, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return ids{}, err
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return ids{}, fmt.Errorf("unixid: %s has a non-numeric uid or gid", name)
	}
	if uid == 0 {
		return ids{}, fmt.Errorf("unixid: %s has uid 0; refusing to run desktops as root", name)
	}
	return ids{uid, gid}, nil
}

func (r *Registry) lookupOrAdd(name, login, home string) (ids, error) {
	if u, err := lookup(name); err == nil {
		return u, nil
	} else if !errors.As(err, new(user.UnknownUserError)) {
		return ids{}, fmt.Errorf("unixid: look up %s: %w", name, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	comment := "deskhub account " + sanitizeComment(login)
	var last error
	// useradd fails while another process (another deskhub, a package script) holds /etc/passwd.
	for try := 0; try < 20; try++ {
		out, err := exec.Command("useradd", "--system", "--user-group", "--no-create-home",
			"--shell", "/usr/sbin/nologin", "--home-dir", home, "--comment", comment, name).CombinedOutput()
		if u, lerr := lookup(name); lerr == nil {
			return u, nil // ours, or created meanwhile by another process
		}
		if err == nil {
			return ids{}, fmt.Errorf("unixid: useradd %s succeeded but the user cannot be found", name)
		}
		last = fmt.Errorf("unixid: useradd %s: %v: %s", name, err, strings.TrimSpace(string(out)))
		time.Sleep(time.Duration(50*(try+1)) * time.Millisecond)
	}
	return ids{}, last
}

func sanitizeComment(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ':' || r == ',' || r == '=' || r < 0x20 || r == 0x7f {
			return '_'
		}
		return r
	}, s)
}

// reown gives an existing home to u when its top directory belongs to someone else (a home made by an
// older deskhub for its shared desktop user). Symbolic links are re-owned themselves, never followed.
func reown(home string, u ids) error {
	fi, err := os.Lstat(home)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // the provider creates it
	}
	if err != nil {
		return fmt.Errorf("unixid: home %s: %w", home, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("unixid: home %s is not a directory", home)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || int(st.Uid) == u.uid || os.Geteuid() != 0 {
		return nil
	}
	err = filepath.WalkDir(home, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, u.uid, u.gid)
	})
	if err != nil {
		return fmt.Errorf("unixid: re-own home %s: %w", home, err)
	}
	return os.Chmod(home, 0o700)
}

// Retire ends the identity of a deleted account: kills its processes, moves its home under
// <HomeRoot>/.retired/ and renames and locks its Unix user (its uid stays reserved). An account that
// never had an identity is no error.
func (r *Registry) Retire(id int64, login string) error {
	name := r.Name(id)
	u, err := lookup(name)
	if errors.As(err, new(user.UnknownUserError)) {
		return r.retireHome(name, login)
	}
	if err != nil {
		return fmt.Errorf("unixid: look up %s: %w", name, err)
	}
	if err := KillAll(u.uid, 10*time.Second); err != nil {
		return err
	}
	if err := r.retireHome(name, login); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	retired := fmt.Sprintf("%sx%s", name, strconv.FormatInt(time.Now().Unix(), 36))
	out, err := exec.Command("usermod", "--lock", "--expiredate", "1", "--shell", "/usr/sbin/nologin",
		"--login", retired, name).CombinedOutput()
	if err != nil {
		return fmt.Errorf("unixid: lock %s: %v: %s", name, err, strings.TrimSpace(string(out)))
	}
	// The user's own group goes with it (useradd --user-group would refuse the name for the next one).
	if _, err := user.LookupGroup(name); err == nil {
		if out, err := exec.Command("groupmod", "--new-name", retired, name).CombinedOutput(); err != nil {
			return fmt.Errorf("unixid: rename group %s: %v: %s", name, err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

func (r *Registry) retireHome(name, login string) error {
	home, err := r.Home(login)
	if err != nil {
		return err
	}
	if _, err := os.Lstat(home); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	attic := filepath.Join(r.HomeRoot, ".retired")
	if err := os.MkdirAll(attic, 0o700); err != nil {
		return fmt.Errorf("unixid: %w", err)
	}
	_ = os.Chmod(attic, 0o700)
	dst := filepath.Join(attic, fmt.Sprintf("%s-%s-%d", login, name, time.Now().Unix()))
	if err := os.Rename(home, dst); err != nil {
		return fmt.Errorf("unixid: move home of %s aside: %w", login, err)
	}
	return nil
}

// KillAll sends SIGKILL to every process of uid until none is left or d passes.
func KillAll(uid int, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		pids := processesOf(uid)
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("unixid: %d processes of uid %d survive SIGKILL", len(pids), uid)
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// processesOf lists the live (non-zombie) processes whose real uid is uid.
func processesOf(uid int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/status")
		if err != nil {
			continue
		}
		var real, state string
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "Uid:"); ok {
				if f := strings.Fields(v); len(f) > 0 {
					real = f[0]
				}
			} else if v, ok := strings.CutPrefix(line, "State:"); ok {
				state = strings.TrimSpace(v)
			}
		}
		if real == strconv.Itoa(uid) && !strings.HasPrefix(state, "Z") && !strings.HasPrefix(state, "X") {
			out = append(out, pid)
		}
	}
	return out
}

package imagebuild

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The desktop user of the image.
const (
	DesktopUser = "desktop"
	DesktopUID  = 1000
	DesktopHome = "/home/desktop"
)

// InitScript is /sbin/init of the image: PID 1 is `deskhub agent init`, which starts the desktop
// (Xvnc, openbox, PulseAudio, the agent, the user's command) as the desktop user from DESKHUB_*
// variables.
const InitScript = "#!/bin/sh\nexec /usr/local/bin/deskhub agent init \"$@\"\n"

// inRoot returns the host path of the image path p (absolute, as seen inside the image), with the
// symbolic links of its parent directories resolved inside root — never outside it (an absolute link
// such as /sbin -> /usr/sbin in a merged-/usr system points into the image, not at the host). The
// last element is not resolved.
func inRoot(root, p string) (string, error) {
	parent, err := resolveDir(root, filepath.Dir(filepath.Clean("/"+p)), 0)
	if err != nil {
		return "", err
	}
	return filepath.Join(root, parent, filepath.Base(p)), nil
}

// resolveDir resolves the image path dir (absolute) through symbolic links inside root and answers the
// resolved image path.
func resolveDir(root, dir string, depth int) (string, error) {
	if depth > 40 {
		return "", fmt.Errorf("%s: too many levels of symbolic links", dir)
	}
	cur := "/"
	parts := strings.Split(strings.Trim(filepath.Clean(dir), "/"), "/")
	for i, part := range parts {
		if part == "" {
			continue
		}
		next := filepath.Join(cur, part)
		info, err := os.Lstat(filepath.Join(root, next))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return filepath.Join(append([]string{next}, parts[i+1:]...)...), nil
			}
			return "", err
		}
		if info.Mode()&fs.ModeSymlink == 0 {
			cur = next
			continue
		}
		target, err := os.Readlink(filepath.Join(root, next))
		if err != nil {
			return "", err
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(cur, target)
		}
		rest := filepath.Join(append([]string{target}, parts[i+1:]...)...)
		return resolveDir(root, rest, depth+1)
	}
	return cur, nil
}

// writeIn writes a file into the image at p (replacing what is there, a symbolic link included),
// creating its parent directories.
func writeIn(root, p string, data []byte, perm os.FileMode) error {
	host, err := inRoot(root, p)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(host), 0o755); err != nil {
		return err
	}
	if err := os.Remove(host); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.WriteFile(host, data, perm); err != nil {
		return err
	}
	return os.Chmod(host, perm)
}

// copyIn copies the host file src into the image at p.
func copyIn(root, src, p string, perm os.FileMode) error {
	host, err := inRoot(root, p)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(host), 0o755); err != nil {
		return err
	}
	if err := os.Remove(host); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(host, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Chmod(host, perm)
}

// configure turns debootstrap's rootfs into the desktop image: the deskhub binary, /sbin/init, the
// desktop user, placeholders for the templated files, and none of the build host's own files
// (hostname, resolv.conf) or network configuration.
func configure(root, binary string, now time.Time) error {
	if err := copyIn(root, binary, "/usr/local/bin/deskhub", 0o755); err != nil {
		return fmt.Errorf("install deskhub: %w", err)
	}
	if err := writeIn(root, "/sbin/init", []byte(InitScript), 0o755); err != nil {
		return fmt.Errorf("install /sbin/init: %w", err)
	}
	if err := addDesktopUser(root, now); err != nil {
		return fmt.Errorf("add user %s: %w", DesktopUser, err)
	}
	// LXD renders these from templates/ when an instance is created or copied.
	if err := writeIn(root, "/etc/hostname", []byte("localhost\n"), 0o644); err != nil {
		return err
	}
	if err := writeIn(root, "/etc/hosts", []byte(renderHosts("localhost")), 0o644); err != nil {
		return err
	}
	// debootstrap copies the build host's resolv.conf; an instance gets its own (or none: desktops run
	// without a network device).
	for _, p := range []string{"/etc/resolv.conf", "/etc/network/interfaces", "/etc/network/interfaces.d",
		"/etc/systemd/network", "/etc/netplan"} {
		host, err := inRoot(root, p)
		if err != nil {
			return err
		}
		if err := os.RemoveAll(host); err != nil {
			return err
		}
	}
	return nil
}

// addDesktopUser adds the desktop user and group (uid and gid 1000, home /home/desktop, shell /bin/sh,
// no password: "*" in shadow, so no password logs in) by writing the account files, as useradd would,
// and makes the home directory from /etc/skel. The image's own tools are not run, so this works for
// any architecture.
func addDesktopUser(root string, now time.Time) error {
	uid := strconv.Itoa(DesktopUID)
	days := strconv.FormatInt(now.Unix()/86400, 10)
	entries := []struct {
		file, line string
		idField    int // field holding the numeric id (-1: none)
	}{
		{"/etc/passwd", DesktopUser + ":x:" + uid + ":" + uid + ":deskhub desktop:" + DesktopHome + ":/bin/sh", 2},
		{"/etc/group", DesktopUser + ":x:" + uid + ":", 2},
		{"/etc/shadow", DesktopUser + ":*:" + days + ":0:99999:7:::", -1},
		{"/etc/gshadow", DesktopUser + ":!::", -1},
	}
	for _, e := range entries {
		host, err := inRoot(root, e.file)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(host)
		if err != nil {
			return err
		}
		info, err := os.Stat(host)
		if err != nil {
			return err
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			f := strings.Split(sc.Text(), ":")
			if f[0] == DesktopUser {
				return fmt.Errorf("%s already has %s", e.file, DesktopUser)
			}
			if e.idField >= 0 && len(f) > e.idField && f[e.idField] == uid {
				return fmt.Errorf("%s already has id %s (%s)", e.file, uid, f[0])
			}
		}
		if len(b) > 0 && b[len(b)-1] != '\n' {
			b = append(b, '\n')
		}
		b = append(b, e.line+"\n"...)
		if err := os.WriteFile(host, b, info.Mode().Perm()); err != nil {
			return err
		}
	}
	home, err := inRoot(root, DesktopHome)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(home), 0o755); err != nil {
		return err
	}
	if err := os.Mkdir(home, 0o700); err != nil {
		return err
	}
	skel, err := inRoot(root, "/etc/skel")
	if err != nil {
		return err
	}
	if err := copyTree(skel, home); err != nil {
		return err
	}
	return filepath.WalkDir(home, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, DesktopUID, DesktopUID)
	})
}

// copyTree copies the regular files, directories and symbolic links below src into dst (which exists).
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && p == src {
			return filepath.SkipDir
		}
		if err != nil || p == src {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.Mkdir(to, info.Mode().Perm())
		case info.Mode()&fs.ModeSymlink != 0:
			t, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(t, to)
		case info.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(to, b, info.Mode().Perm())
		}
		return nil
	})
}

// renderHosts is /etc/hosts for a host name (the template is the same with {{ instance.name }}).
func renderHosts(name string) string {
	return "127.0.0.1\tlocalhost\n127.0.1.1\t" + name + "\n\n" +
		"# The following lines are desirable for IPv6 capable hosts\n" +
		"::1\tlocalhost ip6-localhost ip6-loopback\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
}

// trim removes what a desktop does not need at run time and returns the bytes freed: apt's package
// caches and lists (apt-get update brings the lists back), documentation except the copyright files,
// manual and info pages, translations other than English, logs, the device nodes debootstrap made
// (LXD provides /dev), and /tmp's content.
func trim(root string) (int64, error) {
	var freed int64
	remove := func(host string) error {
		info, err := os.Lstat(host)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if info.IsDir() {
			_ = filepath.WalkDir(host, func(_ string, d fs.DirEntry, err error) error {
				if err == nil && d.Type().IsRegular() {
					if i, err := d.Info(); err == nil {
						freed += i.Size()
					}
				}
				return nil
			})
		} else if info.Mode().IsRegular() {
			freed += info.Size()
		}
		return os.RemoveAll(host)
	}
	// removeIn removes the entries of the image directory dir for which drop is true.
	removeIn := func(dir string, drop func(name string, d fs.DirEntry) bool) error {
		host, err := inRoot(root, dir)
		if err != nil {
			return err
		}
		entries, err := os.ReadDir(host)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, e := range entries {
			if drop(e.Name(), e) {
				if err := remove(filepath.Join(host, e.Name())); err != nil {
					return err
				}
			}
		}
		return nil
	}
	all := func(string, fs.DirEntry) bool { return true }
	steps := []struct {
		dir  string
		drop func(string, fs.DirEntry) bool
	}{
		{"/var/cache/apt", func(n string, _ fs.DirEntry) bool { return strings.HasSuffix(n, ".bin") }},
		{"/var/cache/apt/archives", func(n string, d fs.DirEntry) bool { return strings.HasSuffix(n, ".deb") }},
		{"/var/cache/apt/archives/partial", all},
		{"/var/lib/apt/lists", func(n string, _ fs.DirEntry) bool { return n != "partial" && n != "lock" }},
		{"/var/lib/apt/lists/partial", all},
		{"/usr/share/man", all},
		{"/usr/share/info", all},
		{"/usr/share/lintian", all},
		{"/usr/share/linda", all},
		{"/usr/share/locale", func(n string, d fs.DirEntry) bool {
			return d.IsDir() && n != "en" && !strings.HasPrefix(n, "en_") && !strings.HasPrefix(n, "en@") && !strings.HasPrefix(n, "C.")
		}},
		{"/var/cache/debconf", func(n string, _ fs.DirEntry) bool { return strings.HasSuffix(n, "-old") }},
		{"/var/cache/ldconfig", all},
		{"/tmp", all},
		{"/var/tmp", all},
		{"/dev", all},
		{"/root", func(n string, _ fs.DirEntry) bool { return n == ".bash_history" }},
	}
	for _, s := range steps {
		if err := removeIn(s.dir, s.drop); err != nil {
			return freed, err
		}
	}
	// Documentation: everything but the copyright files (the licences stay with the binaries).
	doc, err := inRoot(root, "/usr/share/doc")
	if err != nil {
		return freed, err
	}
	err = filepath.WalkDir(doc, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && p == doc {
			return filepath.SkipDir
		}
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(doc, p)
		if pkg, file, ok := strings.Cut(rel, "/"); ok && pkg != "" && file == "copyright" && d.Type().IsRegular() {
			return nil
		}
		return remove(p)
	})
	if err != nil {
		return freed, err
	}
	// Now-empty documentation directories.
	entries, _ := os.ReadDir(doc)
	for _, e := range entries {
		if e.IsDir() {
			_ = removeEmptyDirs(filepath.Join(doc, e.Name()))
		}
	}
	// Logs: removed, except the login records, which are kept empty.
	logs, err := inRoot(root, "/var/log")
	if err != nil {
		return freed, err
	}
	err = filepath.WalkDir(logs, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && p == logs {
			return filepath.SkipDir
		}
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		freed += info.Size()
		switch d.Name() {
		case "wtmp", "btmp", "lastlog", "faillog":
			return os.Truncate(p, 0)
		}
		return os.Remove(p)
	})
	return freed, err
}

// removeEmptyDirs removes dir and the directories below it that hold nothing (deepest first).
func removeEmptyDirs(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.IsDir() {
			_ = removeEmptyDirs(filepath.Join(dir, e.Name()))
		}
	}
	if entries, err = os.ReadDir(dir); err == nil && len(entries) == 0 {
		return os.Remove(dir)
	}
	return err
}

// du returns the bytes of the regular files below dir (each hard-linked file once).
func du(dir string) int64 {
	var n int64
	seen := map[uint64]bool{}
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		if ino, ok := inode(info); ok {
			if seen[ino] {
				return nil
			}
			seen[ino] = true
		}
		n += info.Size()
		return nil
	})
	return n
}

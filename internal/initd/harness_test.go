//go:build linux

package initd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/deskhub/deskhub/internal/provider/xtest"
	"github.com/deskhub/deskhub/internal/servetest"
)

// The tests run the real deskhub binary as init, in namespaces of its own, as a container would: a new
// PID namespace (it is PID 1 there), mount namespace (private /proc, /tmp, /var/log, and no /run: init
// mounts its tmpfs) and network namespace (only lo, down, as in a container without a network device).
// The test binary itself, re-executed as the namespace's first process, prepares the mounts and then
// execs deskhub (nsHelper). The test reaches init's sockets and files through /proc/<pid>/root.

const testUser = "dhinit-test"

func TestMain(m *testing.M) {
	if os.Getenv("DHINIT_NS_HELPER") != "" {
		nsHelper()
		return
	}
	code := m.Run()
	servetest.Cleanup()
	removeTestUser()
	os.Exit(code)
}

// nsHelper runs as the first process of the namespaces: it makes every mount private (nothing done here
// reaches the host), mounts a fresh /proc, /tmp and /var/log, takes /run away (DHINIT_NS_HELPER=pid1:
// init mounts its own) or mounts a tmpfs there (=subreaper: init is not PID 1 and leaves the system as it
// is), and execs deskhub agent init through a descriptor opened before /tmp was covered.
func nsHelper() {
	fail := func(format string, a ...any) {
		fmt.Fprintf(os.Stderr, "nshelper: "+format+"\n", a...)
		os.Exit(97)
	}
	mode := os.Getenv("DHINIT_NS_HELPER")
	bin, err := os.Open(os.Getenv("DHINIT_BIN"))
	if err != nil {
		fail("%v", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		fail("private mounts: %v", err)
	}
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		fail("proc: %v", err)
	}
	tmp := "mode=0755" // as PID 1, init makes it 1777
	if mode == "subreaper" {
		tmp = "mode=1777" // init leaves a host's /tmp as it is
	}
	for d, opts := range map[string]string{"/tmp": tmp, "/var/log": "mode=0755"} {
		if err := unix.Mount("tmpfs", d, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
			fail("%s: %v", d, err)
		}
	}
	for isMountPoint("/run") {
		if err := unix.Unmount("/run", unix.MNT_DETACH); err != nil {
			fail("umount /run: %v", err)
		}
	}
	if mode == "subreaper" {
		if err := unix.Mount("tmpfs", "/run", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755"); err != nil {
			fail("/run: %v", err)
		}
	}
	argv := append([]string{"deskhub", "agent", "init"}, strings.Fields(os.Getenv("DHINIT_ARGS"))...)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DHINIT_") {
			env = append(env, kv)
		}
	}
	if err := unix.Exec("/proc/self/fd/"+strconv.Itoa(int(bin.Fd())), argv, env); err != nil {
		fail("exec: %v", err)
	}
}

var userOnce sync.Once

// needs fails the test (never skips: see xtest) unless X, root and the throwaway user are there.
func needs(t *testing.T) {
	t.Helper()
	xtest.Ensure(t)
	if os.Geteuid() != 0 {
		t.Fatal("the init tests need root (namespaces, a throwaway user)")
	}
	var err error
	userOnce.Do(func() {
		removeTestUser() // a fresh one (an earlier run may have been killed)
		if _, lerr := user.Lookup(testUser); lerr == nil {
			return // could not be removed (a process of it is left): use it
		}
		// useradd fails while another process (a test package next door) holds /etc/passwd: try again.
		for try := 0; try < 50; try++ {
			out, cerr := exec.Command("useradd", "--create-home", "--shell", "/bin/bash", testUser).CombinedOutput()
			if cerr == nil {
				err = nil
				break
			}
			err = fmt.Errorf("useradd %s: %v: %s", testUser, cerr, out)
			time.Sleep(100 * time.Millisecond)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := user.Lookup(testUser); err != nil {
		t.Fatalf("test user: %v", err)
	}
}

func removeTestUser() {
	for try := 0; try < 50; try++ {
		if _, err := user.Lookup(testUser); err != nil {
			return
		}
		if exec.Command("userdel", "--remove", testUser).Run() == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// initRun is one deskhub agent init in its namespaces.
type initRun struct {
	t    *testing.T
	cmd  *exec.Cmd
	pid  int    // init's pid here (the host's PID namespace)
	root string // /proc/<pid>/root: init's file system
	ns   string // its PID namespace ("pid:[…]")

	mu     sync.Mutex
	logs   []map[string]any
	raw    bytes.Buffer
	stderr bytes.Buffer
	done   chan struct{} // closed when init exited
	state  *os.ProcessState
}

// startInit starts init with the environment given (on top of PATH and DESKHUB_USER); pid1 false runs it
// as a subreaper instead of PID 1 (no PID namespace). A failed test shows init's output; DHINIT_DUMP=1
// shows it always.
func startInit(t *testing.T, env map[string]string, pid1 bool) *initRun {
	t.Helper()
	needs(t)
	bin, err := servetest.Binary()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0])
	mode, flags := "pid1", uintptr(unix.CLONE_NEWPID|unix.CLONE_NEWNS|unix.CLONE_NEWNET|unix.CLONE_NEWUTS|unix.CLONE_NEWIPC)
	if !pid1 {
		mode, flags = "subreaper", unix.CLONE_NEWNS|unix.CLONE_NEWNET|unix.CLONE_NEWUTS|unix.CLONE_NEWIPC
	}
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "DHINIT_NS_HELPER=" + mode,
		"DHINIT_BIN=" + bin, "DESKHUB_USER=" + testUser}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: flags, Pdeathsig: syscall.SIGKILL}
	r := &initRun{t: t, cmd: cmd, done: make(chan struct{})}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = &lockedWriter{mu: &r.mu, w: &r.stderr}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start init in new namespaces: %v", err)
	}
	r.pid = cmd.Process.Pid
	r.root = fmt.Sprintf("/proc/%d/root", r.pid)
	r.ns, _ = os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", r.pid))
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var m map[string]any
			_ = json.Unmarshal(sc.Bytes(), &m)
			r.mu.Lock()
			r.raw.Write(sc.Bytes())
			r.raw.WriteByte('\n')
			if m != nil {
				r.logs = append(r.logs, m)
			}
			r.mu.Unlock()
		}
		_ = cmd.Wait()
		r.mu.Lock()
		r.state = cmd.ProcessState
		r.mu.Unlock()
		close(r.done)
	}()
	t.Cleanup(func() {
		select {
		case <-r.done:
		default:
			// PID 1 gone, the kernel kills its namespace; a subreaper's descendants are killed here.
			for _, p := range r.procs() {
				if p.PID != r.pid {
					_ = syscall.Kill(p.PID, syscall.SIGKILL)
				}
			}
			_ = cmd.Process.Kill()
			<-r.done
		}
		if t.Failed() || os.Getenv("DHINIT_DUMP") != "" {
			r.mu.Lock()
			t.Logf("init's stdout (tail):\n%s\ninit's stderr:\n%s", tail(r.raw.String(), 12000), r.stderr.String())
			r.mu.Unlock()
		}
	})
	return r
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// waitLog waits for a log entry with this msg whose fields hold every key=value of want (values compared
// as text), and answers it.
func (r *initRun) waitLog(d time.Duration, msg string, want map[string]string) map[string]any {
	r.t.Helper()
	var found map[string]any
	r.waitFor(d, fmt.Sprintf("log %q %v", msg, want), func() bool {
		found = r.findLog(msg, want)
		return found != nil
	})
	return found
}

func (r *initRun) findLog(msg string, want map[string]string) map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
next:
	for _, m := range r.logs {
		if m["msg"] != msg {
			continue
		}
		for k, v := range want {
			if fmt.Sprint(m[k]) != v {
				continue next
			}
		}
		return m
	}
	return nil
}

// waitFor polls cond until it holds; the test fails after d, or when init exits meanwhile.
func (r *initRun) waitFor(d time.Duration, what string, cond func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		select {
		case <-r.done:
			if cond() {
				return
			}
			r.t.Fatalf("init exited (%v) while waiting for %s", r.state, what)
		default:
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// exit waits (at most d) for init to exit and answers its exit code (-1: killed by a signal).
func (r *initRun) exit(d time.Duration) int {
	r.t.Helper()
	select {
	case <-r.done:
	case <-time.After(d):
		r.t.Fatalf("init did not exit within %v", d)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state.ExitCode()
}

func (r *initRun) signal(sig syscall.Signal) {
	r.t.Helper()
	if err := syscall.Kill(r.pid, sig); err != nil {
		r.t.Fatalf("signal init: %v", err)
	}
}

// path is a path of init's file system, seen from here.
func (r *initRun) path(p string) string { return r.root + p }

// ready reads init's <run>/ready (false: there is none).
func (r *initRun) ready(runDir string) (Ready, bool) {
	var rd Ready
	b, err := os.ReadFile(r.path(filepath.Join(runDir, "ready")))
	if err != nil {
		return rd, false
	}
	if err := json.Unmarshal(b, &rd); err != nil {
		r.t.Fatalf("ready file: %v: %q", err, b)
	}
	return rd, true
}

// hproc is a process of init's namespace (or, as a subreaper, one of its descendants), seen from here.
type hproc struct {
	PID, NSPID, PPID int
	State            byte
	Comm             string
	Cmdline          string
	UID              int
}

// procs lists init's processes (init itself included).
func (r *initRun) procs() []hproc {
	ents, _ := os.ReadDir("/proc")
	var all []hproc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if r.ns != "" && r.cmd.SysProcAttr.Cloneflags&unix.CLONE_NEWPID != 0 {
			if ns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid)); ns != r.ns {
				continue
			}
		}
		if p, ok := readProc(pid); ok {
			all = append(all, p)
		}
	}
	if r.cmd.SysProcAttr.Cloneflags&unix.CLONE_NEWPID != 0 {
		return all
	}
	// Descendants of init.
	parent := map[int]int{}
	for _, p := range all {
		parent[p.PID] = p.PPID
	}
	var out []hproc
	for _, p := range all {
		for q, n := p.PID, 0; q > 0 && n < 64; q, n = parent[q], n+1 {
			if q == r.pid {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

func readProc(pid int) (hproc, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return hproc{}, false
	}
	i := bytes.LastIndexByte(b, ')')
	j := bytes.IndexByte(b, '(')
	if i < 0 || j < 0 || i+4 >= len(b) {
		return hproc{}, false
	}
	f := strings.Fields(string(b[i+2:]))
	p := hproc{PID: pid, NSPID: pid, State: f[0][0], Comm: string(b[j+1 : i])}
	p.PPID, _ = strconv.Atoi(f[1])
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, line := range strings.Split(string(st), "\n") {
			if v, ok := strings.CutPrefix(line, "NSpid:"); ok {
				if fs := strings.Fields(v); len(fs) > 0 {
					p.NSPID, _ = strconv.Atoi(fs[len(fs)-1])
				}
			}
			if v, ok := strings.CutPrefix(line, "Uid:"); ok {
				if fs := strings.Fields(v); len(fs) > 0 {
					p.UID, _ = strconv.Atoi(fs[0])
				}
			}
		}
	}
	if c, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil {
		p.Cmdline = strings.TrimSpace(strings.ReplaceAll(string(c), "\x00", " "))
	}
	return p, true
}

// byNSPID finds init's process with this pid of its namespace.
func (r *initRun) byNSPID(nspid int) (hproc, bool) {
	for _, p := range r.procs() {
		if p.NSPID == nspid {
			return p, true
		}
	}
	return hproc{}, false
}

// agent answers an HTTP client of the agent on init's <run>/agent.sock.
func (r *initRun) agent(runDir string) *http.Client {
	sock := r.path(filepath.Join(runDir, "agent.sock"))
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}}}
}

//go:build linux

package initd

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/xproto"

	"github.com/deskhub/deskhub/api/spawner"
	"github.com/deskhub/deskhub/internal/servetest"
	"github.com/deskhub/deskhub/internal/xauth"
	"github.com/deskhub/deskhub/internal/xdesk"
)

const runDir = DefaultRunDir

// agentCall calls an agent endpoint and decodes its {code, data} answer.
func agentCall(t *testing.T, c *http.Client, method, path, body string, data any) int {
	t.Helper()
	req, _ := http.NewRequest(method, "http://agent"+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	var env struct {
		Code int             `json:"code"`
		Data json.RawMessage `json:"data"`
	}
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatalf("%s %s: %v: %q", method, path, err, b)
	}
	if data != nil && env.Code == 200 {
		if err := json.Unmarshal(env.Data, data); err != nil {
			t.Fatalf("%s %s: %v: %q", method, path, err, env.Data)
		}
	}
	return env.Code
}

// xterms lists the XTerm windows the agent reports.
func xterms(t *testing.T, c *http.Client) []spawner.Window {
	var ws []spawner.Window
	if agentCall(t, c, "GET", spawner.GetWindowsListEndpoint.Path, "", &ws) != 200 {
		return nil
	}
	var out []spawner.Window
	for _, w := range ws {
		if strings.Contains(strings.ToLower(w.WMClass), "xterm") {
			out = append(out, w)
		}
	}
	return out
}

// dialX connects to init's display :0 with its cookie, from here.
func dialX(t *testing.T, r *initRun, rd Ready) *xgb.Conn {
	t.Helper()
	cookie, err := xauth.ReadCookie(r.path(rd.XAuthority))
	if err != nil {
		t.Fatal(err)
	}
	nc, err := net.Dial("unix", r.path(xdesk.SocketPath(0)))
	if err != nil {
		t.Fatal(err)
	}
	x, err := xauth.Connect(nc, cookie, time.Now().Add(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(x.Close)
	return x
}

// TestInitDesktop runs init as PID 1 and checks, in order: the set-up, the desktop (ready file, RFB,
// agent, users), the reaping of an orphan, the restarts of a killed window manager and agent, and the
// stop on SIGPWR.
func TestInitDesktop(t *testing.T) {
	r := startInit(t, map[string]string{
		"DESKHUB_GEOMETRY":   "800x600",
		"DESKHUB_COMMAND":    "(sleep 3600 &); exec xterm -title dhinit",
		"DESKHUB_LOG_LEVEL":  "debug",
		"DESKHUB_STOP_GRACE": "10s",
		"DESKHUB_BOGUS":      "1",
		"LANG":               "C.UTF-8",
	}, true)
	var rd Ready
	r.waitFor(30*time.Second, "the ready file", func() bool {
		var ok bool
		rd, ok = r.ready(runDir)
		return ok
	})
	uid := rd.UID

	t.Run("Setup", func(t *testing.T) {
		self, ok := readProc(r.pid)
		if !ok || self.NSPID != 1 {
			t.Fatalf("init is pid %d in its namespace, want 1", self.NSPID)
		}
		if r.findLog("unknown variable DESKHUB_BOGUS (ignored)", nil) == nil {
			t.Error("no warning about DESKHUB_BOGUS")
		}
		// Loopback: a fresh network namespace has lo down and no 127.0.0.1.
		fib, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/fib_trie", r.pid))
		if err != nil || !strings.Contains(string(fib), "127.0.0.1") {
			t.Errorf("no 127.0.0.1 in init's network namespace: %v\n%s", err, fib)
		}
		// /run: init mounted a tmpfs (the helper took the host's away); the host's mounts did not change.
		mi, _ := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", r.pid))
		if !strings.Contains(string(mi), " /run rw,nosuid,nodev") || r.findLog("mounted a tmpfs", map[string]string{"dir": "/run"}) == nil {
			t.Errorf("no tmpfs on /run:\n%s", mi)
		}
		host, _ := os.ReadFile("/proc/self/mountinfo")
		for _, line := range strings.Split(string(host), "\n") {
			if f := strings.Fields(line); len(f) > 4 && f[4] == "/run/deskhub" {
				t.Errorf("a mount of init's reached the host: %s", line)
			}
		}
		for dir, want := range map[string]os.FileMode{"/tmp": os.ModeDir | os.ModeSticky | 0o777,
			"/tmp/.X11-unix": os.ModeDir | os.ModeSticky | 0o777, runDir: os.ModeDir | os.ModeSticky | 0o775,
			rd.RuntimeDir: os.ModeDir | 0o700} {
			fi, err := os.Stat(r.path(dir))
			if err != nil || fi.Mode() != want {
				t.Errorf("%s: %v %v, want %v", dir, fi.Mode(), err, want)
			}
		}
		fi, _ := os.Stat(r.path(rd.RuntimeDir))
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != uid {
			t.Errorf("runtime dir owned by %d", st.Uid)
		}
		if rd.RuntimeDir != fmt.Sprintf("/run/user/%d", uid) || rd.XAuthority != rd.RuntimeDir+"/Xauthority" {
			t.Errorf("ready: %+v", rd)
		}
		if b, err := os.ReadFile(r.path("/var/log/deskhub/init.log")); err != nil || !strings.Contains(string(b), `"msg":"ready"`) {
			t.Errorf("init.log: %v", err)
		}
	})

	t.Run("Output", func(t *testing.T) {
		// The output FIFO: root's, 0620 for the user's group; what is written there is in init's log.
		fi, err := os.Lstat(r.path(runDir + "/output"))
		if err != nil || fi.Mode() != os.ModeNamedPipe|0o620 || fi.Sys().(*syscall.Stat_t).Uid != 0 {
			t.Fatalf("output FIFO: %v %v", fi.Mode(), err)
		}
		f, err := os.OpenFile(r.path(runDir+"/output"), os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.WriteString("a line from an exec'd program\n")
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		r.waitFor(10*time.Second, "the exec'd program's line in the log", func() bool {
			return r.findLog("output", map[string]string{"proc": "exec", "line": "a line from an exec'd program"}) != nil
		})
	})

	t.Run("Desktop", func(t *testing.T) {
		if rd.Display != ":0" || rd.RFB != runDir+"/rfb.sock" || rd.Agent != runDir+"/agent.sock" || rd.User != testUser ||
			rd.PIDs["init"] != 1 {
			t.Errorf("ready: %+v", rd)
		}
		for _, name := range []string{"xvnc", "wm", "agent", "pulseaudio", "command"} {
			r.waitFor(10*time.Second, name+" in the ready file", func() bool {
				rd, _ = r.ready(runDir)
				return rd.PIDs[name] > 0
			})
			p, ok := r.byNSPID(rd.PIDs[name])
			if !ok {
				t.Errorf("%s (pid %d) not running", name, rd.PIDs[name])
				continue
			}
			if p.UID != int(uid) || p.PPID != r.pid {
				t.Errorf("%s runs as uid %d, parent %d: want %d, init", name, p.UID, p.PPID, uid)
			}
			if name == "xvnc" && !strings.Contains(p.Cmdline, "-rfbunixpath /run/deskhub/rfb.sock -rfbunixmode 0600 -rfbport -1 -SecurityTypes None -nolisten tcp") {
				t.Errorf("Xvnc: %s", p.Cmdline)
			}
			if name == "agent" && !strings.Contains(p.Cmdline, "agent --display :0 --home /home/"+testUser+" --listen unix:/run/deskhub/agent.sock") {
				t.Errorf("agent: %s", p.Cmdline)
			}
		}
		c, err := net.Dial("unix", r.path(rd.RFB))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		v := make([]byte, 12)
		if _, err := io.ReadFull(c, v); err != nil || string(v) != "RFB 003.008\n" {
			t.Fatalf("RFB banner %q %v", v, err)
		}
		if fi, err := os.Lstat(r.path(rd.RFB)); err != nil || fi.Mode().Perm() != 0o600 || fi.Sys().(*syscall.Stat_t).Uid != uid {
			t.Errorf("rfb.sock: %v %v", fi.Mode(), err)
		}
		ag := r.agent(runDir)
		var ver spawner.Version
		if code := agentCall(t, ag, "GET", "/version", "", &ver); code != 200 {
			t.Fatalf("agent /version: %d", code)
		}
		r.waitFor(10*time.Second, "the XTerm window in the agent's list", func() bool { return len(xterms(t, ag)) > 0 })
		x := dialX(t, r, rd)
		if s := xproto.Setup(x).DefaultScreen(x); s.WidthInPixels != 800 || s.HeightInPixels != 600 {
			t.Errorf("screen %dx%d", s.WidthInPixels, s.HeightInPixels)
		}
	})

	t.Run("ReapsOrphans", func(t *testing.T) {
		// The command's subshell left `sleep 3600` behind: the kernel gave it to init.
		var orphan hproc
		r.waitFor(10*time.Second, "the orphaned sleep, a child of init", func() bool {
			for _, p := range r.procs() {
				if p.Cmdline == "sleep 3600" && p.PPID == r.pid {
					orphan = p
					return true
				}
			}
			return false
		})
		syscall.Kill(orphan.PID, syscall.SIGKILL)
		r.waitFor(10*time.Second, "the orphan reaped (no zombie left)", func() bool {
			_, err := os.Stat(fmt.Sprintf("/proc/%d", orphan.PID))
			return os.IsNotExist(err)
		})
		r.waitLog(5*time.Second, "reaped", map[string]string{"pid": fmt.Sprint(orphan.NSPID), "status": "signal killed"})
		for _, p := range r.procs() {
			if p.State == 'Z' {
				t.Errorf("zombie: %+v", p)
			}
		}
	})

	t.Run("WindowManagerRestarts", func(t *testing.T) {
		ag := r.agent(runDir)
		term := xterms(t, ag)[0]
		x := dialX(t, r, rd)
		root := xproto.Setup(x).DefaultScreen(x).Root
		parent := func() xproto.Window {
			tr, err := xproto.QueryTree(x, xproto.Window(term.ID)).Reply()
			if err != nil {
				t.Fatal(err)
			}
			return tr.Parent
		}
		if parent() == root {
			t.Fatal("the XTerm is not framed by the window manager")
		}
		rd, _ = r.ready(runDir)
		old := rd.PIDs["wm"]
		p, _ := r.byNSPID(old)
		syscall.Kill(p.PID, syscall.SIGKILL)
		r.waitLog(10*time.Second, "exited", map[string]string{"proc": "wm", "pid": fmt.Sprint(old), "status": "signal killed"})
		r.waitLog(10*time.Second, "restarting", map[string]string{"proc": "wm"})
		r.waitFor(15*time.Second, "a new window manager in the ready file", func() bool {
			rd, _ = r.ready(runDir)
			n, ok := r.byNSPID(rd.PIDs["wm"])
			return rd.PIDs["wm"] != old && ok && n.Comm == "openbox"
		})
		// The new window manager took over the XTerm (framed again) and it is still manageable.
		r.waitFor(10*time.Second, "the XTerm framed by the new window manager", func() bool {
			return xdesk.WMOwned(x) && parent() != root
		})
		body := fmt.Sprintf(`{"windowsid":[%d]}`, term.ID)
		if code := agentCall(t, ag, "POST", spawner.ActivateWindowsEndpoint.Path, body, nil); code != 200 {
			t.Errorf("activatewindows: %d", code)
		}
		if len(xterms(t, ag)) == 0 {
			t.Error("the XTerm left the window list")
		}
	})

	t.Run("AgentRestarts", func(t *testing.T) {
		rd, _ = r.ready(runDir)
		old := rd.PIDs["agent"]
		p, _ := r.byNSPID(old)
		syscall.Kill(p.PID, syscall.SIGKILL)
		r.waitFor(15*time.Second, "a new agent in the ready file", func() bool {
			rd, _ = r.ready(runDir)
			return rd.PIDs["agent"] != old && rd.PIDs["agent"] > 0
		})
		var ver spawner.Version
		if code := agentCall(t, r.agent(runDir), "GET", "/version", "", &ver); code != 200 {
			t.Fatalf("the restarted agent answers %d", code)
		}
	})

	t.Run("StopOnSIGPWR", func(t *testing.T) {
		before := r.procs()
		if len(before) < 6 {
			t.Fatalf("processes of the desktop: %+v", before)
		}
		r.signal(syscall.SIGPWR)
		if code := r.exit(30 * time.Second); code != 0 {
			t.Fatalf("init exit %d", code)
		}
		stopped := r.findLog("stopped", nil)
		if stopped == nil || stopped["left"] != 0.0 || stopped["reason"] != "signal SIGPWR" {
			t.Errorf("stopped: %v", stopped)
		}
		// Everything ended on SIGTERM, within the grace period, in order.
		if r.findLog("killing the processes left", nil) != nil {
			t.Error("processes had to be killed")
		}
		var order []string
		r.mu.Lock()
		for _, m := range r.logs {
			if m["msg"] == "terminating" {
				order = append(order, fmt.Sprint(m["proc"]))
			}
		}
		r.mu.Unlock()
		if strings.Join(order, ",") != "command,agent,wm,pulseaudio,xvnc" {
			t.Errorf("stop order %v", order)
		}
		for _, p := range before {
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", p.PID)); err == nil {
				t.Errorf("left running: %+v", p)
			}
		}
	})
}

// TestInitXvncRestarts: a killed X server is started again, and the window manager with it (it lost its
// display); the ready file goes while X is down and comes back with the new pids. The command (an xterm,
// which dies with its display) ends, and DESKHUB_ON_EXIT=keep keeps the desktop.
func TestInitXvncRestarts(t *testing.T) {
	r := startInit(t, map[string]string{"DESKHUB_COMMAND": "exec xterm", "DESKHUB_ON_EXIT": "keep", "DESKHUB_AUDIO": "off"}, true)
	var rd Ready
	r.waitFor(30*time.Second, "the ready file and the command", func() bool {
		var ok bool
		rd, ok = r.ready(runDir)
		return ok && rd.PIDs["command"] > 0 && rd.PIDs["wm"] > 0
	})
	oldX, oldWM := rd.PIDs["xvnc"], rd.PIDs["wm"]
	p, _ := r.byNSPID(oldX)
	syscall.Kill(p.PID, syscall.SIGKILL)
	r.waitLog(10*time.Second, "not ready", nil)
	r.waitLog(10*time.Second, "the command ended; the desktop stays (DESKHUB_ON_EXIT=keep)", nil)
	r.waitFor(30*time.Second, "a new Xvnc and window manager in the ready file", func() bool {
		var ok bool
		rd, ok = r.ready(runDir)
		return ok && rd.PIDs["xvnc"] > 0 && rd.PIDs["xvnc"] != oldX && rd.PIDs["wm"] > 0 && rd.PIDs["wm"] != oldWM
	})
	c, err := net.Dial("unix", r.path(rd.RFB))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	v := make([]byte, 12)
	if _, err := io.ReadFull(c, v); err != nil || string(v) != "RFB 003.008\n" {
		t.Fatalf("RFB banner after the restart: %q %v", v, err)
	}
	if _, ok := rd.PIDs["command"]; ok {
		t.Errorf("the ended command is still in the ready file: %v", rd.PIDs)
	}
	r.signal(syscall.SIGPWR)
	if code := r.exit(30 * time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// TestInitBadConfiguration: bad values stop init at once with the variable named on stderr, exit 1.
func TestInitBadConfiguration(t *testing.T) {
	for env, want := range map[string]string{
		"DESKHUB_GEOMETRY": "DESKHUB_GEOMETRY",
		"DESKHUB_DEPTH":    "DESKHUB_DEPTH",
		"DESKHUB_ON_EXIT":  "DESKHUB_ON_EXIT",
	} {
		t.Run(env, func(t *testing.T) {
			r := startInit(t, map[string]string{env: "bogus"}, true)
			if code := r.exit(20 * time.Second); code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			r.mu.Lock()
			defer r.mu.Unlock()
			if !strings.Contains(r.stderr.String(), "bad configuration") || !strings.Contains(r.stderr.String(), want) {
				t.Errorf("stderr %q", r.stderr.String())
			}
		})
	}
	// A user that does not exist: the set-up fails (logged as JSON and on stderr), exit 1.
	r := startInit(t, map[string]string{"DESKHUB_USER": "dhinit-nobody"}, true)
	if code := r.exit(20 * time.Second); code != 1 {
		t.Errorf("unknown user: exit %d", code)
	}
	if r.findLog("set-up failed", nil) == nil || !strings.Contains(r.stderr.String(), "DESKHUB_USER") {
		t.Errorf("unknown user: stderr %q", r.stderr.String())
	}
}

// TestInitCommandExit: when the command exits, init stops everything and exits 0 (DESKHUB_ON_EXIT's
// default), here without window manager and sound.
func TestInitCommandExit(t *testing.T) {
	r := startInit(t, map[string]string{"DESKHUB_COMMAND": "exit 3", "DESKHUB_WM": "none", "DESKHUB_AUDIO": "off"}, true)
	if code := r.exit(30 * time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if r.findLog("stopped", map[string]string{"reason": "the command ended (exit status 3)"}) == nil {
		t.Error("no stop for the command's exit")
	}
	for _, name := range []string{"wm", "pulseaudio"} {
		if r.findLog("started", map[string]string{"proc": name}) != nil {
			t.Errorf("%s started", name)
		}
	}
}

// TestInitGivesUp: a window manager that keeps exiting uses up its restart budget; init stops with 3,
// and its reason carries what the program said last.
func TestInitGivesUp(t *testing.T) {
	r := startInit(t, map[string]string{"DESKHUB_WM": "ls /no-such-file-of-the-wm-test", "DESKHUB_AUDIO": "off"}, true)
	if code := r.exit(60 * time.Second); code != ExitGaveUp {
		t.Fatalf("exit %d, want %d", code, ExitGaveUp)
	}
	l := r.findLog("giving up", map[string]string{"proc": "wm"})
	if reason, _ := l["reason"].(string); !strings.HasPrefix(reason, "it exited 6 times within 1m0s; last: ") ||
		!strings.Contains(reason, "/no-such-file-of-the-wm-test") || strings.Count(reason, " / ") > tailLines-1 {
		t.Errorf("giving up: %v", l)
	}
	if !strings.Contains(r.stderr.String(), "wm: it exited 6 times within 1m0s; last: ls: ") {
		t.Errorf("stderr %q", r.stderr.String())
	}
	if r.findLog("stopped", map[string]string{"reason": "wm: " + l["reason"].(string)}) == nil {
		t.Error("the stop's reason is not the giving up's")
	}
}

// TestInitStopGrace: a command that ignores SIGTERM is killed when the grace period ends; a second
// signal does not wait for it.
func TestInitStopGrace(t *testing.T) {
	cmd := "trap '' TERM; while :; do sleep 1; done"
	t.Run("Grace", func(t *testing.T) {
		r := startInit(t, map[string]string{"DESKHUB_COMMAND": cmd, "DESKHUB_STOP_GRACE": "1s", "DESKHUB_AUDIO": "off"}, true)
		r.waitLog(30*time.Second, "started", map[string]string{"proc": "command"})
		r.signal(syscall.SIGTERM)
		if code := r.exit(30 * time.Second); code != 0 {
			t.Fatalf("exit %d", code)
		}
		if r.findLog("killing the processes left", map[string]string{"hurried": "false"}) == nil ||
			r.findLog("stopped", map[string]string{"left": "0", "reason": "signal SIGTERM"}) == nil {
			t.Error("the command was not killed after the grace period")
		}
		if r.findLog("second stop signal: killing what is left now", nil) != nil {
			t.Error("one SIGTERM taken for two")
		}
	})
	t.Run("SecondSignal", func(t *testing.T) {
		r := startInit(t, map[string]string{"DESKHUB_COMMAND": cmd, "DESKHUB_STOP_GRACE": "10m", "DESKHUB_AUDIO": "off"}, true)
		r.waitLog(30*time.Second, "started", map[string]string{"proc": "command"})
		r.signal(syscall.SIGPWR)
		r.waitLog(10*time.Second, "terminating", map[string]string{"proc": "command"})
		r.signal(syscall.SIGPWR)
		if code := r.exit(30 * time.Second); code != 0 {
			t.Fatalf("exit %d", code)
		}
		if r.findLog("second stop signal: killing what is left now", nil) == nil {
			t.Error("no hurry")
		}
	})
}

// TestInitReboot: SIGINT (lxc restart) stops the desktop like SIGPWR, then init asks the kernel for a
// reboot, which in a PID namespace ends init by SIGHUP: what LXC reads as "restart the container".
func TestInitReboot(t *testing.T) {
	r := startInit(t, map[string]string{"DESKHUB_AUDIO": "off", "DESKHUB_WM": "none"}, true)
	r.waitFor(30*time.Second, "the ready file", func() bool { _, ok := r.ready(runDir); return ok })
	r.signal(syscall.SIGINT)
	r.exit(30 * time.Second)
	ws := r.state.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != syscall.SIGHUP {
		t.Errorf("init ended with %v, want signal SIGHUP (reboot)", r.state)
	}
	if r.findLog("stopped", map[string]string{"reason": "signal SIGINT", "left": "0"}) == nil || r.findLog("rebooting", nil) == nil {
		t.Error("no clean stop before the reboot")
	}
}

// TestInitSubreaper: not PID 1 (no PID namespace), init still gets the orphans (child subreaper) and
// leaves the system alone.
func TestInitSubreaper(t *testing.T) {
	r := startInit(t, map[string]string{"DESKHUB_COMMAND": "(sleep 3600 &); exec sleep 3600", "DESKHUB_WM": "none",
		"DESKHUB_AUDIO": "off"}, false)
	r.waitFor(30*time.Second, "the ready file", func() bool { _, ok := r.ready(runDir); return ok })
	if r.findLog("not PID 1: leaving loopback, /run, /dev/shm and /tmp as they are", nil) == nil {
		t.Error("not PID 1, but the system was set up")
	}
	var orphan hproc
	r.waitFor(10*time.Second, "the orphaned sleep, a child of init", func() bool {
		for _, p := range r.procs() {
			if p.Cmdline == "sleep 3600" && p.PPID == r.pid {
				if cmdPID := r.findLog("started", map[string]string{"proc": "command"}); cmdPID != nil && fmt.Sprint(cmdPID["pid"]) != fmt.Sprint(p.PID) {
					orphan = p
					return true
				}
			}
		}
		return false
	})
	syscall.Kill(orphan.PID, syscall.SIGKILL)
	r.waitFor(10*time.Second, "the orphan reaped", func() bool {
		_, err := os.Stat(fmt.Sprintf("/proc/%d", orphan.PID))
		return os.IsNotExist(err)
	})
	r.signal(syscall.SIGTERM)
	if code := r.exit(30 * time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if r.findLog("stopped", map[string]string{"left": "0"}) == nil {
		t.Error("processes left")
	}
}

// TestInitHelp: the binary knows the command (a quick check outside any namespace).
func TestInitHelp(t *testing.T) {
	bin, err := servetest.Binary()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "agent", "init", "--help").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "[DESKHUB_ON_EXIT]") {
		t.Fatalf("%v: %s", err, out)
	}
}

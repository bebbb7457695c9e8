//go:build linux

package initd

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// stopOrder is the order the programs are asked to stop in: the user's first, so that they can still
// talk to the display while they save, the X server last.
var stopOrder = []string{"command", "agent", "wm", "pulseaudio", "xvnc"}

// stop stops the desktop: the ready file goes, each program's process group gets SIGTERM in stopOrder
// (each waited for until the grace period ends), then every other process left, then SIGKILL for what
// outlived the grace period; a second stop signal (hurry) goes to SIGKILL at once. Then the sockets and
// the user's runtime directory are removed. It answers the exit code of the stop request.
func (i *Init) stop() int {
	i.mu.Lock()
	close(i.stopping)
	if i.isReady {
		i.isReady = false
		_ = removeFile(i.readyPath())
	}
	i.mu.Unlock()
	i.log.Info("stopping", "reason", i.stopWhy, "grace", i.c.StopGrace.String())
	deadline := time.Now().Add(i.c.StopGrace)
	for _, name := range stopOrder {
		if i.hurried() {
			break
		}
		p := i.running(name)
		if p == nil || p.exited() {
			continue
		}
		i.log.Info("terminating", "proc", name, "pid", p.pid)
		_ = unix.Kill(-p.pid, unix.SIGTERM)
		i.waitUntil(deadline, func() bool { return p.exited() && !groupAlive(p.pid) })
	}
	// The supervisors return as the stop begins (what they wait on honours it): nothing starts after this.
	sup := make(chan struct{})
	go func() { i.wg.Wait(); close(sup) }()
	select {
	case <-sup:
	case <-time.After(2 * time.Second):
		i.log.Warn("a supervisor did not return")
	}
	if !i.hurried() && i.anyLeft() {
		i.log.Info("terminating the processes left", "count", len(i.others()))
		i.signalOthers(unix.SIGTERM)
		i.waitUntil(deadline, func() bool { return !i.anyLeft() })
	}
	for try := 0; try < 3 && i.anyLeft(); try++ {
		i.log.Warn("killing the processes left", "count", len(i.others()), "hurried", i.hurried())
		i.signalOthers(unix.SIGKILL)
		i.waitUntil(time.Now().Add(2*time.Second), func() bool { return !i.anyLeft() })
	}
	i.r.reap()
	// What the programs leave when killed: their sockets, the runtime directory (a tmpfs in a container,
	// but not on a host).
	for _, p := range []string{i.rfbPath(), i.agentPath(), i.outputPath()} {
		_ = removeFile(p)
	}
	if i.rtDir != "" {
		_ = os.RemoveAll(i.rtDir)
	}
	unix.Sync()
	left := len(i.others())
	i.log.Info("stopped", "reason", i.stopWhy, "exit_code", i.stopCode, "left", left, "orphans_reaped", i.r.reaped())
	return i.stopCode
}

func (i *Init) hurried() bool {
	select {
	case <-i.hurry:
		return true
	default:
		return false
	}
}

// waitUntil reaps and polls cond until it holds, the deadline passes or the stop is hurried.
func (i *Init) waitUntil(deadline time.Time, cond func() bool) bool {
	for {
		i.r.reap()
		if cond() {
			return true
		}
		if time.Now().After(deadline) || i.hurried() {
			return false
		}
		select {
		case <-time.After(20 * time.Millisecond):
		case <-i.hurry:
		}
	}
}

// groupAlive tells whether process group pgid has a member.
func groupAlive(pgid int) bool {
	return !errors.Is(unix.Kill(-pgid, 0), unix.ESRCH)
}

// anyLeft tells whether a process init has to stop is left: as PID 1, any other process of its PID
// namespace (kill(-1) reaches exactly those); otherwise its descendants.
func (i *Init) anyLeft() bool {
	i.r.reap()
	if os.Getpid() == 1 {
		return !errors.Is(unix.Kill(-1, 0), unix.ESRCH)
	}
	return len(i.others()) > 0
}

// signalOthers sends sig to every process init has to stop.
func (i *Init) signalOthers(sig unix.Signal) {
	if os.Getpid() == 1 {
		_ = unix.Kill(-1, sig)
		return
	}
	for _, pid := range i.others() {
		_ = unix.Kill(pid, sig)
	}
}

// others lists the live (not zombie) processes init has to stop, from /proc: as PID 1 every other
// process (when /proc is its namespace's), otherwise its descendants.
func (i *Init) others() []int {
	self := os.Getpid()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	if self == 1 {
		if b, err := os.Readlink("/proc/self"); err != nil || b != "1" {
			return nil // another namespace's /proc: anyLeft asks the kernel instead
		}
	}
	parent := map[int]int{}
	var live []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		j := bytes.LastIndexByte(b, ')')
		if j < 0 || j+4 >= len(b) {
			continue
		}
		f := bytes.Fields(b[j+2:])
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(string(f[1]))
		parent[pid] = ppid
		if f[0][0] != 'Z' && f[0][0] != 'X' {
			live = append(live, pid)
		}
	}
	if self == 1 {
		return live
	}
	var out []int
	for _, pid := range live {
		for p, n := parent[pid], 0; p > 0 && n < 64; p, n = parent[p], n+1 {
			if p == self {
				out = append(out, pid)
				break
			}
		}
	}
	return out
}

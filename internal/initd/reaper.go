//go:build linux

package initd

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// proc is one program init started. Its process group is its pid (each is a session leader).
type proc struct {
	name string
	pid  int
	done chan struct{} // closed once the reaper collected it; status is set before
	ws   unix.WaitStatus

	outDone chan struct{} // closed once its output pipe is drained (every holder closed it)
	outMu   sync.Mutex
	last    []string // its last lines of output (tailLines at most)
}

// tailLines is how many of a program's last output lines init keeps for the reason of its end.
const tailLines = 3

// note keeps line among the last lines of output.
func (p *proc) note(line string) {
	if strings.TrimSpace(line) == "" {
		return
	}
	if len(line) > 200 {
		line = line[:200] + "…"
	}
	p.outMu.Lock()
	defer p.outMu.Unlock()
	p.last = append(p.last, line)
	if len(p.last) > tailLines {
		p.last = p.last[len(p.last)-tailLines:]
	}
}

// lastOutput is the program's last lines of output, " / "-joined ("" when it wrote none). It waits a
// moment for the pipe to be drained (it may still hold the lines written just before the exit).
func (p *proc) lastOutput(wait time.Duration) string {
	select {
	case <-p.outDone:
	case <-time.After(wait):
	}
	p.outMu.Lock()
	defer p.outMu.Unlock()
	return strings.Join(p.last, " / ")
}

// exited tells whether the reaper collected the process.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// status describes how the process ended ("exit status 1", "signal killed").
func (p *proc) status() string { return describe(p.ws) }

func describe(ws unix.WaitStatus) string {
	switch {
	case ws.Exited():
		return "exit status " + strconv.Itoa(ws.ExitStatus())
	case ws.Signaled():
		s := "signal " + ws.Signal().String()
		if ws.CoreDump() {
			s += " (core dumped)"
		}
		return s
	}
	return "status " + strconv.Itoa(int(ws))
}

// reaper starts programs and is the one place that waits for children: reap collects every child that
// exited — the programs started here, which it hands back through their proc, and any orphan the kernel
// gave this process — so no zombie stays.
type reaper struct {
	log *slog.Logger

	mu      sync.Mutex // held while a program starts, so that its exit is never collected before it is known
	owned   map[int]*proc
	orphans int
}

func newReaper(log *slog.Logger) *reaper { return &reaper{log: log, owned: map[int]*proc{}} }

// spec is how to start one program.
type spec struct {
	name string
	path string
	argv []string
	env  []string
	dir  string
	cred *syscall.Credential
}

// start starts a program in its own session (and so process group), with stdout and stderr into the
// log, line by line, and logs it.
func (r *reaper) start(s spec) (*proc, error) {
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return nil, err
	}
	defer devnull.Close()
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer pw.Close()
	r.mu.Lock()
	p, err := os.StartProcess(s.path, s.argv, &os.ProcAttr{
		Dir:   s.dir,
		Env:   s.env,
		Files: []*os.File{devnull, pw, pw},
		Sys:   &syscall.SysProcAttr{Setsid: true, Credential: s.cred},
	})
	if err != nil {
		r.mu.Unlock()
		pr.Close()
		return nil, err
	}
	pc := &proc{name: s.name, pid: p.Pid, done: make(chan struct{}), outDone: make(chan struct{})}
	r.owned[pc.pid] = pc
	r.mu.Unlock()
	// The reaper waits, not the os package: drop its handle (a pidfd) without waiting.
	_ = p.Release()
	r.log.Info("started", "proc", s.name, "pid", pc.pid, "argv", s.argv)
	go r.copyOutput(pc, pr)
	return pc, nil
}

// copyOutput logs what a program writes, one entry a line (long lines in pieces of 4 KiB). It ends when
// every holder of the pipe (the program, its children) closed it.
func (r *reaper) copyOutput(p *proc, f *os.File) {
	name, pid := p.name, p.pid
	defer close(p.outDone)
	defer f.Close()
	br := bufio.NewReaderSize(f, 4096)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			if line[len(line)-1] == '\n' {
				line = line[:len(line)-1]
			}
			r.log.Info("output", "proc", name, "pid", pid, "line", string(line))
			p.note(string(line))
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			if !errors.Is(err, io.EOF) {
				r.log.Debug("output ended", "proc", name, "pid", pid, "error", err)
			}
			return
		}
	}
}

// reap collects every child that has exited, without blocking.
func (r *reaper) reap() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || pid <= 0 {
			return // ECHILD: no children; 0: none exited
		}
		r.mu.Lock()
		p := r.owned[pid]
		delete(r.owned, pid)
		if p == nil {
			r.orphans++
		}
		r.mu.Unlock()
		if p == nil {
			r.log.Debug("reaped", "pid", pid, "status", describe(ws))
			continue
		}
		p.ws = ws
		r.log.Info("exited", "proc", p.name, "pid", pid, "status", describe(ws)) // before its supervisor logs what it does about it
		close(p.done)
	}
}

// reaped answers how many processes that init did not start it has reaped.
func (r *reaper) reaped() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.orphans
}

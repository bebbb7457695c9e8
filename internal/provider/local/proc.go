package local

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// procRef names one process across pid reuse: the pid and its start time (field 22 of /proc/<pid>/stat,
// clock ticks since boot).
type procRef struct {
	PID   int    `json:"pid"`
	Start uint64 `json:"start"`
}

// procStat is the part of /proc/<pid>/stat deskhub needs.
type procStat struct {
	State byte
	PGID  int
	SID   int
	Start uint64
}

// readStat parses /proc/<pid>/stat.
func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	// comm may contain spaces and parentheses: the fields start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return procStat{}, fmt.Errorf("bad /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+2:]))
	// f[0] is field 3 (state); field n is f[n-3].
	if len(f) < 20 {
		return procStat{}, fmt.Errorf("bad /proc/%d/stat", pid)
	}
	var s procStat
	s.State = f[0][0]
	s.PGID, _ = strconv.Atoi(f[2])
	s.SID, _ = strconv.Atoi(f[3])
	s.Start, err = strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("bad /proc/%d/stat: %w", pid, err)
	}
	return s, nil
}

// ref returns a procRef for a running pid.
func refOf(pid int) (procRef, error) {
	s, err := readStat(pid)
	if err != nil {
		return procRef{}, err
	}
	return procRef{PID: pid, Start: s.Start}, nil
}

// alive tells whether the process still runs (not a zombie) and is the same one (start time).
func (r procRef) alive() bool {
	if r.PID <= 0 {
		return false
	}
	s, err := readStat(r.PID)
	if err != nil {
		return false
	}
	return s.State != 'Z' && s.State != 'X' && (r.Start == 0 || s.Start == r.Start)
}

// procUID returns the real uid of a process.
func procUID(pid int) (uint32, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				break
			}
			u, err := strconv.ParseUint(f[0], 10, 32)
			return uint32(u), err
		}
	}
	return 0, fmt.Errorf("no Uid in /proc/%d/status", pid)
}

// hasEnv tells whether the process environment holds exactly the entry kv ("K=V").
func hasEnv(pid int, kv string) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		return false
	}
	for _, e := range bytes.Split(b, []byte{0}) {
		if string(e) == kv {
			return true
		}
	}
	return false
}

// sessionProcs lists the live processes of a session: owned by uid and either in one of the session's
// Unix sessions (sids: every process deskhub starts is a session leader) or marked with the session's
// environment entry (catches programs that called setsid themselves).
func sessionProcs(uid uint32, sids map[int]bool, marker string) []procRef {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var out []procRef
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 1 || pid == self {
			continue
		}
		s, err := readStat(pid)
		if err != nil || s.State == 'Z' || s.State == 'X' {
			continue
		}
		u, err := procUID(pid)
		if err != nil || u != uid {
			continue
		}
		if sids[s.SID] || sids[s.PGID] || hasEnv(pid, marker) {
			out = append(out, procRef{PID: pid, Start: s.Start})
		}
	}
	return out
}

// signal sends sig to r if it is still the same process.
func (r procRef) signal(sig syscall.Signal) {
	if r.alive() {
		_ = syscall.Kill(r.PID, sig)
	}
}

// waitGone polls until none of refs is alive or the deadline passes; it reports whether all are gone.
func waitGone(refs []procRef, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		all := true
		for _, r := range refs {
			if r.alive() {
				all = false
				break
			}
		}
		if all {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(25 * time.Millisecond)
	}
}

var errNotRunning = errors.New("not running")

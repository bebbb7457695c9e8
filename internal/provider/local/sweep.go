package local

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/deskhub/deskhub/internal/provider"
	"github.com/deskhub/deskhub/internal/xdesk"
)

var _ provider.Sweeper = (*Provider)(nil)

// stateMarker is the environment entry every process of this provider's desktops carries besides its
// session's: it tells them apart from the desktops of another deskhub (another data directory) on the
// same host, which a sweep must not touch.
func (p *Provider) stateMarker() string { return "DESKHUB_STATE=" + p.o.StateDir }

// Sweep implements provider.Sweeper: it stops every process of a desktop of this provider that it does
// not run or start — what a deskhub killed in the middle of a start, or before it could record a
// desktop, left behind. A process belongs to a desktop by the environment entries it was started with,
// or by being in the Unix session of such a process (programs that cleared their environment). Call it
// after Adopt has taken back what survived.
func (p *Provider) Sweep(ctx context.Context) ([]string, error) {
	orphans := p.orphans()
	if len(orphans) == 0 {
		return nil, nil
	}
	ids := make([]string, 0, len(orphans))
	var targets []procRef
	for id, refs := range orphans {
		ids = append(ids, id)
		targets = append(targets, refs...)
		p.log.Warn("stopping the processes of a desktop deskhub does not run (left by a crash)",
			"session", id, "processes", len(refs))
	}
	sort.Strings(ids)
	for _, r := range targets {
		r.signal(syscall.SIGTERM)
	}
	if !waitGone(targets, p.o.StopGrace) {
		for i := 0; i < 3; i++ {
			var rest []procRef
			for _, refs := range p.orphans() {
				rest = append(rest, refs...)
			}
			if len(rest) == 0 {
				break
			}
			for _, r := range rest {
				r.signal(syscall.SIGKILL)
			}
			waitGone(rest, 2*time.Second)
		}
	}
	for id, refs := range orphans {
		p.cleanupOrphan(id, refs)
	}
	return ids, ctx.Err()
}

// orphans maps session ids to the live processes of desktops of this provider it neither runs nor starts.
func (p *Provider) orphans() map[string][]procRef {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	state := []byte(p.stateMarker())
	self := os.Getpid()
	type proc struct {
		ref procRef
		sid int
	}
	var procs []proc
	bySID := map[int]string{} // Unix session → desktop id (from its marked members)
	ids := map[int]string{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 1 || pid == self {
			continue
		}
		st, err := readStat(pid)
		if err != nil || st.State == 'Z' || st.State == 'X' {
			continue
		}
		procs = append(procs, proc{procRef{PID: pid, Start: st.Start}, st.SID})
		if id, ok := markedSession(pid, state); ok {
			ids[pid] = id
			bySID[st.SID] = id
		}
	}
	out := map[string][]procRef{}
	for _, pr := range procs {
		id, ok := ids[pr.ref.PID]
		if !ok {
			id, ok = bySID[pr.sid]
		}
		if !ok || !checkIDOK(id) || p.owns(id) {
			continue
		}
		out[id] = append(out[id], pr.ref)
	}
	return out
}

func checkIDOK(id string) bool { return checkID(id) == nil }

// owns tells whether the provider runs or is starting desktop id.
func (p *Provider) owns(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.starting[id] {
		return true
	}
	d, ok := p.desktops[id]
	return ok && d.state() != stateGone
}

// markedSession reads a process's environment: the desktop id when it carries this provider's marker.
func markedSession(pid int, state []byte) (string, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil || !bytes.Contains(b, state) {
		return "", false
	}
	var id string
	found := false
	for _, e := range bytes.Split(b, []byte{0}) {
		if bytes.Equal(e, state) {
			found = true
		} else if v, ok := bytes.CutPrefix(e, []byte("DESKHUB_SESSION=")); ok {
			id = string(v)
		}
	}
	return id, found && id != ""
}

// cleanupOrphan removes what the killed processes of a swept desktop left: its sockets and cookie, and
// the X lock and socket of an X server among them.
func (p *Provider) cleanupOrphan(id string, refs []procRef) {
	dir := filepath.Join(p.o.StateDir, id)
	for _, f := range []string{"rfb.sock", "agent.sock", "xauthority"} {
		_ = os.Remove(filepath.Join(dir, f))
	}
	pids := map[int]bool{}
	for _, r := range refs {
		pids[r.PID] = true
	}
	locks, _ := filepath.Glob("/tmp/.X*-lock")
	for _, l := range locks {
		n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(l, "/tmp/.X"), "-lock"))
		if err != nil {
			continue
		}
		if pid, ok := xdesk.LockPID(n); ok && pids[pid] {
			_ = os.Remove(l)
			_ = os.Remove("/tmp/.X11-unix/X" + strconv.Itoa(n))
		}
	}
	if f, err := openNoFollow(filepath.Join(dir, "session.log"), os.O_WRONLY|os.O_APPEND); err == nil {
		f.WriteString("deskhub: " + time.Now().Format(time.RFC3339) + " desktop stopped: deskhub did not run it (left by a crash)\n")
		f.Close()
	}
}

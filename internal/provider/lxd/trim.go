package lxd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	incus "github.com/lxc/incus/v6/client"
	"github.com/lxc/incus/v6/shared/api"

	"github.com/deskhub/deskhub/internal/cgmem"
	"github.com/deskhub/deskhub/internal/provider"
)

var _ provider.Trimmer = (*Provider)(nil)

// Trimming (docs/LXD-DESKTOPS.md "Idle desktops give back their page cache"): an idle desktop's
// instance is asked, through one exec of `deskhub agent reclaim` as root inside it, to reclaim its
// cgroup's page cache (internal/cgmem). The session service trims desktops no client has viewed for
// --trim-idle; the warm pool trims each spare once it is ready. A frozen desktop is not trimmed (an exec
// would wait for the thaw); it was trimmed before it froze when --trim-idle is shorter than
// --freeze-idle.

// Where: for a server on this machine (its unix socket, loopback) the broker — root on the LXD host —
// reclaims the instance's cgroup itself, found from the instance's init process (/proc/PID/cgroup);
// LXD does not always mount the cgroup hierarchy inside containers (not on a host with the v1 memory
// controller, as on the test machine), so there is no other way there. For a server elsewhere it runs
// `deskhub agent reclaim` as root inside the instance through one exec, which works where the container
// sees its own memory cgroup (cgroup v2 with a cgroup namespace: LXD's default on current hosts).

// Trim implements provider.Trimmer.
func (p *Provider) Trim(ctx context.Context, id string) (int64, int64, error) {
	d, err := p.running(id)
	if err != nil {
		return 0, 0, err
	}
	d.freezeMu.Lock()
	defer d.freezeMu.Unlock()
	if frozen, _ := d.freezeState(); frozen {
		return 0, 0, nil
	}
	cl, err := p.client(d.rt.Server)
	if err != nil {
		return 0, 0, err
	}
	t0 := time.Now()
	r, err := p.reclaim(ctx, cl, d.rt.Server, d.rt.Instance)
	if err != nil {
		return 0, 0, err
	}
	p.log.Info("idle desktop trimmed", "session", id, "instance", d.rt.Instance,
		"before_mib", r.Before.Current>>20, "after_mib", r.After.Current>>20, "took", time.Since(t0).Round(time.Millisecond).String())
	return r.Before.Current, r.After.Current, nil
}

// reclaim reclaims instance name's page cache: from this machine's cgroup tree when the server runs
// here, else by the reclaim command inside it (an image whose deskhub has no `agent reclaim` — older
// than the broker — is errors.ErrUnsupported).
func (p *Provider) reclaim(ctx context.Context, cl incus.InstanceServer, server int64, name string) (cgmem.Result, error) {
	row, err := p.o.Store.GetServer(ctx, server)
	if err != nil {
		return cgmem.Result{}, err
	}
	if onThisMachine(row) {
		st, _, err := cl.GetInstanceState(name)
		if err != nil {
			return cgmem.Result{}, fmt.Errorf("lxd: reclaiming %s's memory: %w", name, err)
		}
		cg, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", st.Pid))
		if err != nil || st.Pid <= 1 {
			return cgmem.Result{}, fmt.Errorf("lxd: reclaiming %s's memory: its init (pid %d) is not on this machine: %v", name, st.Pid, err)
		}
		dir, err := memoryCgroup(cg)
		if err != nil {
			return cgmem.Result{}, fmt.Errorf("lxd: reclaiming %s's memory: %w", name, err)
		}
		return cgmem.Reclaim(dir)
	}
	var out limited
	code, err := p.exec(ctx, cl, name, api.InstanceExecPost{Command: slices.Clone(p.o.ReclaimCommand), WaitForWS: true}, nil, &out)
	if err != nil {
		return cgmem.Result{}, fmt.Errorf("lxd: reclaiming %s's memory: %w", name, err)
	}
	r, err := parseReclaim(out.b.Bytes(), code)
	if err != nil {
		return r, fmt.Errorf("lxd: reclaiming %s's memory: %w", name, err)
	}
	return r, nil
}

// parseReclaim reads what `deskhub agent reclaim` printed (a cgmem.Result, or {"error": …}) and its
// exit code. Anything else comes from an image whose deskhub has no such command: errors.ErrUnsupported.
func parseReclaim(out []byte, code int) (cgmem.Result, error) {
	var r struct {
		cgmem.Result
		Error string `json:"error"`
	}
	if json.Unmarshal(out, &r) != nil || (r.Error == "" && (code != 0 || r.Before.Current <= 0)) {
		return cgmem.Result{}, fmt.Errorf("the reclaim command exited %d without its answer (an image older than the broker?): %w", code, errors.ErrUnsupported)
	}
	if r.Error != "" {
		return cgmem.Result{}, fmt.Errorf("%s (exit %d)", r.Error, code)
	}
	return r.Result, nil
}

// memoryCgroup answers the directory of the memory cgroup that a /proc/PID/cgroup file names: the v1
// memory controller's line ("N:memory:/path", under /sys/fs/cgroup/memory), else the v2 line
// ("0::/path", under /sys/fs/cgroup).
func memoryCgroup(procCgroup []byte) (string, error) {
	v2 := ""
	for _, line := range strings.Split(string(procCgroup), "\n") {
		_, rest, ok := strings.Cut(line, ":")
		ctrls, path, ok2 := strings.Cut(rest, ":")
		if !ok || !ok2 || !strings.HasPrefix(path, "/") || strings.Contains(path, "/../") || strings.HasSuffix(path, "/..") {
			continue
		}
		if slices.Contains(strings.Split(ctrls, ","), "memory") {
			return filepath.Join("/sys/fs/cgroup/memory", path), nil
		}
		if ctrls == "" && strings.HasPrefix(line, "0::") {
			v2 = filepath.Join("/sys/fs/cgroup", path)
		}
	}
	if v2 == "" {
		return "", errors.New("its init's cgroup names no memory controller")
	}
	return v2, nil
}

package local

import (
	"bufio"
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/deskhub/deskhub/internal/provider"
)

var _ provider.LoadReporter = (*Provider)(nil)

// Load implements provider.LoadReporter: this host's figures, and the desktops the provider runs.
func (p *Provider) Load(ctx context.Context) (provider.Load, error) {
	l, err := p.host.Load(ctx)
	p.mu.Lock()
	for _, d := range p.desktops {
		if d.state() == stateRunning {
			l.Sessions++
		}
	}
	p.mu.Unlock()
	return l, err
}

// HostLoad reports this host's load from /proc and sysinfo(2). It needs no running provider, so a
// host whose desktops cannot run (provider.Unavailable) still reports its figures. Its zero value is
// ready; Sessions stays 0.
type HostLoad struct {
	mu        sync.Mutex
	busy, all uint64 // the previous /proc/stat sample, for CPUUsage
	modelOnce sync.Once
	model     string
}

var _ provider.LoadReporter = (*HostLoad)(nil)

// Load implements provider.LoadReporter.
func (h *HostLoad) Load(context.Context) (provider.Load, error) {
	h.modelOnce.Do(func() { h.model = cpuModel() })
	l := provider.Load{CPUs: runtime.NumCPU(), CPUModel: h.model}
	var si syscall.Sysinfo_t
	if err := syscall.Sysinfo(&si); err == nil {
		unit := int64(si.Unit)
		l.TotalMemory = int64(si.Totalram) * unit
		l.Uptime = si.Uptime
		for i, v := range si.Loads {
			l.LoadAverage[i] = float64(v) / 65536
		}
	}
	l.FreeMemory = memAvailable(l.TotalMemory)
	if busy, all, ok := cpuTimes(); ok {
		h.mu.Lock()
		if all > h.all {
			l.CPUUsage = float64(busy-min(busy, h.busy)) / float64(all-h.all)
		}
		h.busy, h.all = busy, all
		h.mu.Unlock()
	}
	return l, nil
}

// cpuModel is the first "model name" of /proc/cpuinfo, or "".
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// memAvailable reads MemAvailable (what a new desktop can really use), falling back to total.
func memAvailable(total int64) int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return total
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemAvailable:" {
			kb, _ := strconv.ParseInt(fields[1], 10, 64)
			return kb * 1024
		}
	}
	return total
}

// cpuTimes reads the busy and total jiffies of all CPUs from /proc/stat (idle and iowait are not busy).
func cpuTimes() (busy, all uint64, ok bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	fields := strings.Fields(line)
	if len(fields) < 5 || fields[0] != "cpu" {
		return 0, 0, false
	}
	for i, f := range fields[1:] {
		n, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return 0, 0, false
		}
		if i >= 8 {
			break // guest and guest_nice are counted in user and nice already
		}
		all += n
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy, all, true
}

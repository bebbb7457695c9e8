package local

import (
	"context"
	"errors"
	"testing"

	"github.com/deskhub/deskhub/internal/provider"
)

func TestHostLoad(t *testing.T) {
	var h HostLoad
	for i := range 2 {
		l, err := h.Load(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if l.CPUs < 1 || l.TotalMemory <= 0 || l.FreeMemory <= 0 || l.FreeMemory > l.TotalMemory || l.Uptime <= 0 {
			t.Fatalf("report %d: %+v", i, l)
		}
		if l.CPUUsage < 0 || l.CPUUsage > 1 || l.Sessions != 0 {
			t.Fatalf("report %d: %+v", i, l)
		}
	}
	if busy, all, ok := cpuTimes(); !ok || all == 0 || busy > all {
		t.Fatalf("cpuTimes = %d, %d, %v", busy, all, ok)
	}
}

// A host whose desktops cannot run still reports its figures when given a HostLoad, and says why
// not otherwise.
func TestUnavailableLoad(t *testing.T) {
	u := provider.NewUnavailable(errors.New("no Xvnc"))
	if _, err := u.Load(context.Background()); err == nil {
		t.Fatal("Load without a host reporter answered")
	}
	u.Host = &HostLoad{}
	if l, err := u.Load(context.Background()); err != nil || l.CPUs < 1 {
		t.Fatalf("Load = %+v, %v", l, err)
	}
}

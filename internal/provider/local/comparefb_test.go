package local

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/deskhub/deskhub/internal/provider"
	"github.com/deskhub/deskhub/internal/provider/xtest"
)

// TestCompareFBOption: a desktop's X server keeps TigerVNC's pixel comparison by default and runs
// with -CompareFB 0 under Options.NoCompareFB (deskhub serve --desktop-compare-fb=false), read from
// the running server's command line. What the comparison does is TigerVNC's; its memory cost is
// measured by bench/density (docs/PERFORMANCE.md).
func TestCompareFBOption(t *testing.T) {
	xtest.Ensure(t)
	as := xtest.User(t)
	for _, off := range []bool{false, true} {
		p, err := New(Options{StateDir: xtest.StateDir(t), NoCompareFB: off, StopGrace: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		id := fmt.Sprintf("comparefb-off-%v", off)
		startDesktop(t, p, provider.Spec{ID: id, Login: "cmp", RunAs: as, Command: []string{"sleep", "600"}, Width: 640, Height: 480})
		dt, err := p.get(id)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", dt.rt.Server.PID))
		if err != nil {
			t.Fatal(err)
		}
		argv := strings.Split(strings.TrimSuffix(string(raw), "\x00"), "\x00")
		i := slices.Index(argv, "-CompareFB")
		if got := i >= 0 && i+1 < len(argv) && argv[i+1] == "0"; got != off || !strings.HasSuffix(argv[0], "Xvnc") {
			t.Errorf("NoCompareFB %v: the X server runs as %q", off, argv)
		}
		if err := p.Stop(t.Context(), id); err != nil {
			t.Fatal(err)
		}
		p.Close()
	}
}

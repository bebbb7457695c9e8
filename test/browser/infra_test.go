package browser

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/deskhub/deskhub/internal/config"
	"github.com/deskhub/deskhub/internal/infra/lxdtest"
)

func TestMain(m *testing.M) { os.Exit(lxdtest.Main(m)) }

type infraRun struct {
	Events           []string `json:"events"`
	InstanceStatuses []string `json:"instanceStatuses"`
	Route            string   `json:"route"`
	AdminTabs        []string `json:"adminTabs"`
	MS               int      `json:"ms"`
}

// TestInfraPageInChromium: on the infrastructure page, a user logs in, adds the real LXD server with
// its trust password, launches an instance, and freezes, unfreezes, force-stops and deletes it with the
// page's buttons; every change reaches the page through the event stream, and LXD ends with no such
// instance.
func TestInfraPageInChromium(t *testing.T) {
	browserDeps(t)
	env := lxdtest.Get(t)
	const login, password = "operator", "operator password long enough"
	base, _, _ := startDeskhub(t, login, password, func(c *config.Config) { c.Infra.CertName = env.CertPrefix + "-ui" })

	const name = "dh-ui-1"
	var run infraRun
	runScript(t, 2*time.Minute, []string{"DESKHUB_SCREENSHOTS=" + screenshotDir(t)}, nil, &run, "infra.mjs", base, login, password, env.Host, strconv.Itoa(env.Port), env.Project, env.Password, name, t.ArtifactDir())
	// A user (not an administrator) lands on the servers page and sees no administrators' tab.
	if run.Route != "/admin/servers" || strings.Contains(strings.Join(run.AdminTabs, " "), "sessions") {
		t.Errorf("after /infra: route %q, tabs %v", run.Route, run.AdminTabs)
	}
	if got := strings.Join(run.InstanceStatuses, " "); got != "running frozen running stopped deleted" {
		t.Fatalf("statuses seen on the page: %s", got)
	}
	seen := strings.Join(run.Events, "\n")
	for _, want := range []string{"operation success", "instance created", "instance started", "instance paused", "instance resumed", "instance stopped", "instance deleted", "server online"} {
		if !strings.Contains(seen, want) {
			t.Errorf("the page's event log lacks %q:\n%s", want, seen)
		}
	}
	if _, _, err := env.Client(t).GetInstance(name); err == nil {
		t.Fatalf("instance %s still exists in LXD", name)
	}
}

package browser

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

type pagesRun struct {
	Pages []struct {
		Name       string  `json:"name"`
		Theme      string  `json:"theme"`
		Width      int     `json:"width"`
		Overflow   int     `json:"overflow"`
		CLS        float64 `json:"cls"`
		BG         string  `json:"bg"`
		Violations []struct {
			ID, Impact, Help string
			Nodes            []string
		} `json:"violations"`
	} `json:"pages"`
	Foreign              []string `json:"foreign"`
	UserNav              string   `json:"userNav"`
	UserTabs             []string `json:"userTabs"`
	UserSystemListStatus int      `json:"userSystemListStatus"`
}

// TestPagesInChromium: every page of the web app (login, launcher, account, the management pages), in
// the light and dark themes, at 1280 and 390 px wide: axe-core finds no serious or critical violation,
// nothing overflows sideways, the layout does not shift as data arrives (CLS < 0.1), the dark theme is
// dark and the light one light, and everything comes from deskhub. A user who is not an administrator
// is not offered the administrators' page and the API refuses it (403). Screenshots go to
// docs/screenshots.
func TestPagesInChromium(t *testing.T) {
	browserDeps(t)
	const admin, user, password = "root", "alice", "correct horse battery staple"
	base, _, _ := startDeskhubWith(t, []testAccount{{user, password, false}, {admin, password, true}})

	var run pagesRun
	runScript(t, 4*time.Minute, nil, nil, &run, "pages.mjs", base, admin, user, password, screenshotDir(t))
	if len(run.Pages) != 4*10 {
		t.Errorf("%d page visits, want 40", len(run.Pages))
	}
	for _, p := range run.Pages {
		where := p.Name + " (" + p.Theme + ", " + itoa(p.Width) + " px)"
		for _, v := range p.Violations {
			t.Errorf("%s: axe %s (%s): %s at %v", where, v.ID, v.Impact, v.Help, v.Nodes)
		}
		if p.Overflow > 1 {
			t.Errorf("%s: the page is %d px wider than the window", where, p.Overflow)
		}
		if p.CLS >= 0.1 {
			t.Errorf("%s: layout shift %.3f", where, p.CLS)
		}
		dark := strings.HasPrefix(p.BG, "rgb(20, 22, 26)")
		if (p.Theme == "dark") != dark {
			t.Errorf("%s: background %s", where, p.BG)
		}
	}
	if len(run.Foreign) > 0 {
		t.Errorf("requests to elsewhere than deskhub: %v", run.Foreign)
	}
	if run.UserNav != "Infrastructure" || strings.Contains(strings.Join(run.UserTabs, " "), "sessions") ||
		strings.Contains(strings.Join(run.UserTabs, " "), "users") || strings.Contains(strings.Join(run.UserTabs, " "), "audit") || run.UserSystemListStatus != 403 {
		t.Errorf("a user: nav %q, tabs %v, system/session/list HTTP %d (want 403)", run.UserNav, run.UserTabs, run.UserSystemListStatus)
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

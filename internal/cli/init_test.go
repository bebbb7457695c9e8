package cli

import (
	"strings"
	"testing"
)

// TestInitConfiguration: `deskhub agent init` reads its environment and refuses bad values, naming the
// variable, before doing anything (exit 1); flags override the environment. Running init for real is
// internal/initd's test.
func TestInitConfiguration(t *testing.T) {
	r := run(t, nil, "", "agent", "init", "--help")
	for _, want := range []string{"Usage: deskhub agent init", "[DESKHUB_USER]", "[DESKHUB_GEOMETRY]", "[DESKHUB_DEPTH]",
		"[DESKHUB_DISPLAY]", "[DESKHUB_WM]", "[DESKHUB_COMMAND]", "[DESKHUB_ON_EXIT]", "[DESKHUB_AUDIO]",
		"[DESKHUB_RUN_DIR]", "[DESKHUB_STOP_GRACE]", "[DESKHUB_LOG_FILE]", "[DESKHUB_LOG_LEVEL]"} {
		if r.code != 0 || !strings.Contains(r.stdout, want) {
			t.Errorf("--help lacks %s (exit %d)", want, r.code)
		}
	}
	for _, tc := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{map[string]string{"DESKHUB_GEOMETRY": "big"}, nil, `DESKHUB_GEOMETRY: "big": want WIDTHxHEIGHT`},
		{map[string]string{"DESKHUB_GEOMETRY": "20x20"}, nil, "DESKHUB_GEOMETRY: geometry 20x20 out of range"},
		{map[string]string{"DESKHUB_DEPTH": "x"}, nil, `DESKHUB_DEPTH="x": want an integer`},
		{map[string]string{"DESKHUB_DEPTH": "8"}, nil, "DESKHUB_DEPTH: depth 8"},
		{map[string]string{"DESKHUB_DISPLAY": "0"}, nil, "DESKHUB_DISPLAY"},
		{map[string]string{"DESKHUB_WM": " "}, nil, "DESKHUB_WM: empty: want a command line or none"},
		{map[string]string{"DESKHUB_ON_EXIT": "reboot"}, nil, `DESKHUB_ON_EXIT: "reboot": want shutdown or keep`},
		{map[string]string{"DESKHUB_AUDIO": "loud"}, nil, `DESKHUB_AUDIO: "loud": want on or off`},
		{map[string]string{"DESKHUB_RUN_DIR": "run"}, nil, "DESKHUB_RUN_DIR"},
		{map[string]string{"DESKHUB_STOP_GRACE": "soon"}, nil, "DESKHUB_STOP_GRACE"},
		{map[string]string{"DESKHUB_LOG_LEVEL": "loud"}, nil, "DESKHUB_LOG_LEVEL"},
		{map[string]string{"DESKHUB_GEOMETRY": "big"}, []string{"--geometry", "800x600", "--depth", "7"}, "DESKHUB_DEPTH: depth 7"},
	} {
		r := run(t, tc.env, "", append([]string{"agent", "init"}, tc.args...)...)
		if r.code != 1 || !strings.Contains(r.stderr, "deskhub agent: init: bad configuration: ") || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v %v: exit %d, stderr %q; want %q", tc.env, tc.args, r.code, r.stderr, tc.want)
		}
		if strings.Contains(r.stderr, "DESKHUB_GEOMETRY") && len(tc.args) > 0 {
			t.Errorf("--geometry did not override DESKHUB_GEOMETRY: %q", r.stderr)
		}
	}
	if r := run(t, nil, "", "agent", "init", "--nope"); r.code != 2 {
		t.Errorf("unknown flag: exit %d", r.code)
	}
	if g, err := parseGrace("2.5"); err != nil || g.Seconds() != 2.5 {
		t.Errorf("grace 2.5: %v %v", g, err)
	}
}

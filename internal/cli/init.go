package cli

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/deskhub/deskhub/internal/initd"
	"github.com/deskhub/deskhub/internal/xdesk"
)

// initVars are the environment variables `deskhub agent init` reads (docs/INIT.md); any other DESKHUB_*
// variable in its environment is reported as unknown.
var initVars = []string{"DESKHUB_USER", "DESKHUB_GEOMETRY", "DESKHUB_DEPTH", "DESKHUB_DISPLAY", "DESKHUB_WM",
	"DESKHUB_COMMAND", "DESKHUB_ON_EXIT", "DESKHUB_AUDIO", "DESKHUB_RUN_DIR", "DESKHUB_STOP_GRACE",
	"DESKHUB_LOG_FILE", "DESKHUB_LOG_LEVEL"}

// runInit is `deskhub agent init`: the desktop's init, PID 1 of a container (internal/initd). Its
// configuration comes from the environment (LXD passes the instance's environment.* keys to init);
// flags override it. Arguments that are not flags (what a kernel or a container manager may pass to an
// init) are logged and ignored.
func runInit(ctx context.Context, e *Env, args []string) error {
	fs := newFlagSet(e, "agent init", "agent init [flags]   (as /sbin/init: exec deskhub agent init \"$@\")")
	b := &envFlags{e: e, fs: fs}
	d := initd.Defaults()
	var user, geometry, display, wm, command, onExit, audio, runDir, grace, logFile, logLevel string
	var depth int
	b.string(&user, "user", "DESKHUB_USER", d.User, "the desktop's Unix user")
	b.string(&geometry, "geometry", "DESKHUB_GEOMETRY", fmt.Sprintf("%dx%d", d.Width, d.Height), "screen size, WIDTHxHEIGHT")
	b.int(&depth, "depth", "DESKHUB_DEPTH", d.Depth, "colour depth: 16, 24 or 32")
	b.string(&display, "display", "DESKHUB_DISPLAY", xdesk.DisplayName(d.Display), "X display")
	b.string(&wm, "wm", "DESKHUB_WM", initd.DefaultWM, "window manager command line, or none")
	b.string(&command, "command", "DESKHUB_COMMAND", "", "the user's command, run by /bin/sh -c (empty: none)")
	b.string(&onExit, "on-exit", "DESKHUB_ON_EXIT", string(initd.Shutdown), "when the command exits: shutdown (init exits, the container stops) or keep")
	b.string(&audio, "audio", "DESKHUB_AUDIO", "", "PulseAudio: on or off (default: on when pulseaudio is installed)")
	b.string(&runDir, "run-dir", "DESKHUB_RUN_DIR", d.RunDir, "directory of rfb.sock, agent.sock and ready")
	b.string(&grace, "stop-grace", "DESKHUB_STOP_GRACE", d.StopGrace.String(), "time between SIGTERM and SIGKILL when stopping (e.g. 5s)")
	b.string(&logFile, "log-file", "DESKHUB_LOG_FILE", d.LogFile, "log file besides stdout, rotated at 4 MiB (none: stdout only)")
	b.string(&logLevel, "log-level", "DESKHUB_LOG_LEVEL", "info", "log level: debug, info, warn or error")
	err := parseFlags(e, fs, args)
	if err != nil {
		return err
	}
	c := d
	var errs []string
	if err := b.err(); err != nil {
		errs = append(errs, err.Error())
	}
	bad := func(env, format string, a ...any) { errs = append(errs, env+": "+fmt.Sprintf(format, a...)) }
	c.User, c.Depth, c.Command, c.RunDir = user, depth, command, runDir
	if c.Width, c.Height, err = xdesk.ParseGeometry(geometry); err != nil {
		bad("DESKHUB_GEOMETRY", "%v", err)
	}
	if c.Display, err = xdesk.ParseDisplay(display); err != nil {
		bad("DESKHUB_DISPLAY", "%v", err)
	}
	switch w := strings.Fields(wm); {
	case len(w) == 1 && w[0] == "none":
		c.WM = nil
	case len(w) == 0:
		bad("DESKHUB_WM", "empty: want a command line or none")
	default:
		c.WM = w
	}
	c.OnExit = initd.OnExit(strings.ToLower(onExit))
	switch strings.ToLower(audio) {
	case "":
		c.Audio = initd.AudioAuto
	case "on", "1", "true", "yes":
		c.Audio = initd.AudioOn
	case "off", "0", "false", "no":
		c.Audio = initd.AudioOff
	default:
		c.Audio = initd.Audio(audio) // Validate names it
	}
	if c.StopGrace, err = parseGrace(grace); err != nil {
		bad("DESKHUB_STOP_GRACE", "%q: want a duration such as 5s or 1m30s", grace)
	}
	if strings.EqualFold(logFile, "none") {
		logFile = ""
	}
	c.LogFile = logFile
	if err := c.LogLevel.UnmarshalText([]byte(logLevel)); err != nil {
		bad("DESKHUB_LOG_LEVEL", "%q: want debug, info, warn or error", logLevel)
	}
	if len(errs) == 0 {
		if err := c.Validate(); err != nil {
			errs = append(errs, strings.Split(err.Error(), "\n")...)
		}
	}
	if len(errs) > 0 {
		sort.Strings(errs)
		return fmt.Errorf("init: bad configuration: %s", strings.Join(errs, "; "))
	}

	known := map[string]bool{}
	for _, k := range initVars {
		known[k] = true
	}
	for _, kv := range e.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case !strings.HasPrefix(k, "DESKHUB_"):
			c.Env = append(c.Env, kv)
		case !known[k]:
			c.Warnings = append(c.Warnings, "unknown variable "+k+" (ignored)")
		}
	}
	if rest := fs.Args(); len(rest) > 0 {
		c.Warnings = append(c.Warnings, "arguments ignored: "+strings.Join(rest, " "))
	}
	// Init handles SIGPWR, SIGTERM and SIGINT itself (a second one hurries the stop, SIGINT asks for a
	// reboot): the signal context of cmd/deskhub, cancelled by the same signals, must not race them.
	code, err := initd.Run(context.WithoutCancel(ctx), c, e.Stdout)
	if code != initd.ExitOK {
		return &exitError{code: code, err: fmt.Errorf("init: %w", err)}
	}
	return nil
}

// parseGrace parses a duration; a bare number is seconds.
func parseGrace(s string) (time.Duration, error) {
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		return time.Duration(n * float64(time.Second)), nil
	}
	return time.ParseDuration(s)
}

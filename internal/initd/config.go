// Package initd is the desktop's init: `deskhub agent init`, PID 1 of an LXD/Incus container whose image
// holds Xvnc, openbox, PulseAudio and deskhub (docs/INIT.md). It readies the container's few system
// things (loopback, /run, /tmp, its run and log directories), starts the desktop as its user — Xvnc with
// RFB on <run>/rfb.sock, the window manager, PulseAudio, the desktop agent on <run>/agent.sock and the
// user's command —, keeps them running (restarts with a budget), reaps every process (orphans of the
// whole container come to it), writes <run>/ready while the desktop can be reached, and stops it all on
// SIGPWR, SIGTERM or SIGINT.
//
// Everything is started with os.StartProcess and reaped by one loop (wait4(-1) on SIGCHLD), which hands
// the exit statuses of the programs it started to their supervisors: nothing in the process calls
// Wait on a child of its own. Not PID 1 (tests, a host), it makes itself the child subreaper, so orphans
// still come to it.
//
// Files of the package:
//
//	config.go    Config (filled by internal/cli from DESKHUB_* variables), defaults and checks
//	init.go      Run: the order of things, the stop request, signals, exit codes
//	setup.go     loopback, /run, /tmp, the run and runtime directories, stale X files, the X cookie
//	reaper.go    starting programs as the desktop user, the reaper, program output into the log
//	services.go  the supervised programs: Xvnc, window manager, PulseAudio, agent, command
//	stop.go      the stop sequence: process groups in order, the grace period, SIGKILL, the rest
//	ready.go     <run>/ready, the RFB and agent probes
//	logfile.go   the log: JSON lines on stdout and in a size-rotated file
package initd

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/deskhub/deskhub/internal/xdesk"
)

// OnExit is what init does when the user's command exits.
type OnExit string

// The values of DESKHUB_ON_EXIT.
const (
	// Shutdown stops the desktop: init exits and the container stops.
	Shutdown OnExit = "shutdown"
	// Keep leaves the desktop running without the command.
	Keep OnExit = "keep"
)

// Audio says whether the desktop gets PulseAudio.
type Audio string

// The values of DESKHUB_AUDIO.
const (
	AudioAuto Audio = ""    // when pulseaudio is installed
	AudioOn   Audio = "on"  // required: a missing pulseaudio is an error
	AudioOff  Audio = "off" // never
)

// Defaults.
const (
	DefaultUser      = "desktop"
	DefaultWidth     = 1024
	DefaultHeight    = 768
	DefaultDepth     = 24
	DefaultDisplay   = 0
	DefaultWM        = "openbox"
	DefaultRunDir    = "/run/deskhub"
	DefaultLogFile   = "/var/log/deskhub/init.log"
	DefaultStopGrace = 5 * time.Second
	DefaultLogMax    = 4 << 20
)

// Config is the desktop init's configuration; docs/INIT.md lists the environment variables that fill it.
type Config struct {
	User          string   // the desktop's Unix user
	Width, Height int      // the screen
	Depth         int      // 16, 24 or 32
	Display       int      // X display number
	WM            []string // the window manager's command line; empty: none
	Command       string   // the user's command (run by /bin/sh -c); empty: none
	OnExit        OnExit   // when the command exits
	Audio         Audio
	RunDir        string        // rfb.sock, agent.sock, ready
	StopGrace     time.Duration // between SIGTERM and SIGKILL when stopping
	LogFile       string        // JSON log besides stdout; empty: none
	LogMax        int64         // the log file is rotated (to LogFile.1) when it would pass this size
	LogLevel      slog.Level    // of init's log (and the agent's)
	// Agent is the command line of the desktop agent before its flags (--display, --home, --listen are
	// added): default /proc/self/exe agent.
	Agent []string
	// Env is passed on to the desktop's programs (the container's environment.* keys that are not
	// deskhub's); the desktop's own variables (HOME, DISPLAY…) win.
	Env []string
	// Warnings are logged once the log is open (unknown DESKHUB_* variables).
	Warnings []string
	// Restarts is the budget of Xvnc and the window manager: past it, init stops the desktop (zero:
	// 5 restarts a minute, 250 ms to 5 s apart).
	Restarts xdesk.Restarts
}

// Defaults answers the configuration with every default.
func Defaults() Config {
	return Config{User: DefaultUser, Width: DefaultWidth, Height: DefaultHeight, Depth: DefaultDepth,
		Display: DefaultDisplay, WM: []string{DefaultWM}, OnExit: Shutdown, Audio: AudioAuto,
		RunDir: DefaultRunDir, StopGrace: DefaultStopGrace, LogFile: DefaultLogFile, LogMax: DefaultLogMax}
}

// Validate checks the configuration; its errors name the environment variable at fault.
func (c *Config) Validate() error {
	var errs []error
	bad := func(env, format string, a ...any) { errs = append(errs, fmt.Errorf(env+": "+format, a...)) }
	if c.User == "" || strings.ContainsAny(c.User, ":/ \t\n") {
		bad("DESKHUB_USER", "%q is not a user name", c.User)
	}
	if err := xdesk.CheckGeometry(c.Width, c.Height, 24); err != nil {
		bad("DESKHUB_GEOMETRY", "%v", err)
	}
	if err := xdesk.CheckGeometry(1024, 768, c.Depth); err != nil {
		bad("DESKHUB_DEPTH", "%v", err)
	}
	if c.Display < 0 || c.Display > 9999 {
		bad("DESKHUB_DISPLAY", ":%d: want :0 to :9999", c.Display)
	}
	if c.OnExit != Shutdown && c.OnExit != Keep {
		bad("DESKHUB_ON_EXIT", "%q: want shutdown or keep", c.OnExit)
	}
	if c.Audio != AudioAuto && c.Audio != AudioOn && c.Audio != AudioOff {
		bad("DESKHUB_AUDIO", "%q: want on or off", c.Audio)
	}
	if !filepath.IsAbs(c.RunDir) || filepath.Clean(c.RunDir) == "/" || len(c.RunDir) > 80 {
		bad("DESKHUB_RUN_DIR", "%q: want an absolute directory path (not /, at most 80 bytes: socket paths must fit)", c.RunDir)
	}
	if c.StopGrace <= 0 || c.StopGrace > 10*time.Minute {
		bad("DESKHUB_STOP_GRACE", "%s: want more than 0 and at most 10m", c.StopGrace)
	}
	if c.LogFile != "" && !filepath.IsAbs(c.LogFile) {
		bad("DESKHUB_LOG_FILE", "%q: want an absolute path (or none)", c.LogFile)
	}
	return errors.Join(errs...)
}

package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime/debug"
	"strings"

	"github.com/deskhub/deskhub/internal/agent"
)

// runAgent serves the desktop agent (Spawner API) for one desktop; `agent init` is the desktop's init
// (init.go).
func runAgent(ctx context.Context, e *Env, args []string) error {
	if len(args) > 0 && args[0] == "init" {
		return runInit(ctx, e, args[1:])
	}
	if len(args) > 0 && args[0] == "bridge" {
		return runBridge(ctx, e, args[1:])
	}
	if len(args) > 0 && args[0] == "ready" {
		return runReady(ctx, e, args[1:])
	}
	if len(args) > 0 && args[0] == "reclaim" {
		return runReclaim(e, args[1:])
	}
	fs := newFlagSet(e, "agent", "agent --display :N [--listen unix:PATH|127.0.0.1:PORT] [--home DIR]\n       deskhub agent init [flags]  (the desktop's init: deskhub agent init --help)")
	b := &envFlags{e: e, fs: fs}
	var display, listen, home, logLevel, wallpapers string
	b.string(&display, "display", "DISPLAY", "", "X display of the desktop, e.g. :100")
	b.string(&listen, "listen", "DESKHUB_AGENT_LISTEN", "", "unix:PATH (default <home>/.deskhub-agent.sock, mode 0600) or a loopback host:port")
	b.string(&home, "home", "HOME", "", "home of the desktop's user (files are confined to it)")
	b.string(&logLevel, "log-level", "DESKHUB_LOG_LEVEL", "info", "log level: debug, info, warn or error")
	b.string(&wallpapers, "wallpapers", "DESKHUB_AGENT_WALLPAPERS", "", "folder of the images setBackgroundImage offers (default /usr/share/deskhub/wallpapers)")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if err := b.err(); err != nil {
		return err
	}
	if display == "" || home == "" {
		return errors.New("--display and --home are required (or DISPLAY and HOME)")
	}
	log, err := newLogger(e, logLevel, "json")
	if err != nil {
		return err
	}
	if listen == "" {
		listen = "unix:" + home + "/.deskhub-agent.sock"
	}
	var ln net.Listener
	if path, ok := strings.CutPrefix(listen, "unix:"); ok {
		_ = os.Remove(path)
		if ln, err = net.Listen("unix", path); err != nil {
			return fmt.Errorf("cannot listen on %s: %w", path, err)
		}
		if err := os.Chmod(path, 0o600); err != nil {
			return err
		}
	} else {
		host, _, serr := net.SplitHostPort(listen)
		if ip := net.ParseIP(host); serr != nil || ip == nil || !ip.IsLoopback() {
			return fmt.Errorf("--listen %q: only unix:PATH or a loopback address (127.0.0.1:PORT, [::1]:PORT)", listen)
		}
		if ln, err = net.Listen("tcp", listen); err != nil {
			return fmt.Errorf("cannot listen on %s: %w", listen, err)
		}
	}
	// Every desktop runs an agent that mostly idles. Once start-up has settled (the X connection and the
	// first window list included), and again after each burst of requests, it hands back what it no
	// longer needs: the heap it freed, and the executable's pages that the package initialisation of
	// everything linked (the server's too) and the work since touched.
	a, err := agent.New(agent.Options{Display: display, Home: home, Log: log, Wallpapers: wallpapers, Idle: func() {
		debug.FreeOSMemory()
		dropExecutablePages()
	}})
	if err != nil {
		return err
	}
	log.Info("deskhub agent serving", "listen", listen, "display", display)
	return a.Serve(ctx, ln)
}

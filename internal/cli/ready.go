package cli

import (
	"context"
	"encoding/json"
	"time"

	"github.com/deskhub/deskhub/internal/cgmem"
	"github.com/deskhub/deskhub/internal/initd"
)

// runReady is `deskhub agent ready`, a hidden subcommand the LXD provider runs as root inside a desktop
// container right after starting it, through LXD's exec API: it waits for init's ready file, checks the
// session's program and writes the account's SSH keys as the desktop's user, answers one JSON status
// line, and with --bridge goes on as `deskhub agent bridge` to the RFB socket (initd.Hello). One exec
// instead of a ready-file poll and three execs (docs/LXD-DESKTOPS.md).
func runReady(ctx context.Context, e *Env, args []string) error {
	fs := newFlagSet(e, "agent ready", "agent ready [--wait D] [--program P] [--keys N] [--bridge]   (inside a desktop container)")
	var o initd.HelloOptions
	fs.StringVar(&o.RunDir, "run-dir", initd.DefaultRunDir, "init's run directory")
	fs.DurationVar(&o.Wait, "wait", time.Minute, "how long to wait for the ready file")
	fs.StringVar(&o.Program, "program", "", "the session's program: checked as the desktop's user")
	fs.IntVar(&o.Keys, "keys", 0, "bytes of authorized_keys lines on standard input, written as the desktop's user")
	fs.BoolVar(&o.Bridge, "bridge", false, "after the status line, bridge standard input and output to the RFB socket")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	return initd.Hello(ctx, o, e.Stdin, e.Stdout)
}

// runReclaim is `deskhub agent reclaim`: inside a desktop container, it gives the instance's page cache
// back to the host (internal/cgmem) and prints one JSON line of the figures before and after.
func runReclaim(e *Env, args []string) error {
	fs := newFlagSet(e, "agent reclaim", "agent reclaim [--cgroup DIR]   (inside a desktop container)")
	dir := fs.String("cgroup", cgmem.DefaultRoot, "the cgroup (v2) whose page cache is reclaimed")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	r, err := cgmem.Reclaim(*dir)
	if err != nil { // the broker reads standard output only
		_ = json.NewEncoder(e.Stdout).Encode(map[string]string{"error": err.Error()})
		return err
	}
	return json.NewEncoder(e.Stdout).Encode(r)
}

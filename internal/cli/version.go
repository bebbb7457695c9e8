package cli

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/deskhub/deskhub/internal/buildinfo"
)

func runVersion(_ context.Context, e *Env, args []string) error {
	fs := newFlagSet(e, "version", "version [--json]")
	asJSON := fs.Bool("json", false, "print as JSON (the agent's GET /version shape)")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	info := buildinfo.Get()
	if *asJSON {
		b, _ := json.Marshal(info)
		fmt.Fprintln(e.Stdout, string(b))
		return nil
	}
	fmt.Fprintf(e.Stdout, "deskhub %s\ncommit %s\nbuilt  %s\n%s\n", info.Version, info.Commit, info.Date, info.Go)
	return nil
}

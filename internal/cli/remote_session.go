package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/deskhub/deskhub/api/fastx"
	"github.com/deskhub/deskhub/client"
)

func sessionUsage(w io.Writer) {
	fmt.Fprintln(w, `Usage: deskhub session <subcommand> [flags] (every subcommand takes --url and --token)

Subcommands:
  start       COMMAND [--geometry WxH|rootless] [--name N] [--server ID] [--json]
              start a session running COMMAND and print its id
  list        [--json]
              list your sessions
  connect     ID [--json]
              print a one-time websocket URL of the session's screen (RFB over websocket)
  terminate   ID...
              end sessions
  screenshot  ID [--output FILE] [--width W --height H] [--format png|jpeg]
              save a screenshot (default <id>.png)
  share       ID [--viewer] [--granter] [--list] [--delete KEY] [--json]
              create a share key (full control unless --viewer), or list or delete the keys

Run 'deskhub session <subcommand> --help' for the flags of a subcommand.`)
}

func runSession(ctx context.Context, e *Env, args []string) error {
	return dispatch(ctx, e, "session", args, sessionUsage, map[string]func(context.Context, *Env, []string) error{
		"start": runSessionStart, "list": runSessionList, "connect": runSessionConnect,
		"terminate": runSessionTerminate, "screenshot": runSessionScreenshot, "share": runSessionShare})
}

// remoteCommand parses the flags of a client subcommand and makes its client.
type remoteCommand struct {
	e    *Env
	name string
	rf   remoteFlags
	b    *envFlags
}

func newRemoteCommand(e *Env, name, synopsis string, withJSON bool) *remoteCommand {
	fs := newFlagSet(e, name, synopsis+" [--url URL] [--token T]")
	rc := &remoteCommand{e: e, name: name, b: &envFlags{e: e, fs: fs}}
	rc.rf.bind(rc.b, withJSON)
	return rc
}

// parse parses args (min..max positional arguments named what) and makes the client.
func (rc *remoteCommand) parse(args []string, min, max int, what string) ([]string, *client.Client, error) {
	pos, err := parseArgs(rc.e, rc.b.fs, rc.name, args, min, max, what)
	if err != nil {
		return nil, nil, err
	}
	if err := rc.b.err(); err != nil {
		return nil, nil, err
	}
	c, err := rc.rf.client(rc.e)
	return pos, c, err
}

func runSessionStart(ctx context.Context, e *Env, args []string) error {
	rc := newRemoteCommand(e, "session start", "session start COMMAND [--geometry G] [--name N] [--server ID] [--json]", true)
	geometry := rc.b.fs.String("geometry", "", "WIDTHxHEIGHT, or rootless (default: the server's)")
	name := rc.b.fs.String("name", "", "name of the session")
	server := rc.b.fs.String("server", "", "serverId to start on: the host's, or lxd-<server_id> (default: placement chooses)")
	pos, c, err := rc.parse(args, 1, 1, "COMMAND")
	if err != nil {
		return err
	}
	conn, err := c.StartSession(ctx, fastx.StartRequest{Command: pos[0], Geometry: *geometry, Name: *name, ServerID: *server})
	if err != nil {
		return err
	}
	if rc.rf.json {
		return printJSON(e.Stdout, conn)
	}
	fmt.Fprintln(e.Stdout, conn.ID)
	return nil
}

func runSessionList(ctx context.Context, e *Env, args []string) error {
	rc := newRemoteCommand(e, "session list", "session list [--json]", true)
	_, c, err := rc.parse(args, 0, 0, "")
	if err != nil {
		return err
	}
	list, err := c.ListSessions(ctx, fastx.ListRequest{SortBy: "started"})
	if err != nil {
		return err
	}
	if rc.rf.json {
		return printJSON(e.Stdout, list)
	}
	rows := make([][]string, 0, len(list))
	for _, s := range list {
		rows = append(rows, []string{s.ID, dash(s.Name), s.State, s.Geometry, dash(s.Display), fmt.Sprint(s.Clients),
			s.Started.UTC().Format(time.RFC3339), s.Command})
	}
	return table(e.Stdout, "ID\tNAME\tSTATE\tGEOMETRY\tDISPLAY\tCLIENTS\tSTARTED\tCOMMAND", rows)
}

func runSessionConnect(ctx context.Context, e *Env, args []string) error {
	rc := newRemoteCommand(e, "session connect", "session connect ID [--json]", true)
	pos, c, err := rc.parse(args, 1, 1, "ID")
	if err != nil {
		return err
	}
	conn, err := c.ConnectSession(ctx, pos[0], nil)
	if err != nil {
		return err
	}
	if rc.rf.json {
		return printJSON(e.Stdout, conn)
	}
	u := c.URL()
	u.Scheme = strings.Replace(u.Scheme, "http", "ws", 1)
	fmt.Fprintln(e.Stdout, strings.TrimSuffix(u.String(), "/")+conn.URL)
	return nil
}

func runSessionTerminate(ctx context.Context, e *Env, args []string) error {
	rc := newRemoteCommand(e, "session terminate", "session terminate ID...", false)
	pos, c, err := rc.parse(args, 1, -1, "ID")
	if err != nil {
		return err
	}
	for _, id := range pos {
		if err := c.TerminateSession(ctx, id); err != nil {
			return fmt.Errorf("%s: %w", id, err)
		}
		fmt.Fprintf(e.Stdout, "terminated %s\n", id)
	}
	return nil
}

func runSessionScreenshot(ctx context.Context, e *Env, args []string) error {
	rc := newRemoteCommand(e, "session screenshot", "session screenshot ID [--output FILE] [--width W] [--height H] [--format png|jpeg]", false)
	out := rc.b.fs.String("output", "", "file to write (default <id>.<format>; - for standard output)")
	width := rc.b.fs.Int("width", 0, "width in pixels (default: the session's)")
	height := rc.b.fs.Int("height", 0, "height in pixels (default: the session's)")
	format := rc.b.fs.String("format", fastx.FormatPNG, "png or jpeg")
	pos, c, err := rc.parse(args, 1, 1, "ID")
	if err != nil {
		return err
	}
	shot, err := c.Screenshot(ctx, fastx.ScreenshotRequest{ID: pos[0], Width: *width, Height: *height, Format: *format})
	if err != nil {
		return err
	}
	_, data, err := client.DecodeDataURL(shot.Src)
	if err != nil {
		return err
	}
	if *out == "-" {
		_, err := e.Stdout.Write(data)
		return err
	}
	if *out == "" {
		*out = pos[0] + "." + *format
	}
	if err := os.WriteFile(*out, data, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "wrote %s (%d bytes)\n", *out, len(data))
	return nil
}

func runSessionShare(ctx context.Context, e *Env, args []string) error {
	rc := newRemoteCommand(e, "session share", "session share ID [--viewer] [--granter] [--list] [--delete KEY] [--json]", true)
	viewer := rc.b.fs.Bool("viewer", false, "the guest only sees the screen")
	granter := rc.b.fs.Bool("granter", false, "the guest may hand out viewer keys")
	list := rc.b.fs.Bool("list", false, "list the session's keys instead")
	del := rc.b.fs.String("delete", "", "delete this key (in full, or its id) instead")
	pos, c, err := rc.parse(args, 1, 1, "ID")
	if err != nil {
		return err
	}
	id := pos[0]
	var keys []fastx.ShareKey
	switch {
	case *list && *del != "":
		return usageError(e, rc.b.fs, "deskhub session share: --list and --delete exclude each other")
	case *list:
		keys, err = c.ListShares(ctx, id)
	case *del != "":
		keys, err = c.DeleteShare(ctx, id, *del)
	default:
		perms := []string{}
		if *viewer {
			perms = append(perms, fastx.PermViewer)
		}
		if *granter {
			perms = append(perms, fastx.PermGranter)
		}
		var k fastx.ShareKey
		if k, err = c.CreateShare(ctx, id, perms...); err != nil {
			return err
		}
		if rc.rf.json {
			return printJSON(e.Stdout, k)
		}
		fmt.Fprintln(e.Stdout, k.Key)
		return nil
	}
	if err != nil {
		return err
	}
	if rc.rf.json {
		return printJSON(e.Stdout, keys)
	}
	rows := make([][]string, 0, len(keys))
	for _, k := range keys {
		rows = append(rows, []string{k.KeyID, dash(strings.Join(k.Perms, ",")), fmt.Sprint(k.Timeout)})
	}
	return table(e.Stdout, "KEY-ID\tPERMS\tTIMEOUT", rows)
}

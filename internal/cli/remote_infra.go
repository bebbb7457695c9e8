package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/deskhub/deskhub/api/vmm"
)

// dispatch runs the subcommand args[0] of a client command from subs, or prints usage.
func dispatch(ctx context.Context, e *Env, name string, args []string, usage func(io.Writer),
	subs map[string]func(context.Context, *Env, []string) error) error {
	if len(args) == 0 {
		usage(e.Stderr)
		return errUsage
	}
	switch args[0] {
	case "-h", "--help", "help":
		usage(e.Stdout)
		return nil
	}
	if run, ok := subs[args[0]]; ok {
		return run(ctx, e, args[1:])
	}
	fmt.Fprintf(e.Stderr, "deskhub %s: unknown subcommand %q\n\n", name, args[0])
	usage(e.Stderr)
	return errUsage
}

func serverUsage(w io.Writer) {
	fmt.Fprintln(w, `Usage: deskhub server <subcommand> [flags] (every subcommand takes --url and --token)

Subcommands:
  add   HOST [--port 8443] [--protocol lxd|incus] [--project P] [--path SOCKET] --password-stdin
        trust deskhub on an LXD/Incus server (trust password or token from standard input) and add it
  list  [--json]
        list the LXD/Incus servers`)
}

func runServer(ctx context.Context, e *Env, args []string) error {
	return dispatch(ctx, e, "server", args, serverUsage, map[string]func(context.Context, *Env, []string) error{
		"add": runServerAdd, "list": runServerList})
}

func runServerAdd(ctx context.Context, e *Env, args []string) error {
	rc := newRemoteCommand(e, "server add", "server add HOST [--port N] [--protocol lxd|incus] [--project P] [--path SOCKET] --password-stdin", true)
	port := rc.b.fs.Int("port", 8443, "port of the server's API")
	protocol := rc.b.fs.String("protocol", "lxd", "lxd or incus")
	project := rc.b.fs.String("project", "", "project to use (default: default)")
	path := rc.b.fs.String("path", "", "unix socket of a local server, instead of HOST:PORT")
	pwStdin := rc.b.fs.Bool("password-stdin", false, "read the trust password (or token) from the first line of standard input")
	pos, c, err := rc.parse(args, 1, 1, "HOST")
	if err != nil {
		return err
	}
	if !*pwStdin {
		return usageError(e, rc.b.fs, "deskhub server add: missing --password-stdin")
	}
	pw, err := readPassword(e.Stdin)
	if err != nil {
		return err
	}
	doc, err := c.AddServer(ctx, vmm.ServerAddRequest{ServerHost: pos[0], ServerPort: vmm.FlexInt(*port),
		ServerProtocol: *protocol, ServerProject: *project, ServerPath: *path, ServerPassword: pw})
	if err != nil {
		return err
	}
	if rc.rf.json {
		return printJSON(e.Stdout, doc.Data)
	}
	fmt.Fprintf(e.Stdout, "added server %s (%s)\n", doc.Data.ID, doc.Data.Attributes.ServerName)
	return nil
}

func runServerList(ctx context.Context, e *Env, args []string) error {
	rc := newRemoteCommand(e, "server list", "server list [--json]", true)
	_, c, err := rc.parse(args, 0, 0, "")
	if err != nil {
		return err
	}
	doc, err := c.ListServers(ctx, vmm.ProviderLXD, 0)
	if err != nil {
		return err
	}
	if rc.rf.json {
		return printJSON(e.Stdout, doc.Data)
	}
	rows := make([][]string, 0, len(doc.Data))
	for _, r := range doc.Data {
		a := r.Attributes
		addr := a.ServerPath
		if addr == "" {
			addr = fmt.Sprintf("%s:%d", a.ServerHost, a.ServerPort)
		}
		rows = append(rows, []string{r.ID, dash(a.ServerName), addr, a.ServerProtocol, dash(a.ServerState), dash(a.ServerVersion)})
	}
	return table(e.Stdout, "ID\tNAME\tADDRESS\tPROTOCOL\tSTATE\tVERSION", rows)
}

func instanceUsage(w io.Writer) {
	fmt.Fprintln(w, `Usage: deskhub instance <subcommand> [flags] (every subcommand takes --url and --token)

Subcommands:
  list    [--server ID] [--json]
          list the instances on the LXD/Incus servers
  start   ID|NAME [--server ID]
  stop    ID|NAME [--server ID] [--force]
  delete  ID|NAME [--server ID]
          act on an instance, by its id or its name (--server: where the name is; a number is an id)
          (asynchronous: prints the operation; the outcome comes as an event)`)
}

func runInstance(ctx context.Context, e *Env, args []string) error {
	act := func(action string) func(context.Context, *Env, []string) error {
		return func(ctx context.Context, e *Env, args []string) error { return runInstanceAction(ctx, e, action, args) }
	}
	return dispatch(ctx, e, "instance", args, instanceUsage, map[string]func(context.Context, *Env, []string) error{
		"list": runInstanceList, "start": act("start"), "stop": act("stop"), "delete": act("delete")})
}

func runInstanceList(ctx context.Context, e *Env, args []string) error {
	rc := newRemoteCommand(e, "instance list", "instance list [--server ID] [--json]", true)
	server := rc.b.fs.Int64("server", 0, "only this server's instances")
	_, c, err := rc.parse(args, 0, 0, "")
	if err != nil {
		return err
	}
	doc, err := c.ListInstances(ctx, vmm.InstanceListRequest{Provider: vmm.ProviderLXD, ServerID: vmm.FlexInt(*server)})
	if err != nil {
		return err
	}
	if un, ok := doc.Meta["unreachable_servers"]; ok {
		fmt.Fprintf(e.Stderr, "deskhub instance list: servers not reachable: %v\n", un)
	}
	if rc.rf.json {
		return printJSON(e.Stdout, doc.Data)
	}
	rows := make([][]string, 0, len(doc.Data))
	for _, r := range doc.Data {
		a := r.Attributes
		rows = append(rows, []string{strconv.FormatInt(a.InstanceID, 10), a.InstanceName, a.InstanceType, a.InstanceStatus,
			strconv.FormatInt(a.ServerID, 10), dash(strings.Join(a.InstanceAddresses, ","))})
	}
	return table(e.Stdout, "ID\tNAME\tTYPE\tSTATUS\tSERVER\tADDRESSES", rows)
}

func runInstanceAction(ctx context.Context, e *Env, action string, args []string) error {
	name := "instance " + action
	synopsis := name + " ID|NAME [--server ID]"
	if action == "stop" {
		synopsis += " [--force]"
	}
	rc := newRemoteCommand(e, name, synopsis, true)
	server := rc.b.fs.Int64("server", 0, "the server of the instance NAME (needed when several have one of that name)")
	force := false
	if action == "stop" {
		rc.b.fs.BoolVar(&force, "force", false, "stop at once, without a clean shutdown")
	}
	pos, c, err := rc.parse(args, 1, 1, "ID or NAME")
	if err != nil {
		return err
	}
	ref := pos[0]
	if ref == "" {
		return usageError(e, rc.b.fs, "deskhub %s: empty instance ID or NAME (see deskhub instance list)", name)
	}
	// A number is an id; anything else a name, looked up with instance.get.
	id, err := strconv.ParseInt(ref, 10, 64)
	if err != nil {
		inst, err := c.GetInstance(ctx, vmm.InstanceGetRequest{Provider: vmm.ProviderLXD, InstanceName: ref, ServerID: vmm.FlexInt(*server)})
		if err != nil {
			return err
		}
		id = inst.Data.Attributes.InstanceID
	}
	if force {
		action += "-force"
	}
	doc, err := c.InstanceAction(ctx, vmm.InstanceActionRequest{Provider: vmm.ProviderLXD, InstanceID: vmm.FlexInt(id), InstanceStatus: action})
	if err != nil {
		return err
	}
	if rc.rf.json {
		return printJSON(e.Stdout, doc.Data)
	}
	fmt.Fprintf(e.Stdout, "%s of instance %d: operation %s %s\n", action, id, doc.Data.ID, doc.Data.Attributes.Status)
	return nil
}

func tokenUsage(w io.Writer) {
	fmt.Fprintln(w, `Usage: deskhub token <subcommand> [flags] (every subcommand takes --url and --token)

Subcommands:
  create  [--lifetime 720h] [--revoke-all] [--json]
          create an API token for scripts and print it (shown once)
  list    [--json]
          list your tokens (login and API)
  revoke  NAME
          revoke a token by its name`)
}

func runToken(ctx context.Context, e *Env, args []string) error {
	return dispatch(ctx, e, "token", args, tokenUsage, map[string]func(context.Context, *Env, []string) error{
		"create": runTokenCreate, "list": runTokenList, "revoke": runTokenRevoke})
}

func runTokenCreate(ctx context.Context, e *Env, args []string) error {
	rc := newRemoteCommand(e, "token create", "token create [--lifetime D] [--revoke-all] [--json]", true)
	lifetime := rc.b.fs.Duration("lifetime", 30*24*time.Hour, "how long the token lives")
	revokeAll := rc.b.fs.Bool("revoke-all", false, "revoke your other API tokens first")
	_, c, err := rc.parse(args, 0, 0, "")
	if err != nil {
		return err
	}
	if *lifetime < time.Second {
		return usageError(e, rc.b.fs, "deskhub token create: --lifetime must be at least 1s")
	}
	doc, err := c.CreateToken(ctx, *lifetime, *revokeAll)
	if err != nil {
		return err
	}
	if rc.rf.json {
		return printJSON(e.Stdout, doc.Data.Attributes)
	}
	fmt.Fprintln(e.Stdout, doc.Data.Attributes.Token)
	return nil
}

func runTokenList(ctx context.Context, e *Env, args []string) error {
	rc := newRemoteCommand(e, "token list", "token list [--json]", true)
	_, c, err := rc.parse(args, 0, 0, "")
	if err != nil {
		return err
	}
	doc, err := c.ListTokens(ctx)
	if err != nil {
		return err
	}
	if rc.rf.json {
		out := make([]vmm.TokenAttributes, 0, len(doc.Data))
		for _, r := range doc.Data {
			out = append(out, r.Attributes)
		}
		return printJSON(e.Stdout, out)
	}
	rows := make([][]string, 0, len(doc.Data))
	for _, r := range doc.Data {
		a := r.Attributes
		rows = append(rows, []string{a.TokenName, a.TokenType, a.TokenStatus, a.TokenStart.UTC().Format(time.RFC3339),
			a.TokenExpire.UTC().Format(time.RFC3339)})
	}
	return table(e.Stdout, "NAME\tTYPE\tSTATE\tSTART\tEXPIRE", rows)
}

func runTokenRevoke(ctx context.Context, e *Env, args []string) error {
	rc := newRemoteCommand(e, "token revoke", "token revoke NAME", false)
	pos, c, err := rc.parse(args, 1, 1, "NAME")
	if err != nil {
		return err
	}
	if err := c.RevokeToken(ctx, pos[0]); err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "revoked %s\n", pos[0])
	return nil
}

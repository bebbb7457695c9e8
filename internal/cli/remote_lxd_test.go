package cli

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/deskhub/deskhub/api/jsonapi"
	"github.com/deskhub/deskhub/internal/infra/lxdtest"
)

// cliInstance is an entry of `deskhub instance list --json`.
type cliInstance struct {
	ID         jsonapi.ID `json:"id"`
	Attributes struct {
		ID       int64  `json:"instance_id"`
		Name     string `json:"instance_name"`
		Type     string `json:"instance_type"`
		Status   string `json:"instance_status"`
		ServerID int64  `json:"server_id"`
	} `json:"attributes"`
}

// cliInstances runs `deskhub instance list --json` and answers the instances by name.
func cliInstances(t *testing.T, env map[string]string, args ...string) map[string]cliInstance {
	t.Helper()
	var list []cliInstance
	out := must(t, env, "", append([]string{"instance", "list", "--json"}, args...)...)
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("instance list --json: %v\n%s", err, out)
	}
	m := map[string]cliInstance{}
	for _, in := range list {
		m[in.Attributes.Name] = in
	}
	return m
}

// waitInstance polls `deskhub instance list --json` until instance name has status want ("" : until
// it is gone), for at most timeout.
func waitInstance(t *testing.T, env map[string]string, name, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		in, ok := cliInstances(t, env)[name]
		if (want == "" && !ok) || (ok && in.Attributes.Status == want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("instance %s: still %+v (present %v) after %s; want status %q", name, in.Attributes, ok, timeout, want)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// TestRemoteLXD runs the server and instance commands against a real deskhub serve following the real
// LXD daemon (lxdtest's throwaway project; its instances have no network device): login, server add
// (by a trust token) and list, instance list, stop, start and delete, by name and by id.
func TestRemoteLXD(t *testing.T) {
	lenv := lxdtest.Get(t)
	lenv.CreateInstance(t, "dh-cli", true)
	lenv.CreateInstance(t, "dh-cli2", false)
	url, env := remoteServer(t, "--lxd-cert-name", lenv.CertPrefix+"-deskhub", "--op-timeout", "90s")
	must(t, env, "alice-password-1\n", "login", url, "--user", "alice", "--password-stdin")
	port := strconv.Itoa(lenv.Port)

	// server add: a wrong trust password is refused (exit 1, nothing added); a token works.
	if r := run(t, env, "not-the-password\n", "server", "add", lenv.Host, "--port", port, "--project", lenv.Project,
		"--password-stdin"); r.code != 1 || !strings.HasPrefix(r.stderr, "deskhub server: ") || r.stdout != "" {
		t.Fatalf("server add with a wrong password: %+v", r)
	}
	out := must(t, env, lenv.TrustToken(t)+"\n", "server", "add", lenv.Host, "--port", port, "--project", lenv.Project,
		"--password-stdin")
	m := regexp.MustCompile(`^added server (\d+) \((.+)\)\n$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("server add: %q", out)
	}
	serverID, serverName := m[1], m[2]

	// server list: the table and --json show it, online, on its address, in the project.
	list := must(t, env, "", "server", "list")
	lines := strings.Split(strings.TrimSuffix(list, "\n"), "\n")
	if len(lines) != 2 || strings.Join(strings.Fields(lines[0]), " ") != "ID NAME ADDRESS PROTOCOL STATE VERSION" {
		t.Fatalf("server list:\n%s", list)
	}
	if f := strings.Fields(lines[1]); len(f) != 6 || f[0] != serverID || f[1] != serverName ||
		f[2] != fmt.Sprintf("%s:%d", lenv.Host, lenv.Port) || f[3] != "lxd" || f[4] != "online" || f[5] == "-" {
		t.Fatalf("server list row: %q", lines[1])
	}
	var servers []struct {
		ID         jsonapi.ID `json:"id"`
		Attributes struct {
			Host        string `json:"server_host"`
			Port        int    `json:"server_port"`
			Project     string `json:"server_project"`
			Protocol    string `json:"server_protocol"`
			State       string `json:"server_state"`
			Owner       string `json:"server_owner"`
			Fingerprint string `json:"server_certificate_fingerprint"`
		} `json:"attributes"`
	}
	out = must(t, env, "", "server", "list", "--json")
	if err := json.Unmarshal([]byte(out), &servers); err != nil || len(servers) != 1 {
		t.Fatalf("server list --json: %v\n%s", err, out)
	}
	if a := servers[0].Attributes; string(servers[0].ID) != serverID || a.Host != lenv.Host || a.Port != lenv.Port ||
		a.Project != lenv.Project || a.Protocol != "lxd" || a.State != "online" || a.Owner != "alice" || len(a.Fingerprint) != 64 {
		t.Fatalf("server list --json: %+v", servers[0])
	}

	// instance list: the instances lxdtest made in the project, in the table and in --json.
	list = must(t, env, "", "instance", "list")
	lines = strings.Split(strings.TrimSuffix(list, "\n"), "\n")
	if len(lines) != 3 || strings.Join(strings.Fields(lines[0]), " ") != "ID NAME TYPE STATUS SERVER ADDRESSES" {
		t.Fatalf("instance list:\n%s", list)
	}
	rows := map[string][]string{}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		rows[f[1]] = f
	}
	for name, status := range map[string]string{"dh-cli": "running", "dh-cli2": "stopped"} {
		if f := rows[name]; len(f) != 6 || f[2] != "container" || f[3] != status || f[4] != serverID {
			t.Fatalf("instance list row of %s: %q\n%s", name, f, list)
		}
	}
	insts := cliInstances(t, env, "--server", serverID)
	if len(insts) != 2 || insts["dh-cli"].Attributes.Status != "running" || insts["dh-cli2"].Attributes.Status != "stopped" ||
		strconv.FormatInt(insts["dh-cli"].Attributes.ServerID, 10) != serverID ||
		string(insts["dh-cli"].ID) != strconv.FormatInt(insts["dh-cli"].Attributes.ID, 10) {
		t.Fatalf("instance list --json --server %s: %+v", serverID, insts)
	}
	wantFail(t, env, "no server", "instance", "list", "--server", "999")
	lenv.CheckNoNIC(t, "dh-cli")
	lenv.CheckNoNIC(t, "dh-cli2")
	id := insts["dh-cli"].Attributes.ID
	opLine := func(action string) *regexp.Regexp {
		return regexp.MustCompile(fmt.Sprintf(`^%s of instance %d: operation \S+ \S+\n$`, action, id))
	}

	// stop by name (a clean shutdown), start by name with --server, stop --force by id.
	if out := must(t, env, "", "instance", "stop", "dh-cli"); !opLine("stop").MatchString(out) {
		t.Fatalf("instance stop dh-cli: %q", out)
	}
	waitInstance(t, env, "dh-cli", "stopped", 90*time.Second)
	if out := must(t, env, "", "instance", "start", "dh-cli", "--server", serverID); !opLine("start").MatchString(out) {
		t.Fatalf("instance start dh-cli: %q", out)
	}
	waitInstance(t, env, "dh-cli", "running", 60*time.Second)
	if out := must(t, env, "", "instance", "stop", strconv.FormatInt(id, 10), "--force"); !opLine("stop-force").MatchString(out) {
		t.Fatalf("instance stop --force %d: %q", id, out)
	}
	waitInstance(t, env, "dh-cli", "stopped", 60*time.Second)

	// Unknown names and servers: exit 1, one line.
	wantFail(t, env, "no instance", "instance", "start", "dh-no-such")
	wantFail(t, env, "no server", "instance", "start", "dh-cli", "--server", "999")

	// delete by name, then by id (--json prints the operation).
	if out := must(t, env, "", "instance", "delete", "dh-cli"); !opLine("delete").MatchString(out) {
		t.Fatalf("instance delete dh-cli: %q", out)
	}
	waitInstance(t, env, "dh-cli", "", 60*time.Second)
	var op struct {
		Type string     `json:"type"`
		ID   jsonapi.ID `json:"id"`
	}
	id2 := strconv.FormatInt(insts["dh-cli2"].Attributes.ID, 10)
	if out := must(t, env, "", "instance", "delete", id2, "--json"); json.Unmarshal([]byte(out), &op) != nil || op.Type != "operation" || op.ID == "" {
		t.Fatalf("instance delete %s --json: %q", id2, out)
	}
	waitInstance(t, env, "dh-cli2", "", 60*time.Second)
	if _, _, err := lenv.Client(t).GetInstance("dh-cli"); err == nil {
		t.Fatal("dh-cli still exists in LXD after instance delete")
	}
	if out := must(t, env, "", "instance", "list"); out != "ID  NAME  TYPE  STATUS  SERVER  ADDRESSES\n" {
		t.Fatalf("instance list after the deletes: %q", out)
	}
}

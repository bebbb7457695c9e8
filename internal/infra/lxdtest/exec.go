package lxdtest

import (
	"bytes"
	"context"
	"strconv"
	"testing"
	"time"

	incus "github.com/lxc/incus/v6/client"
	"github.com/lxc/incus/v6/shared/api"
)

// ExecIn runs command in instance name through LXD's exec API (no network involved) and answers its
// standard output and exit code; stdout and stderr may be nil. An exec LXD refuses fails the test.
func ExecIn(t testing.TB, c incus.InstanceServer, name string, command []string, stdout, stderr *bytes.Buffer) (string, int) {
	t.Helper()
	if stdout == nil {
		stdout = new(bytes.Buffer)
	}
	if stderr == nil {
		stderr = new(bytes.Buffer)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan bool)
	op, err := c.ExecInstance(name, api.InstanceExecPost{Command: command, WaitForWS: true}, &incus.InstanceExecArgs{
		Stdin:    bytes.NewReader(nil),
		Stdout:   stdout,
		Stderr:   stderr,
		DataDone: done,
	})
	if err == nil {
		err = op.WaitContext(ctx)
	}
	if err != nil {
		t.Fatalf("exec %v in %s: %v", command, name, err)
	}
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatalf("exec %v in %s: output streams not closed", command, name)
	}
	code := -1
	switch v := op.Get().Metadata["return"].(type) {
	case float64:
		code = int(v)
	case string:
		code, _ = strconv.Atoi(v)
	}
	return stdout.String(), code
}

// Exec runs command in instance name of the run's project and answers its standard output; a non-zero
// exit fails the test with its standard error.
func (e *Env) Exec(t testing.TB, name string, command ...string) string {
	t.Helper()
	var errb bytes.Buffer
	out, code := ExecIn(t, e.Client(t), name, command, nil, &errb)
	if code != 0 {
		t.Fatalf("exec %v in %s: exit %d: %s", command, name, code, errb.String())
	}
	return out
}

// DebianArch is the machine's architecture in Debian's naming (amd64, arm64…), as simplestreams
// products name it.
func DebianArch() string {
	switch m := machine(); m {
	case "x86_64":
		return "amd64"
	case "aarch64":
		return "arm64"
	case "i686", "i586", "i386":
		return "i386"
	case "armv7l":
		return "armhf"
	default:
		return m
	}
}

// ExecOut runs command in instance name of the run's project and answers its standard output, whatever
// its exit code.
func (e *Env) ExecOut(t testing.TB, name string, command ...string) string {
	t.Helper()
	out, _ := ExecIn(t, e.Client(t), name, command, nil, nil)
	return out
}

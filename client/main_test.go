package client_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/deskhub/deskhub/api/fastx"
	"github.com/deskhub/deskhub/client"
	"github.com/deskhub/deskhub/internal/servetest"
)

// Every test and example of the package talks to one real `deskhub serve` with two accounts: alice
// (administrator) and bob.
var srv *servetest.Server

const (
	alicePW = "alice-password-1"
	bobPW   = "bob-password-12"
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	defer servetest.Cleanup()
	data, err := servetest.NewDataDir()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(data)
	for _, u := range []struct {
		login, pw string
		admin     bool
	}{{"alice", alicePW, true}, {"bob", bobPW, false}, {"carol", "carol-password-1", false}} {
		if err := servetest.AddUser(data, u.login, u.pw, u.admin); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	// Desktops of this package run as dhsdk-<account id>, apart from other deskhub runs.
	srv, err = servetest.Start(data, servetest.Options{UserPrefix: "dhsdk-"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	code := m.Run()
	srv.Stop()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "log of deskhub serve (last 8 KiB):\n%s\n", tail(srv.Logs(), 8<<10))
	}
	return code
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// login answers a client logged in as login on the session surface.
func login(t testing.TB, login, password string) *client.Client {
	t.Helper()
	c, err := client.New(srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Login(context.Background(), fastx.LoginRequest{Username: login, Password: password})
	if err != nil {
		t.Fatalf("login %s: %v", login, err)
	}
	if st.Stage != "success" || c.Token() == "" {
		t.Fatalf("login %s: stage %q, token %q", login, st.Stage, c.Token())
	}
	return c
}

// wantStatus fails unless err is a *client.Error of the surface and status.
func wantStatus(t testing.TB, what string, err error, surface client.Surface, status int) *client.Error {
	t.Helper()
	e, ok := err.(*client.Error)
	if !ok {
		t.Fatalf("%s: error %v (%T), want a *client.Error %d", what, err, err, status)
	}
	if e.Status != status || e.Surface != surface || e.Message == "" {
		t.Fatalf("%s: %+v, want status %d on the %s surface with a message", what, e, status, surface)
	}
	return e
}

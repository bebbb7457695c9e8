package server

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/deskhub/deskhub/api/fastx"
	"github.com/deskhub/deskhub/client"
	"github.com/deskhub/deskhub/internal/config"
	"github.com/deskhub/deskhub/internal/sshlogin/sshdtest"
)

// These tests log in through a real OpenSSH sshd (sshdtest starts one on loopback with real Linux test
// accounts) via the session surface, as FastX clients do.

func sshHarness(t *testing.T) (*harness, *sshdtest.Server) {
	srv := sshdtest.Start(t)
	h := newHarness(t, func(c *config.Config, _ *Options) {
		c.Auth.Provider = "ssh"
		c.Auth.SSHAddr = srv.Addr
	})
	return h, srv
}

// stageOf decodes the stage of a raw session-surface answer.
func stageOf(t *testing.T, r reply) fastx.LoginStage {
	t.Helper()
	var doc struct {
		Result fastx.LoginStage `json:"result"`
	}
	if err := json.Unmarshal([]byte(r.Raw), &doc); err != nil {
		t.Fatalf("not a login stage: %s", r.Raw)
	}
	return doc.Result
}

// signStage signs the data of a public-key stage as the stage asks.
func signStage(t *testing.T, signer ssh.Signer, st fastx.LoginStage) string {
	t.Helper()
	data, err := base64.StdEncoding.DecodeString(st.Data)
	if err != nil || len(data) == 0 {
		t.Fatalf("no data to sign: %+v", st)
	}
	var sig *ssh.Signature
	if as, ok := signer.(ssh.AlgorithmSigner); ok && st.Algorithm != "" {
		sig, err = as.SignWithAlgorithm(rand.Reader, data, st.Algorithm)
	} else {
		sig, err = signer.Sign(rand.Reader, data)
	}
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(ssh.Marshal(sig))
}

func TestV3LoginSSH(t *testing.T) {
	parent, srv := sshHarness(t)
	ctx := context.Background()
	var h *harness
	run := func(name string, f func(t *testing.T)) {
		t.Run(name, func(t *testing.T) {
			h = parent.with(t)
			f(t)
		})
	}
	login := func(t *testing.T, req fastx.LoginRequest) (*client.Client, fastx.LoginStage) {
		t.Helper()
		c := h.client("")
		st, err := c.Login(ctx, req)
		must(t, err)
		return c, st
	}

	run("password", func(t *testing.T) {
		c, st := login(t, fastx.LoginRequest{Username: sshdtest.UserPassword})
		if st.Stage != fastx.StagePassword {
			t.Fatalf("first stage %q: %+v", st.Stage, st)
		}
		st, err := c.LoginPassword(ctx, st.Token, srv.Passwords[sshdtest.UserPassword])
		must(t, err)
		if st.Stage != fastx.StageSuccess || st.Token == "" {
			t.Fatalf("after password: %+v", st)
		}
		p, err := c.UserProfile(ctx)
		must(t, err)
		if p.Login != sshdtest.UserPassword || p.Provider != "ssh" {
			t.Fatalf("profile: %+v", p)
		}
		if len(p.Groups) == 0 {
			t.Fatalf("no Unix groups for a host account: %+v", p)
		}
		// A second login finds the same deskhub user (no duplicate record).
		if _, st := login(t, fastx.LoginRequest{Username: sshdtest.UserPassword, Password: srv.Passwords[sshdtest.UserPassword]}); st.Stage != fastx.StageSuccess {
			t.Fatalf("one-step ssh login: %+v", st)
		}
	})

	// The GET forms (answers in the query string, as FastX clients may send them) stay raw: the SDK
	// always POSTs, and the GET form is the point.
	run("keyboard-interactive", func(t *testing.T) {
		_, st := login(t, fastx.LoginRequest{Username: sshdtest.UserKbd})
		if st.Stage != fastx.StageKeyboardInteractive || st.Prompt == "" {
			t.Fatalf("first stage: %+v", st)
		}
		r := h.get("/v3/api/user/login/keyboard-interactive", "", url.Values{"answer": {srv.Passwords[sshdtest.UserKbd]}}, "X-FASTX-TOKEN", st.Token).want(t, 200)
		if st := stageOf(t, r); st.Stage != fastx.StageSuccess {
			t.Fatalf("after answer: %s", r.Raw)
		}
	})

	run("public-key", func(t *testing.T) {
		_, st := login(t, fastx.LoginRequest{Username: sshdtest.UserPK, UsePK: true})
		if st.Stage != fastx.StagePublicKey || st.Data != "" {
			t.Fatalf("first stage: %+v", st)
		}
		tok := st.Token
		pub := base64.StdEncoding.EncodeToString(srv.PKSigner.PublicKey().Marshal())
		r := h.get("/v3/api/user/login/public-key", "", url.Values{"publicKey": {pub}}, "X-FASTX-TOKEN", tok).want(t, 200)
		if st = stageOf(t, r); st.Stage != fastx.StagePublicKey || st.Data == "" {
			t.Fatalf("after key: %s", r.Raw)
		}
		r = h.get("/v3/api/user/login/public-key/signed", "", url.Values{"signature": {signStage(t, srv.PKSigner, st)}}, "X-FASTX-TOKEN", tok).want(t, 200)
		if st := stageOf(t, r); st.Stage != fastx.StageSuccess {
			t.Fatalf("after signature: %s", r.Raw)
		}
	})

	run("several prompts", func(t *testing.T) {
		// dhtest-multi: public key, then keyboard-interactive with an expired password (PAM asks for the
		// current password, a new one, and the new one again).
		c, st := login(t, fastx.LoginRequest{Username: sshdtest.UserMulti, UsePK: true})
		tok := st.Token
		pub := base64.StdEncoding.EncodeToString(srv.MultiSigner.PublicKey().Marshal())
		st, err := c.LoginPublicKey(ctx, tok, pub)
		must(t, err)
		st, err = c.LoginSigned(ctx, tok, signStage(t, srv.MultiSigner, st))
		must(t, err)
		old, fresh := srv.Passwords[sshdtest.UserMulti], "Fresh-"+sshdtest.RandomPassword()
		rounds := 0
		for st.Stage != fastx.StageSuccess {
			if st.Stage != fastx.StageKeyboardInteractive || rounds > 8 {
				t.Fatalf("unexpected stage after %d rounds: %+v", rounds, st)
			}
			answers := make([]string, len(st.Prompts))
			for i, text := range st.Prompts {
				switch {
				case contains(text, "New", "Retype", "new"):
					answers[i] = fresh
				default:
					answers[i] = old
				}
			}
			st, err = c.LoginKeyboardInteractive(ctx, tok, answers...)
			must(t, err)
			rounds++
		}
		if rounds < 3 {
			t.Fatalf("expected several keyboard-interactive rounds, got %d", rounds)
		}
	})

	run("wrong password", func(t *testing.T) {
		c, st := login(t, fastx.LoginRequest{Username: sshdtest.UserPassword})
		_, err := c.LoginPassword(ctx, st.Token, "not-the-password")
		wrong := wantErr(t, err, 401, "wrong user name or credentials")
		// The attempt is over.
		_, err = c.LoginPassword(ctx, st.Token, srv.Passwords[sshdtest.UserPassword])
		wantErr(t, err, 401, "no login in progress")

		c, st = login(t, fastx.LoginRequest{Username: sshdtest.UserUnknown})
		switch st.Stage {
		case fastx.StagePassword:
			_, err = c.LoginPassword(ctx, st.Token, "not-the-password")
		case fastx.StageKeyboardInteractive:
			_, err = c.LoginKeyboardInteractive(ctx, st.Token, "not-the-password")
		default:
			t.Fatalf("unknown user: stage %q", st.Stage)
		}
		if unknown := wantErr(t, err, 401, ""); unknown.Message != wrong.Message {
			t.Fatalf("unknown user %q answers unlike a wrong password %q", unknown.Message, wrong.Message)
		}
	})
}

func contains(s string, subs ...string) bool {
	for _, sub := range subs {
		if len(sub) > 0 && len(s) >= len(sub) {
			for i := 0; i+len(sub) <= len(s); i++ {
				if s[i:i+len(sub)] == sub {
					return true
				}
			}
		}
	}
	return false
}

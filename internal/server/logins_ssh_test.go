package server

import (
	"crypto/rand"
	"encoding/base64"
	"net/url"
	"testing"

	"golang.org/x/crypto/ssh"

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

func stageOf(r reply) (stage, token string) {
	return r.str("result", "stage"), r.str("result", "token")
}

func signStage(t *testing.T, signer ssh.Signer, r reply) string {
	t.Helper()
	data, err := base64.StdEncoding.DecodeString(r.str("result", "data"))
	if err != nil || len(data) == 0 {
		t.Fatalf("no data to sign: %s", r.Raw)
	}
	var sig *ssh.Signature
	if as, ok := signer.(ssh.AlgorithmSigner); ok && r.str("result", "algorithm") != "" {
		sig, err = as.SignWithAlgorithm(rand.Reader, data, r.str("result", "algorithm"))
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
	var h *harness
	fastx := func(path, stage string, body any) reply {
		return h.call("POST", "/v3/api/user/login"+path, "", body, "X-FASTX-TOKEN", stage)
	}
	run := func(name string, f func(t *testing.T)) {
		t.Run(name, func(t *testing.T) {
			h = parent.with(t)
			f(t)
		})
	}

	run("password", func(t *testing.T) {
		r := h.call("POST", "/v3/api/user/login", "", map[string]any{"username": sshdtest.UserPassword}).want(t, 200)
		st, tok := stageOf(r)
		if st != "password" {
			t.Fatalf("first stage %q: %s", st, r.Raw)
		}
		r = fastx("/password", tok, map[string]any{"password": srv.Passwords[sshdtest.UserPassword]}).want(t, 200)
		if st, api := stageOf(r); st != "success" || api == "" {
			t.Fatalf("after password: %s", r.Raw)
		} else {
			p := h.call("POST", "/v3/api/user/profile", api, "{}").want(t, 200)
			if p.str("result", "login") != sshdtest.UserPassword || p.str("result", "provider") != "ssh" {
				t.Fatalf("profile: %s", p.Raw)
			}
			if groups, _ := p.get("result", "groups").([]any); len(groups) == 0 {
				t.Fatalf("no Unix groups for a host account: %s", p.Raw)
			}
		}
		// A second login finds the same deskhub user (no duplicate record).
		r = h.call("POST", "/v3/api/user/login", "", map[string]any{"username": sshdtest.UserPassword,
			"password": srv.Passwords[sshdtest.UserPassword]}).want(t, 200)
		if st, _ := stageOf(r); st != "success" {
			t.Fatalf("one-step ssh login: %s", r.Raw)
		}
	})

	run("keyboard-interactive", func(t *testing.T) {
		r := h.call("POST", "/v3/api/user/login", "", map[string]any{"username": sshdtest.UserKbd}).want(t, 200)
		st, tok := stageOf(r)
		if st != "keyboard-interactive" || r.str("result", "prompt") == "" {
			t.Fatalf("first stage: %s", r.Raw)
		}
		// As GET with the answer in the query string, as FastX clients may send it.
		r = h.get("/v3/api/user/login/keyboard-interactive", "", url.Values{"answer": {srv.Passwords[sshdtest.UserKbd]}}, "X-FASTX-TOKEN", tok).want(t, 200)
		if st, _ := stageOf(r); st != "success" {
			t.Fatalf("after answer: %s", r.Raw)
		}
	})

	run("public-key", func(t *testing.T) {
		r := h.call("POST", "/v3/api/user/login", "", map[string]any{"username": sshdtest.UserPK, "usePK": true}).want(t, 200)
		st, tok := stageOf(r)
		if st != "public-key" || r.str("result", "data") != "" {
			t.Fatalf("first stage: %s", r.Raw)
		}
		pub := base64.StdEncoding.EncodeToString(srv.PKSigner.PublicKey().Marshal())
		r = h.get("/v3/api/user/login/public-key", "", url.Values{"publicKey": {pub}}, "X-FASTX-TOKEN", tok).want(t, 200)
		if st, _ := stageOf(r); st != "public-key" || r.str("result", "data") == "" {
			t.Fatalf("after key: %s", r.Raw)
		}
		r = h.get("/v3/api/user/login/public-key/signed", "", url.Values{"signature": {signStage(t, srv.PKSigner, r)}}, "X-FASTX-TOKEN", tok).want(t, 200)
		if st, _ := stageOf(r); st != "success" {
			t.Fatalf("after signature: %s", r.Raw)
		}
	})

	run("several prompts", func(t *testing.T) {
		// dhtest-multi: public key, then keyboard-interactive with an expired password (PAM asks for the
		// current password, a new one, and the new one again).
		r := h.call("POST", "/v3/api/user/login", "", map[string]any{"username": sshdtest.UserMulti, "usePK": true}).want(t, 200)
		_, tok := stageOf(r)
		pub := base64.StdEncoding.EncodeToString(srv.MultiSigner.PublicKey().Marshal())
		r = fastx("/public-key", tok, map[string]any{"publicKey": pub}).want(t, 200)
		r = fastx("/public-key/signed", tok, map[string]any{"signature": signStage(t, srv.MultiSigner, r)}).want(t, 200)
		old, fresh := srv.Passwords[sshdtest.UserMulti], "Fresh-"+sshdtest.RandomPassword()
		rounds := 0
		for {
			st, _ := stageOf(r)
			if st == "success" {
				break
			}
			if st != "keyboard-interactive" || rounds > 8 {
				t.Fatalf("unexpected stage after %d rounds: %s", rounds, r.Raw)
			}
			prompts, _ := r.get("result", "prompts").([]any)
			answers := make([]string, len(prompts))
			for i, p := range prompts {
				switch text := p.(string); {
				case contains(text, "New", "Retype", "new"):
					answers[i] = fresh
				default:
					answers[i] = old
				}
			}
			r = fastx("/keyboard-interactive", tok, map[string]any{"answer": answers}).want(t, 200)
			rounds++
		}
		if rounds < 3 {
			t.Fatalf("expected several keyboard-interactive rounds, got %d", rounds)
		}
	})

	run("wrong password", func(t *testing.T) {
		r := h.call("POST", "/v3/api/user/login", "", map[string]any{"username": sshdtest.UserPassword}).want(t, 200)
		_, tok := stageOf(r)
		wrong := fastx("/password", tok, map[string]any{"password": "not-the-password"}).wantErr(t, 401, "wrong user name or credentials")
		// The attempt is over.
		fastx("/password", tok, map[string]any{"password": srv.Passwords[sshdtest.UserPassword]}).wantErr(t, 401, "no login in progress")

		r = h.call("POST", "/v3/api/user/login", "", map[string]any{"username": sshdtest.UserUnknown}).want(t, 200)
		st, tok := stageOf(r)
		var unknown reply
		switch st {
		case "password":
			unknown = fastx("/password", tok, map[string]any{"password": "not-the-password"}).want(t, 401)
		case "keyboard-interactive":
			unknown = fastx("/keyboard-interactive", tok, map[string]any{"answer": []string{"not-the-password"}}).want(t, 401)
		default:
			t.Fatalf("unknown user: stage %q", st)
		}
		if unknown.detail() != wrong.detail() {
			t.Fatalf("unknown user %q answers unlike a wrong password %q", unknown.detail(), wrong.detail())
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

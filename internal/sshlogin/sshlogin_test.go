package sshlogin_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/deskhub/deskhub/internal/sshlogin"
	"github.com/deskhub/deskhub/internal/sshlogin/sshdtest"
)

func opts(srv *sshdtest.Server) sshlogin.Options {
	return sshlogin.Options{Addr: srv.Addr, HostKeyCallback: srv.HostKeyCallback, Timeout: 30 * time.Second, StepTimeout: 20 * time.Second}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// user holds what the person at the browser knows.
type user struct {
	pw     string
	newPW  string     // for a forced password change
	signer ssh.Signer // private key, browser side
}

// sign does what a browser-side client does: sign Stage.Data with the
// requested algorithm and send the wire-format signature, which the HTTP
// layer parses with ParseWireSignature.
func sign(t *testing.T, s ssh.Signer, st sshlogin.Stage) *ssh.Signature {
	t.Helper()
	as, ok := s.(ssh.AlgorithmSigner)
	if !ok {
		t.Fatalf("signer %T cannot choose the algorithm", s)
	}
	sig, err := as.SignWithAlgorithm(rand.Reader, st.Data, st.Algorithm)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	parsed, err := sshlogin.ParseWireSignature(ssh.Marshal(sig))
	if err != nil {
		t.Fatalf("ParseWireSignature of a real signature: %v", err)
	}
	return parsed
}

// walk answers every stage until success or error, returning the stages seen.
func walk(t *testing.T, a *sshlogin.Attempt, st sshlogin.Stage, u user) ([]sshlogin.Stage, error) {
	t.Helper()
	ctx := testCtx(t)
	var seen []sshlogin.Stage
	var err error
	for i := 0; i < 20; i++ {
		seen = append(seen, st)
		switch st.Name {
		case sshlogin.StageSuccess:
			return seen, nil
		case sshlogin.StagePassword:
			st, err = a.Password(ctx, u.pw)
		case sshlogin.StageKeyboardInteractive:
			var answers []string
			for _, p := range st.Prompts {
				l := strings.ToLower(p.Text)
				if strings.Contains(l, "new") || strings.Contains(l, "retype") || strings.Contains(l, "again") {
					answers = append(answers, u.newPW)
				} else {
					answers = append(answers, u.pw)
				}
			}
			st, err = a.Answer(ctx, answers)
		case sshlogin.StagePublicKey:
			// The browser sends the wire format, base64; the HTTP layer decodes and parses.
			pub, perr := sshlogin.ParsePublicKey(u.signer.PublicKey().Marshal())
			if perr != nil {
				t.Fatalf("ParsePublicKey: %v", perr)
			}
			st, err = a.PublicKey(ctx, pub)
		case sshlogin.StagePublicKeySign:
			if len(st.Data) == 0 || st.Algorithm == "" {
				t.Fatalf("public-key-sign stage without data/algorithm: %+v", st)
			}
			st, err = a.Signed(ctx, sign(t, u.signer, st))
		default:
			t.Fatalf("unexpected stage %+v", st)
		}
		if err != nil {
			return seen, err
		}
	}
	t.Fatalf("no end after 20 stages: %+v", seen)
	return nil, nil
}

func names(stages []sshlogin.Stage) []string {
	var n []string
	for _, s := range stages {
		n = append(n, s.Name)
	}
	return n
}

func start(t *testing.T, o sshlogin.Options, name string, usePK bool) (*sshlogin.Attempt, sshlogin.Stage) {
	t.Helper()
	a, st, err := sshlogin.Start(testCtx(t), o, name, usePK)
	if err != nil {
		t.Fatalf("Start(%s): %v", name, err)
	}
	t.Cleanup(func() { a.Close() })
	return a, st
}

// assertRunsAs proves a real session as that user: runs `id -un`.
func assertRunsAs(t *testing.T, a *sshlogin.Attempt, name string) {
	t.Helper()
	c := a.Client()
	if c == nil {
		t.Fatal("Client() is nil after success")
	}
	sess, err := c.NewSession()
	if err != nil {
		t.Fatalf("new session: %v", err)
	}
	defer sess.Close()
	out, err := sess.Output("id -un")
	if err != nil {
		t.Fatalf("id -un: %v (%s)", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != name {
		t.Fatalf("id -un = %q, want %q", got, name)
	}
}

func TestPasswordLogin(t *testing.T) {
	srv := sshdtest.Start(t)
	a, st := start(t, opts(srv), sshdtest.UserPassword, false)
	if st.Name != sshlogin.StagePassword || st.Host != "127.0.0.1" {
		t.Fatalf("first stage = %+v, want password on 127.0.0.1", st)
	}
	if a.Client() != nil {
		t.Fatal("Client() before success is not nil")
	}
	seen, err := walk(t, a, st, user{pw: srv.Passwords[sshdtest.UserPassword]})
	if err != nil {
		t.Fatalf("login: %v (stages %v)\n%s", err, names(seen), srv.Log())
	}
	if got := strings.Join(names(seen), ","); got != "password,success" {
		t.Fatalf("stages %s", got)
	}
	assertRunsAs(t, a, sshdtest.UserPassword)
	if _, err := a.Password(testCtx(t), "again"); !errors.Is(err, sshlogin.ErrWrongStage) {
		t.Fatalf("Password after success: %v, want ErrWrongStage", err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if a.Client() != nil {
		t.Fatal("Client() after Close is not nil")
	}
}

func TestKeyboardInteractiveLogin(t *testing.T) {
	srv := sshdtest.Start(t)
	a, st := start(t, opts(srv), sshdtest.UserKbd, false)
	if st.Name != sshlogin.StageKeyboardInteractive || len(st.Prompts) != 1 ||
		!strings.Contains(st.Prompts[0].Text, "assword") || st.Prompts[0].Echo {
		t.Fatalf("first stage = %+v, want one PAM Password: prompt without echo", st)
	}
	// Wrong stage and wrong answer count leave the attempt usable.
	ctx := testCtx(t)
	if _, err := a.Password(ctx, "x"); !errors.Is(err, sshlogin.ErrWrongStage) {
		t.Fatalf("Password on keyboard-interactive: %v, want ErrWrongStage", err)
	}
	if _, err := a.Answer(ctx, []string{"a", "b"}); !errors.Is(err, sshlogin.ErrInvalidInput) {
		t.Fatalf("two answers for one prompt: %v, want ErrInvalidInput", err)
	}
	st, err := a.Answer(ctx, []string{srv.Passwords[sshdtest.UserKbd]})
	if err != nil || st.Name != sshlogin.StageSuccess {
		t.Fatalf("Answer: %+v, %v\n%s", st, err, srv.Log())
	}
	assertRunsAs(t, a, sshdtest.UserKbd)
}

func TestPublicKeyLogin(t *testing.T) {
	srv := sshdtest.Start(t)
	a, st := start(t, opts(srv), sshdtest.UserPK, true)
	if st.Name != sshlogin.StagePublicKey {
		t.Fatalf("first stage = %+v, want public-key", st)
	}
	seen, err := walk(t, a, st, user{signer: srv.PKSigner})
	if err != nil {
		t.Fatalf("login: %v (stages %v)\n%s", err, names(seen), srv.Log())
	}
	if got := strings.Join(names(seen), ","); got != "public-key,public-key-sign,success" {
		t.Fatalf("stages %s", got)
	}
	if seen[1].Algorithm != ssh.KeyAlgoED25519 {
		t.Fatalf("algorithm %q", seen[1].Algorithm)
	}
	assertRunsAs(t, a, sshdtest.UserPK)
}

func TestPublicKeyBadSignature(t *testing.T) {
	srv := sshdtest.Start(t)
	a, st := start(t, opts(srv), sshdtest.UserPK, true)
	ctx := testCtx(t)
	st, err := a.PublicKey(ctx, srv.PKSigner.PublicKey())
	if err != nil || st.Name != sshlogin.StagePublicKeySign {
		t.Fatalf("PublicKey: %+v %v", st, err)
	}
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	os, _ := ssh.NewSignerFromKey(other)
	if _, err := a.Signed(ctx, sign(t, os, st)); !errors.Is(err, sshlogin.ErrAuthFailed) {
		t.Fatalf("signature by another key: %v, want ErrAuthFailed", err)
	}
}

func TestPublicKeyRefusedMovesOn(t *testing.T) {
	srv := sshdtest.Start(t)
	// dhtest-kbd has no authorized key; sshd offers publickey only to users
	// whose AuthenticationMethods allow it, so use the unknown user, for
	// which the default list (publickey,password,keyboard-interactive) applies.
	a, st := start(t, opts(srv), sshdtest.UserUnknown, true)
	if st.Name != sshlogin.StagePublicKey {
		t.Fatalf("first stage = %+v, want public-key", st)
	}
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	s, _ := ssh.NewSignerFromKey(k)
	st, err := a.PublicKey(testCtx(t), s.PublicKey())
	if err != nil {
		t.Fatalf("PublicKey: %v", err)
	}
	if st.Name != sshlogin.StageKeyboardInteractive && st.Name != sshlogin.StagePassword {
		t.Fatalf("after a refused key: %+v, want the next method", st)
	}
}

func wrongPasswordErr(t *testing.T, srv *sshdtest.Server, name string) error {
	t.Helper()
	a, st := start(t, opts(srv), name, false)
	seen, err := walk(t, a, st, user{pw: "not-the-password", newPW: "not-the-password"})
	if err == nil {
		t.Fatalf("%s logged in with a wrong password (stages %v)", name, names(seen))
	}
	if !errors.Is(err, sshlogin.ErrAuthFailed) {
		t.Fatalf("%s wrong password: %v, want ErrAuthFailed", name, err)
	}
	// The attempt is over: further calls return the same error.
	if _, err2 := a.Password(testCtx(t), "x"); err2 == nil || err2.Error() != err.Error() {
		t.Fatalf("call after failure: %v, want %v", err2, err)
	}
	if a.Client() != nil {
		t.Fatal("Client() after failure is not nil")
	}
	return err
}

func TestWrongPassword(t *testing.T) {
	srv := sshdtest.Start(t)
	errPW := wrongPasswordErr(t, srv, sshdtest.UserPassword)
	errKbd := wrongPasswordErr(t, srv, sshdtest.UserKbd)
	if errPW.Error() != errKbd.Error() {
		t.Fatalf("password %q and keyboard-interactive %q failures differ", errPW, errKbd)
	}
	t.Logf("error: %v", errPW)
}

func TestUnknownUserLikeWrongPassword(t *testing.T) {
	srv := sshdtest.Start(t)
	errPW := wrongPasswordErr(t, srv, sshdtest.UserPassword)
	errUnknown := wrongPasswordErr(t, srv, sshdtest.UserUnknown)
	if errPW.Error() != errUnknown.Error() {
		t.Fatalf("unknown user %q differs from wrong password %q", errUnknown, errPW)
	}
}

func TestMultiStage(t *testing.T) {
	srv := sshdtest.Start(t)
	// Without usePK the server's only first method (publickey) is unusable.
	if _, _, err := sshlogin.Start(testCtx(t), opts(srv), sshdtest.UserMulti, false); !errors.Is(err, sshlogin.ErrAuthFailed) {
		t.Fatalf("multi without usePK: %v, want ErrAuthFailed", err)
	}

	a, st := start(t, opts(srv), sshdtest.UserMulti, true)
	// The forced change sets a new password; the next sshdtest.Start resets it.
	u := user{pw: srv.Passwords[sshdtest.UserMulti], newPW: sshdtest.RandomPassword(), signer: srv.MultiSigner}
	seen, err := walk(t, a, st, u)
	for _, s := range seen {
		t.Logf("stage %-20s alg=%q instruction=%q prompts=%+v", s.Name, s.Algorithm, s.Instruction, s.Prompts)
	}
	if err != nil {
		t.Fatalf("login: %v (stages %v)\n%s", err, names(seen), srv.Log())
	}
	n := names(seen)
	if len(n) < 5 || n[0] != "public-key" || n[1] != "public-key-sign" || n[len(n)-1] != "success" {
		t.Fatalf("stages %v, want public-key, public-key-sign, keyboard-interactive rounds, success", n)
	}
	if seen[1].Algorithm != ssh.KeyAlgoRSASHA512 && seen[1].Algorithm != ssh.KeyAlgoRSASHA256 {
		t.Fatalf("RSA key signed with %q, want a SHA-2 algorithm", seen[1].Algorithm)
	}
	var kbdRounds, prompts int
	var sawNew bool
	for _, s := range seen[2 : len(seen)-1] {
		if s.Name != sshlogin.StageKeyboardInteractive {
			t.Fatalf("stage %q after the key, want keyboard-interactive", s.Name)
		}
		kbdRounds++
		prompts += len(s.Prompts)
		for _, p := range s.Prompts {
			sawNew = sawNew || strings.Contains(strings.ToLower(p.Text), "new")
		}
	}
	if kbdRounds < 3 || prompts < 3 || !sawNew {
		t.Fatalf("%d keyboard-interactive rounds, %d prompts, new-password prompt %v: want the forced change (>= 3 prompts)", kbdRounds, prompts, sawNew)
	}
	assertRunsAs(t, a, sshdtest.UserMulti)
}

// AuthenticationMethods publickey,password: after the key's partial success
// the password stage comes.
func TestPublicKeyThenPassword(t *testing.T) {
	srv := sshdtest.Start(t)
	a, st := start(t, opts(srv), sshdtest.UserPKPassword, true)
	seen, err := walk(t, a, st, user{pw: srv.Passwords[sshdtest.UserPKPassword], signer: srv.PKSigner})
	if err != nil {
		t.Fatalf("login: %v (stages %v)\n%s", err, names(seen), srv.Log())
	}
	if got := strings.Join(names(seen), ","); got != "public-key,public-key-sign,password,success" {
		t.Fatalf("stages %s", got)
	}
	assertRunsAs(t, a, sshdtest.UserPKPassword)

	// A wrong password at the second step still fails cleanly.
	a2, st := start(t, opts(srv), sshdtest.UserPKPassword, true)
	if _, err := walk(t, a2, st, user{pw: "wrong", signer: srv.PKSigner}); !errors.Is(err, sshlogin.ErrAuthFailed) {
		t.Fatalf("wrong password after the key: %v, want ErrAuthFailed", err)
	}
}

func TestKnownHosts(t *testing.T) {
	srv := sshdtest.Start(t)
	path := filepath.Join(t.TempDir(), "known_hosts")
	cb, err := sshlogin.KnownHosts(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("known_hosts: %v, mode %v, want 0600", err, fi.Mode())
	}
	o := opts(srv)
	o.HostKeyCallback = cb
	login := func() error {
		a, st, err := sshlogin.Start(testCtx(t), o, sshdtest.UserPassword, false)
		if err != nil {
			return err
		}
		defer a.Close()
		_, err = walk(t, a, st, user{pw: srv.Passwords[sshdtest.UserPassword]})
		return err
	}
	// First contact pins, second is accepted.
	for i := 0; i < 2; i++ {
		if err := login(); err != nil {
			t.Fatalf("login %d: %v", i, err)
		}
	}
	b, _ := os.ReadFile(path)
	if lines := strings.Count(string(b), "\n"); lines != 1 || !bytes.Contains(b, bytes.TrimSpace(ssh.MarshalAuthorizedKey(srv.HostKey))) {
		t.Fatalf("known_hosts after two logins:\n%s", b)
	}
	// The server's key changes: refused, clearly.
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	other, _ := ssh.NewSignerFromKey(k)
	changed := bytes.Replace(b, bytes.TrimSpace(ssh.MarshalAuthorizedKey(srv.HostKey)), bytes.TrimSpace(ssh.MarshalAuthorizedKey(other.PublicKey())), 1)
	if err := os.WriteFile(path, changed, 0o600); err != nil {
		t.Fatal(err)
	}
	err = login()
	if !errors.Is(err, sshlogin.ErrHostKeyChanged) {
		t.Fatalf("changed host key: %v, want ErrHostKeyChanged", err)
	}
	if !strings.Contains(err.Error(), ssh.FingerprintSHA256(srv.HostKey)) || !strings.Contains(err.Error(), srv.Addr) {
		t.Fatalf("error does not name the host and key: %v", err)
	}
	t.Logf("changed key: %v", err)
}

// waitGoroutines waits until the goroutine count is back to base.
func waitGoroutines(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutine leak: %d > %d\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestCloseEndsAttempt(t *testing.T) {
	srv := sshdtest.Start(t)
	base := runtime.NumGoroutine()
	for _, name := range []string{sshdtest.UserPassword, sshdtest.UserKbd, sshdtest.UserPK} {
		a, st, err := sshlogin.Start(testCtx(t), opts(srv), name, true)
		if err != nil {
			t.Fatal(err)
		}
		if st.Name == sshlogin.StageSuccess {
			t.Fatalf("%s: unexpected success", name)
		}
		if err := a.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := a.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if _, err := a.Password(testCtx(t), "x"); !errors.Is(err, sshlogin.ErrClosed) {
			t.Fatalf("after Close: %v, want ErrClosed", err)
		}
	}
	waitGoroutines(t, base)
}

func TestStepTimeout(t *testing.T) {
	srv := sshdtest.Start(t)
	base := runtime.NumGoroutine()
	o := opts(srv)
	o.StepTimeout = 300 * time.Millisecond
	a, st, err := sshlogin.Start(testCtx(t), o, sshdtest.UserPassword, false)
	if err != nil || st.Name != sshlogin.StagePassword {
		t.Fatalf("Start: %+v %v", st, err)
	}
	time.Sleep(800 * time.Millisecond)
	if _, err := a.Password(testCtx(t), srv.Passwords[sshdtest.UserPassword]); !errors.Is(err, sshlogin.ErrTimeout) {
		t.Fatalf("answer after the step timeout: %v, want ErrTimeout", err)
	}
	waitGoroutines(t, base)
	a.Close()

	// Whole-login timeout.
	o = opts(srv)
	o.Timeout = 400 * time.Millisecond
	a, _, err = sshlogin.Start(testCtx(t), o, sshdtest.UserKbd, false)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	time.Sleep(800 * time.Millisecond)
	if _, err := a.Answer(testCtx(t), []string{"x"}); !errors.Is(err, sshlogin.ErrTimeout) {
		t.Fatalf("answer after the login timeout: %v, want ErrTimeout", err)
	}
	waitGoroutines(t, base)
}

func TestCallerContextCancelAbandons(t *testing.T) {
	srv := sshdtest.Start(t)
	base := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := sshlogin.Start(ctx, opts(srv), sshdtest.UserPassword, false); err == nil {
		t.Fatal("Start with a cancelled context succeeded")
	}
	waitGoroutines(t, base)
}

func TestStartErrors(t *testing.T) {
	if _, _, err := sshlogin.Start(context.Background(), sshlogin.Options{}, "u", false); !errors.Is(err, sshlogin.ErrInvalidInput) {
		t.Fatalf("no HostKeyCallback: %v", err)
	}
	o := sshlogin.Options{Addr: "127.0.0.1:1", HostKeyCallback: ssh.InsecureIgnoreHostKey()}
	if _, _, err := sshlogin.Start(context.Background(), o, "u", false); err == nil {
		t.Fatal("connect to a closed port succeeded")
	}
}

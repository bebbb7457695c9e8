// Package sshlogin relays a FastX-style staged login (/v3/api/user/login and
// its stages) to a real OpenSSH sshd, one interactive step per HTTP call.
//
// Start dials the sshd and runs the SSH handshake of golang.org/x/crypto/ssh
// in a goroutine. Its authentication callbacks block until the user answers:
// each time the server needs something from the user, the handshake pauses
// and the caller gets a Stage ("public-key", "public-key-sign",
// "keyboard-interactive", "password"); the caller answers with the matching
// method (PublicKey, Signed, Answer, Password), which resumes the handshake
// and returns the next Stage, until "success".
//
// Method order: if usePK, public-key first; then keyboard-interactive, then
// password; only methods the server lists are used, and after a partial
// success (sshd "AuthenticationMethods publickey,password" and the like) the
// next method the server asks for becomes the next stage.
//
// Failures end the attempt: a wrong password, a failed keyboard-interactive
// round or a rejected signature returns an error that wraps ErrAuthFailed and
// the attempt is over (the user starts a new login; sshd would allow retries
// on the same connection, but one clear error is simpler for a web client).
// A public key that the server refuses is not a failure: the next method the
// server offers becomes the next stage. An unknown user fails exactly like a
// wrong password (sshd makes them indistinguishable and so do we).
//
// The ctx given to a step bounds the caller's wait: if it ends before the
// answer was handed over, the attempt is unchanged; if it ends while waiting
// for the server's next stage, the attempt is closed (it cannot be left
// half-way). A call that does not match the current stage returns
// ErrWrongStage and leaves the attempt as it was.
//
// Every Attempt owns one goroutine that ends on success, on failure, on
// Close, when the whole login exceeds Options.Timeout, or when the user does
// not answer a stage within Options.StepTimeout.
package sshlogin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
)

// Stage names, as in the FastX login API.
const (
	StagePublicKey           = "public-key"
	StagePublicKeySign       = "public-key-sign"
	StageKeyboardInteractive = "keyboard-interactive"
	StagePassword            = "password"
	StageSuccess             = "success"
)

// Errors returned by Start and the Attempt methods; test them with errors.Is.
var (
	// ErrAuthFailed: the server refused the credentials (wrong password,
	// unknown user, failed keyboard-interactive round, rejected signature) or
	// offers no method this login can use. The attempt is over.
	ErrAuthFailed = errors.New("sshlogin: authentication failed")
	// ErrWrongStage: the call does not match the current stage (or the
	// attempt is already over). The attempt is unchanged.
	ErrWrongStage = errors.New("sshlogin: wrong stage")
	// ErrTimeout: the user did not answer a stage within StepTimeout, or the
	// whole login took longer than Timeout. The attempt is over.
	ErrTimeout = errors.New("sshlogin: timed out")
	// ErrClosed: the attempt was closed (abandoned) with Close.
	ErrClosed = errors.New("sshlogin: attempt closed")
	// ErrInvalidInput: the answer is malformed (wrong number of answers,
	// nil key or signature). The attempt is unchanged.
	ErrInvalidInput = errors.New("sshlogin: invalid input")
	// ErrHostKeyChanged: KnownHosts has a different key pinned for the host.
	ErrHostKeyChanged = errors.New("sshlogin: host key changed")
)

// errBadCredentials is the one error for a wrong password, an unknown user
// and a failed keyboard-interactive exchange, so they cannot be told apart.
var errBadCredentials = fmt.Errorf("%w: wrong user name or password", ErrAuthFailed)

// Options configure a login.
type Options struct {
	Addr            string              // sshd host:port, default "127.0.0.1:22"
	HostKeyCallback ssh.HostKeyCallback // required; see KnownHosts
	Timeout         time.Duration       // whole login, default 2 min
	StepTimeout     time.Duration       // wait for the user at each stage, default 60 s
	ClientVersion   string              // default "SSH-2.0-deskhub"
}

// Prompt is one question of a keyboard-interactive round.
type Prompt struct {
	Text string
	Echo bool // the answer may be shown while typed
}

// Stage is what the server needs next from the user, or "success".
type Stage struct {
	Name        string   // one of the Stage* constants
	Prompts     []Prompt // keyboard-interactive: every prompt of the round
	Instruction string   // keyboard-interactive: the round's instruction (may be empty)
	// public-key-sign: the exact bytes the client must sign with the private
	// key of the public key it sent (session id + userauth request), and the
	// signature algorithm it must use (e.g. "ssh-ed25519", "rsa-sha2-512";
	// the resulting ssh.Signature.Format must equal it).
	Data      []byte
	Algorithm string
	Host      string // hostname of the server (from Options.Addr)
}

// reply carries the user's answer to the handshake goroutine.
type reply struct {
	password string
	answers  []string
	pub      ssh.PublicKey
	sig      *ssh.Signature
}

// Attempt is one login in progress. Its methods are safe for concurrent use;
// steps are serialised.
type Attempt struct {
	o     Options
	user  string
	usePK bool
	host  string

	ctx    context.Context // whole-login lifetime
	cancel context.CancelFunc
	closed atomic.Bool

	events  chan Stage    // goroutine -> caller, capacity 1 (strict alternation)
	replies chan reply    // caller -> goroutine
	done    chan struct{} // closed when the goroutine has ended

	stepMu sync.Mutex // one step at a time

	mu     sync.Mutex
	cur    Stage       // stage waiting for the user
	client *ssh.Client // set on success
	err    error       // set on failure, before done is closed
	once   sync.Once   // Close
	cerr   error       // result of closing the client

	// owned by the handshake goroutine
	last      string // method returned by the last nextMethod call
	lastFails int    // failures of last recorded before trying it
	pkOffered bool
	pkSigned  bool
	abortErr  error // set by a callback that gives up: ends the login with it
}

// Start dials o.Addr and begins the login of user. It returns the first
// stage the user must answer (or "success" if the server needs nothing).
// ctx bounds only the dial and the wait for that first stage; the attempt
// itself lives until success, failure, Close or o.Timeout.
func Start(ctx context.Context, o Options, user string, usePK bool) (*Attempt, Stage, error) {
	if o.HostKeyCallback == nil {
		return nil, Stage{}, fmt.Errorf("%w: Options.HostKeyCallback is required", ErrInvalidInput)
	}
	if user == "" || len(user) > 256 || strings.ContainsAny(user, "\x00\r\n") {
		return nil, Stage{}, fmt.Errorf("%w: bad user name", ErrInvalidInput)
	}
	if o.Addr == "" {
		o.Addr = "127.0.0.1:22"
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Minute
	}
	if o.StepTimeout <= 0 {
		o.StepTimeout = 60 * time.Second
	}
	if o.ClientVersion == "" {
		o.ClientVersion = "SSH-2.0-deskhub"
	}
	host, _, err := net.SplitHostPort(o.Addr)
	if err != nil {
		return nil, Stage{}, fmt.Errorf("%w: address %q: %v", ErrInvalidInput, o.Addr, err)
	}

	dctx, dcancel := context.WithTimeout(ctx, o.Timeout)
	conn, err := (&net.Dialer{}).DialContext(dctx, "tcp", o.Addr)
	dcancel()
	if err != nil {
		return nil, Stage{}, fmt.Errorf("sshlogin: connect %s: %w", o.Addr, err)
	}

	a := &Attempt{
		o: o, user: user, usePK: usePK, host: host,
		events:  make(chan Stage, 1),
		replies: make(chan reply),
		done:    make(chan struct{}),
	}
	a.ctx, a.cancel = context.WithTimeout(context.Background(), o.Timeout)
	go a.run(conn)

	a.stepMu.Lock()
	defer a.stepMu.Unlock()
	st, err := a.next(ctx)
	if err != nil {
		a.Close()
		return nil, Stage{}, err
	}
	return a, st, nil
}

// Password answers the "password" stage.
func (a *Attempt) Password(ctx context.Context, pw string) (Stage, error) {
	return a.step(ctx, StagePassword, reply{password: pw})
}

// Answer answers the current keyboard-interactive round: one answer per
// prompt, in order.
func (a *Attempt) Answer(ctx context.Context, answers []string) (Stage, error) {
	return a.step(ctx, StageKeyboardInteractive, reply{answers: answers})
}

// PublicKey answers the "public-key" stage with the user's public key. The
// next stage is "public-key-sign" if the server accepts the key, else the
// next method the server offers.
func (a *Attempt) PublicKey(ctx context.Context, pub ssh.PublicKey) (Stage, error) {
	if pub == nil {
		return Stage{}, fmt.Errorf("%w: no public key", ErrInvalidInput)
	}
	return a.step(ctx, StagePublicKey, reply{pub: pub})
}

// Signed answers the "public-key-sign" stage with the signature of
// Stage.Data. A signature that does not verify ends the attempt with
// ErrAuthFailed.
func (a *Attempt) Signed(ctx context.Context, sig *ssh.Signature) (Stage, error) {
	if sig == nil {
		return Stage{}, fmt.Errorf("%w: no signature", ErrInvalidInput)
	}
	return a.step(ctx, StagePublicKeySign, reply{sig: sig})
}

// Client returns the authenticated SSH client after "success", else nil
// (also nil once the attempt is closed). It stays open until Close.
func (a *Attempt) Client() *ssh.Client {
	if a.closed.Load() {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.client
}

// Close abandons the attempt (or, after success, closes the SSH client). It
// waits for the handshake goroutine to end and is idempotent.
func (a *Attempt) Close() error {
	a.once.Do(func() {
		a.closed.Store(true)
		a.cancel() // closes the connection if still handshaking, wakes a waiting stage
		<-a.done
		a.mu.Lock()
		c := a.client
		a.mu.Unlock()
		if c != nil {
			a.cerr = c.Close()
			if errors.Is(a.cerr, net.ErrClosed) || errors.Is(a.cerr, io.EOF) {
				a.cerr = nil
			}
		}
	})
	return a.cerr
}

// step sends the user's answer for stage want and returns the next stage.
func (a *Attempt) step(ctx context.Context, want string, r reply) (Stage, error) {
	a.stepMu.Lock()
	defer a.stepMu.Unlock()
	select {
	case <-a.done:
		if st, err := a.final(); err != nil {
			return st, err
		}
		return Stage{}, fmt.Errorf("%w: login already succeeded", ErrWrongStage)
	default:
	}
	a.mu.Lock()
	cur := a.cur
	a.mu.Unlock()
	if cur.Name != want {
		return Stage{}, fmt.Errorf("%w: the current stage is %q, not %q", ErrWrongStage, cur.Name, want)
	}
	if want == StageKeyboardInteractive && len(r.answers) != len(cur.Prompts) {
		return Stage{}, fmt.Errorf("%w: %d answers for %d prompts", ErrInvalidInput, len(r.answers), len(cur.Prompts))
	}
	select {
	case a.replies <- r:
	case <-a.done:
		return a.final()
	case <-ctx.Done():
		return Stage{}, ctx.Err() // nothing sent: the attempt is unchanged
	}
	return a.next(ctx)
}

// next waits for the next stage or the end of the handshake. If ctx ends
// first the attempt is abandoned (the handshake cannot be left half-way).
func (a *Attempt) next(ctx context.Context) (Stage, error) {
	select {
	case st := <-a.events:
		a.mu.Lock()
		a.cur = st
		a.mu.Unlock()
		return st, nil
	case <-a.done:
		return a.final()
	case <-ctx.Done():
		a.Close()
		return Stage{}, fmt.Errorf("sshlogin: attempt abandoned: %w", ctx.Err())
	}
}

// final reports the end of the handshake; done must be closed.
func (a *Attempt) final() (Stage, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err != nil {
		a.cur = Stage{}
		return Stage{}, a.err
	}
	a.cur = Stage{Name: StageSuccess, Host: a.host}
	return a.cur, nil
}

// ---- handshake goroutine ----

func (a *Attempt) run(conn net.Conn) {
	defer close(a.done)
	_ = conn.SetDeadline(time.Now().Add(a.o.Timeout))
	stop := context.AfterFunc(a.ctx, func() { conn.Close() })

	cfg := &ssh.ClientConfig{
		User:            a.user,
		HostKeyCallback: a.o.HostKeyCallback,
		ClientVersion:   a.o.ClientVersion,
		AuthCallback:    a.nextMethod,
	}
	c, chans, reqs, err := ssh.NewClientConn(conn, a.o.Addr, cfg)
	if err == nil && !stop() {
		// Closed or timed out at the very moment the handshake finished.
		c.Close()
		err = a.ctxErr()
	}
	if err != nil {
		stop()
		conn.Close()
		a.mu.Lock()
		a.err = a.classify(err)
		a.mu.Unlock()
		a.cancel()
		return
	}
	_ = conn.SetDeadline(time.Time{})
	client := ssh.NewClient(c, chans, reqs)
	a.mu.Lock()
	a.client = client
	a.mu.Unlock()
	a.cancel() // releases the timer; nothing watches ctx any more
}

// ctxErr explains why a.ctx ended.
func (a *Attempt) ctxErr() error {
	if a.closed.Load() {
		return ErrClosed
	}
	return fmt.Errorf("%w: the login did not complete within %s", ErrTimeout, a.o.Timeout)
}

func (a *Attempt) classify(err error) error {
	for _, own := range []error{ErrClosed, ErrTimeout, ErrHostKeyChanged, ErrAuthFailed} {
		if errors.Is(err, own) { // an error of our own making, returned through the handshake
			return unwrapHandshake(err)
		}
	}
	var ne net.Error
	if a.ctx.Err() != nil || (errors.As(err, &ne) && ne.Timeout()) {
		return a.ctxErr()
	}
	if strings.Contains(err.Error(), "unable to authenticate") {
		return fmt.Errorf("%w: the server offers no method this login can use", ErrAuthFailed)
	}
	return fmt.Errorf("sshlogin: ssh %s: %w", a.o.Addr, err)
}

// unwrapHandshake drops x/crypto's "ssh: handshake failed: " prefix.
func unwrapHandshake(err error) error {
	if u := errors.Unwrap(err); u != nil && strings.HasPrefix(err.Error(), "ssh: handshake failed: ") {
		return u
	}
	return err
}

// ask hands st to the caller and waits for the user's answer.
func (a *Attempt) ask(st Stage) (reply, error) {
	st.Host = a.host
	select { // by strict alternation the buffer is empty; drop a stale stage to be safe
	case <-a.events:
	default:
	}
	a.events <- st
	t := time.NewTimer(a.o.StepTimeout)
	defer t.Stop()
	var err error
	select {
	case r := <-a.replies:
		return r, nil
	case <-t.C:
		err = fmt.Errorf("%w: no answer to stage %q within %s", ErrTimeout, st.Name, a.o.StepTimeout)
	case <-a.ctx.Done():
		err = a.ctxErr()
	}
	a.abortErr = err
	return reply{}, err
}

// nextMethod is the ssh.ClientConfig.AuthCallback: it decides, after each
// server answer, which method to try next, and ends the login on failure.
func (a *Attempt) nextMethod(c *ssh.ClientAuthContext) (ssh.AuthMethod, error) {
	if a.abortErr != nil {
		return nil, a.abortErr
	}
	if err := a.ctx.Err(); err != nil {
		return nil, a.ctxErr()
	}
	if a.last != "" && count(c.TriedMethods, a.last) > a.lastFails {
		switch a.last {
		case "publickey":
			if a.pkSigned {
				return nil, fmt.Errorf("%w: the server rejected the public-key signature", ErrAuthFailed)
			}
			// The server refused the key: go on with the next method.
		default:
			return nil, errBadCredentials
		}
	}
	allowed := c.AllowedMethods
	pick := func(m string) {
		a.last = m
		a.lastFails = count(c.TriedMethods, m)
	}
	if a.usePK && !a.pkOffered && slices.Contains(allowed, "publickey") {
		a.pkOffered = true
		pick("publickey")
		return ssh.PublicKeysCallback(a.signers), nil
	}
	if slices.Contains(allowed, "keyboard-interactive") {
		pick("keyboard-interactive")
		return ssh.KeyboardInteractive(a.challenge), nil
	}
	if slices.Contains(allowed, "password") {
		pick("password")
		return ssh.PasswordCallback(a.password), nil
	}
	if a.last == "publickey" && !a.pkSigned {
		return nil, fmt.Errorf("%w: the server refused the public key", ErrAuthFailed)
	}
	if slices.Contains(allowed, "publickey") && !a.usePK {
		return nil, fmt.Errorf("%w: the server requires public-key authentication (usePK)", ErrAuthFailed)
	}
	return nil, fmt.Errorf("%w: the server offers no method this login can use (%s)", ErrAuthFailed, strings.Join(allowed, ","))
}

func count(list []string, m string) int {
	n := 0
	for _, s := range list {
		if s == m {
			n++
		}
	}
	return n
}

func (a *Attempt) password() (string, error) {
	r, err := a.ask(Stage{Name: StagePassword})
	return r.password, err
}

func (a *Attempt) challenge(name, instruction string, questions []string, echos []bool) ([]string, error) {
	if len(questions) == 0 {
		return nil, nil // empty round (e.g. after PAM success): answer it ourselves
	}
	st := Stage{Name: StageKeyboardInteractive, Instruction: instruction}
	if name != "" && instruction == "" {
		st.Instruction = name
	}
	for i, q := range questions {
		st.Prompts = append(st.Prompts, Prompt{Text: q, Echo: echos[i]})
	}
	r, err := a.ask(st)
	return r.answers, err
}

func (a *Attempt) signers() ([]ssh.Signer, error) {
	r, err := a.ask(Stage{Name: StagePublicKey})
	if err != nil {
		return nil, err
	}
	return []ssh.Signer{relaySigner{a: a, pub: r.pub}}, nil
}

// relaySigner is an ssh.Signer whose private key is on the user's side:
// Sign hands the data out as a "public-key-sign" stage and waits for the
// user's signature. x/crypto calls it only for a key the server accepts.
type relaySigner struct {
	a   *Attempt
	pub ssh.PublicKey
}

func (s relaySigner) PublicKey() ssh.PublicKey { return s.pub }

func (s relaySigner) Sign(rand io.Reader, data []byte) (*ssh.Signature, error) {
	return s.SignWithAlgorithm(rand, data, s.Algorithms()[0])
}

// Algorithms lists the signature algorithms for the key, best first. For
// RSA the SHA-2 ones come first (OpenSSH refuses SHA-1 "ssh-rsa" by default).
func (s relaySigner) Algorithms() []string {
	t := s.pub.Type()
	if u, ok := certToKeyAlgo[t]; ok {
		t = u
	}
	if t == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{t}
}

var certToKeyAlgo = map[string]string{
	ssh.CertAlgoRSAv01:        ssh.KeyAlgoRSA,
	ssh.CertAlgoECDSA256v01:   ssh.KeyAlgoECDSA256,
	ssh.CertAlgoECDSA384v01:   ssh.KeyAlgoECDSA384,
	ssh.CertAlgoECDSA521v01:   ssh.KeyAlgoECDSA521,
	ssh.CertAlgoSKECDSA256v01: ssh.KeyAlgoSKECDSA256,
	ssh.CertAlgoED25519v01:    ssh.KeyAlgoED25519,
	ssh.CertAlgoSKED25519v01:  ssh.KeyAlgoSKED25519,
}

func (s relaySigner) SignWithAlgorithm(_ io.Reader, data []byte, algorithm string) (*ssh.Signature, error) {
	a := s.a
	a.pkSigned = true
	r, err := a.ask(Stage{Name: StagePublicKeySign, Data: slices.Clone(data), Algorithm: algorithm})
	if err != nil {
		return nil, err
	}
	sig := r.sig
	if sig.Format != algorithm {
		a.abortErr = fmt.Errorf("%w: signature algorithm %q, want %q", ErrAuthFailed, sig.Format, algorithm)
		return nil, a.abortErr
	}
	if err := s.pub.Verify(data, sig); err != nil {
		a.abortErr = fmt.Errorf("%w: the signature does not verify with the public key sent", ErrAuthFailed)
		return nil, a.abortErr
	}
	return sig, nil
}

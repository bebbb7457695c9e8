package server

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/deskhub/deskhub/internal/account"
	"github.com/deskhub/deskhub/internal/config"
	"github.com/deskhub/deskhub/internal/store"
)

// softAuthenticator is a WebAuthn authenticator in software: one ES256 (ECDSA P-256) credential, "none"
// attestation, user presence and verification always given.
type softAuthenticator struct {
	t         *testing.T
	origin    string
	key       *ecdsa.PrivateKey
	credID    []byte
	aaguid    []byte
	userID    []byte // the user handle the credential was made for
	signCount uint32
}

func newSoftAuthenticator(t *testing.T, origin string) *softAuthenticator {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	a := &softAuthenticator{t: t, origin: origin, key: key, credID: make([]byte, 32), aaguid: make([]byte, 16)}
	_, _ = rand.Read(a.credID)
	_, _ = rand.Read(a.aaguid)
	return a
}

var b64u = base64.RawURLEncoding

func (a *softAuthenticator) unb64(s string) []byte {
	a.t.Helper()
	b, err := b64u.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		a.t.Fatalf("not base64url: %q: %v", s, err)
	}
	return b
}

// Authenticator data flags.
const (
	flagUP = 0x01
	flagUV = 0x04
	flagAT = 0x40
)

func (a *softAuthenticator) authData(rpID string, flags byte, attested []byte) []byte {
	h := sha256.Sum256([]byte(rpID))
	var b bytes.Buffer
	b.Write(h[:])
	b.WriteByte(flags)
	_ = binary.Write(&b, binary.BigEndian, a.signCount)
	b.Write(attested)
	return b.Bytes()
}

func (a *softAuthenticator) clientData(typ, challenge string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": a.origin, "crossOrigin": false})
	return b
}

// coseKey is the credential public key as a COSE_Key (EC2, ES256, P-256).
func (a *softAuthenticator) coseKey() []byte {
	x := make([]byte, 32)
	y := make([]byte, 32)
	a.key.PublicKey.X.FillBytes(x)
	a.key.PublicKey.Y.FillBytes(y)
	em, err := cbor.CTAP2EncOptions().EncMode()
	if err != nil {
		a.t.Fatal(err)
	}
	b, err := em.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: x, -3: y})
	if err != nil {
		a.t.Fatal(err)
	}
	return b
}

// options decodes data.attributes.options of an answer: {publicKey: …}.
type waOptions struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RP        struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"rp"`
		RPID string `json:"rpId"`
		User struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"user"`
		AllowCredentials   []struct{ ID string } `json:"allowCredentials"`
		ExcludeCredentials []struct{ ID string } `json:"excludeCredentials"`
		UserVerification   string                `json:"userVerification"`
	} `json:"publicKey"`
}

func optionsOf(t testing.TB, r reply) waOptions {
	t.Helper()
	raw, _ := json.Marshal(r.get("data", "attributes", "options"))
	var o waOptions
	if err := json.Unmarshal(raw, &o); err != nil || o.PublicKey.Challenge == "" {
		t.Fatalf("no WebAuthn options in %s (%v)", r.Raw, err)
	}
	return o
}

// create answers creation options like navigator.credentials.create().
func (a *softAuthenticator) create(o waOptions) map[string]any {
	a.userID = a.unb64(o.PublicKey.User.ID)
	var att bytes.Buffer
	att.Write(a.aaguid)
	_ = binary.Write(&att, binary.BigEndian, uint16(len(a.credID)))
	att.Write(a.credID)
	att.Write(a.coseKey())
	authData := a.authData(o.PublicKey.RP.ID, flagUP|flagUV|flagAT, att.Bytes())
	attObj, err := cbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": authData})
	if err != nil {
		a.t.Fatal(err)
	}
	return map[string]any{
		"id": b64u.EncodeToString(a.credID), "rawId": b64u.EncodeToString(a.credID), "type": "public-key",
		"authenticatorAttachment": "platform", "clientExtensionResults": map[string]any{},
		"response": map[string]any{
			"clientDataJSON":    b64u.EncodeToString(a.clientData("webauthn.create", o.PublicKey.Challenge)),
			"attestationObject": b64u.EncodeToString(attObj),
			"transports":        []string{"internal"},
		},
	}
}

// get answers request options like navigator.credentials.get(); corrupt spoils the signature.
func (a *softAuthenticator) get(o waOptions, corrupt bool) map[string]any {
	a.signCount++
	authData := a.authData(o.PublicKey.RPID, flagUP|flagUV, nil)
	cdj := a.clientData("webauthn.get", o.PublicKey.Challenge)
	h := sha256.Sum256(cdj)
	digest := sha256.Sum256(append(append([]byte{}, authData...), h[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, a.key, digest[:])
	if err != nil {
		a.t.Fatal(err)
	}
	if corrupt {
		sig[len(sig)-1] ^= 0xff
	}
	return map[string]any{
		"id": b64u.EncodeToString(a.credID), "rawId": b64u.EncodeToString(a.credID), "type": "public-key",
		"authenticatorAttachment": "platform", "clientExtensionResults": map[string]any{},
		"response": map[string]any{
			"clientDataJSON":    b64u.EncodeToString(cdj),
			"authenticatorData": b64u.EncodeToString(authData),
			"signature":         b64u.EncodeToString(sig),
			"userHandle":        b64u.EncodeToString(a.userID),
		},
	}
}

const waPath = "/api/v1/user."

// registerPasskey adds a's credential to the logged-in account.
func (h *harness) registerPasskey(a *softAuthenticator, login, token string) {
	h.t.Helper()
	o := optionsOf(h.t, h.call("POST", waPath+"credentialMake", token, map[string]any{"user_login": login}).want(h.t, 200))
	h.call("POST", waPath+"credentialMake", token, map[string]any{"user_login": login, "credential": a.create(o)}).want(h.t, 200)
}

// passkeyLogin logs in with a and returns the answer of assertionVerify.
func (h *harness) passkeyLogin(a *softAuthenticator, login string, corrupt bool) reply {
	h.t.Helper()
	o := optionsOf(h.t, h.call("POST", waPath+"assertionGet", "", map[string]any{"user_login": login}).want(h.t, 200))
	return h.call("POST", waPath+"assertionVerify", "", map[string]any{"user_login": login, "credential": a.get(o, corrupt)})
}

func TestWebAuthnRegisterListLoginDelete(t *testing.T) {
	h := newHarness(t)
	tok := h.user("alice", false)
	origin := h.s.cfg.BaseURL() // http://localhost:18080
	a := newSoftAuthenticator(t, origin)

	// Anonymous, or for someone else's login: refused.
	h.call("POST", waPath+"credentialMake", "", map[string]any{"user_login": "alice"}).wantErr(t, 401, "log in")
	h.user("bob", false)
	h.call("POST", waPath+"credentialMake", tok, map[string]any{"user_login": "bob"}).wantErr(t, 403, "your own account")

	// Register: the options name the relying party and the user.
	r := h.call("POST", waPath+"credentialMake", tok, map[string]any{"user_login": "alice"}).want(t, 200)
	o := optionsOf(t, r)
	if o.PublicKey.RP.ID != "localhost" || o.PublicKey.User.Name != "alice" || len(a.unb64(o.PublicKey.User.ID)) != 32 {
		t.Fatalf("creation options: %s", r.Raw)
	}
	cred := a.create(o)
	r = h.call("POST", waPath+"credentialMake", tok, map[string]any{"user_login": "alice", "credential": cred}).want(t, 200)
	if r.str("meta", "status") != "registered" || r.str("data", "id") != b64u.EncodeToString(a.credID) {
		t.Fatalf("registration answer: %s", r.Raw)
	}
	// The same answer again: the ceremony is spent.
	h.call("POST", waPath+"credentialMake", tok, map[string]any{"user_login": "alice", "credential": cred}).wantErr(t, 400, "no pending registration")
	// Registering the same authenticator again: excluded in the options, refused if forced.
	o2 := optionsOf(t, h.call("POST", waPath+"credentialMake", tok, map[string]any{"user_login": "alice"}).want(t, 200))
	if len(o2.PublicKey.ExcludeCredentials) != 1 || o2.PublicKey.User.ID != o.PublicKey.User.ID {
		t.Fatalf("second creation options must exclude the first credential and keep the user handle: %+v", o2.PublicKey)
	}
	h.call("POST", waPath+"credentialMake", tok, map[string]any{"user_login": "alice", "credential": a.create(o2)}).wantErr(t, 409, "registered already")

	// List.
	r = h.call("POST", waPath+"credentialGet", tok, nil).want(t, 200)
	if n := len(r.get("data").([]any)); n != 1 || r.str("data", 0, "attributes", "credential_id") != b64u.EncodeToString(a.credID) ||
		r.str("data", 0, "attributes", "credential_transports", 0) != "internal" {
		t.Fatalf("credentialGet: %s", r.Raw)
	}

	// Log in without a password: answered like user.login.
	r = h.passkeyLogin(a, "alice", false).want(t, 200)
	ptok := r.str("data", "attributes", "token")
	if !strings.HasPrefix(ptok, "dh_") || r.str("included", 0, "type") != "user" || r.str("included", 0, "attributes", "user_login") != "alice" ||
		r.str("data", "attributes", "token_type") != loginTokenType(t, h) {
		t.Fatalf("assertionVerify answer: %s", r.Raw)
	}
	if got := h.call("POST", waPath+"get", ptok, nil).want(t, 200).str("data", "attributes", "user_login"); got != "alice" {
		t.Fatalf("user.get with the passkey token: %q", got)
	}

	// A replayed assertion: refused.
	o = optionsOf(t, h.call("POST", waPath+"assertionGet", "", map[string]any{"user_login": "alice"}).want(t, 200))
	if len(o.PublicKey.AllowCredentials) != 1 || o.PublicKey.UserVerification != "required" {
		t.Fatalf("request options: %+v", o.PublicKey)
	}
	assertion := a.get(o, false)
	h.call("POST", waPath+"assertionVerify", "", map[string]any{"user_login": "alice", "credential": assertion}).want(t, 200)
	h.call("POST", waPath+"assertionVerify", "", map[string]any{"user_login": "alice", "credential": assertion}).wantErr(t, 401, "used already")

	// A wrong signature: refused.
	h.passkeyLogin(a, "alice", true).wantErr(t, 401, "passkey login failed")

	// Another user's credential answering alice's challenge: refused.
	h.clock.Advance(time.Minute) // past the throttle's backoff
	btok := h.login("bob", testPassword)
	b := newSoftAuthenticator(t, origin)
	h.registerPasskey(b, "bob", btok)
	h.passkeyLogin(b, "alice", false).wantErr(t, 401, "not registered for this login")
	// …and an answer for bob's login that names alice: refused.
	o = optionsOf(t, h.call("POST", waPath+"assertionGet", "", map[string]any{"user_login": "bob"}).want(t, 200))
	h.call("POST", waPath+"assertionVerify", "", map[string]any{"user_login": "alice", "credential": b.get(o, false)}).want(t, 401)

	// The counter moved with every login.
	h.clock.Advance(time.Minute)
	r = h.call("POST", waPath+"credentialGet", tok, nil).want(t, 200)
	if r.get("data", 0, "attributes", "credential_sign_count").(float64) != float64(a.signCount-1) || r.str("data", 0, "attributes", "credential_last_used_at") == "" {
		t.Fatalf("sign count / last use not recorded (authenticator at %d): %s", a.signCount, r.Raw)
	}

	// Delete one by id, an unknown id, then all; no passkey login afterwards, with the same answer as an unknown login.
	h.call("POST", waPath+"credentialDelete", tok, map[string]any{"credential_id": "AAAA"}).wantErr(t, 404, "no credential")
	h.call("POST", waPath+"credentialDelete", btok, map[string]any{"credential_id": b64u.EncodeToString(a.credID)}).wantErr(t, 404, "no credential")
	r = h.call("POST", waPath+"credentialDelete", tok, nil).want(t, 200)
	if r.get("meta", "deleted").(float64) != 1 {
		t.Fatalf("credentialDelete: %s", r.Raw)
	}
	if n := len(h.call("POST", waPath+"credentialGet", tok, nil).want(t, 200).get("data").([]any)); n != 0 {
		t.Fatalf("%d credentials left", n)
	}
	gone := h.call("POST", waPath+"assertionGet", "", map[string]any{"user_login": "alice"}).want(t, 404)
	h.clock.Advance(time.Minute)
	unknown := h.call("POST", waPath+"assertionGet", "", map[string]any{"user_login": "nobody"}).want(t, 404)
	if gone.detail() != unknown.detail() {
		t.Fatalf("a login without passkeys (%q) is told apart from an unknown one (%q)", gone.detail(), unknown.detail())
	}
	h.clock.Advance(time.Minute)
	h.call("POST", waPath+"credentialDelete", btok, map[string]any{"credential_id": b64u.EncodeToString(b.credID)}).want(t, 200)
	h.call("POST", waPath+"assertionGet", "", map[string]any{"user_login": "bob"}).wantErr(t, 404, "no passkey")
}

// loginTokenType is the token type user.login answers, which assertionVerify must match.
func loginTokenType(t *testing.T, h *harness) string {
	t.Helper()
	r := h.call("POST", waPath+"login", "", map[string]any{"user_login": "alice", "user_password": testPassword}).want(t, 200)
	return r.str("data", "attributes", "token_type")
}

func TestWebAuthnCeremonyExpires(t *testing.T) {
	h := newHarness(t)
	tok := h.user("alice", false)
	a := newSoftAuthenticator(t, h.s.cfg.BaseURL())
	o := optionsOf(t, h.call("POST", waPath+"credentialMake", tok, map[string]any{"user_login": "alice"}).want(t, 200))
	h.clock.Advance(account.CeremonyTTL + time.Second)
	tok = h.login("alice", testPassword) // the first token is still valid; a fresh one keeps this simple
	h.call("POST", waPath+"credentialMake", tok, map[string]any{"user_login": "alice", "credential": a.create(o)}).wantErr(t, 400, "no pending registration")
	h.registerPasskey(a, "alice", tok)
	o = optionsOf(t, h.call("POST", waPath+"assertionGet", "", map[string]any{"user_login": "alice"}).want(t, 200))
	h.clock.Advance(account.CeremonyTTL + time.Second)
	h.call("POST", waPath+"assertionVerify", "", map[string]any{"user_login": "alice", "credential": a.get(o, false)}).wantErr(t, 401, "expired")
}

func TestWebAuthnRegisterNewAccount(t *testing.T) {
	h := newHarness(t)
	h.user("alice", false)
	a := newSoftAuthenticator(t, h.s.cfg.BaseURL())
	body := map[string]any{"user_login": "carol", "user_email": "carol@example.org", "user_register": true}

	// Taken login or address, bad address: refused before any ceremony.
	h.call("POST", waPath+"credentialMake", "", map[string]any{"user_login": "alice", "user_email": "x@example.org", "user_register": true}).wantErr(t, 409, "taken")
	h.call("POST", waPath+"credentialMake", "", map[string]any{"user_login": "carol", "user_email": "alice@example.org", "user_register": true}).wantErr(t, 409, "exists already")
	h.call("POST", waPath+"credentialMake", "", map[string]any{"user_login": "carol", "user_email": "nope", "user_register": true}).want(t, 400)

	users := h.countUsers()
	o := optionsOf(t, h.call("POST", waPath+"credentialMake", "", body).want(t, 200))
	// A forged answer (wrong origin) leaves nothing behind, and spends the ceremony.
	evil := newSoftAuthenticator(t, "http://evil.example")
	bad := map[string]any{"credential": evil.create(o)}
	for k, v := range body {
		bad[k] = v
	}
	h.call("POST", waPath+"credentialMake", "", bad).wantErr(t, 400, "does not verify")
	if h.countUsers() != users {
		t.Fatal("a refused registration created an account")
	}
	o = optionsOf(t, h.call("POST", waPath+"credentialMake", "", body).want(t, 200))
	// The answer must match the registration it answers.
	other := map[string]any{"user_login": "carol", "user_email": "other@example.org", "user_register": true, "credential": a.create(o)}
	h.call("POST", waPath+"credentialMake", "", other).wantErr(t, 400, "another registration")

	o = optionsOf(t, h.call("POST", waPath+"credentialMake", "", body).want(t, 200))
	ok := map[string]any{"credential": a.create(o)}
	for k, v := range body {
		ok[k] = v
	}
	r := h.call("POST", waPath+"credentialMake", "", ok).want(t, 200)
	if r.str("included", 0, "attributes", "user_login") != "carol" || r.str("meta", "status") != "registered" {
		t.Fatalf("registration answer: %s", r.Raw)
	}
	if h.countUsers() != users+1 {
		t.Fatal("no account created")
	}
	u, err := h.s.store.GetUserByLogin(context.Background(), "carol")
	if err != nil || u.PasswordHash != "" || u.Email != "carol@example.org" {
		t.Fatalf("new account %+v, %v", u, err)
	}
	// Passwordless: no password logs in, the passkey does.
	h.call("POST", waPath+"login", "", map[string]any{"user_login": "carol", "user_password": "correct horse battery staple"}).want(t, 401)
	ptok := h.passkeyLogin(a, "carol", false).want(t, 200).str("data", "attributes", "token")
	h.call("POST", waPath+"get", ptok, nil).want(t, 200)

	// A login taken between the two steps: 409 and no credential stored.
	o = optionsOf(t, h.call("POST", waPath+"credentialMake", "", map[string]any{"user_login": "dave", "user_email": "dave@example.org", "user_register": true}).want(t, 200))
	h.user("dave", false)
	d := newSoftAuthenticator(t, h.s.cfg.BaseURL())
	h.call("POST", waPath+"credentialMake", "", map[string]any{"user_login": "dave", "user_email": "dave@example.org", "user_register": true,
		"credential": d.create(o)}).wantErr(t, 409, "taken meanwhile")
	if _, err := h.s.store.GetCredentialByCredentialID(context.Background(), d.credID); err == nil {
		t.Fatal("a credential was stored for a registration that failed")
	}
}

func TestWebAuthnRegistrationDisabled(t *testing.T) {
	h := newHarness(t, func(c *config.Config, _ *Options) { c.Features.DisableUserRegistration = true })
	h.call("POST", waPath+"credentialMake", "", map[string]any{"user_login": "carol", "user_email": "carol@example.org", "user_register": true}).
		wantErr(t, 403, "registration is disabled")
	// Adding a passkey to one's own account still works.
	tok := h.user("alice", false)
	h.registerPasskey(newSoftAuthenticator(t, h.s.cfg.BaseURL()), "alice", tok)
}

func TestWebAuthnDisabled(t *testing.T) {
	h := newHarness(t, func(c *config.Config, _ *Options) { c.Features.WebAuthnEnabled = false })
	tok := h.user("alice", false)
	for _, call := range []struct {
		name string
		body map[string]any
	}{
		{"credentialMake", map[string]any{"user_login": "alice"}},
		{"credentialGet", map[string]any{}},
		{"credentialDelete", map[string]any{}},
		{"assertionGet", map[string]any{"user_login": "alice"}},
		{"assertionVerify", map[string]any{"user_login": "alice", "credential": map[string]any{}}},
	} {
		h.call("POST", waPath+call.name, tok, call.body).wantErr(t, 403, "WebAuthn is disabled on this server")
	}
}

func TestWebAuthnUnavailableOnIPAddress(t *testing.T) {
	h := newHarness(t, func(c *config.Config, _ *Options) { c.PublicURL = "http://192.0.2.1:8080" })
	h.call("POST", waPath+"assertionGet", "", map[string]any{"user_login": "alice"}).wantErr(t, 503, "host, not an IP address")
}

// Garbage where a credential belongs is a 4xx, never a 500.
func TestWebAuthnBadInput(t *testing.T) {
	h := newHarness(t)
	tok := h.user("alice", false)
	a := newSoftAuthenticator(t, h.s.cfg.BaseURL())
	h.registerPasskey(a, "alice", tok)
	bad := []any{
		"x", 1, []any{}, map[string]any{}, map[string]any{"id": "AAAA", "type": "public-key"},
		map[string]any{"id": "AAAA", "rawId": "AAAA", "type": "public-key", "response": map[string]any{"clientDataJSON": "e30", "attestationObject": "oA"}},
		map[string]any{"id": "AAAA", "rawId": "AAAA", "type": "public-key", "response": map[string]any{"clientDataJSON": "!!", "authenticatorData": "AA", "signature": "AA"}},
	}
	for i, cred := range bad {
		h.remote = "192.0.2.100:1" // keep the throttle out of it
		h.clock.Advance(time.Hour)
		for _, call := range []string{"credentialMake", "assertionVerify"} {
			r := h.call("POST", waPath+call, tok, map[string]any{"user_login": "alice", "credential": cred})
			if r.Status < 400 || r.Status >= 500 {
				t.Errorf("%s with bad credential #%d: %d %s", call, i, r.Status, r.Raw)
			}
		}
	}
	// An assertion where a registration belongs and the other way round.
	h.clock.Advance(time.Hour)
	tok = h.login("alice", testPassword)
	o := optionsOf(t, h.call("POST", waPath+"assertionGet", "", map[string]any{"user_login": "alice"}).want(t, 200))
	h.call("POST", waPath+"credentialMake", tok, map[string]any{"user_login": "alice", "credential": a.get(o, false)}).want(t, 400)
	o = optionsOf(t, h.call("POST", waPath+"credentialMake", tok, map[string]any{"user_login": "alice"}).want(t, 200))
	h.call("POST", waPath+"assertionVerify", "", map[string]any{"user_login": "alice", "credential": newSoftAuthenticator(t, a.origin).create(o)}).want(t, 400)
	// Missing credential on assertionVerify.
	h.call("POST", waPath+"assertionVerify", "", map[string]any{"user_login": "alice"}).wantErr(t, 400, "credential")
}

func TestWebAuthnThrottle(t *testing.T) {
	h := newHarness(t)
	tok := h.user("alice", false)
	a := newSoftAuthenticator(t, h.s.cfg.BaseURL())
	h.registerPasskey(a, "alice", tok)
	for range 4 {
		h.passkeyLogin(a, "alice", true).want(t, 401)
	}
	r := h.call("POST", waPath+"assertionVerify", "", map[string]any{"user_login": "alice", "credential": map[string]any{"id": "AAAA"}}).want(t, http.StatusTooManyRequests)
	if r.Header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
}

func TestPasskeyPage(t *testing.T) {
	s := newTestServer(t)
	_, rec := call(t, s.Handler(), "GET", "/passkey", "")
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") ||
		!strings.Contains(rec.Body.String(), "user.assertionVerify") || rec.Header().Get("Content-Security-Policy") == "" {
		t.Fatalf("GET /passkey: %d %s", rec.Code, rec.Header())
	}
}

// Host (ssh) accounts log in on their host: no passkeys for them.
func TestWebAuthnHostAccount(t *testing.T) {
	h := newHarness(t)
	u := store.User{Login: "hostuser", Email: "hostuser@example.org", Provider: store.ProviderSSH}
	if err := h.s.store.CreateUser(context.Background(), &u); err != nil {
		t.Fatal(err)
	}
	tok, _, err := h.s.auth.IssueToken(context.Background(), nil, u.ID, store.TokenUserLogin, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	h.call("POST", waPath+"credentialMake", tok, map[string]any{"user_login": "hostuser"}).wantErr(t, 409, "logs in on its host")
	h.call("POST", waPath+"assertionGet", "", map[string]any{"user_login": "hostuser"}).wantErr(t, 404, "no passkey")
}

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

	"github.com/deskhub/deskhub/api/jsonapi"
	"github.com/deskhub/deskhub/api/vmm"
	"github.com/deskhub/deskhub/client"
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
	b, _ := json.Marshal(struct {
		Type        string `json:"type"`
		Challenge   string `json:"challenge"`
		Origin      string `json:"origin"`
		CrossOrigin bool   `json:"crossOrigin"`
	}{typ, challenge, a.origin, false})
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

// optionsOf answers a decoder of the options ({publicKey: …}) of a ceremony's first answer, for
// optionsOf(t)(c.AssertionGet(…)).
func optionsOf(t testing.TB) func(jsonapi.One[vmm.WebAuthnOptionsAttributes], error) waOptions {
	return func(doc jsonapi.One[vmm.WebAuthnOptionsAttributes], err error) waOptions {
		t.Helper()
		must(t, err)
		var o waOptions
		if err := json.Unmarshal(doc.Data.Attributes.Options, &o); err != nil || o.PublicKey.Challenge == "" {
			t.Fatalf("no WebAuthn options in %+v (%v)", doc, err)
		}
		return o
	}
}

// waCredential is a PublicKeyCredential as a browser sends it (JSON of navigator.credentials.*).
type waCredential struct {
	ID                      string     `json:"id"`
	RawID                   string     `json:"rawId"`
	Type                    string     `json:"type"`
	AuthenticatorAttachment string     `json:"authenticatorAttachment"`
	ClientExtensionResults  struct{}   `json:"clientExtensionResults"`
	Response                waResponse `json:"response"`
}

type waResponse struct {
	ClientDataJSON    string   `json:"clientDataJSON"`
	AttestationObject string   `json:"attestationObject,omitempty"` // create
	Transports        []string `json:"transports,omitempty"`        // create
	AuthenticatorData string   `json:"authenticatorData,omitempty"` // get
	Signature         string   `json:"signature,omitempty"`         // get
	UserHandle        string   `json:"userHandle,omitempty"`        // get
}

func (a *softAuthenticator) credential(r waResponse) json.RawMessage {
	b, err := json.Marshal(waCredential{ID: b64u.EncodeToString(a.credID), RawID: b64u.EncodeToString(a.credID),
		Type: "public-key", AuthenticatorAttachment: "platform", Response: r})
	if err != nil {
		a.t.Fatal(err)
	}
	return b
}

// create answers creation options like navigator.credentials.create().
func (a *softAuthenticator) create(o waOptions) json.RawMessage {
	a.userID = a.unb64(o.PublicKey.User.ID)
	var att bytes.Buffer
	att.Write(a.aaguid)
	_ = binary.Write(&att, binary.BigEndian, uint16(len(a.credID)))
	att.Write(a.credID)
	att.Write(a.coseKey())
	authData := a.authData(o.PublicKey.RP.ID, flagUP|flagUV|flagAT, att.Bytes())
	// The attestation object is CBOR, not an API body: a map is its natural shape.
	attObj, err := cbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": authData})
	if err != nil {
		a.t.Fatal(err)
	}
	return a.credential(waResponse{
		ClientDataJSON:    b64u.EncodeToString(a.clientData("webauthn.create", o.PublicKey.Challenge)),
		AttestationObject: b64u.EncodeToString(attObj),
		Transports:        []string{"internal"},
	})
}

// get answers request options like navigator.credentials.get(); corrupt spoils the signature.
func (a *softAuthenticator) get(o waOptions, corrupt bool) json.RawMessage {
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
	return a.credential(waResponse{
		ClientDataJSON:    b64u.EncodeToString(cdj),
		AuthenticatorData: b64u.EncodeToString(authData),
		Signature:         b64u.EncodeToString(sig),
		UserHandle:        b64u.EncodeToString(a.userID),
	})
}

// makeOptions starts a registration of a credential for login (user.credentialMake without one).
func makeOptions(t testing.TB, c *client.Client, login string) waOptions {
	t.Helper()
	return optionsOf(t)(c.CredentialMake(context.Background(), vmm.UserCredentialMakeRequest{UserLogin: login}))
}

// makeCredential finishes a registration (user.credentialMake with the credential).
func makeCredential(c *client.Client, login string, cred json.RawMessage) (jsonapi.One[vmm.WebAuthnOptionsAttributes], error) {
	return c.CredentialMake(context.Background(), vmm.UserCredentialMakeRequest{UserLogin: login, Credential: cred})
}

// assertionOptions starts a passkey login (user.assertionGet).
func assertionOptions(t testing.TB, c *client.Client, login string) waOptions {
	t.Helper()
	return optionsOf(t)(c.AssertionGet(context.Background(), login))
}

// verify finishes a passkey login (user.assertionVerify).
func verify(c *client.Client, login string, cred json.RawMessage) (jsonapi.One[vmm.TokenAttributes], error) {
	return c.AssertionVerify(context.Background(), vmm.UserAssertionVerifyRequest{UserLogin: login, Credential: cred})
}

// registerPasskey adds a's credential to the logged-in account.
func (h *harness) registerPasskey(a *softAuthenticator, login, token string) {
	h.t.Helper()
	c := h.client(token)
	_, err := makeCredential(c, login, a.create(makeOptions(h.t, c, login)))
	must(h.t, err)
}

// passkeyLogin logs in with a and returns the answer of assertionVerify.
func (h *harness) passkeyLogin(a *softAuthenticator, login string, corrupt bool) (jsonapi.One[vmm.TokenAttributes], error) {
	h.t.Helper()
	anon := h.client("")
	return verify(anon, login, a.get(assertionOptions(h.t, anon, login), corrupt))
}

func TestWebAuthnRegisterListLoginDelete(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	tok := h.user("alice", false)
	c := h.client(tok)
	anon := h.client("")
	origin := h.s.cfg.BaseURL() // http://localhost:18080
	a := newSoftAuthenticator(t, origin)

	// Anonymous, or for someone else's login: refused.
	_, err := anon.CredentialMake(ctx, vmm.UserCredentialMakeRequest{UserLogin: "alice"})
	wantErr(t, err, 401, "log in")
	h.user("bob", false)
	_, err = c.CredentialMake(ctx, vmm.UserCredentialMakeRequest{UserLogin: "bob"})
	wantErr(t, err, 403, "your own account")

	// Register: the options name the relying party and the user.
	o := makeOptions(t, c, "alice")
	if o.PublicKey.RP.ID != "localhost" || o.PublicKey.User.Name != "alice" || len(a.unb64(o.PublicKey.User.ID)) != 32 {
		t.Fatalf("creation options: %+v", o.PublicKey)
	}
	cred := a.create(o)
	doc, err := makeCredential(c, "alice", cred)
	must(t, err)
	if doc.Meta["status"] != "registered" || doc.Data.ID != b64u.EncodeToString(a.credID) {
		t.Fatalf("registration answer: %+v", doc)
	}
	// The same answer again: the ceremony is spent.
	_, err = makeCredential(c, "alice", cred)
	wantErr(t, err, 400, "no pending registration")
	// Registering the same authenticator again: excluded in the options, refused if forced.
	o2 := makeOptions(t, c, "alice")
	if len(o2.PublicKey.ExcludeCredentials) != 1 || o2.PublicKey.User.ID != o.PublicKey.User.ID {
		t.Fatalf("second creation options must exclude the first credential and keep the user handle: %+v", o2.PublicKey)
	}
	_, err = makeCredential(c, "alice", a.create(o2))
	wantErr(t, err, 409, "registered already")

	// List.
	list, err := c.ListCredentials(ctx)
	must(t, err)
	if len(list.Data) != 1 || list.Data[0].Attributes.CredentialID != b64u.EncodeToString(a.credID) ||
		len(list.Data[0].Attributes.CredentialTransports) == 0 || list.Data[0].Attributes.CredentialTransports[0] != "internal" {
		t.Fatalf("credentialGet: %+v", list)
	}

	// Log in without a password: answered like user.login.
	login, err := h.passkeyLogin(a, "alice", false)
	must(t, err)
	ptok := login.Data.Attributes.Token
	users, err := client.Included[vmm.UserAttributes](login.Included, vmm.TypeUser)
	if err != nil || !strings.HasPrefix(ptok, "dh_") || len(users) != 1 || users[0].Attributes.UserLogin != "alice" ||
		login.Data.Attributes.TokenType != loginTokenType(t, h) {
		t.Fatalf("assertionVerify answer: %+v (%v)", login, err)
	}
	if me, err := h.client(ptok).User(ctx); err != nil || me.Data.Attributes.UserLogin != "alice" {
		t.Fatalf("user.get with the passkey token: %+v, %v", me, err)
	}

	// A replayed assertion: refused.
	o = assertionOptions(t, anon, "alice")
	if len(o.PublicKey.AllowCredentials) != 1 || o.PublicKey.UserVerification != "required" {
		t.Fatalf("request options: %+v", o.PublicKey)
	}
	assertion := a.get(o, false)
	_, err = verify(h.client(""), "alice", assertion)
	must(t, err)
	_, err = verify(h.client(""), "alice", assertion)
	wantErr(t, err, 401, "used already")

	// A wrong signature: refused.
	_, err = h.passkeyLogin(a, "alice", true)
	wantErr(t, err, 401, "passkey login failed")

	// Another user's credential answering alice's challenge: refused.
	h.clock.Advance(time.Minute) // past the throttle's backoff
	btok := h.login("bob", testPassword)
	b := newSoftAuthenticator(t, origin)
	h.registerPasskey(b, "bob", btok)
	_, err = h.passkeyLogin(b, "alice", false)
	wantErr(t, err, 401, "not registered for this login")
	// …and an answer for bob's login that names alice: refused.
	o = assertionOptions(t, anon, "bob")
	_, err = verify(anon, "alice", b.get(o, false))
	wantErr(t, err, 401, "")

	// The counter moved with every login.
	h.clock.Advance(time.Minute)
	list, err = c.ListCredentials(ctx)
	must(t, err)
	if at := list.Data[0].Attributes; at.CredentialSignCount != a.signCount-1 || at.CredentialLastUsedAt == nil {
		t.Fatalf("sign count / last use not recorded (authenticator at %d): %+v", a.signCount, at)
	}

	// Delete one by id, an unknown id, then all; no passkey login afterwards, with the same answer as an unknown login.
	bc := h.client(btok)
	_, err = c.DeleteCredentials(ctx, "AAAA")
	wantErr(t, err, 404, "no credential")
	_, err = bc.DeleteCredentials(ctx, b64u.EncodeToString(a.credID))
	wantErr(t, err, 404, "no credential")
	del, err := c.DeleteCredentials(ctx, "")
	must(t, err)
	if del.Meta["deleted"] != float64(1) {
		t.Fatalf("credentialDelete: %+v", del)
	}
	if list, err := c.ListCredentials(ctx); err != nil || len(list.Data) != 0 {
		t.Fatalf("%d credentials left (%v)", len(list.Data), err)
	}
	_, err = anon.AssertionGet(ctx, "alice")
	gone := wantErr(t, err, 404, "")
	h.clock.Advance(time.Minute)
	_, err = anon.AssertionGet(ctx, "nobody")
	if unknown := wantErr(t, err, 404, ""); gone.Message != unknown.Message {
		t.Fatalf("a login without passkeys (%q) is told apart from an unknown one (%q)", gone.Message, unknown.Message)
	}
	h.clock.Advance(time.Minute)
	_, err = bc.DeleteCredentials(ctx, b64u.EncodeToString(b.credID))
	must(t, err)
	_, err = anon.AssertionGet(ctx, "bob")
	wantErr(t, err, 404, "no passkey")
}

// loginTokenType is the token type user.login answers, which assertionVerify must match.
func loginTokenType(t *testing.T, h *harness) string {
	t.Helper()
	doc, _ := h.loginAnswer("alice", testPassword)
	return doc.Data.Attributes.TokenType
}

func TestWebAuthnCeremonyExpires(t *testing.T) {
	h := newHarness(t)
	c := h.client(h.user("alice", false))
	a := newSoftAuthenticator(t, h.s.cfg.BaseURL())
	o := makeOptions(t, c, "alice")
	h.clock.Advance(account.CeremonyTTL + time.Second)
	tok := h.login("alice", testPassword) // the first token is still valid; a fresh one keeps this simple
	_, err := makeCredential(h.client(tok), "alice", a.create(o))
	wantErr(t, err, 400, "no pending registration")
	h.registerPasskey(a, "alice", tok)
	anon := h.client("")
	o = assertionOptions(t, anon, "alice")
	h.clock.Advance(account.CeremonyTTL + time.Second)
	_, err = verify(anon, "alice", a.get(o, false))
	wantErr(t, err, 401, "expired")
}

func TestWebAuthnRegisterNewAccount(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.user("alice", false)
	anon := h.client("")
	a := newSoftAuthenticator(t, h.s.cfg.BaseURL())
	// reg is the request of a passwordless registration of login with address email.
	reg := func(login, email string, cred json.RawMessage) vmm.UserCredentialMakeRequest {
		return vmm.UserCredentialMakeRequest{UserLogin: login, UserEmail: email, UserRegister: true, Credential: cred}
	}
	start := func(login, email string) waOptions {
		t.Helper()
		return optionsOf(t)(anon.CredentialMake(ctx, reg(login, email, nil)))
	}

	// Taken login or address, bad address: refused before any ceremony.
	_, err := anon.CredentialMake(ctx, reg("alice", "x@example.org", nil))
	wantErr(t, err, 409, "taken")
	_, err = anon.CredentialMake(ctx, reg("carol", "alice@example.org", nil))
	wantErr(t, err, 409, "exists already")
	_, err = anon.CredentialMake(ctx, reg("carol", "nope", nil))
	wantErr(t, err, 400, "")

	users := h.countUsers()
	o := start("carol", "carol@example.org")
	// A forged answer (wrong origin) leaves nothing behind, and spends the ceremony.
	evil := newSoftAuthenticator(t, "http://evil.example")
	_, err = anon.CredentialMake(ctx, reg("carol", "carol@example.org", evil.create(o)))
	wantErr(t, err, 400, "does not verify")
	if h.countUsers() != users {
		t.Fatal("a refused registration created an account")
	}
	o = start("carol", "carol@example.org")
	// The answer must match the registration it answers.
	_, err = anon.CredentialMake(ctx, reg("carol", "other@example.org", a.create(o)))
	wantErr(t, err, 400, "another registration")

	o = start("carol", "carol@example.org")
	doc, err := anon.CredentialMake(ctx, reg("carol", "carol@example.org", a.create(o)))
	must(t, err)
	created, err := client.Included[vmm.UserAttributes](doc.Included, vmm.TypeUser)
	if err != nil || len(created) != 1 || created[0].Attributes.UserLogin != "carol" || doc.Meta["status"] != "registered" {
		t.Fatalf("registration answer: %+v (%v)", doc, err)
	}
	if h.countUsers() != users+1 {
		t.Fatal("no account created")
	}
	u, err := h.s.store.GetUserByLogin(context.Background(), "carol")
	if err != nil || u.PasswordHash != "" || u.Email != "carol@example.org" {
		t.Fatalf("new account %+v, %v", u, err)
	}
	// Passwordless: no password logs in, the passkey does.
	_, err = anon.UserLogin(ctx, "carol", "correct horse battery staple")
	wantErr(t, err, 401, "")
	login, err := h.passkeyLogin(a, "carol", false)
	must(t, err)
	_, err = h.client(login.Data.Attributes.Token).User(ctx)
	must(t, err)

	// A login taken between the two steps: 409 and no credential stored.
	o = start("dave", "dave@example.org")
	h.user("dave", false)
	d := newSoftAuthenticator(t, h.s.cfg.BaseURL())
	_, err = anon.CredentialMake(ctx, reg("dave", "dave@example.org", d.create(o)))
	wantErr(t, err, 409, "taken meanwhile")
	if _, err := h.s.store.GetCredentialByCredentialID(context.Background(), d.credID); err == nil {
		t.Fatal("a credential was stored for a registration that failed")
	}
}

func TestWebAuthnRegistrationDisabled(t *testing.T) {
	h := newHarness(t, func(c *config.Config, _ *Options) { c.Features.DisableUserRegistration = true })
	_, err := h.client("").CredentialMake(context.Background(), vmm.UserCredentialMakeRequest{UserLogin: "carol",
		UserEmail: "carol@example.org", UserRegister: true})
	wantErr(t, err, 403, "registration is disabled")
	// Adding a passkey to one's own account still works.
	tok := h.user("alice", false)
	h.registerPasskey(newSoftAuthenticator(t, h.s.cfg.BaseURL()), "alice", tok)
}

func TestWebAuthnDisabled(t *testing.T) {
	h := newHarness(t, func(c *config.Config, _ *Options) { c.Features.WebAuthnEnabled = false })
	ctx := context.Background()
	c := h.client(h.user("alice", false))
	ignore := func(_ any, err error) error { return err }
	for name, err := range map[string]error{
		"credentialMake":   ignore(c.CredentialMake(ctx, vmm.UserCredentialMakeRequest{UserLogin: "alice"})),
		"credentialGet":    ignore(c.ListCredentials(ctx)),
		"credentialDelete": ignore(c.DeleteCredentials(ctx, "")),
		"assertionGet":     ignore(c.AssertionGet(ctx, "alice")),
		"assertionVerify":  ignore(verify(c, "alice", json.RawMessage(`{}`))),
	} {
		if client.StatusCode(err) != 403 || !strings.Contains(err.Error(), "WebAuthn is disabled on this server") {
			t.Errorf("%s: %v (%d), want 403 WebAuthn is disabled", name, err, client.StatusCode(err))
		}
	}
}

func TestWebAuthnUnavailableOnIPAddress(t *testing.T) {
	h := newHarness(t, func(c *config.Config, _ *Options) { c.PublicURL = "http://192.0.2.1:8080" })
	_, err := h.client("").AssertionGet(context.Background(), "alice")
	wantErr(t, err, 503, "host, not an IP address")
}

// Garbage where a credential belongs is a 4xx, never a 500. The credential member is raw JSON in the
// SDK's requests, so the garbage travels through it as it is.
func TestWebAuthnBadInput(t *testing.T) {
	h := newHarness(t)
	tok := h.user("alice", false)
	c := h.client(tok)
	a := newSoftAuthenticator(t, h.s.cfg.BaseURL())
	h.registerPasskey(a, "alice", tok)
	bad := []string{
		`"x"`, `1`, `[]`, `{}`, `{"id":"AAAA","type":"public-key"}`,
		`{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{"clientDataJSON":"e30","attestationObject":"oA"}}`,
		`{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{"clientDataJSON":"!!","authenticatorData":"AA","signature":"AA"}}`,
	}
	for i, cred := range bad {
		h.remote = "192.0.2.100:1" // keep the throttle out of it
		h.clock.Advance(time.Hour)
		_, errMake := makeCredential(c, "alice", json.RawMessage(cred))
		_, errVerify := verify(c, "alice", json.RawMessage(cred))
		for call, err := range map[string]error{"credentialMake": errMake, "assertionVerify": errVerify} {
			if s := client.StatusCode(err); s < 400 || s >= 500 {
				t.Errorf("%s with bad credential #%d: %d %v", call, i, s, err)
			}
		}
	}
	// An assertion where a registration belongs and the other way round.
	h.clock.Advance(time.Hour)
	c = h.client(h.login("alice", testPassword))
	anon := h.client("")
	o := assertionOptions(t, anon, "alice")
	_, err := makeCredential(c, "alice", a.get(o, false))
	wantErr(t, err, 400, "")
	o = makeOptions(t, c, "alice")
	_, err = verify(anon, "alice", newSoftAuthenticator(t, a.origin).create(o))
	wantErr(t, err, 400, "")
	// Missing credential on assertionVerify.
	_, err = verify(anon, "alice", nil)
	wantErr(t, err, 400, "credential")
}

func TestWebAuthnThrottle(t *testing.T) {
	h := newHarness(t)
	tok := h.user("alice", false)
	a := newSoftAuthenticator(t, h.s.cfg.BaseURL())
	h.registerPasskey(a, "alice", tok)
	for range 4 {
		_, err := h.passkeyLogin(a, "alice", true)
		wantErr(t, err, 401, "")
	}
	_, err := verify(h.client(""), "alice", json.RawMessage(`{"id":"AAAA"}`))
	if e := wantErr(t, err, http.StatusTooManyRequests, ""); e.RetryAfter <= 0 {
		t.Fatalf("no Retry-After: %+v", e)
	}
}

// TestWebAuthnDiscoverable: with user_login "" the login needs no name: the options name no credential,
// the passkey the authenticator picks names the account, and a passkey deskhub does not know is refused.
func TestWebAuthnDiscoverable(t *testing.T) {
	h := newHarness(t)
	tok := h.user("alice", false)
	a := newSoftAuthenticator(t, h.s.cfg.BaseURL())
	h.registerPasskey(a, "alice", tok)
	anon := h.client("")
	o := assertionOptions(t, anon, "")
	if len(o.PublicKey.AllowCredentials) != 0 {
		t.Errorf("discoverable options name credentials: %+v", o.PublicKey.AllowCredentials)
	}
	in, err := verify(anon, "", a.get(o, false))
	must(t, err)
	me, err := h.client(in.Data.Attributes.Token).User(context.Background())
	if err != nil || me.Data.Attributes.UserLogin != "alice" {
		t.Fatalf("user.get with the discoverable login's token: %+v, %v", me, err)
	}
	stranger := newSoftAuthenticator(t, h.s.cfg.BaseURL())
	stranger.userID = []byte("nobody")
	_, err = verify(anon, "", stranger.get(assertionOptions(t, anon, ""), false))
	wantErr(t, err, 401, "not registered")
}

// TestAppPages: / is the web app's page (strict CSP: no inline script or style), its assets are under
// /app/ with a content ETag, and the old pages' URLs redirect into the app.
func TestAppPages(t *testing.T) {
	s := newTestServer(t)
	_, rec := call(t, s.Handler(), "GET", "/", "")
	csp := rec.Header().Get("Content-Security-Policy")
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") || !strings.Contains(rec.Body.String(), "/app/app.js") ||
		!strings.Contains(csp, "script-src 'self';") || strings.Contains(csp, "unsafe-inline") {
		t.Fatalf("GET /: %d %s\n%s", rec.Code, rec.Header(), rec.Body)
	}
	for _, p := range []string{"/app/app.js", "/app/app.css", "/static/novnc/core/rfb.js"} {
		_, rec := call(t, s.Handler(), "GET", p, "")
		if rec.Code != 200 || rec.Header().Get("ETag") == "" || rec.Body.Len() < 1000 {
			t.Errorf("GET %s: %d, ETag %q, %d bytes", p, rec.Code, rec.Header().Get("ETag"), rec.Body.Len())
		}
	}
	if _, rec := call(t, s.Handler(), "GET", "/app/index.html", ""); rec.Code != 404 {
		t.Errorf("GET /app/index.html: %d, want 404 (the page is served at /)", rec.Code)
	}
	for from, to := range map[string]string{"/passkey": "/#/account", "/infra": "/#/admin/servers"} {
		_, rec := call(t, s.Handler(), "GET", from, "")
		if rec.Code != http.StatusFound || rec.Header().Get("Location") != to {
			t.Errorf("GET %s: %d to %q, want 302 to %q", from, rec.Code, rec.Header().Get("Location"), to)
		}
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
	_, err = h.client(tok).CredentialMake(context.Background(), vmm.UserCredentialMakeRequest{UserLogin: "hostuser"})
	wantErr(t, err, 409, "logs in on its host")
	_, err = h.client("").AssertionGet(context.Background(), "hostuser")
	wantErr(t, err, 404, "no passkey")
}

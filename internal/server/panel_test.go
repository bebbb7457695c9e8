package server

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lxc/incus/v6/shared/api"
)

// Replays of ui-vmm's panel (ui-vmm/ui-panel 0.2.2, published as the ui-vmm/demo build), written from
// its sources: every call it makes, with the body its code builds (src/mixin/*.js, the forms of
// src/components), sent as its transport sends it (src/mixin/send-data.js: axios POST to
// /api/v1/<endpoint>, Content-Type application/vnd.api+json, Authorization: Bearer <token>), and the
// answer parsed as its parser does (_dataResponse, ported below), then every member the panel reads
// from the result checked. Each call also goes through the validating harness: /openapi.json and
// contract/contract.json.

// panel is ui-vmm's panel talking to the harness's server.
type panel struct {
	t     testing.TB
	h     *harness
	token string // localStorage.token
}

func newPanel(t testing.TB, h *harness) *panel { return &panel{t: t, h: h} }

// send is SendData(endpoint, data, handleResponse): the panel's transport, then its parser. A non-2xx
// answer fails the test (the panel would show the error instead of going on).
func (p *panel) send(endpoint, body string) pobj {
	p.t.Helper()
	st, parsed, raw := p.try(endpoint, body)
	if st/100 != 2 {
		p.t.Fatalf("panel: %s %s: %d %s", endpoint, body, st, raw)
	}
	return parsed
}

// try is send, answering the status and the raw answer too; a failed answer's parse is nil.
func (p *panel) try(endpoint, body string) (int, pobj, string) {
	p.t.Helper()
	headers := []string{"Content-Type", "application/vnd.api+json", "Accept", "application/json, text/plain, */*"}
	r := p.h.call("POST", "/api/v1/"+endpoint, p.token, body, headers...)
	if r.Status/100 != 2 {
		// _dataError: the panel lists errors[].detail.
		if _, ok := r.Body["errors"].([]any); !ok {
			p.t.Fatalf("panel: %s: a %d answer without errors: %s", endpoint, r.Status, r.Raw)
		}
		return r.Status, nil, r.Raw
	}
	var doc any
	dec := json.NewDecoder(strings.NewReader(r.Raw))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		p.t.Fatalf("panel: %s: %v", endpoint, err)
	}
	return r.Status, panelParse(p.t, endpoint, doc), r.Raw
}

// pobj is a JavaScript object as the panel's parser builds it.
type pobj = map[string]any

// jsKey is the property key JavaScript makes of a value (data[type][id]).
func jsKey(v any) string {
	switch x := v.(type) {
	case json.Number:
		return x.String()
	case string:
		return x
	case nil:
		return "undefined"
	}
	return fmt.Sprint(v)
}

// truthy is JavaScript's truth of a decoded JSON value.
func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return x != ""
	case json.Number:
		f, _ := x.Float64()
		return f != 0 && !math.IsNaN(f)
	}
	return true
}

// panelParse is _dataResponse of src/mixin/send-data.js in Go: it fails the test where the panel's
// JavaScript would throw (a TypeError reading a property of undefined or null, calling forEach on
// what is not an array), and answers the object the panel's callbacks get.
func panelParse(t testing.TB, endpoint string, response any) pobj {
	t.Helper()
	throw := func(format string, a ...any) {
		t.Helper()
		t.Fatalf("panel: %s: the parser throws: "+format, append([]any{endpoint}, a...)...)
	}
	doc, ok := response.(map[string]any)
	if !ok {
		throw("the answer is not an object")
	}
	data := pobj{}
	if doc["errors"] != nil {
		return doc
	}
	if inc, ok := doc["included"].([]any); ok && len(inc) > 0 {
		for _, x := range inc {
			in, ok := x.(map[string]any)
			if !ok {
				throw("included holds %v", x)
			}
			if in["errors"] != nil {
				continue
			}
			typ := jsKey(in["type"])
			attrs, ok := in["attributes"].(map[string]any)
			if !ok { // include.attributes.id = include.id
				throw("included %s has no attributes", typ)
			}
			if data[typ] == nil {
				data[typ] = pobj{}
			}
			attrs["id"] = in["id"]
			data[typ].(pobj)[jsKey(in["id"])] = attrs
		}
	}
	switch d := doc["data"].(type) {
	case nil: // response.data.length of undefined or null
		throw("no data (meta alone is not enough): %v", doc)
	case string:
		throw("data is a string")
	case []any:
		for _, x := range d {
			line, ok := x.(map[string]any)
			if !ok {
				throw("data holds %v", x)
			}
			typ := jsKey(line["type"])
			attrs, ok := line["attributes"].(map[string]any)
			if !ok {
				throw("data item of type %s has no attributes", typ)
			}
			id := line["id"]
			if !truthy(id) {
				id = attrs[typ+"_id"]
			}
			attrs["id"] = id
			if data[typ] == nil {
				data[typ] = pobj{}
			}
			data[typ].(pobj)[jsKey(id)] = attrs
			if rels, ok := line["relationships"].(map[string]any); ok {
				for key, r := range rels {
					rel, ok := r.(map[string]any)
					if !ok {
						throw("relationship %s is %v", key, r)
					}
					rd, ok := rel["data"].(map[string]any)
					if !ok { // relation.data.type of an array or of null
						throw("relationship %s of a list item is not to-one: %v", key, rel["data"])
					}
					byType, ok := data[jsKey(rd["type"])].(pobj)
					if !ok { // data[relation.data.type][relation.data.id]
						throw("relationship %s names %v, which included does not hold", key, rd)
					}
					attrs[key] = byType[jsKey(rd["id"])]
				}
			}
		}
	case map[string]any:
		if _, ok := d["length"]; ok {
			throw("data has a length member")
		}
		attrs, _ := d["attributes"].(map[string]any)
		if truthy(d["id"]) {
			if attrs == nil {
				attrs = map[string]any{}
			}
			attrs["id"] = d["id"]
		}
		for k, v := range attrs {
			data[k] = v
		}
	}
	return data
}

// need fails unless the object has the members, each of the JavaScript type named ("string",
// "number", "boolean", "object", "array"; "any" for any value but undefined).
func need(t testing.TB, what string, o pobj, members ...string) {
	t.Helper()
	for _, m := range members {
		name, want, _ := strings.Cut(m, ":")
		v, ok := o[name]
		if !ok {
			t.Fatalf("%s: the panel reads %s, which is missing: %v", what, name, o)
		}
		got := "object"
		switch v.(type) {
		case string:
			got = "string"
		case json.Number:
			got = "number"
		case bool:
			got = "boolean"
		case []any:
			got = "array"
		case nil:
			got = "null"
		}
		if want != "" && want != "any" && want != got {
			t.Fatalf("%s: the panel reads %s as %s, it is %s (%v)", what, name, want, got, v)
		}
	}
}

// list is response[type] as the panel walks it (Object.keys(response.server).forEach…).
func list(t testing.TB, o pobj, typ string) []pobj {
	t.Helper()
	m, _ := o[typ].(pobj)
	out := make([]pobj, 0, len(m))
	for _, v := range m {
		out = append(out, v.(pobj))
	}
	return out
}

func num(v any) float64 {
	n, _ := v.(json.Number)
	f, _ := n.Float64()
	return f
}

// mailedCode is the last code mailed to addr.
func (h *harness) mailedCode(t testing.TB, addr string) string {
	t.Helper()
	return h.mail.Code(t, addr)
}

// TestPanelAccounts replays the panel's account pages: config, registration with the mailed code,
// login, the user, recovery with the mailed code, e-mail and password change (with the password
// lock), API tokens, SSH keys, logout.
func TestPanelAccounts(t *testing.T) {
	h := newHarness(t)
	p := newPanel(t, h)

	// index.js: initialize() → config.get {}; every attribute goes into the store.
	cfg := p.send("config.get", `{}`)
	need(t, "config.get", cfg, "disable_user_recovery:boolean", "disable_user_registration:boolean", "disable_server_add:boolean",
		"disable_ssh_key_add:boolean", "stream:string", "webauth_enabled:boolean", "simplestream_enabled:boolean")

	// auth/register.vue: data.main, then data.code ({user_code} alone).
	p.send("user.register", `{"user_login":"panel","user_email":"panel@example.org","user_password":"panel-password-1","user_passwordRepeat":"panel-password-1"}`)
	p.send("user.register", `{"user_code":"`+h.mailedCode(t, "panel@example.org")+`"}`)

	// auth/login.vue: user.login this.data; assertionVerified reads response.token and
	// response.user[response.id].
	login := p.send("user.login", `{"user_login":"panel","user_password":"panel-password-1"}`)
	need(t, "user.login", login, "token:string", "id:number", "user:object")
	me, ok := login["user"].(pobj)[jsKey(login["id"])].(pobj)
	if !ok {
		t.Fatalf("user.login: response.user[response.id] is undefined: %v", login)
	}
	need(t, "user.login user", me, "login:string", "email:string", "group:number", "password_locked:boolean", "id:number")
	p.token = login["token"].(string)

	// home.vue: user.get {} into the store; the header shows user.login and user.photo; instance
	// creation is open to group < 3 or to the server's owner (user.id === server's user_id).
	user := p.send("user.get", `{}`)
	need(t, "user.get", user, "login:string", "email:string", "group:number", "password_locked:boolean", "photo:string", "id:number")
	if user["login"] != "panel" || user["email"] != "panel@example.org" || num(user["group"]) != 4 || num(user["id"]) != num(me["id"]) {
		t.Fatalf("user.get: %v", user)
	}

	// settings/change-email.vue: {user_email, user_code: ""} mails a code, then with the code.
	p.send("user.emailChange", `{"user_email":"panel2@example.org","user_code":""}`)
	p.send("user.emailChange", `{"user_email":"panel2@example.org","user_code":"`+h.mailedCode(t, "panel2@example.org")+`"}`)
	if u := p.send("user.get", `{}`); u["email"] != "panel2@example.org" {
		t.Fatalf("e-mail after the change: %v", u)
	}

	// settings/change-password.vue: the lock ({user_password_locked, user_code: ""}, then the code),
	// and the change (data.main).
	p.send("user.passwordLock", `{"user_password_locked":true,"user_code":""}`)
	locked := p.send("user.passwordLock", `{"user_password_locked":true,"user_code":"`+h.mailedCode(t, "panel2@example.org")+`"}`)
	need(t, "user.passwordLock", locked, "password_locked:boolean")
	if locked["password_locked"] != true {
		t.Fatalf("user.passwordLock: %v", locked)
	}
	if st, _, _ := p.try("user.passwordChange", `{"user_password":"panel-password-2","user_passwordRepeat":"panel-password-2"}`); st != 403 {
		t.Fatalf("a locked password changed: %d", st)
	}
	p.send("user.passwordLock", `{"user_password_locked":false,"user_code":""}`)
	p.send("user.passwordLock", `{"user_password_locked":false,"user_code":"`+h.mailedCode(t, "panel2@example.org")+`"}`)
	p.send("user.passwordChange", `{"user_password":"panel-password-2","user_passwordRepeat":"panel-password-2"}`)

	// settings/api-tokens.vue: token.create this.data ({token_revoke_all, token_lifetime}) reads
	// response.token; token.get {} lists token_type, token_name, token_time_start, token_time_expire,
	// token_state (0: revoked, with revoke_time); token.revoke {token_name}.
	created := p.send("token.create", `{"token_revoke_all":false,"token_lifetime":3600}`)
	need(t, "token.create", created, "token:string")
	toks := list(t, p.send("token.get", `{}`), "token")
	if len(toks) != 2 {
		t.Fatalf("token.get: %d tokens, want the login and the new one", len(toks))
	}
	var apiName string
	for _, tk := range toks {
		need(t, "token.get", tk, "token_type:string", "token_name:string", "token_time_start:number", "token_time_expire:number",
			"token_state:number", "revoke_time:number", "user:object")
		if tk["token_type"] == "system.api" {
			apiName = tk["token_name"].(string)
		}
		if num(tk["token_state"]) != 1 || num(tk["token_time_expire"]) <= num(tk["token_time_start"]) {
			t.Fatalf("token.get: %v", tk)
		}
	}
	p.send("token.revoke", `{"token_name":"`+apiName+`"}`)
	for _, tk := range list(t, p.send("token.get", `{}`), "token") {
		if tk["token_name"] == apiName && (num(tk["token_state"]) != 0 || num(tk["revoke_time"]) == 0) {
			t.Fatalf("a revoked token: %v", tk)
		}
	}

	// settings/ssh-keys.vue: ssh-key.add this.data ({key_name, key_public}); ssh-key.get {} shows
	// key_name, key_public, key_timeadd; ssh-key.delete {key_id: record.id}.
	p.send("ssh-key.add", `{"key_public":"`+testSSHKey(t)+`","key_name":"laptop"}`)
	keys := list(t, p.send("ssh-key.get", `{}`), "ssh-key")
	if len(keys) != 1 {
		t.Fatalf("ssh-key.get: %v", keys)
	}
	need(t, "ssh-key.get", keys[0], "key_name:string", "key_public:string", "key_timeadd:number", "id:number")
	p.send("ssh-key.delete", fmt.Sprintf(`{"key_id":%s}`, jsKey(keys[0]["id"])))
	if keys := list(t, p.send("ssh-key.get", `{}`), "ssh-key"); len(keys) != 0 {
		t.Fatalf("after ssh-key.delete: %v", keys)
	}

	// home.vue: logout → user.logout {}; the token is gone.
	p.send("user.logout", `{}`)
	if r := h.call("POST", "/api/v1/user.get", p.token, `{}`); r.Status != 401 {
		t.Fatalf("the token after user.logout: %d", r.Status)
	}

	// auth/recovery.vue: data.main {user_email}; data.code {user_code} (checked, not used); data.pass
	// {user_code, user_password, user_passwordRepeat}.
	p.token = ""
	p.send("user.recovery", `{"user_email":"panel2@example.org"}`)
	code := h.mailedCode(t, "panel2@example.org")
	p.send("user.recovery", `{"user_code":"`+code+`"}`)
	p.send("user.recovery", `{"user_code":"`+code+`","user_password":"panel-password-3","user_passwordRepeat":"panel-password-3"}`)
	if st, _, _ := p.try("user.recovery", `{"user_code":"`+code+`"}`); st != 400 {
		t.Fatalf("a used recovery code still checks: %d", st)
	}
	p.send("user.login", `{"user_login":"panel","user_password":"panel-password-3"}`)
}

// testSSHKey is an authorized_keys line.
func testSSHKey(t testing.TB) string {
	t.Helper()
	return "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGRIWfGDzIJ7S4kKMyBfHlJ0y6NfwTRBIoK6o6F0i9Zm"
}

// stdB64 decodes the standard base64 the panel's bufferDecode (atob) takes; atob refuses base64url.
func stdB64(t testing.TB, what string, v any) []byte {
	t.Helper()
	s, _ := v.(string)
	if strings.ContainsAny(s, "-_") {
		t.Fatalf("%s: %q is not standard base64: atob throws", what, s)
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		if b, err = base64.RawStdEncoding.DecodeString(s); err != nil {
			t.Fatalf("%s: %q: %v", what, s, err)
		}
	}
	return b
}

// TestPanelPasskeys replays the panel's passkeys: settings/security-keys.vue adds one
// (WebAuthCredentialMake: user.credentialMake with the panel's preferences, then the credential's
// members flat), lists them (user.credentialGet: key_name, key_timeadd), logs in with one
// (WebAuthAssertionGet: user.assertionGet, then user.assertionVerify with the assertion flat) and
// deletes it (user.credentialDelete {key_id}).
func TestPanelPasskeys(t *testing.T) {
	h := newHarness(t)
	p := newPanel(t, h)
	tok := h.user("kim", false)
	p.token = tok
	a := newSoftAuthenticator(t, h.s.cfg.BaseURL())

	opts := p.send("user.credentialMake", `{"user_login":"kim","user_email":"kim@example.org","user_register":false,"attestation_type":"direct","authenticator_attachment":"cross-platform"}`)
	pk, ok := opts["publicKey"].(map[string]any)
	if !ok {
		t.Fatalf("user.credentialMake: no publicKey: %v", opts)
	}
	// bufferDecode(challenge), bufferDecode(user.id), excludeCredentials[i].id.
	var o waOptions
	o.PublicKey.Challenge = b64u.EncodeToString(stdB64(t, "challenge", pk["challenge"]))
	user := pk["user"].(map[string]any)
	o.PublicKey.User.ID = b64u.EncodeToString(stdB64(t, "user.id", user["id"]))
	o.PublicKey.RP.ID = pk["rp"].(map[string]any)["id"].(string)
	var cred waCredential
	must(t, json.Unmarshal(a.create(o), &cred))
	// The panel sends the credential's members flat, binary members bufferEncode'd (base64url).
	body, _ := json.Marshal(map[string]any{"user_login": "kim", "user_email": "kim@example.org", "user_register": false,
		"id": cred.ID, "rawId": cred.RawID, "type": cred.Type,
		"response": map[string]string{"attestationObject": cred.Response.AttestationObject, "clientDataJSON": cred.Response.ClientDataJSON}})
	p.send("user.credentialMake", string(body))

	creds := list(t, p.send("user.credentialGet", `{}`), "credential")
	if len(creds) != 1 {
		t.Fatalf("user.credentialGet: %v", creds)
	}
	need(t, "user.credentialGet", creds[0], "key_name:string", "key_timeadd:number", "key_id:string", "id:string")

	// auth/login.vue with a passkey.
	p.token = ""
	ao := p.send("user.assertionGet", `{"user_login":"kim"}`)
	apk, ok := ao["publicKey"].(map[string]any)
	if !ok {
		t.Fatalf("user.assertionGet: no publicKey: %v", ao)
	}
	var o2 waOptions
	o2.PublicKey.Challenge = b64u.EncodeToString(stdB64(t, "challenge", apk["challenge"]))
	o2.PublicKey.RPID, _ = apk["rpId"].(string)
	allow, ok := apk["allowCredentials"].([]any)
	if !ok || len(allow) != 1 {
		t.Fatalf("user.assertionGet: allowCredentials %v", apk["allowCredentials"])
	}
	stdB64(t, "allowCredentials[0].id", allow[0].(map[string]any)["id"])
	var as waCredential
	must(t, json.Unmarshal(a.get(o2, false), &as))
	body, _ = json.Marshal(map[string]any{"user_login": "kim", "id": as.ID, "rawId": as.RawID, "type": as.Type,
		"response": map[string]string{"authenticatorData": as.Response.AuthenticatorData, "clientDataJSON": as.Response.ClientDataJSON,
			"signature": as.Response.Signature, "userHandle": as.Response.UserHandle}})
	login := p.send("user.assertionVerify", string(body))
	need(t, "user.assertionVerify", login, "token:string", "id:number", "user:object")
	if _, ok := login["user"].(pobj)[jsKey(login["id"])].(pobj); !ok {
		t.Fatalf("user.assertionVerify: response.user[response.id] is undefined: %v", login)
	}
	p.token = login["token"].(string)
	p.send("user.credentialDelete", `{"key_id":"`+creds[0]["key_id"].(string)+`"}`)
	if creds := list(t, p.send("user.credentialGet", `{}`), "credential"); len(creds) != 0 {
		t.Fatalf("after user.credentialDelete: %v", creds)
	}
}

// TestPanelPasskeyRegistration replays auth/register.vue's passkey registration: user.credentialMake
// with user_register (options, then the credential flat) makes the account at once; the panel then
// says "confirm your mailbox with the verification code sent to it" and sends that code alone to
// user.register. deskhub mails a registration code to the new account's address, takes it alone as
// the address's confirmation (once), and refuses it beside a login, address and password.
func TestPanelPasskeyRegistration(t *testing.T) {
	h := newHarness(t)
	p := newPanel(t, h)
	a := newSoftAuthenticator(t, h.s.cfg.BaseURL())
	const reg = `"user_login":"lena","user_email":"lena@example.org","user_register":true`
	opts := p.send("user.credentialMake", `{`+reg+`,"authenticator_attachment":"cross-platform"}`)
	pk, ok := opts["publicKey"].(map[string]any)
	if !ok {
		t.Fatalf("user.credentialMake: no publicKey: %v", opts)
	}
	var o waOptions
	o.PublicKey.Challenge = b64u.EncodeToString(stdB64(t, "challenge", pk["challenge"]))
	o.PublicKey.User.ID = b64u.EncodeToString(stdB64(t, "user.id", pk["user"].(map[string]any)["id"]))
	o.PublicKey.RP.ID = pk["rp"].(map[string]any)["id"].(string)
	var cred waCredential
	must(t, json.Unmarshal(a.create(o), &cred))
	body, _ := json.Marshal(map[string]any{"user_login": "lena", "user_email": "lena@example.org", "user_register": true,
		"id": cred.ID, "rawId": cred.RawID, "type": cred.Type,
		"response": map[string]string{"attestationObject": cred.Response.AttestationObject, "clientDataJSON": cred.Response.ClientDataJSON}})
	p.send("user.credentialMake", string(body))

	code := h.mail.Code(t, "lena@example.org")
	// The code beside a registration's members is not a registration code of those members.
	if st, _, raw := p.try("user.register", `{"user_login":"lena2","user_email":"lena2@example.org","user_password":"long enough password","user_passwordRepeat":"long enough password","user_code":"`+code+`"}`); st != 400 || !strings.Contains(raw, "send it alone") {
		t.Fatalf("user.register with the passkey code and members: %d %s", st, raw)
	}
	done := p.send("user.register", `{"user_code":"`+code+`"}`)
	if len(done) != 0 {
		t.Fatalf("user.register {user_code}: parsed %v, want the empty acknowledgement", done)
	}
	if st, _, raw := p.try("user.register", `{"user_code":"`+code+`"}`); st != 400 {
		t.Fatalf("user.register with a used code: %d %s", st, raw)
	}
	// Still one account, which logs in with its passkey.
	users, err := h.s.store.ListUsers(context.Background())
	must(t, err)
	n := 0
	for _, u := range users {
		if u.Login == "lena" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d accounts lena after the confirmation", n)
	}
	ao := p.send("user.assertionGet", `{"user_login":"lena"}`)
	apk := ao["publicKey"].(map[string]any)
	var o2 waOptions
	o2.PublicKey.Challenge = b64u.EncodeToString(stdB64(t, "challenge", apk["challenge"]))
	o2.PublicKey.RPID, _ = apk["rpId"].(string)
	var as waCredential
	must(t, json.Unmarshal(a.get(o2, false), &as))
	body, _ = json.Marshal(map[string]any{"user_login": "lena", "id": as.ID, "rawId": as.RawID, "type": as.Type,
		"response": map[string]string{"authenticatorData": as.Response.AuthenticatorData, "clientDataJSON": as.Response.ClientDataJSON,
			"signature": as.Response.Signature, "userHandle": as.Response.UserHandle}})
	need(t, "user.assertionVerify", p.send("user.assertionVerify", string(body)), "token:string")
}

// sseEvent is one server-sent event.
type sseEvent struct {
	name, data string
}

// sseReader reads server-sent events as a browser's EventSource does: "message" for events without a
// name.
type sseReader struct {
	events chan sseEvent
}

func openSSE(t testing.TB, url string) *sseReader {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b, _ := io.ReadAll(resp.Body)
		cancel()
		t.Fatalf("event.subscribe: %d %s", resp.StatusCode, b)
	}
	r := &sseReader{events: make(chan sseEvent, 256)}
	go func() {
		defer close(r.events)
		sc := bufio.NewScanner(resp.Body)
		ev := sseEvent{name: "message"}
		var data []string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if len(data) > 0 {
					ev.data = strings.Join(data, "\n")
					r.events <- ev
				}
				ev, data = sseEvent{name: "message"}, nil
			case strings.HasPrefix(line, "event:"):
				ev.name = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
			case strings.HasPrefix(line, "data:"):
				data = append(data, strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
			}
		}
	}()
	t.Cleanup(func() { cancel(); resp.Body.Close() })
	return r
}

// panelTask waits for the message event.js hands to the task a call registered (its key:
// task_<type>_<request_id>), parses it as event.js does (JSON of the event, then JSON of its body),
// and answers the body.
func (r *sseReader) panelTask(t testing.TB, endpoint, requestID string, timeout time.Duration) map[string]any {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case ev, ok := <-r.events:
			if !ok {
				t.Fatalf("the stream ended before task_%s_%s", endpoint, requestID)
			}
			if ev.name != "message" {
				continue
			}
			var msg struct {
				Type      string `json:"type"`
				RequestID string `json:"request_id"`
				Body      string `json:"body"`
			}
			if err := json.Unmarshal([]byte(ev.data), &msg); err != nil {
				t.Fatalf("event.js: JSON.parse(event.data) throws: %v: %s", err, ev.data)
			}
			var body map[string]any
			if err := json.Unmarshal([]byte(msg.Body), &body); err != nil {
				t.Fatalf("event.js: JSON.parse(data.body) throws: %v: %s", err, ev.data)
			}
			if msg.Type == endpoint && msg.RequestID == requestID {
				if errs, ok := body["errors"]; ok {
					// this.listErrors(this._dataError(response.errors)): _dataError reads .data.errors.
					inner, _ := errs.(map[string]any)
					if d, _ := inner["data"].(map[string]any); d == nil || d["errors"] == nil {
						t.Fatalf("event.js: _dataError(response.errors) throws: %s", msg.Body)
					}
				}
				return body
			}
		case <-deadline:
			t.Fatalf("no task_%s_%s on the stream within %s", endpoint, requestID, timeout)
		}
	}
}

// TestPanelEventStream replays event.js: config.get's stream opened as an EventSource
// (GET /api/v1/event.subscribe?stream=…), event.auth {stream, request_id} on "open", and the answer to
// that task on the stream.
func TestPanelEventStream(t *testing.T) {
	h := newHarness(t)
	p := newPanel(t, h)
	p.token = h.user("evan", false)
	stream := p.send("config.get", `{}`)["stream"].(string)
	r := openSSE(t, h.url()+"/api/v1/event.subscribe?stream="+stream)
	p.send("event.auth", `{"stream":"`+stream+`","request_id":"0b9f4d4e-0d5c-4b8e-9b8a-1b2c3d4e5f60"}`)
	body := r.panelTask(t, "event.auth", "0b9f4d4e-0d5c-4b8e-9b8a-1b2c3d4e5f60", 5*time.Second)
	if _, ok := body["data"]; !ok {
		t.Fatalf("event.auth on the stream: %v", body)
	}
}

// panelFindServer is this.get('servers').find(item => item.id === parseInt(this.$route.params.server_id)).
func panelFindServer(t testing.TB, servers []pobj, routeID string) pobj {
	t.Helper()
	want, err := strconv.ParseInt(routeID, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range servers {
		if n, ok := s["id"].(json.Number); ok && n.String() == strconv.FormatInt(want, 10) {
			return s
		}
	}
	t.Fatalf("servers.find(item => item.id === %d) is undefined: %v", want, servers)
	return nil
}

// TestPanelInfrastructure replays the panel's server and instance pages on the test LXD server:
// server/add.vue (verify, add by trust password and by token), the server list of home.vue,
// server/get.vue (server.get with its included profiles, certificates, pools and volumes, the image
// servers, the instances, the networks, the images), instance/add.vue (instance.add as the form builds
// it, its outcome on the event stream), instance/get.vue (instance.get, instance.action by name: stop,
// start, restart, freeze, unfreeze, stop-force, delete, each followed on the stream), profiles.vue
// (update, delete), images.vue (delete), certificate revoke.
func TestPanelInfrastructure(t *testing.T) {
	h := newLXDHarness(t)
	p := newPanel(t, h.harness)
	p.token = h.user("pia", false)
	env := h.env

	// event.js: the stream of config.get, bound on open with a request_id.
	stream := p.send("config.get", `{}`)["stream"].(string)
	events := openSSE(t, h.url()+"/api/v1/event.subscribe?stream="+stream)
	p.send("event.auth", `{"stream":"`+stream+`","request_id":"a0000000-0000-4000-8000-000000000001"}`)
	events.panelTask(t, "event.auth", "a0000000-0000-4000-8000-000000000001", 5*time.Second)

	// server/add.vue: this.data {server_host, server_port (a number), server_password,
	// server_protocol, provider}; server_project is not the panel's: the test's throwaway LXD project
	// (the panel's servers work in LXD's default project).
	addBody := func(password string) string {
		b, _ := json.Marshal(map[string]any{"server_host": env.Host, "server_port": env.Port, "server_password": password,
			"server_protocol": "lxd", "provider": "lxd", "server_project": env.Project})
		return string(b)
	}
	p.send("server.verify", addBody(env.Password))
	added := p.send("server.add", addBody(env.Password))
	need(t, "server.add", added, "id:number") // this.$router.replace('/server/' + response.id)
	route := jsKey(added["id"])

	// home.vue: ServerGetList → server.list {}; a server without server_protocol is skipped.
	servers := list(t, p.send("server.list", `{}`), "server")
	server := panelFindServer(t, servers, route)
	need(t, "server.list", server, "server_protocol:string", "server_host:string", "server_port:number", "provider:string", "server_id:number")
	provider := server["provider"].(string)
	sid := jsKey(server["server_id"])

	// server/get.vue: ServerGet → server.get {server_id: server.id, provider: server.provider}.
	sg := p.send("server.get", fmt.Sprintf(`{"server_id":%s,"provider":%q}`, jsKey(server["id"]), provider))
	need(t, "server.get", sg, "server_memory_total:number", "server_cpu_threads:number", "server_supported_instance_types:string",
		"user_id:number", "server_driver:string", "server_server:string", "server_storage:string", "server_cpu_cores:number",
		"server_addresses:string", "server_cpu_model:string", "server_cpu_vendor:string", "server_kernel_version:string",
		"server_kernel_architecture:string", "server_driver_version:string", "server_server_version:string",
		"server_certificate_fingerprint:string", "profile:object", "certificate:object", "pool:object")
	types := strings.Split(sg["server_supported_instance_types"].(string), ",")
	if types[0] != "container" || num(sg["server_memory_total"]) <= 0 || num(sg["server_cpu_threads"]) <= 0 {
		t.Fatalf("server.get: %v", sg)
	}
	var profileBody string
	for _, pr := range list(t, sg, "profile") {
		need(t, "server.get profile", pr, "profile_name:string", "profile_body:string")
		if pr["profile_name"] == "default" {
			profileBody = pr["profile_body"].(string)
		}
	}
	for _, c := range list(t, sg, "certificate") {
		need(t, "server.get certificate", c, "certificate_type:string", "certificate_name:string", "certificate_fingerprint:string")
	}
	for _, pl := range list(t, sg, "pool") {
		need(t, "server.get pool", pl, "pool_name:string", "pool_source:string", "pool_driver:string", "pool_space_total:number",
			"pool_space_used:number", "pool_inodes_total:number", "pool_inodes_used:number")
	}
	for _, v := range list(t, sg, "volume") {
		need(t, "server.get volume", v, "volume_name:string", "volume_type:string", "volume_used_by:string", "pool_name:string")
	}
	// …then ImageServerList, InstanceGetList, NetworkGetList.
	is := p.send("image.serverList", fmt.Sprintf(`{"server_id":%s,"provider":%q}`, sid, provider))
	if len(list(t, is, "image")) == 0 {
		t.Fatal("image.serverList: Object.keys(response.image) of undefined")
	}
	for _, s := range list(t, is, "image") {
		need(t, "image.serverList", s, "image_server_host:string", "image_server_protocol:string")
	}
	p.send("instance.list", fmt.Sprintf(`{"server_id":%s,"provider":%q}`, jsKey(server["id"]), provider))
	for _, n := range list(t, p.send("network.list", fmt.Sprintf(`{"server_id":%s,"provider":%q}`, sid, provider)), "network") {
		need(t, "network.list", n, "network_name:string", "network_type:string")
	}
	// The lists server.get's tabs show, called on their own too.
	for _, ep := range []string{"pool.list", "volume.list", "certificate.list", "profile.list"} {
		p.send(ep, fmt.Sprintf(`{"server_id":%s,"provider":%q}`, sid, provider))
	}

	// instance/add.vue: ImageGetList(server) → image.list {server_id, image_server_host: '', provider};
	// the select's key is the fingerprint, its label image_os, image_release, image_architecture,
	// image_serial; images.vue's table reads image_description, image_instance_type,
	// image_last_used_at, image_expires_at.
	var fingerprint string
	for _, im := range list(t, p.send("image.list", fmt.Sprintf(`{"server_id":%s,"image_server_host":"","provider":%q}`, sid, provider)), "image") {
		need(t, "image.list", im, "image_fingerprint:string", "image_architecture:string", "image_instance_type:string",
			"image_last_used_at:number", "image_expires_at:number", "image_serial:string")
		if im["image_fingerprint"] == env.ImageFingerprint {
			fingerprint = env.ImageFingerprint
		}
	}
	if fingerprint == "" {
		t.Fatalf("image.list: the test image %s is not listed", env.ImageFingerprint)
	}
	// InstanceAdd: data with instance_profiles joined, instance_memory and instance_cpu as strings,
	// server_id and provider of the server, and the request_id SendData adds for the event callback.
	add := map[string]any{"instance_name": "panel-one", "instance_type": types[0], "image_server_host": "", "instance_image": fingerprint,
		"instance_command": "", "instance_memory": "64", "instance_cpu": "1", "instance_profiles": "default", "instance_interface": "",
		"instance_network": "", "instance_nameserver": "8.8.8.8", "instance_dhcp": false, "provider": "lxd",
		"server_id": server["server_id"], "request_id": "a0000000-0000-4000-8000-000000000002"}
	b, _ := json.Marshal(add)
	p.send("instance.add", string(b))
	if body := events.panelTask(t, "instance.add", "a0000000-0000-4000-8000-000000000002", 90*time.Second); body["errors"] != nil {
		t.Fatalf("instance.add failed: %v", body)
	}
	// …InstanceGetList(true): the new instance is listed.
	var found pobj
	for _, in := range list(t, p.send("instance.list", fmt.Sprintf(`{"server_id":%s,"provider":%q}`, jsKey(server["id"]), provider)), "instance") {
		need(t, "instance.list", in, "instance_name:string", "instance_status:string", "instance_type:string", "instance_image_os:string", "server:object")
		if in["instance_name"] == "panel-one" {
			found = in
		}
	}
	if found == nil || found["instance_status"] != "running" {
		t.Fatalf("instance.list after instance.add: %v", found)
	}

	// instance/get.vue: InstanceGet → instance.get {server_id: server.id, instance_name, provider}.
	get := func() pobj {
		in := p.send("instance.get", fmt.Sprintf(`{"server_id":%s,"instance_name":"panel-one","provider":%q}`, jsKey(server["id"]), provider))
		need(t, "instance.get", in, "instance_name:string", "instance_profiles:string", "instance_devices:object", "instance_memory:string",
			"instance_cpu:string", "instance_image_os:string", "instance_image_version:string", "instance_arch:string",
			"instance_status:string", "instance_type:string", "provider:string")
		return in
	}
	in := get()
	if in["instance_profiles"] != "default" || in["instance_memory"] != "64MiB" || in["instance_cpu"] != "1" {
		t.Fatalf("instance.get: %v", in)
	}
	// InstanceStatusChange(action) → instance.action {server_id: server.id, instance_name,
	// instance_status: action.key, provider: this.instance.provider}, then the task on the stream.
	for i, step := range []struct{ action, status string }{{"stop", "stopped"}, {"start", "running"}, {"restart", "running"},
		{"freeze", "frozen"}, {"unfreeze", "running"}, {"stop-force", "stopped"}} {
		rid := fmt.Sprintf("a0000000-0000-4000-8000-1000000000%02d", i)
		p.send("instance.action", fmt.Sprintf(`{"server_id":%s,"instance_name":"panel-one","instance_status":%q,"provider":%q,"request_id":%q}`,
			jsKey(server["id"]), step.action, in["provider"], rid))
		if body := events.panelTask(t, "instance.action", rid, 60*time.Second); body["errors"] != nil {
			t.Fatalf("%s failed: %v", step.action, body)
		}
		if got := get()["instance_status"]; got != step.status {
			t.Fatalf("after %s: status %v, want %s", step.action, got, step.status)
		}
	}

	// profiles.vue: ProfileUpdate(name, body) → profile.update {server_id, provider, profile_name,
	// profile_body}; ProfileDelete(name) → profile.delete.
	if profileBody == "" {
		t.Fatal("server.get: no default profile")
	}
	p.send("profile.update", fmt.Sprintf(`{"server_id":%s,"provider":%q,"profile_name":"default","profile_body":%q}`, sid, provider,
		strings.Replace(profileBody, "description: ", "description: panel ", 1)))
	must(t, env.Client(t).CreateProfile(api.ProfilesPost{Name: "panel-extra", ProfilePut: api.ProfilePut{Description: "to delete"}}))
	p.send("profile.delete", fmt.Sprintf(`{"server_id":%s,"provider":%q,"profile_name":"panel-extra"}`, sid, provider))

	// images.vue: ImageDelete(fingerprint) → image.delete {server_id, image_fingerprint, provider}.
	extra := env.NewImage(t, "panel-extra-image")
	p.send("image.delete", fmt.Sprintf(`{"server_id":%s,"image_fingerprint":%q,"provider":%q}`, sid, extra, provider))

	// server/get.vue: CertificateRevoke(fingerprint) → certificate.revoke {server_id: server.id,
	// certificate_fingerprint, provider}.
	other := addTestCertificate(t, env)
	p.send("certificate.revoke", fmt.Sprintf(`{"server_id":%s,"certificate_fingerprint":%q,"provider":%q}`, jsKey(server["id"]), other, provider))

	// The last action: delete.
	p.send("instance.action", fmt.Sprintf(`{"server_id":%s,"instance_name":"panel-one","instance_status":"delete","provider":%q,"request_id":"a0000000-0000-4000-8000-000000000003"}`,
		jsKey(server["id"]), provider))
	if body := events.panelTask(t, "instance.action", "a0000000-0000-4000-8000-000000000003", 60*time.Second); body["errors"] != nil {
		t.Fatalf("delete failed: %v", body)
	}

	// server/add.vue with a trust token: the same server again, once deskhub forgot it.
	h.call("POST", "/api/v1/server.delete", p.token, fmt.Sprintf(`{"provider":"lxd","server_id":%s}`, sid)).want(t, 200)
	again := p.send("server.add", addBody(env.TrustToken(t)))
	need(t, "server.add by token", again, "id:number")
	panelFindServer(t, list(t, p.send("server.list", `{}`), "server"), jsKey(again["id"]))
}

package server

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/deskhub/deskhub/api/fastx"
	"github.com/deskhub/deskhub/api/vmm"
	"github.com/deskhub/deskhub/internal/httpapi"
)

// Fuzz targets for the decoders of the login and register bodies (untrusted, unauthenticated input).
// Whatever comes in: no panic, a refusal is a 400 *httpapi.Error, and an accepted body has its required
// members.

func fuzzDecode[T any](f *testing.F, jsonapi bool, seeds []string, check func(t *testing.T, v *T)) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		v := new(T)
		err := httpapi.DecodeJSON(body, v, jsonapi)
		if err != nil {
			var e *httpapi.Error
			if !errors.As(err, &e) || e.Status != 400 || e.Msg == "" {
				t.Fatalf("refusal is not a 400 with a message: %v", err)
			}
			return
		}
		check(t, v)
	})
}

func FuzzDecodeUserLogin(f *testing.F) {
	fuzzDecode(f, true, []string{`{"user_login":"a","user_password":"b"}`, `{"data":{"attributes":{"user_login":"a","user_password":"b"}}}`,
		`{"user_login":null}`, `{"user_login":"a","user_password":"b","x":1}`, `[]`, `{"user_login":"\u0000"}`},
		func(t *testing.T, r *vmm.UserLoginRequest) {
			_ = r // both members are required and strings: presence is checked by the decoder
		})
}

func FuzzDecodeUserRegister(f *testing.F) {
	fuzzDecode(f, true, []string{`{"user_login":"a","user_email":"a@b.c","user_password":"12345678","user_passwordRepeat":"12345678"}`,
		`{"user_login":"a","user_email":"a@b.c","user_password":"1","user_passwordRepeat":"2"}`, `{"user_code":5}`},
		func(t *testing.T, r *vmm.UserRegisterRequest) {
			if r.UserLogin == "" || r.UserEmail == "" || r.UserPassword != r.UserPasswordRepeat {
				t.Fatalf("accepted an incomplete registration: %+v", r)
			}
		})
}

func FuzzDecodeV3Login(f *testing.F) {
	fuzzDecode(f, false, []string{`{"username":"a"}`, `{"username":"a","password":"p","usePK":true}`, `{"username":1}`, `{}`},
		func(t *testing.T, r *fastx.LoginRequest) {})
}

func FuzzDecodeKeyboardAnswer(f *testing.F) {
	fuzzDecode(f, false, []string{`{"answer":"x"}`, `{"answer":["a","b"]}`, `{"answer":[1]}`, `{"answer":{}}`},
		func(t *testing.T, r *fastx.KeyboardInteractiveRequest) {})
}

// Fuzz targets for the infrastructure decoders that take LXD-bound input: an accepted body holds
// nothing LXD would refuse for its form (names, host, port, fingerprints are checked before LXD).

func FuzzDecodeServerAdd(f *testing.F) {
	fuzzDecode(f, true, []string{`{"server_host":"127.0.0.1","server_port":8443,"server_protocol":"lxd","server_password":"x"}`,
		`{"server_host":"h","server_port":"8443","server_protocol":"incus","server_password":"","server_project":"p"}`,
		`{"server_host":"https://h","server_port":1,"server_protocol":"lxd","server_password":"x"}`,
		`{"server_host":"","server_port":0,"server_protocol":"lxd","server_password":"","server_path":"/var/lib/lxd/unix.socket"}`},
		func(t *testing.T, r *vmm.ServerAddRequest) {
			if r.ServerPath == "" && (r.ServerPort < 1 || r.ServerPort > 65535 || r.ServerHost == "" || strings.ContainsAny(r.ServerHost, "/ @?#")) {
				t.Fatalf("accepted a bad address: %+v", r)
			}
			if r.ServerProtocol != "lxd" && r.ServerProtocol != "incus" {
				t.Fatalf("accepted protocol %q", r.ServerProtocol)
			}
		})
}

func FuzzDecodeInstanceAdd(f *testing.F) {
	fuzzDecode(f, true, []string{`{"server_id":1,"instance_name":"a-1","image_alias":"busybox","provider":"lxd"}`,
		`{"server_id":1,"instance_name":"a-","image_fingerprint":"abc","provider":"lxd","instance_start":false}`,
		`{"server_id":1,"instance_name":"x","image_alias":"a","image_fingerprint":"b","provider":"lxd"}`},
		func(t *testing.T, r *vmm.InstanceAddRequest) {
			n := r.InstanceName
			if n == "" || len(n) > 63 || n[len(n)-1] == '-' || strings.Trim(n, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") != "" {
				t.Fatalf("accepted instance name %q", n)
			}
			if (r.ImageAlias == "") == (r.ImageFingerprint == "") {
				t.Fatalf("accepted image choice %+v", r)
			}
		})
}

func FuzzDecodeInstanceAction(f *testing.F) {
	fuzzDecode(f, true, []string{`{"instance_id":1,"instance_status":"stop-force","provider":"lxd"}`,
		`{"instance_id":"1","instance_status":"start","provider":"lxd"}`, `{"instance_id":1,"instance_status":"explode","provider":"lxd"}`},
		func(t *testing.T, r *vmm.InstanceActionRequest) {
			if !slices.Contains(vmm.InstanceActions, r.InstanceStatus) || !r.Provider.Valid() {
				t.Fatalf("accepted %+v", r)
			}
		})
}

func FuzzDecodeProfileUpdate(f *testing.F) {
	fuzzDecode(f, true, []string{`{"profile_name":"p","profile_body":"config: {}","provider":"lxd","server_id":1}`,
		`{"profile_name":"","profile_body":"","provider":"lxd","server_id":1}`},
		func(t *testing.T, r *vmm.ProfileUpdateRequest) {
			if r.ProfileName == "" {
				t.Fatal("accepted an empty profile name")
			}
		})
}

func FuzzDecodeCertificateRevoke(f *testing.F) {
	fuzzDecode(f, true, []string{`{"certificate_fingerprint":"abcdef012345","provider":"lxd","server_id":1}`,
		`{"certificate_fingerprint":"x","provider":"internal","server_id":1,"certificate_force":true}`},
		func(t *testing.T, r *vmm.CertificateRevokeRequest) {})
}

func FuzzDecodeEventAuth(f *testing.F) {
	fuzzDecode(f, true, []string{`{"stream":"0b7c6a7e-0000-4000-8000-000000000000"}`, `{"stream":1}`},
		func(t *testing.T, r *vmm.EventAuthRequest) {})
}

package server

import (
	"errors"
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

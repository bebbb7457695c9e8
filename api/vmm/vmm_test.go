package vmm

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
)

func TestFlexIntUnmarshal(t *testing.T) {
	tests := []struct {
		in      string
		want    FlexInt
		wantErr string // substring of the error; "" for success
	}{
		{in: `8443`, want: 8443},
		{in: `-1`, want: -1},
		{in: `0`, want: 0},
		{in: `"8443"`, want: 8443},
		{in: `"-42"`, want: -42},
		{in: `"9223372036854775807"`, want: 9223372036854775807},
		{in: `"abc"`, wantErr: `string "abc" (not an integer)`},
		{in: `""`, wantErr: `string "" (not an integer)`},
		{in: `" 8443"`, wantErr: `not an integer`},
		{in: `"8443.5"`, wantErr: `not an integer`},
		{in: `8443.5`, wantErr: `number 8443.5 (not an integer)`},
		{in: `1e3`, wantErr: `not an integer`},
		{in: `99999999999999999999`, wantErr: `out of range`},
		{in: `"99999999999999999999"`, wantErr: `out of range`},
		{in: `true`, wantErr: `boolean`},
		{in: `false`, wantErr: `boolean`},
		{in: `[1]`, wantErr: `array`},
		{in: `{"a":1}`, wantErr: `object`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var got FlexInt
			err := json.Unmarshal([]byte(tt.in), &got)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Unmarshal(%s): %v", tt.in, err)
				}
				if got != tt.want {
					t.Fatalf("Unmarshal(%s) = %d, want %d", tt.in, got, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("Unmarshal(%s) = %d, want an error", tt.in, got)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Unmarshal(%s) error %q, want it to mention %q", tt.in, err, tt.wantErr)
			}
			var typeErr *json.UnmarshalTypeError
			if !errors.As(err, &typeErr) {
				t.Fatalf("Unmarshal(%s) error %T, want *json.UnmarshalTypeError", tt.in, err)
			}
		})
	}
}

func TestFlexIntNullKeepsValue(t *testing.T) {
	got := FlexInt(7)
	if err := json.Unmarshal([]byte(`null`), &got); err != nil || got != 7 {
		t.Fatalf("Unmarshal(null) = %d, %v; want 7, nil", got, err)
	}
}

// A member of a struct: the error names the member, as the request decoder reports it.
func TestFlexIntInStruct(t *testing.T) {
	var req ServerAddRequest
	if err := json.Unmarshal([]byte(`{"server_host":"h","server_port":"8443"}`), &req); err != nil {
		t.Fatal(err)
	}
	if req.ServerPort != 8443 {
		t.Fatalf("server_port = %d, want 8443", req.ServerPort)
	}
	err := json.Unmarshal([]byte(`{"server_port":"https"}`), &req)
	var typeErr *json.UnmarshalTypeError
	if !errors.As(err, &typeErr) || typeErr.Field != "server_port" {
		t.Fatalf("error %v (%T), want an UnmarshalTypeError naming server_port", err, err)
	}
	out, err := json.Marshal(ServerAttributes{ServerPort: 8443})
	if err != nil || !strings.Contains(string(out), `"server_port":8443`) {
		t.Fatalf("Marshal = %s, %v; want server_port as a number", out, err)
	}
}

func TestValidate(t *testing.T) {
	bad := []interface{ Validate() error }{
		&ServerAddRequest{ServerHost: "h", ServerPort: 0, ServerProtocol: "lxd"},
		&ServerAddRequest{ServerHost: "h", ServerPort: 70000, ServerProtocol: "lxd"},
		&ServerAddRequest{ServerHost: "https://h", ServerPort: 8443, ServerProtocol: "lxd"},
		&ServerAddRequest{ServerHost: "h:8443", ServerPort: 8443, ServerProtocol: "lxd"},
		&ServerAddRequest{ServerHost: "h/x", ServerPort: 8443, ServerProtocol: "lxd"},
		&ServerAddRequest{ServerHost: "-h", ServerPort: 8443, ServerProtocol: "lxd"},
		&ServerAddRequest{ServerHost: "h", ServerPort: 8443, ServerProtocol: "docker"},
		&ServerAddRequest{ServerHost: "h", ServerPort: 8443, ServerProtocol: "lxd", ServerProject: "a b"},
		&ServerAddRequest{ServerPath: "relative.sock", ServerProtocol: "lxd"},
		&UserRegisterRequest{UserLogin: "a", UserEmail: "e", UserPassword: "x", UserPasswordRepeat: "y"},
		&InstanceActionRequest{InstanceID: 1, Provider: ProviderLXD},
		&InstanceActionRequest{InstanceID: 1, Provider: "docker", InstanceStatus: "start"},
		&InstanceAddRequest{ServerID: 1, InstanceName: "1bad", ImageAlias: "d", Provider: ProviderLXD},
		&InstanceAddRequest{ServerID: 1, InstanceName: "ok", Provider: ProviderLXD},
		&TokenCreateRequest{TokenLifetime: 0},
	}
	for _, r := range bad {
		if err := r.Validate(); err == nil {
			t.Errorf("%#v: Validate() = nil, want an error", r)
		}
	}
	good := []interface{ Validate() error }{
		&ServerAddRequest{ServerHost: "h", ServerPort: 8443, ServerProtocol: "lxd"},
		&ServerAddRequest{ServerHost: "lxd-1.example.org", ServerPort: 8443, ServerProtocol: "incus", ServerProject: "desk_tops"},
		&ServerAddRequest{ServerHost: "::1", ServerPort: 8443, ServerProtocol: "lxd"},
		&ServerAddRequest{ServerHost: "[::1]", ServerPort: 8443, ServerProtocol: "lxd"},
		&ServerAddRequest{ServerPath: "/var/lib/lxd/unix.socket", ServerProtocol: "lxd"},
		&InstanceActionRequest{InstanceID: 1, Provider: ProviderLXD, InstanceStatus: "stop-force"},
		&InstanceAddRequest{ServerID: 1, InstanceName: "desk-1", ImageAlias: "debian/desktop", Provider: ProviderLXD},
		&TokenCreateRequest{TokenLifetime: 3600},
	}
	for _, r := range good {
		if err := r.Validate(); err != nil {
			t.Errorf("%#v: Validate() = %v, want nil", r, err)
		}
	}
}

func FuzzFlexInt(f *testing.F) {
	for _, s := range []string{`8443`, `"8443"`, `-1`, `"x"`, `8443.5`, `true`, `null`, `""`, `"1e3"`, `[`, `"\u0038"`} {
		f.Add([]byte(s), int64(8443))
	}
	f.Add([]byte(`9223372036854775807`), int64(-9223372036854775808))
	f.Fuzz(func(t *testing.T, data []byte, n int64) {
		// Arbitrary input never panics; what it accepts re-encodes to the same value.
		var v FlexInt
		if err := v.UnmarshalJSON(data); err == nil {
			out, err := json.Marshal(v)
			if err != nil {
				t.Fatalf("Marshal(%d): %v", v, err)
			}
			var back FlexInt
			if err := json.Unmarshal(out, &back); err != nil || back != v {
				t.Fatalf("round trip of %q: %s → %d, %v", data, out, back, err)
			}
		}
		// Every int64 round-trips as a number and as a numeric string.
		for _, in := range []string{strconv.FormatInt(n, 10), strconv.Quote(strconv.FormatInt(n, 10))} {
			var got FlexInt
			if err := json.Unmarshal([]byte(in), &got); err != nil || int64(got) != n {
				t.Fatalf("Unmarshal(%s) = %d, %v; want %d", in, got, err, n)
			}
		}
		out, err := json.Marshal(FlexInt(n))
		if err != nil || string(out) != strconv.FormatInt(n, 10) {
			t.Fatalf("Marshal(%d) = %s, %v", n, out, err)
		}
	})
}

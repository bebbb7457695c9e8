package lxdconn

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestSealOpen(t *testing.T) {
	secret := []byte("0123456789abcdef0123")
	sealed, err := sealSecret(secret, []byte("private key"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, "private") || !strings.HasPrefix(sealed, "v1:") {
		t.Fatalf("sealed form %q", sealed)
	}
	plain, err := openSecret(secret, sealed)
	if err != nil || string(plain) != "private key" {
		t.Fatalf("openSecret = %q, %v", plain, err)
	}
	if _, err := openSecret([]byte("another secret key!!"), sealed); err == nil {
		t.Fatal("opened with the wrong secret")
	}
	if _, err := sealSecret([]byte("short"), nil); err == nil {
		t.Fatal("sealed with a short secret")
	}
	for _, bad := range []string{"", "v1:", "v1:!!!", "v2:abc", sealed[:len(sealed)-4]} {
		if _, err := openSecret(secret, bad); err == nil {
			t.Fatalf("opened %q", bad)
		}
	}
}

func TestGenerateClientCert(t *testing.T) {
	certPEM, keyPEM, err := generateClientCert("deskhub-test")
	if err != nil {
		t.Fatal(err)
	}
	id, err := newIdentity(certPEM, keyPEM)
	if err != nil || len(id.Fingerprint) != 64 {
		t.Fatalf("identity %+v, %v", id, err)
	}
	if !strings.Contains(keyPEM, "EC PRIVATE KEY") {
		t.Fatal("not an EC key")
	}
}

func TestParseTrustToken(t *testing.T) {
	tok := TrustToken{ClientName: "deskhub", Fingerprint: strings.Repeat("ab", 32), Addresses: []string{"127.0.0.1:8443"},
		Secret: strings.Repeat("5", 64), ExpiresAt: time.Now().Add(time.Hour)}
	b, _ := json.Marshal(tok)
	enc := base64.StdEncoding.EncodeToString(b)
	got, ok := ParseTrustToken(enc)
	if !ok || got.Secret != tok.Secret || got.Fingerprint != tok.Fingerprint {
		t.Fatalf("ParseTrustToken = %+v, %v", got, ok)
	}
	for _, pw := range []string{"", "a trust password", "hunter2hunter2hunter2hunter2hunter2hunter2hunter2",
		base64.StdEncoding.EncodeToString([]byte(`{"secret":"x"}`)) + strings.Repeat("=", 0)} {
		if _, ok := ParseTrustToken(pw); ok {
			t.Fatalf("%q taken for a token", pw)
		}
	}
}

// FuzzParseTrustToken: server_password is untrusted; a token is taken only when it has a secret and a
// fingerprint.
func FuzzParseTrustToken(f *testing.F) {
	f.Add(base64.StdEncoding.EncodeToString([]byte(`{"fingerprint":"ab","secret":"s","addresses":["x"]}`)))
	f.Add("password")
	f.Fuzz(func(t *testing.T, s string) {
		tok, ok := ParseTrustToken(s)
		if ok && (tok.Secret == "" || tok.Fingerprint == "" || bytes.ContainsAny([]byte(s), " \t\n")) {
			t.Fatalf("took %q as a token: %+v", s, tok)
		}
	})
}

// TestIsBusy: LXD's instance operation lock, as an operation's error (LXD 5.0, seen in CI) and as a
// refusal deskhub wraps; other failures are not "busy".
func TestIsBusy(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{errors.New(`Failed to create instance start operation: Instance is busy running a "stop" operation`), true},
		{fmt.Errorf("LXD refused it: %w", errors.New("Instance is busy running a restart operation")), true},
		{errors.New("The instance is already running"), false},
		{errors.New("Instance not found"), false},
		{nil, false},
	} {
		if got := IsBusy(c.err); got != c.want {
			t.Errorf("IsBusy(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

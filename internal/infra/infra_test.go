package infra

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
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
	tok := trustToken{ClientName: "deskhub", Fingerprint: strings.Repeat("ab", 32), Addresses: []string{"127.0.0.1:8443"},
		Secret: strings.Repeat("5", 64), ExpiresAt: time.Now().Add(time.Hour)}
	b, _ := json.Marshal(tok)
	enc := base64.StdEncoding.EncodeToString(b)
	got, ok := parseTrustToken(enc)
	if !ok || got.Secret != tok.Secret || got.Fingerprint != tok.Fingerprint {
		t.Fatalf("parseTrustToken = %+v, %v", got, ok)
	}
	for _, pw := range []string{"", "a trust password", "hunter2hunter2hunter2hunter2hunter2hunter2hunter2",
		base64.StdEncoding.EncodeToString([]byte(`{"secret":"x"}`)) + strings.Repeat("=", 0)} {
		if _, ok := parseTrustToken(pw); ok {
			t.Fatalf("%q taken for a token", pw)
		}
	}
}

func TestSourceName(t *testing.T) {
	for src, want := range map[string]string{
		"/1.0/instances/c1":                  "c1",
		"/1.0/instances/c1?project=p":        "c1",
		"/1.0/instances/dh%2Done/":           "dh-one",
		"/1.0/instances/c1/snapshots/s1":     "s1",
		"":                                   "",
		"/1.0/storage-pools/default/volumes": "volumes",
	} {
		if got := sourceName(src); got != want {
			t.Errorf("sourceName(%q) = %q, want %q", src, got, want)
		}
	}
}

func TestParseProfileBody(t *testing.T) {
	pb, err := parseProfileBody("description: d\nconfig:\n  limits.cpu: \"2\"\ndevices:\n  root:\n    type: disk\n    path: /\n    pool: default\nname: p\nused_by: []\n")
	if err != nil || *pb.Description != "d" || pb.Config["limits.cpu"] != "2" || pb.Devices["root"]["pool"] != "default" {
		t.Fatalf("parseProfileBody = %+v, %v", pb, err)
	}
	if pb, err := parseProfileBody(`{"config": {"a": "b"}}`); err != nil || pb.Config["a"] != "b" || pb.Description != nil {
		t.Fatalf("JSON body: %+v, %v", pb, err)
	}
	laughs := "config: &a {x: y}\ndevices: &b {d: *a}\n" + "description: [*b, *b, *b, *b, *b, *b, *b, *b]\n"
	for _, bad := range []string{"", "  ", "config: [", "unknown: 1", "config: {}\n---\nconfig: {}\n", "config: 5", "devices:\n  d: 1\n", laughs} {
		if _, err := parseProfileBody(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

// FuzzParseProfileBody: profile.update's body is untrusted YAML; whatever it is, parsing returns (no
// panic, no hang) and an accepted body round-trips through JSON.
func FuzzParseProfileBody(f *testing.F) {
	for _, s := range []string{"config: {}", "description: x\ndevices:\n  r:\n    type: disk\n", "a: &a [*a]", "{}", "- 1", "config: !!binary aGk="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		pb, err := parseProfileBody(body)
		if err != nil {
			return
		}
		if _, err := json.Marshal(pb); err != nil {
			t.Fatalf("accepted body does not marshal: %v", err)
		}
	})
}

// FuzzParseTrustToken: server_password is untrusted; a token is taken only when it has a secret and a
// fingerprint.
func FuzzParseTrustToken(f *testing.F) {
	f.Add(base64.StdEncoding.EncodeToString([]byte(`{"fingerprint":"ab","secret":"s","addresses":["x"]}`)))
	f.Add("password")
	f.Fuzz(func(t *testing.T, s string) {
		tok, ok := parseTrustToken(s)
		if ok && (tok.Secret == "" || tok.Fingerprint == "" || bytes.ContainsAny([]byte(s), " \t\n")) {
			t.Fatalf("took %q as a token: %+v", s, tok)
		}
	})
}

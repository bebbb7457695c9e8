package sshlogin_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/binary"
	"errors"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/deskhub/deskhub/internal/sshlogin"
)

var (
	signersOnce sync.Once
	testSigners []ssh.Signer
)

// signers: ed25519, ecdsa p256/p384/p521, rsa 2048.
func signers(t testing.TB) []ssh.Signer {
	signersOnce.Do(func() {
		_, ed, _ := ed25519.GenerateKey(rand.Reader)
		keys := []any{ed}
		for _, c := range []elliptic.Curve{elliptic.P256(), elliptic.P384(), elliptic.P521()} {
			k, _ := ecdsa.GenerateKey(c, rand.Reader)
			keys = append(keys, k)
		}
		r, _ := rsa.GenerateKey(rand.Reader, 2048)
		keys = append(keys, r)
		for _, k := range keys {
			s, err := ssh.NewSignerFromKey(k)
			if err != nil {
				panic(err)
			}
			testSigners = append(testSigners, s)
		}
	})
	return testSigners
}

func TestParseWireSignatureRoundTrip(t *testing.T) {
	data := []byte("session id + userauth request")
	for _, s := range signers(t) {
		algos := []string{s.PublicKey().Type()}
		if s.PublicKey().Type() == ssh.KeyAlgoRSA {
			algos = []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256}
		}
		for _, alg := range algos {
			sig, err := s.(ssh.AlgorithmSigner).SignWithAlgorithm(rand.Reader, data, alg)
			if err != nil {
				t.Fatal(err)
			}
			wire := ssh.Marshal(sig)
			got, err := sshlogin.ParseWireSignature(wire)
			if err != nil {
				t.Fatalf("%s: %v", alg, err)
			}
			if err := s.PublicKey().Verify(data, got); err != nil {
				t.Fatalf("%s: parsed signature does not verify: %v", alg, err)
			}
			// Strictness: trailing bytes, truncation.
			if _, err := sshlogin.ParseWireSignature(append(wire, 0)); !errors.Is(err, sshlogin.ErrInvalidInput) {
				t.Fatalf("%s with a trailing byte: %v", alg, err)
			}
			if _, err := sshlogin.ParseWireSignature(wire[:len(wire)-1]); !errors.Is(err, sshlogin.ErrInvalidInput) {
				t.Fatalf("%s truncated: %v", alg, err)
			}
		}
	}
}

func TestParseWireSignatureRejects(t *testing.T) {
	str := func(s []byte) []byte {
		b := binary.BigEndian.AppendUint32(nil, uint32(len(s)))
		return append(b, s...)
	}
	cat := func(parts ...[]byte) []byte {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	blob64 := make([]byte, 64)
	for name, b := range map[string][]byte{
		"empty":           nil,
		"huge":            make([]byte, sshlogin.MaxSignatureLen+1),
		"unknown format":  cat(str([]byte("ssh-foo")), str(blob64)),
		"cert format":     cat(str([]byte(ssh.CertAlgoED25519v01)), str(blob64)),
		"short ed25519":   cat(str([]byte("ssh-ed25519")), str(blob64[:63])),
		"length overflow": cat(str([]byte("ssh-ed25519")), []byte{0xff, 0xff, 0xff, 0xff}, blob64),
		"no blob":         str([]byte("ssh-ed25519")),
		"sk without rest": cat(str([]byte(ssh.KeyAlgoSKED25519)), str(blob64)),
		"short rsa":       cat(str([]byte("rsa-sha2-512")), str(blob64)),
	} {
		if _, err := sshlogin.ParseWireSignature(b); !errors.Is(err, sshlogin.ErrInvalidInput) {
			t.Errorf("%s: %v, want ErrInvalidInput", name, err)
		}
	}
	sk := cat(str([]byte(ssh.KeyAlgoSKED25519)), str(blob64), []byte{1, 0, 0, 0, 7})
	if sig, err := sshlogin.ParseWireSignature(sk); err != nil || len(sig.Rest) != 5 {
		t.Errorf("security-key signature: %+v %v", sig, err)
	}
}

func TestParsePublicKey(t *testing.T) {
	for _, s := range signers(t) {
		pub := s.PublicKey()
		for name, in := range map[string][]byte{
			"wire":         pub.Marshal(),
			"line":         ssh.MarshalAuthorizedKey(pub),
			"line+comment": []byte(strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))) + " alice@laptop\n"),
		} {
			got, err := sshlogin.ParsePublicKey(in)
			if err != nil {
				t.Fatalf("%s %s: %v", pub.Type(), name, err)
			}
			if string(got.Marshal()) != string(pub.Marshal()) {
				t.Fatalf("%s %s: different key", pub.Type(), name)
			}
		}
	}
	pub := signers(t)[0].PublicKey()
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
	for name, in := range map[string]string{
		"empty":      "",
		"options":    `command="sh" ` + line,
		"two lines":  line + "\n" + line,
		"garbage":    "hello world",
		"trailing":   string(append(pub.Marshal(), 0)),
		"truncated":  string(pub.Marshal()[:10]),
		"huge":       strings.Repeat("A", sshlogin.MaxPublicKeyLen+1),
		"wire+space": string(pub.Marshal()) + " ",
	} {
		if _, err := sshlogin.ParsePublicKey([]byte(in)); !errors.Is(err, sshlogin.ErrInvalidInput) {
			t.Errorf("%s: %v, want ErrInvalidInput", name, err)
		}
	}
}

func FuzzParseSignature(f *testing.F) {
	data := []byte("data")
	for _, s := range signers(f) {
		sig, _ := s.Sign(rand.Reader, data)
		f.Add(ssh.Marshal(sig))
	}
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 11, 's', 's', 'h', '-', 'e', 'd', '2', '5', '5', '1', '9', 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		sig, err := sshlogin.ParseWireSignature(b)
		if err != nil {
			if !errors.Is(err, sshlogin.ErrInvalidInput) {
				t.Fatalf("error not ErrInvalidInput: %v", err)
			}
			return
		}
		// Accepted input round-trips exactly (no hidden slack).
		if again := ssh.Marshal(sig); string(again) != string(b) {
			t.Fatalf("accepted %x, re-marshals to %x", b, again)
		}
	})
}

func FuzzParsePublicKey(f *testing.F) {
	for _, s := range signers(f) {
		f.Add(s.PublicKey().Marshal())
		f.Add(ssh.MarshalAuthorizedKey(s.PublicKey()))
	}
	f.Add([]byte("ssh-ed25519 AAAA"))
	f.Fuzz(func(t *testing.T, b []byte) {
		pub, err := sshlogin.ParsePublicKey(b)
		if err != nil {
			if !errors.Is(err, sshlogin.ErrInvalidInput) {
				t.Fatalf("error not ErrInvalidInput: %v", err)
			}
			return
		}
		if pub == nil {
			t.Fatal("nil key without error")
		}
	})
}

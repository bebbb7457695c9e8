package auth

import (
	"errors"
	"strings"
	"testing"
)

func TestPasswordRoundTrip(t *testing.T) {
	h, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=65536,t=3,p=2$") {
		t.Fatalf("unexpected hash format %q", h)
	}
	if err := VerifyPassword(h, "correct horse battery"); err != nil {
		t.Fatalf("right password refused: %v", err)
	}
	if err := VerifyPassword(h, "correct horse batterY"); !errors.Is(err, ErrMismatch) {
		t.Fatalf("wrong password: got %v, want ErrMismatch", err)
	}
	h2, _ := HashPassword("correct horse battery")
	if h == h2 {
		t.Fatal("two hashes of one password are equal: salt is not random")
	}
}

func TestVerifyRejectsMalformedHashes(t *testing.T) {
	for _, h := range []string{
		"", "plain", "$argon2i$v=19$m=65536,t=3,p=2$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5aw",
		"$argon2id$v=18$m=65536,t=3,p=2$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5aw",
		"$argon2id$v=19$m=99999999,t=3,p=2$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5aw",
		"$argon2id$v=19$m=65536,t=3,p=2$!!$a2V5a2V5a2V5a2V5a2V5aw",
	} {
		if err := VerifyPassword(h, "x"); err == nil || errors.Is(err, ErrMismatch) {
			t.Errorf("hash %q: got %v, want a format error", h, err)
		}
	}
}

func TestCheckPassword(t *testing.T) {
	if err := CheckPassword("short"); err == nil {
		t.Error("short password accepted")
	}
	if err := CheckPassword(strings.Repeat("x", MaxPasswordLen+1)); err == nil {
		t.Error("overlong password accepted")
	}
	if err := CheckPassword("\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8"); err == nil {
		t.Error("invalid UTF-8 accepted")
	}
	if err := CheckPassword("long enough"); err != nil {
		t.Errorf("good password refused: %v", err)
	}
}

func FuzzParseHash(f *testing.F) {
	h, _ := HashPassword("seed password")
	f.Add(h)
	f.Add("$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5aw")
	f.Add("$$$$$")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parseHash(s)
		if err == nil && (p.memory > 1<<20 || p.time > 16 || p.threads > 16) {
			t.Fatalf("accepted expensive parameters: %+v", p)
		}
	})
}

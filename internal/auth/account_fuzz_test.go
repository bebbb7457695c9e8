package auth

import (
	"net/mail"
	"strings"
	"testing"
	"unicode"
)

// loginRule is the documented login rule, written out by hand rather than as the regexp CheckLogin
// uses: 1 to 32 bytes of lower-case ASCII letters, digits, '_', '.' or '-', the first a letter or '_'.
func loginRule(s string) bool {
	if len(s) < 1 || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c == '_':
		case i > 0 && (c >= '0' && c <= '9' || c == '.' || c == '-'):
		default:
			return false
		}
	}
	return true
}

func FuzzCheckLogin(f *testing.F) {
	for _, s := range []string{"alice", "_svc", "a", "a.b-c_d9", strings.Repeat("a", 32), strings.Repeat("a", 33),
		"", "Alice", "9lives", "-x", ".x", "al ice", "alice\n", "al\x00ice", "ålice", "root@host", "a/b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := CheckLogin(s)
		if want := loginRule(s); (err == nil) != want {
			t.Fatalf("CheckLogin(%q) = %v, rule says valid=%v", s, err, want)
		}
		if err != nil && !strings.Contains(err.Error(), "login") {
			t.Fatalf("CheckLogin(%q): unhelpful error %q", s, err)
		}
	})
}

func FuzzCheckEmail(f *testing.F) {
	for _, s := range []string{"alice@example.org", "a.b+c@sub.example.co.uk", "root@localhost", "x@y",
		"Alice <alice@example.org>", "<alice@example.org>", `"a b"@example.org`, "alice@example.org\r\nBcc: x@y.z",
		"alice@@example.org", "@example.org", "alice@", "alice@[192.0.2.1]", "al ice@example.org",
		strings.Repeat("a", 250) + "@b.cd", "alice@exa mple.org", "ålice@example.org", "alice@example.org.",
		"(comment)alice@example.org", "alice@example.org (comment)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if CheckEmail(s) != nil {
			return
		}
		a, err := mail.ParseAddress(s)
		if err != nil {
			t.Fatalf("CheckEmail accepted %q, which net/mail refuses: %v", s, err)
		}
		if a.Address != s || a.Name != "" {
			t.Fatalf("CheckEmail accepted %q, which net/mail reads as name %q, address %q", s, a.Name, a.Address)
		}
		if len(s) > 254 {
			t.Fatalf("CheckEmail accepted %d bytes", len(s))
		}
		at := strings.LastIndex(s, "@")
		if at <= 0 || at == len(s)-1 {
			t.Fatalf("CheckEmail accepted %q without a local part and a domain", s)
		}
		if domain := s[at+1:]; !strings.Contains(domain, ".") && domain != "localhost" {
			t.Fatalf("CheckEmail accepted %q: domain without a dot", s)
		}
		// The address goes into mail headers: no line breaks or other controls, no spaces.
		if i := strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }); i >= 0 {
			t.Fatalf("CheckEmail accepted %q with a control or space at byte %d", s, i)
		}
	})
}

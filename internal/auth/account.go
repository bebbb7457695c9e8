package auth

import (
	"crypto/rand"
	"fmt"
	"net/mail"
	"regexp"
	"strings"
	"sync"

	"github.com/deskhub/deskhub/internal/store"
)

// loginRE is what a deskhub login may look like: it doubles as a Unix-style name (home directories,
// service users), so it is lower case, starts with a letter or underscore, and is at most 32 bytes.
var loginRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z_][a-z0-9_.-]{0,31}$`) })

// CheckLogin reports why login is not acceptable, or nil.
func CheckLogin(login string) error {
	if !loginRE().MatchString(login) {
		return fmt.Errorf("login %q: use 1 to 32 lower-case letters, digits, '_', '.' or '-', starting with a letter or '_'", login)
	}
	return nil
}

// CheckEmail reports why email is not a plain address (name@domain), or nil.
func CheckEmail(email string) error {
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || len(email) > 254 || !strings.Contains(email[strings.LastIndex(email, "@")+1:], ".") && !strings.HasSuffix(email, "@localhost") {
		return fmt.Errorf("email %q is not a valid address (want name@example.org)", email)
	}
	return nil
}

// NewLocalUser checks and hashes the parts of a new deskhub account. The row is not stored yet.
func NewLocalUser(login, email, password string, admin bool) (store.User, error) {
	if err := CheckLogin(login); err != nil {
		return store.User{}, err
	}
	if err := CheckEmail(email); err != nil {
		return store.User{}, err
	}
	if err := CheckPassword(password); err != nil {
		return store.User{}, err
	}
	hash, err := HashPassword(password)
	if err != nil {
		return store.User{}, err
	}
	return store.User{Login: login, Email: email, PasswordHash: hash, Provider: store.ProviderLocal, Admin: admin}, nil
}

// RandomPassword returns a random password of 26 base32 characters (128 bits).
func RandomPassword() string { return rand.Text() }

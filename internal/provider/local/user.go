package local

import (
	"fmt"
	"os"

	"github.com/deskhub/deskhub/internal/provider"
	"github.com/deskhub/deskhub/internal/xdesk"
)

// account is a resolved Unix user (xdesk.Account; its JSON is part of runtimeInfo).
type account = xdesk.Account

// lookupAccount resolves r.User; Home defaults to the passwd home.
func lookupAccount(r provider.RunAs) (*account, error) {
	if r.User == "" {
		return nil, fmt.Errorf("local: RunAs.User is empty")
	}
	a, err := xdesk.LookupAccount(r.User, r.Home)
	if err != nil {
		return nil, fmt.Errorf("local: %w", err)
	}
	if os.Geteuid() != 0 && a.UID != uint32(os.Geteuid()) {
		return nil, fmt.Errorf("local: deskhub runs as uid %d and cannot start desktops as %q (uid %d): run it as root",
			os.Geteuid(), r.User, a.UID)
	}
	return a, nil
}

// lookPath resolves argv[0] as the account would with the desktop PATH; failure wraps ErrBadCommand.
func lookPath(a *account, name string) (string, error) {
	p, err := a.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%w: %w", provider.ErrBadCommand, err)
	}
	return p, nil
}

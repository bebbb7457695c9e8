package session

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"github.com/deskhub/deskhub/internal/account"
	"slices"
	"strings"

	"github.com/deskhub/deskhub/api/fastx"
	"github.com/deskhub/deskhub/internal/display"
	"github.com/deskhub/deskhub/internal/fault"
	"github.com/deskhub/deskhub/internal/mail"
	"github.com/deskhub/deskhub/internal/revoke"
	"github.com/deskhub/deskhub/internal/store"
)

// Sharing: share keys of a session (stored hashed), guests connecting with them, and invitations by mail.

// Share permissions.
const (
	PermViewer  = fastx.PermViewer
	PermGranter = fastx.PermGranter
)

// shareOut is a share as share/list answers it. The key itself is stored only hashed: "key" names the
// share by its public id (accepted by share/edit and share/delete in place of the key); the key in full
// appears once, in the answer to the call that created it (see docs/compat/session.md).
func shareOut(sh store.Share) fastx.ShareKey {
	perms := sh.Perms
	if perms == nil {
		perms = []string{}
	}
	return fastx.ShareKey{ID: sh.SessionID, Key: sh.ID, KeyID: sh.ID, Perms: perms, Timeout: sh.Timeout}
}

// Shares lists a session's share keys.
func (s *Service) Shares(ctx context.Context, c account.Caller, id string) ([]fastx.ShareKey, error) {
	if _, err := s.own(ctx, c, id); err != nil {
		return nil, err
	}
	return s.shareList(ctx, id, nil)
}

// shareList answers the session's shares; the one just created (fresh) shows its key in full.
func (s *Service) shareList(ctx context.Context, id string, fresh *createdShare) ([]fastx.ShareKey, error) {
	rows, err := s.st.ListShares(ctx, id)
	if err != nil {
		return nil, err
	}
	out := make([]fastx.ShareKey, 0, len(rows))
	for _, r := range rows {
		o := shareOut(r)
		if fresh != nil && r.ID == fresh.ID {
			o.Key = fresh.key
		}
		out = append(out, o)
	}
	return out, nil
}

func newShareKey() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// HashShareKey is how share keys are stored and looked up: SHA-256, like tokens (keys are 144 random
// bits, so a fast unsalted hash is enough).
func HashShareKey(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}

// shareLabel names a share in logs and grants: by its public id, never by its key.
func shareLabel(sh store.Share) string { return "share:" + sh.ID }

type createdShare struct {
	store.Share
	key string
}

// createShare makes a new key for session id; the key is returned, only its hash is stored.
func (s *Service) createShare(ctx context.Context, c account.Caller, id string, perms []string) (createdShare, error) {
	key := newShareKey()
	sh := store.Share{SessionID: id, KeyHash: HashShareKey(key), Perms: perms, Timeout: s.o.ShareTimeout, CreatedBy: c.UserID}
	if err := s.st.CreateShare(ctx, &sh); err != nil {
		return createdShare{}, err
	}
	s.log.Info("share key created", "session", id, "share", sh.ID, "perms", perms, "by", c.Login)
	return createdShare{sh, key}, nil
}

// findShare finds a share of session id by its key, or by its public id (what share/list answers).
func (s *Service) findShare(ctx context.Context, id, keyOrID string) (store.Share, error) {
	sh, err := s.st.GetShare(ctx, id, HashShareKey(keyOrID))
	if errors.Is(err, store.ErrNotFound) {
		sh, err = s.st.GetShareByID(ctx, keyOrID)
		if err == nil && sh.SessionID != id {
			err = store.ErrNotFound
		}
	}
	if errors.Is(err, store.ErrNotFound) {
		return sh, fault.NotFoundf("no share key matches on session %q", id)
	}
	return sh, err
}

// EditShare creates (key "") or updates a share key. The owner may do anything; the holder of a
// granter key of the session (grantKey) may only create viewer keys.
func (s *Service) EditShare(ctx context.Context, c account.Caller, id, key string, perms []string, grantKey string) ([]fastx.ShareKey, error) {
	row, err := s.st.GetSession(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNoSession(id)
	} else if err != nil {
		return nil, err
	}
	owner := row.UserID == c.UserID || c.Admin
	if !owner {
		g, err := s.st.GetShare(ctx, id, HashShareKey(grantKey))
		if grantKey == "" || err != nil || !slices.Contains(g.Perms, PermGranter) {
			return nil, errNoSession(id)
		}
		if key != "" || len(perms) != 1 || perms[0] != PermViewer {
			return nil, fault.New(fault.Forbidden, "a granter may only create new keys with perms [\"viewer\"]")
		}
	}
	if row.State != StateRunning {
		return nil, fault.Conflictf("session %q is %s", id, describeState(row.State))
	}
	if key == "" {
		fresh, err := s.createShare(ctx, c, id, perms)
		if err != nil {
			return nil, err
		}
		return s.shareList(ctx, id, &fresh)
	}
	sh, err := s.findShare(ctx, id, key)
	if err != nil {
		return nil, err
	}
	sh.Perms = perms
	if err := s.st.UpdateShare(ctx, &sh); err != nil {
		return nil, err
	}
	// A key that lost control (or became view-only) takes its connections with it.
	s.o.Relay.DisconnectWhere(id, func(g display.Grant) bool { return g.Deps.ShareID == sh.ID })
	return s.shareList(ctx, id, nil)
}

// DeleteShare removes a key (given in full or by its id) and ends everything that came through it.
func (s *Service) DeleteShare(ctx context.Context, c account.Caller, id, key string) ([]fastx.ShareKey, error) {
	if _, err := s.own(ctx, c, id); err != nil {
		return nil, err
	}
	sh, err := s.findShare(ctx, id, key)
	if err != nil {
		return nil, err
	}
	if err := s.st.DeleteShare(ctx, id, sh.ID); errors.Is(err, store.ErrNotFound) {
		return nil, fault.NotFoundf("no share key matches on session %q", id)
	} else if err != nil {
		return nil, err
	}
	s.dropShares(id, map[string]bool{sh.ID: true})
	s.log.Info("share key deleted", "session", id, "share", sh.ID, "by", c.Login)
	return s.shareList(ctx, id, nil)
}

// dropShares ends the display clients of the deleted shares now, and has the revocation registry
// re-check (and end) their agent connections and outstanding secrets.
func (s *Service) dropShares(id string, gone map[string]bool) {
	s.o.Relay.DisconnectWhere(id, func(g display.Grant) bool { return gone[g.Deps.ShareID] })
	s.o.Revoke.Kick()
}

// ResetShares deletes the keys holding any of perms (all keys when empty) and disconnects their guests.
func (s *Service) ResetShares(ctx context.Context, c account.Caller, id string, perms []string) ([]fastx.ShareKey, error) {
	if _, err := s.own(ctx, c, id); err != nil {
		return nil, err
	}
	rows, err := s.st.ListShares(ctx, id)
	if err != nil {
		return nil, err
	}
	gone := map[string]bool{}
	for _, r := range rows {
		hit := len(perms) == 0
		for _, p := range perms {
			hit = hit || slices.Contains(r.Perms, p)
		}
		if hit {
			if err := s.st.DeleteShare(ctx, id, r.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
				return nil, err
			}
			gone[r.ID] = true
		}
	}
	s.dropShares(id, gone)
	s.log.Info("share keys reset", "session", id, "deleted", len(gone), "by", c.Login)
	return s.shareList(ctx, id, nil)
}

// SharePerms answers the share a key opens on a running session (404 otherwise).
func (s *Service) SharePerms(ctx context.Context, id, key string) (store.Share, error) {
	if key == "" {
		return store.Share{}, errNoSession(id)
	}
	sh, err := s.st.GetShare(ctx, id, HashShareKey(key))
	if err != nil {
		return store.Share{}, errNoSession(id)
	}
	row, err := s.st.GetSession(ctx, id)
	if err != nil || row.State != StateRunning {
		return store.Share{}, errNoSession(id)
	}
	return sh, nil
}

// ShareConnect answers a connect object to a guest holding a share key; a key with "viewer" gives a
// view-only connection. The secret lasts as long as the key and the session owner's account.
func (s *Service) ShareConnect(ctx context.Context, id, key string) (fastx.Connect, error) {
	sh, err := s.st.GetShare(ctx, id, HashShareKey(key))
	if err != nil {
		return fastx.Connect{}, fault.NotFoundf("no share key matches on session %q", id)
	}
	row, err := s.st.GetSession(ctx, id)
	if err != nil || row.State != StateRunning {
		return fastx.Connect{}, fault.NotFoundf("no share key matches on session %q", id)
	}
	g := display.Grant{SessionID: id, ViewOnly: slices.Contains(sh.Perms, PermViewer), Label: shareLabel(sh),
		Deps: revoke.Deps{ShareID: sh.ID, UserID: row.UserID}}
	return s.connect(row, g), nil
}

// EmailShare makes a key and mails its link.
func (s *Service) EmailShare(ctx context.Context, c account.Caller, m mail.Sender, baseURL, id string, perms []string, to string) ([]fastx.ShareKey, error) {
	if len(perms) == 0 {
		perms = []string{PermViewer}
	}
	row, err := s.live(ctx, c, id)
	if err != nil {
		return nil, err
	}
	fresh, err := s.createShare(ctx, c, row.ID, perms)
	if err != nil {
		return nil, err
	}
	msg := mail.Message{To: to, Subject: c.Login + " shares a deskhub desktop with you",
		Body: c.Login + " invites you to " + strings.Join(perms, " and ") + " their desktop:\n\n" +
			baseURL + "/#session=" + id + "&key=" + fresh.key + "\n"}
	if err := m.Send(ctx, msg); err != nil {
		_ = s.st.DeleteShare(ctx, id, fresh.ID)
		return nil, fault.Wrap(fault.BadGateway, err, "the invitation could not be mailed")
	}
	return s.shareList(ctx, id, nil)
}

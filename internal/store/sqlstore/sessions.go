package sqlstore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/deskhub/deskhub/internal/store"
)

// ---- JSON columns -----------------------------------------------------------

// jsonText encodes v for a TEXT column; an empty map/slice is stored as
// empty (empty string for nil) JSON and reads back as nil.
func jsonText(v any, empty string) (string, error) {
	switch x := v.(type) {
	case map[string]string:
		if len(x) == 0 {
			return empty, nil
		}
	case []string:
		if len(x) == 0 {
			return empty, nil
		}
	}
	b, err := json.Marshal(v)
	return string(b), err
}

type jsonMapCol struct{ p *map[string]string }

func (c jsonMapCol) Scan(v any) error {
	var s string
	if err := (strCol{&s}).Scan(v); err != nil {
		return err
	}
	*c.p = nil
	if s == "" || s == "{}" || s == "null" {
		return nil
	}
	if m, ok := flatStringMap(s); ok {
		*c.p = m
		return nil
	}
	return json.Unmarshal([]byte(s), c.p)
}

// flatStringMap reads the JSON text deskhub writes for a string map — {"k":"v",...}, compact, no
// escapes — without encoding/json (a session list reads one per row). ok is false for any other text
// (whitespace, escapes, other value types, invalid UTF-8…), which the caller hands to encoding/json:
// whatever flatStringMap accepts, json.Unmarshal reads to the same map (FuzzFlatStringMap).
func flatStringMap(s string) (m map[string]string, ok bool) {
	if len(s) < 2 || s[0] != '{' || s[len(s)-1] != '}' {
		return nil, false
	}
	// str reads a string starting at s[i] == '"' and returns it and the index after its closing quote.
	str := func(i int) (string, int, bool) {
		if i >= len(s) || s[i] != '"' {
			return "", 0, false
		}
		for j := i + 1; j < len(s); j++ {
			switch c := s[j]; {
			case c == '"':
				v := s[i+1 : j]
				return v, j + 1, utf8.ValidString(v)
			case c == '\\' || c < 0x20:
				return "", 0, false
			}
		}
		return "", 0, false
	}
	m = map[string]string{}
	i := 1
	if s == "{}" {
		return m, true
	}
	for {
		k, j, ok := str(i)
		if !ok || j >= len(s) || s[j] != ':' {
			return nil, false
		}
		v, j, ok := str(j + 1)
		if !ok || j >= len(s) {
			return nil, false
		}
		m[k] = v
		switch s[j] {
		case '}':
			if j != len(s)-1 {
				return nil, false
			}
			return m, true
		case ',':
			i = j + 1
		default:
			return nil, false
		}
	}
}

type jsonListCol struct{ p *[]string }

func (c jsonListCol) Scan(v any) error {
	var s string
	if err := (strCol{&s}).Scan(v); err != nil {
		return err
	}
	*c.p = nil
	if s == "" || s == "[]" || s == "null" {
		return nil
	}
	return json.Unmarshal([]byte(s), c.p)
}

// ---- servers ----------------------------------------------------------------

const serverCols = `id, owner_id, name, provider, protocol, host, port, path, cert_fingerprint, state, config, created_at, updated_at`

func scanServer(r scanner) (store.Server, error) {
	var v store.Server
	err := r.Scan(&v.ID, intCol{&v.OwnerID}, &v.Name, &v.Provider, &v.Protocol, &v.Host, &v.Port, &v.Path,
		&v.CertFingerprint, &v.State, &v.Config, timeCol{&v.CreatedAt}, timeCol{&v.UpdatedAt})
	return v, err
}

func (s *Store) CreateServer(ctx context.Context, v *store.Server) error {
	if v.CreatedAt.IsZero() {
		v.CreatedAt = now()
	}
	if v.UpdatedAt.IsZero() {
		v.UpdatedAt = v.CreatedAt
	}
	v.CreatedAt, v.UpdatedAt = norm(v.CreatedAt), norm(v.UpdatedAt)
	err := s.q.QueryRowContext(ctx, `INSERT INTO servers
		(owner_id, name, provider, protocol, host, port, path, cert_fingerprint, state, config, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id`,
		iv(v.OwnerID), v.Name, v.Provider, v.Protocol, v.Host, v.Port, v.Path, v.CertFingerprint, v.State, v.Config,
		tv(v.CreatedAt), tv(v.UpdatedAt)).Scan(&v.ID)
	return s.fail(err, fmt.Sprintf("create server %q", v.Name), fmt.Sprintf("owner user %d", v.OwnerID))
}

func (s *Store) GetServer(ctx context.Context, id int64) (store.Server, error) {
	return one(ctx, s, fmt.Sprintf("server %d", id), scanServer, `SELECT `+serverCols+` FROM servers WHERE id = $1`, id)
}

func (s *Store) GetServerByName(ctx context.Context, name string) (store.Server, error) {
	return one(ctx, s, fmt.Sprintf("server %q", name), scanServer, `SELECT `+serverCols+` FROM servers WHERE name = $1`, name)
}

func (s *Store) ListServers(ctx context.Context, ownerID int64) ([]store.Server, error) {
	if ownerID == 0 {
		return list(ctx, s, "list servers", scanServer, `SELECT `+serverCols+` FROM servers ORDER BY id`)
	}
	return list(ctx, s, fmt.Sprintf("list servers of user %d", ownerID), scanServer,
		`SELECT `+serverCols+` FROM servers WHERE owner_id = $1 ORDER BY id`, ownerID)
}

func (s *Store) UpdateServer(ctx context.Context, v *store.Server) error {
	v.UpdatedAt = now()
	return s.execOne(ctx, fmt.Sprintf("update server %d (%q)", v.ID, v.Name), fmt.Sprintf("owner user %d", v.OwnerID),
		`UPDATE servers SET owner_id = $2, name = $3, provider = $4, protocol = $5, host = $6, port = $7, path = $8,
			cert_fingerprint = $9, state = $10, config = $11, updated_at = $12 WHERE id = $1`,
		v.ID, iv(v.OwnerID), v.Name, v.Provider, v.Protocol, v.Host, v.Port, v.Path, v.CertFingerprint, v.State, v.Config,
		tv(v.UpdatedAt))
}

func (s *Store) DeleteServer(ctx context.Context, id int64) error {
	return s.execOne(ctx, fmt.Sprintf("server %d", id), "", `DELETE FROM servers WHERE id = $1`, id)
}

// ---- sessions ---------------------------------------------------------------

const sessionCols = `id, user_id, server_id, login, name, command, display, geometry, window_mode, params, state,
	app_pid, server_pid, hostname, runtime, started_at, ended_at, last_connect, last_disconnect, scheduled_at`

func scanSession(r scanner) (store.Session, error) {
	var v store.Session
	err := r.Scan(&v.ID, &v.UserID, intCol{&v.ServerID}, &v.Login, &v.Name, &v.Command, &v.Display, &v.Geometry,
		&v.WindowMode, jsonMapCol{&v.Params}, &v.State, &v.AppPID, &v.ServerPID, &v.Hostname, &v.Runtime,
		timeCol{&v.StartedAt}, timeCol{&v.EndedAt}, timeCol{&v.LastConnect}, timeCol{&v.LastDisconnect},
		timeCol{&v.ScheduledAt})
	return v, err
}

func (s *Store) CreateSession(ctx context.Context, v *store.Session) error {
	if v.ID == "" {
		v.ID = newID()
	}
	if v.State == "" {
		v.State = store.SessionStarting
	}
	params, err := jsonText(v.Params, "{}")
	if err != nil {
		return fmt.Errorf("create session %s: params: %w", v.ID, err)
	}
	err = s.InTx(ctx, func(tx store.Store) error {
		t := tx.(*Store)
		if _, err := t.q.ExecContext(ctx, `INSERT INTO sessions (`+sessionCols+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)`,
			v.ID, v.UserID, iv(v.ServerID), v.Login, v.Name, v.Command, v.Display, v.Geometry, v.WindowMode, params, v.State,
			v.AppPID, v.ServerPID, v.Hostname, v.Runtime, tv(v.StartedAt), tv(v.EndedAt), tv(v.LastConnect),
			tv(v.LastDisconnect), tv(v.ScheduledAt)); err != nil {
			return err
		}
		return t.writeParams(ctx, v.ID, v.Params, false)
	})
	return s.fail(err, fmt.Sprintf("create session %s", v.ID), sessionParent(v))
}

func sessionParent(v *store.Session) string {
	if v.ServerID == 0 {
		return fmt.Sprintf("user %d", v.UserID)
	}
	return fmt.Sprintf("user %d or server %d", v.UserID, v.ServerID)
}

func (s *Store) GetSession(ctx context.Context, id string) (store.Session, error) {
	return one(ctx, s, fmt.Sprintf("session %s", id), scanSession, `SELECT `+sessionCols+` FROM sessions WHERE id = $1`, id)
}

// ListSessions returns the matching sessions, started ones first in start
// order, then the not yet started ones.
func (s *Store) ListSessions(ctx context.Context, f store.SessionFilter) ([]store.Session, error) {
	q := `SELECT ` + sessionCols + ` FROM sessions WHERE 1 = 1`
	var args []any
	if f.UserID != 0 {
		args = append(args, f.UserID)
		q += fmt.Sprintf(` AND user_id = $%d`, len(args))
	}
	if f.ServerID != 0 {
		args = append(args, f.ServerID)
		q += fmt.Sprintf(` AND server_id = $%d`, len(args))
	}
	if len(f.States) > 0 {
		q += ` AND state IN (` + placeholders(len(args)+1, len(f.States)) + `)`
		for _, st := range f.States {
			args = append(args, st)
		}
	}
	q += ` ORDER BY ` + s.baseOrder("")
	return list(ctx, s, "list sessions", scanSession, q, args...)
}

func (s *Store) UpdateSession(ctx context.Context, v *store.Session) error {
	params, err := jsonText(v.Params, "{}")
	if err != nil {
		return fmt.Errorf("update session %s: params: %w", v.ID, err)
	}
	return s.InTx(ctx, func(tx store.Store) error {
		t := tx.(*Store)
		if err := t.updateSession(ctx, v, params); err != nil {
			return err
		}
		if err := t.writeParams(ctx, v.ID, v.Params, true); err != nil {
			return s.fail(err, fmt.Sprintf("update session %s: params", v.ID), "")
		}
		return nil
	})
}

func (s *Store) updateSession(ctx context.Context, v *store.Session, params string) error {
	return s.execOne(ctx, fmt.Sprintf("session %s", v.ID), sessionParent(v),
		`UPDATE sessions SET server_id = $2, login = $3, name = $4, command = $5, display = $6, geometry = $7,
			window_mode = $8, params = $9, state = $10, app_pid = $11, server_pid = $12, hostname = $13, runtime = $14,
			started_at = $15, ended_at = $16, last_connect = $17, last_disconnect = $18, scheduled_at = $19
		 WHERE id = $1`,
		v.ID, iv(v.ServerID), v.Login, v.Name, v.Command, v.Display, v.Geometry, v.WindowMode, params, v.State,
		v.AppPID, v.ServerPID, v.Hostname, v.Runtime, tv(v.StartedAt), tv(v.EndedAt), tv(v.LastConnect),
		tv(v.LastDisconnect), tv(v.ScheduledAt))
}

func (s *Store) DeleteSession(ctx context.Context, id string) error {
	return s.execOne(ctx, fmt.Sprintf("session %s", id), "", `DELETE FROM sessions WHERE id = $1`, id)
}

// ---- bookmarks --------------------------------------------------------------

const bookmarkCols = `id, user_id, kind, name, command, geometry, tags, created_at, updated_at`

func scanBookmark(r scanner) (store.Bookmark, error) {
	var b store.Bookmark
	err := r.Scan(&b.ID, &b.UserID, &b.Kind, &b.Name, &b.Command, &b.Geometry, jsonListCol{&b.Tags},
		timeCol{&b.CreatedAt}, timeCol{&b.UpdatedAt})
	return b, err
}

// PutBookmark inserts b or replaces the row with the same (UserID, Kind, ID);
// a replaced row keeps its CreatedAt (b.CreatedAt is set from it). An empty
// ID gets a new uuid.
func (s *Store) PutBookmark(ctx context.Context, b *store.Bookmark) error {
	if b.ID == "" {
		b.ID = newID()
	}
	if b.Kind == "" {
		b.Kind = store.BookmarkKindBookmark
	}
	t := now()
	if b.CreatedAt.IsZero() {
		b.CreatedAt = t
	}
	b.CreatedAt, b.UpdatedAt = norm(b.CreatedAt), t
	tags, err := jsonText(b.Tags, "[]")
	if err != nil {
		return fmt.Errorf("put %s %s: tags: %w", b.Kind, b.ID, err)
	}
	err = s.q.QueryRowContext(ctx, `INSERT INTO bookmarks (`+bookmarkCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (user_id, kind, id) DO UPDATE SET name = excluded.name, command = excluded.command,
			geometry = excluded.geometry, tags = excluded.tags, updated_at = excluded.updated_at
		RETURNING created_at`,
		b.ID, b.UserID, b.Kind, b.Name, b.Command, b.Geometry, tags, tv(b.CreatedAt), tv(b.UpdatedAt)).
		Scan(timeCol{&b.CreatedAt})
	return s.fail(err, fmt.Sprintf("put %s %s", b.Kind, b.ID), fmt.Sprintf("user %d", b.UserID))
}

// ListBookmarks returns the user's entries of kind ("" = all kinds), most
// recently updated first.
func (s *Store) ListBookmarks(ctx context.Context, userID int64, kind string) ([]store.Bookmark, error) {
	if kind == "" {
		return list(ctx, s, fmt.Sprintf("list bookmarks of user %d", userID), scanBookmark,
			`SELECT `+bookmarkCols+` FROM bookmarks WHERE user_id = $1 ORDER BY updated_at DESC, kind, id`, userID)
	}
	return list(ctx, s, fmt.Sprintf("list %s of user %d", kind, userID), scanBookmark,
		`SELECT `+bookmarkCols+` FROM bookmarks WHERE user_id = $1 AND kind = $2 ORDER BY updated_at DESC, id`, userID, kind)
}

func (s *Store) DeleteBookmark(ctx context.Context, userID int64, kind, id string) error {
	return s.execOne(ctx, fmt.Sprintf("%s %s of user %d", kind, id, userID), "",
		`DELETE FROM bookmarks WHERE user_id = $1 AND kind = $2 AND id = $3`, userID, kind, id)
}

// ---- shares -----------------------------------------------------------------

const shareCols = `id, session_id, key_hash, perms, timeout, created_by, created_at`

func scanShare(r scanner) (store.Share, error) {
	var v store.Share
	err := r.Scan(&v.ID, &v.SessionID, &v.KeyHash, jsonListCol{&v.Perms}, &v.Timeout, intCol{&v.CreatedBy}, timeCol{&v.CreatedAt})
	return v, err
}

// newShareID is a share's public handle: 48 random bits, hex.
func newShareID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (s *Store) CreateShare(ctx context.Context, v *store.Share) error {
	if v.CreatedAt.IsZero() {
		v.CreatedAt = now()
	}
	v.CreatedAt = norm(v.CreatedAt)
	if v.ID == "" {
		v.ID = newShareID()
	}
	if len(v.KeyHash) == 0 {
		return fmt.Errorf("create share of session %s: no key hash", v.SessionID)
	}
	perms, err := jsonText(v.Perms, "[]")
	if err != nil {
		return fmt.Errorf("create share of session %s: perms: %w", v.SessionID, err)
	}
	parent := fmt.Sprintf("session %s", v.SessionID)
	if v.CreatedBy != 0 {
		parent += fmt.Sprintf(" or user %d", v.CreatedBy)
	}
	_, err = s.q.ExecContext(ctx, `INSERT INTO shares (`+shareCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		v.ID, v.SessionID, v.KeyHash, perms, v.Timeout, iv(v.CreatedBy), tv(v.CreatedAt))
	return s.fail(err, fmt.Sprintf("create share %s of session %s", v.ID, v.SessionID), parent)
}

func (s *Store) ListShares(ctx context.Context, sessionID string) ([]store.Share, error) {
	return list(ctx, s, fmt.Sprintf("list shares of session %s", sessionID), scanShare,
		`SELECT `+shareCols+` FROM shares WHERE session_id = $1 AND key_hash IS NOT NULL ORDER BY created_at, id`, sessionID)
}

func (s *Store) GetShare(ctx context.Context, sessionID string, keyHash []byte) (store.Share, error) {
	if len(keyHash) == 0 {
		return store.Share{}, fmt.Errorf("share of session %s: %w", sessionID, store.ErrNotFound)
	}
	return one(ctx, s, fmt.Sprintf("share of session %s", sessionID), scanShare,
		`SELECT `+shareCols+` FROM shares WHERE session_id = $1 AND key_hash = $2`, sessionID, keyHash)
}

func (s *Store) GetShareByID(ctx context.Context, id string) (store.Share, error) {
	return one(ctx, s, fmt.Sprintf("share %s", id), scanShare,
		`SELECT `+shareCols+` FROM shares WHERE id = $1 AND key_hash IS NOT NULL`, id)
}

func (s *Store) UpdateShare(ctx context.Context, v *store.Share) error {
	perms, err := jsonText(v.Perms, "[]")
	if err != nil {
		return fmt.Errorf("update share %s: perms: %w", v.ID, err)
	}
	return s.execOne(ctx, fmt.Sprintf("share %s of session %s", v.ID, v.SessionID), "",
		`UPDATE shares SET perms = $3, timeout = $4 WHERE session_id = $1 AND id = $2`,
		v.SessionID, v.ID, perms, v.Timeout)
}

func (s *Store) DeleteShare(ctx context.Context, sessionID, id string) error {
	return s.execOne(ctx, fmt.Sprintf("share %s of session %s", id, sessionID), "",
		`DELETE FROM shares WHERE session_id = $1 AND id = $2`, sessionID, id)
}

// BackfillShareKeys hashes the share keys that migration 3 could not hash in
// SQL (SQLite has no SHA-256) and clears their plaintext; it returns how many
// rows it converted. Backends call it from Open after migrating; it is
// idempotent and safe to run from several processes at once.
func (s *Store) BackfillShareKeys(ctx context.Context) (int, error) {
	type legacy struct{ id, key string }
	var rows []legacy
	r, err := s.q.QueryContext(ctx, `SELECT id, legacy_key FROM shares WHERE legacy_key IS NOT NULL`)
	if err != nil {
		return 0, s.fail(err, "list plaintext share keys", "")
	}
	for r.Next() {
		var l legacy
		if err := r.Scan(&l.id, &l.key); err != nil {
			r.Close()
			return 0, s.fail(err, "list plaintext share keys", "")
		}
		rows = append(rows, l)
	}
	r.Close()
	if err := r.Err(); err != nil {
		return 0, s.fail(err, "list plaintext share keys", "")
	}
	n := 0
	for _, l := range rows {
		h := sha256.Sum256([]byte(l.key))
		res, err := s.q.ExecContext(ctx, `UPDATE shares SET key_hash = $2, legacy_key = NULL WHERE id = $1 AND legacy_key IS NOT NULL`, l.id, h[:])
		if err != nil {
			return n, s.fail(err, "hash share key "+l.id, "")
		}
		if k, _ := res.RowsAffected(); k > 0 {
			n++
		}
	}
	return n, nil
}

func (s *Store) DeleteShares(ctx context.Context, sessionID string) (int, error) {
	return s.execN(ctx, fmt.Sprintf("delete shares of session %s", sessionID),
		`DELETE FROM shares WHERE session_id = $1`, sessionID)
}

// ---- audit log --------------------------------------------------------------

const auditCols = `id, at, user_id, actor, action, target, detail, remote_addr`

func scanAudit(r scanner) (store.AuditEntry, error) {
	var e store.AuditEntry
	err := r.Scan(&e.ID, timeCol{&e.At}, intCol{&e.UserID}, &e.Actor, &e.Action, &e.Target, &e.Detail, &e.RemoteAddr)
	return e, err
}

func (s *Store) AppendAudit(ctx context.Context, e *store.AuditEntry) error {
	if e.At.IsZero() {
		e.At = now()
	}
	e.At = norm(e.At)
	err := s.q.QueryRowContext(ctx, `INSERT INTO audit_log (at, user_id, actor, action, target, detail, remote_addr)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
		tv(e.At), iv(e.UserID), e.Actor, e.Action, e.Target, e.Detail, e.RemoteAddr).Scan(&e.ID)
	return s.fail(err, fmt.Sprintf("append audit %q", e.Action), "")
}

// ListAudit returns entries newest first (by At, then by insertion order).
func (s *Store) ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditEntry, error) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.UserID != 0 {
		where = append(where, `user_id = `+arg(f.UserID))
	}
	if f.Login != "" {
		n := arg(f.Login)
		where = append(where, `(actor = `+n+` OR target = `+n+`)`)
	}
	if !f.Since.IsZero() {
		where = append(where, `at >= `+arg(tv(norm(f.Since))))
	}
	if !f.Until.IsZero() {
		where = append(where, `at < `+arg(tv(norm(f.Until))))
	}
	if f.Before != 0 {
		// Newest first is (at DESC, id DESC): the next page is what sorts after the entry Before.
		n := arg(f.Before)
		where = append(where, `(at < (SELECT at FROM audit_log WHERE id = `+n+`) OR at = (SELECT at FROM audit_log WHERE id = `+n+`) AND id < `+n+`)`)
	}
	q := `SELECT ` + auditCols + ` FROM audit_log`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	q += ` ORDER BY at DESC, id DESC`
	if f.Limit > 0 {
		q += ` LIMIT ` + arg(f.Limit)
	}
	return list(ctx, s, "list audit", scanAudit, q, args...)
}

package sqlstore

import (
	"context"
	"fmt"

	"github.com/deskhub/deskhub/internal/store"
)

// ---- instances --------------------------------------------------------------

const instanceCols = `id, server_id, name, owner_id, created_at`

func scanInstance(r scanner) (store.Instance, error) {
	var v store.Instance
	err := r.Scan(&v.ID, &v.ServerID, &v.Name, intCol{&v.OwnerID}, timeCol{&v.CreatedAt})
	return v, err
}

func instanceParent(v *store.Instance) string {
	if v.OwnerID == 0 {
		return fmt.Sprintf("server %d", v.ServerID)
	}
	return fmt.Sprintf("server %d or owner user %d", v.ServerID, v.OwnerID)
}

func (s *Store) CreateInstance(ctx context.Context, v *store.Instance) error {
	if v.CreatedAt.IsZero() {
		v.CreatedAt = now()
	}
	v.CreatedAt = norm(v.CreatedAt)
	err := s.q.QueryRowContext(ctx, `INSERT INTO instances (server_id, name, owner_id, created_at)
		VALUES ($1, $2, $3, $4) RETURNING id`,
		v.ServerID, v.Name, iv(v.OwnerID), tv(v.CreatedAt)).Scan(&v.ID)
	return s.fail(err, fmt.Sprintf("create instance %q on server %d", v.Name, v.ServerID), instanceParent(v))
}

// EnsureInstance inserts the row unless (serverID, name) exists (ON CONFLICT
// DO NOTHING, so concurrent callers never see a conflict), then reads it.
func (s *Store) EnsureInstance(ctx context.Context, serverID int64, name string) (store.Instance, error) {
	what := fmt.Sprintf("ensure instance %q on server %d", name, serverID)
	_, err := s.q.ExecContext(ctx, `INSERT INTO instances (server_id, name, owner_id, created_at)
		VALUES ($1, $2, NULL, $3) ON CONFLICT (server_id, name) DO NOTHING`,
		serverID, name, tv(now()))
	if err != nil {
		return store.Instance{}, s.fail(err, what, fmt.Sprintf("server %d", serverID))
	}
	return one(ctx, s, what, scanInstance,
		`SELECT `+instanceCols+` FROM instances WHERE server_id = $1 AND name = $2`, serverID, name)
}

func (s *Store) GetInstance(ctx context.Context, id int64) (store.Instance, error) {
	return one(ctx, s, fmt.Sprintf("instance %d", id), scanInstance,
		`SELECT `+instanceCols+` FROM instances WHERE id = $1`, id)
}

func (s *Store) GetInstanceByName(ctx context.Context, serverID int64, name string) (store.Instance, error) {
	return one(ctx, s, fmt.Sprintf("instance %q on server %d", name, serverID), scanInstance,
		`SELECT `+instanceCols+` FROM instances WHERE server_id = $1 AND name = $2`, serverID, name)
}

func (s *Store) ListInstances(ctx context.Context, serverID int64) ([]store.Instance, error) {
	if serverID == 0 {
		return list(ctx, s, "list instances", scanInstance, `SELECT `+instanceCols+` FROM instances ORDER BY id`)
	}
	return list(ctx, s, fmt.Sprintf("list instances on server %d", serverID), scanInstance,
		`SELECT `+instanceCols+` FROM instances WHERE server_id = $1 ORDER BY id`, serverID)
}

func (s *Store) ListInstancesByOwner(ctx context.Context, ownerID int64) ([]store.Instance, error) {
	return list(ctx, s, fmt.Sprintf("list instances of user %d", ownerID), scanInstance,
		`SELECT `+instanceCols+` FROM instances WHERE owner_id = $1 ORDER BY id`, ownerID)
}

func (s *Store) UpdateInstance(ctx context.Context, v *store.Instance) error {
	return s.execOne(ctx, fmt.Sprintf("update instance %d (%q)", v.ID, v.Name), fmt.Sprintf("owner user %d", v.OwnerID),
		`UPDATE instances SET name = $2, owner_id = $3 WHERE id = $1`, v.ID, v.Name, iv(v.OwnerID))
}

func (s *Store) DeleteInstance(ctx context.Context, id int64) error {
	return s.execOne(ctx, fmt.Sprintf("instance %d", id), "", `DELETE FROM instances WHERE id = $1`, id)
}

// ---- operations -------------------------------------------------------------

const operationCols = `id, user_id, server_id, instance_id, instance_name, kind, action, request_id, status, error,
	lxd_operation, spec, created_at, updated_at, finished_at, reported_at`

func scanOperation(r scanner) (store.Operation, error) {
	var v store.Operation
	err := r.Scan(&v.ID, &v.UserID, intCol{&v.ServerID}, intCol{&v.InstanceID}, &v.InstanceName, &v.Kind, &v.Action,
		&v.RequestID, &v.Status, &v.Error, &v.LXDOperation, &v.Spec, timeCol{&v.CreatedAt}, timeCol{&v.UpdatedAt},
		timeCol{&v.FinishedAt}, timeCol{&v.ReportedAt})
	return v, err
}

func operationParent(v *store.Operation) string {
	if v.ServerID == 0 {
		return fmt.Sprintf("user %d", v.UserID)
	}
	return fmt.Sprintf("user %d or server %d", v.UserID, v.ServerID)
}

func (s *Store) CreateOperation(ctx context.Context, v *store.Operation) error {
	if v.ID == "" {
		v.ID = newID()
	}
	if v.Status == "" {
		v.Status = store.OperationPending
	}
	if v.CreatedAt.IsZero() {
		v.CreatedAt = now()
	}
	if v.UpdatedAt.IsZero() {
		v.UpdatedAt = v.CreatedAt
	}
	v.CreatedAt, v.UpdatedAt, v.FinishedAt, v.ReportedAt = norm(v.CreatedAt), norm(v.UpdatedAt), norm(v.FinishedAt), norm(v.ReportedAt)
	_, err := s.q.ExecContext(ctx, `INSERT INTO operations (`+operationCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
		v.ID, v.UserID, iv(v.ServerID), iv(v.InstanceID), v.InstanceName, v.Kind, v.Action, v.RequestID, v.Status,
		v.Error, v.LXDOperation, v.Spec, tv(v.CreatedAt), tv(v.UpdatedAt), tv(v.FinishedAt), tv(v.ReportedAt))
	return s.fail(err, fmt.Sprintf("create %s operation %s", v.Kind, v.ID), operationParent(v))
}

func (s *Store) GetOperation(ctx context.Context, id string) (store.Operation, error) {
	return one(ctx, s, fmt.Sprintf("operation %s", id), scanOperation,
		`SELECT `+operationCols+` FROM operations WHERE id = $1`, id)
}

func (s *Store) UpdateOperation(ctx context.Context, v *store.Operation) error {
	if v.UpdatedAt.IsZero() {
		v.UpdatedAt = now()
	}
	v.UpdatedAt, v.FinishedAt, v.ReportedAt = norm(v.UpdatedAt), norm(v.FinishedAt), norm(v.ReportedAt)
	parent := ""
	if v.ServerID != 0 {
		parent = fmt.Sprintf("server %d", v.ServerID)
	}
	return s.execOne(ctx, fmt.Sprintf("operation %s", v.ID), parent,
		`UPDATE operations SET server_id = $2, instance_id = $3, instance_name = $4, action = $5, request_id = $6,
			status = $7, error = $8, lxd_operation = $9, spec = $10, updated_at = $11, finished_at = $12,
			reported_at = $13
		 WHERE id = $1`,
		v.ID, iv(v.ServerID), iv(v.InstanceID), v.InstanceName, v.Action, v.RequestID, v.Status, v.Error,
		v.LXDOperation, v.Spec, tv(v.UpdatedAt), tv(v.FinishedAt), tv(v.ReportedAt))
}

// ListOperations returns the matching operations, oldest first (by
// CreatedAt, then by id).
func (s *Store) ListOperations(ctx context.Context, f store.OperationFilter) ([]store.Operation, error) {
	q := `SELECT ` + operationCols + ` FROM operations WHERE 1 = 1`
	var args []any
	if f.UserID != 0 {
		args = append(args, f.UserID)
		q += fmt.Sprintf(` AND user_id = $%d`, len(args))
	}
	if len(f.States) > 0 {
		q += ` AND status IN (` + placeholders(len(args)+1, len(f.States)) + `)`
		for _, st := range f.States {
			args = append(args, st)
		}
	}
	if f.Unreported {
		q += ` AND finished_at IS NOT NULL AND reported_at IS NULL`
	}
	q += ` ORDER BY created_at, id`
	return list(ctx, s, "list operations", scanOperation, q, args...)
}

// ---- settings ---------------------------------------------------------------

func (s *Store) GetSetting(ctx context.Context, name string) (string, error) {
	var v string
	err := s.q.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = $1`, name).Scan(&v)
	if err != nil {
		return "", s.fail(err, fmt.Sprintf("setting %q", name), "")
	}
	return v, nil
}

func (s *Store) PutSetting(ctx context.Context, name, value string) error {
	_, err := s.q.ExecContext(ctx, `INSERT INTO settings (name, value, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
		name, value, tv(now()))
	return s.fail(err, fmt.Sprintf("put setting %q", name), "")
}

// CreateSetting inserts with ON CONFLICT DO NOTHING and reports a row not
// inserted as ErrConflict, so a losing racer does not abort an enclosing
// PostgreSQL transaction.
func (s *Store) CreateSetting(ctx context.Context, name, value string) error {
	what := fmt.Sprintf("create setting %q", name)
	n, err := s.execN(ctx, what, `INSERT INTO settings (name, value, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO NOTHING`, name, value, tv(now()))
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%s: %w (already set)", what, store.ErrConflict)
	}
	return nil
}

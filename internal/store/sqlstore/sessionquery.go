package sqlstore

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/deskhub/deskhub/internal/store"
)

// Session lists done by the database: SessionQuery's conditions, order and page become one SQL
// statement. Column names come from the whitelist below, never from the caller; every value is a
// placeholder argument. Session parameters are kept, beside the JSON column, one row per parameter in
// session_params (name, value, and the value as a number when it is one), so that a parameter can be
// matched and sorted on through an index.

// textCols and intCols map SessionQuery columns to SQL columns.
var (
	textCols = map[string]string{
		store.ColLogin: "sessions.login", store.ColName: "sessions.name", store.ColCommand: "sessions.command",
		store.ColDisplay: "sessions.display", store.ColGeometry: "sessions.geometry", store.ColHostname: "sessions.hostname",
		store.ColID: "sessions.id", store.ColWindowMode: "sessions.window_mode", store.ColState: "sessions.state",
	}
	intCols = map[string]string{store.ColAppPID: "sessions.app_pid", store.ColServerPID: "sessions.server_pid",
		store.ColServerID: "sessions.server_id"}
)

// startedExpr is the session object's "started": the start time, else the scheduled time.
const startedExpr = `COALESCE(sessions.started_at, sessions.scheduled_at)`

// bytewise is the collation clause that orders text byte by byte (SQLite's BINARY is the default).
func (s *Store) bytewise() string {
	if s.cfg.Backend == "postgres" {
		return ` COLLATE "C"`
	}
	return ""
}

// nullsFirst orders by expr with NULL before any value (after, when reversed): SQLite's own order
// of NULL; PostgreSQL's the other way round.
func (s *Store) nullsFirst(expr string, reverse bool) string {
	switch {
	case s.cfg.Backend != "postgres" && reverse:
		return expr + ` DESC`
	case s.cfg.Backend != "postgres":
		return expr
	case reverse:
		return expr + ` DESC NULLS LAST`
	}
	return expr + ` NULLS FIRST`
}

// baseOrder is ListSessions' order: started ones first in start order, then the others; by id.
func (s *Store) baseOrder(desc string) string {
	return `(sessions.started_at IS NULL)` + desc + `, sessions.started_at` + desc + `, sessions.id` + s.bytewise() + desc
}

// ParamNumber is a parameter value as session_params keeps it for sorting: the number when the
// value is one (strconv.ParseFloat, not NaN), else NULL.
func ParamNumber(v string) any {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) {
		return nil
	}
	return f
}

// QuerySessions implements store.Store.
func (s *Store) QuerySessions(ctx context.Context, q store.SessionQuery) ([]store.Session, error) {
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	var where []string
	if q.UserID != 0 {
		where = append(where, `sessions.user_id = `+arg(q.UserID))
	}
	if q.ServerID != 0 {
		where = append(where, `sessions.server_id = `+arg(q.ServerID))
	}
	if len(q.States) > 0 {
		ph := make([]string, len(q.States))
		for i, st := range q.States {
			ph[i] = arg(st)
		}
		where = append(where, `sessions.state IN (`+strings.Join(ph, ", ")+`)`)
	}
	for i, m := range q.Match {
		f := m.Field
		switch {
		case f.Column == "":
			if len(m.Values) == 0 {
				return nil, fmt.Errorf("query sessions: match %d on parameter %q has no values", i, f.Param)
			}
			c := `EXISTS (SELECT 1 FROM session_params p WHERE p.session_id = sessions.id AND p.name = ` + arg(f.Param) + ` AND p.value IN (`
			for j, v := range m.Values {
				if j > 0 {
					c += ", "
				}
				c += arg(v)
			}
			where = append(where, c+`))`)
		case textCols[f.Column] != "":
			if len(m.Values) == 0 {
				return nil, fmt.Errorf("query sessions: match %d on %s has no values", i, f.Column)
			}
			ph := make([]string, len(m.Values))
			for j, v := range m.Values {
				ph[j] = arg(v)
			}
			where = append(where, textCols[f.Column]+` IN (`+strings.Join(ph, ", ")+`)`)
		case intCols[f.Column] != "":
			if len(m.Ints) == 0 {
				return nil, fmt.Errorf("query sessions: match %d on %s has no values", i, f.Column)
			}
			col := intCols[f.Column]
			var ph []string
			null := false
			for _, v := range m.Ints {
				if v == 0 && f.Column == store.ColServerID {
					null = true
					continue
				}
				ph = append(ph, arg(v))
			}
			var alt []string
			if null {
				alt = append(alt, col+` IS NULL`)
			}
			if len(ph) > 0 {
				alt = append(alt, col+` IN (`+strings.Join(ph, ", ")+`)`)
			}
			where = append(where, `(`+strings.Join(alt, " OR ")+`)`)
		default:
			return nil, fmt.Errorf("query sessions: cannot match on column %q", f.Column)
		}
	}

	desc := ""
	if q.Reverse {
		desc = " DESC"
	}
	from := `sessions`
	order := ""
	if f := q.SortBy; f != nil {
		switch {
		case f.Column == "":
			// LEFT JOIN: a session without the parameter sorts as an empty value. Numbers that are
			// equal tie (1e3 and 1000), whatever their text.
			from += ` LEFT JOIN session_params o ON o.session_id = sessions.id AND o.name = ` + arg(f.Param)
			order = `(CASE WHEN o.value IS NULL OR o.value = '' THEN 0 WHEN o.num IS NOT NULL THEN 1 ELSE 2 END)` + desc +
				`, o.num` + desc + `, (CASE WHEN o.num IS NULL THEN COALESCE(o.value, '') ELSE '' END)` + s.bytewise() + desc + `, `
		case textCols[f.Column] != "":
			order = textCols[f.Column] + s.bytewise() + desc + `, `
		case intCols[f.Column] != "" && f.Column != store.ColServerID:
			order = intCols[f.Column] + desc + `, `
		case f.Column == store.ColStarted:
			order = s.nullsFirst(startedExpr, q.Reverse) + `, `
		default:
			return nil, fmt.Errorf("query sessions: cannot sort on column %q", f.Column)
		}
	}
	cols := strings.ReplaceAll(sessionCols, "\n\t", " ")
	sel := `SELECT sessions.` + strings.ReplaceAll(cols, ", ", ", sessions.") + ` FROM ` + from
	if len(where) > 0 {
		sel += ` WHERE ` + strings.Join(where, ` AND `)
	}
	sel += ` ORDER BY ` + order + s.baseOrder(desc)
	if q.Limit >= 0 || q.Offset > 0 {
		limit := int64(math.MaxInt64)
		if q.Limit >= 0 {
			limit = int64(q.Limit)
		}
		sel += ` LIMIT ` + arg(limit) + ` OFFSET ` + arg(int64(q.Offset))
	}
	return listPrepared(ctx, s, "query sessions", scanSession, sel, args...)
}

// writeParams replaces the session_params rows of session id by params.
func (s *Store) writeParams(ctx context.Context, id string, params map[string]string, replace bool) error {
	if replace {
		if _, err := s.q.ExecContext(ctx, `DELETE FROM session_params WHERE session_id = $1`, id); err != nil {
			return err
		}
	}
	for k, v := range params {
		if _, err := s.q.ExecContext(ctx, `INSERT INTO session_params (session_id, name, value, num) VALUES ($1, $2, $3, $4)
			ON CONFLICT (session_id, name) DO NOTHING`, id, k, v, ParamNumber(v)); err != nil {
			return err
		}
	}
	return nil
}

// BackfillSessionParams fills session_params for the sessions stored before it existed (migration
// 5) and returns how many sessions it filled. Backends call it from Open; it is idempotent and safe
// to run from several processes at once.
func (s *Store) BackfillSessionParams(ctx context.Context) (int, error) {
	type todo struct {
		id     string
		params map[string]string
	}
	var rows []todo
	r, err := s.q.QueryContext(ctx, `SELECT id, params FROM sessions
		WHERE params NOT IN ('', '{}', 'null') AND NOT EXISTS (SELECT 1 FROM session_params p WHERE p.session_id = sessions.id)`)
	if err != nil {
		return 0, s.fail(err, "list session parameters to index", "")
	}
	for r.Next() {
		var t todo
		if err := r.Scan(&t.id, jsonMapCol{&t.params}); err != nil {
			r.Close()
			return 0, s.fail(err, "list session parameters to index", "")
		}
		if len(t.params) > 0 {
			rows = append(rows, t)
		}
	}
	r.Close()
	if err := r.Err(); err != nil {
		return 0, s.fail(err, "list session parameters to index", "")
	}
	for _, t := range rows {
		if err := s.InTx(ctx, func(tx store.Store) error {
			return tx.(*Store).writeParams(ctx, t.id, t.params, false)
		}); err != nil {
			return 0, s.fail(err, "index parameters of session "+t.id, "")
		}
	}
	return len(rows), nil
}

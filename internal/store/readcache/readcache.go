// Package readcache keeps the answers of the store's most frequent reads — the session lists
// (QuerySessions: session/list, system/session/list), the bookmark list (ListBookmarks) and the token
// check of every authenticated request (GetTokenUser) — for as long as the database has not changed.
//
// Validation, not expiry: every call first asks the store for its change version (store.Versioner:
// SQLite's PRAGMA data_version on a connection of its own, PostgreSQL's counter that a trigger bumps in
// the transaction of every write of these tables), then serves a kept answer only if it was read under
// that very version, else runs the read and keeps its answer under the version it asked first. Since a
// version moves once any write is committed, by this process or any other (the deskhub CLI locking an
// account or revoking a token, another broker replica), the next call after a commit reads the
// database again: nothing is ever served that a read at that moment would not answer. A version read
// that fails makes the call read the database, uncached.
//
// An answer is kept under exactly what the store was asked — the call and all its arguments (the
// user's id is among them: one user's answer can only be the answer to that user's query) — and only
// successful answers are kept. Versions only grow, so when a newer version is seen everything kept is
// dropped at once; between writes, the kept answers are bounded by MaxBytes (their estimated size),
// least recently used first out.
//
// Kept answers are shared between callers: the slices handed out are copies, but the maps and slices
// inside the rows (params, tags, hashes) are the kept ones and must not be modified.
package readcache

import (
	"container/list"
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/deskhub/deskhub/internal/store"
)

// Options tune a cache.
type Options struct {
	// MaxBytes bounds the estimated size of the kept answers; 0 or less: no cache (New returns the
	// store itself).
	MaxBytes int64
	// Registerer receives the metrics (nil: none).
	Registerer prometheus.Registerer
}

// Store is a store.Store whose QuerySessions, ListBookmarks and GetTokenUser are cached; every other
// method is the wrapped store's.
type Store struct {
	store.Store
	ver store.Versioner
	max int64

	mu    sync.Mutex
	cur   uint64 // the newest version seen; entries all belong to it
	lru   *list.List
	m     map[string]*list.Element
	bytes int64

	calls map[string]*counters
}

type entry struct {
	key  string
	val  any
	size int64
}

type counters struct{ hit, miss, bypass prometheus.Counter }

// Call names, as the metrics label them.
const (
	callSessions  = "sessions"
	callBookmarks = "bookmarks"
	callToken     = "token"
)

// New returns st with the cache in front, or st itself when MaxBytes is not positive or st has no
// change version.
func New(st store.Store, o Options) store.Store {
	v, ok := st.(store.Versioner)
	if !ok || o.MaxBytes <= 0 {
		return st
	}
	c := &Store{Store: st, ver: v, max: o.MaxBytes, lru: list.New(), m: map[string]*list.Element{}, calls: map[string]*counters{}}
	lookups := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "deskhub", Subsystem: "store_cache", Name: "lookups_total",
		Help: "Cached store reads by call (sessions, bookmarks, token) and result: hit (served from the cache), " +
			"miss (read from the database and kept), bypass (the change version could not be read: read uncached).",
	}, []string{"call", "result"})
	for _, call := range []string{callSessions, callBookmarks, callToken} {
		c.calls[call] = &counters{lookups.WithLabelValues(call, "hit"), lookups.WithLabelValues(call, "miss"),
			lookups.WithLabelValues(call, "bypass")}
	}
	if o.Registerer != nil {
		o.Registerer.MustRegister(lookups,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "deskhub", Subsystem: "store_cache", Name: "bytes",
				Help: "Estimated size of the answers the store cache keeps."}, func() float64 {
				c.mu.Lock()
				defer c.mu.Unlock()
				return float64(c.bytes)
			}),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "deskhub", Subsystem: "store_cache", Name: "entries",
				Help: "Answers the store cache keeps."}, func() float64 {
				c.mu.Lock()
				defer c.mu.Unlock()
				return float64(c.lru.Len())
			}))
	}
	return c
}

// ChangeVersion is the wrapped store's (store.Versioner): what is cached in front of this cache (the
// session service's encoded lists) is validated as this cache is.
func (c *Store) ChangeVersion(ctx context.Context) (uint64, error) { return c.ver.ChangeVersion(ctx) }

// cached answers key from the cache when it was kept under the current version, else loads it.
func cached[T any](ctx context.Context, c *Store, call, key string, size func(T) int64, load func() (T, error), clone func(T) T) (T, error) {
	n := c.calls[call]
	v, err := c.ver.ChangeVersion(ctx)
	if err != nil {
		n.bypass.Inc()
		return load()
	}
	if val, ok := c.get(key, v); ok {
		n.hit.Inc()
		return clone(val.(T)), nil
	}
	n.miss.Inc()
	val, err := load()
	if err == nil {
		c.put(key, v, val, size(val))
	}
	return val, err
}

// get returns the answer kept for key if it belongs to version v; a newer v drops everything kept.
func (c *Store) get(key string, v uint64) (any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v > c.cur {
		c.cur = v
		c.lru.Init()
		clear(c.m)
		c.bytes = 0
		return nil, false
	}
	if v < c.cur {
		return nil, false // read before a newer version was seen: the answer may be stale already
	}
	el := c.m[key]
	if el == nil {
		return nil, false
	}
	c.lru.MoveToFront(el)
	return el.Value.(*entry).val, true
}

// put keeps an answer read after version v was asked, if v is still the newest seen.
func (c *Store) put(key string, v uint64, val any, size int64) {
	size += int64(len(key)) + 100 // the entry, its list element and map slot
	if size > c.max/4 {
		return // one answer may not crowd out everything else
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if v != c.cur {
		return
	}
	if el := c.m[key]; el != nil { // a concurrent miss kept it first: same version, same answer
		c.lru.MoveToFront(el)
		return
	}
	c.m[key] = c.lru.PushFront(&entry{key: key, val: val, size: size})
	c.bytes += size
	for c.bytes > c.max {
		el := c.lru.Back()
		e := el.Value.(*entry)
		c.lru.Remove(el)
		delete(c.m, e.key)
		c.bytes -= e.size
	}
}

// QuerySessions is the store's, cached under the whole query.
func (c *Store) QuerySessions(ctx context.Context, q store.SessionQuery) ([]store.Session, error) {
	k, err := json.Marshal(q) // every member, in a fixed order; strings quoted
	if err != nil {
		return c.Store.QuerySessions(ctx, q)
	}
	return cached(ctx, c, callSessions, "s"+string(k), sessionsSize,
		func() ([]store.Session, error) { return c.Store.QuerySessions(ctx, q) }, slices.Clone)
}

// ListBookmarks is the store's, cached under the user and the kind.
func (c *Store) ListBookmarks(ctx context.Context, userID int64, kind string) ([]store.Bookmark, error) {
	return cached(ctx, c, callBookmarks, "b"+strconv.FormatInt(userID, 10)+"\x00"+kind, bookmarksSize,
		func() ([]store.Bookmark, error) { return c.Store.ListBookmarks(ctx, userID, kind) }, slices.Clone)
}

type tokenUser struct {
	tok store.Token
	u   store.User
}

// GetTokenUser is the store's, cached under the token's hash.
func (c *Store) GetTokenUser(ctx context.Context, hash []byte) (store.Token, store.User, error) {
	tu, err := cached(ctx, c, callToken, "t"+string(hash), tokenUserSize,
		func() (tokenUser, error) {
			t, u, err := c.Store.GetTokenUser(ctx, hash)
			return tokenUser{t, u}, err
		}, func(tu tokenUser) tokenUser { return tu })
	return tu.tok, tu.u, err
}

func sessionsSize(rows []store.Session) int64 {
	n := int64(cap(rows)) * 300 // the struct and the params map
	for _, r := range rows {
		n += int64(len(r.ID) + len(r.Login) + len(r.Name) + len(r.Command) + len(r.Display) + len(r.Geometry) +
			len(r.WindowMode) + len(r.State) + len(r.Hostname) + len(r.Runtime))
		for k, v := range r.Params {
			n += int64(len(k)+len(v)) + 64
		}
	}
	return n
}

func bookmarksSize(rows []store.Bookmark) int64 {
	n := int64(cap(rows)) * 150
	for _, r := range rows {
		n += int64(len(r.ID) + len(r.Kind) + len(r.Name) + len(r.Command) + len(r.Geometry))
		for _, t := range r.Tags {
			n += int64(len(t)) + 16
		}
	}
	return n
}

func tokenUserSize(tu tokenUser) int64 {
	return 400 + int64(len(tu.tok.Name)+len(tu.tok.Type)+len(tu.tok.Hash)+len(tu.u.Login)+len(tu.u.Email)+
		len(tu.u.Name)+len(tu.u.PasswordHash)+len(tu.u.Provider))
}

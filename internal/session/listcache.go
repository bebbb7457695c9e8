package session

import (
	"context"
	"encoding/json"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"github.com/deskhub/deskhub/api/fastx"
	"github.com/deskhub/deskhub/internal/account"
	"github.com/deskhub/deskhub/internal/provider"
	"github.com/deskhub/deskhub/internal/store"
)

// The encoded answers of session/list and system/session/list (ListJSON) are kept for as long as
// nothing they are made of has changed. A session object is made of its database row and of two live
// facts: its display client count (the relay's) and whether it is frozen (the provider's). Each has a
// number that moves with every change — the store's change version (store.Versioner: any committed
// write, by any process), display.Relay.Changes and provider.Freezer.FreezeChanges — and an answer is
// served only while all three read what they read before it was made. The three numbers are read
// before the list is, so a change while an answer is made leaves it under numbers that are already
// old: it is never served.
//
// Numbers only grow: a call that reads newer ones drops everything kept; a call that reads older ones
// (it raced a newer call) builds its answer without keeping it. Answers are kept per caller (the user's
// id: one user's list is never another's) and per options; an answer larger than a quarter of the bound
// is not kept, and when the kept answers would pass the bound they are all dropped first. Calls that
// ask the same thing under the same numbers while it is being made wait for it, rather than all making
// it at once.

// listStamp is what an answer was made under.
type listStamp struct{ store, clients, frozen uint64 }

// compare says whether a is b (0), newer in some number and older in none (1), or older in some (-1).
func (a listStamp) compare(b listStamp) int {
	if a == b {
		return 0
	}
	if a.store < b.store || a.clients < b.clients || a.frozen < b.frozen {
		return -1
	}
	return 1
}

type listCache struct {
	ver    store.Versioner
	max    int64
	flight singleflight.Group

	mu    sync.Mutex
	stamp listStamp
	m     map[string][]byte
	bytes int64

	hit, miss, bypass prometheus.Counter
}

func newListCache(st store.Store, max int64, reg prometheus.Registerer) *listCache {
	v, ok := st.(store.Versioner)
	if !ok || max <= 0 {
		return nil
	}
	lookups := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "deskhub", Subsystem: "session_list_cache", Name: "lookups_total",
		Help: "session/list and system/session/list answers by result: hit (the encoded answer was kept), miss " +
			"(made and kept), bypass (made, not kept: the change numbers could not be read or were older than the cache's).",
	}, []string{"result"})
	if reg != nil {
		reg.MustRegister(lookups)
	}
	return &listCache{ver: v, max: max, m: map[string][]byte{}, hit: lookups.WithLabelValues("hit"),
		miss: lookups.WithLabelValues("miss"), bypass: lookups.WithLabelValues("bypass")}
}

// get returns the answer kept for key under st; a newer st drops everything kept. keep tells whether
// an answer made under st may be kept.
func (c *listCache) get(st listStamp, key string) (b []byte, ok, keep bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch st.compare(c.stamp) {
	case 0:
		b, ok = c.m[key]
		return b, ok, true
	case 1:
		c.stamp = st
		clear(c.m)
		c.bytes = 0
		return nil, false, true
	}
	return nil, false, false
}

func (c *listCache) put(st listStamp, key string, b []byte) {
	size := int64(len(b) + len(key))
	if size > c.max/4 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if st != c.stamp {
		return
	}
	if c.bytes+size > c.max {
		clear(c.m)
		c.bytes = 0
	}
	if old, ok := c.m[key]; ok {
		c.bytes -= int64(len(old) + len(key))
	}
	c.m[key] = b
	c.bytes += size
}

// listKey is what a list answer depends on besides the stamp: whose sessions, and the options.
func listKey(c account.Caller, o ListOptions) string {
	b := make([]byte, 0, 64)
	if o.AllUsers {
		b = append(b, 'A')
	} else {
		b = strconv.AppendInt(append(b, 'U'), c.UserID, 10)
	}
	b = strconv.AppendInt(append(b, ' '), int64(o.Start), 10)
	if o.Limit != nil {
		b = strconv.AppendInt(append(b, ' '), int64(*o.Limit), 10)
	} else {
		b = append(b, " -"...)
	}
	b = strconv.AppendBool(append(b, ' '), o.SortReverse)
	for _, s := range append([]string{o.SortBy}, o.Filter...) { // length-prefixed: any text is one value
		b = strconv.AppendInt(append(b, ' '), int64(len(s)), 10)
		b = append(append(b, ':'), s...)
	}
	return string(b)
}

// stampNow reads the three change numbers (false: the store's could not be read).
func (s *Service) stampNow(ctx context.Context) (listStamp, bool) {
	v, err := s.lists.ver.ChangeVersion(ctx)
	if err != nil {
		return listStamp{}, false
	}
	st := listStamp{store: v}
	if s.o.Relay != nil {
		st.clients = s.o.Relay.Changes()
	}
	if f, ok := s.prov.(provider.Freezer); ok {
		st.frozen = f.FreezeChanges()
	}
	return st, true
}

// ListJSON is List's answer as JSON, byte for byte what json.Marshal writes for it, from the kept
// answers when nothing it is made of has changed (see above). The bytes are shared: do not modify them.
func (s *Service) ListJSON(ctx context.Context, c account.Caller, o ListOptions) ([]byte, error) {
	build := func(ctx context.Context) ([]byte, error) {
		objs, err := s.List(ctx, c, o)
		if err != nil {
			return nil, err
		}
		if b, ok := fastx.AppendSessionsJSON(nil, objs); ok {
			return b, nil
		}
		return json.Marshal(objs)
	}
	lc := s.lists
	if lc == nil {
		return build(ctx)
	}
	st, ok := s.stampNow(ctx)
	if !ok {
		lc.bypass.Inc()
		return build(ctx)
	}
	key := listKey(c, o)
	b, ok, keep := lc.get(st, key)
	switch {
	case ok:
		lc.hit.Inc()
		return b, nil
	case !keep:
		lc.bypass.Inc()
		return build(ctx)
	}
	lc.miss.Inc()
	fk := strconv.FormatUint(st.store, 10) + "/" + strconv.FormatUint(st.clients, 10) + "/" +
		strconv.FormatUint(st.frozen, 10) + "/" + key
	v, err, _ := lc.flight.Do(fk, func() (any, error) {
		// Made for every caller waiting: one caller's cancelled request does not fail the others.
		b, err := build(context.WithoutCancel(ctx))
		if err == nil {
			lc.put(st, key, b)
		}
		return b, err
	})
	if err != nil {
		return nil, err
	}
	return v.([]byte), nil
}

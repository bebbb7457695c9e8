package session

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/deskhub/deskhub/api/fastx"
	"github.com/deskhub/deskhub/internal/display"
	"github.com/deskhub/deskhub/internal/httpapi"
	"github.com/deskhub/deskhub/internal/mail"
	"github.com/deskhub/deskhub/internal/store"
)

// Bookmarks, shares, scheduled starts and the system views.

const (
	kindBookmark = "bookmark"
	kindHistory  = "history"
)

func bookmarkOut(b store.Bookmark) fastx.Bookmark {
	tags := b.Tags
	if tags == nil {
		tags = []string{}
	}
	return fastx.Bookmark{ID: b.ID, Command: b.Command, Name: b.Name, Geometry: b.Geometry, Tags: tags}
}

// Bookmarks answers suggestions, the user's bookmarks and their history.
func (s *Service) Bookmarks(ctx context.Context, c Caller) (fastx.BookmarkList, error) {
	out := fastx.BookmarkList{Suggestions: append([]fastx.Bookmark{}, s.o.Suggestions...), Bookmarks: []fastx.Bookmark{}, History: []fastx.Bookmark{}}
	for _, kind := range []string{kindBookmark, kindHistory} {
		rows, err := s.st.ListBookmarks(ctx, c.UserID, kind)
		if err != nil {
			return out, err
		}
		for _, r := range rows {
			if kind == kindBookmark {
				out.Bookmarks = append(out.Bookmarks, bookmarkOut(r))
			} else {
				out.History = append(out.History, bookmarkOut(r))
			}
		}
	}
	return out, nil
}

// EditBookmark creates or replaces one of the user's bookmarks.
func (s *Service) EditBookmark(ctx context.Context, c Caller, b fastx.Bookmark) (fastx.BookmarkList, error) {
	if !idRE.MatchString(b.ID) {
		return fastx.BookmarkList{}, httpapi.BadRequest("id", "member \"id\" must be 1 to 64 letters, digits, '_', '.' or '-'")
	}
	if _, err := SplitCommand(b.Command); err != nil {
		return fastx.BookmarkList{}, httpapi.BadRequest("command", "member \"command\" %v", err)
	}
	if b.Geometry != "" {
		if _, _, _, err := s.geometry(b.Geometry); err != nil {
			return fastx.BookmarkList{}, err
		}
	}
	row := store.Bookmark{ID: b.ID, UserID: c.UserID, Kind: kindBookmark, Name: b.Name, Command: b.Command,
		Geometry: b.Geometry, Tags: b.Tags}
	if err := s.st.PutBookmark(ctx, &row); err != nil {
		return fastx.BookmarkList{}, err
	}
	return s.Bookmarks(ctx, c)
}

// DeleteBookmark removes a user bookmark or a history entry.
func (s *Service) DeleteBookmark(ctx context.Context, c Caller, id string) (fastx.BookmarkList, error) {
	err := s.st.DeleteBookmark(ctx, c.UserID, kindBookmark, id)
	if errors.Is(err, store.ErrNotFound) {
		err = s.st.DeleteBookmark(ctx, c.UserID, kindHistory, id)
	}
	if errors.Is(err, store.ErrNotFound) {
		return fastx.BookmarkList{}, httpapi.NotFound("no bookmark %q", id)
	} else if err != nil {
		return fastx.BookmarkList{}, err
	}
	return s.Bookmarks(ctx, c)
}

// findBookmark looks a bookmark up in the user's bookmarks, history, then the suggestions.
func (s *Service) findBookmark(ctx context.Context, c Caller, id string) (fastx.Bookmark, error) {
	list, err := s.Bookmarks(ctx, c)
	if err != nil {
		return fastx.Bookmark{}, err
	}
	for _, group := range [][]fastx.Bookmark{list.Bookmarks, list.History, list.Suggestions} {
		for _, b := range group {
			if b.ID == id {
				return b, nil
			}
		}
	}
	return fastx.Bookmark{}, httpapi.NotFound("no bookmark %q", id)
}

// StartBookmark starts a session from a bookmark.
func (s *Service) StartBookmark(ctx context.Context, c Caller, id string) (fastx.Connect, error) {
	b, err := s.findBookmark(ctx, c, id)
	if err != nil {
		return fastx.Connect{}, err
	}
	return s.Start(ctx, c, StartSpec{Command: b.Command, Geometry: b.Geometry, Name: b.Name, Params: fastx.Params{"shortcut": b.ID}})
}

// Shortcut connects to the running session started from bookmark id, or starts one.
func (s *Service) Shortcut(ctx context.Context, c Caller, id string) (fastx.Connect, error) {
	rows, err := s.st.ListSessions(ctx, store.SessionFilter{UserID: c.UserID, States: []string{StateRunning}})
	if err != nil {
		return fastx.Connect{}, err
	}
	for _, r := range rows {
		if r.Params["shortcut"] == id {
			return s.connect(r, display.Grant{SessionID: r.ID, UserID: c.UserID, Label: c.Login}), nil
		}
	}
	return s.StartBookmark(ctx, c, id)
}

// Schedule records a start at a given time (at once when it is past).
func (s *Service) Schedule(ctx context.Context, c Caller, sp StartSpec, at time.Time) (fastx.Schedule, error) {
	row, err := s.prepare(ctx, c, sp)
	if err != nil {
		return fastx.Schedule{}, err
	}
	row.State = StateScheduled
	row.ScheduledAt = at.UTC()
	if err := s.st.CreateSession(ctx, &row); errors.Is(err, store.ErrConflict) {
		return fastx.Schedule{}, httpapi.Errorf(http.StatusConflict, "a session with id %q exists already", row.ID)
	} else if err != nil {
		return fastx.Schedule{}, err
	}
	s.arm(row)
	geom := row.Geometry
	if row.WindowMode == fastx.WindowModeRootless {
		geom = fastx.Rootless
	}
	return fastx.Schedule{ID: row.ID, At: row.ScheduledAt, Command: row.Command, Geometry: geom, Name: row.Name, Params: row.Params}, nil
}

// arm sets the timer of a scheduled session.
func (s *Service) arm(row store.Session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.timers[row.ID] = time.AfterFunc(max(0, time.Until(row.ScheduledAt)), func() {
		s.mu.Lock()
		delete(s.timers, row.ID)
		s.mu.Unlock()
		ctx := context.Background()
		cur, err := s.st.GetSession(ctx, row.ID)
		if err != nil || cur.State != StateScheduled {
			return
		}
		u, err := s.st.GetUser(ctx, cur.UserID)
		if err != nil {
			s.markEnded(ctx, row.ID, "owner gone")
			return
		}
		c := Caller{UserID: u.ID, Login: u.Login, Admin: u.Admin, Provider: u.Provider}
		if err := s.launch(ctx, c, &cur); err != nil {
			s.log.Warn("scheduled session did not start", "session", row.ID, "error", err)
		}
	})
}

// Share permissions.
const (
	PermViewer  = "viewer"
	PermGranter = "granter"
)

func shareOut(sh store.Share) fastx.ShareKey {
	perms := sh.Perms
	if perms == nil {
		perms = []string{}
	}
	return fastx.ShareKey{ID: sh.SessionID, Key: sh.Key, Perms: perms, Timeout: sh.Timeout}
}

// Shares lists a session's share keys.
func (s *Service) Shares(ctx context.Context, c Caller, id string) ([]fastx.ShareKey, error) {
	if _, err := s.own(ctx, c, id); err != nil {
		return nil, err
	}
	return s.shareList(ctx, id)
}

func (s *Service) shareList(ctx context.Context, id string) ([]fastx.ShareKey, error) {
	rows, err := s.st.ListShares(ctx, id)
	if err != nil {
		return nil, err
	}
	out := make([]fastx.ShareKey, 0, len(rows))
	for _, r := range rows {
		out = append(out, shareOut(r))
	}
	return out, nil
}

func newShareKey() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// EditShare creates (key "") or updates a share key. The owner may do anything; the holder of a
// granter key of the session (grantKey) may only create viewer keys.
func (s *Service) EditShare(ctx context.Context, c Caller, id, key string, perms []string, grantKey string) ([]fastx.ShareKey, error) {
	row, err := s.st.GetSession(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNoSession(id)
	} else if err != nil {
		return nil, err
	}
	owner := row.UserID == c.UserID || c.Admin
	if !owner {
		g, err := s.st.GetShare(ctx, id, grantKey)
		if grantKey == "" || err != nil || !slices.Contains(g.Perms, PermGranter) {
			return nil, errNoSession(id)
		}
		if key != "" || len(perms) != 1 || perms[0] != PermViewer {
			return nil, httpapi.Errorf(http.StatusForbidden, "a granter may only create new keys with perms [\"viewer\"]")
		}
	}
	if row.State != StateRunning {
		return nil, httpapi.Errorf(http.StatusConflict, "session %q is %s", id, describeState(row.State))
	}
	if key == "" {
		sh := store.Share{SessionID: id, Key: newShareKey(), Perms: perms, Timeout: s.o.ShareTimeout, CreatedBy: c.UserID}
		if err := s.st.CreateShare(ctx, &sh); err != nil {
			return nil, err
		}
	} else {
		sh, err := s.st.GetShare(ctx, id, key)
		if errors.Is(err, store.ErrNotFound) {
			return nil, httpapi.NotFound("no share key %q on session %q", key, id)
		} else if err != nil {
			return nil, err
		}
		sh.Perms = perms
		if err := s.st.UpdateShare(ctx, &sh); err != nil {
			return nil, err
		}
		// A key that lost control (or became view-only) takes its connections with it.
		s.o.Relay.DisconnectWhere(id, func(g display.Grant) bool { return g.Label == "share:"+key })
	}
	return s.shareList(ctx, id)
}

// DeleteShare removes a key and disconnects its guests.
func (s *Service) DeleteShare(ctx context.Context, c Caller, id, key string) ([]fastx.ShareKey, error) {
	if _, err := s.own(ctx, c, id); err != nil {
		return nil, err
	}
	if err := s.st.DeleteShare(ctx, id, key); errors.Is(err, store.ErrNotFound) {
		return nil, httpapi.NotFound("no share key %q on session %q", key, id)
	} else if err != nil {
		return nil, err
	}
	s.o.Relay.DisconnectWhere(id, func(g display.Grant) bool { return g.Label == "share:"+key })
	return s.shareList(ctx, id)
}

// ResetShares deletes the keys holding any of perms (all keys when empty) and disconnects their guests.
func (s *Service) ResetShares(ctx context.Context, c Caller, id string, perms []string) ([]fastx.ShareKey, error) {
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
			if err := s.st.DeleteShare(ctx, id, r.Key); err != nil && !errors.Is(err, store.ErrNotFound) {
				return nil, err
			}
			gone["share:"+r.Key] = true
		}
	}
	s.o.Relay.DisconnectWhere(id, func(g display.Grant) bool { return gone[g.Label] })
	return s.shareList(ctx, id)
}

// SharePerms answers the permissions of a share key of a running session (404 otherwise).
func (s *Service) SharePerms(ctx context.Context, id, key string) ([]string, error) {
	if key == "" {
		return nil, errNoSession(id)
	}
	sh, err := s.st.GetShare(ctx, id, key)
	if err != nil {
		return nil, errNoSession(id)
	}
	row, err := s.st.GetSession(ctx, id)
	if err != nil || row.State != StateRunning {
		return nil, errNoSession(id)
	}
	return sh.Perms, nil
}

// ShareConnect answers a connect object to a guest holding a share key; a key with "viewer" gives a
// view-only connection.
func (s *Service) ShareConnect(ctx context.Context, id, key string) (fastx.Connect, error) {
	sh, err := s.st.GetShare(ctx, id, key)
	if err != nil {
		return fastx.Connect{}, httpapi.NotFound("no share key %q on session %q", key, id)
	}
	row, err := s.st.GetSession(ctx, id)
	if err != nil || row.State != StateRunning {
		return fastx.Connect{}, httpapi.NotFound("no share key %q on session %q", key, id)
	}
	return s.connect(row, display.Grant{SessionID: id, ViewOnly: slices.Contains(sh.Perms, PermViewer), Label: "share:" + key}), nil
}

// EmailShare makes a key and mails its link.
func (s *Service) EmailShare(ctx context.Context, c Caller, m mail.Sender, baseURL, id string, perms []string, to string) ([]fastx.ShareKey, error) {
	if len(perms) == 0 {
		perms = []string{PermViewer}
	}
	before, err := s.Shares(ctx, c, id)
	if err != nil {
		return nil, err
	}
	list, err := s.EditShare(ctx, c, id, "", perms, "")
	if err != nil {
		return nil, err
	}
	var key string
	for _, k := range list {
		if !slices.ContainsFunc(before, func(b fastx.ShareKey) bool { return b.Key == k.Key }) {
			key = k.Key
		}
	}
	msg := mail.Message{To: to, Subject: c.Login + " shares a deskhub desktop with you",
		Body: c.Login + " invites you to " + strings.Join(perms, " and ") + " their desktop:\n\n" +
			baseURL + "/#session=" + id + "&key=" + key + "\n"}
	if err := m.Send(ctx, msg); err != nil {
		_ = s.st.DeleteShare(ctx, id, key)
		return nil, &httpapi.Error{Status: http.StatusBadGateway, Msg: "the invitation could not be mailed", Err: err}
	}
	return list, nil
}

// Profile answers the session policy of the caller.
func (s *Service) Profile(ctx context.Context, c Caller) (fastx.SessionProfile, error) {
	n, err := s.Count(ctx, c)
	return fastx.SessionProfile{Login: c.Login, MaxSessions: s.o.MaxPerUser, Sessions: n, DefaultGeometry: s.o.DefaultGeometry,
		MaxWidth: fastx.MaxGeometry, MaxHeight: fastx.MaxGeometry, Sharing: true, Servers: []string{s.o.ServerID}}, err
}

// CountAll counts every user's running sessions that match the filters.
func (s *Service) CountAll(ctx context.Context, c Caller, filter []string) (int, error) {
	list, err := s.List(ctx, c, ListOptions{AllUsers: true, Filter: filter})
	return len(list), err
}

// Servers answers this host's figures.
func (s *Service) Servers(ctx context.Context) ([]fastx.ServerInfo, error) {
	rows, err := s.st.ListSessions(ctx, store.SessionFilter{States: []string{StateStarting, StateRunning}})
	if err != nil {
		return nil, err
	}
	info := fastx.ServerInfo{ID: s.o.ServerID, Hostname: s.o.Hostname, CPUs: runtime.NumCPU(), Sessions: len(rows),
		CPUModel: cpuModel()}
	var si syscall.Sysinfo_t
	if err := syscall.Sysinfo(&si); err == nil {
		unit := int64(si.Unit)
		info.TotalMemory = int64(si.Totalram) * unit
		info.Uptime = si.Uptime
		for i, l := range si.Loads {
			info.LoadAverage[i] = float64(l) / 65536
		}
	}
	info.FreeMemory = memAvailable(info.TotalMemory)
	return []fastx.ServerInfo{info}, nil
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// memAvailable reads MemAvailable (what a new desktop can really use), falling back to total.
func memAvailable(total int64) int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return total
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemAvailable:" {
			kb, _ := strconv.ParseInt(fields[1], 10, 64)
			return kb * 1024
		}
	}
	return total
}

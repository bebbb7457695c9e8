package session

import (
	"context"
	"errors"
	"github.com/deskhub/deskhub/internal/account"

	"github.com/deskhub/deskhub/api/fastx"
	"github.com/deskhub/deskhub/internal/fault"
	"github.com/deskhub/deskhub/internal/store"
)

// Bookmarks: the user's own, their history of started commands, and the global suggestions; starting
// a session from one.

// The kinds of the user's bookmarks, as stored.
const (
	kindBookmark = store.BookmarkKindBookmark
	kindHistory  = store.BookmarkKindHistory
)

// paramShortcut is the session parameter naming the bookmark a session was started from.
const paramShortcut = "shortcut"

// Bookmark is a command to start, with the name, geometry (WIDTHxHEIGHT or rootless) and tags it
// starts with: a user's bookmark as EditBookmark takes it, or a global suggestion (Options).
type Bookmark struct {
	ID, Command, Name, Geometry string
	Tags                        []string
}

// out is the bookmark as bookmark/list answers it.
func (b Bookmark) out() fastx.Bookmark {
	tags := b.Tags
	if tags == nil {
		tags = []string{}
	}
	return fastx.Bookmark{ID: b.ID, Command: b.Command, Name: b.Name, Geometry: b.Geometry, Tags: tags}
}

func bookmarkOut(b store.Bookmark) fastx.Bookmark {
	return Bookmark{ID: b.ID, Command: b.Command, Name: b.Name, Geometry: b.Geometry, Tags: b.Tags}.out()
}

// Bookmarks answers suggestions, the user's bookmarks and their history.
func (s *Service) Bookmarks(ctx context.Context, c account.Caller) (fastx.BookmarkList, error) {
	out := fastx.BookmarkList{Suggestions: make([]fastx.Bookmark, 0, len(s.o.Suggestions)), Bookmarks: []fastx.Bookmark{}, History: []fastx.Bookmark{}}
	for _, b := range s.o.Suggestions {
		out.Suggestions = append(out.Suggestions, b.out())
	}
	// One query for both kinds: most recently updated first, as each kind's own list is.
	rows, err := s.st.ListBookmarks(ctx, c.UserID, "")
	if err != nil {
		return out, err
	}
	for _, r := range rows {
		switch r.Kind {
		case kindBookmark:
			out.Bookmarks = append(out.Bookmarks, bookmarkOut(r))
		case kindHistory:
			out.History = append(out.History, bookmarkOut(r))
		}
	}
	return out, nil
}

// EditBookmark creates or replaces one of the user's bookmarks.
func (s *Service) EditBookmark(ctx context.Context, c account.Caller, b Bookmark) (fastx.BookmarkList, error) {
	if !idRE().MatchString(b.ID) {
		return fastx.BookmarkList{}, fault.Memberf("id", "must be 1 to 64 letters, digits, '_', '.' or '-'")
	}
	if _, err := SplitCommand(b.Command); err != nil {
		return fastx.BookmarkList{}, fault.Memberf("command", "%v", err)
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
func (s *Service) DeleteBookmark(ctx context.Context, c account.Caller, id string) (fastx.BookmarkList, error) {
	err := s.st.DeleteBookmark(ctx, c.UserID, kindBookmark, id)
	if errors.Is(err, store.ErrNotFound) {
		err = s.st.DeleteBookmark(ctx, c.UserID, kindHistory, id)
	}
	if errors.Is(err, store.ErrNotFound) {
		return fastx.BookmarkList{}, fault.NotFoundf("no bookmark %q", id)
	} else if err != nil {
		return fastx.BookmarkList{}, err
	}
	return s.Bookmarks(ctx, c)
}

// findBookmark looks a bookmark up in the user's bookmarks, history, then the suggestions.
func (s *Service) findBookmark(ctx context.Context, c account.Caller, id string) (fastx.Bookmark, error) {
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
	return fastx.Bookmark{}, fault.NotFoundf("no bookmark %q", id)
}

// StartBookmark starts a session from a bookmark.
func (s *Service) StartBookmark(ctx context.Context, c account.Caller, id string) (fastx.Connect, error) {
	b, err := s.findBookmark(ctx, c, id)
	if err != nil {
		return fastx.Connect{}, err
	}
	return s.Start(ctx, c, StartSpec{Command: b.Command, Geometry: b.Geometry, Name: b.Name, Params: map[string]string{paramShortcut: b.ID}})
}

// Shortcut connects to the running session started from bookmark id, or starts one.
func (s *Service) Shortcut(ctx context.Context, c account.Caller, id string) (fastx.Connect, error) {
	rows, err := s.st.ListSessions(ctx, store.SessionFilter{UserID: c.UserID, States: []string{StateRunning}})
	if err != nil {
		return fastx.Connect{}, err
	}
	for _, r := range rows {
		if r.Params[paramShortcut] == id {
			return s.connect(r, grant(c, r.ID)), nil
		}
	}
	return s.StartBookmark(ctx, c, id)
}

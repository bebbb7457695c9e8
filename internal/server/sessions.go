package server

import (
	"errors"
	"github.com/deskhub/deskhub/internal/account"
	"net/http"

	"github.com/deskhub/deskhub/api/fastx"
	"github.com/deskhub/deskhub/internal/fault"
	"github.com/deskhub/deskhub/internal/httpapi"
	"github.com/deskhub/deskhub/internal/provider"
	"github.com/deskhub/deskhub/internal/revoke"
	"github.com/deskhub/deskhub/internal/session"
)

// The session surface's desktop calls (session/*, bookmark/*, share/*, /v3/system/*): each converts
// and calls the session service.

func (s *Server) caller(c *httpapi.Call) (account.Caller, error) {
	u, err := s.currentUser(c)
	if err != nil {
		return account.Caller{}, err
	}
	return account.CallerOf(u, c.Principal.TokenID, remoteAddr(c.R)), nil
}

// withCaller adapts a handler that needs the session caller.
func withCaller[Req, Resp any](s *Server, fn func(c *httpapi.Call, who account.Caller, r *Req) (Resp, error)) httpapi.Operation {
	return httpapi.Op(func(c *httpapi.Call, r *Req) (Resp, error) {
		who, err := s.caller(c)
		if err != nil {
			var zero Resp
			return zero, err
		}
		return fn(c, who, r)
	})
}

func (s *Server) sessionStart(c *httpapi.Call, who account.Caller, r *fastx.StartRequest) (fastx.Connect, error) {
	return s.sessions.Start(c.Ctx, who, session.StartSpec{ID: r.ID, Command: r.Command, Geometry: r.Geometry, Name: r.Name, Params: r.Params, ServerID: r.ServerID})
}

// encodedSessions is a []fastx.Session as JSON (session.Service.ListJSON), written as it is
// (httpapi.Encoded).
type encodedSessions []byte

func (e encodedSessions) EncodedJSON() []byte { return e }

func (s *Server) sessionList(c *httpapi.Call, who account.Caller, r *fastx.ListRequest) (encodedSessions, error) {
	return s.sessions.ListJSON(c.Ctx, who, session.ListOptions{Start: r.Start, Limit: r.Limit, SortBy: r.SortBy, SortReverse: r.SortReverse, Filter: r.Filter})
}

func (s *Server) systemSessionList(c *httpapi.Call, who account.Caller, r *fastx.ListRequest) (encodedSessions, error) {
	return s.sessions.ListJSON(c.Ctx, who, session.ListOptions{Start: r.Start, Limit: r.Limit, SortBy: r.SortBy, SortReverse: r.SortReverse, Filter: r.Filter, AllUsers: true})
}

func (s *Server) sessionCount(c *httpapi.Call, who account.Caller, _ *httpapi.Empty) (int, error) {
	return s.sessions.Count(c.Ctx, who)
}

func (s *Server) systemSessionCount(c *httpapi.Call, who account.Caller, r *fastx.SystemCountRequest) (int, error) {
	return s.sessions.CountAll(c.Ctx, who, r.Filter)
}

func (s *Server) sessionConnect(c *httpapi.Call, who account.Caller, r *fastx.ConnectRequest) (fastx.Connect, error) {
	return s.sessions.Connect(c.Ctx, who, r.ID, r.Params)
}

func (s *Server) sessionDisconnect(c *httpapi.Call, who account.Caller, r *fastx.SessionRef) (fastx.Null, error) {
	return fastx.Null{}, s.sessions.Disconnect(c.Ctx, who, r.ID)
}

func (s *Server) sessionTerminate(c *httpapi.Call, who account.Caller, r *fastx.SessionRef) (fastx.Null, error) {
	return fastx.Null{}, s.sessions.Terminate(c.Ctx, who, r.ID)
}

func (s *Server) sessionParams(c *httpapi.Call, who account.Caller, r *fastx.ParamsRequest) (fastx.Params, error) {
	return s.sessions.Params(c.Ctx, who, r.ID, r.Params)
}

func (s *Server) sessionLog(c *httpapi.Call, who account.Caller, r *fastx.SessionRef) (fastx.SessionLog, error) {
	return s.sessions.Log(c.Ctx, who, r.ID)
}

func (s *Server) sessionScreenshot(c *httpapi.Call, who account.Caller, r *fastx.ScreenshotRequest) (fastx.Screenshot, error) {
	w, h := r.Width, r.Height
	if r.Geometry != "" {
		var err error
		if w, h, _, err = fastx.ParseGeometry(r.Geometry); err != nil {
			return fastx.Screenshot{}, fault.Memberf("geometry", "%v", err)
		}
	}
	if w < 0 || h < 0 || w > fastx.MaxScreenshotSide || h > fastx.MaxScreenshotSide { // Validate checked; kept as a guard
		return fastx.Screenshot{}, httpapi.BadRequest("width", "width and height must be between 0 and %d", fastx.MaxScreenshotSide)
	}
	src, err := s.sessions.Screenshot(c.Ctx, who, r.ID, provider.ScreenshotOptions{Format: r.Format, Width: w, Height: h,
		KeepAspect: r.KeepAspect == nil || *r.KeepAspect != 0})
	return fastx.Screenshot{Src: src}, err
}

func (s *Server) sessionExec(c *httpapi.Call, who account.Caller, r *fastx.ExecRequest) (fastx.ExecResult, error) {
	pid, err := s.sessions.Exec(c.Ctx, who, r.ID, append([]string{r.Command}, r.Args...))
	return fastx.ExecResult{Pid: pid}, err
}

func (s *Server) sessionShortcut(c *httpapi.Call, who account.Caller, r *fastx.ShortcutRequest) (fastx.Connect, error) {
	return s.sessions.Shortcut(c.Ctx, who, r.ID)
}

func (s *Server) sessionStartBookmark(c *httpapi.Call, who account.Caller, r *fastx.BookmarkRef) (fastx.Connect, error) {
	return s.sessions.StartBookmark(c.Ctx, who, r.ID)
}

func (s *Server) sessionSchedule(c *httpapi.Call, who account.Caller, r *fastx.ScheduleRequest) (fastx.Schedule, error) {
	return s.sessions.Schedule(c.Ctx, who, session.StartSpec{Command: r.Command, Geometry: r.Geometry, Name: r.Name, Params: r.Params, ServerID: r.ServerID}, r.At)
}

func (s *Server) bookmarkList(c *httpapi.Call, who account.Caller, _ *httpapi.Empty) (fastx.BookmarkList, error) {
	return s.sessions.Bookmarks(c.Ctx, who)
}

func (s *Server) bookmarkEdit(c *httpapi.Call, who account.Caller, r *fastx.Bookmark) (fastx.BookmarkList, error) {
	return s.sessions.EditBookmark(c.Ctx, who, session.Bookmark{ID: r.ID, Command: r.Command, Name: r.Name, Geometry: r.Geometry, Tags: r.Tags})
}

func (s *Server) bookmarkDelete(c *httpapi.Call, who account.Caller, r *fastx.BookmarkRef) (fastx.BookmarkList, error) {
	return s.sessions.DeleteBookmark(c.Ctx, who, r.ID)
}

func (s *Server) shareList(c *httpapi.Call, who account.Caller, r *fastx.SessionRef) ([]fastx.ShareKey, error) {
	return s.sessions.Shares(c.Ctx, who, r.ID)
}

func (s *Server) shareConnect(c *httpapi.Call, r *fastx.ShareConnectRequest) (fastx.Connect, error) {
	return s.sessions.ShareConnect(c.Ctx, r.ID, r.Key)
}

// shareEdit: the owner edits any key; the holder of a granter key (header X-Share-Key) creates viewer
// keys.
func (s *Server) shareEdit(c *httpapi.Call, who account.Caller, r *fastx.ShareEditRequest) ([]fastx.ShareKey, error) {
	return s.sessions.EditShare(c.Ctx, who, r.ID, r.Key, r.Perms, c.R.Header.Get("X-Share-Key"))
}

func (s *Server) shareDelete(c *httpapi.Call, who account.Caller, r *fastx.ShareDeleteRequest) ([]fastx.ShareKey, error) {
	return s.sessions.DeleteShare(c.Ctx, who, r.ID, r.Key)
}

func (s *Server) shareReset(c *httpapi.Call, who account.Caller, r *fastx.ShareResetRequest) ([]fastx.ShareKey, error) {
	return s.sessions.ResetShares(c.Ctx, who, r.ID, r.Perms)
}

func (s *Server) shareEmail(c *httpapi.Call, who account.Caller, r *fastx.ShareEmailRequest) ([]fastx.ShareKey, error) {
	return s.sessions.EmailShare(c.Ctx, who, s.mailer, s.cfg.BaseURL(), r.ID, r.Perms, r.Email)
}

func (s *Server) systemProfile(c *httpapi.Call, who account.Caller, _ *httpapi.Empty) (fastx.SessionProfile, error) {
	return s.sessions.Profile(c.Ctx, who)
}

func (s *Server) systemServers(c *httpapi.Call, _ *httpapi.Empty) ([]fastx.ServerInfo, error) {
	return s.sessions.Servers(c.Ctx)
}

// displayWS is the websocket the browser opens with a connect object's one-time secret; it relays to
// the session's RFB server. The secret is refused if a credential it was issued through (token, share
// key, account) has gone since; the relay ends the connection when one goes later.
func (s *Server) displayWS(w http.ResponseWriter, r *http.Request) {
	g, err := s.secrets.Redeem(r.URL.Query().Get("secret"))
	if err == nil {
		if err = s.revoke.Check(r.Context(), g.Deps); err != nil && !errors.Is(err, revoke.ErrRevoked) {
			s.log.Warn("checking the credentials of a display secret", "session", g.SessionID, "error", err)
		}
	}
	if err != nil || g.SessionID != r.PathValue("id") {
		httpapi.WriteError(w, httpapi.Session, httpapi.Errorf(http.StatusUnauthorized,
			"the connect password is wrong, used or expired; call session/connect again"))
		return
	}
	s.relay.ServeWS(w, r, g)
}

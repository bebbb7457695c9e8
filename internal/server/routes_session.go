package server

import (
	"net/http"

	"github.com/deskhub/deskhub/api/fastx"
	"github.com/deskhub/deskhub/internal/httpapi"
)

// Planned labels of the session surface.
const (
	fastxPlanSessions = "issue 4: desktop sessions"
)

// sessionRoutes is the session surface (FastX v3 seed), in the seed's order. FastX takes GET and POST
// for every call.
func (s *Server) sessionRoutes() []httpapi.Route {
	type (
		none = httpapi.Empty
		null = fastx.Null
	)
	const (
		public = httpapi.Public
		user   = httpapi.User
		admin  = httpapi.Admin
	)
	return []httpapi.Route{
		// General
		fastxRoute("/v3/api", "general", public, "Get configuration information. This information does not require a log in",
			httpapi.Op(s.fastxConfig)),
		fastxRoute("/v3/api/config", "general", public, "Get configuration information (same as /v3/api)",
			httpapi.Op(s.fastxConfig)),
		fastxRoute("/v3/api/xrdp/config", "general", public, "Get the XRDP default settings: the display defaults new sessions get",
			httpapi.Op(s.xrdpConfig)),

		// User
		fastxRoute("/v3/api/user/login", "user", public, "Log in: start SSH authentication and get the first stage",
			httpapi.Op(s.v3Login)),
		fastxRoute("/v3/api/user/login/public-key", "user", public, "Send the public key to the server during authentication",
			httpapi.Op(s.v3LoginPublicKey)),
		fastxRoute("/v3/api/user/login/keyboard-interactive", "user", public, "Answer the prompt of the keyboard-interactive stage",
			httpapi.Op(s.v3LoginKeyboard)),
		fastxRoute("/v3/api/user/login/password", "user", public, "Answer the prompt of the password stage",
			httpapi.Op(s.v3LoginPassword)),
		fastxRoute("/v3/api/user/login/public-key/signed", "user", public, "Sign the data and send to the server during authentication",
			httpapi.Op(s.v3LoginSigned)),
		fastxRoute("/v3/api/user/profile", "user", user, "Get the user's profile",
			httpapi.Op(s.v3Profile)),
		fastxRoute("/v3/api/user/logout", "user", user, "Logs user out and deletes the token",
			httpapi.Op(s.v3Logout)),
		fastxRoute("/v3/api/user/admin", "user", user, "Returns a result if the user is an admin",
			httpapi.Op(s.v3Admin)),
		fastxRoute("/v3/api/user/keepalive", "user", user, "Sends a keepalive call to keep the user session open",
			httpapi.Op(s.v3Keepalive)),

		// Session
		fastxRoute("/v3/api/session/connect", "session", user, "Reconnect to an existing session",
			httpapi.Planned[fastx.ConnectRequest, fastx.Connect](fastxPlanSessions)),
		fastxRoute("/v3/api/session/disconnect", "session", user, "Disconnect all users from the session",
			httpapi.Planned[fastx.SessionRef, null](fastxPlanSessions)),
		fastxRoute("/v3/api/session/exec", "session", user, "Run a program in a running session's display",
			httpapi.Planned[fastx.ExecRequest, fastx.ExecResult](fastxPlanSessions)),
		fastxRoute("/v3/api/session/list", "session", user, "List the user's currently running sessions",
			httpapi.Planned[fastx.ListRequest, []fastx.Session](fastxPlanSessions)),
		fastxRoute("/v3/api/session/list/count", "session", user, "Return the number of user sessions",
			httpapi.Planned[none, int](fastxPlanSessions)),
		fastxRoute("/v3/api/session/log", "session", user, "View a session's log file",
			httpapi.Planned[fastx.SessionRef, fastx.SessionLog](fastxPlanSessions)),
		fastxRoute("/v3/api/session/params", "session", user, "Add custom parameters to the session",
			httpapi.Planned[fastx.ParamsRequest, fastx.Params](fastxPlanSessions)),
		fastxRoute("/v3/api/session/schedule", "session", user, "Schedule a new session to start at a given time",
			httpapi.Planned[fastx.ScheduleRequest, fastx.Schedule](fastxPlanSessions)),
		fastxRoute("/v3/api/session/screenshot", "session", user, "Take a screenshot of the running session",
			httpapi.Planned[fastx.ScreenshotRequest, fastx.Screenshot](fastxPlanSessions)),
		fastxRoute("/v3/api/session/shortcut", "session", user, "Connect to a session which has the shortcut parameter or start a new session if no session exists",
			httpapi.Planned[fastx.ShortcutRequest, fastx.Connect](fastxPlanSessions)),
		fastxRoute("/v3/api/session/start", "session", user, "Start a new session",
			httpapi.Planned[fastx.StartRequest, fastx.Connect](fastxPlanSessions)),
		fastxRoute("/v3/api/session/start/bookmark", "session", user, "Start a new session using a bookmark id",
			httpapi.Planned[fastx.BookmarkRef, fastx.Connect](fastxPlanSessions)),
		fastxRoute("/v3/api/session/terminate", "session", user, "Terminate a session",
			httpapi.Planned[fastx.SessionRef, null](fastxPlanSessions)),

		// Bookmark
		fastxRoute("/v3/api/bookmark/list", "bookmark", user, "List the bookmarks, history, and suggestions",
			httpapi.Planned[none, fastx.BookmarkList](fastxPlanSessions)),
		fastxRoute("/v3/api/bookmark/edit", "bookmark", user, "Create or edit a user defined bookmark",
			httpapi.Planned[fastx.Bookmark, fastx.BookmarkList](fastxPlanSessions)),
		fastxRoute("/v3/api/bookmark/delete", "bookmark", user, "Delete a user defined bookmark or a history object",
			httpapi.Planned[fastx.BookmarkRef, fastx.BookmarkList](fastxPlanSessions)),

		// Share
		fastxRoute("/v3/api/share/list", "share", user, "Get the sharing keys of the session",
			httpapi.Planned[fastx.SessionRef, []fastx.ShareKey](fastxPlanSessions)),
		fastxRoute("/v3/api/share/connect", "share", public, "Connect to a shared session with its share key",
			httpapi.Planned[fastx.ShareConnectRequest, fastx.Connect](fastxPlanSessions)),
		fastxRoute("/v3/api/share/edit", "share", user, "Edit a share key",
			httpapi.Planned[fastx.ShareEditRequest, []fastx.ShareKey](fastxPlanSessions)),
		fastxRoute("/v3/api/share/email", "share", user, "Create a share key and email its link",
			httpapi.Planned[fastx.ShareEmailRequest, []fastx.ShareKey](fastxPlanSessions)),
		fastxRoute("/v3/api/share/delete", "share", user, "Delete a sharing key",
			httpapi.Planned[fastx.ShareDeleteRequest, []fastx.ShareKey](fastxPlanSessions)),
		fastxRoute("/v3/api/share/reset", "share", user, "Delete the sharing keys of the session and disconnect all users",
			httpapi.Planned[fastx.ShareResetRequest, []fastx.ShareKey](fastxPlanSessions)),

		// System
		fastxRoute("/v3/system/session/profile", "system", user, "Get the session profile (limits and defaults) of the caller's sessions",
			httpapi.Planned[none, fastx.SessionProfile](fastxPlanSessions)),
		fastxRoute("/v3/system/session/count", "system", admin, "Return the number of sessions of all users",
			httpapi.Planned[fastx.SystemCountRequest, int](fastxPlanSessions)),
		fastxRoute("/v3/system/session/list", "system", admin, "List the sessions of all users",
			httpapi.Planned[fastx.ListRequest, []fastx.Session](fastxPlanSessions)),
		fastxRoute("/v3/system/server/list", "system", admin, "List the servers with their load and sessions",
			httpapi.Planned[none, []fastx.ServerInfo](fastxPlanSessions)),
	}
}

// fastxRoute is one session-surface route; the seed names it by its path.
func fastxRoute(path, tag string, access httpapi.Access, summary string, op httpapi.Operation) httpapi.Route {
	return httpapi.Route{
		Surface: httpapi.Session,
		Methods: []string{http.MethodGet, http.MethodPost},
		Path:    path,
		Summary: summary,
		Access:  access,
		Op:      op,
		Tag:     tag,
		Seed:    path,
	}
}

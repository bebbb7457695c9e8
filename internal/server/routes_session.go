package server

import (
	"net/http"

	"github.com/deskhub/deskhub/api/fastx"
	"github.com/deskhub/deskhub/internal/httpapi"
)

// sessionRoutes is the session surface (FastX v3 seed), in the seed's order. FastX takes GET and POST
// for every call.
func (s *Server) sessionRoutes() []httpapi.Route {
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
			withCaller(s, s.sessionConnect)),
		fastxRoute("/v3/api/session/disconnect", "session", user, "Disconnect all users from the session",
			withCaller(s, s.sessionDisconnect)),
		fastxRoute("/v3/api/session/exec", "session", user, "Run a program in a running session's display",
			withCaller(s, s.sessionExec)),
		fastxRoute("/v3/api/session/list", "session", user, "List the user's currently running sessions",
			httpapi.Documented[[]fastx.Session](withCaller(s, s.sessionList))),
		fastxRoute("/v3/api/session/list/count", "session", user, "Return the number of user sessions",
			withCaller(s, s.sessionCount)),
		fastxRoute("/v3/api/session/log", "session", user, "View a session's log file",
			withCaller(s, s.sessionLog)),
		fastxRoute("/v3/api/session/params", "session", user, "Add custom parameters to the session",
			withCaller(s, s.sessionParams)),
		fastxRoute("/v3/api/session/schedule", "session", user, "Schedule a new session to start at a given time",
			withCaller(s, s.sessionSchedule)),
		fastxRoute("/v3/api/session/screenshot", "session", user, "Take a screenshot of the running session",
			withCaller(s, s.sessionScreenshot)),
		fastxRoute("/v3/api/session/shortcut", "session", user, "Connect to a session which has the shortcut parameter or start a new session if no session exists",
			withCaller(s, s.sessionShortcut)),
		fastxRoute("/v3/api/session/start", "session", user, "Start a new session",
			withCaller(s, s.sessionStart)),
		fastxRoute("/v3/api/session/start/bookmark", "session", user, "Start a new session using a bookmark id",
			withCaller(s, s.sessionStartBookmark)),
		fastxRoute("/v3/api/session/terminate", "session", user, "Terminate a session",
			withCaller(s, s.sessionTerminate)),
		// deskhub's additions: the desktop-scoped tokens abcdesktop's browser code sends as
		// ABCAuthorization (the owner asks with a token, a share key's holder with the key).
		fastxExtra("/v3/api/session/token", "session", public, "Issue a desktop-scoped token of a session, for abcdesktop's calls (deskhub extension)",
			httpapi.Op(s.sessionToken)),
		fastxExtra("/v3/api/session/token/revoke", "session", user, "Revoke desktop-scoped tokens of a session (deskhub extension)",
			withCaller(s, s.sessionTokenRevoke)),

		// Bookmark
		fastxRoute("/v3/api/bookmark/list", "bookmark", user, "List the bookmarks, history, and suggestions",
			withCaller(s, s.bookmarkList)),
		fastxRoute("/v3/api/bookmark/edit", "bookmark", user, "Create or edit a user defined bookmark",
			withCaller(s, s.bookmarkEdit)),
		fastxRoute("/v3/api/bookmark/delete", "bookmark", user, "Delete a user defined bookmark or a history object",
			withCaller(s, s.bookmarkDelete)),

		// Share
		fastxRoute("/v3/api/share/list", "share", user, "Get the sharing keys of the session",
			withCaller(s, s.shareList)),
		fastxRoute("/v3/api/share/connect", "share", public, "Connect to a shared session with its share key",
			httpapi.Op(s.shareConnect)),
		fastxRoute("/v3/api/share/edit", "share", user, "Edit a share key",
			withCaller(s, s.shareEdit)),
		fastxRoute("/v3/api/share/email", "share", user, "Create a share key and email its link",
			withCaller(s, s.shareEmail)),
		fastxRoute("/v3/api/share/delete", "share", user, "Delete a sharing key",
			withCaller(s, s.shareDelete)),
		fastxRoute("/v3/api/share/reset", "share", user, "Delete the sharing keys of the session and disconnect all users",
			withCaller(s, s.shareReset)),

		// System
		fastxRoute("/v3/system/session/profile", "system", user, "Get the session profile (limits and defaults) of the caller's sessions",
			withCaller(s, s.systemProfile)),
		fastxRoute("/v3/system/session/count", "system", admin, "Return the number of sessions of all users",
			withCaller(s, s.systemSessionCount)),
		fastxRoute("/v3/system/session/list", "system", admin, "List the sessions of all users",
			httpapi.Documented[[]fastx.Session](withCaller(s, s.systemSessionList))),
		fastxRoute("/v3/system/server/list", "system", admin, "List the servers with their load and sessions",
			httpapi.Op(s.systemServers)),
	}
}

// fastxExtra is a session-surface route the seed does not have.
func fastxExtra(path, tag string, access httpapi.Access, summary string, op httpapi.Operation) httpapi.Route {
	r := fastxRoute(path, tag, access, summary, op)
	r.Seed = ""
	return r
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

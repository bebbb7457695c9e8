// Package fastx holds the wire types of deskhub's session surface, which speaks the FastX v3 API
// (contract/seeds/session-api.fastx-v3.txt): /v3/api/… and /v3/system/…. Every call takes GET (parameters
// in the query string) or POST (a JSON object); answers are {"result": …} or {"error": {"name",
// "message"}}. The types here are the inner results only; the envelope belongs to the server.
//
// Member names are the seed's, spelled as the seed spells them. Timestamps are RFC 3339 strings.
//
// Where the seed is silent (deskhub's choices, one line each):
//
//   - /v3/api/config: answers the same Config as /v3/api (the seed names the path only).
//   - /v3/api/xrdp/config: unspecified in the seed (path only, "we should change the way we get this");
//     answers XrdpConfig, the display defaults new sessions get: geometry, colorDepth, frameRate and
//     clipboard (both, to-client, to-server or none, as deskhub's display configuration has it).
//   - Login stages: the stage token travels like any token (Authorization: Bearer or X-FASTX-TOKEN), not
//     in the path as the seed's prose (/api/login/keyboard-interactive/:token) says.
//   - keyboard-interactive: LoginStage carries every prompt in prompts (and echo per prompt), prompt is the
//     first; answer takes one string or an array of strings, one per prompt, in order.
//   - Connect.url: added; the websocket the browser opens (through the broker) to reach the session's
//     screen with the one-time password; port is the broker's port, sessions never listen where users reach.
//   - Session.name and Session.state: added (name is the seed's name parameter; state: starting, running,
//     stopping, stopped).
//   - Session.frozen: added; true while the desktop is frozen for being idle (--freeze-idle). The state
//     stays running (the seed has no state; a frozen session is one a client connects to as to any
//     other), and session/connect thaws it.
//   - Session.lastConnect/lastDisconnect: null until the first connect/disconnect.
//   - Session.disconnectTimeout is in seconds; Session.videoRam in KiB.
//   - session/exec: {id, command, args} runs one more program in an existing session's display, as the
//     session's user, without a shell; answers {pid}.
//   - session/log: answers {id, log, size, truncated}: the tail (at most LogTailBytes) of the session log.
//   - session/list: limit absent means no limit (the seed's "Infinity" is not JSON); start and limit ≥ 0.
//   - session/schedule: {command, geometry, name, params, at} starts a session at time at (RFC 3339; a time
//     in the past starts it at once); answers the Schedule entry, whose id the session gets.
//   - share/email: {id, perms, email} makes a share key with perms (default ["viewer"]), mails its link to
//     email, and answers the share/list object like its siblings.
//   - Share perms: "viewer" sees only (the broker drops pointer and key events), "granter" may hand
//     control to other guests; a key without "viewer" controls the session.
//   - /v3/system/session/profile: the session policy the caller's sessions get (limits and defaults).
//   - /v3/system/session/count: number of sessions of every user, narrowed by optional list filters.
//   - /v3/system/session/list: session/list over every user's sessions (same parameters).
//   - /v3/system/server/list: one ServerInfo per server (cpus, cpuModel, free/total memory in bytes,
//     load average over 1, 5 and 15 minutes, session count, uptime in seconds).
//   - Results the seed gives as { "result": null } are the Null type.
package fastx

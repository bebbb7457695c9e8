// Package spawner holds the wire types of deskhub's desktop agent surface, which speaks the Spawner API
// (contract/seeds/agent-api.spawner-v1.md). The agent serves it at "/" inside each desktop and the broker
// proxies it at /spawner/{session_id}/…. Answers are {"code": status, "data": …}; the types here are the
// inner data only. endpoints.go types the surface's 22 endpoints once (Endpoint[Req, Resp]); the agent
// binds its handlers to them and the broker builds its proxy routes and OpenAPI entries from them.
// abcdesktop.go types the same agent as abcdesktop's browser code calls it (/spawner/<endpoint> with a
// desktop-scoped token; the answers of abcdesktop's spawner-service, docs/compat-agent.md) and its
// /broadcast messages.
//
// Where the seed is silent or wrong (deskhub's choices, one line each):
//
//   - getappforfile lists no parameters: it takes filename in the query, as getmimeforfile does.
//   - getmimeforfile answers {file, mime} (FileMatch); the seed's MIME schema is an empty object.
//   - setDesktop value is any JSON value (the seed says string); getDesktop answers it as stored.
//   - configurePulse keeps port a string as the seed has it; the agent (issue 5) validates destinationIp
//     as an IP literal and port as 1–65535 before loading module-rtp-send.
//   - launch answers {pid, command} (the seed's launch schema is an empty object).
//   - setAudioQuality and playAudioSample answer ProcessResult {exitCode, output} (seed: empty object).
//   - filesearch maxfile absent means 64; at most maxfile results.
//   - About's orchestrator members (POD_*, NODE_NAME, KUBERNETES_SERVICE_HOST) are omitted when empty,
//     which deskhub always leaves them.
//   - Version.date is null when the build does not know it.
package spawner

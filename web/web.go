// Package web holds deskhub's browser app, embedded in the binary.
//
// app/ is the web app (docs/WEB-APP.md): TypeScript and Preact sources in app/src, built by
// app/build.mjs (esbuild, from npm) into app/dist — app.js, app.css and index.html —, which is
// committed, so `go build` needs no Node; scripts/web-app-check.sh rebuilds it and fails when the
// committed build differs from the sources. The server serves app/dist/index.html at / and the assets
// under /app/. static/novnc holds noVNC's ES modules (scripts/web-build.sh vendors them), served under
// /static/ and imported by the app at run time.
package web

import (
	"embed"
	"io/fs"
)

//go:embed app/dist static
var files embed.FS

// FS holds app/dist (the built app) and static/ (noVNC).
var FS fs.FS = files

// Package web holds deskhub's browser pages, embedded in the binary. The pages call the API through
// one module, static/api.js: one call function per envelope (the session surface, the infrastructure
// surface's JSON:API, the agent surface) and the token each page keeps in sessionStorage.
//
// passkey.html has its script (a module importing static/api.js) and style inline; it talks to the
// infrastructure API (/api/v1). viewer.html, the home page, loads static/viewer.js and
// static/viewer.css and talks to the session API (/v3/api); it shows desktops with noVNC, whose ES
// modules scripts/web-build.sh vendors into static/novnc/. infra.html (served at /infra) loads
// static/infra.js and talks to the infrastructure API: servers, instances and the event stream.
package web

import (
	"embed"
	"io/fs"
)

//go:embed *.html static
var files embed.FS

// FS holds the pages at its root (passkey.html: add a passkey, log in with one; viewer.html: start,
// list and show desktops) and their assets under static/.
var FS fs.FS = files

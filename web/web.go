// Package web holds deskhub's browser pages, embedded in the binary. Each page is one HTML file with
// its script and style inline, and talks to the infrastructure API (/api/v1) with fetch.
package web

import (
	"embed"
	"io/fs"
)

//go:embed *.html
var files embed.FS

// FS holds the pages at its root (passkey.html: add a passkey, log in with one).
var FS fs.FS = files

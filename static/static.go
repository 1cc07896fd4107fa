// Package static holds Latchkey's front-end assets (stylesheet, behaviour
// script, images and vendored third-party JavaScript), embedded into the
// binary so a single executable serves the whole UI.
//
// The embedded tree is rooted at this directory, so paths look like
// "css/app.css", "js/app.js", "img/logo.svg", "vendor/htmx.min.js" and
// "vendor/htmx-ext-sse.js". Mount it under a prefix such as /static/ with
// http.FileServerFS(static.FS()) wrapped in http.StripPrefix.
//
// Layouts are expected to load, in order and with defer:
//
//	/static/vendor/htmx.min.js
//	/static/vendor/htmx-ext-sse.js   (only on pages that use SSE)
//	/static/js/app.js
//
// app.js contains no inline-script requirements, so it works under a strict
// Content-Security-Policy (script-src 'self').
//
// The end users' self-serve pages (views/pages/selfserve) are lighter: they
// load css/selfserve.css, htmx and js/selfserve.js only. manifest.webmanifest
// (with img/icon-*.png) makes them installable; the web layer serves it at
// /self-serve/manifest.webmanifest with the MSP's name.
//
// Vendored versions and checksums are recorded in vendor/VERSIONS.md.
package static

import (
	"embed"
	"io/fs"
)

//go:embed css js vendor img sw.js manifest.webmanifest
var files embed.FS

// FS returns the embedded static asset tree. It is read-only and safe for
// concurrent use.
func FS() fs.FS {
	return files
}

package web

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"sync"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/latchkey/latchkey/views"
)

// isHTMX reports whether the request came from htmx (and wants a partial).
func isHTMX(c echo.Context) bool {
	h := c.Request().Header
	return h.Get("HX-Request") == "true" && h.Get("HX-Boosted") != "true" && h.Get("HX-History-Restore-Request") != "true"
}

// htmlBuffers are writeHTML's buffers, reused: a page is tens of kilobytes
// (the end-user grid's about 60), and a buffer grown from nothing for each
// request was a good part of what the garbage collector had to do.
var htmlBuffers = sync.Pool{New: func() any { return bytes.NewBuffer(make([]byte, 0, 32<<10)) }}

// htmlBufferKeep is the largest buffer put back for reuse (an occasional
// huge page should not stay in memory).
const htmlBufferKeep = 1 << 20

// writeHTML renders comp into a buffer first, so that a rendering error
// becomes a clean error page rather than half a page.
func writeHTML(c echo.Context, status int, comp templ.Component, ctx context.Context) error {
	buf := htmlBuffers.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= htmlBufferKeep {
			buf.Reset()
			htmlBuffers.Put(buf)
		}
	}()
	if err := comp.Render(ctx, buf); err != nil {
		return err
	}
	h := c.Response().Header()
	h.Add("Vary", "HX-Request")
	h.Set(echo.HeaderContentLength, strconv.Itoa(buf.Len()))
	return c.HTMLBlob(status, buf.Bytes())
}

// render writes content inside the application layout, or alone for an htmx
// request.
func (s *Server) render(c echo.Context, status int, title string, content templ.Component) error {
	if isHTMX(c) {
		return writeHTML(c, status, content, c.Request().Context())
	}
	p := s.page(c, title)
	ctx := templ.WithChildren(c.Request().Context(), content)
	return writeHTML(c, status, views.Layout(p), ctx)
}

// renderAuth writes content inside the centred card layout (sign-in, setup).
func (s *Server) renderAuth(c echo.Context, status int, title string, content templ.Component) error {
	if isHTMX(c) {
		return writeHTML(c, status, content, c.Request().Context())
	}
	p := s.page(c, title)
	ctx := templ.WithChildren(c.Request().Context(), content)
	return writeHTML(c, status, views.AuthLayout(p), ctx)
}

// partial writes a component alone (htmx fragment endpoints).
func (s *Server) partial(c echo.Context, status int, comp templ.Component) error {
	return writeHTML(c, status, comp, c.Request().Context())
}

// noStore marks the response as showing a secret (code, token, password):
// not cached, no referrer, and kept out of htmx history.
func noStore(c echo.Context) {
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	c.Set(ctxNoHistory, true)
}

// page gathers the layout's data for this request.
func (s *Server) page(c echo.Context, title string) views.Page {
	p := views.Page{
		Title:              title,
		CSRF:               s.csrfToken(c),
		Path:               c.Request().URL.Path,
		EmailNotConfigured: !s.Config.SMTP.Enabled(),
	}
	if v, ok := c.Get(ctxNoHistory).(bool); ok && v {
		p.NoHistory = true
	}
	if t := currentTenant(c); t != nil {
		p.TenantName = t.Name
		p.HasLogo = t.HasLogo()
	} else if t := s.publicTenant(c); t != nil {
		p.TenantName = t.Name
		p.HasLogo = t.HasLogo()
	}
	if l := currentLogin(c); l != nil {
		p.User = &views.User{Name: l.Name(), Email: l.Email, Role: l.Role.Label(), IsAdmin: l.Role.IsAdmin()}
	}
	if f := s.popFlash(c); f != nil {
		p.Flash = f
	}
	return p
}

// flash stores a one-time message for the next page.
func (s *Server) flash(c echo.Context, level, msg string) {
	s.Sessions.Put(c.Request().Context(), "flash_level", level)
	s.Sessions.Put(c.Request().Context(), "flash", msg)
}

func (s *Server) popFlash(c echo.Context) *views.Flash {
	ctx := c.Request().Context()
	msg := s.Sessions.PopString(ctx, "flash")
	if msg == "" {
		return nil
	}
	return &views.Flash{Level: s.Sessions.PopString(ctx, "flash_level"), Message: msg}
}

// redirect sends the browser to url: HX-Redirect for htmx, 303 otherwise.
func redirect(c echo.Context, url string) error {
	if c.Request().Header.Get("HX-Request") == "true" {
		c.Response().Header().Set("HX-Redirect", url)
		return c.NoContent(http.StatusNoContent)
	}
	return c.Redirect(http.StatusSeeOther, url)
}

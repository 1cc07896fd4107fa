package web

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"
)

// TestRequestLogHidesLinkSecrets: the request log names the route of a
// set-password or welcome link, never the link's token; other paths are
// logged as they are.
func TestRequestLogHidesLinkSecrets(t *testing.T) {
	var logs strings.Builder
	s := &Server{Deps: Deps{Log: slog.New(slog.NewTextHandler(&logs, nil))}}
	e := echo.New()
	e.Use(s.requestLogger())
	notFound := func(c echo.Context) error { return c.String(http.StatusNotFound, "gone") }
	e.GET("/welcome/:token", notFound)
	e.POST("/password/:token", notFound)
	e.GET("/end-users/:id", notFound)

	const secret = "p7PkfnY227uFlySzphA3BvWvYN6jpRHknXldELxMY6s"
	for _, r := range []struct{ method, path, logged string }{
		{http.MethodGet, "/welcome/" + secret, "path=/welcome/[token]"},
		{http.MethodPost, "/password/" + secret, "path=/password/[token]"},
		{http.MethodGet, "/end-users/abc123", "path=/end-users/abc123"},
	} {
		logs.Reset()
		e.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(r.method, r.path, nil))
		require.Contains(t, logs.String(), r.logged)
		require.Contains(t, logs.String(), "status=404")
		require.NotContains(t, logs.String(), secret)
	}
}

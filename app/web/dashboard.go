package web

import (
	"net/http"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"
)

// dashboard is the signed-in home page.
func (s *Server) dashboard(c echo.Context) error {
	return s.render(c, http.StatusOK, "Dashboard", templ.Raw("<h1>Dashboard</h1>"))
}

package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/tenant"
)

// publicTenant returns the installation's tenant for pages shown before
// sign-in (its name and logo brand the sign-in card), or nil.
func (s *Server) publicTenant(c echo.Context) *tenant.Tenant {
	if t, ok := c.Get("latchkey.publictenant").(*tenant.Tenant); ok {
		return t
	}
	t := new(tenant.Tenant)
	err := s.DB.Bun.NewSelect().Model(t).Column("id", "name", "logo_type").
		ColumnExpr("CASE WHEN logo IS NULL THEN NULL ELSE ? END AS logo", []byte{1}).
		Order("created_at").Limit(1).Scan(c.Request().Context())
	if err != nil {
		return nil
	}
	c.Set("latchkey.publictenant", t)
	return t
}

// logo serves the tenant's logo (the signed-in tenant's, else the installation's).
func (s *Server) logo(c echo.Context) error {
	t := currentTenant(c)
	if t == nil {
		pt := s.publicTenant(c)
		if pt == nil {
			return apperr.New(apperr.NotFound, "No logo.")
		}
		full, err := tenant.Get(c.Request().Context(), s.DB.Bun, pt.ID)
		if err != nil {
			return err
		}
		t = full
	}
	if len(t.Logo) == 0 {
		return apperr.New(apperr.NotFound, "No logo.")
	}
	c.Response().Header().Set("Cache-Control", "private, max-age=300")
	return c.Blob(http.StatusOK, t.LogoType, t.Logo)
}

package web

import (
	"database/sql"
	"errors"
	"fmt"
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
		t = s.publicTenant(c)
	}
	if t == nil {
		return apperr.New(apperr.NotFound, "No logo.")
	}
	return s.serveLogo(c, t.ID, "private, max-age=300")
}

// serveLogo answers with tenant id's logo, read now (the request's tenant
// comes without the logo's bytes: tenant.WithoutLogo), or 404.
func (s *Server) serveLogo(c echo.Context, tenantID, cacheControl string) error {
	var logo struct {
		Bytes []byte `bun:"logo"`
		Type  string `bun:"logo_type"`
	}
	err := s.DB.Bun.NewSelect().Table("tenants").Column("logo", "logo_type").Where("id = ?", tenantID).
		Scan(c.Request().Context(), &logo.Bytes, &logo.Type)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && len(logo.Bytes) == 0) {
		return apperr.New(apperr.NotFound, "No logo.")
	}
	if err != nil {
		return fmt.Errorf("logo: %w", err)
	}
	c.Response().Header().Set("Cache-Control", cacheControl)
	return c.Blob(http.StatusOK, logo.Type, logo.Bytes)
}

package web

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/latchkey/latchkey/app/customer"
	"github.com/latchkey/latchkey/app/login"
	"github.com/latchkey/latchkey/app/tenant"
	dashboardv "github.com/latchkey/latchkey/views/pages/dashboard"
)

// greeting says hello by the time of day in the tenant's time zone.
func (s *Server) greeting(t *tenant.Tenant, l *login.Login) string {
	h := s.Now().In(t.Location()).Hour()
	part := "Good evening"
	switch {
	case h >= 5 && h < 12:
		part = "Good morning"
	case h >= 12 && h < 18:
		part = "Good afternoon"
	}
	return part + ", " + l.FirstName
}

// askAdmins names who a technician asks for an admin's step.
func (s *Server) askAdmins(c echo.Context, tenantID string) (string, error) {
	admins, err := login.Admins(c.Request().Context(), s.DB.Bun, tenantID)
	if err != nil {
		return "", err
	}
	names := make([]string, 0, len(admins))
	for _, a := range admins {
		names = append(names, a.Name())
	}
	switch len(names) {
	case 0:
		return "your Primary login", nil
	case 1:
		return names[0], nil
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1], nil
}

// dashboard is the signed-in home page: a greeting and the on-boarding
// checklist of the product's seven steps; admins also see their logins at a
// glance. Steps of later releases say what they wait for instead of linking.
func (s *Server) dashboard(c echo.Context) error {
	l, t := currentLogin(c), currentTenant(c)
	admin := l.Role.IsAdmin()

	// Step 2 is done once any login besides the Primary exists; a technician
	// looking at the page is one.
	var stats *dashboardv.Stats
	others := l.Role != login.RolePrimary
	if admin {
		all, err := s.Logins.List(c.Request().Context(), actor(c), login.ListFilter{})
		if err != nil {
			return err
		}
		stats = &dashboardv.Stats{}
		for _, x := range all {
			stats.Logins++
			switch x.Status {
			case login.StatusActive:
				stats.Active++
				if x.MFAEnabled() {
					stats.MFA++
				}
			case login.StatusInvited:
				stats.Invited++
			}
			if x.Role != login.RolePrimary {
				others = true
			}
		}
	}

	settings := dashboardv.Step{Key: "settings", Title: "Initial tenant settings",
		Text: "Your MSP's name, logo, contact details, time zone and notification hour.", Done: t.SettingsSaved()}
	logins := dashboardv.Step{Key: "technicians", Title: "Technician logins",
		Text: "A login for each technician, with the role that fits: Super, Technician or Help desk.", Done: others}
	if admin {
		settings.Href, settings.LinkText = "/settings", "Open Settings"
		logins.Href, logins.LinkText = "/logins", "Manage logins"
	} else {
		who, err := s.askAdmins(c, t.ID)
		if err != nil {
			return err
		}
		if !settings.Done {
			settings.Note = "Ask " + who + " to complete the settings."
		}
		logins.Note = "Logins are managed by " + who + "."
	}
	// Step 3 is done once the tenant has a customer (archived ones count:
	// the step was done). Every role may open the list.
	hasCustomers, err := customer.Exists(c.Request().Context(), s.DB.Bun, t.ID)
	if err != nil {
		return err
	}
	customers := dashboardv.Step{Key: "customers", Title: "Create or import customers",
		Text: "Each of your clients becomes a customer, created here (imports from IT Glue, Hudu, ConnectWise Manage or Autotask come later).",
		Done: hasCustomers, Href: "/customers", LinkText: "Open customers"}
	later := func(key, title, text, waits string) dashboardv.Step {
		return dashboardv.Step{Key: key, Title: title, Text: text, Note: waits}
	}
	p := dashboardv.Props{
		Greeting:   s.greeting(t, l),
		TenantName: t.DisplayName(),
		Stats:      stats,
		Steps: []dashboardv.Step{
			settings,
			logins,
			customers,
			later("directory", "Install the agent or link Microsoft 365",
				"The agent on a customer's domain controller, or a link to their Microsoft 365 tenant, lets Latchkey reach their accounts.",
				"Not available yet: this comes with directory connections, after customer management."),
			later("self-serve", "Set up self-serve",
				"Import end users and invite them to reset and unlock their own accounts from their phone.",
				"Not available yet: this needs customers and a directory connection first."),
			later("rotation", "Set up password rotation",
				"Rotate admin and service-account passwords on a schedule into the encrypted vault.",
				"Not available yet: this comes with password rotation in a later release."),
			later("verification", "Customer identity verification",
				"Prove who is on the phone with a code or a push before you touch an account.",
				"Not available yet: this comes with identity verification, once end users can be imported."),
		},
	}
	return s.render(c, http.StatusOK, "Dashboard", dashboardv.Page(p))
}

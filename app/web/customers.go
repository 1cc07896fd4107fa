package web

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/customer"
	customersv "github.com/latchkey/latchkey/views/pages/customers"
	dirv "github.com/latchkey/latchkey/views/pages/directory"
)

// customersHandler serves the customers of the signed-in tenant: the list
// (any role), the customer's page (any role), and creating, editing,
// archiving and deleting (Primary, Super and Technician; the routes and the
// service both check). A customer of another tenant is not found.
type customersHandler struct {
	s   *Server
	svc *customer.Service
}

func newCustomersHandler(s *Server) *customersHandler {
	return &customersHandler{s: s, svc: customer.NewService(s.DB, s.Now)}
}

// customerZones are the time zones of the form, grouped by region (the
// settings screen's list).
var customerZones = sync.OnceValue(func() []customersv.OptGroup {
	var out []customersv.OptGroup
	for _, g := range settingsChoices().zones {
		cg := customersv.OptGroup{Label: g.Label}
		for _, o := range g.Options {
			cg.Options = append(cg.Options, customersv.Option{Value: o.Value, Label: o.Label})
		}
		out = append(out, cg)
	}
	return out
})

// canManageCustomers reports whether the signed-in login may change customers.
func canManageCustomers(c echo.Context) bool {
	l := currentLogin(c)
	return l != nil && customer.CanManage(string(l.Role))
}

// customerDate shows t as a date in the tenant's time zone.
func customerDate(c echo.Context, t time.Time) string {
	loc := time.UTC
	if tn := currentTenant(c); tn != nil {
		loc = tn.Location()
	}
	return t.In(loc).Format("Jan 2, 2006")
}

// customerListFilter reads the list's URL state.
func customerListFilter(c echo.Context) customer.ListFilter {
	f := customer.ListFilter{
		Query:    strings.TrimSpace(c.QueryParam("q")),
		Sort:     c.QueryParam("sort"),
		Desc:     c.QueryParam("dir") == "desc",
		Archived: c.QueryParam("archived") == "1",
		PerPage:  customer.DefaultPerPage,
	}
	if len(f.Query) > customer.MaxName {
		f.Query = strings.ToValidUTF8(f.Query[:customer.MaxName], "")
	}
	if !validCustomerSort(f.Sort) {
		f.Sort = customer.SortName
	}
	if n, err := strconv.Atoi(c.QueryParam("page")); err == nil && n > 1 {
		f.Page = n
	} else {
		f.Page = 1
	}
	return f
}

func validCustomerSort(s string) bool {
	for _, k := range customer.SortKeys {
		if s == k {
			return true
		}
	}
	return false
}

func (h *customersHandler) showCustomers(c echo.Context) error {
	ctx := c.Request().Context()
	f := customerListFilter(c)
	rows, total, err := h.svc.List(ctx, actor(c), f)
	if err != nil {
		return err
	}
	pages := (total + f.PerPage - 1) / f.PerPage
	if len(rows) == 0 && total > 0 {
		// Past the last page (a stale link): show the last one.
		f.Page = pages
		if rows, total, err = h.svc.List(ctx, actor(c), f); err != nil {
			return err
		}
		pages = (total + f.PerPage - 1) / f.PerPage
	}
	p := customersv.ListProps{
		Query: f.Query, Sort: f.Sort, Desc: f.Desc, Archived: f.Archived,
		Page: f.Page, Pages: pages, Total: total, CanManage: canManageCustomers(c),
	}
	for _, r := range rows {
		p.Rows = append(p.Rows, customersv.Row{
			ID: r.ID, Name: r.Name, Domains: r.DomainList(), Source: customer.SourceLabel(r.Source),
			Created: customerDate(c, r.CreatedAt), Archived: r.Archived(), Counts: customerCounts(r.Counts),
		})
	}
	c.Response().Header().Add("Vary", "HX-Target")
	if isHTMX(c) && c.Request().Header.Get("HX-Target") == "customers-results" {
		return h.s.partial(c, http.StatusOK, customersv.Results(p))
	}
	title := "Customers"
	if f.Archived {
		title = "Archived customers"
	}
	return h.s.render(c, http.StatusOK, title, customersv.List(p))
}

func customerCounts(n customer.Counts) customersv.Counts {
	return customersv.Counts{EndUsers: n.EndUsers, SelfServe: n.SelfServe, Registered: n.Registered, Accessed: n.Accessed, Locked: n.Locked}
}

// load returns the customer of the URL in the signed-in tenant, with its
// counts (NotFound for anything else).
func (h *customersHandler) load(c echo.Context) (*customer.Row, error) {
	return h.svc.Get(c.Request().Context(), actor(c), c.Param("id"))
}

func (h *customersHandler) showCustomer(c echo.Context) error {
	r, err := h.load(c)
	if err != nil {
		return err
	}
	p := customersv.ShowProps{
		CSRF: h.s.csrfToken(c), ID: r.ID, Name: r.Name, Domains: r.DomainList(), Notes: r.Notes,
		Source: customer.SourceLabel(r.Source), Created: customerDate(c, r.CreatedAt), CanManage: canManageCustomers(c),
		TimeZone: h.zoneLabel(c, r.TimeZone), Counts: customerCounts(r.Counts),
	}
	if r.ArchivedAt != nil {
		p.Archived = customerDate(c, *r.ArchivedAt)
	} else {
		card, err := (&directoryHandler{h.s}).card(c, r.ID)
		if err != nil {
			return err
		}
		p.Directory = dirv.Card(card)
	}
	return h.s.render(c, http.StatusOK, r.Name, customersv.Show(p))
}

// zoneLabel names a customer's time zone, or the MSP's when it has none.
func (h *customersHandler) zoneLabel(c echo.Context, zone string) string {
	if zone != "" {
		return strings.ReplaceAll(zone, "_", " ")
	}
	return "Same as your MSP (" + h.tenantZone(c) + ")"
}

func (h *customersHandler) tenantZone(c echo.Context) string {
	if t := currentTenant(c); t != nil && t.TimeZone != "" {
		return strings.ReplaceAll(t.TimeZone, "_", " ")
	}
	return "UTC"
}

// form is the create or edit page with the given values.
func (h *customersHandler) form(c echo.Context, id, heading string, in customer.Input, errs map[string]string) customersv.FormProps {
	return customersv.FormProps{
		CSRF: h.s.csrfToken(c), ID: id, Heading: heading, Name: in.Name, Domains: in.Domains, TimeZone: in.TimeZone,
		Notes: in.Notes, TenantZone: h.tenantZone(c), Zones: customerZones(), Errors: errs,
	}
}

func customerInput(c echo.Context) customer.Input {
	return customer.Input{Name: c.FormValue("name"), Domains: c.FormValue("domains"), TimeZone: c.FormValue("time_zone"), Notes: c.FormValue("notes")}
}

func (h *customersHandler) showNew(c echo.Context) error {
	return h.s.render(c, http.StatusOK, "New customer", customersv.Form(h.form(c, "", "New customer", customer.Input{}, nil)))
}

func (h *customersHandler) create(c echo.Context) error {
	in := customerInput(c)
	cu, err := h.svc.Create(c.Request().Context(), actor(c), in)
	if apperr.CodeOf(err) == apperr.Invalid {
		return h.s.render(c, http.StatusUnprocessableEntity, "New customer",
			customersv.Form(h.form(c, "", "New customer", in, fieldsOrMessage(err, "name"))))
	}
	if err != nil {
		return err
	}
	h.s.flash(c, "ok", fmt.Sprintf("%s was created. Add its end users next.", cu.Name))
	return redirect(c, "/customers/"+cu.ID)
}

func (h *customersHandler) showEdit(c echo.Context) error {
	r, err := h.load(c)
	if err != nil {
		return err
	}
	in := customer.Input{Name: r.Name, Domains: strings.Join(r.DomainList(), ", "), TimeZone: r.TimeZone, Notes: r.Notes}
	return h.s.render(c, http.StatusOK, "Edit "+r.Name, customersv.Form(h.form(c, r.ID, "Edit "+r.Name, in, nil)))
}

func (h *customersHandler) save(c echo.Context) error {
	r, err := h.load(c)
	if err != nil {
		return err
	}
	in := customerInput(c)
	_, err = h.svc.Update(c.Request().Context(), actor(c), r.ID, in)
	if apperr.CodeOf(err) == apperr.Invalid {
		return h.s.render(c, http.StatusUnprocessableEntity, "Edit "+r.Name,
			customersv.Form(h.form(c, r.ID, "Edit "+r.Name, in, fieldsOrMessage(err, "name"))))
	}
	if err != nil {
		return err
	}
	h.s.flash(c, "ok", "Saved.")
	return redirect(c, "/customers/"+r.ID)
}

// action runs one of the buttons of a customer's page and returns to it (or
// to the list after a deletion) with a message. A refusal because of the
// customer's state (Conflict) comes back as a warning on the page.
func (h *customersHandler) action(c echo.Context, do func(c echo.Context, r *customer.Row) (string, error)) error {
	r, err := h.load(c)
	if err != nil {
		return err
	}
	msg, err := do(c, r)
	if apperr.CodeOf(err) == apperr.Conflict {
		h.s.flash(c, "warn", apperr.MessageOf(err))
		return redirect(c, "/customers/"+r.ID)
	}
	if err != nil {
		return err
	}
	h.s.flash(c, "ok", msg)
	if strings.HasSuffix(c.Path(), "/delete") {
		return redirect(c, "/customers")
	}
	return redirect(c, "/customers/"+r.ID)
}

func (h *customersHandler) archive(c echo.Context) error {
	return h.action(c, func(c echo.Context, r *customer.Row) (string, error) {
		return fmt.Sprintf("%s is archived: it and its end users are hidden from the lists.", r.Name),
			h.svc.Archive(c.Request().Context(), actor(c), r.ID)
	})
}

func (h *customersHandler) unarchive(c echo.Context) error {
	return h.action(c, func(c echo.Context, r *customer.Row) (string, error) {
		return fmt.Sprintf("%s is back in the lists.", r.Name), h.svc.Unarchive(c.Request().Context(), actor(c), r.ID)
	})
}

func (h *customersHandler) deleteCustomer(c echo.Context) error {
	return h.action(c, func(c echo.Context, r *customer.Row) (string, error) {
		return fmt.Sprintf("%s was deleted.", r.Name), h.svc.Delete(c.Request().Context(), actor(c), r.ID)
	})
}

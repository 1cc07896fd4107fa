package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/customer"
	"github.com/latchkey/latchkey/app/enduser"
	endusersv "github.com/latchkey/latchkey/views/pages/endusers"
)

// endUsersHandler serves the end-user grid for any signed-in role: the
// tenant-wide and per-customer views (full pages, or the results alone for
// htmx), inline contact edits, self-serve switches, bulk actions and the CSV
// export. Every object comes from the session's tenant: another tenant's end
// user or customer is a 404, whatever the verb.
type endUsersHandler struct {
	s   *Server
	svc *enduser.GridService
}

func newEndUsersHandler(s *Server) *endUsersHandler {
	return &endUsersHandler{s: s, svc: enduser.NewGridService(s.DB, s.Now)}
}

// gridResultsTarget is the element id of the grid's results (HX-Target).
const gridResultsTarget = "eu-results"

// soonDays is how close a password expiry is shown as "in N days".
const soonDays = 14

func (h *endUsersHandler) showGrid(c echo.Context) error {
	return h.grid(c, nil)
}

func (h *endUsersHandler) showCustomerGrid(c echo.Context) error {
	cu, err := customer.Get(c.Request().Context(), h.s.DB.Read, actor(c).TenantID, c.Param("id"))
	if err != nil {
		return err
	}
	return h.grid(c, cu)
}

// gridFilter reads the view from query or form values; a customer's grid is
// always on its customer.
func gridFilter(v url.Values, cu *customer.Customer) enduser.Filter {
	f := enduser.Parse(v)
	if cu != nil {
		f.CustomerID = cu.ID
	}
	if f.Sort == "name" {
		f.Sort = ""
	}
	return f
}

// selectionMode reads the grid's selection mode (the last "select" value).
func selectionMode(v url.Values) string {
	s := v["select"]
	if len(s) == 0 {
		return endusersv.SelectNone
	}
	switch s[len(s)-1] {
	case endusersv.SelectPage:
		return endusersv.SelectPage
	case endusersv.SelectAll:
		return endusersv.SelectAll
	}
	return endusersv.SelectNone
}

func (h *endUsersHandler) grid(c echo.Context, cu *customer.Customer) error {
	q := c.QueryParams()
	f := gridFilter(q, cu)
	partial := isHTMX(c) && c.Request().Header.Get("HX-Target") == gridResultsTarget
	p, err := h.gridProps(c, f, cu, selectionMode(q), !partial)
	if err != nil {
		return err
	}
	c.Response().Header().Add("Vary", "HX-Target")
	if partial {
		p.OOB = true
		if _, selecting := q["select"]; !selecting {
			// Filtering, sorting and paging: the address bar shows the view.
			c.Response().Header().Set("HX-Push-Url", p.URL())
		}
		return h.s.partial(c, http.StatusOK, endusersv.Results(p))
	}
	title := "End users"
	if cu != nil {
		title = "End users of " + cu.Name
	}
	return h.s.render(c, http.StatusOK, title, endusersv.Grid(p))
}

// gridProps runs the grid query for f and builds the view. A page past the
// end shows the last page. The customer filter's options are loaded only for
// a full tenant-wide page.
func (h *endUsersHandler) gridProps(c echo.Context, f enduser.Filter, cu *customer.Customer, selected string, full bool) (endusersv.GridProps, error) {
	ctx := c.Request().Context()
	tenantID := actor(c).TenantID
	now := h.s.Now()
	rows, total, err := h.svc.Page(ctx, tenantID, f, now)
	if err != nil {
		return endusersv.GridProps{}, err
	}
	if len(rows) == 0 && total > 0 {
		f.Page = f.Pages(total)
		if rows, total, err = h.svc.Page(ctx, tenantID, f, now); err != nil {
			return endusersv.GridProps{}, err
		}
	}
	t := currentTenant(c)
	p := endusersv.GridProps{
		CSRF: h.s.csrfToken(c), BasePath: "/end-users", TenantSelfServe: t != nil && t.SelfServeEnabled,
		IsAdmin: currentLogin(c) != nil && currentLogin(c).Role.IsAdmin(), CanManageCustomers: canManageCustomers(c),
		Customer: f.CustomerID, Query: f.Query, Status: f.Status, SelfServe: f.SelfServe, Source: f.Source, Locked: f.Locked,
		Sort: f.Sort, Desc: f.Desc, Filtered: f.Filtered(), Values: f.Values(cu == nil),
		Total: total, Page: max(1, f.Page), PerPage: f.PerPage, Pages: f.Pages(total), Selected: selected,
	}
	if f.Expiring > 0 {
		p.Expiring = strconv.Itoa(f.Expiring)
	}
	if cu != nil {
		p.BasePath = "/customers/" + cu.ID + "/end-users"
		p.CustomerID, p.CustomerName, p.CustomerArchived = cu.ID, cu.Name, cu.Archived()
	} else if full {
		opts, err := customer.Options(ctx, h.s.DB.Read, tenantID)
		if err != nil {
			return endusersv.GridProps{}, err
		}
		for _, o := range opts {
			p.Customers = append(p.Customers, endusersv.Option{Value: o.ID, Label: o.Name})
		}
	}
	p.Rows = make([]endusersv.Row, 0, len(rows))
	for i := range rows {
		r := h.rowProps(c, &rows[i])
		r.Checked = selected != endusersv.SelectNone
		p.Rows = append(p.Rows, r)
	}
	return p, nil
}

// rowProps builds a grid row; dates are in the tenant's time zone.
func (h *endUsersHandler) rowProps(c echo.Context, r *enduser.Row) endusersv.Row {
	t := currentTenant(c)
	loc := time.UTC
	tenantSwitch := false
	if t != nil {
		loc, tenantSwitch = t.Location(), t.SelfServeEnabled
	}
	u := &r.EndUser
	st := u.Status()
	out := endusersv.Row{
		ID: u.ID, Name: u.Name(), Username: u.Username, Email: u.Email, Mobile: u.Mobile,
		EmailFrom: enduser.ValueSourceLabel(u.EmailSource, u.Source), EmailFromShort: enduser.ValueSourceShort(u.EmailSource, u.Source),
		MobileFrom: enduser.ValueSourceLabel(u.MobileSource, u.Source), MobileFromShort: enduser.ValueSourceShort(u.MobileSource, u.Source),
		Source: enduser.SourceLabel(u.Source), StatusKey: st.Key(), StatusLabel: st.Label(),
		SelfServe: u.SelfServeEnabled, Active: u.SelfServeActive(tenantSwitch), Privileged: u.Privileged, Locked: u.Locked,
		CustomerID: u.CustomerID, CustomerName: r.CustomerName, TenantSelfServe: tenantSwitch, CSRF: h.s.csrfToken(c),
	}
	if u.PasswordExpiresAt != nil {
		out.Expires, out.ExpiresState, out.ExpiresIn = expiry(*u.PasswordExpiresAt, h.s.Now(), loc)
	}
	if u.LastAccessAt != nil {
		out.LastAccess = u.LastAccessAt.In(loc).Format("Jan 2, 2006 15:04")
	}
	return out
}

// expiry formats a password expiry: the date in loc, "expired" once past,
// and "in N days" (calendar days in loc) when it is within soonDays.
func expiry(at, now time.Time, loc *time.Location) (date, state, in string) {
	date = at.In(loc).Format("Jan 2, 2006")
	if !at.After(now) {
		return date, "expired", ""
	}
	y1, m1, d1 := now.In(loc).Date()
	y2, m2, d2 := at.In(loc).Date()
	days := int(time.Date(y2, m2, d2, 0, 0, 0, 0, time.UTC).Sub(time.Date(y1, m1, d1, 0, 0, 0, 0, time.UTC)).Hours() / 24)
	if days > soonDays {
		return date, "", ""
	}
	switch days {
	case 0:
		in = "today"
	case 1:
		in = "in 1 day"
	default:
		in = fmt.Sprintf("in %d days", days)
	}
	return date, "soon", in
}

// loadRow returns the end user of the URL in the session's tenant.
func (h *endUsersHandler) loadRow(c echo.Context) (*enduser.Row, error) {
	return enduser.VisibleRow(c.Request().Context(), h.s.DB.Bun, actor(c).TenantID, c.Param("id"))
}

// contactField returns the URL's contact field; anything else is a 404.
func contactField(c echo.Context) (string, error) {
	f := c.Param("field")
	if !enduser.ValidField(f) {
		return "", echo.ErrNotFound
	}
	return f, nil
}

// gridToast asks htmx to show a toast with the response.
func gridToast(c echo.Context, level, msg string) {
	b, _ := json.Marshal(map[string]any{"showToast": map[string]string{"message": msg, "level": level}})
	c.Response().Header().Set("HX-Trigger", string(b))
}

// gridRefreshEvent is the event after which the grid's results fetch
// themselves again (hx-trigger on #eu-results in grid.templ).
const gridRefreshEvent = "eu-refresh"

// gridToastAndRefresh asks htmx to show a toast and to refresh the grid's
// results with a request of their own.
func gridToastAndRefresh(c echo.Context, level, msg string) {
	b, _ := json.Marshal(map[string]any{
		"showToast":      map[string]string{"message": msg, "level": level},
		gridRefreshEvent: true,
	})
	c.Response().Header().Set("HX-Trigger", string(b))
}

// backToGrid ends a form post made without htmx: a message and the grid.
func (h *endUsersHandler) backToGrid(c echo.Context, level, msg, to string) error {
	h.s.flash(c, level, msg)
	return redirect(c, to)
}

func (h *endUsersHandler) editContact(c echo.Context) error {
	field, err := contactField(c)
	if err != nil {
		return err
	}
	r, err := h.loadRow(c)
	if err != nil {
		return err
	}
	p := h.rowProps(c, r)
	p.Editing, p.EditValue = field, p.Value(field)
	return h.s.partial(c, http.StatusOK, endusersv.EditCell(p, field))
}

// showRow is a row as it is (an edit cancelled); ?focus=email or mobile
// gives that cell's button the focus back.
func (h *endUsersHandler) showRow(c echo.Context) error {
	r, err := h.loadRow(c)
	if err != nil {
		return err
	}
	p := h.rowProps(c, r)
	if f := c.QueryParam("focus"); enduser.ValidField(f) {
		p.Focus = f
	}
	return h.s.partial(c, http.StatusOK, endusersv.RowView(p))
}

func (h *endUsersHandler) saveContact(c echo.Context) error {
	field, err := contactField(c)
	if err != nil {
		return err
	}
	r, err := h.loadRow(c)
	if err != nil {
		return err
	}
	value := c.FormValue("value")
	u, err := h.svc.UpdateContact(c.Request().Context(), actor(c), r.ID, field, value)
	if apperr.CodeOf(err) == apperr.Invalid {
		if !isHTMX(c) {
			return h.backToGrid(c, "danger", apperr.MessageOf(err), "/customers/"+r.CustomerID+"/end-users")
		}
		p := h.rowProps(c, r)
		p.Editing, p.EditValue, p.EditError = field, value, fieldsOrMessage(err, "value")["value"]
		return h.s.partial(c, http.StatusUnprocessableEntity, endusersv.RowView(p))
	}
	if err != nil {
		return err
	}
	if !isHTMX(c) {
		return h.backToGrid(c, "ok", "Saved.", "/customers/"+r.CustomerID+"/end-users")
	}
	r.EndUser = *u
	p := h.rowProps(c, r)
	// The cell's button takes the focus back, however the edit was saved;
	// app.js leaves the focus alone when the user has already moved it
	// (Tab, or a click on another cell).
	p.Focus = field
	return h.s.partial(c, http.StatusOK, endusersv.RowView(p))
}

func (h *endUsersHandler) setSelfServe(c echo.Context) error {
	r, err := h.loadRow(c)
	if err != nil {
		return err
	}
	on := c.FormValue("on") == "1"
	u, err := h.svc.SetSelfServe(c.Request().Context(), actor(c), r.ID, on)
	if err != nil {
		return err
	}
	msg := fmt.Sprintf("Self-serve is off for %s.", u.Name())
	if on {
		msg = fmt.Sprintf("Self-serve is on for %s.", u.Name())
		if u.Status() < enduser.StatusRegistered {
			msg += " It starts once both the email and the mobile are filled in."
		}
	}
	if !isHTMX(c) {
		return h.backToGrid(c, "ok", msg, "/customers/"+r.CustomerID+"/end-users")
	}
	r.EndUser = *u
	p := h.rowProps(c, r)
	p.Focus = "switch"
	gridToast(c, "ok", msg)
	return h.s.partial(c, http.StatusOK, endusersv.RowView(p))
}

// bulkView reads which grid a bulk form came from: a customer's (checked
// against the session's tenant) or the tenant-wide one.
func (h *endUsersHandler) bulkView(c echo.Context, v url.Values) (*customer.Customer, error) {
	if v.Get("view") != "customer" {
		return nil, nil
	}
	return customer.Get(c.Request().Context(), h.s.DB.Bun, actor(c).TenantID, v.Get("customer"))
}

func (h *endUsersHandler) bulkSelfServe(c echo.Context) error {
	v, err := c.FormParams()
	if err != nil {
		return apperr.New(apperr.Invalid, "The form could not be read.")
	}
	cu, err := h.bulkView(c, v)
	if err != nil {
		return err
	}
	sel := enduser.ParseSelection(v)
	f := gridFilter(v, cu)
	sel.Filter.CustomerID = f.CustomerID
	back := "/end-users"
	if cu != nil {
		back = "/customers/" + cu.ID + "/end-users"
	}
	if vals := f.Values(cu == nil).Encode(); vals != "" {
		back += "?" + vals
	}
	on := v.Get("on") == "1"
	if sel.Empty() {
		const msg = "Select end users first: tick their rows, or the box above the table for the whole page."
		if !isHTMX(c) {
			return h.backToGrid(c, "warn", msg, back)
		}
		gridToast(c, "warn", msg)
		c.Response().Header().Set("HX-Reswap", "none")
		return c.NoContent(http.StatusOK)
	}
	res, err := h.svc.BulkSetSelfServe(c.Request().Context(), actor(c), sel, on, h.s.Now())
	if err != nil {
		return err
	}
	level, msg := bulkSelfServeMessage(res, on, sel.All)
	if !isHTMX(c) {
		return h.backToGrid(c, level, msg, back)
	}
	// The answer is the count alone: the grid refreshes itself with a
	// request of its own (the same view, nothing selected), so that this
	// request is only the change.
	gridToastAndRefresh(c, level, msg)
	c.Response().Header().Set("HX-Reswap", "none")
	return c.NoContent(http.StatusOK)
}

// bulkSelfServeMessage says what a bulk self-serve change did, and only
// that: privileged accounts that enabling left off are named as such (the
// security bar: privileged accounts are not offered self-serve by default, so
// bulk enabling never switches them on; each one's own switch can), and a
// selection of which nothing is in the lists is not "already on".
func bulkSelfServeMessage(r enduser.BulkResult, on, all bool) (level, msg string) {
	word, state := "disabled", "off"
	if on {
		word, state = "enabled", "on"
	}
	endUsers := func(n int) string {
		if n == 1 {
			return "1 end user"
		}
		return endusersv.Thousands(n) + " end users"
	}
	var parts []string
	level = "ok"
	switch {
	case r.Changed > 0:
		parts = append(parts, fmt.Sprintf("Self-serve %s for %s.", word, endUsers(r.Changed)))
	case r.PrivilegedLeftOff > 0:
		level = "warn"
		parts = append(parts, "Nothing changed.")
	case r.Already > 0:
		parts = append(parts, fmt.Sprintf("Nothing to change: self-serve was already %s for the selected end users.", state))
	case all:
		level = "warn"
		parts = append(parts, "No end user matches this view, so nothing changed.")
	default:
		level = "warn"
		parts = append(parts, "Nothing changed: none of the selected end users is in your lists any more (removed, or their customer archived). Reload the page to see the current list.")
	}
	if n := r.PrivilegedLeftOff; n > 0 {
		if n == 1 {
			parts = append(parts, "1 privileged account was left off: self-serve is not turned on in bulk for privileged accounts (domain admins and the like). If it really needs self-serve, use its own switch.")
		} else {
			parts = append(parts, fmt.Sprintf("%s privileged accounts were left off: self-serve is not turned on in bulk for privileged accounts (domain admins and the like). If one really needs self-serve, use its own switch.", endusersv.Thousands(n)))
		}
	}
	return level, strings.Join(parts, " ")
}

func (h *endUsersHandler) exportCSV(c echo.Context) error {
	return h.export(c, nil)
}

func (h *endUsersHandler) exportCustomerCSV(c echo.Context) error {
	cu, err := customer.Get(c.Request().Context(), h.s.DB.Bun, actor(c).TenantID, c.Param("id"))
	if err != nil {
		return err
	}
	return h.export(c, cu)
}

// export streams the view's end users (every page) as CSV.
func (h *endUsersHandler) export(c echo.Context, cu *customer.Customer) error {
	f := gridFilter(c.QueryParams(), cu)
	name := "end-users"
	if cu != nil {
		name += "-" + fileSlug(cu.Name)
	}
	name += "-" + h.s.Now().In(currentTenant(c).Location()).Format("2006-01-02") + ".csv"
	hd := c.Response().Header()
	hd.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	hd.Set(echo.HeaderContentDisposition, `attachment; filename="`+name+`"`)
	hd.Set("Cache-Control", "no-store")
	_, err := h.svc.ExportCSV(c.Request().Context(), actor(c), currentTenant(c), f, c.Response())
	if err != nil && c.Response().Committed {
		// The file is cut short; the browser sees a truncated download.
		h.s.Log.ErrorContext(c.Request().Context(), "end-user export", "err", err)
		return nil
	}
	return err
}

// fileSlug makes a name safe for a download's file name.
func fileSlug(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	out := strings.Trim(b.String(), "-")
	if len(out) > 40 {
		out = strings.Trim(out[:40], "-")
	}
	if out == "" {
		return "customer"
	}
	return out
}

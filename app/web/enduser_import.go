package web

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/customer"
	"github.com/latchkey/latchkey/app/enduser"
	endusersv "github.com/latchkey/latchkey/views/pages/endusers"
)

// endUserImportHandler serves the CSV import of end users into a customer:
// upload, preview, confirm, summary. Every login may import (all roles work
// with end users); the customer is looked up in the session's tenant on
// every route, so another tenant's customer is a 404.
//
// The file waits between preview and confirmation in the import_uploads
// table (30 minutes, bound to the tenant, the login and the customer, deleted
// when applied): a 10 MB file is too big to carry in a hidden field or in the
// database-backed session. The confirmation re-reads and re-checks the file
// on the server.
type endUserImportHandler struct{ s *Server }

// endUserImportBodyLimit bounds the upload post: a file of up to
// enduser.MaxImportBytes (10 MB) with its multipart framing. The service
// refuses files over 10 MB with a clear message; this is the transport's cap.
const endUserImportBodyLimit = 12 << 20

// importRowsShown is how many rows the preview lists (the counts cover all).
const importRowsShown = 1000

// customer returns the URL's customer in the session's tenant (NotFound otherwise).
func (h *endUserImportHandler) customer(c echo.Context) (*customer.Customer, error) {
	return customer.Get(c.Request().Context(), h.s.DB.Bun, actor(c).TenantID, c.Param("id"))
}

// refuseArchived answers every import route of an archived customer: its end
// users are hidden with it, so an import would add end users nobody sees. The
// page says so and points to the customer's page, where Restore is (409).
func (h *endUserImportHandler) refuseArchived(c echo.Context, cu *customer.Customer) error {
	p := h.props(c, cu)
	p.Archived = true
	return h.s.render(c, http.StatusConflict, h.title(cu), endusersv.Import(p))
}

func (h *endUserImportHandler) props(c echo.Context, cu *customer.Customer) endusersv.ImportProps {
	return endusersv.ImportProps{
		CSRF: h.s.csrfToken(c), CustomerID: cu.ID, CustomerName: cu.Name, Header: enduser.ImportHeader, MaxRows: enduser.MaxImportRows,
	}
}

func (h *endUserImportHandler) title(cu *customer.Customer) string {
	return "Import end users · " + cu.Name
}

// importTooLarge answers an upload over the body limit: the import page with
// a 413 for a signed-in login, the plain error otherwise.
func (h *endUserImportHandler) importTooLarge(c echo.Context) error {
	if currentLogin(c) == nil {
		return echo.ErrStatusRequestEntityTooLarge
	}
	cu, err := h.customer(c)
	if err != nil {
		return err
	}
	if cu.Archived() {
		return h.refuseArchived(c, cu)
	}
	p := h.props(c, cu)
	p.Error = fmt.Sprintf("The file is larger than 10 MB. Split it into files of at most %d end users.", enduser.MaxImportRows)
	return h.s.render(c, http.StatusRequestEntityTooLarge, h.title(cu), endusersv.Import(p))
}

func (h *endUserImportHandler) showImport(c echo.Context) error {
	cu, err := h.customer(c)
	if err != nil {
		return err
	}
	if cu.Archived() {
		return h.refuseArchived(c, cu)
	}
	return h.s.render(c, http.StatusOK, h.title(cu), endusersv.Import(h.props(c, cu)))
}

// formError re-renders the upload form with a message on the file field.
func (h *endUserImportHandler) formError(c echo.Context, cu *customer.Customer, status int, selfServe bool, msg string) error {
	p := h.props(c, cu)
	p.SelfServe, p.Error = selfServe, msg
	return h.s.render(c, status, h.title(cu), endusersv.Import(p))
}

func (h *endUserImportHandler) previewImport(c echo.Context) error {
	ctx := c.Request().Context()
	cu, err := h.customer(c)
	if err != nil {
		return err
	}
	if cu.Archived() {
		return h.refuseArchived(c, cu)
	}
	selfServe := c.FormValue("self_serve") == "on"
	fh, err := c.FormFile("file")
	if err != nil {
		if errors.Is(err, http.ErrMissingFile) || errors.Is(err, http.ErrNotMultipart) {
			return h.formError(c, cu, http.StatusUnprocessableEntity, selfServe, "Choose a CSV file to upload.")
		}
		return err
	}
	f, err := fh.Open()
	if err != nil {
		return fmt.Errorf("web: open upload: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, enduser.MaxImportBytes+1))
	if err != nil {
		return fmt.Errorf("web: read upload: %w", err)
	}
	name := cleanFileName(fh.Filename)
	pv, err := h.s.Onboarding.PreviewImport(ctx, actor(c), cu.ID, bytes.NewReader(data))
	if apperr.CodeOf(err) == apperr.Invalid {
		return h.formError(c, cu, http.StatusUnprocessableEntity, selfServe, fieldsOrMessage(err, "file")["file"])
	}
	if err != nil {
		return err
	}
	p := h.props(c, cu)
	p.SelfServe = selfServe
	status := http.StatusOK
	confirmURL := ""
	if pv.Valid() == 0 {
		status = http.StatusUnprocessableEntity
	} else {
		id, err := h.s.Onboarding.StoreUpload(ctx, actor(c), cu.ID, name, data)
		if err != nil {
			return err
		}
		confirmURL = "/customers/" + cu.ID + "/end-users/import/" + id + "/confirm"
	}
	p.Preview = importPreviewProps(pv, name, confirmURL)
	return h.s.render(c, status, h.title(cu), endusersv.Import(p))
}

// importPreviewProps converts the service's preview for the page. A long
// file lists its first importRowsShown rows, those that need attention
// (rejected, or keeping a value) first.
func importPreviewProps(pv *enduser.ImportPreview, name, confirmURL string) *endusersv.ImportPreview {
	out := &endusersv.ImportPreview{
		FileName: name, ConfirmURL: confirmURL, Columns: pv.Columns, Ignored: pv.Ignored, CustomerChecked: pv.CustomerChecked, Total: len(pv.Rows),
		Created: pv.Created, Updated: pv.Updated, Unchanged: pv.Unchanged, Rejected: pv.Rejected, Kept: pv.Kept,
	}
	rows := pv.Rows
	if len(rows) > importRowsShown {
		var first, rest []*enduser.ImportRow
		for _, r := range rows {
			if !r.Valid() || r.Kept() {
				first = append(first, r)
			} else {
				rest = append(rest, r)
			}
		}
		rows = append(first, rest...)[:importRowsShown]
	}
	for _, r := range rows {
		out.Rows = append(out.Rows, endusersv.ImportRow{
			Row: r.Row, Action: r.Action, Username: r.Username, FirstName: r.FirstName, LastName: r.LastName,
			Email: r.Email, Mobile: r.Mobile, Errors: r.Errors(), Changes: strings.Join(r.Changes, ", "), Notes: r.Notes,
		})
	}
	return out
}

// confirmImport applies the stored upload (checked again on the server) and
// shows what the import did.
func (h *endUserImportHandler) confirmImport(c echo.Context) error {
	cu, err := h.customer(c)
	if err != nil {
		return err
	}
	if cu.Archived() {
		return h.refuseArchived(c, cu)
	}
	selfServe := c.FormValue("self_serve") == "on"
	res, name, err := h.s.Onboarding.ApplyUpload(c.Request().Context(), actor(c), cu.ID, c.Param("upload"), selfServe)
	switch apperr.CodeOf(err) {
	case "":
	case apperr.Invalid:
		return h.formError(c, cu, http.StatusUnprocessableEntity, selfServe, fieldsOrMessage(err, "file")["file"])
	case apperr.Conflict:
		return h.formError(c, cu, http.StatusConflict, selfServe, apperr.MessageOf(err))
	default:
		return err
	}
	return h.s.render(c, http.StatusOK, "Import finished · "+cu.Name, endusersv.ImportSummary(endusersv.ImportSummaryProps{
		CustomerID: cu.ID, CustomerName: cu.Name, FileName: name,
		Created: res.Created, Updated: res.Updated, Unchanged: res.Unchanged, Rejected: res.Rejected, Kept: res.Kept,
		SelfServe: selfServe,
	}))
}

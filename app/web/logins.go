package web

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/login"
	loginsv "github.com/latchkey/latchkey/views/pages/logins"
)

// loginsHandler serves login management for Primary and Super logins: the
// list, invitations (one by one or from a CSV file), editing and the actions
// on one login. The service checks the role and the tenant again.
type loginsHandler struct{ s *Server }

// importBodyLimit bounds the two CSV import posts: a file of up to
// login.MaxImportBytes (1 MB) with its multipart framing, or the same file
// re-posted base64-encoded (4/3 of it) to confirm. The service refuses files
// over 1 MB with a clear message; this is the transport's hard cap.
const importBodyLimit = 2 << 20

// importTooLarge shows the import page with a 413 to a Primary or Super
// login, and the plain error page to anyone else.
func (h *loginsHandler) importTooLarge(c echo.Context) error {
	if l := currentLogin(c); l == nil || !l.Role.IsAdmin() {
		return echo.ErrStatusRequestEntityTooLarge
	}
	p := h.importProps(c)
	p.Error = "The file is larger than 1 MB. Split it into smaller files of at most 500 logins."
	return h.s.render(c, http.StatusRequestEntityTooLarge, "Import logins", loginsv.Import(p))
}

// roleHints describe what each role may do.
var roleHints = map[login.Role]string{
	login.RoleSuper:      "administers settings and logins, and everything a Technician does.",
	login.RoleTechnician: "customers, end users, admin accounts and the vault.",
	login.RoleHelpDesk:   "end users only: verify them and reset their passwords.",
}

func assignableOptions() []loginsv.Option {
	out := make([]loginsv.Option, 0, len(login.AssignableRoles))
	for _, r := range login.AssignableRoles {
		out = append(out, loginsv.Option{Value: string(r), Label: r.Label(), Hint: roleHints[r]})
	}
	return out
}

// formatTime shows t in the tenant's time zone, or "" for nil.
func formatTime(c echo.Context, t *time.Time) string {
	if t == nil {
		return ""
	}
	loc := time.UTC
	if tn := currentTenant(c); tn != nil {
		loc = tn.Location()
	}
	return t.In(loc).Format("Jan 2, 2006 15:04 MST")
}

// formRole reads a role from a form value, keeping unknown text for the
// service to refuse with a field message.
func formRole(v string) login.Role {
	if r, ok := login.ParseRole(v); ok {
		return r
	}
	return login.Role(strings.TrimSpace(v))
}

func (h *loginsHandler) showLogins(c echo.Context) error {
	f := login.ListFilter{Query: strings.TrimSpace(c.QueryParam("q"))}
	if len(f.Query) > 200 {
		f.Query = strings.ToValidUTF8(f.Query[:200], "")
	}
	if r, ok := login.ParseRole(c.QueryParam("role")); ok {
		f.Role = r
	}
	switch st := c.QueryParam("status"); st {
	case login.StatusInvited, login.StatusActive, login.StatusDisabled:
		f.Status = st
	}
	list, err := h.s.Logins.List(c.Request().Context(), actor(c), f)
	if err != nil {
		return err
	}
	p := loginsv.ListProps{
		Query: f.Query, Role: string(f.Role), Status: f.Status,
		Filtered: f.Query != "" || f.Role != "" || f.Status != "",
		Statuses: []loginsv.Option{{Value: login.StatusActive, Label: "Active"}, {Value: login.StatusInvited, Label: "Invited"}, {Value: login.StatusDisabled, Label: "Disabled"}},
	}
	for _, r := range login.Roles {
		p.Roles = append(p.Roles, loginsv.Option{Value: string(r), Label: r.Label()})
	}
	me := currentLogin(c)
	for _, l := range list {
		p.Rows = append(p.Rows, loginsv.Row{
			ID: l.ID, Name: l.Name(), Email: l.Email, Role: string(l.Role), RoleLabel: l.Role.Label(), Status: l.Status,
			MFA: l.MFAEnabled(), LastSignIn: formatTime(c, l.LastLoginAt), Self: me != nil && me.ID == l.ID,
		})
	}
	c.Response().Header().Add("Vary", "HX-Target")
	if isHTMX(c) && c.Request().Header.Get("HX-Target") == "logins-results" {
		return h.s.partial(c, http.StatusOK, loginsv.Results(p))
	}
	return h.s.render(c, http.StatusOK, "Logins", loginsv.List(p))
}

func (h *loginsHandler) showInvite(c echo.Context) error {
	return h.s.render(c, http.StatusOK, "Invite a login", loginsv.Invite(loginsv.InviteProps{
		CSRF: h.s.csrfToken(c), Role: string(login.RoleTechnician), Roles: assignableOptions(),
	}))
}

func (h *loginsHandler) invite(c echo.Context) error {
	in := login.InviteInput{
		FirstName: c.FormValue("first_name"), LastName: c.FormValue("last_name"),
		Email: c.FormValue("email"), Role: formRole(c.FormValue("role")),
	}
	l, err := h.s.Logins.Invite(c.Request().Context(), actor(c), in)
	if apperr.CodeOf(err) == apperr.Invalid {
		return h.s.render(c, http.StatusUnprocessableEntity, "Invite a login", loginsv.Invite(loginsv.InviteProps{
			CSRF: h.s.csrfToken(c), FirstName: in.FirstName, LastName: in.LastName, Email: in.Email, Role: string(in.Role),
			Roles: assignableOptions(), Errors: fieldsOrMessage(err, "email"),
		}))
	}
	if err != nil {
		return err
	}
	h.s.flash(c, "ok", fmt.Sprintf("%s is invited: we emailed them a link to choose a password, valid for 7 days.", l.Email)+h.outboxNote())
	return redirect(c, "/logins")
}

// outboxNote adds, when email delivery is not configured, that the emails
// wait in the outbox.
func (h *loginsHandler) outboxNote() string {
	if h.s.Config.SMTP.Enabled() {
		return ""
	}
	return " Email delivery is not configured yet, so the email waits in the outbox."
}

// fieldsOrMessage returns an Invalid error's field messages, or its message
// under field when it has none.
func fieldsOrMessage(err error, field string) map[string]string {
	if f := apperr.FieldsOf(err); len(f) > 0 {
		return f
	}
	return map[string]string{field: apperr.MessageOf(err)}
}

// editProps builds the edit page of l; form values come from l.
func (h *loginsHandler) editProps(c echo.Context, l *login.Login) loginsv.EditProps {
	me := currentLogin(c)
	return loginsv.EditProps{
		CSRF: h.s.csrfToken(c), ID: l.ID, Name: l.Name(),
		FirstName: l.FirstName, LastName: l.LastName, Email: l.Email, Role: string(l.Role), RoleLabel: l.Role.Label(),
		Roles: assignableOptions(), Status: l.Status, MFA: l.MFAEnabled(),
		Locked:     (l.LockedUntil != nil && h.s.Now().Before(*l.LockedUntil)) || (l.TOTPLockedUntil != nil && h.s.Now().Before(*l.TOTPLockedUntil)),
		LastSignIn: formatTime(c, l.LastLoginAt), Created: formatTime(c, &l.CreatedAt),
		IsPrimary: l.Role == login.RolePrimary, IsSelf: me != nil && me.ID == l.ID,
		ReadOnly: l.Role == login.RolePrimary && (me == nil || me.ID != l.ID),
	}
}

// load returns the login of the URL in the signed-in tenant (NotFound otherwise).
func (h *loginsHandler) load(c echo.Context) (*login.Login, error) {
	return h.s.Logins.Get(c.Request().Context(), actor(c).TenantID, c.Param("id"))
}

func (h *loginsHandler) showLogin(c echo.Context) error {
	l, err := h.load(c)
	if err != nil {
		return err
	}
	return h.s.render(c, http.StatusOK, l.Name(), loginsv.Edit(h.editProps(c, l)))
}

func (h *loginsHandler) saveLogin(c echo.Context) error {
	ctx := c.Request().Context()
	l, err := h.load(c)
	if err != nil {
		return err
	}
	in := login.UpdateInput{FirstName: c.FormValue("first_name"), LastName: c.FormValue("last_name"), Email: c.FormValue("email")}
	if v := c.FormValue("role"); v != "" {
		in.Role = formRole(v)
	}
	err = h.s.Logins.Update(ctx, actor(c), l.ID, in)
	if apperr.CodeOf(err) == apperr.Invalid {
		p := h.editProps(c, l)
		p.FirstName, p.LastName, p.Email = in.FirstName, in.LastName, in.Email
		if in.Role != "" {
			p.Role = string(in.Role)
		}
		p.Errors = fieldsOrMessage(err, "email")
		return h.s.render(c, http.StatusUnprocessableEntity, l.Name(), loginsv.Edit(p))
	}
	if err != nil {
		return err
	}
	msg := "Saved."
	if in.Role != "" && in.Role != l.Role {
		msg = fmt.Sprintf("Saved. %s is now %s and was signed out to sign in again with the new role.", l.FirstName, in.Role.Label())
	}
	h.s.flash(c, "ok", msg)
	return redirect(c, "/logins/"+l.ID)
}

// action runs one of the buttons of a login's page, then returns to the page
// (or to the list after a deletion) with a message.
func (h *loginsHandler) action(c echo.Context, do func(c echo.Context, l *login.Login) (string, error)) error {
	l, err := h.load(c)
	if err != nil {
		return err
	}
	msg, err := do(c, l)
	if err != nil {
		return err
	}
	h.s.flash(c, "ok", msg)
	if strings.HasSuffix(c.Path(), "/delete") {
		return redirect(c, "/logins")
	}
	return redirect(c, "/logins/"+l.ID)
}

func (h *loginsHandler) disable(c echo.Context) error {
	return h.action(c, func(c echo.Context, l *login.Login) (string, error) {
		return fmt.Sprintf("%s is disabled and was signed out.", l.Name()), h.s.Logins.Disable(c.Request().Context(), actor(c), l.ID)
	})
}

func (h *loginsHandler) enable(c echo.Context) error {
	return h.action(c, func(c echo.Context, l *login.Login) (string, error) {
		msg := fmt.Sprintf("%s can sign in again.", l.Name())
		if l.PasswordHash == "" {
			msg = fmt.Sprintf("%s is enabled. They have not chosen a password yet: resend the invitation.", l.Name())
		}
		return msg, h.s.Logins.Enable(c.Request().Context(), actor(c), l.ID)
	})
}

func (h *loginsHandler) resetMFA(c echo.Context) error {
	return h.action(c, func(c echo.Context, l *login.Login) (string, error) {
		return fmt.Sprintf("Two-step sign-in of %s was reset.", l.Name()), h.s.Logins.ResetMFA(c.Request().Context(), actor(c), l.ID)
	})
}

func (h *loginsHandler) resendInvite(c echo.Context) error {
	return h.action(c, func(c echo.Context, l *login.Login) (string, error) {
		return fmt.Sprintf("A new invitation was emailed to %s; earlier links no longer work.", l.Email) + h.outboxNote(),
			h.s.Logins.ResendInvite(c.Request().Context(), actor(c), l.ID)
	})
}

func (h *loginsHandler) deleteLogin(c echo.Context) error {
	return h.action(c, func(c echo.Context, l *login.Login) (string, error) {
		return fmt.Sprintf("The login of %s (%s) was deleted.", l.Name(), l.Email), h.s.Logins.Delete(c.Request().Context(), actor(c), l.ID)
	})
}

// importProps is the import page with an optional file error and preview.
func (h *loginsHandler) importProps(c echo.Context) loginsv.ImportProps {
	labels := make([]string, len(login.AssignableRoles))
	for i, r := range login.AssignableRoles {
		labels[i] = r.Label()
	}
	return loginsv.ImportProps{
		CSRF: h.s.csrfToken(c), Header: login.ImportHeader,
		Roles: strings.Join(labels[:len(labels)-1], ", ") + " or " + labels[len(labels)-1],
	}
}

func (h *loginsHandler) showImport(c echo.Context) error {
	return h.s.render(c, http.StatusOK, "Import logins", loginsv.Import(h.importProps(c)))
}

// importPreview converts the service's preview for the page; data is the
// file, carried to the confirm step in a hidden field.
func importPreview(p *login.ImportPreview, name string, data []byte) *loginsv.Preview {
	out := &loginsv.Preview{FileName: name, Data: base64.RawURLEncoding.EncodeToString(data), Invalid: p.Invalid()}
	for _, r := range p.Rows {
		role := r.Role
		if r.Input.Role != "" {
			role = r.Input.Role.Label()
		}
		out.Rows = append(out.Rows, loginsv.ImportRow{
			Row: r.Row, FirstName: r.FirstName, LastName: r.LastName, Email: r.Email, Role: role, Errors: r.Messages(),
		})
	}
	return out
}

// renderPreview parses data and shows its preview: 200 when every row is
// valid, 422 otherwise (or when the file itself is wrong).
func (h *loginsHandler) renderPreview(c echo.Context, name string, data []byte) (*login.ImportPreview, error) {
	pv, err := h.s.Logins.PreviewImport(c.Request().Context(), actor(c), bytes.NewReader(data))
	if apperr.CodeOf(err) == apperr.Invalid {
		p := h.importProps(c)
		p.Error = fieldsOrMessage(err, "file")["file"]
		return nil, h.s.render(c, http.StatusUnprocessableEntity, "Import logins", loginsv.Import(p))
	}
	if err != nil {
		return nil, err
	}
	if !pv.OK() {
		p := h.importProps(c)
		p.Preview = importPreview(pv, name, data)
		return nil, h.s.render(c, http.StatusUnprocessableEntity, "Import logins", loginsv.Import(p))
	}
	return pv, nil
}

// cleanFileName keeps the base name of an uploaded file for display.
func cleanFileName(name string) string {
	name = filepath.Base(strings.ReplaceAll(strings.TrimSpace(name), "\\", "/"))
	if name == "." || name == "/" || name == "" {
		return "the file"
	}
	if len(name) > 120 {
		name = name[:120]
	}
	return name
}

func (h *loginsHandler) previewImport(c echo.Context) error {
	fh, err := c.FormFile("file")
	if err != nil {
		if errors.Is(err, http.ErrMissingFile) || errors.Is(err, http.ErrNotMultipart) {
			p := h.importProps(c)
			p.Error = "Choose a CSV file to upload."
			return h.s.render(c, http.StatusUnprocessableEntity, "Import logins", loginsv.Import(p))
		}
		return err
	}
	f, err := fh.Open()
	if err != nil {
		return fmt.Errorf("web: open upload: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, login.MaxImportBytes+1))
	if err != nil {
		return fmt.Errorf("web: read upload: %w", err)
	}
	name := cleanFileName(fh.Filename)
	pv, err := h.renderPreview(c, name, data)
	if pv == nil {
		return err
	}
	p := h.importProps(c)
	p.Preview = importPreview(pv, name, data)
	return h.s.render(c, http.StatusOK, "Import logins", loginsv.Import(p))
}

// confirmImport re-reads the file posted back by the preview, checks every
// row again on the server and invites them all, or nothing.
func (h *loginsHandler) confirmImport(c echo.Context) error {
	data, err := base64.RawURLEncoding.DecodeString(c.FormValue("csv"))
	if err != nil || len(data) == 0 {
		p := h.importProps(c)
		p.Error = "The upload was lost. Choose the file again."
		return h.s.render(c, http.StatusUnprocessableEntity, "Import logins", loginsv.Import(p))
	}
	name := cleanFileName(c.FormValue("filename"))
	pv, err := h.renderPreview(c, name, data)
	if pv == nil {
		return err
	}
	created, err := h.s.Logins.InviteMany(c.Request().Context(), actor(c), pv.Inputs())
	if re := login.RowErrorsOf(err); re != nil {
		pv.ApplyRowErrors(re)
		p := h.importProps(c)
		p.Preview = importPreview(pv, name, data)
		p.Preview.Message = apperr.MessageOf(err)
		return h.s.render(c, http.StatusUnprocessableEntity, "Import logins", loginsv.Import(p))
	}
	if err != nil {
		return err
	}
	what := fmt.Sprintf("%d logins are", len(created))
	if len(created) == 1 {
		what = "1 login is"
	}
	h.s.flash(c, "ok", what+" invited: each was emailed a link to choose a password, valid for 7 days."+strings.ReplaceAll(h.outboxNote(), "the email waits", "the emails wait"))
	return redirect(c, "/logins")
}

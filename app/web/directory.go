package web

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/latchkey/latchkey/app/agent"
	"github.com/latchkey/latchkey/app/agent/wire"
	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/customer"
	"github.com/latchkey/latchkey/app/enduser"
	"github.com/latchkey/latchkey/app/login"
	dirv "github.com/latchkey/latchkey/views/pages/directory"
)

// directoryHandler serves a customer's agents, directory settings and
// imports, and the end user's page with reset and unlock.
type directoryHandler struct{ s *Server }

// taskWait is how long one request waits for a directory task before the
// page asks again.
const taskWait = 10 * time.Second

func canRevokeAgents(c echo.Context) bool {
	l := currentLogin(c)
	return l != nil && (l.Role == login.RolePrimary || l.Role == login.RoleSuper)
}

// ago says how long ago t was, roughly.
func ago(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < 10*time.Second:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%d seconds ago", int(d.Seconds()))
	case d < 2*time.Minute:
		return "a minute ago"
	case d < time.Hour:
		return fmt.Sprintf("%d minutes ago", int(d.Minutes()))
	case d < 2*time.Hour:
		return "an hour ago"
	case d < 48*time.Hour:
		return fmt.Sprintf("%d hours ago", int(d.Hours()))
	}
	return fmt.Sprintf("%d days ago", int(d.Hours()/24))
}

func (h *directoryHandler) when(c echo.Context, t time.Time) string {
	loc := time.UTC
	if tn := currentTenant(c); tn != nil {
		loc = tn.Location()
	}
	return t.In(loc).Format("Jan 2, 2006 15:04")
}

var importStateLabels = map[string]string{
	agent.ImportWaiting: "Running", agent.ImportPreview: "Waiting for your review", agent.ImportApplied: "Applied",
	agent.ImportDiscarded: "Discarded", agent.ImportFailed: "Failed",
}

// card builds the directory card of a customer's page.
func (h *directoryHandler) card(c echo.Context, customerID string) (dirv.CardProps, error) {
	ctx := c.Request().Context()
	a := actor(c)
	p := dirv.CardProps{CSRF: h.s.csrfToken(c), CustomerID: customerID, CanManage: canManageCustomers(c), CanRevoke: canRevokeAgents(c)}
	st, err := h.s.Agents.Settings(ctx, a.TenantID, customerID)
	if err != nil {
		return p, err
	}
	now := h.s.Now()
	due := false // an automatic import is due (said once the agents are known)
	if st != nil {
		p.Configured = true
		scope := "whole domain"
		if st.ScopeKind != agent.ScopeBase {
			scope = st.ScopeDN
		}
		mode := ""
		if st.StartTLS {
			mode = " (StartTLS)"
		}
		p.Summary = st.URL + mode + " · " + scope
		p.SkipVerify, p.Insecure = st.SkipVerify, !st.TLS()
		p.AutoImport = "Off"
		if st.AutoImport {
			p.AutoImport = "Every " + hours(st.ImportIntervalMin)
			if st.NextImportAt != nil {
				p.NextImport = h.when(c, *st.NextImportAt)
				due = !st.NextImportAt.After(now)
			}
		}
	}
	agents, err := h.s.Agents.Agents(ctx, a.TenantID, customerID)
	if err != nil {
		return p, err
	}
	for _, ag := range agents {
		r := dirv.AgentRow{ID: ag.ID, Hostname: ag.Hostname, Version: ag.Version, OS: ag.OS, Online: ag.Online(now),
			Enrolled: h.when(c, ag.EnrolledAt), DirectoryChecked: ag.DirectoryCheckedAt != nil, DirectoryOK: ag.DirectoryOK,
			DirectoryError: ag.DirectoryError, LastSeen: "never"}
		if r.Hostname == "" {
			r.Hostname = "Unnamed server"
		}
		if ag.LastSeenAt != nil {
			r.LastSeen = ago(now, *ag.LastSeenAt)
		}
		if ag.RevokedAt != nil {
			r.Revoked = h.when(c, *ag.RevokedAt)
		}
		p.Agents = append(p.Agents, r)
	}
	if due {
		// QueueDueImports (every minute) starts it for a customer with an
		// agent that is not revoked; the agent runs it when it is online.
		enrolled, online := false, false
		for _, r := range p.Agents {
			enrolled = enrolled || r.Revoked == ""
			online = online || r.Online
		}
		switch {
		case online:
			p.NextImport = "Due now: starts within a minute"
		case enrolled:
			p.NextImport = "Due: starts when an agent is back online"
		default:
			p.NextImport = "Due: waits for an agent to be enrolled"
		}
	}
	ims, err := h.s.Agents.Imports(ctx, a.TenantID, customerID, 5)
	if err != nil {
		return p, err
	}
	for _, im := range ims {
		trigger := "manual, by " + im.CreatedBy
		if im.Trigger == agent.TriggerAuto {
			trigger = "automatic"
		}
		p.Imports = append(p.Imports, dirv.ImportRow{ID: im.ID, When: h.when(c, im.CreatedAt), Trigger: trigger, State: im.State,
			StateLabel: importStateLabels[im.State], Error: im.ErrorMessage, Created: im.Created, Updated: im.Updated,
			Unchanged: im.Unchanged, Gone: im.Gone, Total: im.Total})
	}
	return p, nil
}

func hours(min int) string {
	if min%60 == 0 {
		if min == 60 {
			return "hour"
		}
		return strconv.Itoa(min/60) + " hours"
	}
	return strconv.Itoa(min) + " minutes"
}

// showCard answers the card's refresh. With ?token= (the card showing a new
// install token polls so) it answers 204, which leaves the card and its
// token as they are, until the token enrols an agent or expires; then the
// card says so.
func (h *directoryHandler) showCard(c echo.Context) error {
	var use *agent.TokenUse
	if id := c.QueryParam("token"); id != "" {
		var err error
		if use, err = h.s.Agents.InstallTokenUse(c.Request().Context(), actor(c).TenantID, c.Param("id"), id); err != nil {
			return err
		}
		if use.Agent == nil && !use.Expired {
			noStore(c)
			return c.NoContent(http.StatusNoContent)
		}
	}
	p, err := h.card(c, c.Param("id"))
	if err != nil {
		return err
	}
	switch {
	case use == nil:
	case use.Agent != nil:
		name := use.Agent.Hostname
		if name == "" {
			name = "Unnamed server"
		}
		p.Level, p.Message = "ok", "The agent on "+name+" enrolled with the install token."
	default:
		p.Level, p.Message = "warn", "The install token expired unused. Add an agent to get a new one."
	}
	return h.s.partial(c, http.StatusOK, dirv.Card(p))
}

func (h *directoryHandler) createToken(c echo.Context) error {
	id := c.Param("id")
	tok, err := h.s.Agents.CreateInstallToken(c.Request().Context(), actor(c), id)
	if err != nil {
		return err
	}
	p, err := h.card(c, id)
	if err != nil {
		return err
	}
	p.Token = &dirv.TokenProps{ID: tok.ID, Token: tok.Token, Command: tok.Command, Expires: h.when(c, tok.ExpiresAt)}
	noStore(c)
	if isHTMX(c) {
		return h.s.partial(c, http.StatusOK, dirv.Card(p))
	}
	return h.s.render(c, http.StatusOK, "Add an agent", dirv.Card(p))
}

func (h *directoryHandler) revoke(c echo.Context) error {
	ag, err := h.s.Agents.Revoke(c.Request().Context(), actor(c), c.Param("id"))
	if err != nil {
		return err
	}
	h.s.flash(c, "ok", "The agent on "+ag.Hostname+" was revoked.")
	return redirect(c, "/customers/"+ag.CustomerID)
}

func (h *directoryHandler) settingsProps(c echo.Context, customerID string) (dirv.SettingsProps, error) {
	ctx := c.Request().Context()
	cu, err := customer.Get(ctx, h.s.DB.Bun, actor(c).TenantID, customerID)
	if err != nil {
		return dirv.SettingsProps{}, err
	}
	if cu.Archived() {
		return dirv.SettingsProps{}, apperr.New(apperr.NotFound, "That customer does not exist.")
	}
	p := dirv.SettingsProps{CSRF: h.s.csrfToken(c), CustomerID: cu.ID, CustomerName: cu.Name, ScopeKind: agent.ScopeBase,
		AutoImport: true, IntervalHours: "3"}
	st, err := h.s.Agents.Settings(ctx, cu.TenantID, cu.ID)
	if err != nil {
		return p, err
	}
	if st != nil {
		p.URL, p.BindUser, p.BaseDN, p.ScopeKind, p.ScopeDN = st.URL, st.BindUser, st.BaseDN, st.ScopeKind, st.ScopeDN
		p.CAPEM, p.StartTLS, p.SkipVerify, p.AutoImport, p.EnableNew = st.CACertPEM, st.StartTLS, st.SkipVerify, st.AutoImport, st.EnableNewUsers
		p.HasPassword = st.HasPassword()
		p.IntervalHours = strconv.FormatFloat(float64(st.ImportIntervalMin)/60, 'f', -1, 64)
	}
	return p, nil
}

func (h *directoryHandler) showSettings(c echo.Context) error {
	p, err := h.settingsProps(c, c.Param("id"))
	if err != nil {
		return err
	}
	noStore(c)
	return h.s.render(c, http.StatusOK, "Directory settings", dirv.Settings(p))
}

func (h *directoryHandler) saveSettings(c echo.Context) error {
	id := c.Param("id")
	in := agent.SettingsInput{
		URL: c.FormValue("url"), StartTLS: c.FormValue("start_tls") == "on", BindUser: c.FormValue("bind_user"),
		BindPassword: c.FormValue("bind_password"), BaseDN: c.FormValue("base_dn"), ScopeKind: c.FormValue("scope_kind"),
		ScopeDN: c.FormValue("scope_dn"), CACertPEM: c.FormValue("ca_cert_pem"), SkipVerify: c.FormValue("skip_verify") == "on",
		AutoImport: c.FormValue("auto_import") == "on", EnableNew: c.FormValue("enable_new") == "on",
	}
	var errs map[string]string
	if hrs := strings.TrimSpace(c.FormValue("interval_hours")); hrs != "" {
		f, err := strconv.ParseFloat(hrs, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			errs = map[string]string{"interval": "Enter a number of hours, e.g. 3."}
		} else {
			in.IntervalMin = int(math.Round(f * 60))
			if in.IntervalMin == 0 {
				in.IntervalMin = -1 // below the minimum: the service says so
			}
		}
	}
	if errs == nil {
		_, err := h.s.Agents.SaveSettings(c.Request().Context(), actor(c), id, in)
		if err == nil {
			h.s.flash(c, "ok", "Directory settings saved. Agents pick them up within a minute.")
			return redirect(c, "/customers/"+id)
		}
		if apperr.CodeOf(err) != apperr.Invalid {
			return err
		}
		errs = apperr.FieldsOf(err)
	}
	p, err := h.settingsProps(c, id)
	if err != nil {
		return err
	}
	p.URL, p.BindUser, p.BaseDN, p.ScopeKind, p.ScopeDN, p.CAPEM = in.URL, in.BindUser, in.BaseDN, in.ScopeKind, in.ScopeDN, in.CACertPEM
	p.StartTLS, p.SkipVerify, p.AutoImport, p.EnableNew = in.StartTLS, in.SkipVerify, in.AutoImport, in.EnableNew
	p.IntervalHours = c.FormValue("interval_hours")
	p.Errors = errs
	noStore(c)
	return h.s.render(c, http.StatusUnprocessableEntity, "Directory settings", dirv.Settings(p))
}

// taskProps describes a task for its panel.
func taskProps(t *agent.Task) dirv.TaskProps {
	p := dirv.TaskProps{ID: t.ID, Kind: t.Kind}
	if !t.Ended() {
		p.Waiting = true
		p.Title = "Waiting for the agent…"
		if t.State == agent.StateSent {
			p.Title = "The agent is working on it…"
		}
		return p
	}
	var res wire.Result
	_ = json.Unmarshal([]byte(t.Result), &res)
	if t.State == agent.StateDone {
		p.OK = true
		switch t.Kind {
		case wire.KindReset:
			p.Title = "Password reset."
			if res.User != nil && res.User.MustChange {
				p.Message = "The user must change it at next logon."
			}
		case wire.KindUnlock:
			p.Title = "Account unlocked."
		case wire.KindCheck:
			p.Title = "Connected to the directory."
			if pol := res.Policy; pol != nil {
				p.Message = policySummary(pol)
			}
		default:
			p.Title = "Done."
		}
		return p
	}
	switch t.Kind {
	case wire.KindReset:
		p.Title = "The password was not reset."
	case wire.KindUnlock:
		p.Title = "The account was not unlocked."
	case wire.KindCheck:
		p.Title = "The agent could not use the directory."
	default:
		p.Title = "The task failed."
	}
	p.Message = t.ErrorMessage
	if res.Error != nil {
		p.Detail = res.Error.Detail
	}
	return p
}

func policySummary(p *wire.Policy) string {
	parts := []string{fmt.Sprintf("Passwords: at least %d characters", p.MinLength)}
	if p.Complexity {
		parts = append(parts, "complexity required")
	}
	if p.HistoryLength > 0 {
		parts = append(parts, fmt.Sprintf("last %d not reused", p.HistoryLength))
	}
	if p.MaxAge > 0 {
		parts = append(parts, fmt.Sprintf("expire after %d days", int(p.MaxAge.Hours()/24)))
	}
	if p.LockoutThreshold > 0 {
		parts = append(parts, fmt.Sprintf("lockout after %d bad attempts", p.LockoutThreshold))
	}
	return p.Source + ": " + strings.Join(parts, ", ") + "."
}

// taskAnswer answers a request that started a task: the panel (htmx), or
// after waiting for the outcome, a message on the page it came from.
func (h *directoryHandler) taskAnswer(c echo.Context, t *agent.Task, back string) error {
	noStore(c)
	if isHTMX(c) {
		return h.s.partial(c, http.StatusOK, dirv.Task(taskProps(t)))
	}
	done, err := h.s.Agents.Wait(c.Request().Context(), actor(c).TenantID, t.ID, 20*time.Second)
	if err != nil {
		return err
	}
	p := taskProps(done)
	level := "ok"
	switch {
	case p.Waiting:
		level, p.Title = "info", "The task is still running: reload this page in a moment."
	case !p.OK:
		level = "danger"
	}
	h.s.flash(c, level, strings.TrimSpace(p.Title+" "+p.Message))
	return redirect(c, back)
}

func (h *directoryHandler) check(c echo.Context) error {
	id := c.Param("id")
	t, err := h.s.Agents.Check(c.Request().Context(), actor(c), id)
	if err != nil {
		return err
	}
	return h.taskAnswer(c, t, "/customers/"+id)
}

func (h *directoryHandler) showTask(c echo.Context) error {
	t, err := h.s.Agents.Wait(c.Request().Context(), actor(c).TenantID, c.Param("id"), taskWait)
	if err != nil {
		return err
	}
	noStore(c)
	return h.s.partial(c, http.StatusOK, dirv.Task(taskProps(t)))
}

func (h *directoryHandler) startImport(c echo.Context) error {
	id := c.Param("id")
	im, err := h.s.Agents.StartImport(c.Request().Context(), actor(c), id, agent.TriggerManual)
	if err != nil {
		return err
	}
	return redirect(c, "/customers/"+id+"/directory/imports/"+im.ID)
}

// previewRows is how many rows of each list a preview shows.
const previewRows = 200

func changeRows(cs []agent.Change) ([]dirv.Change, int) {
	more := 0
	if len(cs) > previewRows {
		more = len(cs) - previewRows
		cs = cs[:previewRows]
	}
	out := make([]dirv.Change, len(cs))
	for i, ch := range cs {
		out[i] = dirv.Change{Name: ch.Name, Username: ch.Username, Fields: strings.Join(ch.Fields, ", "), Note: ch.Note}
	}
	return out, more
}

func (h *directoryHandler) showImport(c echo.Context) error {
	ctx := c.Request().Context()
	a := actor(c)
	cu, err := customer.Get(ctx, h.s.DB.Bun, a.TenantID, c.Param("id"))
	if err != nil {
		return err
	}
	var im *agent.Import
	if c.QueryParam("wait") != "" {
		im, err = h.s.Agents.WaitImport(ctx, a.TenantID, c.Param("import"), taskWait)
	} else {
		im, err = h.s.Agents.ImportByID(ctx, a.TenantID, c.Param("import"))
	}
	if err != nil {
		return err
	}
	if im.CustomerID != cu.ID {
		return apperr.New(apperr.NotFound, "That import does not exist.")
	}
	p := dirv.ImportProps{CSRF: h.s.csrfToken(c), CustomerID: cu.ID, CustomerName: cu.Name, ID: im.ID, State: im.State,
		Error: im.ErrorMessage, Total: im.Total, Unchanged: im.Unchanged, Created: im.Created, UpdatedN: im.Updated, GoneN: im.Gone,
		CanManage: canManageCustomers(c)}
	if tn := currentTenant(c); tn != nil {
		p.TenantSelfServe = tn.SelfServeEnabled
	}
	if im.State == agent.ImportPreview {
		full, pl, err := h.s.Agents.Preview(ctx, a.TenantID, im.ID)
		if err != nil {
			return err
		}
		if pl != nil {
			p.Total, p.Unchanged = full.Total, pl.Unchanged
			p.New, p.MoreNew = changeRows(pl.New)
			p.Updated, p.MoreUpdated = changeRows(pl.Updated)
			p.Gone, p.MoreGone = changeRows(pl.Gone)
		}
	}
	return h.s.render(c, http.StatusOK, "Import from Active Directory", dirv.Import(p))
}

func (h *directoryHandler) applyImport(c echo.Context) error {
	id := c.Param("id")
	im, err := h.importOf(c)
	if err != nil {
		return err
	}
	done, err := h.s.Agents.ApplyImport(c.Request().Context(), actor(c), im.ID, c.FormValue("enable_self_serve") == "on")
	if err != nil {
		return err
	}
	h.s.flash(c, "ok", fmt.Sprintf("Imported: %d new, %d updated, %d gone from the directory.", done.Created, done.Updated, done.Gone))
	return redirect(c, "/customers/"+id+"/directory/imports/"+im.ID)
}

func (h *directoryHandler) discardImport(c echo.Context) error {
	id := c.Param("id")
	im, err := h.importOf(c)
	if err != nil {
		return err
	}
	if err := h.s.Agents.DiscardImport(c.Request().Context(), actor(c), im.ID); err != nil {
		return err
	}
	h.s.flash(c, "info", "Import discarded; nothing was changed.")
	return redirect(c, "/customers/"+id)
}

// importOf loads the import of the URL, checking it is the URL customer's.
func (h *directoryHandler) importOf(c echo.Context) (*agent.Import, error) {
	im, err := h.s.Agents.ImportByID(c.Request().Context(), actor(c).TenantID, c.Param("import"))
	if err != nil {
		return nil, err
	}
	if im.CustomerID != c.Param("id") {
		return nil, apperr.New(apperr.NotFound, "That import does not exist.")
	}
	return im, nil
}

// showEndUser is an end user's page.
func (h *directoryHandler) showEndUser(c echo.Context) error {
	p, err := h.endUserProps(c, c.Param("id"))
	if err != nil {
		return err
	}
	if p.Verification, err = (&verifyHandler{h.s}).slot(c, p.ID); err != nil { // verify.go
		return err
	}
	if p.Notices, err = h.s.noticeHistory(c, p.ID); err != nil { // notices.go
		return err
	}
	if p.ResetPanel, err = h.s.resetPanel(c, p); err != nil { // resetpanel.go
		return err
	}
	noStore(c) // the reset panel: never kept in the browser's history or cache
	return h.s.render(c, http.StatusOK, p.Name, dirv.EndUser(p))
}

func (h *directoryHandler) endUserProps(c echo.Context, id string) (dirv.EndUserProps, error) {
	ctx := c.Request().Context()
	a := actor(c)
	u, err := enduser.Get(ctx, h.s.DB.Bun, a.TenantID, id)
	if err != nil {
		return dirv.EndUserProps{}, err
	}
	cu, err := customer.Get(ctx, h.s.DB.Bun, a.TenantID, u.CustomerID)
	if err != nil {
		return dirv.EndUserProps{}, err
	}
	if cu.Archived() {
		return dirv.EndUserProps{}, apperr.New(apperr.NotFound, "That end user does not exist.")
	}
	var extra struct {
		DN, UPN, PrivilegedReason   string
		Disabled, MustChange        bool
		PasswordLastSetAt, LockedAt *time.Time
	}
	if err := h.s.DB.Bun.NewSelect().Table("end_users").
		Column("dn", "upn", "privileged_reason", "disabled", "must_change", "password_last_set_at", "locked_at").
		Where("id = ?", u.ID).Scan(ctx, &extra.DN, &extra.UPN, &extra.PrivilegedReason, &extra.Disabled, &extra.MustChange,
		&extra.PasswordLastSetAt, &extra.LockedAt); err != nil {
		return dirv.EndUserProps{}, err
	}
	p := dirv.EndUserProps{CSRF: h.s.csrfToken(c), ID: u.ID, Name: u.Name(), Username: u.Username, Email: u.Email, Mobile: u.Mobile,
		CustomerID: cu.ID, CustomerName: cu.Name, Source: enduser.SourceLabel(u.Source), Status: u.Status().Label(),
		Locked: u.Locked, Disabled: extra.Disabled, MustChange: extra.MustChange, Unlinked: u.UnlinkedAt != nil,
		DN: extra.DN, UPN: extra.UPN, Directory: u.Source == enduser.SourceAD}
	if u.PasswordExpiresAt != nil {
		p.Expires = h.when(c, *u.PasswordExpiresAt)
	} else if u.Source == enduser.SourceAD {
		p.Expires = "Never"
	}
	if extra.PasswordLastSetAt != nil {
		p.LastSet = h.when(c, *extra.PasswordLastSetAt)
	}
	if extra.LockedAt != nil {
		p.LockedAt = "since " + h.when(c, *extra.LockedAt)
	}
	if u.Privileged {
		p.Privileged = "Yes"
		if extra.PrivilegedReason != "" {
			p.Privileged = extra.PrivilegedReason
		}
	}
	if p.Directory {
		p.Ready = true
		switch {
		case u.UnlinkedAt != nil:
			p.Ready, p.NotReadyReason = false, "This account was not found by the last import, so it cannot be changed from here."
		default:
			st, err := h.s.Agents.Settings(ctx, a.TenantID, cu.ID)
			if err != nil {
				return p, err
			}
			if st == nil {
				p.Ready, p.NotReadyReason = false, "Set up the customer's directory connection to reset passwords from here."
			}
		}
		lockouts, err := h.s.Agents.Lockouts(ctx, a.TenantID, u.ID)
		if err != nil {
			return p, err
		}
		for _, l := range lockouts {
			p.Lockouts = append(p.Lockouts, "Locked out "+h.when(c, l.LockedAt))
		}
	}
	return p, nil
}

// reset sends the reset panel's password to the directory: the panel warned
// as it was typed (resetpanel.go); the directory, which knows the history
// and its current policy, decides.
func (h *directoryHandler) reset(c echo.Context) error {
	id := c.Param("id")
	noStore(c)
	t, err := h.s.Agents.Reset(c.Request().Context(), actor(c), agent.ResetInput{EndUserID: id,
		Password: c.FormValue("password"), Temporary: c.FormValue("temporary") == "on"})
	if err != nil {
		if apperr.CodeOf(err) == apperr.Invalid && isHTMX(c) {
			return h.s.partial(c, http.StatusUnprocessableEntity, dirv.Task(dirv.TaskProps{Title: "The password was not reset.", Message: fieldMessage(err)}))
		}
		return err
	}
	return h.taskAnswer(c, t, "/end-users/"+id)
}

func fieldMessage(err error) string {
	for _, m := range apperr.FieldsOf(err) {
		return m
	}
	return apperr.MessageOf(err)
}

func (h *directoryHandler) unlock(c echo.Context) error {
	id := c.Param("id")
	t, err := h.s.Agents.Unlock(c.Request().Context(), actor(c), id)
	if err != nil {
		return err
	}
	return h.taskAnswer(c, t, "/end-users/"+id)
}

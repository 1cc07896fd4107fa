package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/device"
	"github.com/latchkey/latchkey/app/enduser"
	"github.com/latchkey/latchkey/app/tenant"
	"github.com/latchkey/latchkey/app/verify"
	"github.com/latchkey/latchkey/app/webpush"
	"github.com/latchkey/latchkey/static"
	verifyv "github.com/latchkey/latchkey/views/pages/verify"
)

// verifyHandler serves identity verification: the technician's panel and
// its live stream, the end user's approval page, the service worker, and
// the Settings page's verification section. The panel's URLs all hang off
// its base (verifyBase) so that a PSA pod can mount the same panel.
type verifyHandler struct{ s *Server }

// ctxVerifyBase holds a func(endUserID string) string: where the panel's
// endpoints are. A PSA pod's route group sets it and mounts the same
// handlers under its own base, with the end user's id as the :id parameter;
// without it the base is verifyBase.
const ctxVerifyBase = "latchkey.verifybase"

// baseOf is the panel's base URL for the end user in this request.
func (h *verifyHandler) baseOf(c echo.Context, endUserID string) string {
	if f, ok := c.Get(ctxVerifyBase).(func(string) string); ok {
		return f(endUserID)
	}
	return verifyBase(endUserID)
}

// verifyTarget is the id of the panel's element.
const verifyTarget = "verify-panel"

// historyRows is how many past verifications the end user's page lists.
const historyRows = 10

// sseHeartbeat keeps the live stream's connection open through proxies.
const sseHeartbeat = 15 * time.Second

func verifyBase(endUserID string) string { return "/end-users/" + endUserID + "/verify" }

// verifyPanelProps fills the panel for verification v (nil: the choice).
func (h *verifyHandler) panelProps(c echo.Context, av *verify.Availability, name, endUserID string, v *verify.Verification) (verifyv.PanelProps, error) {
	p := verifyv.PanelProps{Base: h.baseOf(c, endUserID), Target: verifyTarget, CSRF: h.s.csrfToken(c), EndUserName: name}
	if v == nil {
		p.Stage = verifyv.StageChoose
		for _, o := range av.Options {
			p.Methods = append(p.Methods, verifyv.Method{Value: string(o.Method), Label: o.Method.Label(), Available: o.Available,
				Reason: o.Reason, Destination: o.Destination, Note: o.Note})
		}
		p.Default, p.Blocked, p.NumberMatching = string(av.Default), av.Blocked, av.NumberMatching
		if l := currentLogin(c); l != nil && l.Role.IsAdmin() {
			p.CanUnblock = av.BlockedUntil != nil
		}
		return p, nil
	}
	now := h.s.Now()
	st := v.StateAt(now)
	p.ID, p.Receipt, p.Method, p.MethodLabel, p.Destination, p.Version = v.ID, v.Receipt, string(v.Method), v.Method.Label(), v.Destination, v.Version
	p.RequestedBy, p.Started = v.RequestedBy, h.when(c, v.CreatedAt)
	if v.Fallback != "" {
		p.Fallback = verify.FallbackText(v.Fallback)
		p.MethodLabel = "SMS code (instead of push)"
	}
	p.DeadlineMS, p.NowMS = v.ExpiresAt.UnixMilli(), now.UnixMilli()
	p.Seconds = max(0, int(v.ExpiresAt.Sub(now).Round(time.Second)/time.Second))
	// The bar's full length is the push's lifetime, not what is left, so a
	// panel drawn again mid-push starts part empty.
	p.TotalSeconds = max(1, int(v.ExpiresAt.Sub(v.CreatedAt).Round(time.Second)/time.Second))
	p.MatchNumber = v.MatchNumber
	switch {
	case st == verify.StatePending && v.Method.IsPush():
		p.Stage = verifyv.StagePush
	case st == verify.StatePending || st == verify.StateApproved:
		p.Stage = verifyv.StageCode
		if st == verify.StateApproved {
			p.Stage = verifyv.StageCompare
		}
		code, err := h.s.Verify.Code(v)
		if err != nil {
			return p, err
		}
		p.Code = code
		p.TriesLeft = verify.MaxWrongTries - v.WrongTries
	default:
		p.Stage, p.Outcome = verifyv.StageOutcome, string(st)
		p.OutcomeText = outcomeText(v, st)
		if v.DecidedAt != nil {
			p.Decided = h.when(c, *v.DecidedAt)
		}
	}
	return p, nil
}

// outcomeText says what happened, for the panel.
func outcomeText(v *verify.Verification, st verify.State) string {
	switch st {
	case verify.StateVerified:
		switch v.Reason {
		case verify.ReasonEndUserApproved:
			return "The end user approved on their enrolled phone."
		case verify.ReasonCodeMatched:
			return "The code read back matched."
		}
		if v.Method == verify.MethodPushCode {
			return "Approved on the phone, and the validation code matched."
		}
		return "The code read back matched; " + v.DecidedBy + " approved."
	case verify.StateExpired:
		if v.Method.IsPush() && v.RespondedAt == nil {
			return fmt.Sprintf("No answer from the phone within %d seconds.", int(v.ExpiresAt.Sub(v.CreatedAt).Round(time.Second)/time.Second))
		}
		return "The code expired before anyone approved it."
	case verify.StateCancelled:
		if v.Reason == verify.ReasonSuperseded {
			return "A newer verification replaced this one."
		}
		return "Cancelled by " + v.DecidedBy + "."
	case verify.StateFailed:
		return "The push reached no device, and there is no mobile number for an SMS code."
	case verify.StateDenied:
		switch v.Reason {
		case verify.ReasonEndUserDenied:
			return "The end user denied the request on their phone."
		case verify.ReasonWrongNumber:
			return "The end user tapped a different number than the one on your screen."
		}
		return v.DecidedBy + " denied: the code did not match."
	}
	return verify.ReasonText(v.Reason)
}

// historyProps lists the end user's recent verifications.
func (h *verifyHandler) historyProps(c echo.Context, endUserID string) (verifyv.HistoryProps, error) {
	vs, err := h.s.Verify.History(c.Request().Context(), actor(c).TenantID, endUserID, historyRows)
	if err != nil {
		return verifyv.HistoryProps{}, err
	}
	now := h.s.Now()
	base := h.baseOf(c, endUserID)
	p := verifyv.HistoryProps{URL: base + "/history", Target: verifyTarget}
	for i := range vs {
		v := &vs[i]
		st := v.StateAt(now)
		r := verifyv.HistoryRow{ID: v.ID, When: h.when(c, v.CreatedAt), Technician: v.RequestedBy, Method: v.Method.Label(),
			Destination: v.Destination, Outcome: st.Label(), OutcomeKey: string(st), Receipt: v.Receipt, URL: base + "/" + v.ID}
		if v.Fallback != "" {
			r.Note = "push fell back to SMS"
		}
		if st == verify.StateVerified || st == verify.StateDenied {
			r.Note = strings.TrimSpace(strings.TrimPrefix(r.Note+"; "+verify.ReasonText(v.Reason), "; "))
		}
		switch {
		case v.DecidedAt != nil:
			r.Decided = h.when(c, *v.DecidedAt)
		case st == verify.StateExpired:
			r.Decided = h.when(c, v.ExpiresAt)
		}
		p.Rows = append(p.Rows, r)
	}
	return p, nil
}

func (h *verifyHandler) when(c echo.Context, t time.Time) string {
	loc := time.UTC
	if tn := currentTenant(c); tn != nil {
		loc = tn.Location()
	}
	return t.In(loc).Format("Jan 2 15:04:05")
}

// currentPanel is the panel as the end user's page opens it: the signed-in
// login's own open verification of the end user (a code the caller may
// still read back, a push still waiting) with its live countdown and
// updates, so that a reload or a trip to another page loses nothing;
// otherwise the method choice, which names an open verification another
// login started (with a link to it: sending a new one cancels it).
//
// Only the login that started a verification gets it back in place of the
// choice: the seeds' technician who sends is the one on the call who asks
// for the code and decides, and a second technician opening the end user's
// page is most likely on another call. Anyone in the tenant may still open
// it from the notice or the history (as the audit trail shows, each
// decision is recorded under the login that made it).
func (h *verifyHandler) currentPanel(c echo.Context, endUserID string) (verifyv.PanelProps, error) {
	ctx := c.Request().Context()
	a := actor(c)
	av, err := h.s.Verify.Availability(ctx, a, endUserID)
	if err != nil {
		return verifyv.PanelProps{}, err
	}
	open, err := h.s.Verify.Open(ctx, a.TenantID, endUserID)
	if err != nil {
		return verifyv.PanelProps{}, err
	}
	if open != nil && open.RequestedByID == a.LoginID {
		return h.panelProps(c, nil, av.EndUser.Name(), endUserID, open)
	}
	p, err := h.panelProps(c, av, av.EndUser.Name(), endUserID, nil)
	if err != nil || open == nil {
		return p, err
	}
	who := open.RequestedBy
	if open.SelfServe() {
		who = av.EndUser.Name() + " (on the self-serve pages)"
	}
	p.Other = &verifyv.OtherOpen{ID: open.ID, Text: fmt.Sprintf("%s started a verification (%s, %s, receipt %s) that is still open. Sending a new one cancels it.",
		who, open.Method.Label(), h.when(c, open.CreatedAt), open.Receipt)}
	return p, nil
}

// slot is the verification card of the end user's page (directory.go
// renders it in the page's slot).
func (h *verifyHandler) slot(c echo.Context, endUserID string) (templ.Component, error) {
	panel, err := h.currentPanel(c, endUserID)
	if err != nil {
		return nil, err
	}
	hist, err := h.historyProps(c, endUserID)
	if err != nil {
		return nil, err
	}
	return verifyv.Slot(verifyv.SlotProps{Panel: panel, History: hist}), nil
}

// answerPanel writes the panel: alone for htmx, else on a page of its own.
func (h *verifyHandler) answerPanel(c echo.Context, status int, p verifyv.PanelProps, endUserID string) error {
	noStore(c) // it may show a code
	if isHTMX(c) {
		return h.s.partial(c, status, verifyv.Panel(p))
	}
	hist, err := h.historyProps(c, endUserID)
	if err != nil {
		return err
	}
	u, err := enduser.Get(c.Request().Context(), h.s.DB.Bun, actor(c).TenantID, endUserID)
	if err != nil {
		return err
	}
	return h.s.render(c, status, "Verify "+u.Name(), verifyv.Page(verifyv.PageProps{EndUserID: endUserID, EndUserName: u.Name(),
		Slot: verifyv.SlotProps{Panel: p, History: hist}}))
}

// showPanel is the panel as the page opens it (currentPanel): the login's
// open verification, or the method choice.
func (h *verifyHandler) showPanel(c echo.Context) error {
	id := c.Param("id")
	p, err := h.currentPanel(c, id)
	if err != nil {
		return err
	}
	return h.answerPanel(c, http.StatusOK, p, id)
}

// showHistory is the history alone (it reloads itself after an outcome).
func (h *verifyHandler) showHistory(c echo.Context) error {
	id := c.Param("id")
	if _, err := enduser.Get(c.Request().Context(), h.s.DB.Bun, actor(c).TenantID, id); err != nil {
		return err
	}
	p, err := h.historyProps(c, id)
	if err != nil {
		return err
	}
	return h.s.partial(c, http.StatusOK, verifyv.History(p))
}

// refuse answers a refused panel action: for htmx a toast, and the panel
// reloads itself to show where the verification stands (verify-refresh);
// otherwise a message on the panel's page.
func (h *verifyHandler) refuse(c echo.Context, err error, back string) error {
	code := apperr.CodeOf(err)
	switch code {
	case apperr.Conflict, apperr.RateLimited, apperr.Invalid, apperr.Forbidden:
	default:
		return err
	}
	msg := apperr.MessageOf(err)
	if isHTMX(c) {
		b, _ := json.Marshal(map[string]any{"showToast": map[string]string{"message": msg, "level": "warn"}, "verify-refresh": true})
		c.Response().Header().Set("HX-Trigger", string(b))
		return c.String(statusOf(code), msg)
	}
	h.s.flash(c, "warn", msg)
	return redirect(c, back)
}

// start sends a verification by the chosen method.
func (h *verifyHandler) start(c echo.Context) error {
	id := c.Param("id")
	ctx := c.Request().Context()
	v, err := h.s.Verify.Start(ctx, actor(c), id, verify.Method(c.FormValue("method")))
	if err != nil {
		if apperr.CodeOf(err) == apperr.NotFound {
			return err
		}
		return h.refuse(c, err, h.baseOf(c, id))
	}
	if !isHTMX(c) {
		return redirect(c, h.baseOf(c, id)+"/"+v.ID)
	}
	u, err := enduser.Get(ctx, h.s.DB.Bun, actor(c).TenantID, id)
	if err != nil {
		return err
	}
	p, err := h.panelProps(c, nil, u.Name(), id, v)
	if err != nil {
		return err
	}
	c.Response().Header().Set("HX-Trigger", `{"verify-changed":true}`)
	return h.answerPanel(c, http.StatusOK, p, id)
}

// verification loads the URL's verification of the URL's end user in the
// session's tenant (NotFound otherwise) and the end user's name.
func (h *verifyHandler) verification(c echo.Context) (*verify.Verification, string, error) {
	ctx := c.Request().Context()
	a := actor(c)
	v, err := h.s.Verify.GetForEndUser(ctx, a.TenantID, c.Param("id"), c.Param("vid"))
	if err != nil {
		return nil, "", err
	}
	name, err := h.endUserName(ctx, a.TenantID, v.EndUserID)
	return v, name, err
}

func (h *verifyHandler) endUserName(ctx context.Context, tenantID, id string) (string, error) {
	u, err := enduser.Get(ctx, h.s.DB.Bun, tenantID, id)
	if err != nil {
		return "", err
	}
	return u.Name(), nil
}

// showVerification is the panel of one verification (the countdown asks
// for it at zero; the timeout is recorded then).
func (h *verifyHandler) showVerification(c echo.Context) error {
	v, name, err := h.verification(c)
	if err != nil {
		return err
	}
	if v.State.Open() && v.StateAt(h.s.Now()) == verify.StateExpired {
		if v, err = h.s.Verify.Settle(c.Request().Context(), v.TenantID, v.ID); err != nil {
			return err
		}
	}
	p, err := h.panelProps(c, nil, name, v.EndUserID, v)
	if err != nil {
		return err
	}
	return h.answerPanel(c, http.StatusOK, p, v.EndUserID)
}

// afterAction answers a panel action that changed verification v.
func (h *verifyHandler) afterAction(c echo.Context, v *verify.Verification, name string, status int, codeErr string) error {
	p, err := h.panelProps(c, nil, name, v.EndUserID, v)
	if err != nil {
		return err
	}
	p.CodeError = codeErr
	if isHTMX(c) || codeErr != "" {
		return h.answerPanel(c, status, p, v.EndUserID)
	}
	return redirect(c, h.baseOf(c, v.EndUserID)+"/"+v.ID)
}

// decide is the technician's Approve or Deny.
func (h *verifyHandler) decide(c echo.Context) error {
	v, name, err := h.verification(c)
	if err != nil {
		return err
	}
	back := h.baseOf(c, v.EndUserID) + "/" + v.ID
	d := c.FormValue("decision")
	if d != "approve" && d != "deny" {
		return h.refuse(c, apperr.New(apperr.Invalid, "Choose Approve or Deny."), back)
	}
	v, err = h.s.Verify.Decide(c.Request().Context(), actor(c), v.EndUserID, v.ID, d == "approve")
	if err != nil {
		return h.refuse(c, err, back)
	}
	return h.afterAction(c, v, name, http.StatusOK, "")
}

// checkCode compares the code the technician typed.
func (h *verifyHandler) checkCode(c echo.Context) error {
	v, name, err := h.verification(c)
	if err != nil {
		return err
	}
	back := h.baseOf(c, v.EndUserID) + "/" + v.ID
	nv, err := h.s.Verify.CheckCode(c.Request().Context(), actor(c), v.EndUserID, v.ID, c.FormValue("code"))
	if apperr.CodeOf(err) == apperr.Invalid && nv != nil {
		return h.afterAction(c, nv, name, http.StatusUnprocessableEntity, apperr.FieldsOf(err)["code"])
	}
	if err != nil {
		return h.refuse(c, err, back)
	}
	return h.afterAction(c, nv, name, http.StatusOK, "")
}

// cancel closes an open verification.
func (h *verifyHandler) cancel(c echo.Context) error {
	v, name, err := h.verification(c)
	if err != nil {
		return err
	}
	v, err = h.s.Verify.Cancel(c.Request().Context(), actor(c), v.EndUserID, v.ID)
	if err != nil {
		return h.refuse(c, err, h.baseOf(c, c.Param("id"))+"/"+c.Param("vid"))
	}
	return h.afterAction(c, v, name, http.StatusOK, "")
}

// unblock lifts an end user's 24-hour sending block (Primary, Super).
func (h *verifyHandler) unblock(c echo.Context) error {
	id := c.Param("id")
	if err := h.s.Verify.Unblock(c.Request().Context(), actor(c), id); err != nil {
		return err
	}
	if !isHTMX(c) {
		h.s.flash(c, "ok", "Codes and pushes may be sent again.")
		return redirect(c, h.baseOf(c, id))
	}
	setToast(c, "ok", "Codes and pushes may be sent again.")
	return h.showPanel(c)
}

// streaming reports whether the panel of v waits for the phone (the only
// stage with a live stream).
func streaming(v *verify.Verification, now time.Time) bool {
	return v.Method.IsPush() && v.StateAt(now) == verify.StatePending
}

// events is the panel's live stream (server-sent events) while a push
// waits for the phone: an event "panel" with the panel's new HTML when the
// verification changes (this process tells at once, another process within
// the hub's poll interval), and at its deadline. It ends once the push is
// answered or timed out; the client's countdown runs on its own.
func (h *verifyHandler) events(c echo.Context) error {
	v, name, err := h.verification(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	known, _ := strconv.ParseInt(c.QueryParam("v"), 10, 64)
	w := c.Response()
	// The stream outlives the server's write timeout.
	_ = http.NewResponseController(w.Writer).SetWriteDeadline(time.Time{})
	hd := w.Header()
	hd.Set(echo.HeaderContentType, "text/event-stream")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	w.Flush()

	send := func(v *verify.Verification) error {
		p, err := h.panelProps(c, nil, name, v.EndUserID, v)
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		if err := verifyv.Panel(p).Render(ctx, &buf); err != nil {
			return err
		}
		if err := writeSSE(w, "panel", buf.Bytes()); err != nil {
			return err
		}
		w.Flush()
		return nil
	}
	hub := h.s.Verify.Hub()
	if v.Version != known || !streaming(v, h.s.Now()) {
		if err := send(v); err != nil || !streaming(v, h.s.Now()) {
			return nil
		}
		known = v.Version
	}
	changed, stop := hub.Watch(v.ID, known)
	defer stop()
	deadline := time.NewTimer(v.ExpiresAt.Sub(h.s.Now()) + 50*time.Millisecond)
	defer deadline.Stop()
	ping := time.NewTicker(sseHeartbeat)
	defer ping.Stop()
	tenantID := actor(c).TenantID
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-hub.Done():
			return nil
		case <-ping.C:
			if _, err := io.WriteString(w, ": ping\n\n"); err != nil {
				return nil
			}
			w.Flush()
		case <-changed:
			nv, err := h.s.Verify.Get(ctx, tenantID, v.ID)
			if err != nil {
				return nil
			}
			if nv.Version == known {
				continue
			}
			known = nv.Version
			if err := send(nv); err != nil || !streaming(nv, h.s.Now()) {
				return nil
			}
		case <-deadline.C:
			nv, err := h.s.Verify.Settle(ctx, tenantID, v.ID)
			if err != nil {
				return nil
			}
			_ = send(nv)
			return nil
		}
	}
}

// writeSSE writes one server-sent event (each line of data as a data: line).
func writeSSE(w io.Writer, event string, data []byte) error {
	var b bytes.Buffer
	b.WriteString("event: ")
	b.WriteString(event)
	b.WriteByte('\n')
	for _, line := range bytes.Split(data, []byte("\n")) {
		b.WriteString("data: ")
		b.Write(bytes.TrimRight(line, "\r"))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	_, err := w.Write(b.Bytes())
	return err
}

// ---- the end user's approval page (what the push opens)

// device returns the enrolled device of the request's device cookie, or
// answers the "open this on your phone" page (nil device).
func (h *verifyHandler) device(c echo.Context) (*device.Device, error) {
	d, err := h.s.Devices.Authenticate(c.Request().Context(), c.Request())
	if apperr.CodeOf(err) == apperr.Unauthorized {
		return nil, nil
	}
	return d, err
}

func (h *verifyHandler) noDevice(c echo.Context) error {
	retry := verify.ApprovalPath(c.Param("vid"))
	return h.renderPhone(c, http.StatusForbidden, "", "Open this on your phone", verifyv.NoDevice(verifyv.NoDeviceProps{Retry: retry}))
}

// approveProps fills the approval page from the request.
func (h *verifyHandler) approveProps(c echo.Context, r *verify.Request) verifyv.ApproveProps {
	v := r.Verification
	p := verifyv.ApproveProps{
		CSRF: h.s.csrfToken(c), Action: verify.ApprovalPath(v.ID), MSP: r.MSP, Technician: r.Technician, SelfServe: v.SelfServe(), Customer: r.Customer,
		EndUserName: r.EndUserName, State: string(r.State), Reason: v.Reason, PushCode: v.Method == verify.MethodPushCode, Code: r.Code,
		Choices: v.Choices(), DeadlineMS: v.ExpiresAt.UnixMilli(), NowMS: h.s.Now().UnixMilli(),
	}
	if !v.Method.IsPush() {
		p.State = "replaced"
	}
	return p
}

// renderPhone renders a page of the end user's phone in the self-serve
// layout, branded with the tenant's name and logo (tenantID "": the
// installation's).
func (h *verifyHandler) renderPhone(c echo.Context, status int, tenantID, title string, comp templ.Component) error {
	ss := &selfServeHandler{h.s}
	var t *tenant.Tenant
	if tenantID != "" {
		t, _ = tenant.Get(c.Request().Context(), h.s.DB.Bun, tenantID)
	}
	if t == nil {
		t, _ = ss.tenant(c, nil)
	}
	if t != nil {
		c.Set(ctxSelfServeTenant, t)
	}
	return ss.render(c, status, t, title, comp)
}

func (h *verifyHandler) showApproval(c echo.Context) error {
	noStore(c)
	d, err := h.device(c)
	if err != nil {
		return err
	}
	if d == nil {
		return h.noDevice(c)
	}
	r, err := h.s.Verify.ForDevice(c.Request().Context(), d, c.Param("vid"))
	if err != nil {
		return err
	}
	return h.renderPhone(c, http.StatusOK, r.Verification.TenantID, "Is this you?", verifyv.Approve(h.approveProps(c, r)))
}

// answer records the end user's Approve (or picked number) or Deny.
func (h *verifyHandler) answer(c echo.Context) error {
	noStore(c)
	d, err := h.device(c)
	if err != nil {
		return err
	}
	if d == nil {
		return h.noDevice(c)
	}
	ctx := c.Request().Context()
	vid := c.Param("vid")
	ans := verify.Answer{Approve: c.FormValue("answer") == "approve", Number: verify.ParseNumber(c.FormValue("number")), IP: c.RealIP()}
	_, err = h.s.Verify.Respond(ctx, d, vid, ans)
	switch apperr.CodeOf(err) {
	case "":
		return redirect(c, verify.ApprovalPath(vid))
	case apperr.Conflict, apperr.Invalid, apperr.Forbidden:
		r, gerr := h.s.Verify.ForDevice(ctx, d, vid)
		if gerr != nil {
			return gerr
		}
		p := h.approveProps(c, r)
		p.Message, p.Level = apperr.MessageOf(err), "warn"
		return h.renderPhone(c, statusOf(apperr.CodeOf(err)), r.Verification.TenantID, "Is this you?", verifyv.Approve(p))
	}
	return err
}

// savePushSubscription stores the browser's push subscription for the
// enrolled device of the request (static/js/push.js posts it as JSON).
func (h *verifyHandler) savePushSubscription(c echo.Context) error {
	d, err := h.device(c)
	if err != nil {
		return err
	}
	if d == nil {
		return apperr.New(apperr.Unauthorized, "Open this on the phone you enrolled.")
	}
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, 16<<10))
	if err != nil {
		return err
	}
	in, err := webpush.ParseSubscriptionJSON(body)
	if err != nil {
		return err
	}
	in.UserAgent = c.Request().UserAgent()
	if _, err := h.s.Devices.SetSubscription(c.Request().Context(), d, c.RealIP(), in); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// pushKey is the VAPID public key for PushManager.subscribe.
func (h *verifyHandler) pushKey(c echo.Context) error {
	k, err := h.s.Push.PublicKey(c.Request().Context())
	if err != nil {
		return err
	}
	return c.String(http.StatusOK, k)
}

// serviceWorker serves static/sw.js at the root, so that its scope covers
// the self-serve pages.
func (h *verifyHandler) serviceWorker(c echo.Context) error {
	b, err := fs.ReadFile(static.FS(), "sw.js")
	if err != nil {
		return err
	}
	hd := c.Response().Header()
	hd.Set("Cache-Control", "no-cache")
	hd.Set("Service-Worker-Allowed", "/")
	return c.Blob(http.StatusOK, "text/javascript; charset=utf-8", b)
}

// ---- the Settings page's section

// settingsSection is the verification section of the Settings page; it
// reads the tenant's settings when it renders.
func (h *verifyHandler) settingsSection(c echo.Context) templ.Component {
	return templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
		t := currentTenant(c)
		if t == nil {
			return nil
		}
		st, err := h.s.Verify.Settings(ctx, t.ID)
		if err != nil {
			return err
		}
		return verifyv.Settings(h.settingsProps(c, st)).Render(ctx, w)
	})
}

func (h *verifyHandler) settingsProps(c echo.Context, st verify.Settings) verifyv.SettingsProps {
	return verifyv.SettingsProps{CSRF: h.s.csrfToken(c), CodeMinutes: strconv.Itoa(int(st.CodeTTL / time.Minute)), NumberMatching: st.NumberMatching}
}

func (h *verifyHandler) saveSettings(c echo.Context) error {
	in := verify.SettingsInput{CodeMinutes: c.FormValue("code_minutes"), NumberMatching: c.FormValue("number_matching") == "on"}
	st, err := h.s.Verify.SaveSettings(c.Request().Context(), actor(c), in)
	if apperr.CodeOf(err) == apperr.Invalid {
		p := verifyv.SettingsProps{CSRF: h.s.csrfToken(c), CodeMinutes: in.CodeMinutes, NumberMatching: in.NumberMatching,
			Error: apperr.FieldsOf(err)["code_minutes"]}
		if isHTMX(c) {
			return h.s.partial(c, http.StatusUnprocessableEntity, verifyv.Settings(p))
		}
		h.s.flash(c, "danger", p.Error)
		return redirect(c, "/settings")
	}
	if err != nil {
		return err
	}
	const msg = "Verification settings saved."
	if !isHTMX(c) {
		h.s.flash(c, "ok", msg)
		return redirect(c, "/settings")
	}
	setToast(c, "ok", msg)
	p := h.settingsProps(c, st)
	p.Saved = msg
	return h.s.partial(c, http.StatusOK, verifyv.Settings(p))
}

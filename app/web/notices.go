package web

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/notice"
	noticesv "github.com/latchkey/latchkey/views/pages/notices"
)

// noticesHandler serves the notification screens: the preview of who each
// customer's next run notifies (Primary, Super, Technician), and the
// Settings page's notifications card (Primary, Super; the notice service
// checks the role again). The end user's page shows their notices through
// noticeHistory.
type noticesHandler struct{ s *Server }

// nextRunText says when a run is due, in its own zone.
func nextRunText(r *notice.NextRun) string {
	if r.Due {
		return "now (within 15 minutes)"
	}
	loc, err := time.LoadLocation(r.TimeZone)
	if err != nil {
		loc = time.UTC
	}
	return r.At.In(loc).Format("Mon 2 Jan 15:04 MST")
}

func (h *noticesHandler) showPreview(c echo.Context) error {
	tn := currentTenant(c)
	p, err := h.s.Notices.Preview(c.Request().Context(), tn.ID)
	if err != nil {
		return err
	}
	props := noticesv.PreviewProps{SelfServe: p.SelfServe, DaysBefore: p.Settings.DaysBefore, SMS: p.Settings.SMS,
		Hour: strconv.Itoa(100 + p.Hour)[1:] + ":00", IsAdmin: currentLogin(c).Role.IsAdmin(), Total: p.Total}
	for i := range p.Customers {
		r := &p.Customers[i]
		props.Customers = append(props.Customers, noticesv.PreviewRow{ID: r.CustomerID, Name: r.Name, TimeZone: r.TimeZone,
			NextRun: nextRunText(r), Count: r.Count, Today: r.Today})
	}
	return h.s.render(c, http.StatusOK, "Notifications", noticesv.Preview(props))
}

func (h *noticesHandler) showCustomer(c echo.Context) error {
	tn := currentTenant(c)
	r, users, p, err := h.s.Notices.PreviewCustomer(c.Request().Context(), tn.ID, c.Param("id"))
	if err != nil {
		return err
	}
	props := noticesv.CustomerProps{ID: r.CustomerID, Name: r.Name, TimeZone: r.TimeZone, SelfServe: p.SelfServe,
		NextRun: nextRunText(r), Count: r.Count, Today: r.Today, More: max(r.Count-len(users), 0)}
	loc, err := time.LoadLocation(r.TimeZone)
	if err != nil {
		loc = time.UTC
	}
	for _, u := range users {
		props.Users = append(props.Users, noticesv.UserRow{ID: u.ID, Name: u.Name(), Username: u.Username,
			Expires: u.ExpiresAt.In(loc).Format("Mon 2 Jan 2006 15:04 MST"), DaysLeft: u.DaysLeft,
			Email: u.Email != "", SMS: u.SMS, Push: u.HasPush})
	}
	return h.s.render(c, http.StatusOK, "Notifications: "+r.Name, noticesv.Customer(props))
}

// noticeSettingsCard is the Settings page's notifications card. It reads
// the settings when the page is rendered, so that every render of the full
// page has it and partial answers of the other cards cost nothing.
func (s *Server) noticeSettingsCard(c echo.Context) templ.Component {
	return templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
		st, err := s.Notices.Settings(ctx, currentTenant(c).ID)
		if err != nil {
			return err
		}
		return noticesv.SettingsCard(noticesv.SettingsProps{CSRF: s.csrfToken(c), DaysBefore: strconv.Itoa(st.DaysBefore), SMS: st.SMS}).Render(ctx, w)
	})
}

func (h *noticesHandler) saveSettings(c echo.Context) error {
	in := notice.SettingsInput{DaysBefore: c.FormValue("days_before"), SMS: c.FormValue("sms") == "on"}
	st, err := h.s.Notices.UpdateSettings(c.Request().Context(), actor(c), in)
	if apperr.CodeOf(err) == apperr.Invalid {
		p := noticesv.SettingsProps{CSRF: h.s.csrfToken(c), DaysBefore: in.DaysBefore, SMS: in.SMS, Errors: apperr.FieldsOf(err)}
		return h.s.partial(c, http.StatusUnprocessableEntity, noticesv.SettingsCard(p))
	}
	if err != nil {
		return err
	}
	const msg = "Notification settings saved."
	if !isHTMX(c) {
		h.s.flash(c, "ok", msg)
		return redirect(c, "/settings#notifications")
	}
	setToast(c, "ok", msg)
	return h.s.partial(c, http.StatusOK, noticesv.SettingsCard(noticesv.SettingsProps{CSRF: h.s.csrfToken(c),
		DaysBefore: strconv.Itoa(st.DaysBefore), SMS: st.SMS, Saved: msg}))
}

// noticeHistory is the end user's notices for their page (an empty list
// for another tenant's end user: the page itself answers 404 for those).
func (s *Server) noticeHistory(c echo.Context, endUserID string) (templ.Component, error) {
	items, err := s.Notices.History(c.Request().Context(), currentTenant(c).ID, endUserID)
	if err != nil {
		return nil, err
	}
	var p noticesv.HistoryProps
	for _, it := range items {
		loc, err := time.LoadLocation(it.TimeZone)
		if err != nil {
			loc = time.UTC
		}
		hi := noticesv.HistoryItem{ID: it.ID, When: it.PlannedAt.In(loc).Format("Jan 2, 2006 15:04 MST"), What: noticeWhat(&it.Notice),
			State: it.State, Reason: it.Reason}
		if it.State == notice.StateSent {
			hi.Channels = append(hi.Channels, channelOf("Email", it.Email, it.EmailMessageID, it.EmailNote))
			hi.Channels = append(hi.Channels, channelOf("SMS", it.SMS, it.SMSMessageID, it.SMSNote))
			if len(it.Push) == 0 {
				hi.Channels = append(hi.Channels, channelOf("Push", nil, it.PushMessageIDs, it.PushNote))
			}
			for i := range it.Push {
				hi.Channels = append(hi.Channels, channelOf("Push", &it.Push[i], "", ""))
			}
		}
		p.Items = append(p.Items, hi)
	}
	return noticesv.History(p), nil
}

// noticeWhat is what a notice said.
func noticeWhat(n *notice.Notice) string {
	if n.Kind == notice.KindLockout {
		return "Account locked"
	}
	switch n.DaysLeft {
	case 0:
		return "Password expires today"
	case 1:
		return "Password expires tomorrow"
	}
	return "Password expires in " + strconv.Itoa(n.DaysLeft) + " days"
}

// noticeMessageGone is a notice channel's detail once the retention job has
// deleted its message.
const noticeMessageGone = "delivery record no longer kept"

// channelOf is one channel's delivery: the message's status with the
// provider's report or error, why the channel was not used, or that its
// message (ids, as the notice names it) has been deleted since.
func channelOf(name string, d *notice.Delivery, ids, note string) noticesv.Channel {
	if d == nil {
		if ids != "" && note == "" {
			note = noticeMessageGone
		}
		return noticesv.Channel{Name: name, Detail: note}
	}
	ch := noticesv.Channel{Name: name, Status: d.Status}
	switch {
	case d.ProviderStatus != "":
		ch.Detail = d.ProviderStatus
		if d.ProviderError != "" {
			ch.Detail += ": " + d.ProviderError
		}
	case d.LastError != "":
		ch.Detail = d.LastError
	}
	return ch
}

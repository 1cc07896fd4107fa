package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/latchkey/latchkey/app/audit"
	eventsv "github.com/latchkey/latchkey/views/pages/events"
)

// eventsHandler serves the Events page (the tenant's audit trail) for
// Primary and Super logins: the filtered, paged list, the CSV export and the
// integrity check of the hash chain. The tenant always comes from the session.
type eventsHandler struct{ s *Server }

// eventsPerPage is the Events page's page size.
const eventsPerPage = 50

// maxFilterLen bounds each text filter.
const maxFilterLen = 200

// eventsQuery is the filter as typed in the URL, its parsed form, and field errors.
type eventsQuery struct {
	action, actor, target, result, from, to string
	page                                    int
	filter                                  audit.Filter
	errors                                  map[string]string
}

// tenantLoc is the signed-in tenant's time zone.
func tenantLoc(c echo.Context) *time.Location {
	if t := currentTenant(c); t != nil {
		return t.Location()
	}
	return time.UTC
}

func clip(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > maxFilterLen {
		s = s[:maxFilterLen]
	}
	return s
}

// notADate is the message for a date the address gave that is not one (the
// date box cannot show it, so the message quotes it).
func notADate(s string) string {
	return fmt.Sprintf("%q is not a date. Pick a day, or type it as YYYY-MM-DD.", s)
}

// parseEventsQuery reads the filter from the query string. Dates are days in
// the tenant's time zone: from its start, to the end of the "to" day.
func parseEventsQuery(c echo.Context) eventsQuery {
	q := eventsQuery{
		action: clip(c.QueryParam("action")), actor: clip(c.QueryParam("actor")), target: clip(c.QueryParam("target")),
		from: clip(c.QueryParam("from")), to: clip(c.QueryParam("to")), errors: map[string]string{},
	}
	switch r := c.QueryParam("result"); r {
	case audit.ResultOK, audit.ResultDenied, audit.ResultFailed:
		q.result = r
	}
	q.page, _ = strconv.Atoi(c.QueryParam("page"))
	q.page = max(q.page, 1)
	loc := tenantLoc(c)
	q.filter = audit.Filter{Action: q.action, Actor: q.actor, Target: q.target, Result: q.result, Page: q.page, PerPage: eventsPerPage}
	if q.from != "" {
		if d, err := time.ParseInLocation(time.DateOnly, q.from, loc); err != nil {
			q.errors["from"] = notADate(q.from)
		} else {
			q.filter.From = d
		}
	}
	if q.to != "" {
		if d, err := time.ParseInLocation(time.DateOnly, q.to, loc); err != nil {
			q.errors["to"] = notADate(q.to)
		} else {
			q.filter.To = d.AddDate(0, 0, 1)
		}
	}
	if !q.filter.From.IsZero() && !q.filter.To.IsZero() && !q.filter.To.After(q.filter.From) {
		q.errors["to"] = "The end date is before the start date."
		q.filter.To = time.Time{}
	}
	return q
}

// values returns the query string of the filter (without empty values) and,
// when page > 1, the page.
func (q eventsQuery) values(page int) url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"action": q.action, "actor": q.actor, "target": q.target, "result": q.result, "from": q.from, "to": q.to} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if page > 1 {
		v.Set("page", strconv.Itoa(page))
	}
	return v
}

func withQuery(path string, v url.Values) string {
	if len(v) == 0 {
		return path
	}
	return path + "?" + v.Encode()
}

// pageLinks returns Previous, page numbers around the current one (with the
// first and last, and gaps) and Next.
func pageLinks(page, pages int, url func(int) string) []eventsv.PageLink {
	links := []eventsv.PageLink{{Label: "‹ Previous", URL: url(page - 1), Disabled: page <= 1, Rel: "prev"}}
	last := 0
	for n := 1; n <= pages; n++ {
		if n != 1 && n != pages && (n < page-2 || n > page+2) {
			continue
		}
		if last != 0 && n > last+1 {
			links = append(links, eventsv.PageLink{Label: "…", Disabled: true})
		}
		links = append(links, eventsv.PageLink{Label: strconv.Itoa(n), URL: url(n), Current: n == page})
		last = n
	}
	return append(links, eventsv.PageLink{Label: "Next ›", URL: url(page + 1), Disabled: page >= pages, Rel: "next"})
}

// props lists the page of events that q selects.
func (h *eventsHandler) props(c echo.Context, q eventsQuery) (eventsv.Props, error) {
	tn := currentTenant(c)
	loc := tenantLoc(c)
	rows, total, err := audit.List(c.Request().Context(), h.s.DB.Bun, tn.ID, q.filter)
	if err != nil {
		return eventsv.Props{}, err
	}
	pages := max((total+eventsPerPage-1)/eventsPerPage, 1)
	if q.page > pages {
		// Past the end (e.g. a bookmarked page of a narrower filter): show the last page.
		q.page, q.filter.Page = pages, pages
		if rows, total, err = audit.List(c.Request().Context(), h.s.DB.Bun, tn.ID, q.filter); err != nil {
			return eventsv.Props{}, err
		}
	}
	p := eventsv.Props{
		Action: q.action, Actor: q.actor, Target: q.target, Result: q.result, From: q.from, To: q.to,
		Results: []eventsv.Option{
			{Value: audit.ResultOK, Label: "OK"}, {Value: audit.ResultDenied, Label: "Denied"}, {Value: audit.ResultFailed, Label: "Failed"},
		},
		Errors:   q.errors,
		Filtered: !q.filter.IsZero() || len(q.errors) > 0,
		TimeZone: loc.String(),
		Total:    total, Page: q.page, Pages: pages,
		CSVURL: withQuery("/events.csv", q.values(0)),
	}
	if len(rows) > 0 {
		p.FirstShown = (q.page-1)*eventsPerPage + 1
		p.LastShown = p.FirstShown + len(rows) - 1
	}
	for _, e := range rows {
		p.Rows = append(p.Rows, eventsv.Row{
			Seq: e.Seq, Day: e.At.In(loc).Format(time.DateOnly), Clock: e.At.In(loc).Format("15:04:05 MST"), WhenISO: e.At.UTC().Format(time.RFC3339),
			Actor: e.Actor, Action: e.Action, Target: e.Target, Result: e.Result, IP: e.IP, Detail: e.Detail,
		})
	}
	p.Links = pageLinks(q.page, pages, func(n int) string { return withQuery("/events", q.values(n)) })
	return p, nil
}

func (h *eventsHandler) showEvents(c echo.Context) error {
	q := parseEventsQuery(c)
	p, err := h.props(c, q)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if len(q.errors) > 0 {
		status = http.StatusUnprocessableEntity
	}
	c.Response().Header().Add("Vary", "HX-Target")
	if isHTMX(c) && c.Request().Header.Get("HX-Target") == "events-results" {
		return h.s.partial(c, status, eventsv.Results(p))
	}
	return h.s.render(c, status, "Events", eventsv.Page(p))
}

// exportEvents streams every event that the filter selects as CSV, and
// records the export in the trail itself.
func (h *eventsHandler) exportEvents(c echo.Context) error {
	q := parseEventsQuery(c)
	if len(q.errors) > 0 {
		// Export exactly what the page would show, never a wider set.
		p, err := h.props(c, q)
		if err != nil {
			return err
		}
		return h.s.render(c, http.StatusUnprocessableEntity, "Events", eventsv.Page(p))
	}
	tn := currentTenant(c)
	now := h.s.Now().In(tenantLoc(c))
	res := c.Response()
	res.Header().Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	res.Header().Set(echo.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="latchkey-events-%s.csv"`, now.Format("20060102-1504")))
	res.Header().Set("Cache-Control", "no-store")
	// Headers are sent with the first row; a failure before it is a normal
	// error page, one after it ends a truncated download (and is logged).
	w := &lazyHeader{res: res}
	if err := audit.Export(c.Request().Context(), h.s.DB, h.s.Now(), actor(c), q.filter, w); err != nil {
		if !res.Committed {
			return err
		}
		h.s.Log.ErrorContext(c.Request().Context(), "events export interrupted", "tenant", tn.ID, "err", err)
	}
	if !res.Committed {
		res.WriteHeader(http.StatusOK)
	}
	return nil
}

// lazyHeader writes the 200 status with the first byte.
type lazyHeader struct{ res *echo.Response }

func (l *lazyHeader) Write(b []byte) (int, error) {
	if !l.res.Committed {
		l.res.WriteHeader(http.StatusOK)
	}
	return l.res.Write(b)
}

// verifyChain checks the tenant's hash chain (htmx: the status partial;
// otherwise the Events page with the status).
func (h *eventsHandler) verifyChain(c echo.Context) error {
	tn := currentTenant(c)
	r, err := audit.Verify(c.Request().Context(), h.s.DB.Bun, tn.ID)
	if err != nil {
		return err
	}
	if !r.OK {
		h.s.Log.WarnContext(c.Request().Context(), "audit chain broken", "tenant", tn.ID, "seq", r.BrokenAt, "reason", r.Reason)
	}
	cp := eventsv.ChainProps{Checked: true, OK: r.OK, Count: r.Checked, BrokenAt: r.BrokenAt, Reason: r.Reason}
	c.Response().Header().Add("Vary", "HX-Target")
	if isHTMX(c) && c.Request().Header.Get("HX-Target") == "chain-status" {
		return h.s.partial(c, http.StatusOK, eventsv.Chain(cp))
	}
	p, err := h.props(c, parseEventsQuery(c))
	if err != nil {
		return err
	}
	p.Chain = cp
	return h.s.render(c, http.StatusOK, "Events", eventsv.Page(p))
}

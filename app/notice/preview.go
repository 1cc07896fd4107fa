package notice

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/db"
)

// NextRun is a customer's next expiry sweep.
type NextRun struct {
	CustomerID string
	Name       string
	TimeZone   string    // the zone it runs in (the customer's, else the tenant's)
	Day        string    // the local date it plans (YYYY-MM-DD)
	At         time.Time // when it is due (UTC); now or earlier when Due
	Due        bool      // due now: the next sweep (within 15 minutes) plans it
	Count      int       // end users who would get an expiry notice
	Today      int       // of which the password expires on Day itself

	lo, hi, dayEnd time.Time
}

// Preview is who would be notified at each customer's next run.
type Preview struct {
	SelfServe bool // the tenant's switch; off: nobody is notified
	Settings  Settings
	Hour      int       // the tenant's notification hour
	Customers []NextRun // customers with someone to notify, by name
	Total     int
}

// previewCustomer is a customer of the tenant with its zone and last run.
type previewCustomer struct {
	ID       string  `bun:"id"`
	Name     string  `bun:"name"`
	TimeZone string  `bun:"time_zone"`
	LastDay  *string `bun:"last_day"`
}

type tenantRow struct {
	TimeZone   string `bun:"time_zone"`
	Hour       int    `bun:"notification_hour"`
	SelfServe  bool   `bun:"self_serve_enabled"`
	DaysBefore int    `bun:"notice_days_before"`
	SMS        bool   `bun:"notice_sms"`
}

// Preview returns, per active customer of the tenant, when its next run is
// and how many end users it would notify, counted with the sweep's rules
// and leaving out those already notified that day; nothing is written. It
// reads a fixed number of statements, whatever the number of customers.
// Errors: NotFound (no such tenant).
func (s *Service) Preview(ctx context.Context, tenantID string) (*Preview, error) {
	now := s.now()
	tn, err := s.tenant(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	p := &Preview{SelfServe: tn.SelfServe, Settings: Settings{DaysBefore: tn.DaysBefore, SMS: tn.SMS}, Hour: tn.Hour}
	var cs []previewCustomer
	if err := s.d.DB.Bun.NewSelect().TableExpr("customers AS c").
		Join("LEFT JOIN notice_runs AS r ON r.customer_id = c.id").
		ColumnExpr("c.id, c.name, c.time_zone, r.day AS last_day").
		Where("c.tenant_id = ? AND c.archived_at IS NULL", tenantID).
		OrderExpr("lower(c.name), c.id").Scan(ctx, &cs); err != nil {
		return nil, fmt.Errorf("notice: preview customers: %w", err)
	}
	if !tn.SelfServe || len(cs) == 0 {
		return p, nil
	}
	runs := make([]NextRun, len(cs))
	byID := make(map[string]*NextRun, len(cs))
	for i, c := range cs {
		runs[i] = nextRun(c, tn, now)
		byID[c.ID] = &runs[i]
	}
	counts, err := s.countWindows(ctx, tenantID, runs)
	if err != nil {
		return nil, err
	}
	for _, k := range counts {
		if r := byID[k.CustomerID]; r != nil {
			r.Count, r.Today = k.N, k.Today
		}
	}
	for _, r := range runs {
		if r.Count > 0 {
			p.Customers = append(p.Customers, r)
			p.Total += r.Count
		}
	}
	return p, nil
}

func (s *Service) tenant(ctx context.Context, tenantID string) (*tenantRow, error) {
	var tn tenantRow
	if err := s.d.DB.Bun.NewSelect().Table("tenants").
		Column("time_zone", "notification_hour", "self_serve_enabled", "notice_days_before", "notice_sms").
		Where("id = ?", tenantID).Scan(ctx, &tn); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, apperr.New(apperr.NotFound, "This MSP account no longer exists.")
		}
		return nil, fmt.Errorf("notice: tenant: %w", err)
	}
	return &tn, nil
}

// nextRun works out a customer's next run at now: today's when it is not
// planned yet (due now once the hour has come), else tomorrow's.
func nextRun(c previewCustomer, tn *tenantRow, now time.Time) NextRun {
	loc, zone := location(c.TimeZone, tn.TimeZone)
	local := now.In(loc)
	day := local.Format(dayLayout)
	r := NextRun{CustomerID: c.ID, Name: c.Name, TimeZone: zone}
	switch {
	case c.LastDay != nil && *c.LastDay >= day:
		day = local.AddDate(0, 0, 1).Format(dayLayout)
	case local.Hour() >= tn.Hour:
		r.Due = true
	}
	d, _ := time.ParseInLocation(dayLayout, day, loc)
	r.Day = day
	r.At = time.Date(d.Year(), d.Month(), d.Day(), tn.Hour, 0, 0, 0, loc).UTC()
	r.lo, r.hi, r.dayEnd = dayStart(day, 0, loc), dayStart(day, tn.DaysBefore+1, loc), dayStart(day, 1, loc)
	return r
}

type windowCount struct {
	CustomerID string `bun:"customer_id"`
	N          int    `bun:"n"`
	Today      int    `bun:"today"`
}

// windowsCTE is a WITH clause naming each run's window as a table
// w(customer_id, lo, hi, day_end, day).
func (s *Service) windowsCTE(runs []NextRun) (string, []any) {
	ts := "?"
	if s.d.DB.Dialect == db.Postgres {
		ts = "CAST(? AS TIMESTAMPTZ)"
	}
	var b strings.Builder
	args := make([]any, 0, 5*len(runs))
	b.WriteString("WITH w (customer_id, lo, hi, day_end, day) AS (VALUES ")
	for i, r := range runs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, " + ts + ", " + ts + ", " + ts + ", ?)")
		args = append(args, r.CustomerID, r.lo, r.hi, r.dayEnd, r.Day)
	}
	b.WriteString(") ")
	return b.String(), args
}

// countWindows counts, per run, the eligible end users whose password
// expires within its window and who have no expiry notice for its day.
func (s *Service) countWindows(ctx context.Context, tenantID string, runs []NextRun) ([]windowCount, error) {
	cte, args := s.windowsCTE(runs)
	args = append(args, tenantID)
	var out []windowCount
	err := s.d.DB.Bun.NewRaw(cte+`SELECT w.customer_id, count(*) AS n,
		sum(CASE WHEN eu.password_expires_at < w.day_end THEN 1 ELSE 0 END) AS today
		FROM w JOIN end_users AS eu ON eu.customer_id = w.customer_id
			AND eu.password_expires_at >= w.lo AND eu.password_expires_at < w.hi
		WHERE eu.tenant_id = ? AND `+eligibleSQL+`
			AND NOT EXISTS (SELECT 1 FROM notices AS n WHERE n.end_user_id = eu.id AND n.kind = 'expiry' AND n.day = w.day)
		GROUP BY w.customer_id`, args...).Scan(ctx, &out)
	if err != nil {
		return nil, fmt.Errorf("notice: preview counts: %w", err)
	}
	return out, nil
}

// PreviewUser is one end user the next run would notify.
type PreviewUser struct {
	ID        string    `bun:"id"`
	FirstName string    `bun:"first_name"`
	LastName  string    `bun:"last_name"`
	Username  string    `bun:"username"`
	Email     string    `bun:"email"`
	Mobile    string    `bun:"mobile"`
	ExpiresAt time.Time `bun:"password_expires_at"`
	OptedOut  bool      `bun:"opted_out"`
	HasPush   bool      `bun:"has_push"`
	DaysLeft  int       `bun:"-"`
	SMS       bool      `bun:"-"` // a text message would go too
}

// Name is "First Last", or the username.
func (u *PreviewUser) Name() string {
	if n := strings.TrimSpace(u.FirstName + " " + u.LastName); n != "" {
		return n
	}
	return u.Username
}

// PreviewCustomerLimit is the most end users PreviewCustomer lists.
const PreviewCustomerLimit = 200

// PreviewCustomer lists the first PreviewCustomerLimit end users (soonest
// expiry first) that one customer's next run would notify, with the
// channels each would get, and the run itself.
// Errors: NotFound (no such customer in the tenant, or archived).
func (s *Service) PreviewCustomer(ctx context.Context, tenantID, customerID string) (*NextRun, []PreviewUser, *Preview, error) {
	now := s.now()
	tn, err := s.tenant(ctx, tenantID)
	if err != nil {
		return nil, nil, nil, err
	}
	var cs []previewCustomer
	if err := s.d.DB.Bun.NewSelect().TableExpr("customers AS c").
		Join("LEFT JOIN notice_runs AS r ON r.customer_id = c.id").
		ColumnExpr("c.id, c.name, c.time_zone, r.day AS last_day").
		Where("c.tenant_id = ? AND c.id = ? AND c.archived_at IS NULL", tenantID, customerID).Scan(ctx, &cs); err != nil {
		return nil, nil, nil, fmt.Errorf("notice: preview customer: %w", err)
	}
	if len(cs) == 0 {
		return nil, nil, nil, apperr.New(apperr.NotFound, "That customer does not exist.")
	}
	p := &Preview{SelfServe: tn.SelfServe, Settings: Settings{DaysBefore: tn.DaysBefore, SMS: tn.SMS}, Hour: tn.Hour}
	r := nextRun(cs[0], tn, now)
	if !tn.SelfServe {
		return &r, nil, p, nil
	}
	counts, err := s.countWindows(ctx, tenantID, []NextRun{r})
	if err != nil {
		return nil, nil, nil, err
	}
	if len(counts) > 0 {
		r.Count, r.Today = counts[0].N, counts[0].Today
	}
	var users []PreviewUser
	err = s.d.DB.Bun.NewSelect().TableExpr("end_users AS eu").
		ColumnExpr("eu.id, eu.first_name, eu.last_name, eu.username, eu.email, eu.mobile, eu.password_expires_at").
		ColumnExpr("EXISTS (SELECT 1 FROM sms_opt_outs AS o WHERE o.tenant_id = eu.tenant_id AND o.phone = eu.mobile) AS opted_out").
		ColumnExpr("EXISTS (SELECT 1 FROM push_subscriptions AS ps WHERE ps.tenant_id = eu.tenant_id AND ps.end_user_id = eu.id AND ps.revoked_at IS NULL) AS has_push").
		Where("eu.tenant_id = ? AND eu.customer_id = ?", tenantID, customerID).
		Where("eu.password_expires_at >= ? AND eu.password_expires_at < ?", r.lo, r.hi).
		Where(eligibleSQL).
		Where("NOT EXISTS (SELECT 1 FROM notices AS n WHERE n.end_user_id = eu.id AND n.kind = ? AND n.day = ?)", KindExpiry, r.Day).
		OrderExpr("eu.password_expires_at, eu.id").Limit(PreviewCustomerLimit).Scan(ctx, &users)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("notice: preview end users: %w", err)
	}
	loc, _ := location(r.TimeZone, "")
	for i := range users {
		u := &users[i]
		u.DaysLeft = daysBetween(r.Day, localDay(u.ExpiresAt, loc))
		u.SMS = tn.SMS && u.Mobile != "" && !u.OptedOut
	}
	return &r, users, p, nil
}

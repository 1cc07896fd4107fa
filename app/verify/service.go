package verify

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/uptrace/bun"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/app/credential"
	"github.com/latchkey/latchkey/app/device"
	"github.com/latchkey/latchkey/app/enduser"
	"github.com/latchkey/latchkey/app/login"
	"github.com/latchkey/latchkey/app/notify"
	"github.com/latchkey/latchkey/app/secret"
	"github.com/latchkey/latchkey/app/sms"
	"github.com/latchkey/latchkey/app/webpush"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/jobs/jobargs"
)

// Deps are what the verification service needs.
type Deps struct {
	DB   *db.DB
	Keys *secret.Keyring
	Jobs db.Inserter
	SMS  *sms.Queue
	Push *webpush.Queue
	Mail *notify.Queue
	Now  func() time.Time
	Log  *slog.Logger
	// PushTimeout is how long a push waits for the phone
	// (DefaultPushTimeout when 0; tests shorten it).
	PushTimeout time.Duration
	// PollInterval is how often live panels look for changes made by
	// another process (DefaultPollInterval when 0).
	PollInterval time.Duration
	// Link makes an absolute URL under LATCHKEY_BASE_URL (the admins' alert).
	Link func(path string) string
}

// Service is the identity verification domain service.
type Service struct {
	d   Deps
	hub *Hub
}

// NewService returns a Service.
func NewService(d Deps) *Service {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.PushTimeout <= 0 {
		d.PushTimeout = DefaultPushTimeout
	}
	return &Service{d: d, hub: NewHub(d.DB, d.PollInterval, d.Log)}
}

// Hub is the broadcaster of changes for live panels.
func (s *Service) Hub() *Hub { return s.hub }

// PushTimeout is how long a push waits for the phone.
func (s *Service) PushTimeout() time.Duration { return s.d.PushTimeout }

func (s *Service) now() time.Time { return s.d.Now().UTC() }

// ApprovalPath is the end user's approval page of a push verification
// (under the device cookie's path, so the browser sends the credential).
func ApprovalPath(id string) string { return device.CookiePath + "/verify/" + id }

// codeAAD binds a code's ciphertext to its tenant and verification.
func codeAAD(tenantID, id string) []byte { return []byte("verifications/" + tenantID + "/" + id) }

// Code returns the verification's six digits ("" when it has none). Only
// the technician's panel and the end user's approval page (push + code,
// after approval) show it; never log it.
func (s *Service) Code(v *Verification) (string, error) {
	if len(v.Code) == 0 {
		return "", nil
	}
	b, err := s.d.Keys.Decrypt(v.Code, codeAAD(v.TenantID, v.ID))
	if err != nil {
		return "", fmt.Errorf("verify: code of %s: %w", v.ID, err)
	}
	return string(b), nil
}

// target is the end user a verification is for, with what decides which
// methods are available.
type target struct {
	EndUser        *enduser.EndUser
	CustomerName   string
	TenantName     string
	TenantSwitch   bool
	Location       *time.Location // the tenant's time zone (for messages)
	Settings       Settings
	Devices        device.Counts
	DeviceLabel    string // the only active device's label
	OptedOut       bool
	BlockedUntil   *time.Time
	BlockReason    string // verify_blocks.reason: "sends_per_hour" or "failures"
	SendsLastHour  int
	SendAgainAt    *time.Time // when SendsLastHour drops below SendsPerHour (at the limit only)
	PendingPushes  int
	SelfServeState string // "" when active, else why not
}

// loadTarget reads the end user (of the tenant, of a customer that is not
// archived) and what decides the methods. Errors: NotFound.
func (s *Service) loadTarget(ctx context.Context, idb bun.IDB, tenantID, endUserID string, now time.Time) (*target, error) {
	u, err := enduser.Get(ctx, idb, tenantID, endUserID)
	if err != nil {
		return nil, err
	}
	t := &target{EndUser: u}
	// Two statements for the rest (the panel is on the end user's page):
	// the customer, tenant and settings; then the counters.
	var (
		archived *time.Time
		ttl      sql.NullInt64
		matching sql.NullBool
		zone     string
	)
	err = idb.NewRaw(`SELECT c.name, c.archived_at, t.name, t.self_serve_enabled, t.time_zone, vs.code_ttl_seconds, vs.number_matching
		FROM customers AS c JOIN tenants AS t ON t.id = c.tenant_id LEFT JOIN verify_settings AS vs ON vs.tenant_id = t.id
		WHERE c.tenant_id = ? AND c.id = ?`, tenantID, u.CustomerID).
		Scan(ctx, &t.CustomerName, &archived, &t.TenantName, &t.TenantSwitch, &zone, &ttl, &matching)
	if errors.Is(err, sql.ErrNoRows) || archived != nil {
		return nil, apperr.New(apperr.NotFound, "That end user does not exist.")
	}
	if err != nil {
		return nil, fmt.Errorf("verify: customer and tenant: %w", err)
	}
	t.Location = time.UTC
	if loc, err := time.LoadLocation(zone); err == nil && zone != "" {
		t.Location = loc
	}
	t.Settings = DefaultSettings
	if ttl.Valid {
		t.Settings = Settings{CodeTTL: time.Duration(ttl.Int64) * time.Second, NumberMatching: matching.Bool}
	}
	// The counters read the tables of app/device (devices), app/webpush
	// (push_subscriptions) and app/sms (sms_opt_outs) as device.CountActive
	// and sms.OptedOut do, in one round trip.
	var (
		label   sql.NullString
		blocked int
		optOut  int
	)
	active := "d.tenant_id = ? AND d.end_user_id = ? AND d.revoked_at IS NULL"
	err = idb.NewRaw(`SELECT
		(SELECT COUNT(*) FROM devices AS d WHERE `+active+`),
		(SELECT COUNT(*) FROM devices AS d JOIN push_subscriptions AS ps ON ps.id = d.subscription_id AND ps.tenant_id = d.tenant_id
			WHERE `+active+` AND ps.revoked_at IS NULL),
		(SELECT MIN(d.label) FROM devices AS d WHERE `+active+`),
		(SELECT COUNT(*) FROM verifications WHERE tenant_id = ? AND end_user_id = ? AND created_at > ? AND `+sentSQL+`),
		(SELECT COUNT(*) FROM verifications WHERE tenant_id = ? AND end_user_id = ? AND created_at > ? AND method IN (?) AND responded_at IS NULL),
		(SELECT COUNT(*) FROM verify_blocks WHERE tenant_id = ? AND end_user_id = ? AND blocked_until > ?),
		(SELECT COUNT(*) FROM sms_opt_outs WHERE tenant_id = ? AND phone = ?)`,
		tenantID, endUserID, tenantID, endUserID, tenantID, endUserID,
		tenantID, endUserID, now.Add(-time.Hour), StateFailed, FallbackNoSubscription,
		tenantID, endUserID, now.Add(-PendingPushWindow), bun.In([]Method{MethodPush, MethodPushCode}),
		tenantID, endUserID, now,
		tenantID, u.Mobile).
		Scan(ctx, &t.Devices.Active, &t.Devices.Push, &label, &t.SendsLastHour, &t.PendingPushes, &blocked, &optOut)
	if err != nil {
		return nil, fmt.Errorf("verify: counters: %w", err)
	}
	if t.Devices.Active == 1 {
		t.DeviceLabel = label.String
	}
	t.OptedOut = u.Mobile != "" && optOut > 0
	if blocked > 0 { // rare: read when
		var until time.Time
		if err := idb.NewSelect().Table("verify_blocks").Column("blocked_until", "reason").
			Where("tenant_id = ? AND end_user_id = ?", tenantID, endUserID).Scan(ctx, &until, &t.BlockReason); err != nil {
			return nil, fmt.Errorf("verify: block: %w", err)
		}
		t.BlockedUntil = &until
	} else if t.SendsLastHour >= SendsPerHour { // at the limit: when a send leaves the hour
		var at time.Time
		if err := idb.NewSelect().Table("verifications").Column("created_at").
			Where("tenant_id = ? AND end_user_id = ? AND created_at > ? AND "+sentSQL, tenantID, endUserID, now.Add(-time.Hour), StateFailed, FallbackNoSubscription).
			OrderExpr("created_at").Offset(int64(t.SendsLastHour-SendsPerHour)).Limit(1).Scan(ctx, &at); err != nil {
			return nil, fmt.Errorf("verify: oldest send: %w", err)
		}
		again := at.Add(time.Hour)
		t.SendAgainAt = &again
	}
	switch {
	case !t.TenantSwitch:
		t.SelfServeState = "Self-serve is off for your whole MSP (Settings)."
	case !u.SelfServeEnabled:
		t.SelfServeState = "Self-serve is off for this end user."
	case u.Status() < enduser.StatusRegistered:
		t.SelfServeState = "Self-serve is off until the end user's registration is complete."
	}
	return t, nil
}

// sentSQL is the condition on verifications that counts a send against
// SendsPerHour: everything that sent a code or a push, also when it was
// cancelled or superseded right after (the message went out: the limit is
// against SMS pumping and harassment), but not a push that sent nothing
// (no device accepts pushes and there was no mobile for a code). Its
// arguments: StateFailed, FallbackNoSubscription.
const sentSQL = "NOT (state = ? AND fallback = ?)"

// when formats t in the tenant's time zone for a message.
func (t *target) when(at time.Time) string { return at.In(t.Location).Format("Jan 2 15:04 MST") }

// Option is one method as the panel offers it.
type Option struct {
	Method      Method
	Available   bool
	Reason      string // why not (disabled)
	Destination string // masked: where the code or push goes
	Note        string // a warning that does not disable it
}

// Availability is what the panel needs to offer methods for an end user.
type Availability struct {
	EndUser        *enduser.EndUser
	CustomerName   string
	Options        []Option // SMS code, Email code, Push, Push + code
	Default        Method   // "" when none is available
	Blocked        string   // sending is not possible now: why, and when it is again (the tenant's time zone)
	BlockedUntil   *time.Time
	SendAgainAt    *time.Time // at SendsPerHour sends in the last hour: when the oldest leaves the hour
	NumberMatching bool
	CodeTTL        time.Duration
	PushTimeout    time.Duration
}

// Option returns the option of method m.
func (a *Availability) Option(m Method) Option {
	for _, o := range a.Options {
		if o.Method == m {
			return o
		}
	}
	return Option{Method: m}
}

func devicesText(n int, label string) string {
	if n == 1 && label != "" {
		return label
	}
	if n == 1 {
		return "1 enrolled device"
	}
	return strconv.Itoa(n) + " enrolled devices"
}

// availability computes the methods for t.
func (s *Service) availability(t *target) *Availability {
	u := t.EndUser
	a := &Availability{EndUser: u, CustomerName: t.CustomerName, NumberMatching: t.Settings.NumberMatching,
		CodeTTL: t.Settings.CodeTTL, PushTimeout: s.d.PushTimeout, BlockedUntil: t.BlockedUntil, SendAgainAt: t.SendAgainAt}
	smsOpt := Option{Method: MethodSMS, Available: true, Destination: enduser.MaskMobile(u.Mobile)}
	switch {
	case u.Mobile == "":
		smsOpt.Available, smsOpt.Reason = false, "No mobile number."
	case t.OptedOut:
		smsOpt.Available, smsOpt.Reason = false, "The mobile number replied STOP to your text messages."
	}
	emailOpt := Option{Method: MethodEmail, Available: true, Destination: enduser.MaskValue(enduser.FieldEmail, u.Email)}
	switch {
	case u.Email == "":
		emailOpt.Available, emailOpt.Reason, emailOpt.Destination = false, "No email address.", ""
	case u.Privileged:
		emailOpt.Available, emailOpt.Reason = false, "Privileged account: an email code only proves access to the mailbox."
	}
	pushOpt := Option{Method: MethodPush, Available: true, Destination: devicesText(t.Devices.Active, t.DeviceLabel)}
	switch {
	case t.SelfServeState != "":
		pushOpt.Available, pushOpt.Reason, pushOpt.Destination = false, t.SelfServeState, ""
	case t.Devices.Active == 0:
		pushOpt.Available, pushOpt.Reason, pushOpt.Destination = false, "No enrolled device.", ""
	case t.Devices.Push == 0 && !smsOpt.Available:
		pushOpt.Available, pushOpt.Reason = false, "Notifications are off on the enrolled device, and there is no mobile number for an SMS code instead."
	case t.Devices.Push == 0:
		pushOpt.Note = "Notifications are off on the enrolled device: an SMS code goes instead."
	}
	if pushOpt.Available && t.PendingPushes >= PendingPushes {
		pushOpt.Available = false
		pushOpt.Reason = fmt.Sprintf("%d pushes in the last %d minutes went unanswered: use a code, or wait.", t.PendingPushes, int(PendingPushWindow/time.Minute))
	}
	pushCode := pushOpt
	pushCode.Method = MethodPushCode
	a.Options = []Option{smsOpt, emailOpt, pushOpt, pushCode}
	switch {
	case t.BlockedUntil != nil && t.BlockReason == "failures":
		a.Blocked = fmt.Sprintf("Too many failed verifications (wrong codes, denials) for this end user: sending is blocked until %s.", t.when(*t.BlockedUntil))
	case t.BlockedUntil != nil:
		a.Blocked = fmt.Sprintf("Too many codes and pushes were sent to this end user: sending is blocked until %s.", t.when(*t.BlockedUntil))
	case t.SendAgainAt != nil:
		a.Blocked = fmt.Sprintf("%d codes or pushes were sent to this end user in the last hour, the most allowed. Sending is possible again at %s.",
			t.SendsLastHour, t.when(*t.SendAgainAt))
	}
	for _, m := range []Method{MethodPush, MethodSMS, MethodEmail} {
		if a.Option(m).Available {
			a.Default = m
			break
		}
	}
	return a
}

// Availability returns the methods the actor's tenant may use to verify the
// end user, each available or disabled with the reason.
// Errors: NotFound (another tenant's end user, or one of an archived customer).
func (s *Service) Availability(ctx context.Context, a audit.Actor, endUserID string) (*Availability, error) {
	t, err := s.loadTarget(ctx, s.d.DB.Bun, a.TenantID, endUserID, s.now())
	if err != nil {
		return nil, err
	}
	return s.availability(t), nil
}

// receiptAlphabet has no 0/O, 1/I/L: receipts are read out and typed.
const receiptAlphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"

// newReceipt returns a receipt id like "LK-7K2M-9QXD" (about 40 bits).
func newReceipt() (string, error) {
	var b strings.Builder
	b.WriteString("LK-")
	for i := range 8 {
		if i == 4 {
			b.WriteByte('-')
		}
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(receiptAlphabet))))
		if err != nil {
			return "", fmt.Errorf("verify: receipt: %w", err)
		}
		b.WriteByte(receiptAlphabet[n.Int64()])
	}
	return b.String(), nil
}

// randInt returns a uniform integer in [lo, hi] from crypto/rand.
func randInt(lo, hi int) (int, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(int64(hi-lo+1)))
	if err != nil {
		return 0, fmt.Errorf("verify: random: %w", err)
	}
	return lo + int(n.Int64()), nil
}

// matchNumbers returns the number for the technician's screen and the three
// numbers (it and two others, shuffled) for the phone.
func matchNumbers() (int, string, error) {
	right, err := randInt(10, 99)
	if err != nil {
		return 0, "", err
	}
	nums := []int{right}
	for len(nums) < 3 {
		n, err := randInt(10, 99)
		if err != nil {
			return 0, "", err
		}
		dup := false
		for _, m := range nums {
			dup = dup || m == n
		}
		if !dup {
			nums = append(nums, n)
		}
	}
	for i := len(nums) - 1; i > 0; i-- {
		j, err := randInt(0, i)
		if err != nil {
			return 0, "", err
		}
		nums[i], nums[j] = nums[j], nums[i]
	}
	parts := make([]string, 3)
	for i, n := range nums {
		parts[i] = strconv.Itoa(n)
	}
	return right, strings.Join(parts, ","), nil
}

func (s *Service) publishAfter(tx *db.Tx, ids ...string) {
	tx.AfterCommit(func() {
		for _, id := range ids {
			s.hub.Publish(id)
		}
	})
}

// Start sends a verification to the end user by method and returns it. A
// push goes to every device with notifications allowed; when none has them
// (or the end user has no working subscription), an SMS code goes instead
// and the verification says so (Fallback). Open verifications of the end
// user are superseded. Audited as `verification.start` with the receipt.
// Errors: NotFound (another tenant's end user, or of an archived customer),
// Invalid (unknown method), Conflict (the method is not available: the
// message says why; also an SMS to a number that replied STOP),
// RateLimited (five sends in the last hour: sending is now blocked for 24
// hours; already blocked; three unanswered pushes in 10 minutes; the
// tenant's daily SMS limit).
func (s *Service) Start(ctx context.Context, a audit.Actor, endUserID string, method Method) (*Verification, error) {
	if !method.Valid() {
		return nil, apperr.New(apperr.Invalid, "Choose how to verify the end user.")
	}
	if a.TenantID == "" {
		return nil, apperr.New(apperr.NotFound, "That end user does not exist.")
	}
	var (
		out      *Verification
		limitErr error
	)
	err := s.d.DB.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		now := s.now()
		t, err := s.loadTarget(ctx, tx, a.TenantID, endUserID, now)
		if err != nil {
			return err
		}
		av := s.availability(t)
		if t.BlockedUntil != nil {
			limitErr = apperr.New(apperr.RateLimited, "%s", av.Blocked)
			return nil
		}
		if t.SendsLastHour >= SendsPerHour {
			until := now.Add(BlockFor)
			if err := s.block(ctx, tx, a, t, until, now); err != nil {
				return err
			}
			limitErr = apperr.New(apperr.RateLimited, "%d codes or pushes were sent to this end user in the last hour: sending is blocked for 24 hours.", t.SendsLastHour)
			return nil
		}
		opt := av.Option(method)
		if !opt.Available {
			if method.IsPush() && t.PendingPushes >= PendingPushes && t.SelfServeState == "" && t.Devices.Active > 0 {
				return apperr.New(apperr.RateLimited, "%s", opt.Reason)
			}
			return apperr.New(apperr.Conflict, "%s is not available: %s", method.Label(), opt.Reason)
		}
		superseded, err := s.supersede(ctx, tx, a, t, now)
		if err != nil {
			return err
		}
		v, err := s.create(ctx, tx, a, t, method, now)
		if err != nil {
			return err
		}
		s.publishAfter(tx, superseded...)
		out = v
		return nil
	})
	if err != nil {
		return nil, err
	}
	if limitErr != nil {
		return nil, limitErr
	}
	return out, nil
}

// block stops sending to the end user until until (audited).
func (s *Service) block(ctx context.Context, tx *db.Tx, a audit.Actor, t *target, until, now time.Time) error {
	return s.blockFor(ctx, tx, a, t.EndUser.ID, t.EndUser.Name(), "sends_per_hour", until, now,
		fmt.Sprintf("%d codes or pushes in an hour: sending blocked until %s UTC", t.SendsLastHour, until.Format("2006-01-02 15:04")))
}

func (s *Service) blockFor(ctx context.Context, tx *db.Tx, a audit.Actor, endUserID, name, reason string, until, now time.Time, detail string) error {
	if _, err := tx.NewInsert().Table("verify_blocks").Model(&map[string]any{
		"tenant_id": a.TenantID, "end_user_id": endUserID, "blocked_until": until, "reason": reason, "created_at": now,
	}).On("CONFLICT (tenant_id, end_user_id) DO UPDATE").Set("blocked_until = EXCLUDED.blocked_until").
		Set("reason = EXCLUDED.reason").Set("created_at = EXCLUDED.created_at").Exec(ctx); err != nil {
		return fmt.Errorf("verify: block: %w", err)
	}
	return audit.Record(ctx, tx, now, a, audit.Entry{
		Action: "verification.blocked", TargetType: "end_user", TargetID: endUserID, Target: name, Result: audit.ResultDenied, Detail: detail,
	})
}

// countFailure notes a failure of v (a wrong code, a denial): the
// FailuresPerDay-th failure of the end user in 24 hours blocks codes and
// pushes to them for 24 hours and emails the MSP's Primary and Super logins.
func (s *Service) countFailure(ctx context.Context, tx *db.Tx, v *Verification, now time.Time) error {
	var n int
	if err := tx.NewSelect().Model((*Verification)(nil)).
		ColumnExpr("COALESCE(SUM(wrong_tries), 0) + COALESCE(SUM(CASE WHEN state = ? THEN 1 ELSE 0 END), 0)", StateDenied).
		Where("tenant_id = ? AND end_user_id = ? AND updated_at > ?", v.TenantID, v.EndUserID, now.Add(-24*time.Hour)).
		Scan(ctx, &n); err != nil {
		return fmt.Errorf("verify: failures: %w", err)
	}
	if n != FailuresPerDay {
		return nil // below, or the block and the alert are out already
	}
	name, err := endUserName(ctx, tx, v)
	if err != nil {
		return err
	}
	until := now.Add(BlockFor)
	if err := s.blockFor(ctx, tx, audit.System(v.TenantID), v.EndUserID, name, "failures", until, now,
		fmt.Sprintf("%d failed verifications (wrong codes, denials) in 24 hours: sending blocked until %s UTC", n, until.Format("2006-01-02 15:04"))); err != nil {
		return err
	}
	admins, err := login.Admins(ctx, tx, v.TenantID)
	if err != nil {
		return err
	}
	link := ""
	if s.d.Link != nil {
		link = s.d.Link("/end-users/" + v.EndUserID)
	}
	for _, ad := range admins {
		if _, err := s.d.Mail.Email(ctx, tx, v.TenantID, ad.Email, "verification_alert", notify.Email{
			Subject:  "Repeated failed identity verifications for " + name,
			Greeting: "Hi " + ad.FirstName + ",",
			Lines: []string{
				fmt.Sprintf("%s failed identity verification %d times in the last 24 hours (wrong codes, or requests denied on their phone; the last one by %s, receipt %s).", name, n, v.RequestedBy, v.Receipt),
				"Someone may be impersonating them. Codes and pushes to them are blocked until " + until.Format("Jan 2 15:04") + " UTC; a Primary or Super login can lift the block on the end user's page.",
			},
			ActionText: "Open the end user", ActionURL: link,
			After: []string{"You get this email because you are a Primary or Super login."},
		}); err != nil {
			return err
		}
	}
	return nil
}

// supersede cancels the end user's open verifications (a new code makes the
// old one useless) and returns their ids.
func (s *Service) supersede(ctx context.Context, tx *db.Tx, a audit.Actor, t *target, now time.Time) ([]string, error) {
	var open []Verification
	if err := tx.NewSelect().Model(&open).Column("id", "receipt", "version").
		Where("tenant_id = ? AND end_user_id = ? AND state IN (?)", a.TenantID, t.EndUser.ID, bun.In([]State{StatePending, StateApproved})).
		Scan(ctx); err != nil {
		return nil, fmt.Errorf("verify: open verifications: %w", err)
	}
	ids := make([]string, 0, len(open))
	for _, v := range open {
		if _, err := tx.NewUpdate().Model((*Verification)(nil)).Set("state = ?", StateCancelled).Set("reason = ?", ReasonSuperseded).
			Set("decided_at = ?", now).Set("updated_at = ?", now).Set("version = version + 1").
			Where("id = ? AND state IN (?)", v.ID, bun.In([]State{StatePending, StateApproved})).Exec(ctx); err != nil {
			return nil, fmt.Errorf("verify: supersede: %w", err)
		}
		ids = append(ids, v.ID)
	}
	return ids, nil
}

// create stores a new verification of method for t and sends it.
func (s *Service) create(ctx context.Context, tx *db.Tx, a audit.Actor, t *target, method Method, now time.Time) (*Verification, error) {
	receipt, err := newReceipt()
	if err != nil {
		return nil, err
	}
	u := t.EndUser
	v := &Verification{
		ID: db.NewID(), TenantID: a.TenantID, CustomerID: u.CustomerID, EndUserID: u.ID, Receipt: receipt,
		RequestedMethod: method, Method: method, State: StatePending, RequestedByID: a.LoginID, RequestedBy: a.Name,
		CreatedAt: now, UpdatedAt: now, Version: 1,
	}
	if method.IsPush() {
		v.ExpiresAt = now.Add(s.d.PushTimeout)
		v.Destination = devicesText(t.Devices.Active, t.DeviceLabel)
		if t.Settings.NumberMatching {
			if v.MatchNumber, v.MatchChoices, err = matchNumbers(); err != nil {
				return nil, err
			}
		}
	} else {
		v.ExpiresAt = now.Add(t.Settings.CodeTTL)
	}
	var code string
	if method.HasCode() {
		if code, err = s.setCode(v); err != nil {
			return nil, err
		}
	}
	if method == MethodSMS {
		v.Destination = enduser.MaskMobile(u.Mobile)
	}
	if method == MethodEmail {
		v.Destination = enduser.MaskValue(enduser.FieldEmail, u.Email)
	}

	if method.IsPush() {
		err := s.insert(ctx, tx, v)
		if err != nil {
			return nil, err
		}
		body := a.Name + " is verifying your identity. Tap to approve or deny."
		if v.SelfServe() {
			body = "Someone is using " + t.TenantName + "'s self-serve pages as you. Tap to approve or deny."
		}
		deliveries, err := s.d.Push.Push(ctx, tx, a.TenantID, u.ID, webpush.Payload{
			Title: t.TenantName + ": is this you?", Body: body,
			URL: ApprovalPath(v.ID), ID: v.ID, Kind: "verification",
		}, s.d.PushTimeout, webpush.UrgencyHigh)
		switch {
		case errors.Is(err, webpush.ErrNoSubscription):
			if err := s.fallback(ctx, tx, t, v, FallbackNoSubscription, now); err != nil {
				return nil, err
			}
		case err != nil:
			return nil, err
		default:
			ids := make([]string, len(deliveries))
			for i, d := range deliveries {
				ids[i] = d.MessageID
			}
			v.PushMessages = strings.Join(ids, ",")
			if _, err := tx.NewUpdate().Model(v).Column("push_messages").WherePK().Exec(ctx); err != nil {
				return nil, fmt.Errorf("verify: push messages: %w", err)
			}
			if _, err := s.d.Jobs.InsertTx(ctx, tx, jobargs.VerifyPushCheck{VerificationID: v.ID}, &river.InsertOpts{
				ScheduledAt: now.Add(time.Second), MaxAttempts: 3, UniqueOpts: river.UniqueOpts{ByArgs: true},
			}); err != nil {
				return nil, fmt.Errorf("verify: enqueue push check: %w", err)
			}
		}
	} else {
		if err := s.insert(ctx, tx, v); err != nil {
			return nil, err
		}
		if err := s.sendCode(ctx, tx, t, v, code, t.Settings.CodeTTL); err != nil {
			return nil, err
		}
	}
	detail := fmt.Sprintf("receipt %s: %s to %s", v.Receipt, v.Method.Label(), v.Destination)
	switch {
	case v.State == StateFailed:
		detail = fmt.Sprintf("receipt %s: push requested; no device accepts notifications and there is no mobile for a code: nothing sent", v.Receipt)
	case v.Fallback != "":
		detail = fmt.Sprintf("receipt %s: push requested; no device accepts notifications, so %s to %s", v.Receipt, v.Method.Label(), v.Destination)
	}
	if v.MatchNumber != 0 {
		detail += " (number matching)"
	}
	if err := audit.Record(ctx, tx, now, a, audit.Entry{
		Action: "verification.start", TargetType: "end_user", TargetID: u.ID, Target: u.Name(), Detail: detail,
	}); err != nil {
		return nil, err
	}
	return v, nil
}

func (s *Service) insert(ctx context.Context, tx *db.Tx, v *Verification) error {
	if _, err := tx.NewInsert().Model(v).Exec(ctx); err != nil {
		return fmt.Errorf("verify: insert: %w", err)
	}
	return nil
}

// setCode gives v a new six-digit code (encrypted in v.Code) and returns it.
func (s *Service) setCode(v *Verification) (string, error) {
	code, err := credential.NewCode6()
	if err != nil {
		return "", err
	}
	ct, err := s.d.Keys.Encrypt([]byte(code), codeAAD(v.TenantID, v.ID))
	if err != nil {
		return "", fmt.Errorf("verify: encrypt code: %w", err)
	}
	v.Code = ct
	return code, nil
}

// sendCode queues the SMS or email with v's code (never after v expires).
func (s *Service) sendCode(ctx context.Context, tx *db.Tx, t *target, v *Verification, code string, ttl time.Duration) error {
	minutes := int(ttl.Round(time.Minute) / time.Minute)
	if v.Method == MethodSMS {
		body := fmt.Sprintf("%s: your verification code is %s. Read it only to the %s technician you are speaking with. It expires in %d min.",
			t.TenantName, code, t.TenantName, max(1, minutes))
		_, err := s.d.SMS.SMS(ctx, tx, v.TenantID, t.EndUser.Mobile, "verification_code", body, sms.Options{ExpiresAt: v.ExpiresAt})
		return err
	}
	u := t.EndUser
	greeting := "Hi,"
	if u.FirstName != "" {
		greeting = "Hi " + u.FirstName + ","
	}
	_, err := s.d.Mail.Email(ctx, tx, v.TenantID, u.Email, "verification_code", notify.Email{
		Subject:   "Your verification code for " + t.TenantName,
		Preheader: "Read this code to the technician you are speaking with.",
		Greeting:  greeting,
		Lines: []string{
			v.RequestedBy + " at " + t.TenantName + " asked to confirm that it is you. Read this code to them:",
			code,
			fmt.Sprintf("The code works once and expires in %d minutes.", max(1, minutes)),
		},
		After: []string{"If you are not speaking with " + t.TenantName + " right now, do not share the code with anyone, and let them know."},
	})
	return err
}

// fallback turns push verification v into an SMS code (no device could
// receive the push) and sends it, or fails v when there is no mobile.
func (s *Service) fallback(ctx context.Context, tx *db.Tx, t *target, v *Verification, reason string, now time.Time) error {
	u := t.EndUser
	if u.Mobile == "" || t.OptedOut {
		v.State, v.Reason, v.DecidedAt = StateFailed, ReasonNoChannel, &now
		v.Fallback = reason
		_, err := tx.NewUpdate().Model(v).Column("state", "reason", "decided_at", "fallback").WherePK().Exec(ctx)
		if err != nil {
			return fmt.Errorf("verify: fail: %w", err)
		}
		return nil
	}
	v.Method, v.Fallback, v.MatchNumber, v.MatchChoices = MethodSMS, reason, 0, ""
	v.Destination = enduser.MaskMobile(u.Mobile)
	v.ExpiresAt = now.Add(t.Settings.CodeTTL)
	code, err := s.setCode(v)
	if err != nil {
		return err
	}
	if _, err := tx.NewUpdate().Model(v).Column("method", "fallback", "match_number", "match_choices", "destination", "expires_at", "code").
		WherePK().Exec(ctx); err != nil {
		return fmt.Errorf("verify: fall back: %w", err)
	}
	return s.sendCode(ctx, tx, t, v, code, t.Settings.CodeTTL)
}

// Get returns one of the tenant's verifications.
// Errors: NotFound (also another tenant's).
func (s *Service) Get(ctx context.Context, tenantID, id string) (*Verification, error) {
	return get(ctx, s.d.DB.Bun, tenantID, id)
}

func get(ctx context.Context, idb bun.IDB, tenantID, id string) (*Verification, error) {
	v := new(Verification)
	err := idb.NewSelect().Model(v).Where("tenant_id = ? AND id = ?", tenantID, id).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) || tenantID == "" {
		return nil, apperr.New(apperr.NotFound, "That verification does not exist.")
	}
	if err != nil {
		return nil, fmt.Errorf("verify: get: %w", err)
	}
	return v, nil
}

// GetForEndUser returns the tenant's verification id when it is the end
// user's. Errors: NotFound (another tenant's or another end user's).
func (s *Service) GetForEndUser(ctx context.Context, tenantID, endUserID, id string) (*Verification, error) {
	v, err := s.Get(ctx, tenantID, id)
	if err != nil {
		return nil, err
	}
	if v.EndUserID != endUserID {
		return nil, apperr.New(apperr.NotFound, "That verification does not exist.")
	}
	return v, nil
}

// History returns the end user's verifications in the tenant, newest first
// (at most limit).
func (s *Service) History(ctx context.Context, tenantID, endUserID string, limit int) ([]Verification, error) {
	var vs []Verification
	if err := s.d.DB.Bun.NewSelect().Model(&vs).Where("tenant_id = ? AND end_user_id = ?", tenantID, endUserID).
		OrderExpr("created_at DESC, id DESC").Limit(int64(limit)).Scan(ctx); err != nil {
		return nil, fmt.Errorf("verify: history: %w", err)
	}
	return vs, nil
}

// Open returns the end user's newest open verification in the tenant that
// has not expired yet (a code still valid, a push still waiting, push +
// code approved on the phone), or nil: what the panel shows when the end
// user's page is opened again.
func (s *Service) Open(ctx context.Context, tenantID, endUserID string) (*Verification, error) {
	var vs []Verification
	if err := s.d.DB.Bun.NewSelect().Model(&vs).
		Where("tenant_id = ? AND end_user_id = ? AND state IN (?) AND expires_at > ?", tenantID, endUserID,
			bun.In([]State{StatePending, StateApproved}), s.now()).
		OrderExpr("created_at DESC, id DESC").Limit(1).Scan(ctx); err != nil {
		return nil, fmt.Errorf("verify: open: %w", err)
	}
	if len(vs) == 0 {
		return nil, nil
	}
	return &vs[0], nil
}

// change writes v's changed columns with the next version, if nobody changed
// v since it was read (Conflict otherwise), and tells live panels after commit.
func (s *Service) change(ctx context.Context, tx *db.Tx, v *Verification, now time.Time, cols ...string) error {
	old := v.Version
	v.Version, v.UpdatedAt = old+1, now
	res, err := tx.NewUpdate().Model(v).Column(append(cols, "version", "updated_at")...).
		Where("id = ? AND version = ?", v.ID, old).Exec(ctx)
	if err != nil {
		return fmt.Errorf("verify: update: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return apperr.New(apperr.Conflict, "This verification changed meanwhile.")
	}
	s.publishAfter(tx, v.ID)
	return nil
}

// timeOut records that open verification v timed out (audited by the system).
func (s *Service) timeOut(ctx context.Context, tx *db.Tx, v *Verification, now time.Time) error {
	v.State, v.Reason, v.DecidedAt = StateExpired, ReasonTimedOut, &v.ExpiresAt
	if err := s.change(ctx, tx, v, now, "state", "reason", "decided_at"); err != nil {
		return err
	}
	return audit.Record(ctx, tx, now, audit.System(v.TenantID), audit.Entry{
		Action: "verification.expired", TargetType: "end_user", TargetID: v.EndUserID, Target: v.Receipt, Result: audit.ResultFailed,
		Detail: fmt.Sprintf("receipt %s: %s timed out without an answer", v.Receipt, v.Method.Label()),
	})
}

// errExpired is the answer to acting on a verification that timed out.
func errExpired() error {
	return apperr.New(apperr.Conflict, "This verification timed out. Send a new one.")
}

// errClosed is the answer to acting on a verification with an outcome.
func errClosed(v *Verification) error {
	return apperr.New(apperr.Conflict, "This verification is already finished (%s).", strings.ToLower(v.State.Label()))
}

// modify runs fn on the tenant's verification id in a transaction; an open
// verification past its expiry is recorded as timed out first (then fn is
// not run and the answer is Conflict).
func (s *Service) modify(ctx context.Context, tenantID, id string, fn func(ctx context.Context, tx *db.Tx, v *Verification, now time.Time) error) (*Verification, error) {
	var (
		out     *Verification
		expired bool
	)
	err := s.d.DB.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		now := s.now()
		v, err := get(ctx, tx, tenantID, id)
		if err != nil {
			return err
		}
		out = v
		if v.State.Open() && v.StateAt(now) == StateExpired {
			expired = true
			return s.timeOut(ctx, tx, v, now)
		}
		return fn(ctx, tx, v, now)
	})
	if err != nil {
		return out, err
	}
	if expired {
		return out, errExpired()
	}
	return out, nil
}

// Decide records the technician's Approve or Deny: after reading an SMS or
// email code (or comparing the validation code of push + code) Approve
// verifies the end user; Deny ends the verification as not verified (also
// while a push waits for the phone). Audited as `verification.verified` or
// `verification.denied`.
// Errors: NotFound (another tenant's or end user's), Conflict (already
// finished, timed out, or a push still waiting for the phone: Approve needs
// the end user's answer).
func (s *Service) Decide(ctx context.Context, a audit.Actor, endUserID, id string, approve bool) (*Verification, error) {
	return s.modify(ctx, a.TenantID, id, func(ctx context.Context, tx *db.Tx, v *Verification, now time.Time) error {
		if v.EndUserID != endUserID {
			return apperr.New(apperr.NotFound, "That verification does not exist.")
		}
		if !v.State.Open() {
			return errClosed(v)
		}
		if approve && !awaitsTechnician(v) {
			return apperr.New(apperr.Conflict, "The end user has not approved on their phone yet.")
		}
		if approve {
			return s.finish(ctx, tx, a, v, StateVerified, ReasonTechnicianApproved, now)
		}
		return s.finish(ctx, tx, a, v, StateDenied, ReasonTechnicianDenied, now)
	})
}

// awaitsTechnician: the technician compares a code now.
func awaitsTechnician(v *Verification) bool {
	return (v.State == StatePending && (v.Method == MethodSMS || v.Method == MethodEmail)) ||
		(v.State == StateApproved && v.Method == MethodPushCode)
}

// finish records an outcome decided by actor a and audits it.
func (s *Service) finish(ctx context.Context, tx *db.Tx, a audit.Actor, v *Verification, st State, reason string, now time.Time, cols ...string) error {
	v.State, v.Reason, v.DecidedAt, v.DecidedBy = st, reason, &now, a.Name
	if err := s.change(ctx, tx, v, now, append([]string{"state", "reason", "decided_at", "decided_by"}, cols...)...); err != nil {
		return err
	}
	e := audit.Entry{TargetType: "end_user", TargetID: v.EndUserID}
	if name, err := endUserName(ctx, tx, v); err == nil {
		e.Target = name
	} else {
		return err
	}
	switch st {
	case StateVerified:
		e.Action, e.Detail = "verification.verified", fmt.Sprintf("receipt %s: User Identity Successfully Verified (%s, %s)", v.Receipt, v.Method.Label(), reasonText(reason))
	case StateLocked:
		e.Action, e.Result, e.Detail = "verification.locked", audit.ResultDenied, fmt.Sprintf("receipt %s: locked after %d wrong codes", v.Receipt, v.WrongTries)
	case StateCancelled:
		e.Action, e.Detail = "verification.cancelled", fmt.Sprintf("receipt %s: cancelled", v.Receipt)
	default:
		e.Action, e.Result, e.Detail = "verification.denied", audit.ResultDenied, fmt.Sprintf("receipt %s: Unable to Verify Identity (%s, %s)", v.Receipt, v.Method.Label(), reasonText(reason))
	}
	if err := audit.Record(ctx, tx, now, a, e); err != nil {
		return err
	}
	if st == StateDenied || st == StateLocked {
		return s.countFailure(ctx, tx, v, now)
	}
	return nil
}

func endUserName(ctx context.Context, idb bun.IDB, v *Verification) (string, error) {
	var first, last, username string
	if err := idb.NewSelect().Table("end_users").Column("first_name", "last_name", "username").Where("id = ?", v.EndUserID).
		Scan(ctx, &first, &last, &username); err != nil {
		return "", fmt.Errorf("verify: end user name: %w", err)
	}
	if n := strings.TrimSpace(first + " " + last); n != "" {
		return n, nil
	}
	return username, nil
}

// ReasonText explains an outcome's reason in a few words.
func ReasonText(reason string) string { return reasonText(reason) }

func reasonText(reason string) string {
	switch reason {
	case ReasonTechnicianApproved:
		return "the technician approved the code read back"
	case ReasonCodeMatched:
		return "the code read back matched"
	case ReasonEndUserApproved:
		return "the end user approved on their phone"
	case ReasonTechnicianDenied:
		return "the technician denied"
	case ReasonEndUserDenied:
		return "the end user denied on their phone"
	case ReasonWrongNumber:
		return "the end user picked the wrong number"
	case ReasonTimedOut:
		return "no answer in time"
	case ReasonWrongCodes:
		return "too many wrong codes"
	case ReasonSuperseded:
		return "a newer verification replaced it"
	case ReasonCancelled:
		return "the technician cancelled"
	case ReasonNoChannel:
		return "no device accepted the push, and there is no mobile number for a code"
	}
	return reason
}

// CheckCode compares the code the caller read out, as the technician typed
// it, with the verification's code: a match verifies the end user
// (`verification.verified`); a mismatch counts a wrong try
// (`verification.wrong_code`), and the fifth locks the verification
// (`verification.locked`).
// Errors: NotFound, Conflict (finished, timed out, not waiting for a code),
// Invalid with Fields["code"] (wrong code; tries left in the message),
// RateLimited (locked: send a new code).
func (s *Service) CheckCode(ctx context.Context, a audit.Actor, endUserID, id, typed string) (*Verification, error) {
	typed = strings.Join(strings.Fields(typed), "")
	var wrong error
	v, err := s.modify(ctx, a.TenantID, id, func(ctx context.Context, tx *db.Tx, v *Verification, now time.Time) error {
		if v.EndUserID != endUserID {
			return apperr.New(apperr.NotFound, "That verification does not exist.")
		}
		if v.State == StateLocked {
			return apperr.New(apperr.RateLimited, "Too many wrong codes: this verification is locked. Send a new code.")
		}
		if !v.State.Open() {
			return errClosed(v)
		}
		if !awaitsTechnician(v) {
			return apperr.New(apperr.Conflict, "The end user has not approved on their phone yet.")
		}
		code, err := s.Code(v)
		if err != nil {
			return err
		}
		if len(typed) == 6 && subtle.ConstantTimeCompare([]byte(code), []byte(typed)) == 1 {
			return s.finish(ctx, tx, a, v, StateVerified, ReasonCodeMatched, now)
		}
		v.WrongTries++
		if v.WrongTries >= MaxWrongTries {
			if err := s.finish(ctx, tx, a, v, StateLocked, ReasonWrongCodes, now, "wrong_tries"); err != nil {
				return err
			}
			wrong = apperr.New(apperr.RateLimited, "Too many wrong codes: this verification is locked. Send a new code.")
			return nil
		}
		if err := s.change(ctx, tx, v, now, "wrong_tries"); err != nil {
			return err
		}
		name, err := endUserName(ctx, tx, v)
		if err != nil {
			return err
		}
		if err := audit.Record(ctx, tx, now, a, audit.Entry{
			Action: "verification.wrong_code", TargetType: "end_user", TargetID: v.EndUserID, Target: name, Result: audit.ResultFailed,
			Detail: fmt.Sprintf("receipt %s: wrong code read back (%d of %d)", v.Receipt, v.WrongTries, MaxWrongTries),
		}); err != nil {
			return err
		}
		if err := s.countFailure(ctx, tx, v, now); err != nil {
			return err
		}
		left := MaxWrongTries - v.WrongTries
		f := apperr.Fields{}
		f.Add("code", fmt.Sprintf("That is not the code that was sent. %d %s left.", left, plural(left, "try", "tries")))
		wrong = f.Err()
		return nil
	})
	if err != nil {
		return v, err
	}
	return v, wrong
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// Cancel closes an open verification (the technician closed the panel, or
// started over). Audited as `verification.cancelled`.
// Errors: NotFound, Conflict (already finished or timed out).
func (s *Service) Cancel(ctx context.Context, a audit.Actor, endUserID, id string) (*Verification, error) {
	return s.modify(ctx, a.TenantID, id, func(ctx context.Context, tx *db.Tx, v *Verification, now time.Time) error {
		if v.EndUserID != endUserID {
			return apperr.New(apperr.NotFound, "That verification does not exist.")
		}
		if !v.State.Open() {
			return errClosed(v)
		}
		return s.finish(ctx, tx, a, v, StateCancelled, ReasonCancelled, now)
	})
}

// Settle records the timeout of the tenant's verification id when it is
// open and past its expiry, and returns it. (The expire_verifications job
// does the same for every verification within a minute.)
// Errors: NotFound.
func (s *Service) Settle(ctx context.Context, tenantID, id string) (*Verification, error) {
	v, err := s.Get(ctx, tenantID, id)
	if err != nil || !v.State.Open() || v.StateAt(s.now()) != StateExpired {
		return v, err
	}
	v, err = s.modify(ctx, tenantID, id, func(context.Context, *db.Tx, *Verification, time.Time) error { return nil })
	if apperr.CodeOf(err) == apperr.Conflict {
		return s.Get(ctx, tenantID, id)
	}
	return v, err
}

// ExpireDue records the timeout of every open verification past its expiry
// (at most 500 per call) and returns how many. The expire_verifications job
// calls it.
func (s *Service) ExpireDue(ctx context.Context) (int, error) {
	var due []Verification
	if err := s.d.DB.Bun.NewSelect().Model(&due).Column("id", "tenant_id").
		Where("state IN (?) AND expires_at <= ?", bun.In([]State{StatePending, StateApproved}), s.now()).
		OrderExpr("expires_at").Limit(500).Scan(ctx); err != nil {
		return 0, fmt.Errorf("verify: due: %w", err)
	}
	n := 0
	for _, d := range due {
		_, err := s.modify(ctx, d.TenantID, d.ID, func(context.Context, *db.Tx, *Verification, time.Time) error { return nil })
		switch apperr.CodeOf(err) {
		case apperr.Conflict:
			n++
		case "":
		default:
			return n, err
		}
	}
	return n, nil
}

package sms_test

import (
	"context"
	"encoding/base64"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/app/notify"
	"github.com/latchkey/latchkey/app/secret"
	"github.com/latchkey/latchkey/app/sms"
	"github.com/latchkey/latchkey/app/sms/twiliotest"
	"github.com/latchkey/latchkey/app/tenant"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/db/dbtest"
	"github.com/latchkey/latchkey/jobs/jobargs"
)

func eachDB(t *testing.T, fn func(t *testing.T, d *db.DB)) {
	t.Helper()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		fn(t, d)
	})
}

// jobs records enqueued jobs.
type jobs struct {
	mu   sync.Mutex
	args []river.JobArgs
	opts []*river.InsertOpts
}

func (j *jobs) InsertTx(_ context.Context, _ *db.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.args = append(j.args, args)
	j.opts = append(j.opts, opts)
	return &rivertype.JobInsertResult{}, nil
}

type fixture struct {
	d        *db.DB
	svc      *sms.Service
	keys     *secret.Keyring
	keyEntry string
	jobs     *jobs
	twilio   *twiliotest.Server
	tenant   *tenant.Tenant
	admin    audit.Actor
	mu       sync.Mutex
	now      time.Time
}

func (f *fixture) clock() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now }
func (f *fixture) advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

func newFixture(t *testing.T, d *db.DB) *fixture {
	t.Helper()
	key, err := secret.GenerateKey()
	require.NoError(t, err)
	keys, err := secret.ParseKeys(key)
	require.NoError(t, err)
	f := &fixture{d: d, keys: keys, keyEntry: key, jobs: &jobs{}, now: time.Now().UTC().Truncate(time.Second)}
	f.twilio = twiliotest.New(t, twiliotest.Options{FromNumbers: []string{ourPhone}})
	f.tenant = tenant.New(f.now)
	f.tenant.Name = "Acme IT"
	require.NoError(t, tenant.Insert(context.Background(), d.Bun, f.tenant))
	f.admin = audit.Actor{TenantID: f.tenant.ID, LoginID: "l1", Name: "Pat Primary", Role: "primary", IP: "127.0.0.1"}
	f.svc = sms.NewService(sms.Deps{
		DB: d, Keys: keys, Jobs: f.jobs, APIURL: f.twilio.URL, Now: f.clock,
		Link: func(p string) string { return "https://latchkey.msp.example" + p },
	})
	return f
}

// configure saves Auth Token settings for the fixture's Twilio account.
func (f *fixture) configure(t *testing.T) {
	t.Helper()
	require.NoError(t, f.svc.SaveSettings(context.Background(), f.admin, sms.SettingsInput{
		AccountSID: f.twilio.AccountSID, AuthToken: f.twilio.AuthToken, FromNumber: ourPhone,
	}))
}

// queue writes a message in its own transaction.
func (f *fixture) queue(t *testing.T, to, body string, opts sms.Options) (*sms.Record, error) {
	t.Helper()
	var m *sms.Record
	err := f.d.RunInTx(context.Background(), func(ctx context.Context, tx *db.Tx) error {
		var err error
		m, err = f.svc.Queue().SMS(ctx, tx, f.tenant.ID, to, "verification_code", body, opts)
		return err
	})
	return m, err
}

func (f *fixture) message(t *testing.T, id string) *sms.Record {
	t.Helper()
	m, err := sms.Get(context.Background(), f.d.Bun, f.tenant.ID, id)
	require.NoError(t, err)
	return m
}

func auditOf(t *testing.T, d *db.DB, tenantID, action string) []audit.Event {
	t.Helper()
	var evs []audit.Event
	require.NoError(t, d.Bun.NewSelect().Model(&evs).Where("tenant_id = ? AND action = ?", tenantID, action).
		Order("seq").Scan(context.Background()))
	return evs
}

func TestSettingsValidateEncryptAudit(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		ctx := context.Background()
		svc := f.svc

		tech := f.admin
		tech.Role = "technician"
		require.Equal(t, apperr.Forbidden, apperr.CodeOf(svc.SaveSettings(ctx, tech, sms.SettingsInput{})))

		err := svc.SaveSettings(ctx, f.admin, sms.SettingsInput{
			AccountSID: "AC123", AuthToken: "not-a-token", APIKeySecret: "x", FromNumber: "415 555 0100",
			MessagingServiceSID: "MG00", DailyLimit: "0",
		})
		require.Equal(t, apperr.Invalid, apperr.CodeOf(err))
		fields := apperr.FieldsOf(err)
		for _, k := range []string{"account_sid", "auth_token", "api_key_sid", "messaging_service_sid", "daily_limit"} {
			require.Contains(t, fields, k)
		}
		require.Contains(t, fields["account_sid"], "AC followed by 32")
		err = svc.SaveSettings(ctx, f.admin, sms.SettingsInput{AccountSID: f.twilio.AccountSID, AuthToken: f.twilio.AuthToken, FromNumber: "415 555 0100"})
		require.Contains(t, apperr.FieldsOf(err)["from_number"], "country code")
		err = svc.SaveSettings(ctx, f.admin, sms.SettingsInput{AccountSID: f.twilio.AccountSID, AuthToken: f.twilio.AuthToken})
		require.Contains(t, apperr.FieldsOf(err), "from_number")
		err = svc.SaveSettings(ctx, f.admin, sms.SettingsInput{AccountSID: f.twilio.AccountSID, FromNumber: ourPhone})
		require.Contains(t, apperr.FieldsOf(err)["auth_token"], "Enter the Auth Token")
		st, err := svc.Settings(ctx, f.tenant.ID)
		require.NoError(t, err)
		require.False(t, st.Configured)
		require.Equal(t, "https://latchkey.msp.example/webhooks/twilio/"+f.tenant.ID+"/inbound", st.InboundURL)

		// Saved: the token is encrypted at rest, never shown back.
		require.NoError(t, svc.SaveSettings(ctx, f.admin, sms.SettingsInput{
			AccountSID: strings.ToUpper(f.twilio.AccountSID), AuthToken: f.twilio.AuthToken, FromNumber: "+1 (415) 555-0100",
		}))
		st, err = svc.Settings(ctx, f.tenant.ID)
		require.NoError(t, err)
		require.True(t, st.Configured && st.AuthTokenSaved && st.Webhooks)
		require.Equal(t, f.twilio.AccountSID, st.AccountSID, "SID normalised")
		require.Equal(t, ourPhone, st.FromNumber)
		require.Equal(t, sms.DefaultDailyLimit, st.DailyLimit)
		var raw []byte
		require.NoError(t, d.Bun.NewSelect().Table("sms_settings").Column("auth_token").Where("tenant_id = ?", f.tenant.ID).Scan(ctx, &raw))
		require.NotContains(t, string(raw), f.twilio.AuthToken)
		plain, err := f.keys.Decrypt(raw, []byte("sms_settings/"+f.tenant.ID+"/auth_token"))
		require.NoError(t, err)
		require.Equal(t, f.twilio.AuthToken, string(plain))

		// Saving again without the token keeps it; switching to an API key
		// keeps the token for webhooks; a new key SID needs its secret.
		require.NoError(t, svc.SaveSettings(ctx, f.admin, sms.SettingsInput{AccountSID: f.twilio.AccountSID, FromNumber: ourPhone, DailyLimit: "50"}))
		err = svc.SaveSettings(ctx, f.admin, sms.SettingsInput{AccountSID: f.twilio.AccountSID, APIKeySID: f.twilio.APIKeySID, FromNumber: ourPhone})
		require.Contains(t, apperr.FieldsOf(err), "api_key_secret")
		require.NoError(t, svc.SaveSettings(ctx, f.admin, sms.SettingsInput{
			AccountSID: f.twilio.AccountSID, APIKeySID: f.twilio.APIKeySID, APIKeySecret: f.twilio.APIKeySecret,
			MessagingServiceSID: "MG0123456789ABCDEF0123456789abcdef", DailyLimit: "50",
		}))
		st, _ = svc.Settings(ctx, f.tenant.ID)
		require.True(t, st.APIKeySecretSaved && st.AuthTokenSaved)
		require.Equal(t, "MG0123456789abcdef0123456789abcdef", st.MessagingServiceSID)
		require.Empty(t, st.FromNumber)
		require.Equal(t, 50, st.DailyLimit)
		// Nothing changed: nothing written.
		require.NoError(t, svc.SaveSettings(ctx, f.admin, sms.SettingsInput{
			AccountSID: f.twilio.AccountSID, APIKeySID: f.twilio.APIKeySID, MessagingServiceSID: "MG0123456789abcdef0123456789abcdef", DailyLimit: "50",
		}))
		// Another account: the old account's token is not kept.
		err = svc.SaveSettings(ctx, f.admin, sms.SettingsInput{AccountSID: "AC" + strings.Repeat("ab", 16), FromNumber: ourPhone})
		require.Contains(t, apperr.FieldsOf(err), "auth_token")

		evs := auditOf(t, d, f.tenant.ID, "sms.settings_update")
		require.Len(t, evs, 3)
		require.Contains(t, evs[0].Detail, "SMS set up")
		require.Equal(t, "changed daily limit", evs[1].Detail)
		require.Contains(t, evs[2].Detail, "API key secret")
		require.Contains(t, evs[2].Detail, "Messaging Service")
		for _, e := range evs {
			for _, s := range []string{f.twilio.AuthToken, f.twilio.APIKeySecret, ourPhone} {
				require.NotContains(t, e.Detail+e.Target, s)
			}
		}

		// Key rotation re-encrypts both secrets.
		newKey, err := secret.GenerateKey()
		require.NoError(t, err)
		rotated, err := secret.ParseKeys(newKey + "," + f.keyEntry)
		require.NoError(t, err)
		rsvc := sms.NewService(sms.Deps{DB: d, Keys: rotated, Jobs: f.jobs, Link: func(p string) string { return p }})
		n, err := rsvc.Reencrypt(ctx)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		require.NoError(t, d.Bun.NewSelect().Table("sms_settings").Column("auth_token").Where("tenant_id = ?", f.tenant.ID).Scan(ctx, &raw))
		require.False(t, rotated.NeedsRotation(raw))

		require.NoError(t, svc.RemoveSettings(ctx, f.admin))
		require.NoError(t, svc.RemoveSettings(ctx, f.admin))
		require.Len(t, auditOf(t, d, f.tenant.ID, "sms.settings_remove"), 1)
		st, _ = svc.Settings(ctx, f.tenant.ID)
		require.False(t, st.Configured)
	})
}

func TestQueueAndDeliver(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		ctx := context.Background()
		const code = "Your Acme IT code is 012345. It expires in 5 minutes."

		// Not set up: the message waits in the outbox, readable there.
		m, err := f.queue(t, dana, code, sms.Options{ExpiresAt: f.now.Add(5 * time.Minute)})
		require.NoError(t, err)
		require.Len(t, f.jobs.args, 1)
		require.Equal(t, jobargs.SendSMS{MessageID: m.ID}, f.jobs.args[0])
		require.Equal(t, sms.MaxAttempts, f.jobs.opts[0].MaxAttempts)
		stored := f.message(t, m.ID)
		require.Equal(t, notify.StatusQueued, stored.Status)
		require.Equal(t, "sms", stored.Channel)
		require.NotContains(t, stored.Data, "012345")
		ct, err := base64.StdEncoding.DecodeString(stored.Data)
		require.NoError(t, err)
		require.NotContains(t, string(ct), "012345", "the body is encrypted at rest")
		out, err := f.svc.Deliver(ctx, m.ID, false)
		require.NoError(t, err)
		require.Equal(t, notify.StatusOutbox, out.Status)
		stored = f.message(t, m.ID)
		require.Equal(t, notify.StatusOutbox, stored.Status)
		require.Empty(t, stored.BodyText, "the text is not stored in clear in the outbox either")
		text, err := sms.Text(f.keys, &notify.Message{ID: stored.ID, TenantID: stored.TenantID, Channel: stored.Channel, Data: stored.Data})
		require.NoError(t, err)
		require.Equal(t, code, text)
		require.Empty(t, f.twilio.Messages())

		// Set up: sent once through Twilio, with a status callback, and
		// the clear body is not stored.
		f.configure(t)
		m, err = f.queue(t, dana, code, sms.Options{ExpiresAt: f.now.Add(5 * time.Minute)})
		require.NoError(t, err)
		out, err = f.svc.Deliver(ctx, m.ID, false)
		require.NoError(t, err)
		require.NoError(t, out.Err)
		require.Equal(t, notify.StatusSent, out.Status)
		out, err = f.svc.Deliver(ctx, m.ID, false) // a duplicate job
		require.NoError(t, err)
		require.Equal(t, notify.StatusSent, out.Status)
		sent := f.twilio.Messages()
		require.Len(t, sent, 1)
		require.Equal(t, code, sent[0].Body)
		require.Equal(t, dana, sent[0].To)
		require.Equal(t, "https://latchkey.msp.example/webhooks/twilio/"+f.tenant.ID+"/status/"+m.ID, sent[0].StatusCallback)
		stored = f.message(t, m.ID)
		require.Equal(t, sent[0].SID, stored.ProviderID)
		require.Equal(t, "queued", stored.DeliveryStatus)
		require.NotNil(t, stored.SentAt)
		require.Empty(t, stored.BodyText)

		// Expired before delivery: refused, never sent.
		m, err = f.queue(t, dana, code, sms.Options{ExpiresAt: f.now.Add(time.Minute)})
		require.NoError(t, err)
		f.advance(time.Minute)
		out, err = f.svc.Deliver(ctx, m.ID, false)
		require.NoError(t, err)
		require.ErrorIs(t, out.Err, sms.ErrExpired)
		require.False(t, out.Retry)
		stored = f.message(t, m.ID)
		require.Equal(t, notify.StatusFailed, stored.Status)
		require.Equal(t, sms.ExpiredError, stored.LastError)
		_, err = f.queue(t, dana, code, sms.Options{ExpiresAt: f.clock().Add(-time.Second)})
		require.Equal(t, apperr.Invalid, apperr.CodeOf(err))
		require.Len(t, f.twilio.Messages(), 1)

		// Retryable (5xx) goes back to queued, then succeeds; permanent fails.
		f.twilio.FailNext(1, 500, 0, "")
		m, err = f.queue(t, dana, "retry me", sms.Options{})
		require.NoError(t, err)
		out, err = f.svc.Deliver(ctx, m.ID, false)
		require.NoError(t, err)
		require.True(t, out.Retry)
		require.Equal(t, sms.Retryable, sms.ClassOf(out.Err))
		stored = f.message(t, m.ID)
		require.Equal(t, notify.StatusQueued, stored.Status)
		require.Equal(t, 1, stored.Attempts)
		out, err = f.svc.Deliver(ctx, m.ID, true)
		require.NoError(t, err)
		require.Equal(t, notify.StatusSent, out.Status)
		// The last attempt's retryable error is final.
		f.twilio.FailNext(1, 429, 20429, "Too Many Requests")
		m, err = f.queue(t, dana, "last try", sms.Options{})
		require.NoError(t, err)
		out, _ = f.svc.Deliver(ctx, m.ID, true)
		require.False(t, out.Retry)
		require.Equal(t, notify.StatusFailed, f.message(t, m.ID).Status)
		f.twilio.FailNext(1, 400, 21614, "'To' number is not a valid mobile number")
		m, err = f.queue(t, dana, "landline", sms.Options{})
		require.NoError(t, err)
		out, err = f.svc.Deliver(ctx, m.ID, false)
		require.NoError(t, err)
		require.False(t, out.Retry)
		stored = f.message(t, m.ID)
		require.Equal(t, notify.StatusFailed, stored.Status)
		require.Contains(t, stored.LastError, "cannot receive text messages")
		require.Len(t, f.twilio.Messages(), 2)

		// The daily limit counts every text message of the last 24 hours.
		require.NoError(t, f.svc.SaveSettings(ctx, f.admin, sms.SettingsInput{AccountSID: f.twilio.AccountSID, FromNumber: ourPhone, DailyLimit: "7"}))
		_, err = f.queue(t, dana, "sixth", sms.Options{})
		require.NoError(t, err)
		_, err = f.queue(t, dana, "seventh", sms.Options{})
		require.Equal(t, apperr.RateLimited, apperr.CodeOf(err))
	})
}

func TestWebhooksStatusAndOptOut(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		ctx := context.Background()
		f.configure(t)
		m, err := f.queue(t, dana, "code 123456", sms.Options{})
		require.NoError(t, err)
		_, err = f.svc.Deliver(ctx, m.ID, false)
		require.NoError(t, err)
		tw := f.twilio.Messages()[0]
		cb := tw.StatusCallback

		status := func(st, code string) error {
			p := f.twilio.StatusParams(tw, st, code)
			return f.svc.StatusCallback(ctx, f.tenant.ID, m.ID, cb, twiliotest.Sign(f.twilio.AuthToken, cb, p), p)
		}
		require.NoError(t, status("sent", ""))
		require.Equal(t, "sent", f.message(t, m.ID).DeliveryStatus)
		require.NoError(t, status("undelivered", "30006"))
		require.NoError(t, status("sent", "")) // late, out of order: ignored
		stored := f.message(t, m.ID)
		require.Equal(t, "undelivered", stored.DeliveryStatus)
		require.Contains(t, stored.DeliveryError, "landline")
		require.NotNil(t, stored.DeliveryUpdatedAt)

		// Not Twilio's: refused, nothing changes.
		p := f.twilio.StatusParams(tw, "delivered", "")
		sig := twiliotest.Sign(f.twilio.AuthToken, cb, p)
		for _, bad := range []error{
			f.svc.StatusCallback(ctx, f.tenant.ID, m.ID, cb, "", p),
			f.svc.StatusCallback(ctx, f.tenant.ID, m.ID, cb, twiliotest.Sign("0123456789abcdef0123456789abcdef", cb, p), p),
			f.svc.StatusCallback(ctx, f.tenant.ID, m.ID, cb+"x", sig, p),
			f.svc.StatusCallback(ctx, "other-tenant", m.ID, cb, sig, p),
		} {
			require.Equal(t, apperr.Forbidden, apperr.CodeOf(bad))
		}
		other := url.Values{}
		for k, v := range p {
			other[k] = v
		}
		other.Set("AccountSid", "AC"+strings.Repeat("0", 32))
		require.Equal(t, apperr.Forbidden, apperr.CodeOf(f.svc.StatusCallback(ctx, f.tenant.ID, m.ID, cb, twiliotest.Sign(f.twilio.AuthToken, cb, other), other)))
		require.Equal(t, "undelivered", f.message(t, m.ID).DeliveryStatus)

		// STOP from the end user: the number is refused until START.
		in := f.svc.InboundURL(f.tenant.ID)
		inbound := func(body string) (sms.Keyword, error) {
			p := f.twilio.InboundParams(dana, ourPhone, body)
			return f.svc.Inbound(ctx, f.tenant.ID, in, twiliotest.Sign(f.twilio.AuthToken, in, p), p)
		}
		p = f.twilio.InboundParams(dana, ourPhone, "STOP")
		_, err = f.svc.Inbound(ctx, f.tenant.ID, in, "forged", p)
		require.Equal(t, apperr.Forbidden, apperr.CodeOf(err))
		out, err := sms.OptedOut(ctx, d.Bun, f.tenant.ID, dana)
		require.NoError(t, err)
		require.False(t, out)

		m2, err := f.queue(t, dana, "queued before STOP", sms.Options{})
		require.NoError(t, err)
		kw, err := inbound(" Stop ")
		require.NoError(t, err)
		require.Equal(t, sms.KeywordOptOut, kw)
		_, err = inbound("unsubscribe") // already out: no second audit event
		require.NoError(t, err)
		_, err = f.queue(t, dana, "after STOP", sms.Options{})
		require.ErrorIs(t, err, sms.ErrOptedOut)
		require.Equal(t, apperr.Conflict, apperr.CodeOf(err))
		res, err := f.svc.Deliver(ctx, m2.ID, false)
		require.NoError(t, err)
		require.ErrorIs(t, res.Err, sms.ErrOptedOut)
		require.Equal(t, sms.OptedOutError, f.message(t, m2.ID).LastError)
		kw, err = inbound("hello?")
		require.NoError(t, err)
		require.Equal(t, sms.KeywordNone, kw)

		kw, err = inbound("START")
		require.NoError(t, err)
		require.Equal(t, sms.KeywordOptIn, kw)
		_, err = f.queue(t, dana, "after START", sms.Options{})
		require.NoError(t, err)

		outs := auditOf(t, d, f.tenant.ID, "sms.opt_out")
		require.Len(t, outs, 1)
		require.Equal(t, "+14•••••••23", outs[0].Target)
		require.Equal(t, "Latchkey", outs[0].Actor)
		require.Len(t, auditOf(t, d, f.tenant.ID, "sms.opt_in"), 1)
		require.Len(t, f.twilio.Messages(), 1)
	})
}

// TestSendTestAfterTheJob: the send_sms job may take the test message and
// fail it before the test send's own attempt; the admin still reads
// Twilio's reason.
func TestSendTestAfterTheJob(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		f.configure(t)
		f.twilio.FailNext(1, 400, 21608, "The number is unverified. Trial accounts cannot send messages to unverified numbers")
		jobRan := false
		ctx := sms.WithBeforeTestAttemptForTest(context.Background(), func(id string) {
			out, err := f.svc.Deliver(context.Background(), id, false) // as the job would
			require.NoError(t, err)
			require.Equal(t, notify.StatusFailed, out.Status)
			jobRan = true
		})
		res, err := f.svc.SendTest(ctx, f.admin, dana)
		require.NoError(t, err)
		require.True(t, jobRan)
		require.Equal(t, notify.StatusFailed, res.Status)
		require.False(t, res.Retrying)
		require.Contains(t, res.Problem, "trial account")
		require.Len(t, f.twilio.Messages(), 0, "refused by Twilio, and not tried twice")
	})
}

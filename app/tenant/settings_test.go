package tenant_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/app/tenant"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/db/dbtest"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

// validInput is a settings form that passes validation.
func validInput() tenant.SettingsInput {
	return tenant.SettingsInput{
		Name: "Acme IT", Address: "1 Main St\nSpringfield", PhoneCountry: "+44", PhoneNumber: "020 7946 0000",
		TimeZone: "Europe/London", NotificationHour: 9, SupportEmail: "help@acme.example", SelfServeEnabled: true,
	}
}

func TestSettingsValidation(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", tenant.MaxNameLen+1)
	tests := []struct {
		name  string
		edit  func(*tenant.SettingsInput)
		field string // "" = valid
	}{
		{"valid", func(*tenant.SettingsInput) {}, ""},
		{"name missing", func(in *tenant.SettingsInput) { in.Name = "  " }, "name"},
		{"name 100 chars", func(in *tenant.SettingsInput) { in.Name = long[:tenant.MaxNameLen] }, ""},
		{"name too long", func(in *tenant.SettingsInput) { in.Name = long }, "name"},
		{"address optional", func(in *tenant.SettingsInput) { in.Address = "" }, ""},
		{"address too long", func(in *tenant.SettingsInput) { in.Address = strings.Repeat("a", tenant.MaxAddressLen+1) }, "address"},
		{"phone missing", func(in *tenant.SettingsInput) { in.PhoneNumber = "" }, "phone"},
		{"phone letters", func(in *tenant.SettingsInput) { in.PhoneNumber = "020 CALL ACME" }, "phone"},
		{"phone too short", func(in *tenant.SettingsInput) { in.PhoneNumber = "12345" }, "phone"},
		{"phone too long", func(in *tenant.SettingsInput) { in.PhoneNumber = "1234567890123456" }, "phone"},
		{"phone unknown country", func(in *tenant.SettingsInput) { in.PhoneCountry = "+999" }, "phone"},
		{"phone international ignores country", func(in *tenant.SettingsInput) { in.PhoneCountry = ""; in.PhoneNumber = "+49 30 901820" }, ""},
		{"support email missing", func(in *tenant.SettingsInput) { in.SupportEmail = "" }, "support_email"},
		{"support email bad", func(in *tenant.SettingsInput) { in.SupportEmail = "help@acme" }, "support_email"},
		{"support email display name", func(in *tenant.SettingsInput) { in.SupportEmail = "Help <help@acme.example>" }, "support_email"},
		{"hour 0", func(in *tenant.SettingsInput) { in.NotificationHour = 0 }, ""},
		{"hour 23", func(in *tenant.SettingsInput) { in.NotificationHour = 23 }, ""},
		{"hour 24", func(in *tenant.SettingsInput) { in.NotificationHour = 24 }, "notification_hour"},
		{"hour negative", func(in *tenant.SettingsInput) { in.NotificationHour = -1 }, "notification_hour"},
		{"zone bad", func(in *tenant.SettingsInput) { in.TimeZone = "Mars/Olympus_Mons" }, "time_zone"},
		{"zone empty", func(in *tenant.SettingsInput) { in.TimeZone = "" }, "time_zone"},
		{"zone Local", func(in *tenant.SettingsInput) { in.TimeZone = "Local" }, "time_zone"},
		{"zone path", func(in *tenant.SettingsInput) { in.TimeZone = "../../etc/passwd" }, "time_zone"},
		{"zone UTC", func(in *tenant.SettingsInput) { in.TimeZone = "UTC" }, ""},
		{"logo not an image", func(in *tenant.SettingsInput) { in.Logo = []byte("hello, I am text") }, "logo"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := validInput()
			tt.edit(&in)
			err := in.Validate()
			if tt.field == "" {
				require.NoError(t, err)
				return
			}
			require.Equal(t, apperr.Invalid, apperr.CodeOf(err))
			fields := apperr.FieldsOf(err)
			require.Contains(t, fields, tt.field, "fields: %v", fields)
			require.Len(t, fields, 1, "only %s should be wrong: %v", tt.field, fields)
		})
	}
}

func TestNormalizePhone(t *testing.T) {
	t.Parallel()
	tests := []struct{ country, number, want string }{
		{"+44", "020 7946 0000", "+442079460000"},
		{"+44", "(020) 7946-0000", "+442079460000"},
		{"+1", "(415) 555-0100", "+14155550100"},
		{"+1", "1 415 555 0100", "+14155550100"},
		{"+61", "02 9374 4000", "+61293744000"},
		{"+39", "06 6982 0000", "+390669820000"}, // Italy keeps its leading 0
		{"+353", "01 234 5678", "+35312345678"},
		{"", "+64 9 300 1234", "+6493001234"},
		{"+1", "+44 (0)20 7946 0000", "+442079460000"},
		{"+1", "0044 20 7946 0000", "+442079460000"},
		{"+1", "555 010", ""},                 // 8 digits needed with the code
		{"+1", "+1 415 555 0100 1234 56", ""}, // more than 15
		{"+1", "415 555 0100 ext 12", ""},     // letters
		{"+44", "", ""},                       // empty
		{"", "+0 123 456 789", ""},            // no country code
		{"+1", "020 7946 0000", ""},           // not a North American number
		{"+1", "415 555 010", ""},             // 9 digits after +1
	}
	for _, tt := range tests {
		got, msg := tenant.NormalizePhone(tt.country, tt.number)
		require.Equal(t, tt.want, got, "%s %s", tt.country, tt.number)
		if tt.want == "" {
			require.NotEmpty(t, msg, "%s %s should have a message", tt.country, tt.number)
		} else {
			require.Empty(t, msg)
			cc, nat := tenant.SplitPhone(got)
			again, _ := tenant.NormalizePhone(cc, nat)
			require.Equal(t, got, again, "split and normalise again")
		}
	}
}

func TestZoneNamesLoad(t *testing.T) {
	t.Parallel()
	names := tenant.ZoneNames()
	require.Greater(t, len(names), 400)
	require.Contains(t, names, "UTC")
	require.Contains(t, names, "Europe/London")
	require.Contains(t, names, "America/New_York")
	require.Contains(t, names, "Pacific/Auckland")
	for i, n := range names {
		_, err := time.LoadLocation(n)
		require.NoError(t, err, n)
		require.True(t, tenant.ValidTimeZone(n), n)
		if i > 0 {
			require.Less(t, names[i-1], n, "sorted and unique")
		}
	}
}

// fixture creates a tenant and returns it with an actor of the role.
func fixture(t *testing.T, d *db.DB, role string) (*tenant.Tenant, audit.Actor) {
	t.Helper()
	tn := tenant.New(time.Now())
	tn.SetupStep = tenant.StepSettings
	require.NoError(t, tenant.Insert(context.Background(), d.Bun, tn))
	return tn, audit.Actor{TenantID: tn.ID, LoginID: db.NewID(), Name: "Pat Primary", Role: role, IP: "127.0.0.1"}
}

func events(t *testing.T, d *db.DB, tenantID, action string) []audit.Event {
	t.Helper()
	var out []audit.Event
	require.NoError(t, d.Bun.NewSelect().Model(&out).Where("tenant_id = ? AND action = ?", tenantID, action).Order("seq").Scan(context.Background()))
	return out
}

func TestUpdateSettings(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		svc := tenant.NewService(d, time.Now)
		tn, a := fixture(t, d, "primary")

		in := validInput()
		in.Logo = pngOf(t, 400, 190)
		require.NoError(t, svc.UpdateSettings(ctx, a, in))
		got, err := svc.Get(ctx, tn.ID)
		require.NoError(t, err)
		require.Equal(t, "Acme IT", got.Name)
		require.Equal(t, "1 Main St\nSpringfield", got.Address)
		require.Equal(t, "+442079460000", got.Phone)
		require.Equal(t, "Europe/London", got.TimeZone)
		require.Equal(t, 9, got.NotificationHour)
		require.Equal(t, "help@acme.example", got.SupportEmail)
		require.True(t, got.SelfServeEnabled)
		require.True(t, got.SettingsSaved())
		require.Equal(t, "image/png", got.LogoType)
		require.Equal(t, [2]int{200, 95}, dims(t, got.Logo))

		ev := events(t, d, tn.ID, "tenant.settings_update")
		require.Len(t, ev, 1)
		require.Contains(t, ev[0].Detail, "name")
		require.Contains(t, ev[0].Detail, "phone")
		require.Contains(t, ev[0].Detail, "logo")
		require.Equal(t, a.LoginID, ev[0].ActorID)

		// Saving the same values again writes nothing and audits nothing;
		// no logo in the form keeps the stored one.
		in.Logo = nil
		require.NoError(t, svc.UpdateSettings(ctx, a, in))
		require.Len(t, events(t, d, tn.ID, "tenant.settings_update"), 1)

		// One change is audited by name alone; self-serve off is named.
		in.NotificationHour = 7
		in.SelfServeEnabled = false
		require.NoError(t, svc.UpdateSettings(ctx, a, in))
		ev = events(t, d, tn.ID, "tenant.settings_update")
		require.Len(t, ev, 2)
		require.Equal(t, "changed notification hour, self-serve off", ev[1].Detail)
		got, err = svc.Get(ctx, tn.ID)
		require.NoError(t, err)
		require.Equal(t, 7, got.NotificationHour)
		require.False(t, got.SelfServeEnabled)
		require.NotEmpty(t, got.Logo)

		// Remove the logo.
		in.RemoveLogo = true
		require.NoError(t, svc.UpdateSettings(ctx, a, in))
		got, err = svc.Get(ctx, tn.ID)
		require.NoError(t, err)
		require.Empty(t, got.Logo)
		require.Empty(t, got.LogoType)

		// An invalid form changes nothing.
		bad := validInput()
		bad.Name = "Other"
		bad.SupportEmail = "nope"
		err = svc.UpdateSettings(ctx, a, bad)
		require.Equal(t, apperr.Invalid, apperr.CodeOf(err))
		got, err = svc.Get(ctx, tn.ID)
		require.NoError(t, err)
		require.Equal(t, "Acme IT", got.Name)
	})
}

func TestSettingsNeedAdmin(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		svc := tenant.NewService(d, time.Now)
		tn, a := fixture(t, d, "technician")
		require.Equal(t, apperr.Forbidden, apperr.CodeOf(svc.UpdateSettings(ctx, a, validInput())))
		require.Equal(t, apperr.Forbidden, apperr.CodeOf(svc.SetEnforceMFA(ctx, a, true)))
		require.Equal(t, apperr.Forbidden, apperr.CodeOf(svc.AdvanceSetup(ctx, a, tenant.StepMFA)))
		require.Equal(t, apperr.Forbidden, apperr.CodeOf(svc.CompleteSetup(ctx, a)))
		got, err := svc.Get(ctx, tn.ID)
		require.NoError(t, err)
		require.Empty(t, got.Name)
		require.False(t, got.EnforceMFA)
		require.Equal(t, tenant.StepSettings, got.SetupStep)

		// A Super may.
		a.Role = "super"
		require.NoError(t, svc.UpdateSettings(ctx, a, validInput()))
	})
}

func TestSetupProgress(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		svc := tenant.NewService(d, time.Now)
		tn, a := fixture(t, d, "primary")
		step := func() string {
			got, err := svc.Get(ctx, tn.ID)
			require.NoError(t, err)
			return got.SetupStep
		}

		require.NoError(t, svc.AdvanceSetup(ctx, a, tenant.StepMFA))
		require.Equal(t, tenant.StepMFA, step())
		// Never backwards.
		require.NoError(t, svc.AdvanceSetup(ctx, a, tenant.StepSettings))
		require.Equal(t, tenant.StepMFA, step())

		// Skipping MFA is refused while it is enforced.
		require.NoError(t, svc.SetEnforceMFA(ctx, a, true))
		require.Equal(t, apperr.Conflict, apperr.CodeOf(svc.SkipSetupMFA(ctx, a)))
		require.Equal(t, tenant.StepMFA, step())
		require.Len(t, events(t, d, tn.ID, "tenant.enforce_mfa_update"), 1)
		require.NoError(t, svc.SetEnforceMFA(ctx, a, true)) // unchanged: no event
		require.Len(t, events(t, d, tn.ID, "tenant.enforce_mfa_update"), 1)
		require.NoError(t, svc.SetEnforceMFA(ctx, a, false))
		require.NoError(t, svc.SkipSetupMFA(ctx, a))
		require.Equal(t, tenant.StepTechnicians, step())
		require.Len(t, events(t, d, tn.ID, "setup.mfa_skipped"), 1)

		require.NoError(t, svc.AdvanceSetup(ctx, a, tenant.StepDone))
		require.NoError(t, svc.CompleteSetup(ctx, a))
		got, err := svc.Get(ctx, tn.ID)
		require.NoError(t, err)
		require.True(t, got.SetupDone())
		require.Equal(t, tenant.StepDone, got.SetupStep)
		require.NoError(t, svc.CompleteSetup(ctx, a)) // twice: no-op
		require.Len(t, events(t, d, tn.ID, "setup.completed"), 1)
		require.Equal(t, apperr.Conflict, apperr.CodeOf(svc.AdvanceSetup(ctx, a, tenant.StepDone)))
	})
}

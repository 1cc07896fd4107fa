package web_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/apptest"
	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/app/login"
	"github.com/latchkey/latchkey/app/tenant"
)

func TestDashboardChecklistForAdmins(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		f := env.Setup("Acme IT") // a name, but no support email yet
		c := env.Client()
		c.SignIn(f.Primary.Email)

		res := c.Get("/")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, res.Body, setupTestID("greeting"))
		require.Contains(t, res.Body, ", Pat</h1>")
		steps := checklist(res.Body)
		require.Len(t, steps, 7, "the seven on-boarding steps")
		require.False(t, steps["settings"], "no support email yet")
		require.False(t, steps["technicians"])
		require.Contains(t, res.Body, `data-testid="step-link-settings">`)
		require.Contains(t, res.Body, `href="/settings" data-testid="step-link-settings"`)
		require.Contains(t, res.Body, `href="/logins" data-testid="step-link-technicians"`)
		require.False(t, steps["customers"], "no customer yet")
		require.Contains(t, res.Body, `href="/customers" data-testid="step-link-customers"`)
		// Steps of later releases say what they wait for and link nowhere.
		for _, k := range []string{"directory", "self-serve", "rotation", "verification"} {
			require.False(t, steps[k])
			require.Contains(t, res.Body, setupTestID("step-note-"+k))
			require.NotContains(t, res.Body, setupTestID("step-link-"+k))
		}
		require.Contains(t, res.Body, setupTestID("login-stats"))
		require.Contains(t, res.Body, `data-testid="stat-logins">1<`)
		require.Contains(t, res.Body, `data-testid="stat-mfa">0 of 1 active<`)
		require.Contains(t, res.Body, `data-testid="onboarding-progress">0 of 7 done<`)

		// Settings saved and a technician invited: steps 1 and 2 are done.
		require.NoError(t, tenant.NewService(env.App.DB, time.Now).UpdateSettings(context.Background(), adminActor(f), tenant.SettingsInput{
			Name: "Acme IT", PhoneCountry: "+1", PhoneNumber: "415 555 0100", TimeZone: "America/Los_Angeles",
			NotificationHour: 9, SupportEmail: "help@acmeit.example", SelfServeEnabled: true,
		}))
		_, err := env.App.Logins.Invite(context.Background(), adminActor(f), login.InviteInput{
			FirstName: "Tess", LastName: "Tech", Email: "tess@acmeit.example", Role: login.RoleTechnician})
		require.NoError(t, err)
		env.CreateLogin(f, login.RoleSuper, "sam@acmeit.example")
		enableTOTP(t, env, f.Primary)
		res = c.Get("/")
		steps = checklist(res.Body)
		require.True(t, steps["settings"])
		require.True(t, steps["technicians"])
		require.Contains(t, res.Body, `data-testid="onboarding-progress">2 of 7 done<`)
		require.Contains(t, res.Body, `data-testid="stat-logins">3<`)
		require.Contains(t, res.Body, `data-testid="stat-invited">1<`)
		require.Contains(t, res.Body, `data-testid="stat-mfa">1 of 2 active<`)
	})
}

func TestDashboardForTechnicians(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		f := env.Setup("Acme IT")
		tech := env.CreateLogin(f, login.RoleTechnician, "tess@acmeit.example")
		c := env.Client()
		c.SignIn(tech.Email)
		res := c.Get("/")
		require.Equal(t, http.StatusOK, res.StatusCode)
		steps := checklist(res.Body)
		require.Len(t, steps, 7)
		require.True(t, steps["technicians"], "a technician's own login is one besides the Primary")
		require.False(t, steps["settings"])
		// No links to admin pages; the note says whom to ask.
		require.NotContains(t, res.Body, setupTestID("step-link-settings"))
		require.NotContains(t, res.Body, setupTestID("step-link-technicians"))
		require.Contains(t, res.Body, "Ask Pat Primary to complete the settings.")
		require.NotContains(t, res.Body, setupTestID("login-stats"))
	})
}

// adminActor is the fixture's Primary as a service actor.
func adminActor(f *apptest.Fixture) audit.Actor {
	return audit.Actor{TenantID: f.Tenant.ID, LoginID: f.Primary.ID, Name: f.Primary.Name(), Role: string(login.RolePrimary), IP: "127.0.0.1"}
}

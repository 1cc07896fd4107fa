package verify_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/verify"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/db/dbtest"
)

// TestOpenVerification: the end user's open verification (a code still
// valid, a push still waiting) is found again, and only while it is open.
func TestOpenVerification(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		f := setup(t, d)
		ctx := context.Background()
		open, err := f.svc.Open(ctx, f.tenant, f.user)
		require.NoError(t, err)
		require.Nil(t, open)

		v, err := f.svc.Start(ctx, f.tech, f.user, verify.MethodSMS)
		require.NoError(t, err)
		f.advance(time.Minute)
		open, err = f.svc.Open(ctx, f.tenant, f.user)
		require.NoError(t, err)
		require.NotNil(t, open)
		require.Equal(t, v.ID, open.ID)
		require.Equal(t, "tess", open.RequestedByID)

		// Another tenant never sees it.
		open, err = f.svc.Open(ctx, "another-tenant", f.user)
		require.NoError(t, err)
		require.Nil(t, open)

		// Past its expiry (even before the job records the timeout): none.
		f.advance(verify.DefaultCodeTTL)
		open, err = f.svc.Open(ctx, f.tenant, f.user)
		require.NoError(t, err)
		require.Nil(t, open)

		// Finished: none.
		v, err = f.svc.Start(ctx, f.tech, f.user, verify.MethodEmail)
		require.NoError(t, err)
		_, err = f.svc.Decide(ctx, f.tech, f.user, v.ID, false)
		require.NoError(t, err)
		open, err = f.svc.Open(ctx, f.tenant, f.user)
		require.NoError(t, err)
		require.Nil(t, open)
	})
}

// TestSendLimitSaysWhen: at the hourly limit the panel's message is true
// (no "another one blocks": sending is not offered) and says when sending
// is possible again, from the sends' times. Sends cancelled at once count
// (their message went out); a push that reached nobody does not.
func TestSendLimitSaysWhen(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		f := setup(t, d)
		ctx := context.Background()
		_, err := d.Bun.NewUpdate().Table("tenants").Set("time_zone = ?", "America/New_York").Where("id = ?", f.tenant).Exec(ctx)
		require.NoError(t, err)

		// A push with no device accepting pushes and no mobile: nothing sent, not counted.
		f.enrol(t, false)
		_, err = d.Bun.NewUpdate().Table("end_users").Set("mobile = ''").Where("id = ?", f.user).Exec(ctx)
		require.NoError(t, err)
		_, err = d.Bun.NewUpdate().Table("end_users").Set("self_serve_enabled = ?", true).Where("id = ?", f.user).Exec(ctx)
		require.NoError(t, err)

		first := f.clock()
		for i := range verify.SendsPerHour {
			v, err := f.svc.Start(ctx, f.tech, f.user, verify.MethodEmail)
			require.NoError(t, err, "send %d", i+1)
			_, err = f.svc.Cancel(ctx, f.tech, f.user, v.ID)
			require.NoError(t, err)
			f.advance(2 * time.Minute)
		}
		av, err := f.svc.Availability(ctx, f.tech, f.user)
		require.NoError(t, err)
		require.NotNil(t, av.SendAgainAt, "cancelled sends count: their emails went out")
		require.True(t, av.SendAgainAt.Equal(first.Add(time.Hour)), "%s", av.SendAgainAt)
		ny, err := time.LoadLocation("America/New_York")
		require.NoError(t, err)
		require.Contains(t, av.Blocked, "Sending is possible again at "+first.Add(time.Hour).In(ny).Format("Jan 2 15:04 MST")+".")
		require.NotContains(t, av.Blocked, "another one")

		// The oldest send leaves the hour: sending is possible again.
		f.advance(time.Hour - 8*time.Minute)
		av, err = f.svc.Availability(ctx, f.tech, f.user)
		require.NoError(t, err)
		require.Empty(t, av.Blocked)
		require.Nil(t, av.SendAgainAt)

		// A verification that sent nothing is not a send.
		_, err = d.Bun.NewInsert().Table("verifications").Model(&map[string]any{
			"id": db.NewID(), "tenant_id": f.tenant, "customer_id": "c", "end_user_id": f.user, "receipt": "LK-TEST-0001",
			"requested_method": verify.MethodPush, "method": verify.MethodPush, "fallback": verify.FallbackNoSubscription,
			"destination": "", "state": verify.StateFailed, "reason": verify.ReasonNoChannel, "match_number": 0, "match_choices": "",
			"wrong_tries": 0, "push_messages": "", "requested_by_id": "tess", "requested_by": "Tess Tech", "decided_by": "",
			"created_at": f.clock(), "expires_at": f.clock().Add(time.Minute), "updated_at": f.clock(), "version": 1,
		}).Exec(ctx)
		require.NoError(t, err)
		_, err = f.svc.Start(ctx, f.tech, f.user, verify.MethodEmail)
		require.NoError(t, err)
		av, err = f.svc.Availability(ctx, f.tech, f.user)
		require.NoError(t, err)
		require.Empty(t, av.Blocked, "four sends in the hour (at 4, 6, 8 and 62 minutes) and one that sent nothing")
		_, err = f.svc.Start(ctx, f.tech, f.user, verify.MethodEmail)
		require.NoError(t, err)
		av, err = f.svc.Availability(ctx, f.tech, f.user)
		require.NoError(t, err)
		require.NotEmpty(t, av.Blocked, "the fifth")
	})
}

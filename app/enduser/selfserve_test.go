package enduser_test

import (
	"context"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/enduser"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/db/dbtest"
)

// gridSwitches returns the self-serve switch of every end user by id.
func gridSwitches(t *testing.T, d *db.DB) map[string]bool {
	t.Helper()
	var rows []struct {
		ID string `bun:"id"`
		On bool   `bun:"self_serve_enabled"`
	}
	require.NoError(t, d.Bun.NewSelect().Table("end_users").Column("id", "self_serve_enabled").Scan(context.Background(), &rows))
	out := map[string]bool{}
	for _, r := range rows {
		out[r.ID] = r.On
	}
	return out
}

func gridSetTenantSwitch(t *testing.T, d *db.DB, tenantID string, on bool) {
	t.Helper()
	_, err := d.Bun.NewUpdate().Table("tenants").Set("self_serve_enabled = ?", on).Where("id = ?", tenantID).Exec(context.Background())
	require.NoError(t, err)
}

func TestGridSetSelfServe(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := gridSetup(t, d, 4)
		ctx := context.Background()
		u := f.users[0]
		got, err := f.svc.SetSelfServe(ctx, f.actor, u.ID, !u.SelfServeEnabled)
		require.NoError(t, err)
		require.Equal(t, !u.SelfServeEnabled, got.SelfServeEnabled)
		require.Equal(t, !u.SelfServeEnabled, gridSwitches(t, d)[u.ID])
		require.Len(t, gridEvents(t, d, f.tenant.ID, "enduser.self_serve_update"), 1)
		_, err = f.svc.SetSelfServe(ctx, f.actor, u.ID, !u.SelfServeEnabled)
		require.NoError(t, err)
		require.Len(t, gridEvents(t, d, f.tenant.ID, "enduser.self_serve_update"), 1, "no change, no event")

		for _, id := range []string{f.outsider[0].ID, f.hidden[0].ID, "nope"} {
			_, err = f.svc.SetSelfServe(ctx, f.actor, id, true)
			require.Equal(t, apperr.NotFound, apperr.CodeOf(err))
		}

		// The tenant-wide switch overrides: changes are refused.
		gridSetTenantSwitch(t, d, f.tenant.ID, false)
		before := gridSwitches(t, d)
		_, err = f.svc.SetSelfServe(ctx, f.actor, u.ID, u.SelfServeEnabled)
		require.Equal(t, apperr.Conflict, apperr.CodeOf(err))
		require.Equal(t, enduser.TenantSwitchOff, apperr.MessageOf(err))
		_, err = f.svc.BulkSetSelfServe(ctx, f.actor, enduser.Selection{All: true}, true, f.now)
		require.Equal(t, apperr.Conflict, apperr.CodeOf(err))
		require.Equal(t, before, gridSwitches(t, d))
		_, err = f.svc.SetSelfServe(ctx, f.actor, f.outsider[0].ID, true)
		require.Equal(t, apperr.NotFound, apperr.CodeOf(err), "another tenant's end user stays a 404, even then")
	})
}

func TestGridBulkSetSelfServeByIDs(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := gridSetup(t, d, 30)
		ctx := context.Background()
		before := gridSwitches(t, d)
		var ids []string
		want, privOff := 0, 0
		for _, u := range f.users[:10] {
			ids = append(ids, u.ID)
			if !u.SelfServeEnabled && !u.Privileged {
				want++
			}
			if !u.SelfServeEnabled && u.Privileged {
				privOff++
			}
		}
		require.Positive(t, privOff, "the fixture selects privileged accounts that are off")
		// Posted ids of another tenant and of an archived customer are ignored.
		ids = append(ids, f.outsider[0].ID, f.outsider[1].ID, f.hidden[0].ID)
		res, err := f.svc.BulkSetSelfServe(ctx, f.actor, enduser.Selection{IDs: ids}, true, f.now)
		require.NoError(t, err)
		require.Equal(t, enduser.BulkResult{Changed: want, PrivilegedLeftOff: privOff}, res)
		after := gridSwitches(t, d)
		for _, u := range f.users {
			switch {
			case u.Privileged && !u.SelfServeEnabled:
				require.False(t, after[u.ID], "privileged accounts are never enabled in bulk")
			case slices.Contains(ids, u.ID):
				require.True(t, after[u.ID])
			default:
				require.Equal(t, before[u.ID], after[u.ID], "unselected end users are untouched")
			}
		}
		for _, u := range append(append([]*enduser.EndUser{}, f.outsider...), f.hidden...) {
			require.Equal(t, before[u.ID], after[u.ID], "%s is untouched", u.Username)
		}
		evs := gridEvents(t, d, f.tenant.ID, "enduser.bulk_self_serve")
		require.Len(t, evs, 1, "one event for the whole action")
		require.Contains(t, evs[0].Detail, "self-serve on for ")
		require.Equal(t, "13 selected end users", evs[0].Target)
		require.Empty(t, gridEvents(t, d, f.other.ID, "enduser.bulk_self_serve"))

		// Again: nothing differs, nothing changes; the privileged accounts
		// are still left off (and counted as such, not as already on).
		res, err = f.svc.BulkSetSelfServe(ctx, f.actor, enduser.Selection{IDs: ids}, true, f.now)
		require.NoError(t, err)
		require.Equal(t, enduser.BulkResult{PrivilegedLeftOff: privOff}, res)

		// Disabling then enabling the same selection twice: the second
		// time every selected end user already has the value.
		res, err = f.svc.BulkSetSelfServe(ctx, f.actor, enduser.Selection{IDs: ids}, false, f.now)
		require.NoError(t, err)
		require.Equal(t, 10-privOff, res.Changed)
		res, err = f.svc.BulkSetSelfServe(ctx, f.actor, enduser.Selection{IDs: ids}, false, f.now)
		require.NoError(t, err)
		require.Equal(t, enduser.BulkResult{Already: 10}, res, "another tenant's and an archived customer's ids are not counted")

		// Only ids that are not in the lists: nothing changed, nothing already so.
		for _, on := range []bool{true, false} {
			res, err = f.svc.BulkSetSelfServe(ctx, f.actor, enduser.Selection{IDs: []string{f.outsider[0].ID, f.hidden[0].ID, "nope"}}, on, f.now)
			require.NoError(t, err)
			require.Equal(t, enduser.BulkResult{}, res)
		}

		_, err = f.svc.BulkSetSelfServe(ctx, f.actor, enduser.Selection{}, true, f.now)
		require.Equal(t, apperr.Invalid, apperr.CodeOf(err))
	})
}

func TestGridBulkSetSelfServeByFilter(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := gridSetup(t, d, 80)
		ctx := context.Background()
		flt := enduser.Filter{Status: "registered"}
		before := gridSwitches(t, d)
		want := 0
		for _, u := range f.users {
			if gridMatch(u, flt, f.now) && u.SelfServeEnabled {
				want++
			}
		}
		require.Positive(t, want)
		// Hidden (archived customer) and foreign end users that would match.
		for _, u := range append(append([]*enduser.EndUser{}, f.outsider...), f.hidden...) {
			_, err := d.Bun.NewUpdate().Table("end_users").Set("email = 'x@example.com', mobile = '+447700900123', first_access_at = NULL, self_serve_enabled = TRUE").
				Where("id = ?", u.ID).Exec(ctx)
			require.NoError(t, err)
		}
		res, err := f.svc.BulkSetSelfServe(ctx, f.actor, enduser.Selection{All: true, Filter: flt}, false, f.now)
		require.NoError(t, err)
		require.Equal(t, enduser.BulkResult{Changed: want}, res)
		after := gridSwitches(t, d)
		for _, u := range f.users {
			if gridMatch(u, flt, f.now) {
				require.False(t, after[u.ID])
			} else {
				require.Equal(t, before[u.ID], after[u.ID])
			}
		}
		for _, u := range append(append([]*enduser.EndUser{}, f.outsider...), f.hidden...) {
			require.True(t, after[u.ID], "%s is untouched", u.Username)
		}
		evs := gridEvents(t, d, f.tenant.ID, "enduser.bulk_self_serve")
		require.Len(t, evs, 1)
		require.Equal(t, "status=registered", evs[0].Target)
		require.Contains(t, evs[0].Detail, "matching: status=registered")

		// Enabling by filter leaves privileged accounts off, and says so.
		res, err = f.svc.BulkSetSelfServe(ctx, f.actor, enduser.Selection{All: true, Filter: enduser.Filter{CustomerID: f.custA.ID}}, true, f.now)
		require.NoError(t, err)
		after = gridSwitches(t, d)
		priv, on := 0, 0
		for _, u := range f.users {
			if u.CustomerID != f.custA.ID {
				continue
			}
			if u.Privileged {
				priv++
				require.Equal(t, before[u.ID] && !gridMatch(u, flt, f.now), after[u.ID])
			} else {
				on++
				require.True(t, after[u.ID])
			}
		}
		require.Positive(t, priv)
		require.LessOrEqual(t, res.Changed, on)
		require.Positive(t, res.PrivilegedLeftOff)
		evs = gridEvents(t, d, f.tenant.ID, "enduser.bulk_self_serve")
		require.Len(t, evs, 2)
		require.Contains(t, evs[1].Detail, "privileged left off")
	})
}

package agent_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/agent"
	"github.com/latchkey/latchkey/app/agent/wire"
	"github.com/latchkey/latchkey/app/secret"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/db/dbtest"
)

// rotation is the keyrings of a rotation from the fixture's key A to B.
type rotation struct {
	rotated *secret.Keyring // B, A: what rekey runs with
	onlyB   *secret.Keyring // after rekey, A may go
}

func rotate(t *testing.T, oldEntry string) rotation {
	t.Helper()
	b, err := secret.GenerateKey()
	require.NoError(t, err)
	rotated, err := secret.ParseKeys(b + "," + oldEntry)
	require.NoError(t, err)
	onlyB, err := secret.ParseKeys(b)
	require.NoError(t, err)
	return rotation{rotated: rotated, onlyB: onlyB}
}

// requireUnderB checks that ct is under B and opens, with only B, to want.
func (r rotation) requireUnderB(t *testing.T, ct, aad []byte, want string) {
	t.Helper()
	require.False(t, r.rotated.NeedsRotation(ct))
	got, err := r.onlyB.Decrypt(ct, aad)
	require.NoError(t, err)
	require.Equal(t, want, string(got))
}

func TestReencryptBindAndTaskPasswordsUnderTheNewKey(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		ctx := context.Background()
		f.settings(t, f.actor, f.customer.ID)
		f.settings(t, f.other, f.otherCu.ID)
		uid := f.adUser(t, f.customer.ID, f.actor.TenantID, "ann", "guid-ann")
		f.enroll(t, f.actor, f.customer.ID)
		task, err := f.svc.Reset(ctx, f.actor, agent.ResetInput{EndUserID: uid, Password: "N3w-passw0rd!"})
		require.NoError(t, err)

		r := rotate(t, f.keyEntry)
		n, err := agent.ReencryptBindPasswords(ctx, d, r.rotated)
		require.NoError(t, err)
		require.Equal(t, 2, n)
		n, err = agent.ReencryptTaskPasswords(ctx, d, r.rotated)
		require.NoError(t, err)
		require.Equal(t, 1, n)

		var settings []agent.Settings
		require.NoError(t, d.Bun.NewSelect().Model(&settings).Scan(ctx))
		require.Len(t, settings, 2)
		for _, st := range settings {
			r.requireUnderB(t, st.BindPassword, agent.SettingsAADForTest(st.CustomerID), "s3cret-bind")
		}
		var ct []byte
		require.NoError(t, d.Bun.NewSelect().Table("directory_tasks").Column("secret").Where("id = ?", task.ID).Scan(ctx, &ct))
		r.requireUnderB(t, ct, agent.TaskAADForTest(task.ID), "N3w-passw0rd!")

		// A second run has nothing to do.
		for _, fn := range []func(context.Context, *db.DB, *secret.Keyring) (int, error){agent.ReencryptBindPasswords, agent.ReencryptTaskPasswords} {
			n, err := fn(ctx, d, r.rotated)
			require.NoError(t, err)
			require.Zero(t, n)
		}

		// The service with only B hands the agent both passwords.
		svc := agent.New(agent.Deps{DB: d, Keys: r.onlyB, Now: f.clk.now})
		ag, _ := f.enroll(t, f.actor, f.customer.ID)
		resp, err := svc.Poll(ctx, ag, wire.PollRequest{}, time.Millisecond)
		require.NoError(t, err)
		require.Equal(t, "s3cret-bind", resp.Config.BindPassword)
		require.NotNil(t, resp.Task, "handed with the config")
		require.Equal(t, task.ID, resp.Task.ID)
		require.Equal(t, "N3w-passw0rd!", resp.Task.Password)
	})
}

// TestReencryptPagesKeepNewerValuesAndReportFailures: more rows than one
// page, a row rewritten meanwhile, and a value no key opens.
func TestReencryptPagesKeepNewerValuesAndReportFailures(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		ctx := context.Background()
		a, err := secret.ParseKeys(f.keyEntry)
		require.NoError(t, err)
		now := f.clk.now()
		var tasks []*agent.Task
		for i := range 450 {
			tk := &agent.Task{ID: db.NewID(), TenantID: f.actor.TenantID, CustomerID: f.customer.ID, Kind: wire.KindReset,
				State: agent.StateQueued, Params: "{}", CreatedAt: now, PickupBy: now.Add(time.Minute)}
			tk.Secret, err = a.Encrypt(fmt.Appendf(nil, "password-%d", i), agent.TaskAADForTest(tk.ID))
			require.NoError(t, err)
			tasks = append(tasks, tk)
		}
		_, err = d.Bun.NewInsert().Model(&tasks).Exec(ctx)
		require.NoError(t, err)
		// One under a key the keyring does not have.
		c, err := secret.GenerateKey()
		require.NoError(t, err)
		cKeys, err := secret.ParseKeys(c)
		require.NoError(t, err)
		lost, err := cKeys.Encrypt([]byte("lost"), agent.TaskAADForTest(tasks[7].ID))
		require.NoError(t, err)
		_, err = d.Bun.NewUpdate().Table("directory_tasks").Set("secret = ?", lost).Where("id = ?", tasks[7].ID).Exec(ctx)
		require.NoError(t, err)

		r := rotate(t, f.keyEntry)
		n, err := agent.ReencryptTaskPasswords(ctx, d, r.rotated)
		require.ErrorIs(t, err, secret.ErrUnknownKey)
		require.ErrorContains(t, err, "1 could not be re-encrypted")
		require.ErrorContains(t, err, tasks[7].ID)
		require.Equal(t, 449, n, "the others are done")
		for i, tk := range tasks {
			var ct []byte
			require.NoError(t, d.Bun.NewSelect().Table("directory_tasks").Column("secret").Where("id = ?", tk.ID).Scan(ctx, &ct))
			if i == 7 {
				require.Equal(t, lost, ct, "left as it was")
				continue
			}
			r.requireUnderB(t, ct, agent.TaskAADForTest(tk.ID), fmt.Sprintf("password-%d", i))
		}
		n, err = agent.ReencryptTaskPasswords(ctx, d, r.rotated)
		require.Error(t, err)
		require.Zero(t, n)
		_, err = d.Bun.NewUpdate().Table("directory_tasks").Set("secret = NULL").Where("id = ?", tasks[7].ID).Exec(ctx)
		require.NoError(t, err)
		n, err = agent.ReencryptTaskPasswords(ctx, d, r.rotated)
		require.NoError(t, err)
		require.Zero(t, n)
	})
}

// TestReencryptDoesNotBringBackAnErasedPassword: a task that ends between
// rekey's read and its write keeps its password erased.
func TestReencryptDoesNotBringBackAnErasedPassword(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		ctx := context.Background()
		f.settings(t, f.actor, f.customer.ID)
		f.enroll(t, f.actor, f.customer.ID)
		uid := f.adUser(t, f.customer.ID, f.actor.TenantID, "ann", "guid-ann")
		task, err := f.svc.Reset(ctx, f.actor, agent.ResetInput{EndUserID: uid, Password: "N3w-passw0rd!"})
		require.NoError(t, err)
		r := rotate(t, f.keyEntry)
		hooked := agent.WithBeforeRekeyWriteForTest(ctx, func() {
			_, err := d.Bun.NewUpdate().Table("directory_tasks").Set("secret = NULL").Set("state = ?", agent.StateDone).
				Where("id = ?", task.ID).Exec(ctx)
			require.NoError(t, err)
		})
		n, err := agent.ReencryptTaskPasswords(hooked, d, r.rotated)
		require.NoError(t, err)
		require.Zero(t, n)
		var ct []byte
		require.NoError(t, d.Bun.NewSelect().Table("directory_tasks").Column("secret").Where("id = ?", task.ID).Scan(ctx, &ct))
		require.Nil(t, ct)
	})
}

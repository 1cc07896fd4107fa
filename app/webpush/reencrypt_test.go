package webpush_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/notify"
	"github.com/latchkey/latchkey/app/secret"
	"github.com/latchkey/latchkey/app/webpush"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/db/dbtest"
)

func TestReencryptVAPIDSubscriptionsAndPayloadsUnderTheNewKey(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		f := newFixture(t, d)
		ctx := context.Background()
		a, err := secret.GenerateKey()
		require.NoError(t, err)
		f.keys, err = secret.ParseKeys(a)
		require.NoError(t, err)
		f.svc = f.service(true) // under key A from the start

		phone, sub1 := f.subscribe(t, "iPhone · Safari")
		tablet, sub2 := f.subscribe(t, "iPad · Safari")
		p := webpush.Payload{Title: "Acme IT: is this you?", Body: "Approve it", URL: "/v/01abc", ID: "01abc", Kind: "verification"}
		ds, err := f.pushNow(t, p, time.Minute)
		require.NoError(t, err)
		require.Len(t, ds, 2)
		out, err := f.svc.Deliver(ctx, ds[0].MessageID, false)
		require.NoError(t, err)
		require.Equal(t, notify.StatusSent, out.Status)
		p.URL = "https://latchkey.msp.example/v/01abc"
		payload, err := json.Marshal(p)
		require.NoError(t, err)
		var priv []byte
		require.NoError(t, d.Bun.NewSelect().Table("push_vapid").Column("private_key").Scan(ctx, &priv))
		privPlain, err := f.keys.Decrypt(priv, webpush.VAPIDAADForTest)
		require.NoError(t, err)
		dataBefore := map[string]map[string]any{}
		for _, dl := range ds {
			var fields map[string]any
			require.NoError(t, json.Unmarshal([]byte(f.status(t, dl.MessageID).Data), &fields))
			dataBefore[dl.MessageID] = fields
		}

		b, err := secret.GenerateKey()
		require.NoError(t, err)
		rotated, err := secret.ParseKeys(b + "," + a)
		require.NoError(t, err)
		onlyB, err := secret.ParseKeys(b)
		require.NoError(t, err)
		underB := func(ct, aad []byte) []byte {
			t.Helper()
			require.False(t, rotated.NeedsRotation(ct))
			got, err := onlyB.Decrypt(ct, aad)
			require.NoError(t, err)
			return got
		}
		steps := []struct {
			fn   func(context.Context, *db.DB, *secret.Keyring) (int, error)
			want int
		}{{webpush.ReencryptVAPIDKey, 1}, {webpush.ReencryptSubscriptions, 2}, {webpush.ReencryptPayloads, 2}}
		for _, st := range steps {
			n, err := st.fn(ctx, d, rotated)
			require.NoError(t, err)
			require.Equal(t, st.want, n)
		}

		require.NoError(t, d.Bun.NewSelect().Table("push_vapid").Column("private_key").Scan(ctx, &priv))
		require.Equal(t, privPlain, underB(priv, webpush.VAPIDAADForTest))
		for _, c := range []struct {
			id, auth string
		}{{sub1.ID, phone.Auth}, {sub2.ID, tablet.Auth}} {
			var ct []byte
			require.NoError(t, d.Bun.NewSelect().Table("push_subscriptions").Column("auth").Where("id = ?", c.id).Scan(ctx, &ct))
			require.Equal(t, c.auth, base64.RawURLEncoding.EncodeToString(underB(ct, webpush.AuthAADForTest(f.tenant, c.id))))
		}
		for _, dl := range ds {
			var fields map[string]any
			require.NoError(t, json.Unmarshal([]byte(f.status(t, dl.MessageID).Data), &fields))
			ct, err := base64.StdEncoding.DecodeString(fields["payload"].(string))
			require.NoError(t, err)
			require.JSONEq(t, string(payload), string(underB(ct, webpush.PayloadAADForTest(f.tenant, dl.MessageID))))
			before := dataBefore[dl.MessageID]
			require.NotEqual(t, before["payload"], fields["payload"])
			delete(before, "payload")
			delete(fields, "payload")
			require.Equal(t, before, fields, "the rest of the data is unchanged")
		}
		for _, st := range steps {
			n, err := st.fn(ctx, d, rotated)
			require.NoError(t, err)
			require.Zero(t, n, "a second run has nothing to do")
		}

		// Only B is needed to deliver the pending notification.
		svc := webpush.NewService(webpush.Deps{DB: d, Keys: onlyB, Jobs: f.jobs, AllowAnyEndpoint: true, Now: f.clock,
			Link: func(p string) string { return "https://latchkey.msp.example" + p }})
		out, err = svc.Deliver(ctx, ds[1].MessageID, false)
		require.NoError(t, err)
		require.NoError(t, out.Err)
		require.Equal(t, notify.StatusSent, out.Status)
		got := f.push.Messages()
		require.Len(t, got, 2, "rejected: %v", f.push.Rejected())
		require.Equal(t, tablet.Endpoint, got[1].Endpoint)
		require.JSONEq(t, string(payload), string(got[1].Payload))
		pub, err := f.svc.PublicKey(ctx)
		require.NoError(t, err)
		require.Equal(t, pub, got[1].VAPIDKey)
	})
}

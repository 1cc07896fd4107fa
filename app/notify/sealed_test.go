package notify_test

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/notify"
	"github.com/latchkey/latchkey/app/secret"
	"github.com/latchkey/latchkey/app/tenant"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/db/dbtest"
)

// noJobs accepts every job and enqueues nothing.
type noJobs struct{}

func (noJobs) InsertTx(context.Context, *db.Tx, river.JobArgs, *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	return &rivertype.JobInsertResult{}, nil
}

// mustKeys returns a keyring of its own key, and that key's entry.
func mustKeys(t *testing.T) (*secret.Keyring, string) {
	t.Helper()
	entry, err := secret.GenerateKey()
	require.NoError(t, err)
	kr, err := secret.ParseKeys(entry)
	require.NoError(t, err)
	return kr, entry
}

func mustParse(t *testing.T, s string) *secret.Keyring {
	t.Helper()
	kr, err := secret.ParseKeys(s)
	require.NoError(t, err)
	return kr
}

const (
	code      = "480913"
	token     = "Zq8rTt3vXy0AbCdEf1234567890qwerty"
	tokenLink = "https://latchkey.test/welcome/" + token
)

// codeEmail is an email like self-serve's: the code in the subject and the
// text, and a link with a token.
func codeEmail() notify.Email {
	return notify.Email{
		Subject: "Your code to reset your password: " + code, Greeting: "Hi Dana,",
		Lines:      []string{"Your code is " + code + "."},
		ActionText: "Open", ActionURL: tokenLink, After: []string{"Ignore this email if you did not ask."},
	}
}

func newTenant(t *testing.T, d *db.DB) string {
	t.Helper()
	tn := tenant.New(time.Now())
	tn.Name = "Acme IT"
	require.NoError(t, tenant.Insert(context.Background(), d.Bun, tn))
	return tn.ID
}

func queueEmail(t *testing.T, d *db.DB, keys *secret.Keyring, tenantID string, e notify.Email) *notify.Message {
	t.Helper()
	var m *notify.Message
	require.NoError(t, d.RunInTx(context.Background(), func(ctx context.Context, tx *db.Tx) error {
		var err error
		m, err = notify.NewQueue(noJobs{}, keys, nil).Email(ctx, tx, tenantID, "dana@customer.example", "selfserve_code", e)
		return err
	}))
	return m
}

func load(t *testing.T, d *db.DB, id string) *notify.Message {
	t.Helper()
	m, err := notify.Load(context.Background(), d.Bun, id)
	require.NoError(t, err)
	return m
}

// requireNoSecret fails when any stored column of m holds the code or the token.
func requireNoSecret(t *testing.T, m *notify.Message) {
	t.Helper()
	for col, v := range map[string]string{"subject": m.Subject, "data": m.Data, "body_text": m.BodyText, "body_html": m.BodyHTML} {
		require.NotContains(t, v, code, col)
		require.NotContains(t, v, token, col)
		require.False(t, strings.HasPrefix(v, "{"), "%s is JSON", col)
	}
}

func TestEmailIsStoredEncrypted(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		ctx := context.Background()
		keys, _ := mustKeys(t)
		tid := newTenant(t, d)
		queued := queueEmail(t, d, keys, tid, codeEmail())

		m := load(t, d, queued.ID)
		require.Equal(t, notify.StatusQueued, m.Status)
		requireNoSecret(t, m)
		require.Empty(t, m.Subject, "the subject carries the code: it is kept inside data")
		e, err := m.EmailData(keys)
		require.NoError(t, err)
		require.Equal(t, codeEmail(), e)
		c, err := m.Content(keys)
		require.NoError(t, err)
		require.Empty(t, c.Text) // not rendered yet

		// The stored bodies are encrypted too, and read back in clear.
		r := notify.Rendered{Subject: e.Subject, Text: "Your code is " + code + ".\n" + tokenLink + "\n", HTML: `<a href="` + tokenLink + `">Open</a>`}
		ok, err := notify.KeepEmailInOutbox(ctx, d.Bun, keys, m, r)
		require.NoError(t, err)
		require.True(t, ok)
		m = load(t, d, m.ID)
		require.Equal(t, notify.StatusOutbox, m.Status)
		requireNoSecret(t, m)
		c, err = m.Content(keys)
		require.NoError(t, err)
		require.Equal(t, codeEmail(), c.Email)
		require.Equal(t, r.Text, c.Text)
		require.Equal(t, r.HTML, c.HTML)

		// Another keyring cannot read it.
		other, _ := mustKeys(t)
		_, err = m.EmailData(other)
		require.ErrorIs(t, err, notify.ErrUndecryptable)
		require.ErrorIs(t, err, secret.ErrUnknownKey)
		_, err = m.Content(other)
		require.ErrorIs(t, err, notify.ErrUndecryptable)

		// The ciphertext is bound to its message, tenant and column, and is
		// not the additional data of a text message or push notification.
		second := queueEmail(t, d, keys, tid, notify.Email{Subject: "Hello"})
		moved := *second
		moved.Data = m.Data
		_, err = moved.EmailData(keys)
		require.ErrorIs(t, err, notify.ErrUndecryptable)
		swapped := *m
		swapped.BodyHTML = m.BodyText
		_, err = swapped.Content(keys)
		require.ErrorIs(t, err, notify.ErrUndecryptable)
		ct, err := base64.StdEncoding.DecodeString(m.Data)
		require.NoError(t, err)
		_, err = keys.Decrypt(ct, []byte("messages/"+tid+"/"+m.ID))
		require.ErrorIs(t, err, secret.ErrDecrypt)
	})
}

func TestClaimEmailEncryptsBodies(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		ctx := context.Background()
		keys, _ := mustKeys(t)
		m := queueEmail(t, d, keys, newTenant(t, d), codeEmail())
		r := notify.Rendered{Subject: codeEmail().Subject, Text: "code " + code, HTML: "<p>" + tokenLink + "</p>"}
		ok, err := notify.ClaimEmail(ctx, d.Bun, keys, m, r, time.Now())
		require.NoError(t, err)
		require.True(t, ok)
		ok, err = notify.ClaimEmail(ctx, d.Bun, keys, m, r, time.Now())
		require.NoError(t, err)
		require.False(t, ok, "only one attempt wins the claim")
		got := load(t, d, m.ID)
		require.Equal(t, notify.StatusSending, got.Status)
		requireNoSecret(t, got)
		c, err := got.Content(keys)
		require.NoError(t, err)
		require.Equal(t, r.Text, c.Text)
		require.Equal(t, r.HTML, c.HTML)
	})
}

// insertLegacy stores an email the way versions before encryption did: the
// JSON of the Email and the subject and bodies in clear.
func insertLegacy(t *testing.T, d *db.DB, tenantID, status, text, html string) *notify.Message {
	t.Helper()
	e := codeEmail()
	e.Subject = "" // older rows may have the subject only in its column
	data := `{"greeting":"Hi Dana,","lines":["Your code is ` + code + `."],"action_text":"Open","action_url":"` + tokenLink + `"}`
	m := &notify.Message{
		ID: db.NewID(), TenantID: tenantID, Channel: notify.ChannelEmail, Kind: "selfserve_code", To: "dana@customer.example",
		Subject: codeEmail().Subject, Data: data, BodyText: text, BodyHTML: html, Status: status, CreatedAt: time.Now().UTC(),
	}
	_, err := d.Bun.NewInsert().Model(m).Exec(context.Background())
	require.NoError(t, err)
	return m
}

func TestLegacyClearEmails(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		ctx := context.Background()
		keys, _ := mustKeys(t)
		tid := newTenant(t, d)

		// A legacy row is read as it is, without a key.
		sent := insertLegacy(t, d, tid, notify.StatusSent, "text "+tokenLink, "<p>html</p>")
		c, err := load(t, d, sent.ID).Content(keys)
		require.NoError(t, err)
		want := codeEmail()
		want.After = nil
		require.Equal(t, want, c.Email)
		require.Equal(t, "text "+tokenLink, c.Text)
		require.Equal(t, "<p>html</p>", c.HTML)

		// A queued legacy row is encrypted when the send job stores its bodies.
		queued := insertLegacy(t, d, tid, notify.StatusQueued, "", "")
		r := notify.Rendered{Subject: want.Subject, Text: "text " + tokenLink, HTML: "<p>" + code + "</p>"}
		ok, err := notify.KeepEmailInOutbox(ctx, d.Bun, keys, load(t, d, queued.ID), r)
		require.NoError(t, err)
		require.True(t, ok)
		m := load(t, d, queued.ID)
		requireNoSecret(t, m)
		c, err = m.Content(keys)
		require.NoError(t, err)
		require.Equal(t, want, c.Email)
		require.Equal(t, r.Text, c.Text)
		require.Equal(t, r.HTML, c.HTML)
	})
}

func TestReencryptEmails(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		ctx := context.Background()
		old, oldEntry := mustKeys(t)
		tid := newTenant(t, d)

		rendered := queueEmail(t, d, old, tid, codeEmail())
		r := notify.Rendered{Subject: codeEmail().Subject, Text: "text " + code, HTML: "<p>" + tokenLink + "</p>"}
		ok, err := notify.KeepEmailInOutbox(ctx, d.Bun, old, rendered, r)
		require.NoError(t, err)
		require.True(t, ok)
		queued := queueEmail(t, d, old, tid, codeEmail()) // bodies not rendered yet
		legacy := insertLegacy(t, d, tid, notify.StatusSent, "text "+tokenLink, "<p>"+code+"</p>")
		// A text message's columns are app/sms's: left alone.
		sms := &notify.Message{ID: db.NewID(), TenantID: tid, Channel: "sms", Kind: "verification_code", To: "+15555550100",
			Data: "c21zIGNpcGhlcnRleHQ=", Status: notify.StatusQueued, CreatedAt: time.Now().UTC()}
		_, err = d.Bun.NewInsert().Model(sms).Exec(ctx)
		require.NoError(t, err)

		// Nothing to do under the current key but the legacy row.
		n, err := notify.ReencryptEmails(ctx, d, old)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		requireNoSecret(t, load(t, d, legacy.ID))

		newKeys, newEntry := mustKeys(t)
		rotated := mustParse(t, newEntry+","+oldEntry)
		n, err = notify.ReencryptEmails(ctx, d, rotated)
		require.NoError(t, err)
		require.Equal(t, 3, n)
		n, err = notify.ReencryptEmails(ctx, d, rotated)
		require.NoError(t, err)
		require.Zero(t, n, "a second run has nothing left to do")

		// The new key alone reads everything; the old one nothing.
		wantLegacy := codeEmail()
		wantLegacy.After = nil
		for _, tc := range []struct {
			id         string
			email      notify.Email
			text, html string
		}{
			{rendered.ID, codeEmail(), r.Text, r.HTML},
			{queued.ID, codeEmail(), "", ""},
			{legacy.ID, wantLegacy, "text " + tokenLink, "<p>" + code + "</p>"},
		} {
			m := load(t, d, tc.id)
			requireNoSecret(t, m)
			c, err := m.Content(newKeys)
			require.NoError(t, err)
			require.Equal(t, tc.email, c.Email)
			require.Equal(t, tc.text, c.Text)
			require.Equal(t, tc.html, c.HTML)
			_, err = m.EmailData(old)
			require.ErrorIs(t, err, notify.ErrUndecryptable)
		}
		require.Equal(t, sms.Data, load(t, d, sms.ID).Data)

		// A message whose key is gone stops the run with its id.
		lost := queueEmail(t, d, old, tid, codeEmail())
		_, err = notify.ReencryptEmails(ctx, d, newKeys)
		require.ErrorIs(t, err, notify.ErrUndecryptable)
		require.ErrorContains(t, err, lost.ID)
	})
}

func TestReencryptEmailsInBatches(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		ctx := context.Background()
		old, oldEntry := mustKeys(t)
		tid := newTenant(t, d)
		const count = 450 // more than two batches
		require.NoError(t, d.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
			q := notify.NewQueue(noJobs{}, old, nil)
			for range count {
				if _, err := q.Email(ctx, tx, tid, "dana@customer.example", "test", notify.Email{Subject: "Hello"}); err != nil {
					return err
				}
			}
			return nil
		}))
		newKeys, newEntry := mustKeys(t)
		n, err := notify.ReencryptEmails(ctx, d, mustParse(t, newEntry+","+oldEntry))
		require.NoError(t, err)
		require.Equal(t, count, n)
		var ms []notify.Message
		require.NoError(t, d.Bun.NewSelect().Model(&ms).Where("tenant_id = ?", tid).Scan(ctx))
		require.Len(t, ms, count)
		for i := range ms {
			e, err := ms[i].EmailData(newKeys)
			require.NoError(t, err)
			require.Equal(t, "Hello", e.Subject)
		}
	})
}

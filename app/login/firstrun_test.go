package login_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/credential"
	"github.com/latchkey/latchkey/app/login"
	"github.com/latchkey/latchkey/app/notify"
	"github.com/latchkey/latchkey/app/secret"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/db/dbtest"
)

// TestFirstRunCreatesOneTenantUnderRace: many first visitors submitting the
// wizard's first step at once create exactly one tenant; the others get Conflict.
func TestFirstRunCreatesOneTenantUnderRace(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		key, err := secret.GenerateKey()
		require.NoError(t, err)
		kr, err := secret.ParseKeys(key)
		require.NoError(t, err)
		q, err := db.NewQueue(d, &river.Config{})
		require.NoError(t, err)
		svc := login.NewService(login.Deps{DB: d, Hasher: credential.NewHasher(8), Keys: kr, Mail: notify.NewQueue(q, kr, time.Now),
			Link: func(p string) string { return "http://x" + p }, Now: time.Now, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
		const n = 6
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				pw := "a long enough passphrase"
				_, _, errs[i] = svc.CreateTenantWithPrimary(context.Background(), login.PrimaryInput{
					FirstName: "P", LastName: fmt.Sprint(i), Email: fmt.Sprintf("p%d@x.example", i), Password: pw, Confirm: pw}, "")
			}(i)
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
			} else {
				require.Equal(t, apperr.Conflict, apperr.CodeOf(err), "%v", err)
			}
		}
		require.Equal(t, 1, ok)
		cnt, err := d.Bun.NewSelect().Table("tenants").Count(context.Background())
		require.NoError(t, err)
		require.Equal(t, int64(1), cnt)
	})
}

package enduser_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/enduser"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/db/dbtest"
)

func TestGridExportCSV(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := gridSetup(t, d, 1203) // more than two chunks
		ctx := context.Background()
		evil := &enduser.EndUser{ID: db.NewID(), TenantID: f.tenant.ID, CustomerID: f.custA.ID, Username: "evil",
			FirstName: "=HYPERLINK(\"http://x.example\")", LastName: "+1+1", Email: "-x@example.com", Mobile: "+447700900123", Source: enduser.SourceCSV,
			CreatedAt: f.now, UpdatedAt: f.now}
		_, err := d.Bun.NewInsert().Model(evil).Exec(ctx)
		require.NoError(t, err)
		f.users = append(f.users, evil)

		var buf bytes.Buffer
		n, err := f.svc.ExportCSV(ctx, f.actor, f.tenant, enduser.Filter{Sort: "username", Desc: true}, &buf)
		require.NoError(t, err)
		require.Equal(t, len(f.users), n, "every matching end user, not one page")
		recs, err := csv.NewReader(&buf).ReadAll()
		require.NoError(t, err)
		require.Equal(t, enduser.ExportHeader, recs[0])
		require.Len(t, recs, len(f.users)+1)
		want := f.gridExpected(enduser.Filter{Sort: "username", Desc: true})
		byUsername := map[string]string{}
		for _, u := range f.users {
			byUsername[u.Username] = u.ID
		}
		for i, rec := range recs[1:] {
			require.Equal(t, want[i], byUsername[rec[3]], "row %d in the view's order", i)
		}
		var row []string
		for _, rec := range recs {
			if rec[3] == "evil" {
				row = rec
			}
		}
		require.Equal(t, "'=HYPERLINK(\"http://x.example\")", row[1], "formula-like cells are defused")
		require.Equal(t, "'+1+1", row[2])
		require.Equal(t, "+447700900123", row[6], "a mobile number is a number, not a formula: exported as it is")
		require.Equal(t, "'-x@example.com", row[4])
		require.Equal(t, "Globex", row[0])

		// A filtered export; the audit trail has both.
		buf.Reset()
		n, err = f.svc.ExportCSV(ctx, f.actor, f.tenant, enduser.Filter{Query: "evil"}, &buf)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		evs := gridEvents(t, d, f.tenant.ID, "enduser.export")
		require.Len(t, evs, 2)
		require.Equal(t, "search=evil", evs[1].Target)
		require.Equal(t, "1 end user exported as CSV", evs[1].Detail)
	})
}

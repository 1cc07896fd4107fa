package enduser_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/app/enduser"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/db/dbtest"
)

// gridEvents returns the tenant's audit events of an action, oldest first.
func gridEvents(t *testing.T, d *db.DB, tenantID, action string) []audit.Event {
	t.Helper()
	var evs []audit.Event
	require.NoError(t, d.Bun.NewSelect().Model(&evs).Where("tenant_id = ? AND action = ?", tenantID, action).Order("seq").Scan(context.Background()))
	return evs
}

func TestGridUpdateContactValidation(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := gridSetup(t, d, 1)
		ctx := context.Background()
		id := f.users[0].ID
		for _, tc := range []struct {
			field, value, want string // want "" = refused
		}{
			{"email", "ann@example.com", "ann@example.com"},
			{"email", "  Ann.Smith@Example.COM ", "ann.smith@example.com"},
			{"email", "ann", ""},
			{"email", "ann@", ""},
			{"email", "ann@example", ""},
			{"email", "Ann <ann@example.com>", ""},
			{"email", "ann smith@example.com", ""},
			{"email", "ann@example..com", ""},
			{"mobile", "+44 7700 900123", "+447700900123"},
			{"mobile", "+44 (0)7700-900-123", "+447700900123"},
			{"mobile", "+1 (415) 555-0100", "+14155550100"},
			{"mobile", "07700 900123", ""},                  // no + and country code
			{"mobile", "0044 7700 900123", "+447700900123"}, // 00 is the international prefix, as in the import
			{"mobile", "+44 770", ""},                       // too short
			{"mobile", "+44 7700 900123 4567", ""},
			{"mobile", "+44 7700 900123 ext 5", ""},
			{"mobile", "+0 7700 900123", ""},
		} {
			u, err := f.svc.UpdateContact(ctx, f.actor, id, tc.field, tc.value)
			if tc.want == "" {
				require.Equal(t, apperr.Invalid, apperr.CodeOf(err), "%s %q", tc.field, tc.value)
				require.NotEmpty(t, apperr.FieldsOf(err)["value"], "%s %q has a message for the field", tc.field, tc.value)
				continue
			}
			require.NoError(t, err, "%s %q", tc.field, tc.value)
			if tc.field == "email" {
				require.Equal(t, tc.want, u.Email)
			} else {
				require.Equal(t, tc.want, u.Mobile)
			}
		}
		_, err := f.svc.UpdateContact(ctx, f.actor, id, "username", "x")
		require.Equal(t, apperr.NotFound, apperr.CodeOf(err), "only email and mobile are editable")
	})
}

func TestGridUpdateContactChangesStatusSourceAndAudits(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := gridSetup(t, d, 0)
		ctx := context.Background()
		u := &enduser.EndUser{ID: db.NewID(), TenantID: f.tenant.ID, CustomerID: f.custA.ID, Username: "ann", FirstName: "Ann",
			Email: "ann@globex.example", EmailSource: enduser.ValueDirectory, Source: enduser.SourceAD, CreatedAt: f.now, UpdatedAt: f.now}
		_, err := d.Bun.NewInsert().Model(u).Exec(ctx)
		require.NoError(t, err)
		require.Equal(t, enduser.StatusNotRegistered, u.Status())

		got, err := f.svc.UpdateContact(ctx, f.actor, u.ID, "mobile", "+44 7700 900123")
		require.NoError(t, err)
		require.Equal(t, enduser.StatusRegistered, got.Status(), "email and mobile present")
		require.Equal(t, enduser.ValueManual, got.MobileSource)
		require.Equal(t, enduser.ValueDirectory, got.EmailSource, "the other field keeps its source")
		stored, err := enduser.Get(ctx, d.Bun, f.tenant.ID, u.ID)
		require.NoError(t, err)
		require.Equal(t, "+447700900123", stored.Mobile)
		require.Equal(t, enduser.ValueManual, stored.MobileSource)

		evs := gridEvents(t, d, f.tenant.ID, "enduser.contact_update")
		require.Len(t, evs, 1)
		require.Equal(t, u.ID, evs[0].TargetID)
		require.Equal(t, "mobile: +44•••123", evs[0].Detail, "the field and a masked value, never the whole number")

		// The same value again writes nothing.
		_, err = f.svc.UpdateContact(ctx, f.actor, u.ID, "mobile", "+447700900123")
		require.NoError(t, err)
		require.Len(t, gridEvents(t, d, f.tenant.ID, "enduser.contact_update"), 1)

		// Clearing is allowed and drops the status.
		got, err = f.svc.UpdateContact(ctx, f.actor, u.ID, "email", "")
		require.NoError(t, err)
		require.Equal(t, enduser.StatusNotRegistered, got.Status())
		evs = gridEvents(t, d, f.tenant.ID, "enduser.contact_update")
		require.Len(t, evs, 2)
		require.Equal(t, "email: (cleared)", evs[1].Detail)

		// Another tenant's end user, or one of an archived customer: not found.
		for _, id := range []string{f.outsider[0].ID, f.hidden[0].ID} {
			_, err = f.svc.UpdateContact(ctx, f.actor, id, "email", "x@example.com")
			require.Equal(t, apperr.NotFound, apperr.CodeOf(err))
		}
		stored, err = enduser.Get(ctx, d.Bun, f.other.ID, f.outsider[0].ID)
		require.NoError(t, err)
		require.Equal(t, f.outsider[0].Email, stored.Email, "another tenant's end user is untouched")
	})
}

func TestGridValueSourceLabelsAndMask(t *testing.T) {
	t.Parallel()
	require.Equal(t, "from Active Directory", enduser.ValueSourceLabel(enduser.ValueDirectory, enduser.SourceAD))
	require.Equal(t, "from Microsoft 365", enduser.ValueSourceLabel(enduser.ValueDirectory, enduser.SourceM365))
	require.Equal(t, "typed by a technician", enduser.ValueSourceLabel(enduser.ValueManual, enduser.SourceAD))
	require.Equal(t, "from CSV import", enduser.ValueSourceLabel(enduser.ValueImport, enduser.SourceCSV))
	require.Equal(t, "given by the end user", enduser.ValueSourceLabel(enduser.ValueEndUser, enduser.SourceCSV))
	require.Equal(t, "", enduser.ValueSourceLabel("", enduser.SourceCSV))
	require.Equal(t, "a•••@example.com", enduser.MaskValue("email", "ann@example.com"))
	require.Equal(t, "+44•••123", enduser.MaskValue("mobile", "+447700900123"))
}

// TestGridAndImportAcceptTheSameMobiles: a number typed in the grid and the
// same number in an import file are accepted or refused alike, and stored
// alike (one rule, NormalizeMobile).
func TestGridAndImportAcceptTheSameMobiles(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := gridSetup(t, d, 1)
		ctx := context.Background()
		inputs := []string{
			"+44 7700 900456", "0044 7700 900456", "00 44 (0)7700-900-456", "+1 (415) 555-0100", "001 415 555 0100",
			"07700 900456", "44 7700 900456", "+44 770", "0044 770", "+44 7700 900456 ext 5", "+0 7700 900456", "000 7700 900456",
		}
		var file strings.Builder
		file.WriteString("Username,Mobile\n")
		for i, in := range inputs {
			fmt.Fprintf(&file, "u%d,%q\n", i, in)
		}
		p, err := enduser.ParseImport(strings.NewReader(file.String()))
		require.NoError(t, err)
		require.Len(t, p.Rows, len(inputs))
		for i, in := range inputs {
			want, msg := enduser.NormalizeMobile(in)
			u, err := f.svc.UpdateContact(ctx, f.actor, f.users[0].ID, enduser.FieldMobile, in)
			row := p.Rows[i]
			if msg != "" {
				require.Equal(t, apperr.Invalid, apperr.CodeOf(err), "grid %q", in)
				require.Equal(t, msg, apperr.FieldsOf(err)["value"], "grid %q", in)
				require.False(t, row.Valid(), "import %q", in)
				require.Contains(t, strings.Join(row.Errors(), " "), msg, "import %q", in)
				continue
			}
			require.NoError(t, err, "grid %q", in)
			require.Equal(t, want, u.Mobile, "grid %q", in)
			require.True(t, row.Valid(), "import %q: %v", in, row.Errors())
		}
		_, msg := enduser.NormalizeMobile("07700 900456")
		require.Equal(t, enduser.MobileHint, msg, "the message says what is accepted")
		require.Contains(t, msg, "+ or 00")
	})
}

package login_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/login"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/db/dbtest"
)

// fileError parses src and returns the message of its whole-file error.
func fileError(t *testing.T, src string) string {
	t.Helper()
	_, err := login.ParseCSV(strings.NewReader(src))
	require.Equal(t, apperr.Invalid, apperr.CodeOf(err), "want a file error for %q", src)
	msg := apperr.FieldsOf(err)["file"]
	require.NotEmpty(t, msg)
	return msg
}

func TestImportParseCSVHeaders(t *testing.T) {
	t.Parallel()
	for name, src := range map[string]string{
		"exact":            "First Name,Last Name,Email,Role\nAnn,One,ann@acme.example,Technician\n",
		"case and spaces":  "  email , ROLE,first name,LAST NAME \r\nann@acme.example,technician,Ann,One\r\n",
		"byte order mark":  "\ufeffFirst Name,Last Name,Email,Role\nAnn,One,ann@acme.example,Technician\n",
		"semicolons":       "First Name;Last Name;Email;Role\nAnn;One;ann@acme.example;Technician\n",
		"snake case":       "first_name,last_name,email,role\nAnn,One,ann@acme.example,technician\n",
		"blank lines/rows": "First Name,Last Name,Email,Role\n\n,,,\nAnn,One,ann@acme.example,Technician\n\n",
	} {
		p, err := login.ParseCSV(strings.NewReader(src))
		require.NoError(t, err, name)
		require.Len(t, p.Rows, 1, name)
		r := p.Rows[0]
		require.True(t, r.Valid(), "%s: %v", name, r.Errors)
		require.Equal(t, login.InviteInput{FirstName: "Ann", LastName: "One", Email: "ann@acme.example", Role: login.RoleTechnician}, r.Input, name)
		require.True(t, p.OK(), name)
	}

	msg := fileError(t, "First Name,Last Name,Email,Role,Phone,Department\nAnn,One,ann@acme.example,Technician,1,IT\n")
	require.Contains(t, msg, `"Phone"`)
	require.Contains(t, msg, `"Department"`)

	msg = fileError(t, "First Name,Email,Role\nAnn,ann@acme.example,Technician\n")
	require.Contains(t, msg, `"Last Name"`)
	msg = fileError(t, "Ann,One,ann@acme.example,Technician\n")
	require.Contains(t, msg, "First Name,Last Name,Email,Role")
	require.Contains(t, fileError(t, "Email,email,First Name,Last Name,Role\n"), "twice")
	require.Contains(t, fileError(t, ""), "empty")
	require.Contains(t, fileError(t, "\ufeff  \n"), "empty")
	require.Contains(t, fileError(t, "First Name,Last Name,Email,Role\n"), "no logins")
	require.Contains(t, fileError(t, "First Name,Last Name,Email,Role\nAnn,\"One,ann@acme.example,Technician\n"), "not valid CSV")
	require.Contains(t, fileError(t, "First Name,Last Name,Email,Role\nAnn,One,\xff@acme.example,Technician\n"), "UTF-8")
	require.Contains(t, fileError(t, "\xff\xfeF\x00i\x00"), "UTF-16")
}

func TestImportParseCSVLimits(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("First Name,Last Name,Email,Role\n")
	for i := range login.MaxImportRows {
		fmt.Fprintf(&b, "User,%d,user%d@acme.example,Help desk\n", i, i)
	}
	p, err := login.ParseCSV(strings.NewReader(b.String()))
	require.NoError(t, err)
	require.Len(t, p.Rows, login.MaxImportRows)
	require.True(t, p.OK())

	b.WriteString("One,Toomany,toomany@acme.example,Help desk\n")
	require.Contains(t, fileError(t, b.String()), "more than 500")

	big := "First Name,Last Name,Email,Role\n" + strings.Repeat("A", login.MaxImportBytes)
	require.Contains(t, fileError(t, big), "larger than 1 MB")
}

func TestImportParseCSVRowErrors(t *testing.T) {
	t.Parallel()
	src := strings.Join([]string{
		"First Name,Last Name,Email,Role",
		"Ann,One,ann@acme.example,Technician",              // 2: valid
		"Bob,Two,not-an-email,Technician",                  // 3: bad email
		",Three,cy@acme.example,Super",                     // 4: no first name
		"Dee,,dee@acme.example,Help desk",                  // 5: no last name
		"Eve,Five,eve@acme.example,Admin",                  // 6: unknown role
		"Fay,Six,fay@acme.example,Primary",                 // 7: Primary not allowed
		"Gus,Seven,ANN@acme.example,helpdesk",              // 8: duplicate of row 2
		"=cmd|' /C calc'!A0,@SUM(1),hy@acme.example,super", // 9: formula-like names are just names
		"Ira,Nine,ira@acme.example,",                       // 10: no role
		"Jo,Ten,jo@acme.example,Technician,extra",          // 11: value without a column
	}, "\n")
	p, err := login.ParseCSV(strings.NewReader(src))
	require.NoError(t, err)
	require.Len(t, p.Rows, 10)
	byRow := map[int]*login.ImportRow{}
	for _, r := range p.Rows {
		byRow[r.Row] = r
	}
	require.Contains(t, byRow[2].Errors, "email", "duplicates are flagged on every occurrence")
	require.Contains(t, byRow[3].Errors, "email")
	require.Contains(t, byRow[4].Errors, "first_name")
	require.Contains(t, byRow[5].Errors, "last_name")
	require.Contains(t, byRow[6].Errors["role"], `"Admin"`)
	require.Contains(t, byRow[6].Errors["role"], "Super, Technician or Help desk")
	require.Contains(t, byRow[7].Errors["role"], "Primary")
	require.Contains(t, byRow[8].Errors["email"], "rows 2, 8")
	require.True(t, byRow[9].Valid(), "%v", byRow[9].Errors)
	require.Equal(t, "=cmd|' /C calc'!A0", byRow[9].Input.FirstName)
	require.Equal(t, login.RoleSuper, byRow[9].Input.Role)
	require.Contains(t, byRow[10].Errors, "role")
	require.Contains(t, byRow[11].Errors, "row")
	require.Equal(t, 9, p.Invalid())
	require.False(t, p.OK())
	require.NotEmpty(t, byRow[6].Messages())
}

func TestPreviewImportMarksExistingEmails(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		b := setup(t, d)
		ctx := context.Background()
		other, _ := mustTenant(t, d, "Other MSP")
		mustLogin(t, d, other.ID, login.RoleTechnician, "taken@other.example")
		src := "First Name,Last Name,Email,Role\nAnn,One,ann@acme.example,Technician\nPat,Again,PAT@acme.example,Super\nTia,Taken,taken@other.example,Help desk\n"
		p, err := b.svc.PreviewImport(ctx, actorOf(b.primary), strings.NewReader(src))
		require.NoError(t, err)
		require.True(t, p.Rows[0].Valid())
		require.Equal(t, "A login with this email already exists.", p.Rows[1].Errors["email"])
		require.Equal(t, "A login with this email already exists.", p.Rows[2].Errors["email"])

		tech := mustLogin(t, d, b.tenant.ID, login.RoleTechnician, "tom@acme.example")
		_, err = b.svc.PreviewImport(ctx, actorOf(tech), strings.NewReader(src))
		require.Equal(t, apperr.Forbidden, apperr.CodeOf(err))
	})
}

package enduser_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/app/customer"
	"github.com/latchkey/latchkey/app/enduser"
	"github.com/latchkey/latchkey/app/login"
	"github.com/latchkey/latchkey/app/notify"
	"github.com/latchkey/latchkey/app/secret"
	"github.com/latchkey/latchkey/app/tenant"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/db/dbtest"
)

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// fixture is a tenant with a customer and a technician, and the service.
type fixture struct {
	d     *db.DB
	q     *db.Queue
	svc   *enduser.Onboarding
	clock *clock
	keys  *secret.Keyring // encrypts the emails (notify)
	t     *tenant.Tenant
	cust  *customer.Customer
	actor audit.Actor
}

func setup(t *testing.T, d *db.DB) *fixture {
	t.Helper()
	ctx := context.Background()
	q, err := db.NewQueue(d, &river.Config{})
	require.NoError(t, err)
	clk := &clock{t: time.Now().UTC().Truncate(time.Second)}
	key, err := secret.GenerateKey()
	require.NoError(t, err)
	keys, err := secret.ParseKeys(key)
	require.NoError(t, err)
	f := &fixture{d: d, q: q, clock: clk, keys: keys}
	f.svc = enduser.NewOnboarding(enduser.OnboardingDeps{DB: d, Jobs: q, Mail: notify.NewQueue(q, keys, clk.Now),
		Link: func(p string) string { return "https://latchkey.example" + p }, Now: clk.Now})
	f.t = tenant.New(clk.Now())
	f.t.Name = "Acme IT"
	require.NoError(t, tenant.Insert(ctx, d.Bun, f.t))
	f.cust = f.addCustomer(t, f.t.ID, "Globex")
	l := &login.Login{ID: db.NewID(), TenantID: f.t.ID, Email: "tess@acmeit.example", FirstName: "Tess", LastName: "Tech",
		Role: login.RoleTechnician, Status: login.StatusActive, SessionsValidAfter: clk.Now(), CreatedAt: clk.Now(), UpdatedAt: clk.Now()}
	_, err = d.Bun.NewInsert().Model(l).Exec(ctx)
	require.NoError(t, err)
	f.actor = audit.Actor{TenantID: f.t.ID, LoginID: l.ID, Name: l.Name(), Role: string(l.Role), IP: "192.0.2.1"}
	return f
}

func (f *fixture) addCustomer(t *testing.T, tenantID, name string) *customer.Customer {
	t.Helper()
	now := f.clock.Now()
	c := &customer.Customer{ID: db.NewID(), TenantID: tenantID, Name: name, Source: customer.SourceManual, CreatedAt: now, UpdatedAt: now}
	_, err := f.d.Bun.NewInsert().Model(c).Exec(context.Background())
	require.NoError(t, err)
	return c
}

// addUser stores an end user of the fixture's customer; edit adjusts it first.
func (f *fixture) addUser(t *testing.T, username string, edit func(u *enduser.EndUser)) *enduser.EndUser {
	t.Helper()
	now := f.clock.Now()
	u := &enduser.EndUser{ID: db.NewID(), TenantID: f.t.ID, CustomerID: f.cust.ID, Username: username, Source: enduser.SourceManual,
		CreatedAt: now, UpdatedAt: now}
	if edit != nil {
		edit(u)
	}
	_, err := f.d.Bun.NewInsert().Model(u).Exec(context.Background())
	require.NoError(t, err)
	return u
}

func (f *fixture) user(t *testing.T, username string) *enduser.EndUser {
	t.Helper()
	u := new(enduser.EndUser)
	require.NoError(t, f.d.Bun.NewSelect().Model(u).Where("customer_id = ? AND lower(username) = lower(?)", f.cust.ID, username).Scan(context.Background()))
	return u
}

func (f *fixture) count(t *testing.T, table, where string, args ...any) int {
	t.Helper()
	q := f.d.Bun.NewSelect().Table(table)
	if where != "" {
		q = q.Where(where, args...)
	}
	n, err := q.Count(context.Background())
	require.NoError(t, err)
	return int(n)
}

func parse(t *testing.T, s string) *enduser.ImportPreview {
	t.Helper()
	p, err := enduser.ParseImport(strings.NewReader(s))
	require.NoError(t, err)
	return p
}

// fileErr parses s and returns the file-level message.
func fileErr(t *testing.T, s string) string {
	t.Helper()
	_, err := enduser.ParseImport(strings.NewReader(s))
	require.Error(t, err)
	require.Equal(t, apperr.Invalid, apperr.CodeOf(err))
	m := apperr.FieldsOf(err)["file"]
	require.NotEmpty(t, m)
	return m
}

func TestParseImportHeaders(t *testing.T) {
	t.Parallel()
	// Any order and case, aliases, trimmed headers.
	p := parse(t, " EMAIL ;Cell; sAMAccountName ;Last name;first_name\nann@globex.example;+64 21 555 0199;asmith;Smith;Ann\n")
	require.Equal(t, []string{"username", "first_name", "last_name", "email", "mobile"}, p.Columns)
	r := p.Rows[0]
	require.Equal(t, 2, r.Row)
	require.Equal(t, []string{"asmith", "Ann", "Smith", "ann@globex.example", "+64 21 555 0199"}, []string{r.Username, r.FirstName, r.LastName, r.Email, r.Mobile})
	require.True(t, r.Valid(), r.Errors())

	for _, h := range []string{"User name", "Login", "username", "USER_NAME"} {
		p := parse(t, h+"\nbob\n")
		require.Equal(t, []string{"username"}, p.Columns, h)
		require.Equal(t, "bob", p.Rows[0].Username)
	}
	for _, h := range []string{"phone", "Mobile Phone", "cell", "mobile"} {
		p := parse(t, "username,"+h+"\nbob,+44 7700 900123\n")
		require.True(t, p.Has("mobile"), h)
	}

	// A byte order mark, tabs, CRLF, blank lines.
	p = parse(t, "\xef\xbb\xbfUsername\tEmail\r\nbob\tbob@globex.example\r\n\r\n\t\r\ncarl\t\r\n")
	require.Len(t, p.Rows, 2)
	require.Equal(t, "bob", p.Rows[0].Username)
	require.Equal(t, 5, p.Rows[1].Row, "row numbers count blank lines like a spreadsheet")

	// Quoted values with the separator inside.
	p = parse(t, "username,first name\n\"o'brien, jr\",\"Pat, Jr\"\n")
	require.Equal(t, "Pat, Jr", p.Rows[0].FirstName)
}

func TestParseImportFileErrors(t *testing.T) {
	t.Parallel()
	m := fileErr(t, "Username,Email,Department,Manager\nbob,bob@globex.example,IT,Ann\n")
	require.Contains(t, m, `"Department"`)
	require.Contains(t, m, `"Manager"`)
	require.Contains(t, fileErr(t, "First Name,Email\nBob,bob@globex.example\n"), "no Username column")
	require.Contains(t, fileErr(t, "Username,Login\nbob,bob\n"), "both mean Username")
	require.Contains(t, fileErr(t, ""), "empty")
	require.Contains(t, fileErr(t, "Username\n"), "no end users")
	require.Contains(t, fileErr(t, "\xff\xfeU\x00s\x00"), "UTF-16")
	require.Contains(t, fileErr(t, "Username\nb\xe9b\n"), "not UTF-8")
	require.Contains(t, fileErr(t, "Username,Email\n\"bob,bob@x.example\n"), "not valid CSV")
	require.Contains(t, fileErr(t, "hello world\nbob\n"), "must name the columns")

	// Limits: rows, then bytes.
	var b strings.Builder
	b.WriteString("Username\n")
	for i := 0; i <= enduser.MaxImportRows; i++ {
		fmt.Fprintf(&b, "user%d\n", i)
	}
	require.Contains(t, fileErr(t, b.String()), "more than 20000")
	p := parse(t, strings.TrimSuffix(b.String(), fmt.Sprintf("user%d\n", enduser.MaxImportRows)))
	require.Len(t, p.Rows, enduser.MaxImportRows)
	big := "Username,First Name\n" + strings.Repeat("u,"+strings.Repeat("x", 1000)+"\n", enduser.MaxImportBytes/1000)
	require.Contains(t, fileErr(t, big), "larger than 10 MB")
}

func TestParseImportRowErrors(t *testing.T) {
	t.Parallel()
	p := parse(t, "Username,First Name,Last Name,Email,Mobile,\n"+
		"ok,Ann,Smith,ann@globex.example,+1 (415) 555-0100,\n"+ // row 2: valid
		",Bob,,bob@globex.example,,\n"+ // row 3: no username
		strings.Repeat("u", 257)+",,,,,\n"+ // row 4: too long
		"\"tab\tuser\",,,,,\n"+ // row 5: control character
		"carl,"+strings.Repeat("n", 101)+",,,,\n"+ // row 6: long name
		"dana,,,not-an-email,,\n"+ // row 7: email
		"erin,,,,021 555 0199,\n"+ // row 8: mobile without +
		"fred,,,,+64 12,\n"+ // row 9: mobile too short
		"OK,,,,,\n"+ // row 10: username repeated (case-insensitive)
		"gina,,,,,surplus\n"+ // row 11: a value under no header
		"hank,,,,,,more\n") // row 12: more values than columns
	byRow := map[int]*enduser.ImportRow{}
	for _, r := range p.Rows {
		byRow[r.Row] = r
	}
	require.True(t, byRow[2].Valid(), byRow[2].Errors())
	expect := map[int]string{
		3: "Enter a username", 4: "longer than 256", 5: "control character", 6: "longer than 100", 7: "not an email address",
		8: `Mobile "021 555 0199": ` + enduser.MobileHint, 9: "too short", 10: "already appears on row 2", 11: "Column F has a value but no header",
		12: "more values than the header row",
	}
	for row, want := range expect {
		require.False(t, byRow[row].Valid(), "row %d", row)
		require.Contains(t, strings.Join(byRow[row].Errors(), " "), want, "row %d", row)
	}
	require.Len(t, p.Rows, 11)
}

func TestNormalizeMobileAndEmail(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"+64 21 555 0199": "+64215550199", "+1 (415) 555-0100": "+14155550100", "+44 (0)7700 900123": "+447700900123",
		"0044 7700 900 123": "+447700900123", "+61.412.345.678": "+61412345678",
	} {
		got, msg := enduser.NormalizeMobile(in)
		require.Empty(t, msg, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"021 555 0199", "+1 555 0100", "+64 21 555 0199 ext 2", "+0 21 555 0199", "+1234567890123456"} {
		_, msg := enduser.NormalizeMobile(in)
		require.NotEmpty(t, msg, in)
	}
	e, ok := enduser.NormalizeEmail("  Ann.Smith@Globex.Example ")
	require.True(t, ok)
	require.Equal(t, "ann.smith@globex.example", e)
	for _, in := range []string{"ann", "ann@globex", "Ann <ann@globex.example>", "ann@@globex.example", "ann@globex.example."} {
		_, ok := enduser.NormalizeEmail(in)
		require.False(t, ok, in)
	}
}

func TestPreviewImportActions(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		ctx := context.Background()
		f.addUser(t, "Same", func(u *enduser.EndUser) {
			u.FirstName, u.LastName, u.Email, u.EmailSource = "Sam", "Same", "sam@globex.example", enduser.ValueImport
		})
		f.addUser(t, "upd", func(u *enduser.EndUser) {
			u.FirstName, u.Email, u.EmailSource = "Old", "old@globex.example", enduser.ValueImport
		})
		f.addUser(t, "typed", func(u *enduser.EndUser) {
			u.Email, u.EmailSource, u.Mobile, u.MobileSource = "typed@globex.example", enduser.ValueManual, "+64215550100", enduser.ValueEndUser
		})
		f.addUser(t, "adUser", func(u *enduser.EndUser) {
			u.Source, u.FirstName, u.LastName = enduser.SourceAD, "Adam", "Directory"
		})
		// The same username in another customer is another end user.
		other := f.addCustomer(t, f.t.ID, "Initech")
		_, err := d.Bun.NewInsert().Model(&enduser.EndUser{ID: db.NewID(), TenantID: f.t.ID, CustomerID: other.ID, Username: "new",
			Source: enduser.SourceManual, CreatedAt: f.clock.Now(), UpdatedAt: f.clock.Now()}).Exec(ctx)
		require.NoError(t, err)

		csv := "username,first name,last name,email,mobile\n" +
			"same,,,SAM@globex.example,\n" + // 2: unchanged (case-insensitive match, empty cells keep values)
			"upd,New,,new@globex.example,+64 21 555 0199\n" + // 3: update
			"typed,,,file@globex.example,+64 21 555 0111\n" + // 4: kept both: unchanged
			"aduser,Adrian,Directory,ad@globex.example,\n" + // 5: directory name kept, email added
			"new,Nora,New,nora@globex.example,\n" + // 6: create
			"bad,,,nope,\n" // 7: rejected
		p, err := f.svc.PreviewImport(ctx, f.actor, f.cust.ID, strings.NewReader(csv))
		require.NoError(t, err)
		got := map[int]string{}
		for _, r := range p.Rows {
			got[r.Row] = r.Action
		}
		require.Equal(t, map[int]string{2: "unchanged", 3: "update", 4: "unchanged", 5: "update", 6: "create", 7: "rejected"}, got)
		require.Equal(t, []int{1, 2, 2, 1, 2}, []int{p.Created, p.Updated, p.Unchanged, p.Rejected, p.Kept})
		require.Equal(t, []string{"first name", "email", "mobile"}, p.Rows[1].Changes)
		require.Len(t, p.Rows[2].Notes, 2)
		require.Contains(t, p.Rows[2].Notes[0], "technician's email typed@globex.example")
		require.Contains(t, p.Rows[2].Notes[1], "end user's own mobile")
		require.Equal(t, []string{"email"}, p.Rows[3].Changes)
		require.Contains(t, p.Rows[3].Notes[0], "from Active Directory")
		require.Equal(t, 5, f.count(t, "end_users", ""), "a preview writes nothing")

		// Another tenant's customer: not found; archived: conflict.
		otherTenant := tenant.New(f.clock.Now())
		require.NoError(t, tenant.Insert(ctx, d.Bun, otherTenant))
		foreign := f.addCustomer(t, otherTenant.ID, "Foreign")
		_, err = f.svc.PreviewImport(ctx, f.actor, foreign.ID, strings.NewReader(csv))
		require.Equal(t, apperr.NotFound, apperr.CodeOf(err))
		_, err = d.Bun.NewUpdate().Model((*customer.Customer)(nil)).Set("archived_at = ?", f.clock.Now()).Where("id = ?", other.ID).Exec(ctx)
		require.NoError(t, err)
		_, err = f.svc.PreviewImport(ctx, f.actor, other.ID, strings.NewReader(csv))
		require.Equal(t, apperr.Conflict, apperr.CodeOf(err))
	})
}

func TestApplyImportIsIdempotentAndKeepsTypedValues(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		ctx := context.Background()
		typed := f.addUser(t, "typed", func(u *enduser.EndUser) {
			u.Email, u.EmailSource = "typed@globex.example", enduser.ValueManual
			u.SelfServeEnabled = true
		})
		old := f.addUser(t, "old", func(u *enduser.EndUser) {
			u.FirstName, u.Email, u.EmailSource = "Olga", "old@globex.example", enduser.ValueImport
		})
		csv := "Username,First Name,Last Name,Email,Mobile\n" +
			"ann,Ann,Smith,Ann@Globex.example,+64 21 555 0199\n" +
			"typed,Ty,Ped,file@globex.example,+64 21 555 0100\n" +
			"old,Olga,Old,olga@globex.example,\n" +
			"bob,Bob,,bob@,\n"
		res, err := f.svc.ApplyImport(ctx, f.actor, f.cust.ID, []byte(csv), false)
		require.NoError(t, err)
		require.Equal(t, enduser.ImportResult{Created: 1, Updated: 2, Unchanged: 0, Rejected: 1, Kept: 1}, res)

		ann := f.user(t, "ann")
		require.Equal(t, []string{"Ann", "Smith", "ann@globex.example", enduser.ValueImport, "+64215550199", enduser.ValueImport, enduser.SourceCSV},
			[]string{ann.FirstName, ann.LastName, ann.Email, ann.EmailSource, ann.Mobile, ann.MobileSource, ann.Source})
		require.False(t, ann.SelfServeEnabled, "manual import: self-serve off unless switched on")
		ty := f.user(t, "typed")
		require.Equal(t, "typed@globex.example", ty.Email, "the technician's email is kept")
		require.Equal(t, enduser.ValueManual, ty.EmailSource)
		require.Equal(t, "+64215550100", ty.Mobile, "an empty mobile is filled from the file")
		require.Equal(t, enduser.ValueImport, ty.MobileSource)
		require.Equal(t, "Ty", ty.FirstName)
		require.True(t, ty.SelfServeEnabled, "existing end users keep their self-serve switch")
		require.Equal(t, typed.ID, ty.ID)
		o := f.user(t, "old")
		require.Equal(t, []string{old.ID, "Olga", "Old", "olga@globex.example"}, []string{o.ID, o.FirstName, o.LastName, o.Email})
		require.Equal(t, 0, f.count(t, "end_users", "username = ?", "bob"), "rejected rows are skipped")
		require.Equal(t, 1, f.count(t, "audit_events", "action = ? AND target_id = ? AND detail LIKE ?", "enduser.import", f.cust.ID, "1 created, 2 updated, 0 unchanged, 1 rejected%"))

		// The same file again changes nothing.
		f.clock.Advance(time.Minute)
		res, err = f.svc.ApplyImport(ctx, f.actor, f.cust.ID, []byte(csv), true)
		require.NoError(t, err)
		require.Equal(t, enduser.ImportResult{Unchanged: 3, Rejected: 1, Kept: 1}, res)
		require.Equal(t, ann.UpdatedAt.Unix(), f.user(t, "ann").UpdatedAt.Unix())
		require.False(t, f.user(t, "ann").SelfServeEnabled, "the switch applies to new end users only")
		require.Equal(t, 3, f.count(t, "end_users", ""))

		// A technician's value typed later is kept by a new import.
		_, err = d.Bun.NewUpdate().Model((*enduser.EndUser)(nil)).Set("mobile = ?", "+64215550999").Set("mobile_source = ?", enduser.ValueManual).
			Where("id = ?", ann.ID).Exec(ctx)
		require.NoError(t, err)
		p, err := f.svc.PreviewImport(ctx, f.actor, f.cust.ID, strings.NewReader(csv))
		require.NoError(t, err)
		require.Equal(t, enduser.ActionUnchanged, p.Rows[0].Action)
		require.Contains(t, p.Rows[0].Notes[0], "technician's mobile +64215550999")

		// New end users get self-serve when the switch is on.
		res, err = f.svc.ApplyImport(ctx, f.actor, f.cust.ID, []byte("username\ncarl\n"), true)
		require.NoError(t, err)
		require.Equal(t, 1, res.Created)
		require.True(t, f.user(t, "carl").SelfServeEnabled)
		require.Equal(t, "", f.user(t, "carl").EmailSource)

		// A file with nothing valid, another tenant's customer.
		_, err = f.svc.ApplyImport(ctx, f.actor, f.cust.ID, []byte("username,email\nzed,nope\n"), false)
		require.Equal(t, apperr.Invalid, apperr.CodeOf(err))
		otherTenant := tenant.New(f.clock.Now())
		require.NoError(t, tenant.Insert(ctx, d.Bun, otherTenant))
		foreign := f.addCustomer(t, otherTenant.ID, "Foreign")
		_, err = f.svc.ApplyImport(ctx, f.actor, foreign.ID, []byte(csv), false)
		require.Equal(t, apperr.NotFound, apperr.CodeOf(err))
		require.Equal(t, 0, f.count(t, "end_users", "customer_id = ?", foreign.ID))
	})
}

func TestApplyImportInChunks(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		ctx := context.Background()
		csv := func(domain string) []byte {
			var b strings.Builder
			b.WriteString("username,email\n")
			for i := range 1234 {
				fmt.Fprintf(&b, "user%04d,user%04d@%s\n", i, i, domain)
			}
			return []byte(b.String())
		}
		res, err := f.svc.ApplyImport(ctx, f.actor, f.cust.ID, csv("a.example"), false)
		require.NoError(t, err)
		require.Equal(t, 1234, res.Created)
		res, err = f.svc.ApplyImport(ctx, f.actor, f.cust.ID, csv("b.example"), false)
		require.NoError(t, err)
		require.Equal(t, 1234, res.Updated)
		require.Equal(t, 1234, f.count(t, "end_users", "email LIKE ?", "%@b.example"))
		require.Equal(t, "user1233@b.example", f.user(t, "user1233").Email)
	})
}

func TestImportUploadIsSingleUseAndBound(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		ctx := context.Background()
		csv := []byte("username\nann\n")
		id, err := f.svc.StoreUpload(ctx, f.actor, f.cust.ID, "users.csv", csv)
		require.NoError(t, err)

		// Another login of the tenant cannot confirm it.
		other := f.actor
		other.LoginID = "someone-else"
		_, _, err = f.svc.ApplyUpload(ctx, other, f.cust.ID, id, false)
		require.Equal(t, apperr.Conflict, apperr.CodeOf(err))

		res, name, err := f.svc.ApplyUpload(ctx, f.actor, f.cust.ID, id, false)
		require.NoError(t, err)
		require.Equal(t, "users.csv", name)
		require.Equal(t, 1, res.Created)
		require.Equal(t, 0, f.count(t, "import_uploads", ""))
		require.Equal(t, 1, f.count(t, "audit_events", "action = ? AND detail LIKE ?", "enduser.import", "users.csv: 1 created%"))
		_, _, err = f.svc.ApplyUpload(ctx, f.actor, f.cust.ID, id, false)
		require.Equal(t, apperr.Conflict, apperr.CodeOf(err), "a second confirmation finds nothing")

		// Expired uploads are refused and cleaned up by the next upload.
		id, err = f.svc.StoreUpload(ctx, f.actor, f.cust.ID, "users.csv", csv)
		require.NoError(t, err)
		f.clock.Advance(enduser.UploadLifetime + time.Second)
		_, _, err = f.svc.ApplyUpload(ctx, f.actor, f.cust.ID, id, false)
		require.Equal(t, apperr.Conflict, apperr.CodeOf(err))
		_, err = f.svc.StoreUpload(ctx, f.actor, f.cust.ID, "users.csv", csv)
		require.NoError(t, err)
		require.Equal(t, 1, f.count(t, "import_uploads", ""))
	})
}

// TestParseImportReadsTheExport: a file with the export's header imports, its
// other columns ignored and named; quotes the export put before formula-like
// values come off; a column that is neither imported nor exported (a typo) is
// still refused.
func TestParseImportReadsTheExport(t *testing.T) {
	t.Parallel()
	header := strings.Join(enduser.ExportHeader, ",")
	p := parse(t, header+"\n"+
		"Globex,'=Ann,'-Smith,asmith,ann@globex.example,from CSV import,'+447700900123,from CSV import,CSV import,Registration complete,on,yes,no,no,,\n"+
		"Globex,Bob,Jones,bjones,bob@globex.example,,+447700900124,,CSV import,Registration complete,off,no,no,no,2026-01-02,\n")
	require.Equal(t, []string{"username", "first_name", "last_name", "email", "mobile"}, p.Columns)
	require.Equal(t, []string{"Customer", "Email from", "Mobile from", "Source", "Status", "Self-serve", "Self-serve active",
		"Privileged", "Locked", "Password expires", "Last self-serve access"}, p.Ignored)
	require.True(t, p.CustomerChecked)
	require.Len(t, p.Rows, 2)
	ann := p.Rows[0]
	require.True(t, ann.Valid(), ann.Errors())
	require.Equal(t, "=Ann", ann.FirstName, "the export's defusing quote comes off")
	require.Equal(t, "-Smith", ann.LastName)
	require.Equal(t, "+447700900123", ann.Mobile, "an older export's quoted mobile reads back")
	require.True(t, p.Rows[1].Valid(), p.Rows[1].Errors())

	// A typo is not an export column: refused, naming it alone.
	msg := fileErr(t, "Username,Email,Status,Emial\nann,ann@globex.example,,\n")
	require.Contains(t, msg, `"Emial"`)
	require.NotContains(t, msg, "Status")
	// Export columns alone, without Username: the header is still wrong.
	require.Contains(t, fileErr(t, "Customer,Status\nGlobex,on\n"), "no Username column")
}

package enduser

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/uptrace/bun"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/app/csvfile"
	"github.com/latchkey/latchkey/app/customer"
	"github.com/latchkey/latchkey/db"
)

// Limits of an end-user CSV import (security bar: uploads are bounded).
const (
	MaxImportRows  = 20_000
	MaxImportBytes = 10 << 20
	// UploadLifetime is how long an uploaded file waits for its confirmation.
	UploadLifetime = 30 * time.Minute

	importMaxUsername = 256
	importMaxName     = 100
	importMaxEmail    = 254
	// importChunk is the number of rows per multi-row INSERT or UPDATE.
	importChunk = 500
)

// ImportHeader is the header line of an import file. Only Username is
// required; a column left out is not imported (the current values stay).
const ImportHeader = "Username,First Name,Last Name,Email,Mobile"

// Columns of an import file.
const (
	importColUsername  = "username"
	importColFirstName = "first_name"
	importColLastName  = "last_name"
	importColEmail     = "email"
	importColMobile    = "mobile"
)

// importColumns are the columns in display order with the headers (after
// importNormHeader) that name them.
var importColumns = []struct {
	key, label string
	names      []string
}{
	{importColUsername, "Username", []string{"username", "login", "samaccountname", "userid", "userlogonname"}},
	{importColFirstName, "First Name", []string{"firstname", "givenname"}},
	{importColLastName, "Last Name", []string{"lastname", "surname", "familyname"}},
	{importColEmail, "Email", []string{"email", "emailaddress", "mail"}},
	{importColMobile, "Mobile", []string{"mobile", "phone", "mobilephone", "cell", "cellphone", "mobilenumber"}},
}

// exportOnlyColumns are the columns of ExportHeader, normalised, that the
// import does not read: a file exported by Latchkey and edited imports as it
// is, these columns ignored (and named in the preview). Computed from
// ExportHeader so that a column added to the export is covered.
var exportOnlyColumns = func() map[string]bool {
	out := map[string]bool{}
	for _, h := range ExportHeader {
		key := csvfile.NormHeader(h)
		known := false
		for _, c := range importColumns {
			for _, n := range c.names {
				known = known || n == key
			}
		}
		if !known {
			out[key] = true
		}
	}
	return out
}()

// Actions of an import row.
const (
	ActionCreate    = "create"    // a new end user
	ActionUpdate    = "update"    // an existing end user gets new values
	ActionUnchanged = "unchanged" // an existing end user already has the file's values (or keeps its own)
	ActionRejected  = "rejected"  // the row has a problem and is skipped
)

// ImportRow is one data row of an import file and what importing it does.
type ImportRow struct {
	// Row is the row's number as a spreadsheet shows it (the header is row 1).
	Row int
	// Username, FirstName, LastName, Email and Mobile are the values as
	// written (trimmed). Mobile is shown as written; the import stores it in
	// E.164.
	Username, FirstName, LastName, Email, Mobile string
	// Action is one of the Action constants (set by PreviewImport).
	Action string
	// Changes names the fields an update changes ("email", "mobile", …).
	Changes []string
	// Notes explain values that were kept instead of the file's (a value a
	// technician typed, the end user confirmed, or the directory owns).
	Notes []string
	// EndUserID is the existing end user the row matches, if any.
	EndUserID string

	email, mobile string            // normalised values ("" when absent or invalid)
	customer      string            // the export's Customer column, when the file has it
	errs          map[string]string // problems by column, or "row"
	up            importUpdate      // an update's new values (set by classifyImport)
}

// Valid reports whether the row has no problem.
func (r *ImportRow) Valid() bool { return len(r.errs) == 0 }

// Kept reports whether the row kept an existing value over the file's.
func (r *ImportRow) Kept() bool { return len(r.Notes) > 0 }

// Errors returns the row's problems in column order.
func (r *ImportRow) Errors() []string {
	var out []string
	for _, k := range []string{"row", importColUsername, importColFirstName, importColLastName, importColEmail, importColMobile} {
		if m, ok := r.errs[k]; ok {
			out = append(out, m)
		}
	}
	return out
}

func (r *ImportRow) addError(field, msg string) {
	if r.errs == nil {
		r.errs = map[string]string{}
	}
	if _, ok := r.errs[field]; !ok {
		r.errs[field] = msg
	}
}

// ImportPreview is a parsed import file: every data row with its action and
// messages, and the counts per action.
type ImportPreview struct {
	Rows []*ImportRow
	// Columns are the keys of the columns the file has (username always).
	Columns []string
	// Ignored are the headers (as written) of columns of Latchkey's export
	// that the import does not read (Customer, Email from, Status, …).
	Ignored []string
	// CustomerChecked reports that the file has the export's Customer
	// column: a row of another customer is rejected (see PreviewImport).
	CustomerChecked bool
	// Counts per action, and of rows that kept an existing value.
	Created, Updated, Unchanged, Rejected, Kept int
}

// Valid is the number of rows that will be applied (created, updated or unchanged).
func (p *ImportPreview) Valid() int { return p.Created + p.Updated + p.Unchanged }

// Has reports whether the file has the column (importColUsername, "email", …).
func (p *ImportPreview) Has(col string) bool {
	for _, c := range p.Columns {
		if c == col {
			return true
		}
	}
	return false
}

// ImportResult is what an applied import did.
type ImportResult struct {
	Created, Updated, Unchanged, Rejected int
	// Kept is how many applied rows kept an existing value over the file's.
	Kept int
}

// ParseImport reads an import file of end users: a header row naming the
// columns (Username is required; First Name, Last Name, Email and Mobile are
// optional; any order and case; "User name", "Login" and "sAMAccountName"
// also name Username, "Phone", "Mobile phone" and "Cell" name Mobile), then
// one end user per row: at most MaxImportRows rows and MaxImportBytes bytes,
// UTF-8 (a byte order mark is ignored), separated by commas, semicolons or
// tabs. The other columns of Latchkey's own export (ExportHeader: Customer,
// Email from, Status, …) are accepted and ignored (ImportPreview.Ignored),
// so that an exported file, edited, imports as it is; a quote the export put
// before a formula-like value ("'+447700900123") is taken off (see
// audit.UnquoteCell). Problems with the file as a whole (size, encoding,
// missing or unknown columns, broken quoting) are an Invalid error with the
// field "file"; problems of single rows are in each row's Errors, and those
// rows are rejected. It does not look at the database: see PreviewImport.
func ParseImport(r io.Reader) (*ImportPreview, error) {
	msgs := csvfile.Messages{
		TooLarge: fmt.Sprintf("The file is larger than 10 MB. Split it into files of at most %d end users.", MaxImportRows),
		Empty:    fmt.Sprintf("The file is empty. Its first row must name the columns, like %s.", ImportHeader),
	}
	data, err := csvfile.Read(r, MaxImportBytes, msgs)
	if err != nil {
		return nil, err
	}
	cr := csvfile.NewReader(data)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		return nil, csvfile.ParseError(err, msgs)
	}
	header = append([]string(nil), header...)

	cols := map[string]int{} // column key → index
	var unknown, ignored []string
	ignoredAt := map[string]int{} // export-only column → index
	blank := map[int]bool{}       // columns without a header
	for i, h := range header {
		key := csvfile.NormHeader(h)
		if key == "" {
			blank[i] = true
			continue
		}
		col := ""
		for _, c := range importColumns {
			for _, n := range c.names {
				if key == n {
					col = c.key
				}
			}
		}
		if col == "" && exportOnlyColumns[key] {
			// A column of Latchkey's own export (ExportCSV) that the import
			// does not read: the export's file imports as it is.
			if _, dup := ignoredAt[key]; !dup {
				ignoredAt[key] = i
				ignored = append(ignored, strings.TrimSpace(h))
			}
			continue
		}
		if col == "" {
			unknown = append(unknown, fmt.Sprintf("%q", strings.TrimSpace(h)))
			continue
		}
		if j, dup := cols[col]; dup {
			return nil, csvfile.FileError("The columns %q and %q both mean %s. Keep one of them.",
				strings.TrimSpace(header[j]), strings.TrimSpace(h), importColumnLabel(col))
		}
		cols[col] = i
	}
	if len(unknown) > 0 {
		noun, pron := "a column", "it"
		if len(unknown) > 1 {
			noun, pron = "columns", "them"
		}
		if _, ok := cols[importColUsername]; !ok && len(cols) == 0 && len(ignored) == 0 {
			got := strings.Join(header, string(cr.Comma))
			if len(got) > 80 {
				got = got[:80] + "…"
			}
			return nil, csvfile.FileError("The first row must name the columns, like %s (in any order), but it reads %q.", ImportHeader, got)
		}
		return nil, csvfile.FileError("The file has %s Latchkey does not import: %s. Remove %s so that only the columns %s remain (Username is required, the others are optional).",
			noun, strings.Join(unknown, ", "), pron, ImportHeader)
	}
	if _, ok := cols[importColUsername]; !ok {
		return nil, csvfile.FileError("The header row has no Username column (also accepted: User name, Login, sAMAccountName). The first row must name the columns, like %s.", ImportHeader)
	}

	p := &ImportPreview{Ignored: ignored}
	customerCol, hasCustomer := ignoredAt["customer"]
	p.CustomerChecked = hasCustomer
	for _, c := range importColumns {
		if _, ok := cols[c.key]; ok {
			p.Columns = append(p.Columns, c.key)
		}
	}
	firstRow := map[string]int{} // lower(username) → first row number
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, csvfile.ParseError(err, msgs)
		}
		line, _ := cr.FieldPos(0)
		if csvfile.BlankRow(rec) {
			continue
		}
		if len(p.Rows) == MaxImportRows {
			return nil, csvfile.FileError("The file has more than %d end users. Import at most %d at a time.", MaxImportRows, MaxImportRows)
		}
		cell := func(i int) string {
			if i < len(rec) {
				// A quote the export put before a formula-like value comes off.
				return strings.TrimSpace(audit.UnquoteCell(strings.TrimSpace(rec[i])))
			}
			return ""
		}
		value := func(key string) string {
			if i, ok := cols[key]; ok {
				return cell(i)
			}
			return ""
		}
		row := &ImportRow{Row: line, Username: value(importColUsername), FirstName: value(importColFirstName),
			LastName: value(importColLastName), Email: value(importColEmail), Mobile: value(importColMobile)}
		if hasCustomer {
			row.customer = cell(customerCol)
		}
		for i := range rec {
			if i >= len(header) && strings.TrimSpace(rec[i]) != "" {
				row.addError("row", "This row has more values than the header row has columns.")
			} else if blank[i] && strings.TrimSpace(rec[i]) != "" {
				row.addError("row", fmt.Sprintf("Column %s has a value but no header.", csvfile.ColumnName(i)))
			}
		}
		validateImportRow(row)
		if _, bad := row.errs[importColUsername]; !bad {
			key := strings.ToLower(row.Username)
			if first, dup := firstRow[key]; dup {
				row.addError(importColUsername, fmt.Sprintf("The username %q already appears on row %d; each end user may appear once.", row.Username, first))
			} else {
				firstRow[key] = row.Row
			}
		}
		p.Rows = append(p.Rows, row)
	}
	if len(p.Rows) == 0 {
		return nil, csvfile.FileError("The file has a header row but no end users below it.")
	}
	return p, nil
}

func importColumnLabel(col string) string {
	for _, c := range importColumns {
		if c.key == col {
			return c.label
		}
	}
	return col
}

// validateImportRow checks a row's values and sets its normalised email and mobile.
func validateImportRow(r *ImportRow) {
	switch {
	case r.Username == "":
		r.addError(importColUsername, "Enter a username: it is how Latchkey matches the end user.")
	case utf8.RuneCountInString(r.Username) > importMaxUsername:
		r.addError(importColUsername, fmt.Sprintf("The username is longer than %d characters.", importMaxUsername))
	case importHasControl(r.Username):
		r.addError(importColUsername, "The username contains a control character (a tab or line break, for example).")
	}
	for _, f := range []struct{ col, val, what string }{{importColFirstName, r.FirstName, "first name"}, {importColLastName, r.LastName, "last name"}} {
		if utf8.RuneCountInString(f.val) > importMaxName {
			r.addError(f.col, fmt.Sprintf("The %s is longer than %d characters.", f.what, importMaxName))
		} else if importHasControl(f.val) {
			r.addError(f.col, fmt.Sprintf("The %s contains a control character (a tab or line break, for example).", f.what))
		}
	}
	if r.Email != "" {
		if e, ok := NormalizeEmail(r.Email); ok {
			r.email = e
		} else {
			r.addError(importColEmail, fmt.Sprintf("%q is not an email address like name@example.com.", importClip(r.Email, 80)))
		}
	}
	if r.Mobile != "" {
		if m, msg := NormalizeMobile(r.Mobile); msg != "" {
			r.addError(importColMobile, fmt.Sprintf("Mobile %q: %s", importClip(r.Mobile, 40), msg))
		} else {
			r.mobile = m
		}
	}
}

// NormalizeEmail trims and lowercases an email address and reports whether
// it is a plain address like name@example.com.
func NormalizeEmail(s string) (string, bool) {
	e := strings.ToLower(strings.TrimSpace(s))
	at := strings.LastIndex(e, "@")
	if e == "" || len(e) > importMaxEmail || at < 1 || !strings.Contains(e[at:], ".") || strings.HasSuffix(e, ".") {
		return "", false
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e {
		return "", false
	}
	return e, true
}

func importHasControl(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) {
			return true
		}
	}
	return false
}

func importClip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}

// importExisting is what the import compares a row with.
type importExisting struct {
	ID           string `bun:"id"`
	Username     string `bun:"username"`
	FirstName    string `bun:"first_name"`
	LastName     string `bun:"last_name"`
	Email        string `bun:"email"`
	EmailSource  string `bun:"email_source"`
	Mobile       string `bun:"mobile"`
	MobileSource string `bun:"mobile_source"`
	Source       string `bun:"source"`
}

// loadImportExisting returns the customer's end users by lower(username), in one
// query. lock takes row locks on PostgreSQL (inside the apply transaction)
// so that a value typed in the grid meanwhile is not overwritten unseen.
func loadImportExisting(ctx context.Context, idb bun.IDB, dia db.Dialect, tenantID, customerID string, lock bool) (map[string]*importExisting, error) {
	var rows []*importExisting
	q := idb.NewSelect().Table("end_users").
		Column("id", "username", "first_name", "last_name", "email", "email_source", "mobile", "mobile_source", "source").
		Where("tenant_id = ? AND customer_id = ?", tenantID, customerID)
	if lock && dia == db.Postgres {
		q = q.For("UPDATE")
	}
	if err := q.Scan(ctx, &rows); err != nil {
		return nil, fmt.Errorf("enduser: load existing: %w", err)
	}
	out := make(map[string]*importExisting, len(rows))
	for _, u := range rows {
		out[strings.ToLower(u.Username)] = u
	}
	return out, nil
}

// importDirectorySource reports whether an end user's names belong to a directory
// (a later sync would overwrite what the file sets).
func importDirectorySource(src string) bool {
	return src == SourceAD || src == SourceM365 || src == SourceLocal
}

// importSourceOwner describes who set a contact value, for the preview's notes.
func importSourceOwner(src string) string {
	switch src {
	case ValueManual:
		return "the technician's"
	case ValueEndUser:
		return "the end user's own"
	case ValueDirectory:
		return "the directory's"
	}
	return "the current"
}

// importContact decides one contact value (email or mobile): the file's value
// replaces the current one only when the current one is empty or came from
// an import; a value typed by a technician, given by the end user or owned by
// the directory is kept. It returns the new value and source, whether they
// change, and a note when the file's value was not taken.
func importContact(what, cur, curSrc, file string) (val, src string, changed bool, note string) {
	if file == "" || strings.EqualFold(cur, file) {
		return cur, curSrc, false, ""
	}
	if cur == "" || curSrc == "" || curSrc == ValueImport {
		return file, ValueImport, true, ""
	}
	return cur, curSrc, false, fmt.Sprintf("Kept %s %s %s; the file has %s.", importSourceOwner(curSrc), what, cur, file)
}

// checkImportCustomer rejects the rows of a file with the export's Customer
// column that name another customer than c (a file exported from the
// tenant-wide grid lists every customer's end users).
func checkImportCustomer(p *ImportPreview, c *customer.Customer) {
	if !p.CustomerChecked {
		return
	}
	for _, r := range p.Rows {
		if r.customer != "" && !strings.EqualFold(r.customer, c.Name) {
			name := importClip(r.customer, 80)
			r.addError("row", fmt.Sprintf("This row belongs to the customer %s, not %s: import it into %s instead.", name, c.Name, name))
		}
	}
}

// classifyImport sets each valid row's action against the existing end users and
// counts the actions.
func classifyImport(p *ImportPreview, existing map[string]*importExisting) {
	p.Created, p.Updated, p.Unchanged, p.Rejected, p.Kept = 0, 0, 0, 0, 0
	for _, r := range p.Rows {
		r.Changes, r.Notes, r.EndUserID = nil, nil, ""
		if !r.Valid() {
			r.Action = ActionRejected
			p.Rejected++
			continue
		}
		u := existing[strings.ToLower(r.Username)]
		if u == nil {
			r.Action = ActionCreate
			p.Created++
			continue
		}
		r.EndUserID = u.ID
		r.up = planImportUpdate(r, u)
		if len(r.Changes) > 0 {
			r.Action = ActionUpdate
			p.Updated++
		} else {
			r.Action = ActionUnchanged
			p.Unchanged++
		}
		if r.Kept() {
			p.Kept++
		}
	}
}

// importUpdate is the new state of an existing end user's imported fields.
type importUpdate struct {
	id, firstName, lastName, email, emailSource, mobile, mobileSource string
}

// planImportUpdate computes the row's changes and notes against u and returns the
// end user's new values.
func planImportUpdate(r *ImportRow, u *importExisting) importUpdate {
	up := importUpdate{id: u.ID, firstName: u.FirstName, lastName: u.LastName, email: u.Email, emailSource: u.EmailSource,
		mobile: u.Mobile, mobileSource: u.MobileSource}
	r.Changes, r.Notes = nil, nil
	names := []struct {
		file string
		cur  *string
		what string
	}{{r.FirstName, &up.firstName, "first name"}, {r.LastName, &up.lastName, "last name"}}
	for _, n := range names {
		if n.file == "" || n.file == *n.cur {
			continue
		}
		if importDirectorySource(u.Source) && *n.cur != "" {
			r.Notes = append(r.Notes, fmt.Sprintf("Kept the %s %s from %s; the file has %s.", n.what, *n.cur, SourceLabel(u.Source), n.file))
			continue
		}
		*n.cur = n.file
		r.Changes = append(r.Changes, n.what)
	}
	var changed bool
	var note string
	if up.email, up.emailSource, changed, note = importContact("email", u.Email, u.EmailSource, r.email); changed {
		r.Changes = append(r.Changes, "email")
	}
	if note != "" {
		r.Notes = append(r.Notes, note)
	}
	if up.mobile, up.mobileSource, changed, note = importContact("mobile", u.Mobile, u.MobileSource, r.mobile); changed {
		r.Changes = append(r.Changes, "mobile")
	}
	if note != "" {
		r.Notes = append(r.Notes, note)
	}
	return up
}

// importCustomer returns the tenant's customer for an import.
// Errors: NotFound, Conflict (archived).
func importCustomer(ctx context.Context, idb bun.IDB, tenantID, customerID string) (*customer.Customer, error) {
	c, err := customer.Get(ctx, idb, tenantID, customerID)
	if err != nil {
		return nil, err
	}
	if c.Archived() {
		return nil, apperr.New(apperr.Conflict, "%s is archived, so no end users can be imported into it. Restore the customer first, on its page.", c.Name)
	}
	return c, nil
}

// PreviewImport parses an import file (see ParseImport) and decides each
// row's action against the customer's end users (matched by username,
// case-insensitively, loaded in one query). When the file has the export's
// Customer column, rows naming another customer are rejected. Nothing is
// written.
// Errors: NotFound (customer of another tenant), Conflict (archived
// customer), Invalid (a problem with the whole file, field "file").
func (s *Onboarding) PreviewImport(ctx context.Context, a audit.Actor, customerID string, r io.Reader) (*ImportPreview, error) {
	c, err := importCustomer(ctx, s.db.Bun, a.TenantID, customerID)
	if err != nil {
		return nil, err
	}
	p, err := ParseImport(r)
	if err != nil {
		return nil, err
	}
	checkImportCustomer(p, c)
	existing, err := loadImportExisting(ctx, s.db.Bun, s.db.Dialect, a.TenantID, customerID, false)
	if err != nil {
		return nil, err
	}
	classifyImport(p, existing)
	return p, nil
}

// ApplyImport parses and checks the file again (nothing from the preview is
// trusted) and applies its valid rows to the customer in one transaction:
// new end users are created (source csv, contact values from the import,
// self-serve on only when enableSelfServe), existing ones updated where the
// file changes something (a value typed by a technician, given by the end
// user or owned by the directory is kept), rejected rows skipped. Importing
// the same file again changes nothing. One audit event enduser.import
// records the counts.
// Errors: NotFound (customer), Conflict (archived customer, or the same
// end users changed meanwhile), Invalid (file problem, or no valid row).
func (s *Onboarding) ApplyImport(ctx context.Context, a audit.Actor, customerID string, data []byte, enableSelfServe bool) (ImportResult, error) {
	p, err := ParseImport(bytes.NewReader(data))
	if err != nil {
		return ImportResult{}, err
	}
	var res ImportResult
	err = s.db.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		res, err = s.apply(ctx, tx, a, customerID, p, enableSelfServe, "")
		return err
	})
	return res, err
}

// apply writes a parsed file inside tx (see ApplyImport).
func (s *Onboarding) apply(ctx context.Context, tx *db.Tx, a audit.Actor, customerID string, p *ImportPreview, enableSelfServe bool, fileName string) (ImportResult, error) {
	c, err := importCustomer(ctx, tx, a.TenantID, customerID)
	if err != nil {
		return ImportResult{}, err
	}
	checkImportCustomer(p, c)
	existing, err := loadImportExisting(ctx, tx, s.db.Dialect, a.TenantID, customerID, true)
	if err != nil {
		return ImportResult{}, err
	}
	classifyImport(p, existing)
	if p.Valid() == 0 {
		return ImportResult{}, csvfile.FileError("No row of the file can be imported: correct the rows listed and upload the file again.")
	}
	now := s.now().UTC()
	var creates []EndUser
	var updates []importUpdate
	for _, r := range p.Rows {
		switch r.Action {
		case ActionCreate:
			u := EndUser{
				ID: db.NewID(), TenantID: a.TenantID, CustomerID: customerID, Username: r.Username,
				FirstName: r.FirstName, LastName: r.LastName, Email: r.email, Mobile: r.mobile,
				Source: SourceCSV, SelfServeEnabled: enableSelfServe, CreatedAt: now, UpdatedAt: now,
			}
			if u.Email != "" {
				u.EmailSource = ValueImport
			}
			if u.Mobile != "" {
				u.MobileSource = ValueImport
			}
			creates = append(creates, u)
			r.EndUserID = u.ID
		case ActionUpdate:
			updates = append(updates, r.up)
		}
	}
	for i := 0; i < len(creates); i += importChunk {
		chunk := creates[i:min(i+importChunk, len(creates))]
		if _, err := tx.NewInsert().Model(&chunk).Exec(ctx); err != nil {
			if db.IsUniqueViolation(err) {
				return ImportResult{}, apperr.Wrap(apperr.Conflict, err, "Some of these end users were added at the same time by someone else. Upload the file again to see the current state.")
			}
			return ImportResult{}, fmt.Errorf("enduser: import insert: %w", err)
		}
	}
	for i := 0; i < len(updates); i += importChunk {
		if err := importUpdateChunk(ctx, tx, a.TenantID, customerID, updates[i:min(i+importChunk, len(updates))], now); err != nil {
			return ImportResult{}, err
		}
	}
	res := ImportResult{Created: p.Created, Updated: p.Updated, Unchanged: p.Unchanged, Rejected: p.Rejected, Kept: p.Kept}
	detail := fmt.Sprintf("%d created, %d updated, %d unchanged, %d rejected", res.Created, res.Updated, res.Unchanged, res.Rejected)
	if res.Kept > 0 {
		detail += fmt.Sprintf(", %d kept existing values", res.Kept)
	}
	if res.Created > 0 {
		if enableSelfServe {
			detail += "; self-serve on for new end users"
		} else {
			detail += "; self-serve off for new end users"
		}
	}
	if fileName != "" {
		detail = fileName + ": " + detail
	}
	if err := audit.Record(ctx, tx, now, a, audit.Entry{Action: "enduser.import", TargetType: "customer", TargetID: c.ID, Target: c.Name, Detail: detail}); err != nil {
		return ImportResult{}, err
	}
	return res, nil
}

// importUpdateChunk updates many end users in one statement: a VALUES list joined
// with UPDATE … FROM, which PostgreSQL and SQLite (3.33 and later) both run.
func importUpdateChunk(ctx context.Context, tx *db.Tx, tenantID, customerID string, ups []importUpdate, now time.Time) error {
	var sb strings.Builder
	args := make([]any, 0, len(ups)*7+3)
	sb.WriteString("WITH d (id, first_name, last_name, email, email_source, mobile, mobile_source) AS (VALUES ")
	for i, u := range ups {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString("(?, ?, ?, ?, ?, ?, ?)")
		args = append(args, u.id, u.firstName, u.lastName, u.email, u.emailSource, u.mobile, u.mobileSource)
	}
	sb.WriteString(") UPDATE end_users AS eu SET first_name = d.first_name, last_name = d.last_name, email = d.email, " +
		"email_source = d.email_source, mobile = d.mobile, mobile_source = d.mobile_source, updated_at = ? " +
		"FROM d WHERE eu.id = d.id AND eu.tenant_id = ? AND eu.customer_id = ?")
	args = append(args, now, tenantID, customerID)
	if _, err := tx.ExecContext(ctx, sb.String(), args...); err != nil {
		return fmt.Errorf("enduser: import update: %w", err)
	}
	return nil
}

// importUpload is a file waiting between its preview and its confirmation.
type importUpload struct {
	bun.BaseModel `bun:"table:import_uploads,alias:iu"`

	ID         string    `bun:"id"`
	TenantID   string    `bun:"tenant_id"`
	LoginID    string    `bun:"login_id"`
	CustomerID string    `bun:"customer_id"`
	FileName   string    `bun:"file_name"`
	Data       []byte    `bun:"data"`
	ExpiresAt  time.Time `bun:"expires_at"`
	CreatedAt  time.Time `bun:"created_at"`
}

// StoreUpload keeps an uploaded file for its confirmation (UploadLifetime),
// bound to the tenant, the login and the customer, and removes expired
// uploads. It returns the upload's id for the confirm URL.
// Errors: NotFound (customer), Conflict (archived customer), Invalid (file
// larger than MaxImportBytes).
func (s *Onboarding) StoreUpload(ctx context.Context, a audit.Actor, customerID, fileName string, data []byte) (string, error) {
	if len(data) > MaxImportBytes {
		return "", csvfile.FileError("The file is larger than 10 MB. Split it into files of at most %d end users.", MaxImportRows)
	}
	now := s.now().UTC()
	u := &importUpload{ID: db.NewID(), TenantID: a.TenantID, LoginID: a.LoginID, CustomerID: customerID, FileName: fileName,
		Data: data, ExpiresAt: now.Add(UploadLifetime), CreatedAt: now}
	err := s.db.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		if _, err := importCustomer(ctx, tx, a.TenantID, customerID); err != nil {
			return err
		}
		if _, err := tx.NewDelete().Table("import_uploads").Where("expires_at < ?", now).Exec(ctx); err != nil {
			return fmt.Errorf("enduser: clean uploads: %w", err)
		}
		if _, err := tx.NewInsert().Model(u).Exec(ctx); err != nil {
			return fmt.Errorf("enduser: store upload: %w", err)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return u.ID, nil
}

// errImportUploadGone is the answer for an upload that expired, was applied
// already, or belongs to someone else.
func errImportUploadGone() error {
	return apperr.New(apperr.Conflict, "This upload has expired or was already imported. Choose the file again to see its current preview.")
}

// ApplyUpload applies a stored upload (see StoreUpload and ApplyImport) and
// deletes it in the same transaction, so a second confirmation finds nothing.
// It returns the result and the file's name.
// Errors: NotFound (customer), Conflict (upload expired, already applied,
// or of another login; archived customer), Invalid.
func (s *Onboarding) ApplyUpload(ctx context.Context, a audit.Actor, customerID, uploadID string, enableSelfServe bool) (ImportResult, string, error) {
	if _, err := customer.Get(ctx, s.db.Bun, a.TenantID, customerID); err != nil {
		return ImportResult{}, "", err
	}
	now := s.now().UTC()
	u := new(importUpload)
	err := s.db.Bun.NewSelect().Model(u).
		Where("id = ? AND tenant_id = ? AND login_id = ? AND customer_id = ?", uploadID, a.TenantID, a.LoginID, customerID).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !now.Before(u.ExpiresAt)) {
		return ImportResult{}, "", errImportUploadGone()
	}
	if err != nil {
		return ImportResult{}, "", fmt.Errorf("enduser: load upload: %w", err)
	}
	p, err := ParseImport(bytes.NewReader(u.Data))
	if err != nil {
		return ImportResult{}, u.FileName, err
	}
	var res ImportResult
	err = s.db.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		del, err := tx.NewDelete().Table("import_uploads").Where("id = ? AND expires_at > ?", u.ID, now).Exec(ctx)
		if err != nil {
			return fmt.Errorf("enduser: claim upload: %w", err)
		}
		if n, _ := del.RowsAffected(); n != 1 {
			return errImportUploadGone()
		}
		if _, err := tx.NewDelete().Table("import_uploads").Where("expires_at < ?", now).Exec(ctx); err != nil {
			return fmt.Errorf("enduser: clean uploads: %w", err)
		}
		res, err = s.apply(ctx, tx, a, customerID, p, enableSelfServe, u.FileName)
		return err
	})
	return res, u.FileName, err
}

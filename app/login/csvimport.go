package login

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/app/csvfile"
)

// Limits of a CSV import (security bar: uploads are bounded).
const (
	MaxImportRows  = MaxBatch
	MaxImportBytes = 1 << 20
)

// importColumns are the columns of an import file, in display order, keyed by
// their normalised header.
var importColumns = []struct{ key, header, field string }{
	{"firstname", "First Name", "first_name"},
	{"lastname", "Last Name", "last_name"},
	{"email", "Email", "email"},
	{"role", "Role", "role"},
}

// ImportHeader is the header line of an import file.
const ImportHeader = "First Name,Last Name,Email,Role"

// ImportRow is one data row of an import file.
type ImportRow struct {
	// Row is the row's number as a spreadsheet shows it (the header is row 1).
	Row int
	// FirstName, LastName, Email and Role are the values as written (trimmed).
	FirstName, LastName, Email, Role string
	// Input is the row as an invitation (Role is "" when it could not be read).
	Input InviteInput
	// Errors are the row's problems by field (first_name, last_name, email,
	// role, or row); empty when the row is valid.
	Errors map[string]string
}

// Valid reports whether the row has no problem.
func (r *ImportRow) Valid() bool { return len(r.Errors) == 0 }

// Messages returns the row's problems in column order.
func (r *ImportRow) Messages() []string {
	var out []string
	for _, k := range []string{"row", "first_name", "last_name", "email", "role"} {
		if m, ok := r.Errors[k]; ok {
			out = append(out, m)
		}
	}
	return out
}

func (r *ImportRow) addError(field, msg string) {
	if r.Errors == nil {
		r.Errors = map[string]string{}
	}
	if _, ok := r.Errors[field]; !ok {
		r.Errors[field] = msg
	}
}

// ImportPreview is a parsed import file: every data row with its problems.
type ImportPreview struct {
	Rows []*ImportRow
}

// Invalid returns how many rows have a problem.
func (p *ImportPreview) Invalid() int {
	n := 0
	for _, r := range p.Rows {
		if !r.Valid() {
			n++
		}
	}
	return n
}

// OK reports whether every row is valid (and there is at least one).
func (p *ImportPreview) OK() bool { return len(p.Rows) > 0 && p.Invalid() == 0 }

// Inputs returns the rows as invitations, in file order.
func (p *ImportPreview) Inputs() []InviteInput {
	out := make([]InviteInput, len(p.Rows))
	for i, r := range p.Rows {
		out[i] = r.Input
	}
	return out
}

// ParseCSV reads an import file of logins: a header row naming the columns
// First Name, Last Name, Email and Role (in any order and case; a UTF-8 byte
// order mark is ignored; comma, semicolon or tab separated), then one login
// per row, at most MaxImportRows rows and MaxImportBytes bytes. Problems with
// the file as a whole (size, encoding, missing or unknown columns, broken
// quoting) are an Invalid error with the field "file"; problems of single rows
// (names, email, role, an email repeated in the file) are in each row's
// Errors. It does not look at the database: see Service.PreviewImport.
func ParseCSV(r io.Reader) (*ImportPreview, error) {
	msgs := csvfile.Messages{
		TooLarge: fmt.Sprintf("The file is larger than 1 MB. Split it into smaller files of at most %d logins.", MaxImportRows),
		Empty:    fmt.Sprintf("The file is empty. Its first row must be the header %s.", ImportHeader),
	}
	data, err := csvfile.Read(r, MaxImportBytes, msgs)
	if err != nil {
		return nil, err
	}
	cr := csvfile.NewReader(data)
	header, err := cr.Read()
	if err != nil {
		return nil, csvfile.ParseError(err, msgs)
	}

	cols := map[string]int{} // column key → index
	var unknown []string
	blank := map[int]bool{} // columns without a header
	for i, h := range header {
		key := csvfile.NormHeader(h)
		if key == "" {
			blank[i] = true
			continue
		}
		known := false
		for _, c := range importColumns {
			if key == c.key {
				known = true
			}
		}
		if key == "emailaddress" {
			key, known = "email", true
		}
		if !known {
			unknown = append(unknown, fmt.Sprintf("%q", strings.TrimSpace(h)))
			continue
		}
		if _, dup := cols[key]; dup {
			return nil, csvfile.FileError("The column %q appears twice in the header row. Keep one.", strings.TrimSpace(h))
		}
		cols[key] = i
	}
	if len(cols) == 0 {
		got := strings.Join(header, ",")
		if len(got) > 80 {
			got = got[:80] + "…"
		}
		return nil, csvfile.FileError("The first row must name the columns %s (in any order), but it reads %q.", ImportHeader, got)
	}
	if len(unknown) > 0 {
		noun, pron := "a column", "it"
		if len(unknown) > 1 {
			noun, pron = "columns", "them"
		}
		return nil, csvfile.FileError("The file has %s Latchkey does not use: %s. Remove %s so that only the columns %s remain.",
			noun, strings.Join(unknown, ", "), pron, ImportHeader)
	}
	var missing []string
	for _, c := range importColumns {
		if _, ok := cols[c.key]; !ok {
			missing = append(missing, fmt.Sprintf("%q", c.header))
		}
	}
	if len(missing) > 0 {
		return nil, csvfile.FileError("The header row has no %s column. The first row must name the columns %s (in any order).",
			strings.Join(missing, " or "), ImportHeader)
	}

	p := &ImportPreview{}
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
			return nil, csvfile.FileError("The file has more than %d logins. Import at most %d at a time.", MaxImportRows, MaxImportRows)
		}
		value := func(key string) string {
			if i := cols[key]; i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		row := &ImportRow{Row: line, FirstName: value("firstname"), LastName: value("lastname"), Email: value("email"), Role: value("role")}
		for i := range rec {
			if i >= len(header) && strings.TrimSpace(rec[i]) != "" {
				row.addError("row", "This row has more values than the header row has columns.")
			} else if blank[i] && strings.TrimSpace(rec[i]) != "" {
				row.addError("row", fmt.Sprintf("Column %s has a value but no header.", csvfile.ColumnName(i)))
			}
		}
		row.Input = InviteInput{FirstName: row.FirstName, LastName: row.LastName, Email: row.Email}
		var f apperr.Fields
		ValidateIdentity(&f, row.FirstName, row.LastName, row.Email)
		for k, m := range f {
			row.addError(k, m)
		}
		if row.Role == "" {
			row.addError("role", "Enter a role: "+roleList()+".")
		} else if role, ok := ParseRole(row.Role); !ok {
			row.addError("role", fmt.Sprintf("%q is not a role. Use %s.", row.Role, roleList()))
		} else if m := roleMessage(role); m != "" {
			row.addError("role", m)
		} else {
			row.Input.Role = role
		}
		p.Rows = append(p.Rows, row)
	}
	if len(p.Rows) == 0 {
		return nil, csvfile.FileError("The file has a header row but no logins below it.")
	}
	markDuplicates(p)
	return p, nil
}

// markDuplicates flags every row whose email appears more than once in the file.
func markDuplicates(p *ImportPreview) {
	byEmail := map[string][]*ImportRow{}
	for _, r := range p.Rows {
		if e := NormalizeEmail(r.Email); e != "" {
			byEmail[e] = append(byEmail[e], r)
		}
	}
	for _, rows := range byEmail {
		if len(rows) < 2 {
			continue
		}
		nums := make([]string, len(rows))
		for i, r := range rows {
			nums[i] = fmt.Sprint(r.Row)
		}
		for _, r := range rows {
			r.addError("email", fmt.Sprintf("This email appears more than once in the file (rows %s).", strings.Join(nums, ", ")))
		}
	}
}

// PreviewImport parses an import file (see ParseCSV) and also marks rows
// whose email already has a login. Nothing is written.
// Errors: Forbidden, Invalid (a problem with the whole file, field "file").
func (s *Service) PreviewImport(ctx context.Context, a audit.Actor, r io.Reader) (*ImportPreview, error) {
	if err := requireAdmin(a); err != nil {
		return nil, err
	}
	p, err := ParseCSV(r)
	if err != nil {
		return nil, err
	}
	var emails []string
	for _, row := range p.Rows {
		if _, bad := row.Errors["email"]; !bad {
			emails = append(emails, NormalizeEmail(row.Email))
		}
	}
	taken, err := existingEmails(ctx, s.db.Bun, emails)
	if err != nil {
		return nil, err
	}
	for _, row := range p.Rows {
		if _, bad := row.Errors["email"]; !bad && taken[NormalizeEmail(row.Email)] {
			row.addError("email", msgEmailTaken)
		}
	}
	return p, nil
}

// ApplyRowErrors copies InviteMany's per-row messages (keyed by the index in
// Inputs) onto the preview's rows.
func (p *ImportPreview) ApplyRowErrors(re *RowErrors) {
	if re == nil {
		return
	}
	for i, fields := range re.Rows {
		if i < 0 || i >= len(p.Rows) {
			continue
		}
		for k, m := range fields {
			p.Rows[i].addError(k, m)
		}
	}
}

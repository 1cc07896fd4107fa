// Package logins holds the login management screens: the list, the invite
// and edit forms, and the CSV import with its preview.
package logins

// Option is one choice of a select.
type Option struct {
	Value, Label, Hint string
}

// Row is one login in the list.
type Row struct {
	ID         string
	Name       string
	Email      string
	Role       string // value, e.g. "technician"
	RoleLabel  string
	Status     string // invited, active, disabled
	MFA        bool
	LastSignIn string // formatted; "" for never
	Self       bool   // the signed-in login
}

// ListProps is the logins page and its filter.
type ListProps struct {
	Query, Role, Status string
	Roles, Statuses     []Option
	Rows                []Row
	Filtered            bool // a filter is set (the empty state says so)
}

// InviteProps is the invite form.
type InviteProps struct {
	CSRF                             string
	FirstName, LastName, Email, Role string
	Roles                            []Option
	Errors                           map[string]string
}

// EditProps is a login's page: its details form and its actions.
type EditProps struct {
	CSRF                             string
	ID                               string
	Name                             string // current name, for the heading
	FirstName, LastName, Email, Role string // form values
	RoleLabel                        string
	Roles                            []Option
	Errors                           map[string]string
	Status                           string
	MFA                              bool
	Locked                           bool // sign-in locked by failures
	LastSignIn, Created              string
	IsPrimary                        bool
	IsSelf                           bool
	ReadOnly                         bool // a Super looking at the Primary
}

// CanChangeRole reports whether the form offers the role.
func (p EditProps) CanChangeRole() bool { return !p.IsPrimary && !p.IsSelf && !p.ReadOnly }

// CanDisable reports whether the login can be disabled or deleted.
func (p EditProps) CanDisable() bool { return !p.IsPrimary && !p.IsSelf && !p.ReadOnly }

// ImportProps is the CSV import page: the upload form and, after an upload,
// the preview.
type ImportProps struct {
	CSRF    string
	Error   string // a problem with the whole file
	Header  string // the expected header line
	Roles   string // "Super, Technician or Help desk"
	Preview *Preview
}

// Preview is a parsed file waiting for confirmation.
type Preview struct {
	FileName string
	Data     string // the file, base64url, posted back to confirm
	Rows     []ImportRow
	Invalid  int
	Message  string // why confirming failed, if it did
}

// Valid is the number of rows without problems.
func (p *Preview) Valid() int { return len(p.Rows) - p.Invalid }

// ImportRow is one row of the preview.
type ImportRow struct {
	Row                              int // spreadsheet row number (the header is 1)
	FirstName, LastName, Email, Role string
	Errors                           []string
}

// roleBadge is the badge class of a role.
func roleBadge(role string) string {
	switch role {
	case "primary", "super":
		return "badge badge-info"
	}
	return "badge badge-muted"
}

// statusBadge is the badge class of a status.
func statusBadge(status string) string {
	switch status {
	case "active":
		return "badge badge-ok"
	case "invited":
		return "badge badge-warn"
	case "disabled":
		return "badge badge-danger"
	}
	return "badge badge-muted"
}

// statusLabel is a status for display.
func statusLabel(status string) string {
	switch status {
	case "active":
		return "Active"
	case "invited":
		return "Invited"
	case "disabled":
		return "Disabled"
	}
	return status
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

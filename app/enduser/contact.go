package enduser

import (
	"context"
	"net/mail"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/app/tenant"
	"github.com/latchkey/latchkey/db"
)

// Contact fields a technician may edit in the grid.
const (
	FieldEmail  = "email"
	FieldMobile = "mobile"
)

// ValidField reports whether field is an editable contact field.
func ValidField(field string) bool { return field == FieldEmail || field == FieldMobile }

// maxEmailLen is the longest address SMTP allows (RFC 5321 path limit).
const maxEmailLen = 254

// normalizeGridEmail checks an email address as typed in the grid and returns it
// trimmed and lowercased, or a message for the field. "" clears the address.
func normalizeGridEmail(s string) (string, string) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", ""
	}
	const msg = "Enter an email address like name@example.com."
	if len(s) > maxEmailLen {
		return "", "That email address is too long (at most 254 characters)."
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s || strings.ContainsAny(s, " <>\"") {
		return "", msg
	}
	at := strings.LastIndexByte(s, '@')
	domain := s[at+1:]
	if at < 1 || !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") ||
		strings.Contains(domain, "..") || strings.HasPrefix(domain, "[") {
		return "", msg
	}
	return strings.ToLower(s), ""
}

// MobileHint says which mobile numbers are accepted: the message of a number
// without its international prefix.
const MobileHint = "Type the number with + or 00 and its country code, like +44 7700 900123 or 0044 7700 900123."

// NormalizeMobile checks a mobile number as typed in the grid or written in
// an import file and returns it in E.164 ("+<country code><number>", 8 to 15
// digits), or a message. It is the one rule for both: the number starts
// with + or 00 (the international prefix, as dialled in most of the world),
// then its country code; spaces, dashes, dots and brackets are removed and a bracketed trunk
// prefix "(0)" is dropped, as tenant.NormalizePhone does. A national number
// (07700 900123) is refused: without a country it is ambiguous. "" is ""
// (a cleared value).
func NormalizeMobile(s string) (string, string) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", ""
	}
	if !strings.HasPrefix(s, "+") && !strings.HasPrefix(s, "00") {
		return "", MobileHint
	}
	n, msg := tenant.NormalizePhone("", s)
	if msg != "" {
		return "", msg
	}
	return n, ""
}

// ValueSourceLabel describes where a contact value came from, for the small
// marker next to it: directory (named after the end user's source), typed by
// a technician, CSV import, or the end user.
func ValueSourceLabel(valueSource, userSource string) string {
	switch valueSource {
	case ValueDirectory:
		switch userSource {
		case SourceAD, SourceM365:
			return "from " + SourceLabel(userSource)
		case SourceLocal:
			return "from the computer's local accounts"
		}
		return "from the directory"
	case ValueManual:
		return "typed by a technician"
	case ValueImport:
		return "from CSV import"
	case ValueEndUser:
		return "given by the end user"
	}
	return ""
}

// ValueSourceShort is the marker's visible text (ValueSourceLabel is its title).
func ValueSourceShort(valueSource, userSource string) string {
	switch valueSource {
	case ValueDirectory:
		switch userSource {
		case SourceAD:
			return "AD"
		case SourceM365:
			return "M365"
		case SourceLocal:
			return "local"
		}
		return "dir"
	case ValueManual:
		return "typed"
	case ValueImport:
		return "CSV"
	case ValueEndUser:
		return "user"
	}
	return ""
}

// MaskValue shortens a contact value for the audit trail: the first
// character and the domain of an email (a•••@example.com), the country code
// part and last three digits of a mobile (+44•••123).
func MaskValue(field, v string) string {
	if v == "" {
		return "(cleared)"
	}
	if field == FieldEmail {
		at := strings.LastIndexByte(v, '@')
		if at < 1 {
			return "•••"
		}
		return v[:1] + "•••" + v[at:]
	}
	if len(v) <= 6 {
		return "•••"
	}
	return v[:3] + "•••" + v[len(v)-3:]
}

// UpdateContact sets an end user's email or mobile as typed by a technician
// (value "" clears it) and marks the value as typed here. A new mobile is no
// longer confirmed by the end user. Clearing a value drops the status to Not
// registered. An unchanged value writes nothing. The change is audited as
// enduser.contact_update with the field and a masked value.
// Errors: Invalid (field "value"), NotFound (unknown field, another tenant's
// end user, or one of an archived customer).
func (s *GridService) UpdateContact(ctx context.Context, a audit.Actor, id, field, value string) (*EndUser, error) {
	if !ValidField(field) {
		return nil, apperr.New(apperr.NotFound, "There is nothing at this address.")
	}
	var norm, msg string
	if field == FieldEmail {
		norm, msg = normalizeGridEmail(value)
	} else {
		norm, msg = NormalizeMobile(value)
	}
	if msg != "" {
		return nil, apperr.Field("value", msg)
	}
	now := s.now().UTC()
	var out *EndUser
	err := s.db.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		u, err := Visible(ctx, tx, a.TenantID, id)
		if err != nil {
			return err
		}
		out = u
		current := u.Email
		if field == FieldMobile {
			current = u.Mobile
		}
		if current == norm {
			return nil
		}
		q := tx.NewUpdate().Model((*EndUser)(nil)).Where("tenant_id = ? AND id = ?", a.TenantID, id).Set("updated_at = ?", now)
		if field == FieldEmail {
			u.Email, u.EmailSource = norm, ValueManual
			q = q.Set("email = ?", norm).Set("email_source = ?", ValueManual)
		} else {
			u.Mobile, u.MobileSource, u.MobileConfirmedAt = norm, ValueManual, nil
			q = q.Set("mobile = ?", norm).Set("mobile_source = ?", ValueManual).Set("mobile_confirmed_at = NULL")
		}
		if _, err := q.Exec(ctx); err != nil {
			return gridErr("update contact", err)
		}
		u.UpdatedAt = now
		return audit.Record(ctx, tx, now, a, audit.Entry{
			Action: "enduser.contact_update", TargetType: "end_user", TargetID: u.ID, Target: u.Username,
			Detail: field + ": " + MaskValue(field, norm),
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Visible returns an end user of the tenant whose customer is not archived
// (the grid hides the others, so its row endpoints answer 404 for them).
// Errors: NotFound (also for another tenant's end user).
func Visible(ctx context.Context, idb bun.IDB, tenantID, id string) (*EndUser, error) {
	u := new(EndUser)
	err := idb.NewSelect().Model(u).ModelTableExpr("end_users AS eu").ColumnExpr(endUserColumns()).
		Join(visibleCustomerJoin).Where("eu.tenant_id = ? AND eu.id = ?", tenantID, id).Scan(ctx)
	if err != nil {
		return nil, gridNotFoundOr("get", err)
	}
	return u, nil
}

// GridService carries out what technicians do in the end-user grid: edit
// contact values, switch self-serve per end user and in bulk, export.
type GridService struct {
	db  *db.DB
	now func() time.Time
}

// NewGridService returns a GridService.
func NewGridService(d *db.DB, now func() time.Time) *GridService {
	return &GridService{db: d, now: now}
}

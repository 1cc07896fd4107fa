package customer

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/tenant"
)

// Limits of a customer's fields.
const (
	MaxName       = 200  // characters
	MaxNotes      = 2000 // characters
	MaxDomains    = 20
	maxDomainLen  = 253
	maxLabelLen   = 63
	msgNameTaken  = "A customer with this name already exists."
	msgNameNeeded = "Enter the customer's name."
)

// Input is the editable part of a customer, as typed in the form.
type Input struct {
	Name     string
	Domains  string // separated by commas, spaces or new lines
	TimeZone string // IANA name; "" = the tenant's
	Notes    string
}

// clean is a validated Input.
type clean struct {
	name, domains, timeZone, notes string
}

// validate checks in on its own (not against the database).
func validate(in Input) (clean, apperr.Fields) {
	var f apperr.Fields
	out := clean{
		name:     strings.Join(strings.Fields(in.Name), " "),
		timeZone: strings.TrimSpace(in.TimeZone),
		notes:    strings.TrimSpace(strings.ReplaceAll(in.Notes, "\r\n", "\n")),
	}
	switch n := utf8.RuneCountInString(out.name); {
	case n == 0:
		f.Add("name", msgNameNeeded)
	case n > MaxName:
		f.Add("name", fmt.Sprintf("Use at most %d characters (this is %d).", MaxName, n))
	case !apperr.PlainText(out.name, ""):
		f.Add("name", "The name contains characters that cannot be shown.")
	}
	domains, msg := ParseDomains(in.Domains)
	if msg != "" {
		f.Add("domains", msg)
	}
	out.domains = strings.Join(domains, ",")
	if out.timeZone != "" && !tenant.ValidTimeZone(out.timeZone) {
		f.Add("time_zone", "Choose a time zone from the list, or leave it on the MSP's time zone.")
	}
	if n := utf8.RuneCountInString(out.notes); n > MaxNotes {
		f.Add("notes", fmt.Sprintf("Use at most %d characters (this is %d).", MaxNotes, n))
	} else if !apperr.PlainText(out.notes, "\n\t") {
		f.Add("notes", "The notes contain characters that cannot be shown.")
	}
	return out, f
}

// ParseDomains splits a list of domain names separated by commas, semicolons,
// spaces or new lines, lowercases them and drops repeats (keeping the first
// order). It returns a message for the first name that is not a valid DNS
// name (at least one dot, labels of letters, digits and inner hyphens of at
// most 63 characters, at most 253 in all, no scheme, path, port or address),
// or when there are more than MaxDomains.
func ParseDomains(s string) ([]string, string) {
	parts := strings.FieldsFunc(s, func(r rune) bool {
		return r == ',' || r == ';' || unicode.IsSpace(r)
	})
	var out []string
	seen := map[string]bool{}
	for _, p := range parts {
		d := strings.ToLower(p)
		if m := domainMessage(d); m != "" {
			return nil, m
		}
		d = strings.TrimSuffix(d, ".")
		if seen[d] {
			continue
		}
		seen[d] = true
		out = append(out, d)
	}
	if len(out) > MaxDomains {
		return nil, fmt.Sprintf("Enter at most %d domains (there are %d).", MaxDomains, len(out))
	}
	return out, ""
}

// domainMessage says what is wrong with one lowercased domain name, or "".
func domainMessage(d string) string {
	show := d
	if utf8.RuneCountInString(show) > 60 {
		show = string([]rune(show)[:60]) + "…"
	}
	bad := func(why string) string { return fmt.Sprintf("%q is not a domain name: %s", show, why) }
	switch {
	case strings.Contains(d, "://"):
		return bad("enter the domain alone, without http:// or https://.")
	case strings.Contains(d, "@"):
		return bad("enter the domain without a user (the part after @).")
	case strings.ContainsAny(d, "/?#"):
		return bad("enter the domain alone, without a path.")
	case strings.Contains(d, ":"):
		return bad("enter the domain without a port.")
	}
	d = strings.TrimSuffix(d, ".")
	if len(d) > maxDomainLen {
		return bad(fmt.Sprintf("a domain name has at most %d characters.", maxDomainLen))
	}
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return bad("it needs at least one dot, as in example.com.")
	}
	for _, l := range labels {
		switch {
		case l == "":
			return bad("it has an empty part between dots.")
		case len(l) > maxLabelLen:
			return bad(fmt.Sprintf("each part between dots has at most %d characters.", maxLabelLen))
		case l[0] == '-' || l[len(l)-1] == '-':
			return bad("a part cannot start or end with a hyphen.")
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return bad("use only letters a–z, digits, hyphens and dots.")
			}
		}
	}
	tld := labels[len(labels)-1]
	if strings.Trim(tld, "0123456789") == "" {
		return bad("enter a name, not an IP address.")
	}
	return ""
}

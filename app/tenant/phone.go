package tenant

import (
	"strings"
)

// Country is a choice of the phone number's country calling code.
type Country struct {
	Code string // "+44"
	Name string // "United Kingdom"
}

// Countries are the calling codes offered on the settings screen, most
// common among MSPs first, then by name. A number typed with a leading "+"
// may use any other code.
var Countries = []Country{
	{"+1", "United States / Canada"},
	{"+44", "United Kingdom"},
	{"+353", "Ireland"},
	{"+61", "Australia"},
	{"+64", "New Zealand"},
	{"+27", "South Africa"},
	{"+54", "Argentina"},
	{"+43", "Austria"},
	{"+32", "Belgium"},
	{"+55", "Brazil"},
	{"+86", "China"},
	{"+57", "Colombia"},
	{"+420", "Czechia"},
	{"+45", "Denmark"},
	{"+358", "Finland"},
	{"+33", "France"},
	{"+49", "Germany"},
	{"+30", "Greece"},
	{"+852", "Hong Kong"},
	{"+91", "India"},
	{"+972", "Israel"},
	{"+39", "Italy"},
	{"+81", "Japan"},
	{"+254", "Kenya"},
	{"+60", "Malaysia"},
	{"+52", "Mexico"},
	{"+31", "Netherlands"},
	{"+234", "Nigeria"},
	{"+47", "Norway"},
	{"+63", "Philippines"},
	{"+48", "Poland"},
	{"+351", "Portugal"},
	{"+65", "Singapore"},
	{"+82", "South Korea"},
	{"+34", "Spain"},
	{"+46", "Sweden"},
	{"+41", "Switzerland"},
	{"+971", "United Arab Emirates"},
}

// DefaultCountry is the calling code preselected for a new tenant.
const DefaultCountry = "+1"

func knownCountry(code string) bool {
	for _, c := range Countries {
		if c.Code == code {
			return true
		}
	}
	return false
}

// Phone number limits: E.164 allows at most 15 digits including the country
// code; fewer than 8 is not a reachable business number anywhere we list.
const (
	minPhoneDigits = 8
	maxPhoneDigits = 15
)

// NormalizePhone turns a country calling code and a number as typed into
// E.164 ("+<digits>"). The number may contain spaces, dashes, dots and
// brackets; a number that starts with "+" carries its own country code and
// the country is ignored. The national trunk prefix is dropped (a leading 0,
// or 1 in North America; Italy keeps its 0). It returns the number, or ""
// and a message for the form.
func NormalizePhone(country, number string) (string, string) {
	number = strings.TrimSpace(number)
	if number == "" {
		return "", "Enter the MSP's phone number."
	}
	intl := strings.HasPrefix(number, "+")
	if intl {
		number = number[1:]
	} else if strings.HasPrefix(number, "00") {
		// International dialling prefix typed out: 0044 20 …
		intl, number = true, number[2:]
	}
	if intl {
		// "+44 (0)20 …": the bracketed trunk prefix is not dialled from abroad.
		number = strings.ReplaceAll(number, "(0)", "")
	}
	var b strings.Builder
	for _, r := range number {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')' || r == '/' || r == '\u00a0':
		default:
			return "", "Use digits only (spaces, dashes and brackets are fine), without an extension."
		}
	}
	digits := b.String()
	if !intl {
		country = strings.TrimSpace(country)
		if !strings.HasPrefix(country, "+") {
			country = "+" + country
		}
		if !knownCountry(country) {
			return "", "Choose the country code, or type the number with + and its country code."
		}
		cc := country[1:]
		switch cc {
		case "1":
			if len(digits) == 11 && digits[0] == '1' {
				digits = digits[1:]
			}
		case "39":
		default:
			if strings.HasPrefix(digits, "0") {
				digits = digits[1:]
			}
		}
		if digits == "" {
			return "", "Enter the MSP's phone number."
		}
		digits = cc + digits
	}
	if strings.HasPrefix(digits, "1") {
		// North America: a 3-digit area code that does not start with 0 or 1,
		// then 7 digits.
		if len(digits) != 11 || digits[1] == '0' || digits[1] == '1' {
			return "", "A US or Canadian number has 10 digits after +1, starting with the area code (2–9), like (415) 555-0100."
		}
	}
	if digits == "" || digits[0] == '0' {
		return "", "A number with + must start with its country code, like +44 20 7946 0000."
	}
	switch {
	case len(digits) < minPhoneDigits:
		return "", "That number is too short: with its country code it needs 8 to 15 digits."
	case len(digits) > maxPhoneDigits:
		return "", "That number is too long: with its country code it can have at most 15 digits."
	}
	return "+" + digits, ""
}

// SplitPhone splits a stored E.164 number into a listed calling code and the
// rest, for showing it in the form again. A number of an unlisted country
// comes back whole (with its "+") and no code.
func SplitPhone(e164 string) (country, national string) {
	if !strings.HasPrefix(e164, "+") {
		return "", e164
	}
	best := ""
	for _, c := range Countries {
		if strings.HasPrefix(e164, c.Code) && len(c.Code) > len(best) {
			best = c.Code
		}
	}
	if best == "" {
		return "", e164
	}
	return best, e164[len(best):]
}

// zoneCountries maps the main IANA time zones of Countries to their
// calling code (US and Canada share +1).
var zoneCountries = map[string]string{
	"Europe/London": "+44", "Europe/Belfast": "+44", "Europe/Dublin": "+353",
	"Pacific/Auckland": "+64", "Pacific/Chatham": "+64", "Africa/Johannesburg": "+27",
	"Europe/Vienna": "+43", "Europe/Brussels": "+32", "America/Sao_Paulo": "+55", "America/Manaus": "+55",
	"America/Fortaleza": "+55", "America/Recife": "+55", "America/Bahia": "+55", "America/Belem": "+55",
	"Asia/Shanghai": "+86", "Asia/Chongqing": "+86", "Asia/Urumqi": "+86", "America/Bogota": "+57",
	"Europe/Prague": "+420", "Europe/Copenhagen": "+45", "Europe/Helsinki": "+358", "Europe/Paris": "+33",
	"Europe/Berlin": "+49", "Europe/Busingen": "+49", "Europe/Athens": "+30", "Asia/Hong_Kong": "+852",
	"Asia/Kolkata": "+91", "Asia/Calcutta": "+91", "Asia/Jerusalem": "+972", "Asia/Tel_Aviv": "+972",
	"Europe/Rome": "+39", "Asia/Tokyo": "+81", "Africa/Nairobi": "+254", "Asia/Kuala_Lumpur": "+60",
	"Asia/Kuching": "+60", "America/Mexico_City": "+52", "America/Cancun": "+52", "America/Merida": "+52",
	"America/Monterrey": "+52", "America/Chihuahua": "+52", "America/Tijuana": "+52", "America/Hermosillo": "+52",
	"America/Mazatlan": "+52", "Europe/Amsterdam": "+31", "Africa/Lagos": "+234", "Europe/Oslo": "+47",
	"Asia/Manila": "+63", "Europe/Warsaw": "+48", "Europe/Lisbon": "+351", "Atlantic/Madeira": "+351",
	"Atlantic/Azores": "+351", "Asia/Singapore": "+65", "Asia/Seoul": "+82", "Europe/Madrid": "+34",
	"Atlantic/Canary": "+34", "Europe/Stockholm": "+46", "Europe/Zurich": "+41", "Asia/Dubai": "+971",
}

// usCanadaZones are the US and Canadian zones outside America/'s other
// countries (the America/ zones of the countries above, and of countries
// not offered, are not +1).
var usCanadaZones = map[string]bool{
	"America/New_York": true, "America/Chicago": true, "America/Denver": true, "America/Los_Angeles": true,
	"America/Phoenix": true, "America/Anchorage": true, "America/Juneau": true, "America/Boise": true,
	"America/Detroit": true, "America/Adak": true, "America/Nome": true, "America/Sitka": true, "America/Menominee": true,
	"Pacific/Honolulu": true, "America/Toronto": true, "America/Vancouver": true, "America/Edmonton": true,
	"America/Winnipeg": true, "America/Halifax": true, "America/St_Johns": true, "America/Regina": true,
	"America/Moncton": true, "America/Montreal": true, "America/Whitehorse": true, "America/Yellowknife": true,
	"America/Iqaluit": true, "America/Glace_Bay": true, "America/Goose_Bay": true, "America/Swift_Current": true,
	"America/Puerto_Rico": true,
}

// CountryOfZone returns the calling code of Countries for an IANA time
// zone, or "" when the zone is not one of theirs.
func CountryOfZone(zone string) string {
	if c, ok := zoneCountries[zone]; ok {
		return c
	}
	switch {
	case usCanadaZones[zone], strings.HasPrefix(zone, "US/"), strings.HasPrefix(zone, "Canada/"),
		strings.HasPrefix(zone, "America/Indiana/"), strings.HasPrefix(zone, "America/Kentucky/"), strings.HasPrefix(zone, "America/North_Dakota/"):
		return "+1"
	case strings.HasPrefix(zone, "Australia/"):
		return "+61"
	case strings.HasPrefix(zone, "America/Argentina/"), zone == "America/Buenos_Aires":
		return "+54"
	}
	return ""
}

package sms

import (
	"regexp"
	"strings"

	"github.com/latchkey/latchkey/app/tenant"
)

var e164Re = regexp.MustCompile(`^\+[1-9][0-9]{7,14}$`)

// ValidE164 reports whether s is a phone number in E.164 form: "+", a
// country code and at most 15 digits in all (8 at least).
func ValidE164(s string) bool { return e164Re.MatchString(s) }

// NormalizeE164 turns a number typed with its country code ("+44 20 7946
// 0000", "+1 (415) 555-0100") into E.164. It returns "" and a message for
// the form when the number is not usable.
func NormalizeE164(typed string) (string, string) {
	typed = strings.TrimSpace(typed)
	if typed == "" {
		return "", "Enter a phone number."
	}
	if !strings.HasPrefix(typed, "+") {
		return "", "Type the number with + and its country code, like +14155550100."
	}
	n, msg := tenant.NormalizePhone("", typed)
	if msg != "" {
		return "", msg
	}
	return n, ""
}

// MaskPhone hides the middle of a phone number for logs, the audit trail
// and screens that need not show it whole: "+14155550100" → "+14•••••••00".
func MaskPhone(p string) string {
	if p == "" {
		return ""
	}
	r := []rune(p)
	if len(r) <= 5 {
		return strings.Repeat("•", len(r))
	}
	return string(r[:3]) + strings.Repeat("•", len(r)-5) + string(r[len(r)-2:])
}

// Package password checks passwords against NIST SP 800-63B rules: a minimum
// and maximum length, a blocklist of common passwords, and context-specific
// words such as the user's name or email address. It deliberately imposes no
// composition rules (no required digits, symbols or mixed case).
package password

import (
	_ "embed"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// MinLoginLength is the minimum length, in characters, of a technician login
// password.
const MinLoginLength = 12

// MaxLength is the maximum length, in characters, of a password.
const MaxLength = 128

// minContextLength is the shortest context string (in characters) that is
// checked; shorter strings match too many unrelated passwords.
const minContextLength = 4

// Rule identifies which password rule a RuleError reports.
type Rule string

// The rules CheckLoginPassword enforces.
const (
	// RuleTooShort means the password has fewer than MinLoginLength characters.
	RuleTooShort Rule = "too_short"
	// RuleTooLong means the password has more than MaxLength characters.
	RuleTooLong Rule = "too_long"
	// RuleCommon means the password is on the common-password blocklist.
	RuleCommon Rule = "common"
	// RuleContext means the password contains the user's email address or name.
	RuleContext Rule = "context"
)

// RuleError reports a password that breaks a rule. Message is a complete
// sentence that can be shown to the user as is.
type RuleError struct {
	// Rule is the rule that was broken.
	Rule Rule
	// Message is the user-facing explanation, e.g. "Use at least 12 characters.".
	Message string
}

// Error returns the user-facing message with a package prefix.
func (e *RuleError) Error() string {
	return "password: " + e.Message
}

//go:embed blocklist.txt
var blocklistText string

// blocklist lazily builds the immutable set of common passwords.
var blocklist = sync.OnceValue(func() map[string]struct{} {
	set := make(map[string]struct{}, 11000)
	for line := range strings.Lines(blocklistText) {
		line = strings.TrimSpace(line)
		if line != "" {
			set[strings.ToLower(line)] = struct{}{}
		}
	}
	return set
})

// IsCommon reports whether pw is on the embedded blocklist of common
// passwords, compared case-insensitively.
func IsCommon(pw string) bool {
	_, ok := blocklist()[strings.ToLower(pw)]
	return ok
}

// CheckLoginPassword checks a technician login password and returns a
// *RuleError for the first rule it breaks, or nil. The rules are: at least
// MinLoginLength and at most MaxLength characters (Unicode code points), not
// on the common-password blocklist, and not containing any of the context
// strings (such as the user's email address and name) case-insensitively.
// Each context string is checked whole and also split into words at any
// character that is not a letter or digit, and for a string containing "@"
// its local part is checked too; strings and words shorter than 4 characters
// are ignored. For "jane.doe@example.com" that means "jane.doe@example.com",
// "jane.doe", "jane" and "example" are checked ("doe" and "com" are too short).
func CheckLoginPassword(pw string, context ...string) error {
	n := utf8.RuneCountInString(pw)
	switch {
	case n < MinLoginLength:
		return &RuleError{Rule: RuleTooShort, Message: "Use at least 12 characters."}
	case n > MaxLength:
		return &RuleError{Rule: RuleTooLong, Message: "Use at most 128 characters."}
	case IsCommon(pw):
		return &RuleError{Rule: RuleCommon, Message: "That password is too common. Choose something less predictable."}
	case containsContext(pw, context):
		return &RuleError{Rule: RuleContext, Message: "The password must not contain your email address or name."}
	}
	return nil
}

func containsContext(pw string, context []string) bool {
	lower := strings.ToLower(pw)
	check := func(s string) bool {
		s = strings.ToLower(strings.TrimSpace(s))
		return utf8.RuneCountInString(s) >= minContextLength && strings.Contains(lower, s)
	}
	for _, c := range context {
		if check(c) {
			return true
		}
		if local, _, ok := strings.Cut(c, "@"); ok && check(local) {
			return true
		}
		for _, word := range strings.FieldsFunc(c, isSeparator) {
			if check(word) {
				return true
			}
		}
	}
	return false
}

func isSeparator(r rune) bool {
	return !unicode.IsLetter(r) && !unicode.IsDigit(r)
}

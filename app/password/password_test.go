package password

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBlocklistLoads(t *testing.T) {
	t.Parallel()
	set := blocklist()
	require.Greater(t, len(set), 1000)

	lines := strings.Split(strings.TrimSpace(blocklistText), "\n")
	require.Len(t, set, len(lines), "blocklist.txt must not contain duplicates or blank lines")
	for _, line := range lines {
		require.Equal(t, strings.ToLower(line), line, "blocklist.txt must be lowercased")
		require.Equal(t, strings.TrimSpace(line), line)
	}
}

func TestIsCommon(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pw   string
		want bool
	}{
		{"password", true},
		{"PASSWORD", true},
		{"PassWord", true},
		{"123456", true},
		{"qwerty", true},
		{"qwerty123456", true},
		{"passwordpassword", true},
		{"password1234", true},
		{"correct horse battery staple 77", false},
		{"Xk9#mQ2$vL7!pR4", false},
		{"", false},
	}
	for _, tc := range tests {
		require.Equal(t, tc.want, IsCommon(tc.pw), "IsCommon(%q)", tc.pw)
	}
}

func requireRule(t *testing.T, err error, rule Rule, message string) {
	t.Helper()
	var re *RuleError
	require.True(t, errors.As(err, &re), "want *RuleError, got %v", err)
	require.Equal(t, rule, re.Rule)
	require.Equal(t, message, re.Message)
	require.Equal(t, "password: "+message, err.Error())
}

func TestCheckLoginPasswordLength(t *testing.T) {
	t.Parallel()
	const tooShort = "Use at least 12 characters."
	const tooLong = "Use at most 128 characters."
	tests := []struct {
		name string
		pw   string
		rule Rule
		msg  string
	}{
		{"empty", "", RuleTooShort, tooShort},
		{"11 chars", "vq8#Lm2!pZr", RuleTooShort, tooShort},
		{"11 multibyte runes", strings.Repeat("é", 11), RuleTooShort, tooShort},
		{"12 chars", "vq8#Lm2!pZrT", "", ""},
		{"12 multibyte runes but 24 bytes", strings.Repeat("é", 12), "", ""},
		{"6 emoji is 24 bytes but 6 runes", strings.Repeat("🔑", 6), RuleTooShort, tooShort},
		{"128 chars", strings.Repeat("aB3$", 32), "", ""},
		{"129 chars", strings.Repeat("aB3$", 32) + "x", RuleTooLong, tooLong},
		{"128 multibyte runes", strings.Repeat("ü", 128), "", ""},
		{"129 multibyte runes", strings.Repeat("ü", 129), RuleTooLong, tooLong},
		{"only spaces allowed", strings.Repeat(" ", 12), "", ""},
		{"no composition rules", "lowercase only words here", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := CheckLoginPassword(tc.pw)
			if tc.rule == "" {
				require.NoError(t, err)
				return
			}
			requireRule(t, err, tc.rule, tc.msg)
		})
	}
}

func TestCheckLoginPasswordCommon(t *testing.T) {
	t.Parallel()
	const msg = "That password is too common. Choose something less predictable."
	for _, pw := range []string{"passwordpassword", "PasswordPassword", "qwerty123456", "QWERTY123456", "123456654321", "1qaz2wsx3edc"} {
		requireRule(t, CheckLoginPassword(pw), RuleCommon, msg)
	}
	// Short common passwords fail the length rule first.
	requireRule(t, CheckLoginPassword("password"), RuleTooShort, "Use at least 12 characters.")
	require.NoError(t, CheckLoginPassword("purple tractor umbrella"))
}

func TestCheckLoginPasswordContext(t *testing.T) {
	t.Parallel()
	const msg = "The password must not contain your email address or name."
	email := "Jane.Doe@Example.com"
	name := "Jane Doe"
	tests := []struct {
		name    string
		pw      string
		context []string
		reject  bool
	}{
		{"equal to email", "jane.doe@example.com", []string{email}, true},
		{"contains email", "my jane.doe@example.com!", []string{email}, true},
		{"contains local part", "xxJANE.DOExx-2024", []string{email}, true},
		{"contains name word", "janeisthebest!", []string{name}, true},
		{"contains full name", "i am jane doe!!", []string{name}, true},
		{"contains domain word", "work at example 1", []string{email}, true},
		{"short words ignored", "doe doe doe doe", []string{name}, false},
		{"short context ignored", "abcabcabcabc", []string{"abc"}, false},
		{"empty context ignored", "vq8#Lm2!pZrT", []string{"", "   "}, false},
		{"unrelated", "purple tractor umbrella", []string{email, name}, false},
		{"no context", "jane.doe@example.com", nil, false},
		{"case insensitive", "XXTECHNICIANXX", []string{"Technician"}, true},
		{"second context matches", "hello-bob-smith-1", []string{"alice@example.org", "Bob Smith"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := CheckLoginPassword(tc.pw, tc.context...)
			if !tc.reject {
				require.NoError(t, err)
				return
			}
			requireRule(t, err, RuleContext, msg)
		})
	}
}

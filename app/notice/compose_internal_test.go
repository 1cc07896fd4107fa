package notice

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// TestLockoutMessages: the lockout SMS fits one segment (160 GSM-7
// characters, with the STOP line and the link) for long-ish MSP names and
// usernames, and neither it nor the email speaks of the password's expiry.
func TestLockoutMessages(t *testing.T) {
	t.Parallel()
	s := &Service{d: Deps{Link: func(p string) string { return "https://passwords.northwind-managed-it.example" + p }}}
	past := time.Date(2026, 11, 20, 16, 4, 0, 0, time.UTC) // already expired
	for _, tc := range []struct{ msp, username string }{
		{"Acme IT", "asmith"},
		{"Northwind Managed IT Services", "alexandra.montgomery-smythe"},
		{"Contoso Technology Solutions Group Ltd", "christopher.vanderberg@contoso-holdings.example"},
		{"A Very Long Managed Service Provider Name That Goes On And On And On Pty Ltd", "x"},
	} {
		c := s.compose(&Notice{Kind: KindLockout, TimeZone: "America/Los_Angeles"},
			&target{TenantName: tc.msp, Username: tc.username, FirstName: "Alex", CustomerName: "Globex", PasswordExpiresAt: &past}, past.Add(48*time.Hour))
		n := utf8.RuneCountInString(c.sms)
		t.Logf("%d: %s", n, c.sms)
		require.LessOrEqual(t, n, 160, c.sms)
		require.True(t, strings.HasSuffix(c.sms, " Reply STOP to opt out."), c.sms)
		require.Contains(t, c.sms, "https://passwords.northwind-managed-it.example/self-serve/unlock")
		require.Contains(t, c.sms, "locked")
		for _, r := range c.sms {
			require.Less(t, r, rune(128), "GSM-7 text (ASCII here): %q", c.sms)
		}
		require.NotContains(t, c.sms, "expire")
		require.NotContains(t, strings.Join(c.email.Lines, " "), "expire")
	}
	c := s.compose(&Notice{Kind: KindLockout, TimeZone: "UTC"}, &target{TenantName: "Acme IT", Username: "asmith"}, past)
	require.Contains(t, c.sms, "Acme IT: your account asmith is locked.", "short names are all there")
}

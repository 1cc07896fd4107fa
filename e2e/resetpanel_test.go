package e2e

import (
	"errors"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/directory/ad"
	"github.com/latchkey/latchkey/app/login"
)

// resetAndWait clears the panel's result area, resets, and waits for the
// directory task's outcome.
func resetAndWait(p *page) {
	p.t.Helper()
	_, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool](`(() => { document.querySelector('#directory-result').innerHTML = ''; return true })()`))
	require.NoError(p.t, err)
	p.click(tid("reset-submit"))
	p.wait(tid("task-ok"))
}

func inputValue(p *page, css string) string {
	p.t.Helper()
	v, err := chromedpValue(p, css)
	require.NoError(p.t, err)
	return v
}

// TestBrowserResetPanel is the technician's panel at desktop size against a
// real Samba DC: a typed password with live warnings (temporary: the user
// must change it), a generated passphrase and a generated complex password
// (not temporary: the user signs in with them), each checked in the
// directory.
func TestBrowserResetPanel(t *testing.T) {
	t.Parallel()
	s := newSelfServeE2E(t)
	tech := s.env.CreateLogin(s.f, login.RoleTechnician, "tess@acmeit.example")
	p := newPage(t, s.env.URL)
	p.viewport(1280, 900)
	signIn(p, tech.Email)
	p.open("/end-users/" + s.ann.ID)
	p.wait(tid("reset-form"))
	require.Contains(t, p.text(tid("rp-policy")), "Domain policy: at least 7 characters")

	// Typed: warnings as it is typed, then a temporary reset.
	p.fill(tid("reset-password"), "short")
	p.wait(tid("rp-violations"))
	require.Contains(t, p.text(tid("rp-violations")), "Use at least 7 characters.")
	p.fill(tid("reset-password"), "AnnSmith-2026")
	p.waitFor(`(document.querySelector('[data-testid="rp-violations"]') || {}).textContent.includes("Don't include")`)
	p.fill(tid("reset-password"), "Typed-Passw0rd-1")
	p.wait(tid("rp-check-ok"))
	p.click(tid("rp-eye"))
	p.waitFor(`document.querySelector('#f-password').type === 'text'`)
	p.screenshot("resetpanel-typed")
	resetAndWait(p)
	require.Contains(t, p.text(tid("task-ok")), "must change it at next logon")
	err := s.site.Bind("asmith", "Typed-Passw0rd-1")
	require.True(t, errors.Is(err, ad.KindMustChange), "temporary: the user must change it (%v)", err)

	// Generated passphrase: short words, dot separator; not temporary.
	p.click(chromedp.CSS(`[data-testid="rp-generate"] summary`))
	p.click(tid("rp-short"))
	_, err = chromedp.Run(p.ctx, chromedp.Evaluate[bool](`(() => { document.querySelector('#rp-separator').value = '.'; return true })()`))
	require.NoError(t, err)
	p.click(tid("rp-generate-passphrase"))
	p.wait(tid("rp-generated"))
	p.wait(tid("rp-check-ok"))
	phrase := inputValue(p, "#f-password")
	require.Len(t, splitDots(phrase), 5, "five short words by default: %q", phrase)
	p.click(chromedp.CSS(`[data-testid="switch-temporary"] .slider`))
	p.waitFor(`!document.querySelector('input[name="temporary"]').checked`)
	p.screenshot("resetpanel-passphrase")
	resetAndWait(p)
	require.NoError(t, s.site.Bind("asmith", phrase), "the generated passphrase works in the directory")

	// Generated complex password of 24 characters, numbers and symbols.
	p.fill(tid("rp-length-n"), "24")
	p.waitFor(`document.querySelector('#rp-length').value === '24'`)
	p.click(tid("rp-generate-complex"))
	p.waitFor(`document.querySelector('#f-password').value.length === 24`)
	p.wait(tid("rp-check-ok"))
	complexPW := inputValue(p, "#f-password")
	resetAndWait(p)
	require.NoError(t, s.site.Bind("asmith", complexPW), "the generated complex password works in the directory")
	p.screenshot("resetpanel-complex")

	// Leaving the page forgets the password (and no-store keeps it out of
	// the cache and history).
	p.open("/customers")
	p.open("/end-users/" + s.ann.ID)
	p.wait(tid("reset-form"))
	require.Equal(t, "", inputValue(p, "#f-password"))
}

func splitDots(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

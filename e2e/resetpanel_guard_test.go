package e2e

import (
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/login"
)

// TestBrowserResetPanelGuards: a password the live check rejects is not
// sent (Enter does nothing, Reset is disabled); a reset asks first, naming
// the end user and whether the password is temporary; a new password clears
// the last result; the eye's name and state agree; the length box shows the
// length used; the panel fits a 360 px phone.
func TestBrowserResetPanelGuards(t *testing.T) {
	t.Parallel()
	s := newSelfServeE2E(t)
	tech := s.env.CreateLogin(s.f, login.RoleTechnician, "tess@acmeit.example")
	p := newPage(t, s.env.URL)
	p.viewport(360, 800)
	signIn(p, tech.Email)
	p.open("/end-users/" + s.ann.ID)
	p.wait(tid("reset-form"))

	// At 360 px nothing sticks out of the card.
	p.click(chromedp.CSS(`[data-testid="rp-generate"] summary`))
	p.wait(tid("rp-complex"))
	p.waitFor(`(() => { const card = document.querySelector('#reset-panel').getBoundingClientRect();
		return [...document.querySelectorAll('#reset-panel fieldset, #reset-panel input, #reset-panel button')]
			.every(e => e.getBoundingClientRect().right <= card.right + 0.5) && document.documentElement.scrollWidth <= document.documentElement.clientWidth })()`)

	// A rejected password: Enter sends nothing, Reset is disabled.
	p.fill(tid("reset-password"), "short")
	p.wait(tid("rp-violations"))
	p.waitFor(`document.querySelector('[data-testid="reset-submit"]').disabled`)
	p.do(chromedp.SendKeys(`#f-password`, "\r"))
	p.settle()
	require.Equal(t, "", p.text(tid("directory-result")), "nothing was sent to the directory")
	require.Equal(t, "", p.lastDialog())

	// A good one: Reset asks, naming Ann and the temporary switch.
	p.fill(tid("reset-password"), "Typed-Passw0rd-1")
	p.wait(tid("rp-check-ok"))
	p.waitFor(`!document.querySelector('[data-testid="reset-submit"]').disabled`)
	p.click(tid("reset-submit"))
	p.wait(tid("task-ok"))
	require.Equal(t, "Reset the password of Ann Smith? Temporary: they must change it at next logon.", p.lastDialog())

	// Typing a new one clears the last result.
	p.fill(tid("reset-password"), "x")
	p.waitFor(`document.querySelector('#directory-result').textContent.trim() === ''`)

	// The eye: one name, the state in aria-pressed.
	name := `(() => { const b = document.querySelector('[data-testid="rp-eye"]'); return b.getAttribute('aria-label') + '|' + b.textContent.trim() + '|' + b.getAttribute('aria-pressed') })()`
	got, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](name))
	require.NoError(t, err)
	require.Equal(t, "Show password|Show|false", got)
	p.click(tid("rp-eye"))
	p.waitFor(`document.querySelector('#f-password').type === 'text'`)
	got, err = chromedp.Run(p.ctx, chromedp.Evaluate[string](name))
	require.NoError(t, err)
	require.Equal(t, "Show password|Show|true", got)

	// The length box: 3 becomes the shortest allowed, and says so.
	p.fill(tid("rp-length-n"), "3")
	p.do(chromedp.Blur(`#rp-length-n`))
	p.waitFor(`document.querySelector('#rp-length-n').value === document.querySelector('#rp-length').min`)
	require.Contains(t, p.text(tid("rp-length-note")), "the shortest allowed here")

	// An old refusal goes when a new password is generated.
	p.fill(tid("reset-password"), "Another-Passw0rd-2")
	p.wait(tid("rp-check-ok"))
	_, err = chromedp.Run(p.ctx, chromedp.Evaluate[bool](`(() => { document.querySelector('#directory-result').innerHTML = '<p data-testid="old-result">The password was not reset.</p>'; return true })()`))
	require.NoError(t, err)
	p.click(tid("rp-generate-complex"))
	p.wait(tid("rp-generated"))
	require.False(t, p.exists(`[data-testid="old-result"]`))
	p.screenshot("resetpanel-360")
}

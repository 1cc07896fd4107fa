package e2e

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/config"
)

// TestBrowserVerifyReloadKeepsTheVerification: a reload mid-push brings the
// waiting panel back, live: the phone's answer shows on the panel and in
// the history; a history row reopens a verification.
func TestBrowserVerifyReloadKeepsTheVerification(t *testing.T) {
	t.Parallel()
	s := newVerifyE2E(t, nil)
	phone := s.phone(t, true, false)
	tech := s.tech
	s.send(t, "push")
	tech.wait(tid("verify-waiting"))
	receipt := tech.text(tid("verify-receipt"))

	tech.open("/end-users/" + s.user.ID)
	tech.wait(tid("verify-waiting"))
	require.Equal(t, receipt, tech.text(tid("verify-receipt")))
	tech.waitFor(`document.querySelector('[data-testid="verify-history"] [data-outcome="pending"]') !== null`)
	// The countdown goes on from where it was, and the bar is part empty.
	tech.waitFor(`Number(document.querySelector('[data-testid="verify-seconds"]')?.textContent) < 60`)
	tech.waitFor(`document.querySelector('.verify-progress').max === 60`)

	phone.open(s.approvalPath(t, 1))
	phone.click(tid("approve-yes"))
	phone.wait(tid("approve-done"))
	s.waitOutcome(t, "verified")
	tech.waitFor(`document.querySelector('[data-testid="verify-history"] [data-outcome="verified"]') !== null`)
	tech.click(tid("verify-ok"))
	tech.wait(tid("verify-send"))

	// The history row opens the verification's outcome in the panel.
	tech.click(tid("verify-row-open"))
	s.waitOutcome(t, "verified")
	require.Contains(t, tech.text(tid("verify-panel")), receipt)
}

// TestBrowserVerifyFocusAndAnnouncements: after each panel change, focus
// is on the new stage (not <body>), one sentence is announced for it, and
// the countdown is not read out every second.
func TestBrowserVerifyFocusAndAnnouncements(t *testing.T) {
	t.Parallel()
	s := newVerifyE2E(t, func(c *config.Config) { c.VerifyPushTimeout = 35 * time.Second })
	s.phone(t, true, false)
	tech := s.tech
	focusInPanel := `(() => { const a = document.activeElement; return a !== document.body && !!a.closest('[data-testid="verify-panel"]') })()`
	announced := func(text string) {
		t.Helper()
		tech.waitFor(`(document.querySelector('[data-testid="verify-announcer"]') || {}).textContent === ` + jsString(text))
	}

	s.send(t, "push")
	tech.wait(tid("verify-waiting"))
	tech.waitFor(focusInPanel)
	tech.waitFor(`document.activeElement.hasAttribute('data-verify-focus')`)
	announced("Push sent. Waiting for Dana Scully to approve on their phone.")
	require.False(t, tech.exists(`[data-testid="verify-panel"][aria-live]`), "the panel is not a live region")

	// The countdown changes the announcer only at the marks (30 s here), not every second.
	_, err := chromedp.Run(tech.ctx, chromedp.Evaluate[bool](`(() => {
		window.lkAnnounced = [];
		new MutationObserver(() => { const t = document.querySelector('[data-testid="verify-announcer"]').textContent; if (t) window.lkAnnounced.push(t) })
			.observe(document.querySelector('[data-testid="verify-announcer"]'), {childList: true, characterData: true, subtree: true});
		return true })()`))
	require.NoError(t, err)
	tech.waitFor(`Number(document.querySelector('[data-testid="verify-seconds"]').textContent) <= 28`)
	got, err := chromedp.Run(tech.ctx, chromedp.Evaluate[[]string](`window.lkAnnounced`))
	require.NoError(t, err)
	require.Equal(t, []string{"30 seconds left."}, got)

	tech.click(tid("verify-cancel"))
	s.waitOutcome(t, "cancelled")
	tech.waitFor(focusInPanel)
	announced("Cancelled.")
	tech.click(tid("verify-close"))
	tech.wait(tid("verify-send"))
	tech.waitFor(`document.activeElement.matches('input[name="method"]:checked')`)

	s.send(t, "sms")
	tech.wait(tid("verify-code"))
	tech.waitFor(focusInPanel)
	announced("SMS code sent to +1 ••• ••• 123. Ask Dana Scully to read the code back.")
	tech.click(tid("verify-approve"))
	s.waitOutcome(t, "verified")
	tech.waitFor(`document.activeElement.matches('[data-testid="verify-outcome"]')`)
	announced("User Identity Successfully Verified.")
}

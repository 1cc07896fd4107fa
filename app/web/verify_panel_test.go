package web_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/login"
)

// TestVerifyPanelComesBack: the end user's page (and the panel's own URL)
// shows the signed-in login's open verification again, with its code and
// countdown, so that a reload or a visit elsewhere loses nothing; another
// login sees the choice with a note naming who started the open one; every
// history row opens its verification.
func TestVerifyPanelComesBack(t *testing.T) {
	t.Parallel()
	vfEach(t, func(t *testing.T, s *vfSite) {
		res, id := s.start(t, "sms")
		code := vfCode(t, res.Body)

		for _, path := range []string{"/end-users/" + s.user.ID, "/end-users/" + s.user.ID + "/verify"} {
			page := s.tc.Get(path)
			require.Equal(t, http.StatusOK, page.StatusCode, page.Body)
			bodyHas(t, page.Body, `data-stage="code"`, path)
			require.Equal(t, code, vfCode(t, page.Body), path)
			bodyHas(t, page.Body, vfTid("verify-countdown"), path)
			require.Equal(t, "no-store", page.Header.Get("Cache-Control"), path)
		}
		page := s.tc.Get("/end-users/" + s.user.ID)
		bodyHas(t, page.Body, `href="/end-users/`+s.user.ID+`/verify/`+id+`"`, "the history row opens it")
		bodyHas(t, page.Body, `hx-target="#verify-panel"`)

		// Another technician: the choice, and who is verifying (no code in place of the choice).
		other := s.env.CreateLogin(s.f, login.RoleTechnician, "otto@acmeit.example")
		oc := s.env.Client()
		oc.SignIn(other.Email)
		page = oc.Get("/end-users/" + s.user.ID)
		bodyHas(t, page.Body, `data-stage="choose"`)
		bodyHas(t, page.Body, vfTid("verify-other-open"))
		bodyHas(t, page.Body, "tess Tester started a verification (SMS code")
		require.NotContains(t, page.Body, `data-testid="verify-code"`)
		bodyHas(t, page.Body, `href="/end-users/`+s.user.ID+`/verify/`+id+`"`)

		// Decided: the page opens at the choice again; the row still opens the outcome.
		res = s.tc.PostForm("/end-users/"+s.user.ID+"/verify/"+id+"/decide", url.Values{"decision": {"approve"}}, htmx("#verify-panel")...)
		require.Equal(t, http.StatusOK, res.StatusCode, res.Body)
		page = s.tc.Get("/end-users/" + s.user.ID)
		bodyHas(t, page.Body, `data-stage="choose"`)
		require.NotContains(t, oc.Get("/end-users/"+s.user.ID).Body, `data-testid="verify-other-open"`)
		st := s.tc.Get("/end-users/"+s.user.ID+"/verify/"+id, htmx("#verify-panel")...)
		bodyHas(t, st.Body, `data-outcome="verified"`)

		// A push still waiting comes back with its live stream.
		s.enrol(t, s.user, true)
		_, pid := s.start(t, "push")
		page = s.tc.Get("/end-users/" + s.user.ID)
		bodyHas(t, page.Body, `data-stage="push"`)
		bodyHas(t, page.Body, `sse-connect="/end-users/`+s.user.ID+`/verify/`+pid+`/events?v=1"`)

		// Past its expiry it is gone: the choice.
		s.env.Clock.Advance(2 * time.Minute)
		bodyHas(t, s.tc.Get("/end-users/"+s.user.ID).Body, `data-stage="choose"`)
	})
}

// TestVerifyPanelIsNotALiveRegion: the panel is not announced as a whole
// (its countdown would be read every second); it carries one sentence for
// its stage. The countdown bar's length is the push's lifetime, so a panel
// drawn again mid-push starts part empty.
func TestVerifyPanelIsNotALiveRegion(t *testing.T) {
	t.Parallel()
	vfEach(t, func(t *testing.T, s *vfSite) {
		s.enrol(t, s.user, true)
		s.env.Clock.Set(time.Now()) // the countdown's figures are exact
		res, id := s.start(t, "push")
		require.NotContains(t, res.Body, `aria-live`)
		bodyHas(t, res.Body, `data-announce="Push sent. Waiting for Dana Scully to approve on their phone."`)
		bodyHas(t, res.Body, `max="60" value="60"`)

		s.env.Clock.Advance(20 * time.Second)
		st := s.tc.Get("/end-users/"+s.user.ID+"/verify/"+id, htmx("#verify-panel")...)
		require.Equal(t, http.StatusOK, st.StatusCode, st.Body)
		bodyHas(t, st.Body, `max="60" value="40"`)
		require.NotContains(t, st.Body, `aria-live`)
	})
}

// TestVerifyPanelSaysWhenSendingIsPossible: at five sends in the hour the
// choice says so truthfully and when sending is possible again.
func TestVerifyPanelSaysWhenSendingIsPossible(t *testing.T) {
	t.Parallel()
	vfEach(t, func(t *testing.T, s *vfSite) {
		first := time.Now().UTC().Truncate(time.Minute).Add(20 * time.Second)
		s.env.Clock.Set(first)
		for range 5 {
			_, id := s.start(t, "email")
			res := s.tc.PostForm("/end-users/"+s.user.ID+"/verify/"+id+"/cancel", nil, htmx("#verify-panel")...)
			require.Equal(t, http.StatusOK, res.StatusCode, res.Body)
			s.env.Clock.Advance(time.Minute)
		}
		page := s.tc.Get("/end-users/" + s.user.ID)
		bodyHas(t, page.Body, vfTid("verify-blocked"))
		bodyHas(t, page.Body, "5 codes or pushes were sent to this end user in the last hour, the most allowed. Sending is possible again at ")
		require.NotContains(t, page.Body, "another one blocks")
		// The tenant's zone is UTC here; the time is the first send's plus an hour.
		bodyHas(t, page.Body, first.Add(time.Hour).UTC().Format("Jan 2 15:04")+" UTC.")
	})
}

package web

import (
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/latchkey/latchkey/app/enduser"
	"github.com/latchkey/latchkey/app/login"
	"github.com/latchkey/latchkey/app/password"
	"github.com/latchkey/latchkey/app/selfserve"
	dirv "github.com/latchkey/latchkey/views/pages/directory"
	rpv "github.com/latchkey/latchkey/views/pages/resetpanel"
)

// resetPanelHandler serves the technician's password reset panel's own
// requests (views/pages/resetpanel): the live check of a typed password
// against the end user's directory policy, and the generator. The reset and
// unlock themselves are the directory routes (directory.go). The panel is
// one component so that a PSA pod can embed it.
type resetPanelHandler struct{ s *Server }

// resetRoles may reset and unlock end users' passwords (the panel's routes
// and the directory's reset and unlock routes); other roles see a note
// instead of the panel.
var resetRoles = []login.Role{login.RolePrimary, login.RoleSuper, login.RoleTechnician}

// mayReset reports whether the request's login may use the reset panel.
func mayReset(c echo.Context) bool {
	l := currentLogin(c)
	return l != nil && slices.Contains(resetRoles, l.Role)
}

// separatorLabels name the passphrase separators in the select.
var separatorLabels = map[string]string{" ": "space", "-": "- hyphen", ".": ". dot", "_": "_ underscore", "~": "~ tilde",
	"+": "+ plus", "=": "= equals", "#": "# hash", "!": "! exclamation", "*": "* star"}

// resetPanel is the panel of the end user's page p (nil when the end user
// is not in a directory).
func (s *Server) resetPanel(c echo.Context, p dirv.EndUserProps) (templ.Component, error) {
	if !p.Directory {
		return nil, nil
	}
	base := "/end-users/" + p.ID
	props := rpv.Props{CSRF: p.CSRF, EndUserID: p.ID, EndUserName: p.Name, Base: base, Ready: p.Ready, NotReady: p.NotReadyReason, Locked: p.Locked,
		Field: rpv.FieldProps{EndUserID: p.ID, Base: base, Check: rpv.CheckProps{Empty: true}}}
	if !mayReset(c) {
		props.Ready = false
		props.NotReady = fmt.Sprintf("Password resets and unlocks are done by %s logins; your role (%s) cannot change this account's password.",
			roleLabels(resetRoles, "and"), currentLogin(c).Role.Label())
		return rpv.Panel(props), nil
	}
	if p.Ready {
		r, err := s.SelfServe.Rules(c.Request().Context(), actor(c).TenantID, p.ID)
		if err != nil {
			return nil, err
		}
		props.Policy, props.PolicyKnown = policyLine(r), r.Known
		props.MinLength = max(password.MinComplexLength, min(r.Policy.MinLength, password.MaxLength))
		props.MaxLength = max(password.MaxComplexLength, props.MinLength)
		props.Length = password.ComplexLength(password.ComplexOptions{Requirements: r.Requirements()})
		props.Complexity = r.Requirements().Complexity
		for _, sep := range password.Separators {
			props.Separators = append(props.Separators, rpv.Separator{Value: sep, Label: separatorLabels[sep]})
		}
	}
	return rpv.Panel(props), nil
}

// policyLine describes the rules in a sentence.
func policyLine(r *selfserve.Rules) string {
	p := r.Policy
	src := p.Source
	if !r.Known {
		src = "Active Directory's default policy"
	}
	parts := []string{fmt.Sprintf("at least %d characters", p.MinLength)}
	if p.Complexity {
		parts = append(parts, "three of upper case, lower case, digits and symbols, without the user's name")
	}
	if p.HistoryLength > 0 {
		parts = append(parts, fmt.Sprintf("not one of the last %d", p.HistoryLength))
	}
	return src + ": " + strings.Join(parts, "; ") + "."
}

// rules reads the URL end user's rules (404 for another tenant's, or one of
// an archived customer).
func (h *resetPanelHandler) rules(c echo.Context) (*selfserve.Rules, error) {
	ctx := c.Request().Context()
	a := actor(c)
	if _, err := enduser.Visible(ctx, h.s.DB.Bun, a.TenantID, c.Param("id")); err != nil {
		return nil, err
	}
	return h.s.SelfServe.Rules(ctx, a.TenantID, c.Param("id"))
}

// panelCheck splits the findings: what the directory would refuse, and
// warnings (a common password) that do not stop a technician's reset.
func panelCheck(r *selfserve.Rules, pw string) rpv.CheckProps {
	if pw == "" {
		return rpv.CheckProps{Empty: true}
	}
	p := rpv.CheckProps{Hint: r.Policy.HistoryHint()}
	all := r.Check(pw)
	blocking := r.Blocking(all)
	for _, v := range all {
		if v.Rule == selfserve.RuleCommon && len(blocking) < len(all) {
			p.Warnings = append(p.Warnings, v.Message)
			continue
		}
		p.Violations = append(p.Violations, v.Message)
	}
	return p
}

// checkPassword answers the live check as the technician types.
func (h *resetPanelHandler) checkPassword(c echo.Context) error {
	r, err := h.rules(c)
	if err != nil {
		return err
	}
	noStore(c)
	return h.s.partial(c, http.StatusOK, rpv.Check(panelCheck(r, c.FormValue("password"))))
}

// generate puts a generated password in the field, shown, with its check.
func (h *resetPanelHandler) generate(c echo.Context) error {
	r, err := h.rules(c)
	if err != nil {
		return err
	}
	req := r.Requirements()
	var pw, what string
	if c.FormValue("kind") == "complex" {
		n, _ := strconv.Atoi(c.FormValue("length"))
		o := password.ComplexOptions{Length: n, Numbers: c.FormValue("numbers") == "on", Symbols: c.FormValue("symbols") == "on", Requirements: req}
		if pw, err = password.Complex(o); err != nil {
			return err
		}
		what = fmt.Sprintf("complex password, %d characters, about %d bits", len(pw), int(math.Round(password.ComplexBits(o))))
		if !o.Numbers && !o.Symbols && o.Complexity {
			what += ", with digits: the directory's complexity rule needs three kinds of character"
		}
		if n != 0 && len(pw) != n {
			what += fmt.Sprintf(" (%d asked for: %d to %d here)", n, max(password.MinComplexLength, req.MinLength), password.MaxComplexLength)
		}
	} else {
		n, _ := strconv.Atoi(c.FormValue("words"))
		o := password.PassphraseOptions{List: password.WordList(c.FormValue("list")), Words: n, Separator: c.FormValue("separator"),
			Digits: c.FormValue("digits") == "on", Requirements: req}
		if o.List != password.ShortWords {
			o.List = password.LongWords
		}
		if !password.ValidSeparator(o.Separator) {
			o.Separator = "-"
		}
		if o.Words != 0 && (o.Words < password.MinWords || o.Words > password.MaxWords) {
			o.Words = 0
		}
		if pw, err = password.Passphrase(o); err != nil {
			return err
		}
		words := strings.Count(pw, o.Separator) + 1
		what = fmt.Sprintf("passphrase, %d %s words, about %d bits", words, o.List, int(math.Round(password.PassphraseBits(o, words))))
	}
	noStore(c)
	base := strings.TrimSuffix(c.Request().URL.Path, "/password/generate") // where the panel's routes are mounted
	return h.s.partial(c, http.StatusOK, rpv.Field(rpv.FieldProps{EndUserID: c.Param("id"), Base: base, Value: pw, Generated: what,
		Check: panelCheck(r, pw)}))
}

package ad

import (
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"unicode/utf16"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// The LDAP_SERVER_POLICY_HINTS controls: on a password reset (replace of
// unicodePwd) they make a Windows DC apply the policy parts that a reset
// normally skips: password history and minimum age.
const (
	OIDPolicyHints           = "1.2.840.113556.1.4.2239" // Windows Server 2012 and later
	OIDPolicyHintsDeprecated = "1.2.840.113556.1.4.2066" // Windows Server 2008 R2 (with an update)
)

// policyHints is the control with the value SEQUENCE { Flags INTEGER 1 },
// always critical: a server that does not know it must refuse the write
// rather than quietly skip the history check.
type policyHints struct{ oid string }

func (p policyHints) GetControlType() string { return p.oid }
func (p policyHints) String() string         { return "PolicyHints(" + p.oid + ")" }

func (p policyHints) Encode() *ber.Packet {
	packet := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "Control")
	packet.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, p.oid, "Control Type"))
	packet.AppendChild(ber.NewBoolean(ber.ClassUniversal, ber.TypePrimitive, ber.TagBoolean, true, "Criticality"))
	packet.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, string(policyHintsValue()), "Control Value"))
	return packet
}

func policyHintsValue() []byte {
	seq := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "PolicyHintsRequestValue")
	seq.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, int64(1), "Flags"))
	return seq.Bytes()
}

// encodePassword renders a password for unicodePwd: UTF-16LE, in double quotes.
func encodePassword(password string) string {
	u := utf16.Encode([]rune(`"` + password + `"`))
	b := make([]byte, 2*len(u))
	for i, r := range u {
		binary.LittleEndian.PutUint16(b[2*i:], r)
	}
	return string(b)
}

// requireTLS refuses a password operation on an unencrypted connection,
// before anything is sent.
func (c *Conn) requireTLS() error {
	if !c.tls {
		return newError(KindInsecure, "")
	}
	return nil
}

// ResetPassword sets a user's password as an administrator would (history
// and minimum age do not apply), in one modify: unicodePwd and pwdLastSet
// (0: must change at next logon when temporary; -1: now, which also clears a
// previous "must change"). A temporary password does not force a change on
// an account whose password never expires (User.PasswordNeverExpires): the
// DC ignores pwdLastSet 0 there. Errors: KindInsecure (no TLS: nothing is sent),
// KindNotFound, KindPolicy (with Violations when the local check can tell
// which rule), KindAccess, KindUnreachable.
func (c *Conn) ResetPassword(ctx context.Context, guid, password string, temporary bool) error {
	if err := c.requireTLS(); err != nil {
		return err
	}
	if password == "" {
		return newError(KindPolicy, "The password is empty.")
	}
	e, err := c.findUser(ctx, guid, "sAMAccountName", "displayName")
	if err != nil {
		return err
	}
	pwdLastSet := "-1"
	if temporary {
		pwdLastSet = "0"
	}
	m := ldap.NewModifyRequest(e.DN, nil)
	m.Replace("unicodePwd", []string{encodePassword(password)})
	m.Replace("pwdLastSet", []string{pwdLastSet})
	err = c.do(ctx, opPassword, func() error { return c.l.Modify(m) })
	return c.explainPolicy(ctx, err, guid, password, e, false)
}

// SetPasswordWithPolicy sets the password an end user chose in self-serve:
// a reset with the policy hints control, so that a Windows DC also enforces
// password history and minimum age. Errors as for ResetPassword, and
// KindUnsupported when the DC rejects both controls (nothing was changed).
//
// What Samba does (checked with Samba 4.17): it does not implement either
// control and does not list them in supportedControl, yet it accepts them,
// critical or not (it accepts any unknown critical control), and performs a
// plain reset: history and minimum age are NOT applied. Sending the control
// critical therefore keeps Samba working and lets a Windows DC that lacks it
// refuse instead of silently skipping history. EnforcesHistoryOnReset tells
// the caller which case it is in, from the rootDSE.
func (c *Conn) SetPasswordWithPolicy(ctx context.Context, guid, password string) error {
	if err := c.requireTLS(); err != nil {
		return err
	}
	if password == "" {
		return newError(KindPolicy, "The password is empty.")
	}
	ri, err := c.rootInfo(ctx)
	if err != nil {
		return err
	}
	e, err := c.findUser(ctx, guid, "sAMAccountName", "displayName")
	if err != nil {
		return err
	}
	oids := []string{OIDPolicyHints, OIDPolicyHintsDeprecated}
	if !ri.controls[OIDPolicyHints] && ri.controls[OIDPolicyHintsDeprecated] {
		oids = oids[1:]
	}
	for _, oid := range oids {
		m := ldap.NewModifyRequest(e.DN, []ldap.Control{policyHints{oid}})
		m.Replace("unicodePwd", []string{encodePassword(password)})
		err = c.do(ctx, opPassword, func() error { return c.l.Modify(m) })
		if !errors.Is(err, KindUnsupported) {
			break
		}
	}
	return c.explainPolicy(ctx, err, guid, password, e, true)
}

// EnforcesHistoryOnReset reports whether the directory advertises the policy
// hints control, i.e. whether SetPasswordWithPolicy makes it check password
// history. Windows Server 2012 and later: true. Samba 4.17: false.
func (c *Conn) EnforcesHistoryOnReset(ctx context.Context) (bool, error) {
	ri, err := c.rootInfo(ctx)
	if err != nil {
		return false, err
	}
	return ri.controls[OIDPolicyHints] || ri.controls[OIDPolicyHintsDeprecated], nil
}

// Unlock clears a lockout (lockoutTime=0). Errors: KindInsecure (no TLS:
// nothing is sent), KindNotFound, KindAccess, KindUnreachable.
func (c *Conn) Unlock(ctx context.Context, guid string) error {
	if err := c.requireTLS(); err != nil {
		return err
	}
	e, err := c.findUser(ctx, guid)
	if err != nil {
		return err
	}
	m := ldap.NewModifyRequest(e.DN, nil)
	m.Replace("lockoutTime", []string{"0"})
	return c.do(ctx, opPassword, func() error { return c.l.Modify(m) })
}

// explainPolicy adds to a KindPolicy error the rules that a local check of
// the user's policy says the password breaks. The directory itself only says
// "0000052D" on Windows. When the local check finds nothing and the policy
// hints were sent, what is left is history or minimum age (or a custom
// password filter on the DC), and the message says so.
func (c *Conn) explainPolicy(ctx context.Context, err error, guid, password string, e *ldap.Entry, hinted bool) error {
	var ae *Error
	if err == nil || !errors.As(err, &ae) || ae.Kind != KindPolicy {
		return err
	}
	p, perr := c.UserPolicy(ctx, guid)
	if perr != nil {
		return err
	}
	v := p.Check(password, e.GetAttributeValue("sAMAccountName"), e.GetAttributeValue("displayName"))
	if len(v) == 0 {
		if hinted && (p.HistoryLength > 0 || p.MinAge > 0) {
			ae.Message = "The directory rejected the password: it may be one of the recent passwords, or the password was changed too recently."
			if h := p.HistoryHint(); h != "" {
				ae.Message += " " + h + "."
			}
		}
		return err
	}
	msgs := make([]string, len(v))
	for i, x := range v {
		msgs[i] = x.Message
	}
	ae.Violations = v
	ae.Message = "The directory rejected the password: " + strings.Join(msgs, " ")
	return ae
}

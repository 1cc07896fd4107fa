package ad

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/go-ldap/ldap/v3"
	"github.com/stretchr/testify/require"
)

// Diagnostics as Samba 4.17 sends them (recorded against a real DC) and as
// Windows documents or is widely reported to send them.
func TestClassify(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		result uint16
		diag   string
		op     opKind
		kind   Kind
		data   string
		hex    string
	}{
		// Samba 4.17, recorded.
		{"samba user bind wrong password", 49, "80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data 52e, v1db1", opUserBind, KindInvalidCredentials, "52e", "80090308"},
		{"samba service bind wrong password", 49, "80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data 52e, v1db1", opServiceBind, KindBindFailed, "52e", "80090308"},
		{"samba must change", 49, "80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data 773, v1db1", opUserBind, KindMustChange, "773", "80090308"},
		{"samba disabled", 49, "80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data 533, v1db1", opUserBind, KindDisabled, "533", "80090308"},
		{"samba locked", 49, "80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data 775, v1db1", opUserBind, KindLocked, "775", "80090308"},
		{"samba too short", 19, "0000052D: Constraint violation - check_password_restrictions: the password is too short. It should be equal or longer than 7 characters!", opPassword, KindPolicy, "", "0000052D"},
		{"samba complexity", 19, "0000052D: Constraint violation - check_password_restrictions: the password does not meet the complexity criteria!", opPassword, KindPolicy, "", "0000052D"},
		{"samba history", 19, "0000052D: Constraint violation - check_password_restrictions: the password was already used (in history)!", opPassword, KindPolicy, "", "0000052D"},
		{"samba too young", 19, "0000052D: Constraint violation - check_password_restrictions: password is too young to change!", opPassword, KindPolicy, "", "0000052D"},
		{"samba plain bind", 8, "BindSimple: Transport encryption required.", opServiceBind, KindInsecure, "", ""},
		{"samba no such object", 32, "00002030: No such Base DN: CN=nothere,DC=LATCHKEY,DC=TEST", opPassword, KindNotFound, "", "00002030"},
		// Windows.
		{"windows locked", 49, "80090308: LdapErr: DSID-0C09042A, comment: AcceptSecurityContext error, data 775, v3839", opUserBind, KindLocked, "775", "80090308"},
		{"windows user not found", 49, "80090308: LdapErr: DSID-0C090447, comment: AcceptSecurityContext error, data 525, v3839", opUserBind, KindInvalidCredentials, "525", "80090308"},
		{"windows expired", 49, "80090308: LdapErr: DSID-0C09042A, comment: AcceptSecurityContext error, data 532, v3839", opUserBind, KindPasswordExpired, "532", "80090308"},
		{"windows account expired", 49, "80090308: LdapErr: DSID-0C09042A, comment: AcceptSecurityContext error, data 701, v3839", opUserBind, KindAccountExpired, "701", "80090308"},
		{"windows logon hours", 49, "80090308: LdapErr: DSID-0C09042A, comment: AcceptSecurityContext error, data 530, v3839", opUserBind, KindAccess, "530", "80090308"},
		{"windows bind account locked", 49, "80090308: LdapErr: DSID-0C09042A, comment: AcceptSecurityContext error, data 775, v4563", opServiceBind, KindBindFailed, "775", "80090308"},
		{"windows policy on reset", 53, "0000052D: SvcErr: DSID-031A1248, problem 5003 (WILL_NOT_PERFORM), data 0\n", opPassword, KindPolicy, "0", "0000052D"},
		{"windows history with hints", 19, "0000052D: AtrErr: DSID-03191083, #1:\n\t0: 0000052D: DSID-03191083, problem 1005 (CONSTRAINT_ATT_TYPE), data 0, Att 9005a (unicodePwd)\n", opPassword, KindPolicy, "0", "0000052D"},
		{"windows access denied", 50, "00000005: SecErr: DSID-031A11E2, problem 4003 (INSUFF_ACCESS_RIGHTS), data 0\n", opPassword, KindAccess, "0", "00000005"},
		{"windows unicodePwd without TLS", 53, "0000001F: SvcErr: DSID-031A12D2, problem 5003 (WILL_NOT_PERFORM), data 0\n", opPassword, KindInsecure, "0", "0000001F"},
		{"windows no such object", 32, "0000208D: NameErr: DSID-0310021B, problem 2001 (NO_OBJECT), data 0, best match of:\n\t'DC=example,DC=com'\n", opRead, KindNotFound, "0", "0000208D"},
		{"windows confidentiality required", 13, "00002028: LdapErr: DSID-0C090259, comment: The server requires binds to turn on integrity checking if SSL\\TLS are not already active on the connection, data 0, v4563", opServiceBind, KindInsecure, "0", "00002028"},
		{"unavailable critical extension", 12, "00000057: LdapErr: DSID-0C090A38, comment: Error processing control, data 0, v4563", opPassword, KindUnsupported, "0", "00000057"},
		{"busy", 51, "", opRead, KindUnreachable, "", ""},
		{"something else", 80, "00000000: whatever", opRead, KindUnknown, "", "00000000"},
	}
	for _, c := range cases {
		e := classify(&ldap.Error{ResultCode: c.result, Err: errors.New(c.diag)}, c.op)
		require.Equal(t, c.kind, e.Kind, c.name)
		require.Equal(t, c.data, e.Data, c.name)
		require.Equal(t, c.hex, e.Hex, c.name)
		require.Equal(t, c.result, e.Result, c.name)
		require.Equal(t, c.diag, e.Detail, c.name)
		require.NotEmpty(t, e.Message, c.name)
		require.ErrorIs(t, e, c.kind, c.name)
		require.Equal(t, c.kind, KindOf(fmt.Errorf("wrapped: %w", e)), c.name)
	}
}

func TestClassifyNonLDAPErrors(t *testing.T) {
	t.Parallel()
	e := classify(ldap.NewError(ldap.ErrorNetwork, io.EOF), opRead)
	require.Equal(t, KindUnreachable, e.Kind)
	require.ErrorIs(t, e, io.EOF)

	e = classify(context.DeadlineExceeded, opRead)
	require.Equal(t, KindUnreachable, e.Kind)
	require.Contains(t, e.Message, "in time")

	e = classify(fmt.Errorf("tls: %w", x509.UnknownAuthorityError{}), opRead)
	require.Equal(t, KindTLS, e.Kind)
	require.Contains(t, e.Message, "CA certificate")

	require.Nil(t, classify(nil, opRead))
	require.Equal(t, Kind(""), KindOf(nil))
	require.Equal(t, KindUnknown, KindOf(io.EOF))
	require.NotErrorIs(t, e, KindUnreachable)
}

func TestParseDiagnostic(t *testing.T) {
	t.Parallel()
	hex, data := parseDiagnostic("80090308: LdapErr: DSID-0C09042A, comment: AcceptSecurityContext error, data 775, v3839")
	require.Equal(t, "80090308", hex)
	require.Equal(t, "775", data)
	hex, data = parseDiagnostic("0000052d: Constraint violation - the password metadata is nice")
	require.Equal(t, "0000052D", hex)
	require.Equal(t, "", data) // "metadata" is not a "data" token
	hex, data = parseDiagnostic("")
	require.Equal(t, "", hex)
	require.Equal(t, "", data)
}

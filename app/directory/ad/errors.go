package ad

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"regexp"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// Kind classifies a directory error. A Kind is itself an error, so that
// errors.Is(err, ad.KindLocked) works on any error this package returns.
// The values are stable strings: the agent sends them to the server.
type Kind string

// The kinds of directory error.
const (
	KindPolicy             Kind = "policy"              // the password does not meet the policy (0000052D)
	KindDisabled           Kind = "disabled"            // the account is disabled (data 533)
	KindLocked             Kind = "locked"              // the account is locked out (data 775)
	KindNotFound           Kind = "not_found"           // no such user (in scope) or object
	KindUnreachable        Kind = "unreachable"         // network, timeout, TLS handshake, server busy
	KindBindFailed         Kind = "bind_failed"         // the configured bind account could not sign in
	KindInvalidCredentials Kind = "invalid_credentials" // a user's own sign-in: wrong name or password (data 52e/525)
	KindMustChange         Kind = "must_change"         // the user must change the password at next logon (data 773)
	KindPasswordExpired    Kind = "password_expired"    // the password has expired (data 532)
	KindAccountExpired     Kind = "account_expired"     // the account has expired (data 701)
	KindInsecure           Kind = "insecure"            // a password operation without TLS, or the server wants TLS
	KindAccess             Kind = "access"              // insufficient access rights (result 50), or a logon restriction
	KindTLS                Kind = "tls"                 // the server certificate could not be verified
	KindUnsupported        Kind = "unsupported"         // the server rejected a critical control (result 12)
	KindUnknown            Kind = "unknown"
)

// Error implements error so that a Kind can be the target of errors.Is.
func (k Kind) Error() string { return "ad: " + string(k) }

// Error is the error type of this package. Message is ours, readable and fit
// to show to a technician; Detail keeps the directory's own diagnostic.
type Error struct {
	Kind       Kind
	Result     uint16      // LDAP result code (0 when the error did not come from the server)
	Data       string      // the "data xxx" token of an AD diagnostic, e.g. "773"
	Hex        string      // the leading Win32 error of an AD diagnostic, e.g. "0000052D"
	Message    string      // readable, ours
	Detail     string      // the directory's diagnostic message, or the underlying error
	Violations []Violation // for KindPolicy: the rules a local check says were broken, when known
	Err        error       // the underlying error, if any
}

func (e *Error) Error() string {
	if e.Detail == "" {
		return "ad: " + e.Message
	}
	return "ad: " + e.Message + " (" + e.Detail + ")"
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is e's Kind.
func (e *Error) Is(target error) bool {
	k, ok := target.(Kind)
	return ok && k == e.Kind
}

// KindOf returns the Kind of err, KindUnknown when err is not from this
// package, and "" for nil.
func KindOf(err error) Kind {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindUnknown
}

// Messages for each kind; the bind account variants are in bindAccountMessage.
var kindMessages = map[Kind]string{
	KindPolicy:             "The directory rejected the password: it does not meet the password policy (length, complexity, history or minimum age).",
	KindDisabled:           "The account is disabled.",
	KindLocked:             "The account is locked out.",
	KindNotFound:           "The directory has no such object.",
	KindUnreachable:        "The directory could not be reached.",
	KindBindFailed:         "The directory refused the bind account's credentials.",
	KindInvalidCredentials: "The user name or password is incorrect.",
	KindMustChange:         "The password must be changed at next logon.",
	KindPasswordExpired:    "The password has expired.",
	KindAccountExpired:     "The account has expired.",
	KindInsecure:           "The connection is not encrypted: use LDAPS (ldaps://) or StartTLS for password operations.",
	KindAccess:             "The bind account does not have the rights for this operation.",
	KindTLS:                "The directory's TLS certificate could not be verified: add the CA certificate that issued it, or (not recommended) skip verification.",
	KindUnsupported:        "The directory does not support a control this operation requires.",
	KindUnknown:            "The directory returned an unexpected error.",
}

// The AcceptSecurityContext sub-codes in "data xxx" of a bind failure.
var bindData = map[string]struct {
	kind Kind
	msg  string
}{
	"525": {KindInvalidCredentials, "The user name or password is incorrect."}, // user not found
	"52e": {KindInvalidCredentials, "The user name or password is incorrect."},
	"530": {KindAccess, "The account may not sign in at this time."},
	"531": {KindAccess, "The account may not sign in from this computer."},
	"532": {KindPasswordExpired, "The password has expired."},
	"533": {KindDisabled, "The account is disabled."},
	"701": {KindAccountExpired, "The account has expired."},
	"773": {KindMustChange, "The password must be changed at next logon."},
	"775": {KindLocked, "The account is locked out."},
}

var (
	// "80090308: LdapErr: DSID-0C09042A, comment: AcceptSecurityContext error, data 775, v3839"
	dataRE = regexp.MustCompile(`(?i)\bdata ([0-9a-f]+)\b`)
	// "0000052D: Constraint violation - ..." / "0000052D: SvcErr: DSID-031A1248, problem 5003 ..."
	hexRE = regexp.MustCompile(`^\s*([0-9A-Fa-f]{8}):`)
)

// parseDiagnostic extracts the Win32 error prefix and the "data" token of an
// AD diagnostic message. Only these tokens are used to classify errors, never
// the wording around them (Samba and Windows word things differently).
func parseDiagnostic(diag string) (hex, data string) {
	if m := hexRE.FindStringSubmatch(diag); m != nil {
		hex = strings.ToUpper(m[1])
	}
	if m := dataRE.FindStringSubmatch(diag); m != nil {
		data = strings.ToLower(m[1])
	}
	return hex, data
}

// opKind says what kind of operation produced an error, which changes how a
// bind failure is read.
type opKind int

const (
	opRead        opKind = iota // searches
	opServiceBind               // the configured bind account signing in
	opUserBind                  // a user's own credentials (Bind)
	opPassword                  // a password write or unlock
)

// classify turns any error from go-ldap, the network or the context into an
// *Error. It is a pure function of its inputs so that it can be tested on
// recorded diagnostics.
func classify(err error, op opKind) *Error {
	if err == nil {
		return nil
	}
	var already *Error
	if errors.As(err, &already) {
		return already
	}
	e := &Error{Err: err, Detail: err.Error()}
	var le *ldap.Error
	if errors.As(err, &le) && le.ResultCode < ldap.ErrorNetwork {
		e.Result = le.ResultCode
		diag := ""
		if le.Err != nil {
			diag = le.Err.Error()
		}
		e.Detail = diag
		e.Hex, e.Data = parseDiagnostic(diag)
		e.Kind, e.Message = classifyResult(e.Result, e.Hex, e.Data, op)
		return e
	}
	e.Kind = KindUnreachable
	e.Message = kindMessages[KindUnreachable]
	switch {
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		e.Message = "The directory did not answer in time."
	case errors.Is(err, context.Canceled):
		e.Message = "The directory operation was cancelled."
	case isCertError(err):
		e.Kind, e.Message = KindTLS, kindMessages[KindTLS]
	}
	return e
}

func classifyResult(result uint16, hex, data string, op opKind) (Kind, string) {
	switch result {
	case ldap.LDAPResultInvalidCredentials:
		if op == opServiceBind {
			return KindBindFailed, bindAccountMessage(data)
		}
		if d, ok := bindData[data]; ok {
			return d.kind, d.msg
		}
		return KindInvalidCredentials, kindMessages[KindInvalidCredentials]
	case ldap.LDAPResultStrongAuthRequired, ldap.LDAPResultConfidentialityRequired:
		return KindInsecure, "The directory requires an encrypted connection: use LDAPS (ldaps://) or StartTLS."
	case ldap.LDAPResultInsufficientAccessRights:
		return KindAccess, kindMessages[KindAccess]
	case ldap.LDAPResultNoSuchObject:
		return KindNotFound, kindMessages[KindNotFound]
	case ldap.LDAPResultUnavailableCriticalExtension:
		return KindUnsupported, kindMessages[KindUnsupported]
	case ldap.LDAPResultBusy, ldap.LDAPResultUnavailable, ldap.LDAPResultServerDown,
		ldap.LDAPResultTimeLimitExceeded, ldap.LDAPResultTimeout, ldap.LDAPResultConnectError:
		return KindUnreachable, kindMessages[KindUnreachable]
	}
	// Samba answers a password that breaks the policy with 19 (constraint
	// violation), Windows with 53 (unwilling to perform) or 19; both lead
	// with 0000052D (ERROR_PASSWORD_RESTRICTION).
	if hex == "0000052D" {
		return KindPolicy, kindMessages[KindPolicy]
	}
	if op == opPassword {
		switch hex {
		case "00000005": // ERROR_ACCESS_DENIED
			return KindAccess, kindMessages[KindAccess]
		case "0000001F": // Windows refuses unicodePwd over an unencrypted connection this way
			return KindInsecure, kindMessages[KindInsecure]
		}
	}
	return KindUnknown, kindMessages[KindUnknown]
}

func bindAccountMessage(data string) string {
	switch data {
	case "775":
		return "The bind account is locked out."
	case "533":
		return "The bind account is disabled."
	case "532", "773":
		return "The bind account's password has expired or must be changed."
	case "701":
		return "The bind account has expired."
	}
	return "The directory refused the bind account's user name or password."
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func isCertError(err error) bool {
	var (
		unknown  x509.UnknownAuthorityError
		invalid  x509.CertificateInvalidError
		hostname x509.HostnameError
		verify   *tls.CertificateVerificationError
	)
	return errors.As(err, &unknown) || errors.As(err, &invalid) || errors.As(err, &hostname) ||
		errors.As(err, &verify)
}

func newError(kind Kind, msg string) *Error {
	if msg == "" {
		msg = kindMessages[kind]
	}
	return &Error{Kind: kind, Message: msg}
}

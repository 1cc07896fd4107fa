// Package apperr defines the application's error codes. Service methods return
// *Error values (or wrap them) so that the web layer can map a failure to an
// HTTP status and a message that is safe to show, without parsing strings.
package apperr

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Code is a machine-readable error class.
type Code string

// Error codes. Each maps to one HTTP status in the web layer.
const (
	Invalid      Code = "invalid"      // 422: the input is wrong; Message says why
	NotFound     Code = "not_found"    // 404
	Forbidden    Code = "forbidden"    // 403
	Unauthorized Code = "unauthorized" // 401: not signed in
	Conflict     Code = "conflict"     // 409: the state does not allow it
	RateLimited  Code = "rate_limited" // 429
	Unavailable  Code = "unavailable"  // 503: a dependency (the database) is away
	Internal     Code = "internal"     // 500: never shown in detail
)

// Error is an application error with a code, a message safe to show to the
// user, optional per-field messages, and an optional wrapped cause.
type Error struct {
	Code    Code
	Message string
	Fields  map[string]string
	Err     error
}

// Error implements the error interface.
func (e *Error) Error() string {
	switch {
	case e.Err != nil && e.Message != "":
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	case e.Err != nil:
		return fmt.Sprintf("%s: %v", e.Code, e.Err)
	default:
		return fmt.Sprintf("%s: %s", e.Code, e.Message)
	}
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// New returns an error with the code and a user-facing message.
func New(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an error with the code and message that wraps err.
func Wrap(code Code, err error, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Err: err}
}

// Field returns an Invalid error for one form field.
func Field(field, message string) *Error {
	return &Error{Code: Invalid, Message: message, Fields: map[string]string{field: message}}
}

// Fields collects per-field validation messages. The zero value is ready to use.
type Fields map[string]string

// PlainText reports whether s is text that can be stored and shown as it
// is: valid UTF-8 with no control character (NUL, escape, line breaks…)
// other than those in allowed (e.g. "\n\t" for a multi-line field). A NUL
// in particular makes PostgreSQL refuse the statement, which would be a 500.
func PlainText(s, allowed string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsControl(r) && !strings.ContainsRune(allowed, r)
	})
}

// Add records a message for a field unless it already has one.
func (f *Fields) Add(field, message string) {
	if *f == nil {
		*f = map[string]string{}
	}
	if _, ok := (*f)[field]; !ok {
		(*f)[field] = message
	}
}

// Err returns an Invalid error carrying the fields, or nil when there are none.
func (f Fields) Err() error {
	if len(f) == 0 {
		return nil
	}
	return &Error{Code: Invalid, Message: "Please correct the highlighted fields.", Fields: f}
}

// CodeOf returns the code of the first *Error in err's chain, Internal for any
// other non-nil error, and "" for nil.
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// MessageOf returns the user-facing message of err's *Error, or a generic one.
func MessageOf(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Message != "" && e.Code != Internal {
		return e.Message
	}
	return "Something went wrong on our side. Please try again; if it keeps happening, check the server log."
}

// FieldsOf returns per-field messages carried by err, or nil.
func FieldsOf(err error) map[string]string {
	var e *Error
	if errors.As(err, &e) {
		return e.Fields
	}
	return nil
}

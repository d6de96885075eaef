package sekisho

import (
	"errors"
	"fmt"
	"time"
)

// Kind classifies an error for its caller: the HTTP layer maps each kind to
// one status, in one place. Codes (below) are finer and go to API clients.
type Kind int

const (
	KindInternal     Kind = iota // a bug or an unavailable dependency; never shown
	KindInvalid                  // bad input
	KindUnauthorized             // not signed in, or wrong credentials
	KindForbidden                // signed in, but not allowed
	KindNotFound                 // does not exist, or not visible to the caller
	KindConflict                 // the current state forbids it
	KindThrottled                // too many attempts; see Error.RetryAfter
	KindUnavailable              // the database is out of reach for now; see Error.RetryAfter
)

// Error is the one error type of sekisho's domain. Code is a stable
// snake_case identifier for API clients; Message is safe to show to users.
type Error struct {
	Kind       Kind
	Code       string
	Message    string
	Field      string        // the input field at fault, when there is one
	RetryAfter time.Duration // with KindThrottled and KindUnavailable
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf returns an *Error of the given kind and code.
func Errorf(kind Kind, code, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid reports bad input in one field.
func Invalid(field, code, format string, args ...any) *Error {
	e := Errorf(KindInvalid, code, format, args...)
	e.Field = field
	return e
}

// Throttled reports that the caller must wait before trying again. The
// message is the same whatever was throttled, so it reveals nothing.
func Throttled(retryAfter time.Duration) *Error {
	return &Error{Kind: KindThrottled, Code: "too_many_attempts",
		Message: "Too many attempts. Try again later.", RetryAfter: retryAfter}
}

// Errors used in more than one place.
var (
	ErrNotFound           = Errorf(KindNotFound, "not_found", "Not found.")
	ErrUnauthenticated    = Errorf(KindUnauthorized, "unauthenticated", "Sign in first.")
	ErrInvalidCredentials = Errorf(KindUnauthorized, "invalid_credentials", "The email or password is incorrect.")
	ErrInvalidCode        = Errorf(KindUnauthorized, "invalid_code", "The code is incorrect or has already been used.")
	ErrInvalidFlow        = Errorf(KindUnauthorized, "invalid_flow", "This sign-in has expired. Start again.")
	ErrInvalidToken       = Errorf(KindNotFound, "invalid_token", "This link is invalid or has expired.")
	ErrForbidden          = Errorf(KindForbidden, "forbidden", "You are not allowed to do this.")
	ErrReauthRequired     = Errorf(KindForbidden, "reauthentication_required", "Confirm your password or a code to continue.")
	ErrAAL2Required       = Errorf(KindForbidden, "mfa_session_required", "Sign in with your second factor to do this.")
	ErrLastAdmin          = Errorf(KindConflict, "last_workspace_admin", "A workspace must keep at least one active workspace admin.")
	ErrUnavailable        = &Error{Kind: KindUnavailable, Code: "service_unavailable",
		Message: "The service is busy. Try again in a moment.", RetryAfter: time.Second}
)

// KindOf returns the kind of err, KindInternal for errors that are not *Error.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// CodeOf returns the code of err, or "" for errors that are not *Error.
func CodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// Package keyplane holds the domain vocabulary shared by every part of the
// service: the application error type with its canonical codes, and the rules
// for resource names.
package keyplane

import (
	"errors"
	"fmt"
)

// Code is a canonical error code, named after the google.rpc.Code values that
// the Apigee API reports.
type Code string

// The canonical codes keyplane reports. Anything that is not an *Error is
// reported as Internal and its details are logged, never shown.
const (
	InvalidArgument    Code = "INVALID_ARGUMENT"
	FailedPrecondition Code = "FAILED_PRECONDITION"
	Unauthenticated    Code = "UNAUTHENTICATED"
	PermissionDenied   Code = "PERMISSION_DENIED"
	NotFound           Code = "NOT_FOUND"
	AlreadyExists      Code = "ALREADY_EXISTS"
	ResourceExhausted  Code = "RESOURCE_EXHAUSTED"
	RequestTooLarge    Code = "REQUEST_TOO_LARGE"
	Internal           Code = "INTERNAL"
	Unavailable        Code = "UNAVAILABLE"
)

// Error is an application error: a canonical code and a message that is safe
// to show to the caller.
type Error struct {
	Code    Code
	Message string
}

// Error implements the error interface.
func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, or Internal
// when there is none. A nil error has no code.
func ErrorCode(err error) Code {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	default:
		return Internal
	}
}

// ErrorMessage returns the user-facing message of the first *Error in err's
// chain, or "internal error" when there is none, so that details of
// unexpected failures never reach a caller.
func ErrorMessage(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Message
	default:
		return "internal error"
	}
}

// GRPCCode returns the google.rpc.Code number of a canonical code, as
// long-running operations report it in error.code.
func GRPCCode(c Code) int {
	switch c {
	case InvalidArgument:
		return 3
	case NotFound:
		return 5
	case AlreadyExists:
		return 6
	case PermissionDenied:
		return 7
	case ResourceExhausted, RequestTooLarge:
		return 8
	case FailedPrecondition:
		return 9
	case Unavailable:
		return 14
	case Unauthenticated:
		return 16
	default:
		return 13
	}
}

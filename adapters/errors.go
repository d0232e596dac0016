package adapters

import (
	"errors"
	"fmt"
	"time"
)

// ErrBadSignature is returned by ParseWebhook when the signature is missing or wrong.
// Callers answer 401 with a generic message; the expected value never leaves the process.
var ErrBadSignature = errors.New("bad signature")

// ErrMalformed is returned (wrapped with detail) by ParseWebhook for a payload that does
// not parse as the carrier's format.
var ErrMalformed = errors.New("malformed payload")

// RetryableError is a send failure worth another attempt: network errors, 5xx, 429 and
// throttling codes. RetryAfter, when set, is the least wait the carrier asked for.
type RetryableError struct {
	Code       string // the carrier's code, when it gave one
	Message    string
	RetryAfter time.Duration
	Err        error
}

func (e *RetryableError) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("retryable: %s (code %s)", e.Message, e.Code)
	}
	return "retryable: " + e.Message
}

func (e *RetryableError) Unwrap() error { return e.Err }

// PermanentError is a send failure that no retry will fix (an invalid number, an opted-out
// recipient, a closed window on the carrier's side). Code is the carrier's code, kept on
// the message.
type PermanentError struct {
	Code    string
	Message string
	Err     error
}

func (e *PermanentError) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("permanent: %s (code %s)", e.Message, e.Code)
	}
	return "permanent: " + e.Message
}

func (e *PermanentError) Unwrap() error { return e.Err }

// PolicyDeniedError is a send refused by omnigate's own policy before reaching a carrier.
type PolicyDeniedError struct {
	Rule   string
	Reason string
}

func (e *PolicyDeniedError) Error() string { return "policy denied: " + e.Rule + ": " + e.Reason }

// Retryable wraps err as a RetryableError.
func Retryable(code, msg string, retryAfter time.Duration, err error) error {
	return &RetryableError{Code: code, Message: msg, RetryAfter: retryAfter, Err: err}
}

// Permanent wraps err as a PermanentError.
func Permanent(code, msg string, err error) error {
	return &PermanentError{Code: code, Message: msg, Err: err}
}

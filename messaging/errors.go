package messaging

import (
	"errors"

	"github.com/omnigate/omnigate/adapters"
	"github.com/omnigate/omnigate/policy"
)

// Kind says what sort of refusal an Error is. Callers choose their answer by kind (the
// API maps each to an HTTP status in one table); the Code says which refusal it is.
type Kind int

// Kinds of refusal.
const (
	// KindInvalid: the request is malformed (a field is missing or wrong); Details
	// "fields" lists every problem.
	KindInvalid Kind = iota + 1
	// KindForbidden: the caller may not do this.
	KindForbidden
	// KindNotFound: what the request names does not exist, or the caller may not see it.
	KindNotFound
	// KindConflict: the request is valid but the state of things refuses it now (a
	// conversation held by another agent, a request still in flight).
	KindConflict
	// KindUnprocessable: the request is well-formed but cannot be done as asked (a
	// queue without an address on the channel, a carrier without the feature).
	KindUnprocessable
	// KindDenied: the policy refused the message; the error wraps the
	// *adapters.PolicyDeniedError, and the recipient's Result carries the decision.
	KindDenied
	// KindUnavailable: a carrier did not take what it was asked to do; try again later.
	KindUnavailable
	// KindGone: what the request names existed but is gone for good (an expired story
	// mention, media the carrier deleted).
	KindGone
)

// String names the kind.
func (k Kind) String() string {
	switch k {
	case KindInvalid:
		return "invalid"
	case KindForbidden:
		return "forbidden"
	case KindNotFound:
		return "not_found"
	case KindConflict:
		return "conflict"
	case KindUnprocessable:
		return "unprocessable"
	case KindDenied:
		return "denied"
	case KindUnavailable:
		return "unavailable"
	case KindGone:
		return "gone"
	}
	return "unknown"
}

// Error is a refusal: a kind for the caller to act on, a stable code and a message for
// people, and details that help fix the request. It never carries secrets.
type Error struct {
	Kind    Kind           `json:"-"`
	Code    string         `json:"code"`
	Message string         `json:"message"`
	Details map[string]any `json:"-"`
	// Err is the cause, when there is one worth matching with errors.As (a policy
	// denial is always an *adapters.PolicyDeniedError).
	Err error `json:"-"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

func refuse(kind Kind, code, msg string, details map[string]any) *Error {
	return &Error{Kind: kind, Code: code, Message: msg, Details: details}
}

// denied is the refusal for a policy decision that did not allow the message. The one
// way omnigate says "denied" is *adapters.PolicyDeniedError: here at send time, and in
// the relay when the recheck before an attempt refuses.
func denied(d policy.Decision) *Error {
	return &Error{Kind: KindDenied, Code: "policy_denied", Message: d.Reason, Details: map[string]any{"rule": d.Rule},
		Err: &adapters.PolicyDeniedError{Rule: d.Rule, Reason: d.Reason}}
}

// FieldProblem is one bad field of a request.
type FieldProblem struct {
	Field   string `json:"field"`
	Problem string `json:"problem"`
}

// invalid is a KindInvalid refusal listing the fields at fault.
func invalid(code, msg string, problems ...FieldProblem) *Error {
	var details map[string]any
	if len(problems) > 0 {
		details = map[string]any{"fields": problems}
	}
	return refuse(KindInvalid, code, msg, details)
}

// KindOf returns err's kind, or 0 when err is not a refusal.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}

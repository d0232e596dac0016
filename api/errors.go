package api

import (
	"net/http"

	"github.com/omnigate/omnigate/messaging"
)

// answer is how a kind of refusal is answered over HTTP.
type answer struct {
	status int
	code   string // when the refusal names no code of its own
}

// kinds is the one table from a refusal's kind to its HTTP status. messaging decides
// what is refused and why; only this table knows about HTTP.
var kinds = map[messaging.Kind]answer{
	messaging.KindInvalid:       {http.StatusBadRequest, "invalid_request"},
	messaging.KindForbidden:     {http.StatusForbidden, "forbidden"},
	messaging.KindNotFound:      {http.StatusNotFound, "not_found"},
	messaging.KindConflict:      {http.StatusConflict, "conflict"},
	messaging.KindUnprocessable: {http.StatusUnprocessableEntity, "unprocessable"},
	messaging.KindDenied:        {http.StatusUnprocessableEntity, "policy_denied"},
	messaging.KindUnavailable:   {http.StatusBadGateway, "unavailable"},
	messaging.KindGone:          {http.StatusGone, "gone"},
}

// httpError returns the status and code that answer e. A kind missing from the table
// is a programming error, answered as 500 so that it shows.
func httpError(e *messaging.Error) (int, string) {
	a, ok := kinds[e.Kind]
	if !ok {
		return http.StatusInternalServerError, "internal"
	}
	code := e.Code
	if code == "" {
		code = a.code
	}
	return a.status, code
}

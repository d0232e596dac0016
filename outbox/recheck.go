package outbox

import (
	"context"
	"time"

	"github.com/omnigate/omnigate/adapters"
	"github.com/omnigate/omnigate/store"
)

// Verdict is the outcome of re-checking a message's time-based rules just before an
// attempt.
type Verdict struct {
	Allow  bool
	Tag    string // the carrier tag valid now (may differ from the one decided at enqueue)
	Rule   string // for a denial: "policy_expired"
	Reason string
}

// Recheck re-checks an outbound message's time-based policy just before its attempt,
// on the business clock now: a message that waited past its window is refused with
// *adapters.PolicyDeniedError and never reaches the carrier; an allowed one goes out
// with the tag valid now. A nil check allows everything.
func Recheck(check func(e store.Entry, now time.Time) Verdict, now func() time.Time) Wrapper {
	return func(next Sender) Sender {
		return SenderFunc(func(ctx context.Context, e store.Entry) (adapters.Receipt, error) {
			if check == nil || e.Message == nil {
				return next.Send(ctx, e)
			}
			v := check(e, now())
			if !v.Allow {
				return adapters.Receipt{}, &adapters.PolicyDeniedError{Rule: v.Rule, Reason: v.Reason}
			}
			m := *e.Message
			m.Tag = v.Tag
			e.Message = &m
			return next.Send(ctx, e)
		})
	}
}

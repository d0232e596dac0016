package outbox

import (
	"errors"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/adapters"
	"github.com/omnigate/omnigate/events"
	"github.com/omnigate/omnigate/store"
)

// result turns one attempt's receipt or error into what the store records: done, a
// retry after backoff, a failed message, or a dead letter, with the platform events of
// the message's new status.
func (r *Relay) result(e store.Entry, rc adapters.Receipt, err error) store.Result {
	res := store.Result{EntryID: e.ID, Token: e.LeaseToken}
	m := e.Message
	if e.Kind == store.KindDeliver && m != nil {
		res.MessageID, res.Channel = m.ID, m.Channel
	}
	if err != nil {
		res.Error = err.Error()
	}
	now := r.cfg.Now()
	var re *adapters.RetryableError
	var pe *adapters.PermanentError
	var de *adapters.PolicyDeniedError
	switch {
	case err == nil:
		res.Outcome = store.Done
		if res.MessageID != "" {
			res.Status = rc.Status
			if res.Status == "" || res.Status.Rank() < omnigate.StatusSent.Rank() {
				res.Status = omnigate.StatusSent
			}
			res.ProviderMessageID = rc.ProviderMessageID
			r.statusEvent(&res, *m, now)
			res.ReceiptEvent = r.receiptEvent(*m, rc.ProviderMessageID)
		}
	case errors.Is(err, errMessageGone), errors.Is(err, ErrAlreadyAccepted):
		res.Outcome = store.Done
	case errors.As(err, &de):
		res.Outcome, res.Status = store.Done, omnigate.StatusFailed
		res.ErrorCode, res.ErrorMessage = de.Rule, de.Reason
		r.statusEvent(&res, *m, now)
		r.cfg.Log.Info("outbox: message expired before it could be sent", "message", e.MessageID, "rule", de.Rule)
	case breakerOpen(err):
		// The carrier is known to be down: wait without spending an attempt.
		res.Outcome, res.NoAttempt = store.Retry, true
		res.RetryAt = now.Add(r.cfg.InitialBackoff + time.Duration(e.ID%1000)*time.Millisecond)
		r.requeue(&res, "", "")
	case errors.As(err, &pe) && res.MessageID != "":
		res.Outcome, res.Status = store.Done, omnigate.StatusFailed
		res.ErrorCode, res.ErrorMessage = pe.Code, pe.Message
		r.statusEvent(&res, *m, now)
		r.cfg.Log.Warn("outbox: the carrier refused the message for good", "entry", e.ID, "message", e.MessageID,
			"channel", string(m.Channel), "code", pe.Code, "reason", pe.Message)
	case errors.As(err, &pe):
		// A platform that refuses an event (a rotated secret, a wrong URL) will refuse
		// every retry too; keep the event as a dead letter to replay once it is fixed.
		res.Outcome = store.Dead
		r.cfg.Log.Warn("outbox: the platform refused an event; kept as a dead letter", "entry", e.ID, "code", pe.Code)
	default:
		code, msg := "", err.Error()
		var wait time.Duration
		if errors.As(err, &re) {
			code, msg, wait = re.Code, re.Message, re.RetryAfter
		}
		if e.Attempts >= r.cfg.MaxAttempts {
			res.Outcome = store.Dead
			if res.MessageID != "" {
				res.Status, res.ErrorCode, res.ErrorMessage = omnigate.StatusFailed, code, msg
				r.statusEvent(&res, *m, now)
			}
			r.cfg.Log.Warn("outbox: attempts exhausted; moved to dead letters", "entry", e.ID, "message", e.MessageID, "attempts", e.Attempts)
			return res
		}
		res.Outcome = store.Retry
		res.RetryAt = now.Add(max(r.backoffFor(e.Attempts), wait))
		r.requeue(&res, code, msg)
		r.cfg.Log.Debug("outbox: attempt failed; will retry", "entry", e.ID, "message", e.MessageID, "attempt", e.Attempts, "retry_at", res.RetryAt, "err", err)
	}
	return res
}

// requeue puts a message back to queued for its next attempt.
func (r *Relay) requeue(res *store.Result, code, msg string) {
	if res.MessageID != "" {
		res.Status, res.ErrorCode, res.ErrorMessage = omnigate.StatusQueued, code, msg
	}
}

// giveBack is the result for a row claimed but never attempted: it is due again now,
// with its attempt given back.
func (r *Relay) giveBack(e store.Entry) store.Result {
	res := store.Result{EntryID: e.ID, Token: e.LeaseToken, Outcome: store.Retry, NoAttempt: true, RetryAt: r.cfg.Now(),
		Error: "not attempted: handed back"}
	if e.Kind == store.KindDeliver && e.Message != nil {
		res.MessageID, res.Channel = e.Message.ID, e.Message.Channel
		res.Status = omnigate.StatusQueued
	}
	return res
}

// backoffFor returns the delay before attempt n+1 (n >= 1), with jitter.
func (r *Relay) backoffFor(n int) time.Duration {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = r.cfg.InitialBackoff
	b.MaxInterval = r.cfg.MaxBackoff
	b.Multiplier = 2
	b.RandomizationFactor = 0.5
	b.MaxElapsedTime = 0
	b.Reset()
	d := b.NextBackOff()
	for i := 1; i < n; i++ {
		d = b.NextBackOff()
	}
	return d
}

// statusEvent adds the platform event for the message's new status to res; the store
// enqueues it only if the status really changes.
func (r *Relay) statusEvent(res *store.Result, m omnigate.Message, now time.Time) {
	if r.cfg.Events == nil {
		return
	}
	m.Status, m.ErrorCode, m.ErrorMessage = res.Status, res.ErrorCode, res.ErrorMessage
	if res.ProviderMessageID != "" {
		m.ProviderMessageID = res.ProviderMessageID
	}
	ev, err := events.Entry(events.TypeMessageStatus, m.ConversationID, events.Message(m), now)
	if err != nil {
		r.cfg.Log.Error("outbox: building status event", "err", err)
		return
	}
	res.Events = append(res.Events, ev)
}

// receiptEvent builds the events of receipts that overtook the relay's commit.
func (r *Relay) receiptEvent(m omnigate.Message, providerID string) func(omnigate.MessageStatus, string, string) (store.NewEntry, error) {
	return func(st omnigate.MessageStatus, code, msg string) (store.NewEntry, error) {
		if r.cfg.Events == nil {
			return store.NewEntry{}, nil // no platform: the relay only counts the status
		}
		m.Status, m.ProviderMessageID = st, providerID
		if code != "" || msg != "" {
			m.ErrorCode, m.ErrorMessage = code, msg
		}
		return events.Entry(events.TypeMessageStatus, m.ConversationID, events.Message(m), r.cfg.Now())
	}
}

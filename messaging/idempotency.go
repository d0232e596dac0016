package messaging

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"

	"github.com/omnigate/omnigate/store"
)

// Idempotency refusals: the key was used with another request, or its first request
// is still being processed.
var (
	ErrIdempotencyReused = &Error{Kind: KindUnprocessable, Code: "idempotency_key_reused",
		Message: "this Idempotency-Key was used with a different body"}
	ErrIdempotencyInFlight = &Error{Kind: KindConflict, Code: "idempotency_in_flight",
		Message: "a request with this Idempotency-Key is still being processed"}
)

// MaxIdempotencyKey is the longest Idempotency-Key accepted, in bytes.
const MaxIdempotencyKey = 255

// idempotencyStale: a pending key whose request died is taken over after this.
const idempotencyStale = 2 * time.Minute

// Answer is the caller's rendering of a send's results (for the API, the HTTP status
// and body). SendOnce stores it with the Idempotency-Key, in the transaction that
// writes the messages, and gives it back verbatim when the key is used again.
type Answer struct {
	Code int
	Body []byte
}

// IdempotencyKey names one logical send of a principal. Fingerprint is the request
// as the caller received it: the same key with another fingerprint is refused.
type IdempotencyKey struct {
	Key         string
	Fingerprint []byte
}

// SendOnce is Send under an idempotency key. The first request with the key sends and
// stores render's answer with the messages it reports; a repeat within IdempotencyTTL
// with the same fingerprint returns that answer (replayed true) and sends nothing. It
// refuses with ErrIdempotencyReused when the fingerprint differs and with
// ErrIdempotencyInFlight while the first request is still running. When the send
// fails, the key is freed so that the caller can try again.
func (s *Service) SendOnce(ctx context.Context, req SendRequest, k IdempotencyKey, render func([]Result) Answer) (ans Answer, replayed bool, err error) {
	if len(k.Key) > MaxIdempotencyKey {
		return Answer{}, false, invalid("invalid_request", "Idempotency-Key is limited to 255 characters",
			FieldProblem{"Idempotency-Key", "longer than 255 characters"})
	}
	v, err := s.prepare(ctx, req)
	if err != nil {
		return Answer{}, false, err
	}
	p := req.Principal
	sum := sha256.Sum256(k.Fingerprint)
	hash := hex.EncodeToString(sum[:])
	var replay *store.Idempotency
	err = s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		replay = nil
		now := s.cfg.Now().UTC()
		rec, err := tx.Idempotency(p.ID, k.Key, now.Add(-IdempotencyTTL))
		if err == nil {
			if rec.BodyHash != hash {
				return ErrIdempotencyReused
			}
			if rec.Done {
				replay = &rec
				return nil
			}
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		owned, err := tx.BeginIdempotency(store.IdempotencyBegin{PrincipalID: p.ID, Key: k.Key, BodyHash: hash, Now: now,
			Expired: now.Add(-IdempotencyTTL), Stale: now.Add(-idempotencyStale)})
		if err != nil {
			return err
		}
		if !owned {
			return ErrIdempotencyInFlight
		}
		return nil
	})
	if err != nil {
		return Answer{}, false, err
	}
	if replay != nil {
		return Answer{Code: replay.Code, Body: replay.Response}, true, nil
	}
	_, err = s.send(ctx, v, false, func(tx store.Tx, results []Result) error {
		ans = render(results)
		return tx.FinishIdempotency(p.ID, k.Key, ans.Code, ans.Body)
	})
	if err != nil {
		// Nothing was written; free the key so the caller can try again.
		if derr := s.cfg.Store.Update(context.WithoutCancel(ctx), func(tx store.Tx) error { return tx.DropIdempotency(p.ID, k.Key) }); derr != nil {
			s.cfg.Log.Warn("messaging: freeing an Idempotency-Key after a failed send", "err", derr)
		}
		return Answer{}, false, err
	}
	return ans, false, nil
}

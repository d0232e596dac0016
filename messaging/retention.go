package messaging

import (
	"context"
	"time"

	"github.com/omnigate/omnigate/store"
)

// Retention windows for what only serves dedupe and replays. Message content and
// conversations are kept as long as Config.Retention says.
const (
	// IdempotencyTTL is how long an Idempotency-Key is remembered: a repeat within it
	// gets the first response.
	IdempotencyTTL = 24 * time.Hour
	// InboundDedupeTTL is how long a carrier's message id is remembered, so a retried
	// webhook is stored once. Carriers give up retrying well within it (Meta after
	// about a day, Twilio within hours).
	InboundDedupeTTL = 7 * 24 * time.Hour
	// HeldReceiptTTL is how long a receipt naming a carrier id no message carries is
	// kept. The relay records its carrier ids within seconds; a receipt still held a
	// day later belongs to a message sent outside omnigate.
	HeldReceiptTTL = 24 * time.Hour
)

// Retention says how long message content and conversations are kept; zero keeps
// them forever.
type Retention struct {
	// MessageBodies: after this, a message's text, media references and template
	// variables are blanked and it stays as a tombstone (counts and threads hold).
	MessageBodies time.Duration
	// Conversations: a conversation inactive this long is deleted with its messages.
	Conversations time.Duration
}

// Prune deletes dedupe keys, idempotency records and held receipts past their
// retention, tombstones message bodies and deletes conversations past Config.Retention,
// in small batches, and returns how many rows went.
func (s *Service) Prune(ctx context.Context) (int, error) {
	now := s.cfg.Now()
	p := store.Prune{InboundSeenBefore: now.Add(-InboundDedupeTTL),
		IdempotencyBefore: now.Add(-IdempotencyTTL), ReceiptsBefore: now.Add(-HeldReceiptTTL), Now: now, Limit: 1000}
	if r := s.cfg.Retention.MessageBodies; r > 0 {
		p.BodiesBefore = now.Add(-r)
	}
	if r := s.cfg.Retention.Conversations; r > 0 {
		p.ConversationsBefore = now.Add(-r)
	}
	return s.cfg.Store.Prune(ctx, p)
}

// RunJanitor prunes now and then every interval until ctx ends. Instances sharing a
// database may all run it: deleting what is already gone is harmless.
func (s *Service) RunJanitor(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		n, err := s.Prune(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			s.cfg.Log.Warn("pruning expired dedupe keys failed; will try again", "err", err)
		case n > 0:
			s.cfg.Log.Info("pruned expired dedupe keys, idempotency records, held receipts and content past its retention", "rows", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

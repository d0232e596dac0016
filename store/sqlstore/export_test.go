package sqlstore

import (
	"context"

	"github.com/omnigate/omnigate/store"
)

// CommitBatch runs fns as one group-commit batch, in order, and returns each call's
// error: tests choose a batch's make-up, which concurrent Update calls cannot.
func (db *DB) CommitBatch(fns ...func(store.Tx) error) []error {
	batch := make([]*pending, len(fns))
	for i, fn := range fns {
		batch[i] = &pending{ctx: context.Background(), fn: fn, done: make(chan error, 1)}
	}
	db.commitBatch(batch)
	errs := make([]error, len(fns))
	for i, p := range batch {
		errs[i] = <-p.done
	}
	return errs
}

// MigrateDownTo rolls the schema back to version.
func (db *DB) MigrateDownTo(ctx context.Context, version int64) error {
	p, err := db.provider()
	if err != nil {
		return err
	}
	_, err = p.DownTo(ctx, version)
	return err
}

// EnqueueOutbox puts es in the outbox whatever their kind, as an event log dispatcher's
// spill puts events there: tests of the outbox's own rows need rows with no message.
func (db *DB) EnqueueOutbox(ctx context.Context, es ...store.NewEntry) error {
	return db.Update(ctx, func(stx store.Tx) error { return stx.(*tx).enqueueOutbox(es) })
}

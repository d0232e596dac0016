package messaging

import (
	"context"
	"errors"
	"strconv"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/store"
)

// OutboxRow is an outbox row as operators see it.
type OutboxRow = store.OutboxRow

// Outbox row statuses an operator can list.
const (
	OutboxDead    = store.OutboxDead
	OutboxPending = store.OutboxPending
)

// OutboxPage is one page of outbox rows; Next is the cursor of the next page, empty on
// the last.
type OutboxPage struct {
	Rows []OutboxRow
	Next string
}

// Outbox lists outbox rows with status (OutboxDead when empty) after the cursor,
// oldest first. Only an admin may.
func (s *Service) Outbox(ctx context.Context, p omnigate.Principal, status, after string, limit int) (OutboxPage, error) {
	if !p.Can(omnigate.PermAdmin) {
		return OutboxPage{}, forbidden(omnigate.PermAdmin)
	}
	if status == "" {
		status = OutboxDead
	}
	if status != OutboxDead && status != OutboxPending {
		return OutboxPage{}, invalid("invalid_request", "status must be dead or pending", FieldProblem{"status", "must be dead or pending"})
	}
	from, _ := strconv.ParseInt(after, 10, 64) // a cursor that is not ours starts at the beginning
	rows, err := s.cfg.Store.Outbox(ctx, status, from, limit+1)
	if err != nil {
		return OutboxPage{}, err
	}
	page := OutboxPage{Rows: rows}
	if len(rows) > limit {
		page.Rows = rows[:limit]
		page.Next = strconv.FormatInt(rows[limit-1].ID, 10)
	}
	return page, nil
}

// Replay makes dead letter id pending again, due now, with its attempts reset. Only an
// admin may; an id that names no dead letter is not found.
func (s *Service) Replay(ctx context.Context, p omnigate.Principal, id string) (int64, error) {
	if !p.Can(omnigate.PermAdmin) {
		return 0, forbidden(omnigate.PermAdmin)
	}
	notFound := refuse(KindNotFound, "entry_not_found", "no dead letter with this id", nil)
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return 0, notFound
	}
	if err := s.cfg.Store.RetryDead(ctx, n, s.cfg.Now().UTC()); errors.Is(err, store.ErrNotFound) {
		return 0, notFound
	} else if err != nil {
		return 0, err
	}
	return n, nil
}

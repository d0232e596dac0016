package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/store"
)

// queries holds the statements rebound for the dialect once, at open.
type queries struct {
	contact, upsertContact, optOut, optIn, optOuts                        string
	latestConv, conv, insertConv, updateConv                              string
	insertMsg, msg, msgByProvider, setStatus, setProvider, markDeleted    string
	outboundBefore, queuedOfConv, cancelMsg, deleteOutboxByMsg            string
	holdReceipt, heldReceipts, dropReceipts                               string
	enqueue, seen, idem, idemBegin, idemFinish, idemDrop                  string
	claim, claimedMsgs, markSending                                       string
	completeDone, completeRetry, completeDead, msgResult, msgRequeue      string
	release, nextDue, outboxList, retryDead, retryDeadMsg, statsPending   string
	statsDead, statsOldest, convMsgs, convsOfContact, contacts, queueStat string
}

const msgCols = `id, conversation_id, direction, channel, queue_id, from_address, to_address, body,
	template, media, sender, principal_id, tag, status, attempts, provider_message_id,
	error_code, error_message, deleted, created_at, updated_at`

const convCols = `id, channel, queue_id, address, contact_address, contact_name, state, assigned_to,
	opened_at, last_inbound_at, last_activity_at, replies_since_inbound, wrapup_code, wrapup_notes`

func buildQueries(d dialect) queries {
	r := d.rebind
	return queries{
		contact: r(`SELECT channel, address, name, updated_at FROM contacts WHERE channel = ? AND address = ?`),
		upsertContact: r(`INSERT INTO contacts (channel, address, name, name_lower, updated_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (channel, address) DO UPDATE SET
			name = CASE WHEN excluded.name <> '' THEN excluded.name ELSE contacts.name END,
			name_lower = CASE WHEN excluded.name <> '' THEN excluded.name_lower ELSE contacts.name_lower END,
			updated_at = excluded.updated_at`),
		optOut: r(`INSERT INTO opt_outs (channel, contact_address, our_address, created_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (channel, contact_address, our_address) DO NOTHING`),
		optIn:   r(`DELETE FROM opt_outs WHERE channel = ? AND contact_address = ? AND our_address = ?`),
		optOuts: r(`SELECT our_address FROM opt_outs WHERE channel = ? AND contact_address = ? ORDER BY our_address`),

		latestConv: r(`SELECT ` + convCols + ` FROM conversations WHERE channel = ? AND address = ? AND contact_address = ?
			ORDER BY last_activity_at DESC, opened_at DESC LIMIT 1`),
		conv:       r(`SELECT ` + convCols + ` FROM conversations WHERE id = ?`),
		insertConv: r(`INSERT INTO conversations (` + convCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		updateConv: r(`UPDATE conversations SET queue_id = ?, contact_name = ?, state = ?, assigned_to = ?,
			last_inbound_at = ?, last_activity_at = ?, replies_since_inbound = ?, wrapup_code = ?, wrapup_notes = ? WHERE id = ?`),

		insertMsg:     r(`INSERT INTO messages (` + msgCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		msg:           r(`SELECT ` + msgCols + ` FROM messages WHERE id = ?`),
		msgByProvider: r(`SELECT ` + msgCols + ` FROM messages WHERE channel = ? AND provider_message_id = ? AND provider_message_id <> '' ORDER BY created_at LIMIT 1`),
		setStatus:     r(`UPDATE messages SET status = ?, error_code = ?, error_message = ?, updated_at = ? WHERE id = ?`),
		setProvider:   r(`UPDATE messages SET provider_message_id = ? WHERE id = ?`),
		markDeleted:   r(`UPDATE messages SET body = '', media = '', deleted = 1, updated_at = ? WHERE id = ?`),
		outboundBefore: r(`SELECT ` + msgCols + ` FROM messages WHERE conversation_id = ? AND direction = 'outbound'
			AND created_at <= ? ORDER BY created_at`),
		queuedOfConv:      r(`SELECT id FROM messages WHERE conversation_id = ? AND direction = 'outbound' AND status = 'queued' AND (? = '' OR principal_id = ?)`),
		cancelMsg:         r(`UPDATE messages SET status = 'canceled', updated_at = ? WHERE id = ? AND status = 'queued'`),
		deleteOutboxByMsg: r(`DELETE FROM outbox WHERE message_id = ? AND status = 'pending' AND lease_token = ''`),

		holdReceipt: r(`INSERT INTO early_receipts (channel, provider_message_id, status, error_code, error_message, received_at)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (channel, provider_message_id, status) DO NOTHING`),
		heldReceipts: r(`SELECT status, error_code, error_message FROM early_receipts WHERE channel = ? AND provider_message_id = ?`),
		dropReceipts: r(`DELETE FROM early_receipts WHERE channel = ? AND provider_message_id = ?`),
		enqueue:      r(`INSERT INTO outbox (kind, fifo_key, message_id, payload, due_at, created_at) VALUES (?, ?, ?, ?, ?, ?)`),
		seen: r(`INSERT INTO inbound_seen (provider, provider_message_id, seen_at) VALUES (?, ?, ?)
			ON CONFLICT (provider, provider_message_id) DO NOTHING`),
		idem: r(`SELECT body_hash, done, code, response FROM idempotency WHERE principal_id = ? AND key = ? AND created_at >= ?`),
		idemBegin: r(`INSERT INTO idempotency (principal_id, key, body_hash, done, code, response, created_at) VALUES (?, ?, ?, 0, 0, NULL, ?)
			ON CONFLICT (principal_id, key) DO UPDATE SET body_hash = excluded.body_hash, done = 0, code = 0, response = NULL,
			created_at = excluded.created_at WHERE idempotency.created_at < ? OR (idempotency.done = 0 AND idempotency.created_at < ?)`),
		idemFinish: r(`UPDATE idempotency SET done = 1, code = ?, response = ? WHERE principal_id = ? AND key = ?`),
		idemDrop:   r(`DELETE FROM idempotency WHERE principal_id = ? AND key = ?`),

		claim: r(`UPDATE outbox SET lease_owner = ?, lease_token = ?, lease_until = ?, attempts = attempts + 1
			WHERE id IN (SELECT o.id FROM outbox o
				WHERE o.status = 'pending' AND o.due_at <= ? AND o.lease_until <= ?
				AND o.id = (SELECT MIN(p.id) FROM outbox p WHERE p.fifo_key = o.fifo_key AND p.status = 'pending')
				ORDER BY o.due_at, o.id LIMIT ?` + d.claimLock() + `)
			RETURNING id, kind, fifo_key, message_id, payload, attempts, created_at`),
		markSending: r(`UPDATE messages SET status = CASE WHEN status = 'queued' THEN 'sending' ELSE status END,
			attempts = attempts + 1, updated_at = ? WHERE id = ?`),
		claimedMsgs: r(`SELECT ` + prefixed("m.", msgCols) + `, ` + prefixed("c.", convCols) + `
			FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE m.id = ?`),

		completeDone:  r(`DELETE FROM outbox WHERE id = ? AND lease_token = ? AND status = 'pending'`),
		completeRetry: r(`UPDATE outbox SET due_at = ?, last_error = ?, attempts = attempts - ?, lease_owner = '', lease_token = '', lease_until = 0 WHERE id = ? AND lease_token = ? AND status = 'pending'`),
		completeDead:  r(`UPDATE outbox SET status = 'dead', last_error = ?, lease_owner = '', lease_token = '', lease_until = 0 WHERE id = ? AND lease_token = ? AND status = 'pending'`),
		msgResult: r(`UPDATE messages SET status = ?, provider_message_id = CASE WHEN ? <> '' THEN ? ELSE provider_message_id END,
			error_code = ?, error_message = ?, updated_at = ? WHERE id = ?`),
		msgRequeue: r(`UPDATE messages SET status = 'queued', attempts = attempts - ?, error_code = ?, error_message = ?, updated_at = ? WHERE id = ? AND status = 'sending'`),

		release:      r(`UPDATE outbox SET lease_owner = '', lease_token = '', lease_until = 0 WHERE lease_owner = ? AND status = 'pending'`),
		nextDue:      r(`SELECT MIN(due_at) FROM outbox WHERE status = 'pending'`),
		outboxList:   r(`SELECT id, kind, status, message_id, fifo_key, attempts, due_at, last_error, created_at FROM outbox WHERE status = ? AND id > ? ORDER BY id LIMIT ?`),
		retryDead:    r(`UPDATE outbox SET status = 'pending', due_at = ?, attempts = 0, last_error = '' WHERE id = ? AND status = 'dead' RETURNING message_id`),
		retryDeadMsg: r(`UPDATE messages SET status = 'queued', error_code = '', error_message = '', updated_at = ? WHERE id = ?`),
		statsPending: r(`SELECT COUNT(*) FROM outbox WHERE status = 'pending'`),
		statsDead:    r(`SELECT COUNT(*) FROM outbox WHERE status = 'dead'`),
		statsOldest:  r(`SELECT MIN(due_at) FROM outbox WHERE status = 'pending' AND due_at <= ?`),

		convMsgs:       r(`SELECT ` + msgCols + ` FROM messages WHERE conversation_id = ? ORDER BY created_at, id`),
		convsOfContact: r(`SELECT ` + convCols + ` FROM conversations WHERE channel = ? AND contact_address = ? ORDER BY last_activity_at DESC LIMIT ?`),
		contacts: r(`SELECT channel, address, name, updated_at FROM contacts
			WHERE (? = '' OR channel = ?) AND (address LIKE ? ESCAPE '\' OR name_lower LIKE ? ESCAPE '\')
			AND (channel || '|' || address) > ? ORDER BY channel, address LIMIT ?`),
		queueStat: r(`SELECT channel, status, COUNT(*) FROM messages WHERE queue_id = ? AND direction = 'outbound' AND created_at >= ?
			GROUP BY channel, status ORDER BY channel, status`),
	}
}

func prefixed(p, cols string) string {
	parts := strings.Split(cols, ",")
	for i, c := range parts {
		parts[i] = p + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}

type scanner interface{ Scan(dest ...any) error }

func scanMessage(s scanner, extra ...any) (omnigate.Message, error) {
	var m omnigate.Message
	var tmpl, media string
	var created, updated int64
	var deleted int
	dest := []any{&m.ID, &m.ConversationID, &m.Direction, &m.Channel, &m.QueueID, &m.From, &m.To, &m.Text,
		&tmpl, &media, &m.Sender, &m.PrincipalID, &m.Tag, &m.Status, &m.Attempts, &m.ProviderMessageID,
		&m.ErrorCode, &m.ErrorMessage, &deleted, &created, &updated}
	if err := s.Scan(append(dest, extra...)...); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return m, store.ErrNotFound
		}
		return m, err
	}
	if tmpl != "" {
		m.Template = new(omnigate.Template)
		if err := json.Unmarshal([]byte(tmpl), m.Template); err != nil {
			return m, fmt.Errorf("message %s: template: %w", m.ID, err)
		}
	}
	if media != "" {
		if err := json.Unmarshal([]byte(media), &m.Media); err != nil {
			return m, fmt.Errorf("message %s: media: %w", m.ID, err)
		}
	}
	m.Deleted = deleted != 0
	m.CreatedAt, m.UpdatedAt = fromMicros(created), fromMicros(updated)
	return m, nil
}

func convDest(c *omnigate.Conversation, opened, inbound, activity *int64) []any {
	return []any{&c.ID, &c.Channel, &c.QueueID, &c.Address, &c.ContactAddress, &c.ContactName, &c.State,
		&c.AssignedTo, opened, inbound, activity, &c.RepliesSinceInbound, &c.WrapupCode, &c.WrapupNotes}
}

func scanConversation(s scanner) (omnigate.Conversation, error) {
	var c omnigate.Conversation
	var opened, inbound, activity int64
	if err := s.Scan(convDest(&c, &opened, &inbound, &activity)...); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return c, store.ErrNotFound
		}
		return c, err
	}
	c.OpenedAt, c.LastInboundAt, c.LastActivityAt = fromMicros(opened), fromMicros(inbound), fromMicros(activity)
	return c, nil
}

func messageArgs(m omnigate.Message) ([]any, error) {
	var tmpl, media string
	if m.Template != nil {
		b, err := json.Marshal(m.Template)
		if err != nil {
			return nil, err
		}
		tmpl = string(b)
	}
	if len(m.Media) > 0 {
		b, err := json.Marshal(m.Media)
		if err != nil {
			return nil, err
		}
		media = string(b)
	}
	deleted := 0
	if m.Deleted {
		deleted = 1
	}
	return []any{m.ID, m.ConversationID, string(m.Direction), string(m.Channel), m.QueueID, m.From, m.To, m.Text,
		tmpl, media, string(m.Sender), m.PrincipalID, m.Tag, string(m.Status), m.Attempts, m.ProviderMessageID,
		m.ErrorCode, m.ErrorMessage, deleted, micros(m.CreatedAt), micros(m.UpdatedAt)}, nil
}

// tx implements store.Tx over one *sql.Tx.
type tx struct {
	db       *DB
	tx       *sql.Tx
	ctx      context.Context
	stmts    *txStmts
	enqueued bool
	notified bool
}

func (t *tx) exec(q string, args ...any) (sql.Result, error) {
	return t.stmts.exec(t.ctx, q, args...)
}

func (t *tx) row(q string, args ...any) *sql.Row {
	if st := t.stmts.get(t.ctx, q); st != nil {
		return st.QueryRowContext(t.ctx, args...)
	}
	return t.tx.QueryRowContext(t.ctx, q, args...)
}

func (t *tx) query(q string, args ...any) (*sql.Rows, error) {
	if st := t.stmts.get(t.ctx, q); st != nil {
		return st.QueryContext(t.ctx, args...)
	}
	return t.tx.QueryContext(t.ctx, q, args...)
}

func (t *tx) LockKey(k store.ConversationKey) error {
	return t.db.d.lockKey(t.ctx, t.tx, string(k.Channel)+"|"+k.Address+"|"+k.ContactAddress)
}

func (t *tx) Contact(ch omnigate.Channel, address string) (omnigate.Contact, error) {
	var c omnigate.Contact
	var updated int64
	err := t.row(t.db.q.contact, string(ch), address).Scan(&c.Channel, &c.Address, &c.Name, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return c, store.ErrNotFound
	}
	if err != nil {
		return c, err
	}
	c.UpdatedAt = fromMicros(updated)
	rows, err := t.query(t.db.q.optOuts, string(ch), address)
	if err != nil {
		return c, err
	}
	defer rows.Close()
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return c, err
		}
		c.OptedOut = append(c.OptedOut, a)
	}
	return c, rows.Err()
}

func (t *tx) UpsertContact(c omnigate.Contact, now time.Time) error {
	_, err := t.exec(t.db.q.upsertContact, string(c.Channel), c.Address, c.Name, strings.ToLower(c.Name), micros(now))
	return err
}

func (t *tx) SetOptOut(ch omnigate.Channel, contactAddress, ourAddress string, optedOut bool, now time.Time) error {
	var err error
	if optedOut {
		_, err = t.exec(t.db.q.optOut, string(ch), contactAddress, ourAddress, micros(now))
	} else {
		_, err = t.exec(t.db.q.optIn, string(ch), contactAddress, ourAddress)
	}
	return err
}

func (t *tx) LatestConversation(k store.ConversationKey) (omnigate.Conversation, error) {
	return scanConversation(t.row(t.db.q.latestConv, string(k.Channel), k.Address, k.ContactAddress))
}

func (t *tx) Conversation(id string) (omnigate.Conversation, error) {
	return scanConversation(t.row(t.db.q.conv, id))
}

func (t *tx) InsertConversation(c omnigate.Conversation) error {
	_, err := t.exec(t.db.q.insertConv, c.ID, string(c.Channel), c.QueueID, c.Address, c.ContactAddress, c.ContactName,
		string(c.State), c.AssignedTo, micros(c.OpenedAt), micros(c.LastInboundAt), micros(c.LastActivityAt),
		c.RepliesSinceInbound, c.WrapupCode, c.WrapupNotes)
	return err
}

func (t *tx) UpdateConversation(c omnigate.Conversation) error {
	res, err := t.exec(t.db.q.updateConv, c.QueueID, c.ContactName, string(c.State), c.AssignedTo,
		micros(c.LastInboundAt), micros(c.LastActivityAt), c.RepliesSinceInbound, c.WrapupCode, c.WrapupNotes, c.ID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrNotFound
	}
	return nil
}

func (t *tx) InsertMessage(m omnigate.Message) error {
	args, err := messageArgs(m)
	if err != nil {
		return err
	}
	_, err = t.exec(t.db.q.insertMsg, args...)
	return err
}

func (t *tx) Message(id string) (omnigate.Message, error) {
	return scanMessage(t.row(t.db.q.msg, id))
}

func (t *tx) MessageByProviderID(ch omnigate.Channel, providerID string) (omnigate.Message, error) {
	return scanMessage(t.row(t.db.q.msgByProvider, string(ch), providerID))
}

func (t *tx) SetMessageStatus(id string, status omnigate.MessageStatus, errCode, errMsg string, now time.Time) (bool, error) {
	m, err := t.Message(id)
	if err != nil {
		return false, err
	}
	if m.Status.Final() || status.Rank() <= m.Status.Rank() {
		return false, nil
	}
	if errCode == "" && errMsg == "" {
		errCode, errMsg = m.ErrorCode, m.ErrorMessage
	}
	_, err = t.exec(t.db.q.setStatus, string(status), errCode, errMsg, micros(now), id)
	return err == nil, err
}

func (t *tx) SetProviderID(id, providerID string) error {
	_, err := t.exec(t.db.q.setProvider, providerID, id)
	return err
}

func (t *tx) HoldReceipt(ch omnigate.Channel, providerID string, status omnigate.MessageStatus, errCode, errMsg string, now time.Time) error {
	_, err := t.exec(t.db.q.holdReceipt, string(ch), providerID, string(status), errCode, errMsg, micros(now))
	return err
}

// applyHeldReceipts applies receipts that arrived before the message's carrier id was
// recorded.
func (t *tx) applyHeldReceipts(m omnigate.Message, providerID string, now time.Time) error {
	rows, err := t.tx.QueryContext(t.ctx, t.db.q.heldReceipts, string(m.Channel), providerID)
	if err != nil {
		return err
	}
	type held struct{ status, code, msg string }
	var hs []held
	for rows.Next() {
		var h held
		if err := rows.Scan(&h.status, &h.code, &h.msg); err != nil {
			rows.Close()
			return err
		}
		hs = append(hs, h)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(hs) == 0 {
		return err
	}
	for _, h := range hs {
		if _, err := t.SetMessageStatus(m.ID, omnigate.MessageStatus(h.status), h.code, h.msg, now); err != nil {
			return err
		}
	}
	_, err = t.exec(t.db.q.dropReceipts, string(m.Channel), providerID)
	return err
}

func (t *tx) MarkDeleted(id string, now time.Time) error {
	_, err := t.exec(t.db.q.markDeleted, micros(now), id)
	return err
}

func (t *tx) OutboundBefore(conversationID string, at time.Time, below omnigate.MessageStatus) ([]omnigate.Message, error) {
	rows, err := t.query(t.db.q.outboundBefore, conversationID, micros(at))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []omnigate.Message
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, err
		}
		if m.Status.Rank() < below.Rank() && !m.Status.Final() && m.Status.Rank() >= omnigate.StatusSent.Rank() {
			out = append(out, m)
		}
	}
	return out, rows.Err()
}

func (t *tx) CancelQueued(conversationID, principalID string, now time.Time) ([]string, error) {
	rows, err := t.query(t.db.q.queuedOfConv, conversationID, principalID, principalID)
	if err != nil {
		return nil, err
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var canceled []string
	for _, id := range ids {
		// A row some worker holds a lease on is being handed to a carrier right now:
		// it is not ours to cancel.
		res, err := t.exec(t.db.q.deleteOutboxByMsg, id)
		if err != nil {
			return nil, err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			continue
		}
		if _, err := t.exec(t.db.q.cancelMsg, micros(now), id); err != nil {
			return nil, err
		}
		canceled = append(canceled, id)
	}
	return canceled, nil
}

func (t *tx) Enqueue(e store.NewEntry) error {
	if e.DueAt.IsZero() {
		return errors.New("store: enqueue: zero due time")
	}
	_, err := t.exec(t.db.q.enqueue, e.Kind, e.FIFOKey, e.MessageID, e.Payload, micros(e.DueAt), micros(e.DueAt))
	if err != nil {
		return err
	}
	t.enqueued = true
	if !t.notified {
		t.notified = true
		return t.db.d.notifyInTx(t.ctx, t.tx)
	}
	return nil
}

func (t *tx) SeenInbound(provider, providerMessageID string, now time.Time) (bool, error) {
	res, err := t.exec(t.db.q.seen, provider, providerMessageID, micros(now))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func (t *tx) Idempotency(principalID, key string, since time.Time) (store.Idempotency, error) {
	var rec store.Idempotency
	var done int
	err := t.row(t.db.q.idem, principalID, key, micros(since)).Scan(&rec.BodyHash, &done, &rec.Code, &rec.Response)
	if errors.Is(err, sql.ErrNoRows) {
		return rec, store.ErrNotFound
	}
	rec.Done = done != 0
	return rec, err
}

func (t *tx) BeginIdempotency(principalID, key, bodyHash string, now, expired, stale time.Time) (bool, error) {
	res, err := t.exec(t.db.q.idemBegin, principalID, key, bodyHash, micros(now), micros(expired), micros(stale))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func (t *tx) FinishIdempotency(principalID, key string, code int, response []byte) error {
	_, err := t.exec(t.db.q.idemFinish, code, response, principalID, key)
	return err
}

func (t *tx) DropIdempotency(principalID, key string) error {
	_, err := t.exec(t.db.q.idemDrop, principalID, key)
	return err
}

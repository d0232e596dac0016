package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/store"
)

// queries holds the statements rebound for the dialect once, at open.
type queries struct {
	contact, upsertContact, optOut, optIn                                   string
	writeContact                                                            string
	latestConv, conv, insertConv, updateConv, recipient                     string
	insertMsg, msg, msgByProvider, setStatus, setStatusErr, markDeleted     string
	setProvider, outboundBefore, queuedOfConv, cancelMsg, deleteOutboxByMsg string
	holdReceipt, heldReceipts, dropReceipts                                 string
	seen, idem, idemBegin, idemFinish, idemDrop                             string
	// Inserts of outbox rows and of the event log's events, in prepared forms.
	enqueue, event                                                        insertForms
	claim, reserveSlot, reschedule                                        string
	completeRetry, completeDead, msgRequeue                               string
	release, releaseAll, dropInstance, dropInstances, beat, register      string
	extendLeases, reapInstances                                           string
	nextDue, outboxList, retryDead, retryDeadMsg, statsPending            string
	statsDead, statsOldest, convMsgs, convsOfContact, contacts, queueStat string
	pruneSeen, pruneIdem, pruneReceipts                                   string
	// Set-based statements of the relay's hot path: one statement for a whole batch.
	claimedMsgsIn, markSendingIn, doneIn, msgResultIn, setProviderIn, heldIn string
}

// rankSQL is omnigate.MessageStatus.Rank in SQL, so that "forward only" is decided by
// the UPDATE itself: under READ COMMITTED a conditional UPDATE re-checks its WHERE
// against the row as the concurrent writer left it, where a read-then-write would not.
const rankSQL = `(CASE status WHEN 'queued' THEN 1 WHEN 'sending' THEN 2 WHEN 'sent' THEN 3
	WHEN 'delivered' THEN 4 WHEN 'read' THEN 5 WHEN 'failed' THEN 6 WHEN 'canceled' THEN 6 ELSE 0 END)`

const msgCols = `id, conversation_id, direction, channel, queue_id, from_address, to_address, body,
	template, media, sender, principal_id, tag, status, attempts, provider_message_id,
	error_code, error_message, deleted, created_at, updated_at`

const convCols = `id, channel, queue_id, address, contact_address, contact_name, state, assigned_to,
	opened_at, last_inbound_at, last_activity_at, replies_since_inbound, wrapup_code, wrapup_notes`

// The write path's statements, shared by their own methods and by Write's combined form.
const (
	upsertContactSQL = `INSERT INTO contacts (channel, address, name, name_lower, updated_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (channel, address) DO UPDATE SET
			name = CASE WHEN excluded.name <> '' THEN excluded.name ELSE contacts.name END,
			name_lower = CASE WHEN excluded.name <> '' THEN excluded.name_lower ELSE contacts.name_lower END,
			updated_at = excluded.updated_at`
	updateConvSQL = `UPDATE conversations SET queue_id = ?, contact_name = ?, state = ?, assigned_to = ?,
			last_inbound_at = ?, last_activity_at = ?, replies_since_inbound = ?, wrapup_code = ?, wrapup_notes = ? WHERE id = ?`
	insertConvSQL = `INSERT INTO conversations (` + convCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	insertMsgSQL  = `INSERT INTO messages (` + msgCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
)

func buildQueries(d dialect) queries {
	r := d.rebind
	return queries{
		// The contact and its opt-outs in one statement (one round trip on every send
		// and inbound message): one row per opt-out, or one with a NULL address.
		contact: r(`SELECT c.channel, c.address, c.name, c.updated_at, o.our_address FROM contacts c
			LEFT JOIN opt_outs o ON o.channel = c.channel AND o.contact_address = c.address
			WHERE c.channel = ? AND c.address = ? ORDER BY o.our_address`),
		// The write and the contact as stored in one statement.
		upsertContact: r(upsertContactSQL + ` RETURNING name, updated_at`),
		// Write's upsert: its result is not read, and a RETURNING costs SQLite a result
		// row buffered and read back.
		writeContact: r(upsertContactSQL),
		optOut: r(`INSERT INTO opt_outs (channel, contact_address, our_address, created_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (channel, contact_address, our_address) DO NOTHING`),
		optIn: r(`DELETE FROM opt_outs WHERE channel = ? AND contact_address = ? AND our_address = ?`),

		latestConv: r(`SELECT ` + convCols + ` FROM conversations WHERE channel = ? AND address = ? AND contact_address = ?
			ORDER BY last_activity_at DESC, opened_at DESC LIMIT 1`),
		recipient:  r(recipientSQL(d)),
		conv:       r(`SELECT ` + convCols + ` FROM conversations WHERE id = ?`),
		insertConv: r(insertConvSQL),
		updateConv: r(updateConvSQL),

		insertMsg:     r(insertMsgSQL),
		msg:           r(`SELECT ` + msgCols + ` FROM messages WHERE id = ?`),
		msgByProvider: r(`SELECT ` + msgCols + ` FROM messages WHERE channel = ? AND provider_message_id = ? AND provider_message_id <> '' ORDER BY created_at LIMIT 1`),
		setStatus: r(`UPDATE messages SET status = ?, updated_at = ?
			WHERE id = ? AND status NOT IN ('failed', 'canceled') AND ` + rankSQL + ` < ?`),
		setStatusErr: r(`UPDATE messages SET status = ?, error_code = ?, error_message = ?, updated_at = ?
			WHERE id = ? AND status NOT IN ('failed', 'canceled') AND ` + rankSQL + ` < ?`),
		setProvider: r(`UPDATE messages SET provider_message_id = ? WHERE id = ? AND provider_message_id = ''`),
		markDeleted: r(`UPDATE messages SET body = '', media = '', deleted = 1, updated_at = ? WHERE id = ?`),
		outboundBefore: r(`SELECT ` + msgCols + ` FROM messages WHERE conversation_id = ? AND direction = 'outbound'
			AND created_at <= ? ORDER BY created_at`),
		queuedOfConv:      r(`SELECT id FROM messages WHERE conversation_id = ? AND direction = 'outbound' AND status = 'queued' AND (? = '' OR principal_id = ?)`),
		cancelMsg:         r(`UPDATE messages SET status = 'canceled', updated_at = ? WHERE id = ? AND status = 'queued'`),
		deleteOutboxByMsg: r(`DELETE FROM outbox WHERE message_id = ? AND status = 'pending' AND lease_token = ''`),

		holdReceipt: r(`INSERT INTO early_receipts (channel, provider_message_id, status, error_code, error_message, received_at)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (channel, provider_message_id, status) DO NOTHING`),
		heldReceipts: r(`SELECT status, error_code, error_message FROM early_receipts WHERE channel = ? AND provider_message_id = ?`),
		dropReceipts: r(`DELETE FROM early_receipts WHERE channel = ? AND provider_message_id = ?`),
		enqueue:      newInsertForms(r, enqueueSQL, 6),
		event:        newInsertForms(r, eventSQL, 3),
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
				AND o.id NOT IN (` + d.idList() + `)
				ORDER BY o.due_at, o.id LIMIT ?` + d.claimLock() + `)
			RETURNING id, kind, fifo_key, message_id, payload, attempts, slot, created_at`),
		// One upsert takes n consecutive slots of a sender: the row lock serialises
		// instances, and the sender's clock never runs behind now.
		reserveSlot: r(`INSERT INTO pacing (sender, next_at) VALUES (?, ?) ON CONFLICT (sender) DO UPDATE SET
			next_at = (CASE WHEN pacing.next_at > ? THEN pacing.next_at ELSE ? END) + ? RETURNING next_at`),
		reschedule: r(`UPDATE outbox SET due_at = ?, slot = ?, lease_owner = '', lease_token = '', lease_until = 0,
			attempts = attempts - 1 WHERE id = ?`),

		completeRetry: r(`UPDATE outbox SET due_at = ?, last_error = ?, attempts = attempts - ?, slot = 0, lease_owner = '', lease_token = '', lease_until = 0 WHERE id = ? AND lease_token = ? AND status = 'pending'`),
		completeDead:  r(`UPDATE outbox SET status = 'dead', last_error = ?, lease_owner = '', lease_token = '', lease_until = 0 WHERE id = ? AND lease_token = ? AND status = 'pending'`),
		msgRequeue:    r(`UPDATE messages SET status = 'queued', attempts = attempts - ?, error_code = ?, error_message = ?, updated_at = ? WHERE id = ? AND status = 'sending'`),

		release:       r(`UPDATE outbox SET lease_owner = '', lease_token = '', lease_until = 0 WHERE lease_owner = ? AND lease_token <> '' AND status = 'pending'`),
		releaseAll:    r(`UPDATE outbox SET lease_owner = '', lease_token = '', lease_until = 0 WHERE lease_token <> ''`),
		dropInstance:  r(`DELETE FROM relay_instances WHERE owner = ?`),
		dropInstances: r(`DELETE FROM relay_instances`),
		beat:          r(`UPDATE relay_instances SET heartbeat_at = ? WHERE owner = ?`),
		register:      r(`INSERT INTO relay_instances (owner, heartbeat_at, started_at) VALUES (?, ?, ?)`),
		// Rows are locked in id order, as Complete takes them, so that a heartbeat and a
		// Complete of the same instance cannot deadlock on PostgreSQL.
		extendLeases: r(`UPDATE outbox SET lease_until = ? WHERE id IN (SELECT id FROM outbox WHERE lease_owner = ?
			AND lease_token <> '' AND status = 'pending' AND id IN (` + d.idList() + `) ORDER BY id` + d.rowLock() + `) RETURNING id`),
		reapInstances: r(`DELETE FROM relay_instances WHERE heartbeat_at < ? RETURNING owner`),
		// The next claimable row: a FIFO head nobody holds. Leased rows are left out:
		// their owner completes them and wakes, or they are reaped.
		nextDue: r(`SELECT o.due_at FROM outbox o WHERE o.status = 'pending' AND o.lease_token = ''
			AND o.id = (SELECT MIN(p.id) FROM outbox p WHERE p.fifo_key = o.fifo_key AND p.status = 'pending')
			ORDER BY o.due_at LIMIT 1`),
		claimedMsgsIn: r(`SELECT ` + prefixed("m.", msgCols) + `, ` + prefixed("c.", convCols) + `
			FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE m.id IN (SELECT r.mid FROM ` + d.records("r", col{"mid", "text"}) + `)`),
		markSendingIn: r(`UPDATE messages SET status = CASE WHEN status = 'queued' THEN 'sending' ELSE status END,
			attempts = attempts + 1, updated_at = ? WHERE id IN (SELECT r.mid FROM ` + d.records("r", col{"mid", "text"}) + `)`),
		// Rows are locked in id order, as a heartbeat locks them (see extendLeases). A
		// lease token is only ever held by a pending row (a dead letter's is cleared),
		// and testing the status too let PostgreSQL read every pending row through
		// outbox_due's predicate instead of looking the batch up by id.
		doneIn: r(d.doneIn()),
		// The relay moves only a message still in its hands: a receipt that got there
		// first (sent, delivered, read, failed) is the carrier's word and stands. The
		// carrier's id ("" for none) is recorded in the same row version.
		msgResultIn: r(`UPDATE messages SET status = r.status, error_code = r.code, error_message = r.msg, updated_at = ?,
			provider_message_id = CASE WHEN messages.provider_message_id = '' THEN r.pid ELSE messages.provider_message_id END
			FROM ` + d.records("r", col{"mid", "text"}, col{"status", "text"}, col{"code", "text"}, col{"msg", "text"}, col{"pid", "text"}) + `
			WHERE messages.id = r.mid AND messages.status IN ('queued', 'sending') RETURNING id`),
		setProviderIn: r(`UPDATE messages SET provider_message_id = r.pid
			FROM ` + d.records("r", col{"mid", "text"}, col{"pid", "text"}) + `
			WHERE messages.id = r.mid AND messages.provider_message_id = ''`),
		heldIn: r(heldInSQL(d)),
		pruneSeen: r(`DELETE FROM inbound_seen WHERE (provider, provider_message_id) IN
			(SELECT provider, provider_message_id FROM inbound_seen WHERE seen_at < ? LIMIT ?)`),
		pruneIdem: r(`DELETE FROM idempotency WHERE (principal_id, key) IN
			(SELECT principal_id, key FROM idempotency WHERE created_at < ? LIMIT ?)`),
		pruneReceipts: r(`DELETE FROM early_receipts WHERE (channel, provider_message_id, status) IN
			(SELECT channel, provider_message_id, status FROM early_receipts WHERE received_at < ? LIMIT ?)`),
		outboxList:   r(`SELECT id, kind, status, message_id, fifo_key, attempts, due_at, last_error, created_at FROM outbox WHERE status = ? AND id > ? ORDER BY id LIMIT ?`),
		retryDead:    r(`UPDATE outbox SET status = 'pending', due_at = ?, attempts = 0, last_error = '' WHERE id = ? AND status = 'dead' RETURNING message_id`),
		retryDeadMsg: r(`UPDATE messages SET status = 'queued', error_code = '', error_message = '', updated_at = ? WHERE id = ?`),
		statsPending: r(`SELECT (SELECT COUNT(*) FROM outbox WHERE status = 'pending') + (SELECT COUNT(*) FROM event_log)`),
		statsDead:    r(`SELECT COUNT(*) FROM outbox WHERE status = 'dead'`),
		statsOldest: r(`SELECT MIN(t) FROM (SELECT MIN(due_at) AS t FROM outbox WHERE status = 'pending' AND due_at <= ?
			UNION ALL SELECT MIN(created_at) FROM event_log) due`),

		convMsgs:       r(`SELECT ` + msgCols + ` FROM messages WHERE conversation_id = ? ORDER BY created_at, id`),
		convsOfContact: r(convsOfContactSQL(d)),
		contacts: r(`SELECT channel, address, name, updated_at FROM contacts
			WHERE (? = '' OR channel = ?) AND (address LIKE ? ESCAPE '\' OR name_lower LIKE ? ESCAPE '\')
			AND (channel || '|' || address) > ?
			AND (? = 1 OR EXISTS (SELECT 1 FROM conversations c WHERE c.channel = contacts.channel
				AND c.contact_address = contacts.address AND c.queue_id IN (` + d.textList() + `)))
			ORDER BY channel, address LIMIT ?`),
		queueStat: r(`SELECT channel, status, COUNT(*) FROM messages WHERE queue_id = ? AND direction = 'outbound' AND created_at >= ?
			GROUP BY channel, status ORDER BY channel, status`),
	}
}

// recipientSQL reads the contact, its opt-outs and the latest conversation in one
// statement: one row whatever exists, every missing value made a zero. SQLite cannot
// flatten the latest conversation's subquery (it has a LIMIT) into the join, so it
// materialised it into a temporary table on every send: there the subquery yields only
// the conversation's id, and the row is joined by its primary key (an eighth less of
// the statement's work, a fifth with conversations_key ordered to the end).
func recipientSQL(d dialect) string {
	latest := `LEFT JOIN (SELECT ` + convCols + ` FROM conversations WHERE channel = ? AND address = ? AND contact_address = ?
				ORDER BY last_activity_at DESC, opened_at DESC LIMIT 1) l ON 1 = 1`
	if d.name() == "sqlite" {
		latest = `LEFT JOIN conversations l ON l.id = (SELECT id FROM conversations WHERE channel = ? AND address = ? AND contact_address = ?
				ORDER BY last_activity_at DESC, opened_at DESC LIMIT 1)`
	}
	return `SELECT CASE WHEN c.address IS NULL THEN 0 ELSE 1 END, COALESCE(c.name, ''), COALESCE(c.updated_at, 0),
			(SELECT ` + d.jsonArray("our_address") + ` FROM opt_outs WHERE channel = ? AND contact_address = ?),
			CASE WHEN l.id IS NULL THEN 0 ELSE 1 END, ` + zeroed("l", convCols) + `
			FROM (SELECT 1 AS one) x
			LEFT JOIN contacts c ON c.channel = ? AND c.address = ?
			` + latest
}

// convsOfContactSQL lists a contact's conversations, the most recently active first.
// SQLite reads them from conversations_key, which orders a contact's conversations by
// our address first, so it sorts them; conversations active at the same time come in
// the order its index by contact alone (before migration 00009) gave them, the later
// id first.
func convsOfContactSQL(d dialect) string {
	order := "last_activity_at DESC"
	if d.name() == "sqlite" {
		order += ", id DESC"
	}
	return `SELECT ` + convCols + ` FROM conversations WHERE channel = ? AND contact_address = ? ORDER BY ` + order + ` LIMIT ?`
}

// heldInSQL lists which of a batch's carrier ids have receipts held. Receipts are
// rarely held, and on SQLite a first test that any are (evaluated once, before the
// batch's records are read) spares reading the records at all.
func heldInSQL(d dialect) string {
	q := `SELECT DISTINCT channel, provider_message_id FROM early_receipts WHERE (channel, provider_message_id) IN
			(SELECT r.ch, r.pid FROM ` + d.records("r", col{"ch", "text"}, col{"pid", "text"}) + `)`
	if d.name() == "sqlite" {
		q += ` AND EXISTS (SELECT 1 FROM early_receipts)`
	}
	return q
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
	m.Deleted, m.Redacted = deleted == 1, deleted == redactedFlag
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
	switch {
	case m.Redacted:
		deleted = redactedFlag
	case m.Deleted:
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
	// batched: the transaction serves a batch of Update calls, whose committer sends
	// one NOTIFY for all of them.
	batched bool
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

// column runs q and returns its one column, row by row.
func column[T any](t *tx, q string, args ...any) ([]T, error) {
	rows, err := t.query(q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		var v T
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func (t *tx) LockKey(k store.ConversationKey) error {
	return t.db.d.lockKey(t.ctx, t.tx, string(k.Channel)+"|"+k.Address+"|"+k.ContactAddress)
}

func (t *tx) Contact(ch omnigate.Channel, address string) (omnigate.Contact, error) {
	var c omnigate.Contact
	rows, err := t.query(t.db.q.contact, string(ch), address)
	if err != nil {
		return c, err
	}
	defer rows.Close()
	found := false
	for rows.Next() {
		var updated int64
		var our sql.NullString
		if err := rows.Scan(&c.Channel, &c.Address, &c.Name, &updated, &our); err != nil {
			return c, err
		}
		found = true
		c.UpdatedAt = fromMicros(updated)
		if our.Valid {
			c.OptedOut = append(c.OptedOut, our.String)
		}
	}
	if err := rows.Err(); err != nil {
		return c, err
	}
	if !found {
		return omnigate.Contact{}, store.ErrNotFound
	}
	return c, nil
}

func (t *tx) UpsertContact(c omnigate.Contact, now time.Time) (omnigate.Contact, error) {
	out := omnigate.Contact{Channel: c.Channel, Address: c.Address}
	var updated int64
	err := t.row(t.db.q.upsertContact, contactArgs(nil, c, now)...).Scan(&out.Name, &updated)
	if err != nil {
		return omnigate.Contact{}, err
	}
	out.UpdatedAt = fromMicros(updated)
	return out, nil
}

func contactArgs(args []any, c omnigate.Contact, now time.Time) []any {
	return append(args, string(c.Channel), c.Address, c.Name, strings.ToLower(c.Name), micros(now))
}

func (t *tx) SetOptOut(o store.OptOut) error {
	var err error
	if o.OptedOut {
		_, err = t.exec(t.db.q.optOut, string(o.Channel), o.ContactAddress, o.OurAddress, micros(o.Now))
	} else {
		_, err = t.exec(t.db.q.optIn, string(o.Channel), o.ContactAddress, o.OurAddress)
	}
	return err
}

// zeroed lists cols of the row alias, each NULL (a LEFT JOIN that found nothing) made
// its type's zero: 0 for the integer columns, ” for the others.
func zeroed(alias, cols string) string {
	var out []string
	for c := range strings.SplitSeq(cols, ",") {
		c = strings.TrimSpace(c)
		zero := "''"
		if strings.HasSuffix(c, "_at") || c == "replies_since_inbound" {
			zero = "0"
		}
		out = append(out, "COALESCE("+alias+"."+c+", "+zero+")")
	}
	return strings.Join(out, ", ")
}

func (t *tx) Recipient(k store.ConversationKey) (store.Recipient, error) {
	out := store.Recipient{Contact: omnigate.Contact{Channel: k.Channel, Address: k.ContactAddress}}
	var known, hasLatest int
	var updated, opened, inbound, activity int64
	var optOuts string
	dest := append([]any{&known, &out.Contact.Name, &updated, &optOuts, &hasLatest},
		convDest(&out.Latest, &opened, &inbound, &activity)...)
	err := t.row(t.db.q.recipient, string(k.Channel), k.ContactAddress, string(k.Channel), k.ContactAddress,
		string(k.Channel), k.Address, k.ContactAddress).Scan(dest...)
	if err != nil {
		return store.Recipient{}, err
	}
	if err := json.Unmarshal([]byte(optOuts), &out.Contact.OptedOut); err != nil {
		return store.Recipient{}, fmt.Errorf("store: contact opt-outs: %w", err)
	}
	if len(out.Contact.OptedOut) == 0 {
		out.Contact.OptedOut = nil
	}
	slices.Sort(out.Contact.OptedOut)
	out.ContactKnown, out.HasLatest = known == 1, hasLatest == 1
	if !out.ContactKnown {
		out.Contact = omnigate.Contact{OptedOut: out.Contact.OptedOut}
	} else {
		out.Contact.UpdatedAt = fromMicros(updated)
	}
	if out.HasLatest {
		out.Latest.OpenedAt, out.Latest.LastInboundAt, out.Latest.LastActivityAt = fromMicros(opened), fromMicros(inbound), fromMicros(activity)
	} else {
		out.Latest = omnigate.Conversation{}
	}
	return out, nil
}

func (t *tx) LatestConversation(k store.ConversationKey) (omnigate.Conversation, error) {
	return scanConversation(t.row(t.db.q.latestConv, string(k.Channel), k.Address, k.ContactAddress))
}

func (t *tx) Conversation(id string) (omnigate.Conversation, error) {
	return scanConversation(t.row(t.db.q.conv, id))
}

func (t *tx) InsertConversation(c omnigate.Conversation) error {
	_, err := t.exec(t.db.q.insertConv, insertConvArgs(nil, c)...)
	return err
}

func insertConvArgs(args []any, c omnigate.Conversation) []any {
	return append(args, c.ID, string(c.Channel), c.QueueID, c.Address, c.ContactAddress, c.ContactName,
		string(c.State), c.AssignedTo, micros(c.OpenedAt), micros(c.LastInboundAt), micros(c.LastActivityAt),
		c.RepliesSinceInbound, c.WrapupCode, c.WrapupNotes)
}

func (t *tx) UpdateConversation(c omnigate.Conversation) error {
	res, err := t.exec(t.db.q.updateConv, updateConvArgs(nil, c)...)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrNotFound
	}
	return nil
}

func updateConvArgs(args []any, c omnigate.Conversation) []any {
	return append(args, c.QueueID, c.ContactName, string(c.State), c.AssignedTo,
		micros(c.LastInboundAt), micros(c.LastActivityAt), c.RepliesSinceInbound, c.WrapupCode, c.WrapupNotes, c.ID)
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

func (t *tx) SetMessageStatus(u store.StatusUpdate) (bool, error) {
	var res sql.Result
	var err error
	if u.ErrorCode == "" && u.ErrorMessage == "" {
		res, err = t.exec(t.db.q.setStatus, string(u.Status), micros(u.Now), u.MessageID, u.Status.Rank())
	} else {
		res, err = t.exec(t.db.q.setStatusErr, string(u.Status), u.ErrorCode, u.ErrorMessage, micros(u.Now), u.MessageID, u.Status.Rank())
	}
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// lockProviderID serialises the transactions that look for, hold, record or apply
// receipts of one carrier message id (PostgreSQL; SQLite is serial already).
func (t *tx) lockProviderID(ch omnigate.Channel, providerID string) error {
	return t.db.d.lockKey(t.ctx, t.tx, "pid|"+string(ch)+"|"+providerID)
}

func (t *tx) ApplyReceipt(r store.Receipt, now time.Time) (store.ReceiptOutcome, error) {
	var out store.ReceiptOutcome
	var m omnigate.Message
	err := store.ErrNotFound
	if r.MessageID != "" {
		m, err = t.Message(r.MessageID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return out, err
		}
	}
	reread := false
	switch {
	case err == nil && r.ProviderMessageID != "" && m.ProviderMessageID == "":
		// Our id and a carrier id we never recorded: the process died between the
		// carrier's acceptance and our commit. Record it, and apply anything held for it.
		if err := t.lockProviderID(m.Channel, r.ProviderMessageID); err != nil {
			return out, err
		}
		applied, err := t.recordProviderID(m, r.ProviderMessageID, now, nil)
		if err != nil {
			return out, err
		}
		m.ProviderMessageID = r.ProviderMessageID
		reread = applied
	case err != nil:
		if r.ProviderMessageID == "" {
			out.Unknown = true
			return out, nil
		}
		if err := t.lockProviderID(r.Channel, r.ProviderMessageID); err != nil {
			return out, err
		}
		// Read after the lock: a relay that recorded this id committed before we got it.
		m, err = t.MessageByProviderID(r.Channel, r.ProviderMessageID)
		if errors.Is(err, store.ErrNotFound) {
			// Likely our own send whose carrier id is not committed yet.
			out.Held = true
			_, err := t.exec(t.db.q.holdReceipt, string(r.Channel), r.ProviderMessageID, string(r.Status), r.ErrorCode, r.ErrorMessage, micros(now))
			return out, err
		}
		if err != nil {
			return out, err
		}
	}
	changed, err := t.SetMessageStatus(store.StatusUpdate{MessageID: m.ID, Status: r.Status, ErrorCode: r.ErrorCode, ErrorMessage: r.ErrorMessage, Now: now})
	if err != nil {
		return out, err
	}
	if changed || reread {
		if m, err = t.Message(m.ID); err != nil {
			return out, err
		}
	}
	out.Message, out.Changed = m, changed
	return out, nil
}

// recordProviderID records the carrier's id for m (the caller holds the id's lock)
// and applies the receipts held for it, each through event when it moves the status.
// It reports whether a held receipt moved the status.
func (t *tx) recordProviderID(m omnigate.Message, providerID string, now time.Time,
	event func(status omnigate.MessageStatus, errCode, errMsg string) (store.NewEntry, error)) (bool, error) {
	if _, err := t.exec(t.db.q.setProvider, providerID, m.ID); err != nil {
		return false, err
	}
	rows, err := t.query(t.db.q.heldReceipts, string(m.Channel), providerID)
	if err != nil {
		return false, err
	}
	type held struct{ status, code, msg string }
	var hs []held
	for rows.Next() {
		var h held
		if err := rows.Scan(&h.status, &h.code, &h.msg); err != nil {
			rows.Close()
			return false, err
		}
		hs = append(hs, h)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(hs) == 0 {
		return false, err
	}
	// Apply in rank order, so each step is forward and its event in order.
	slices.SortFunc(hs, func(a, b held) int {
		return omnigate.MessageStatus(a.status).Rank() - omnigate.MessageStatus(b.status).Rank()
	})
	moved := false
	for _, h := range hs {
		st := omnigate.MessageStatus(h.status)
		changed, err := t.SetMessageStatus(store.StatusUpdate{MessageID: m.ID, Status: st, ErrorCode: h.code, ErrorMessage: h.msg, Now: now})
		if err != nil {
			return false, err
		}
		if !changed {
			continue
		}
		moved = true
		if event != nil {
			e, err := event(st, h.code, h.msg)
			if err != nil {
				return false, err
			}
			if e.Kind == "" {
				continue // the caller wanted to know, not to send an event
			}
			if err := t.Enqueue(e); err != nil {
				return false, err
			}
		}
	}
	_, err = t.exec(t.db.q.dropReceipts, string(m.Channel), providerID)
	return moved, err
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
	ids, err := column[string](t, t.db.q.queuedOfConv, conversationID, principalID, principalID)
	if err != nil {
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

// enqueueSQL inserts n outbox rows, in the order of its VALUES.
func enqueueSQL(n int) string {
	return multiRow(n, "INSERT INTO outbox (kind, fifo_key, message_id, payload, due_at, created_at) VALUES (?, ?, ?, ?, ?, ?)")
}

// multiRow repeats the one row of insert's VALUES n times.
func multiRow(n int, insert string) string {
	head, values, _ := strings.Cut(insert, " VALUES ")
	return head + " VALUES " + strings.Repeat(values+", ", n-1) + values
}

// eventSQL appends n events to the event log, in the order of its VALUES.
func eventSQL(n int) string {
	return multiRow(n, "INSERT INTO event_log (fifo_key, payload, created_at) VALUES (?, ?, ?)")
}

// insertForms are the prepared inserts of one table, for 32, 16, 8, 4, 3, 2 and 1 rows
// of width parameters each; build makes the statement for any number of rows.
type insertForms struct {
	build func(n int) string
	width int
	forms [7]insertForm
}

// insertForm is a prepared insert of n rows.
type insertForm struct {
	n int
	q string
}

func newInsertForms(rebind func(string) string, build func(int) string, width int) insertForms {
	f := insertForms{build: build, width: width}
	for i, n := range [...]int{32, 16, 8, 4, 3, 2, 1} {
		f.forms[i] = insertForm{n, rebind(build(n))}
	}
	return f
}

// Enqueue inserts the rows: platform events (KindEvent) in the event log, the others
// in the outbox, each table's rows in their order.
func (t *tx) Enqueue(es ...store.NewEntry) error {
	rows, evs := splitEvents(es)
	if err := t.enqueueOutbox(rows); err != nil {
		return err
	}
	if len(evs) == 0 {
		return nil
	}
	args, err := eventArgs(make([]any, 0, 3*len(evs)), evs)
	if err != nil {
		return err
	}
	if err := t.insertRows(&t.db.q.event, args); err != nil {
		return err
	}
	return t.afterEnqueue()
}

// splitEvents parts es into outbox rows and platform events, keeping each one's order;
// with no event it allocates nothing.
func splitEvents(es []store.NewEntry) (rows, evs []store.NewEntry) {
	n := 0
	for _, e := range es {
		if e.Kind == store.KindEvent {
			n++
		}
	}
	switch n {
	case 0:
		return es, nil
	case len(es):
		return nil, es
	}
	rows, evs = make([]store.NewEntry, 0, len(es)-n), make([]store.NewEntry, 0, n)
	for _, e := range es {
		if e.Kind == store.KindEvent {
			evs = append(evs, e)
		} else {
			rows = append(rows, e)
		}
	}
	return rows, evs
}

// enqueueOutbox inserts outbox rows, whatever their kind.
func (t *tx) enqueueOutbox(es []store.NewEntry) error {
	if len(es) == 0 {
		return nil
	}
	args, err := entryArgs(make([]any, 0, 6*len(es)), es)
	if err != nil {
		return err
	}
	if err := t.insertRows(&t.db.q.enqueue, args); err != nil {
		return err
	}
	return t.afterEnqueue()
}

// insertRows inserts rows of f.width parameters each: in one statement, one of the
// prepared forms for up to three rows (a send's deliveries and its events), one built
// for the batch beyond that. On SQLite's writer, where statements are prepared once, a
// larger batch (a Complete's status events) goes as consecutive prepared forms of 32,
// 16, 8, 4 and fewer rows instead, in its order: parsing a statement built for the
// batch cost more than running it.
func (t *tx) insertRows(f *insertForms, args []any) error {
	if n := len(args) / f.width; n > 3 && t.db.stmts == nil {
		_, err := t.exec(t.db.d.rebind(f.build(n)), args...)
		return err
	}
	for len(args) > 0 {
		for _, form := range f.forms {
			if n := f.width * form.n; n <= len(args) {
				if _, err := t.exec(form.q, args[:n]...); err != nil {
					return err
				}
				args = args[n:]
				break
			}
		}
	}
	return nil
}

func entryArgs(args []any, es []store.NewEntry) ([]any, error) {
	for _, e := range es {
		if e.DueAt.IsZero() {
			return nil, errors.New("store: enqueue: zero due time")
		}
		args = append(args, e.Kind, e.FIFOKey, e.MessageID, e.Payload, micros(e.DueAt), micros(e.DueAt))
	}
	return args, nil
}

// eventArgs are the event log's columns of es: an event's due time is when it was
// written.
func eventArgs(args []any, es []store.NewEntry) ([]any, error) {
	for _, e := range es {
		if e.DueAt.IsZero() {
			return nil, errors.New("store: enqueue: zero due time")
		}
		args = append(args, e.FIFOKey, e.Payload, micros(e.DueAt))
	}
	return args, nil
}

// afterEnqueue notes that rows were enqueued, and tells other instances at commit when
// no committer does it for the batch.
func (t *tx) afterEnqueue() error {
	t.enqueued = true
	if !t.notified && !t.batched {
		t.notified = true
		return t.db.d.notifyInTx(t.ctx, t.tx, t.db.self)
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

func (t *tx) BeginIdempotency(b store.IdempotencyBegin) (bool, error) {
	res, err := t.exec(t.db.q.idemBegin, b.PrincipalID, b.Key, b.BodyHash, micros(b.Now), micros(b.Expired), micros(b.Stale))
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

// Write implements store.Tx.
func (t *tx) Write(w store.Writes) error {
	if !t.db.d.combinedWrites() || !distinctWrites(w) {
		return t.writeEach(w)
	}
	args := make([]any, 0, 5*len(w.Contacts)+10*len(w.Updated)+14*len(w.Inserted)+21*len(w.Messages)+6*len(w.Entries))
	for _, c := range w.Contacts {
		args = contactArgs(args, c, w.Now)
	}
	for _, c := range w.Updated {
		args = updateConvArgs(args, c)
	}
	for _, c := range w.Inserted {
		args = insertConvArgs(args, c)
	}
	for _, m := range w.Messages {
		ma, err := messageArgs(m)
		if err != nil {
			return err
		}
		args = append(args, ma...)
	}
	rows, evs := splitEvents(w.Entries)
	args, err := entryArgs(args, rows)
	if err != nil {
		return err
	}
	if args, err = eventArgs(args, evs); err != nil {
		return err
	}
	shape := writeShape{len(w.Contacts), len(w.Updated), len(w.Inserted), len(w.Messages), len(rows), len(evs)}
	var updated int
	if err := t.row(t.db.writeSQL(shape), args...).Scan(&updated); err != nil {
		return err
	}
	if updated != len(w.Updated) {
		return store.ErrNotFound
	}
	if len(w.Entries) > 0 {
		return t.afterEnqueue()
	}
	return nil
}

// writeEach is Write one statement at a time.
func (t *tx) writeEach(w store.Writes) error {
	for _, c := range w.Contacts {
		if _, err := t.exec(t.db.q.writeContact, contactArgs(nil, c, w.Now)...); err != nil {
			return err
		}
	}
	for _, c := range w.Updated {
		if err := t.UpdateConversation(c); err != nil {
			return err
		}
	}
	for _, c := range w.Inserted {
		if err := t.InsertConversation(c); err != nil {
			return err
		}
	}
	for _, m := range w.Messages {
		if err := t.InsertMessage(m); err != nil {
			return err
		}
	}
	return t.Enqueue(w.Entries...)
}

// distinctWrites reports whether no row is written twice by w: the clauses of one
// statement run on one snapshot, so two of them cannot change the same row in turn.
func distinctWrites(w store.Writes) bool {
	contacts := make(map[[2]string]bool, len(w.Contacts))
	for _, c := range w.Contacts {
		k := [2]string{string(c.Channel), c.Address}
		if contacts[k] {
			return false
		}
		contacts[k] = true
	}
	convs := make(map[string]bool, len(w.Updated)+len(w.Inserted))
	for _, c := range slices.Concat(w.Updated, w.Inserted) {
		if convs[c.ID] {
			return false
		}
		convs[c.ID] = true
	}
	return true
}

// writeShape is how many of each write a Write holds: its statement's text.
type writeShape struct{ contacts, updated, inserted, messages, entries, events int }

// writeSQL returns the one statement of a shape of writes, built once per shape: each
// write a data-modifying WITH clause (PostgreSQL runs every clause, on one snapshot,
// in no set order, which is why distinctWrites must hold), the rows of one table in one
// multi-row INSERT, in their order (outbox ids ascend with it). The statement answers
// how many conversations it updated.
func (db *DB) writeSQL(s writeShape) string {
	if q, ok := db.writes.Load(s); ok {
		return q.(string)
	}
	var b strings.Builder
	clauses := 0
	clause := func(q string) string {
		name := "w" + strconv.Itoa(clauses)
		if clauses == 0 {
			b.WriteString("WITH ")
		} else {
			b.WriteString(", ")
		}
		b.WriteString(name + " AS (" + q + ")")
		clauses++
		return name
	}
	for range s.contacts {
		clause(upsertContactSQL)
	}
	counts := []string{"0"}
	for range s.updated {
		counts = append(counts, "(SELECT count(*) FROM "+clause(updateConvSQL+" RETURNING 1")+")")
	}
	if s.inserted > 0 {
		clause(multiRow(s.inserted, insertConvSQL))
	}
	if s.messages > 0 {
		clause(multiRow(s.messages, insertMsgSQL))
	}
	if s.entries > 0 {
		clause(enqueueSQL(s.entries))
	}
	if s.events > 0 {
		clause(eventSQL(s.events))
	}
	b.WriteString(" SELECT " + strings.Join(counts, " + "))
	q := db.d.rebind(b.String())
	db.writes.Store(s, q)
	return q
}

package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/omnigate/omnigate/store"
	"github.com/omnigate/omnigate/store/storetest"
)

// TestPostgresRelayPlansUseKeys checks that the relay's set-based statements (and the
// heartbeat's) look a batch up by key in a backlog of thousands, as PostgreSQL plans them in the relay's own
// transactions: never analysed, as in a fresh database, where a batch sent as one JSON
// parameter was planned as a scan of every message or every pending outbox row.
func TestPostgresRelayPlansUseKeys(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, storetest.PostgresSchema(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const n = 20000
	for _, q := range []string{
		`INSERT INTO conversations (id, channel, queue_id, address, contact_address, contact_name, state, assigned_to,
			opened_at, last_inbound_at, last_activity_at, replies_since_inbound, wrapup_code, wrapup_notes)
			SELECT 'c' || i, 'sms', 'support', '+15550001111', '+1415' || i, '', 'open', '', 1, 0, 1, 0, '', ''
			FROM generate_series(1, $1) AS i`,
		`INSERT INTO messages (id, conversation_id, direction, channel, queue_id, from_address, to_address, body,
			template, media, sender, principal_id, tag, status, attempts, provider_message_id, error_code,
			error_message, deleted, created_at, updated_at)
			SELECT 'm' || i, 'c' || i, 'outbound', 'sms', 'support', '+15550001111', '+1415' || i, 'a message body',
			'', '', '', 'ann', '', 'queued', 0, '', '', '', 0, i, i FROM generate_series(1, $1) AS i`,
		`INSERT INTO outbox (kind, fifo_key, message_id, payload, due_at, created_at, lease_owner, lease_token, lease_until)
			SELECT 'deliver', 'c' || i, 'm' || i, NULL, i, i, 'me', 'tok', 2 FROM generate_series(1, $1) AS i`,
	} {
		if _, err := db.w.ExecContext(ctx, q, n); err != nil {
			t.Fatal(err)
		}
	}
	var tokens []string
	var mids []mid
	var ids []int64
	var statuses []struct{ MID, Status, Code, Msg, PID string }
	var pids []struct{ MID, PID string }
	for i := int64(1); i <= 30; i++ {
		tokens = append(tokens, "tok")
		ids = append(ids, i*500)
		m := fmt.Sprintf("m%d", i*500)
		mids = append(mids, mid{m})
		statuses = append(statuses, struct{ MID, Status, Code, Msg, PID string }{m, "sent", "", "", "SM" + m})
		pids = append(pids, struct{ MID, PID string }{m, "SM" + m})
	}
	d := db.d
	checks := []struct {
		name, q string
		args    []any
	}{
		{"done", db.q.doneIn, d.doneArgs(ids, tokens)},
		{"claimed messages", db.q.claimedMsgsIn, d.recordArgs(mids)},
		{"mark sending", db.q.markSendingIn, append([]any{int64(1)}, d.recordArgs(mids)...)},
		{"message results", db.q.msgResultIn, append([]any{int64(1)}, d.recordArgs(statuses)...)},
		{"carrier ids", db.q.setProviderIn, d.recordArgs(pids)},
		{"extend leases", db.q.extendLeases, []any{int64(3), "me", d.idListArg(ids)}},
	}
	err = db.own(ctx, func(stx store.Tx) error {
		tx := stx.(*tx)
		if _, err := tx.exec(d.relaySetup()); err != nil {
			return err
		}
		for _, c := range checks {
			var plan string
			if err := tx.row("EXPLAIN (FORMAT JSON) "+c.q, c.args...).Scan(&plan); err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			var nodes []map[string]any
			if err := json.Unmarshal([]byte(plan), &nodes); err != nil {
				return err
			}
			for _, scan := range scans(nodes[0]["Plan"].(map[string]any)) {
				t.Errorf("%s: %s, want look-ups by key\n%s", c.name, scan, plan)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// scans lists the plan's nodes that read a whole table or every row of a condition.
func scans(node map[string]any) []string {
	var out []string
	switch node["Node Type"] {
	case "Seq Scan", "Bitmap Heap Scan":
		out = append(out, fmt.Sprintf("%s on %v", node["Node Type"], node["Relation Name"]))
	}
	if kids, ok := node["Plans"].([]any); ok {
		for _, k := range kids {
			out = append(out, scans(k.(map[string]any))...)
		}
	}
	return out
}

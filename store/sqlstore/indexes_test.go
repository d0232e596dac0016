package sqlstore

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/store"
)

// sqliteIndexes lists the schema's own indexes (not the primary keys' autoindexes).
func sqliteIndexes(t *testing.T, db *DB) []string {
	t.Helper()
	rows, err := db.r.Query(`SELECT name || ' ' || sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, strings.Join(strings.Fields(s), " "))
	}
	return out
}

// TestSQLiteLeanIndexesMigrations rolls the migrations that drop the indexes no
// SQLite query reads (00008) and fold the two conversation indexes into one (00009)
// back and forth over data: the indexes come and go, and the reads that could have
// used them (the latest conversation of a key, the contact search by name, cancelling
// a queued message's delivery) answer the same either way.
func TestSQLiteLeanIndexesMigrations(t *testing.T) {
	ctx := context.Background()
	db := openSQLiteFile(t)
	now := time.Now().UTC().Truncate(time.Microsecond)
	k := store.ConversationKey{Channel: omnigate.SMS, Address: "+15550001111", ContactAddress: "+15557770000"}
	conv := func(id string, opened time.Time) omnigate.Conversation {
		return omnigate.Conversation{ID: id, Channel: k.Channel, QueueID: "support", Address: k.Address,
			ContactAddress: k.ContactAddress, ContactName: "Ann", State: omnigate.StateAssigned, AssignedTo: "agent-ann",
			OpenedAt: opened, LastActivityAt: now}
	}
	// Two conversations of the key active at the same time: the later opened is the latest.
	older, newer := conv("conv-b", now.Add(-time.Hour)), conv("conv-a", now.Add(-time.Minute))
	msg := func(id string) omnigate.Message {
		return omnigate.Message{ID: id, ConversationID: newer.ID, Direction: omnigate.Outbound, Channel: k.Channel,
			QueueID: "support", From: k.Address, To: k.ContactAddress, Text: "hi", Sender: omnigate.Human,
			PrincipalID: "agent-ann", Status: omnigate.StatusQueued, CreatedAt: now, UpdatedAt: now}
	}
	n := 0
	check := func(when string, want []string) {
		t.Helper()
		if got := sqliteIndexes(t, db); !slices.Equal(got, want) {
			t.Errorf("%s: indexes\n%s\nwant\n%s", when, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		n++
		id := "msg-" + string(rune('0'+n))
		err := db.Update(ctx, func(stx store.Tx) error {
			tx := stx.(*tx)
			if err := tx.InsertMessage(msg(id)); err != nil {
				return err
			}
			if err := tx.Enqueue(store.NewEntry{Kind: store.KindDeliver, FIFOKey: newer.ID, MessageID: id, DueAt: now}); err != nil {
				return err
			}
			if got, err := tx.LatestConversation(k); err != nil || got.ID != newer.ID {
				t.Errorf("%s: latest conversation = %s, %v; want %s", when, got.ID, err, newer.ID)
			}
			if got, err := tx.Recipient(k); err != nil || !got.HasLatest || got.Latest != newer || !got.ContactKnown || got.Contact.Name != "Ann" {
				t.Errorf("%s: recipient = %+v, %v; want the contact Ann and %+v", when, got, err, newer)
			}
			canceled, err := tx.CancelQueued(newer.ID, "", now)
			if err != nil || !slices.Equal(canceled, []string{id}) {
				t.Errorf("%s: canceled %v, %v; want [%s]", when, canceled, err, id)
			}
			var left int
			if err := tx.row(`SELECT COUNT(*) FROM outbox WHERE message_id = ?`, id).Scan(&left); err != nil || left != 0 {
				t.Errorf("%s: %d outbox rows left for the canceled message (%v)", when, left, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		got, err := db.Contacts(ctx, store.ContactQuery{Channel: k.Channel, Prefix: "an", Limit: 10})
		if err != nil || len(got) != 1 || got[0].Address != k.ContactAddress {
			t.Errorf("%s: contacts named an… = %+v, %v", when, got, err)
		}
	}
	err := db.Update(ctx, func(tx store.Tx) error {
		if _, err := tx.UpsertContact(omnigate.Contact{Channel: k.Channel, Address: k.ContactAddress, Name: "Ann"}, now); err != nil {
			return err
		}
		if err := tx.InsertConversation(older); err != nil {
			return err
		}
		return tx.InsertConversation(newer)
	})
	if err != nil {
		t.Fatal(err)
	}
	lean := sqliteIndexes(t, db)
	check("migrated", lean)
	for _, gone := range []string{"outbox_message ", "contacts_name ", "conversations_contact "} {
		if slices.ContainsFunc(lean, func(s string) bool { return strings.HasPrefix(s, gone) }) {
			t.Errorf("%sis still there", gone)
		}
	}
	// replace returns list with the indexes named in defs (name, then its SQL) put in.
	replace := func(list []string, defs ...string) []string {
		var out []string
		for _, s := range list {
			if !slices.ContainsFunc(defs, func(d string) bool { return strings.HasPrefix(s, strings.Fields(d)[0]+" ") }) {
				out = append(out, s)
			}
		}
		out = append(out, defs...)
		slices.Sort(out)
		return out
	}
	v8 := replace(lean,
		"conversations_contact CREATE INDEX conversations_contact ON conversations (channel, contact_address, last_activity_at)",
		"conversations_key CREATE INDEX conversations_key ON conversations (channel, address, contact_address, last_activity_at, opened_at)")
	v7 := replace(v8,
		"contacts_name CREATE INDEX contacts_name ON contacts (name_lower)",
		"conversations_key CREATE INDEX conversations_key ON conversations (channel, address, contact_address, last_activity_at)",
		"outbox_message CREATE INDEX outbox_message ON outbox (message_id) WHERE message_id <> ''")
	for _, down := range []struct {
		version int64
		want    []string
	}{{8, v8}, {7, v7}} {
		if err := db.MigrateDownTo(ctx, down.version); err != nil {
			t.Fatal(err)
		}
		check(fmt.Sprintf("rolled back to %d", down.version), down.want)
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	check("migrated again", lean)
}

// TestSQLiteContactConversationsOrder lists a contact's conversations with two of
// our addresses: the most recently active first, and of two active at the same time
// the later id first, as the index by contact alone listed them.
func TestSQLiteContactConversationsOrder(t *testing.T) {
	ctx := context.Background()
	db := openSQLiteFile(t)
	now := time.Now().UTC().Truncate(time.Microsecond)
	conv := func(id, ours string, active time.Time) omnigate.Conversation {
		return omnigate.Conversation{ID: id, Channel: omnigate.SMS, QueueID: "support", Address: ours,
			ContactAddress: "+15557770000", State: omnigate.StateClosed, OpenedAt: active, LastActivityAt: active}
	}
	cs := []omnigate.Conversation{
		conv("conv-1", "+15550001111", now.Add(-time.Hour)),
		conv("conv-2", "+15550002222", now),
		conv("conv-3", "+15550001111", now),
		conv("conv-4", "+15550002222", now.Add(-time.Minute)),
	}
	err := db.Update(ctx, func(tx store.Tx) error {
		for _, c := range cs {
			if err := tx.InsertConversation(c); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := db.Conversations(ctx, omnigate.SMS, "+15557770000", 10)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range got {
		ids = append(ids, c.ID)
	}
	if want := []string{"conv-3", "conv-2", "conv-4", "conv-1"}; !slices.Equal(ids, want) {
		t.Errorf("conversations = %v, want %v", ids, want)
	}
	if got, _ := db.Conversations(ctx, omnigate.SMS, "+15557770000", 1); len(got) != 1 || got[0].ID != "conv-3" {
		t.Errorf("the latest conversation = %+v, want conv-3", got)
	}
}

// TestSQLiteSendReadsPlans checks that a send's reads of the latest conversation stop
// at the key's last index entry (no temporary table, no sort), and that a claim and a
// Complete find their rows by id.
func TestSQLiteSendReadsPlans(t *testing.T) {
	db, err := Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "omnigate.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for name, q := range map[string]string{"recipient": db.q.recipient, "latest conversation": db.q.latestConv, "done": db.q.doneIn,
		"claimed messages": db.q.claimedMsgsIn, "mark sending": db.q.markSendingIn} {
		args := make([]any, strings.Count(q, "?"))
		for i := range args {
			args[i] = "x"
		}
		rows, err := db.r.Query("EXPLAIN QUERY PLAN "+q, args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		for _, step := range plan {
			if strings.Contains(step, "TEMP B-TREE") || strings.Contains(step, "MATERIALIZE") || strings.HasPrefix(step, "SCAN conversations") || strings.HasPrefix(step, "SCAN outbox") ||
				strings.HasPrefix(step, "SCAN m") {
				t.Errorf("%s: %q in the plan\n%s", name, step, strings.Join(plan, "\n"))
			}
		}
	}
}

// TestSQLiteLimitsAreExpressions checks that no statement leaves SQLite a bare LIMIT
// parameter: its planner would read the bound value, and the statement would be
// prepared again every time it is bound (every run, through database/sql).
func TestSQLiteLimitsAreExpressions(t *testing.T) {
	d := sqliteDialect{}
	for _, q := range statements(buildQueries(d), buildEventLogQueries(d)) {
		if strings.Contains(q, "LIMIT ?") {
			t.Errorf("a bare LIMIT ?\n%s", q)
		}
	}
	if got := d.rebind("SELECT 1 LIMIT ?"); got != "SELECT 1 LIMIT +?" {
		t.Errorf("rebind = %q", got)
	}
}

// openSQLiteFile opens a fresh, migrated SQLite store in a file, closed when the test ends.
func openSQLiteFile(t *testing.T) *DB {
	t.Helper()
	db, err := Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "omnigate.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

package sqlstore_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/store"
	"github.com/omnigate/omnigate/store/sqlstore"
)

// The store benchmarks measure the two halves of the outbound path without HTTP or a
// carrier: Enqueue is what POST /v1/messages writes, ClaimComplete what the relay does
// for each row. Run them with
//
//	go test ./store/sqlstore -run '^$' -bench . -benchtime 20000x
//
// PostgreSQL runs against $OMNIGATE_TEST_POSTGRES or the local test database and is
// skipped when it is unreachable.

var benchStores = []struct {
	name string
	open func(testing.TB) *sqlstore.DB
}{
	{"sqlite", func(tb testing.TB) *sqlstore.DB { return OpenSQLite(tb) }},
	// The default before synchronous=FULL, to measure what durability across power
	// loss costs.
	{"sqlite-sync-normal", func(tb testing.TB) *sqlstore.DB { return openSQLiteQuery(tb, "_pragma=synchronous(NORMAL)") }},
	{"postgres", func(tb testing.TB) *sqlstore.DB { return OpenPostgres(tb) }},
	// Every Update its own transaction, as before PostgreSQL's group commit.
	{"postgres-nobatch", func(tb testing.TB) *sqlstore.DB { return openPostgresOpt(tb, sqlstore.Options{NoBatch: true}) }},
}

func openSQLiteQuery(tb testing.TB, query string) *sqlstore.DB {
	tb.Helper()
	db, err := sqlstore.Open(context.Background(), "sqlite://"+filepath.Join(tb.TempDir(), "omnigate.db")+"?"+query, sqlstore.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

var benchSeq atomic.Int64

// enqueueOne writes what one accepted send writes: a conversation, its message and the
// message's outbox row.
func enqueueOne(tx store.Tx, n int64, now time.Time) error {
	convID := fmt.Sprintf("conv_bench_%d", n)
	contact := fmt.Sprintf("+1555%07d", n%10_000_000)
	c := omnigate.Conversation{ID: convID, Channel: omnigate.SMS, QueueID: "support", Address: "+15550001111",
		ContactAddress: contact, State: omnigate.StateAssigned, AssignedTo: "agent-ann",
		OpenedAt: now, LastActivityAt: now, RepliesSinceInbound: 1}
	if err := tx.InsertConversation(c); err != nil {
		return err
	}
	m := omnigate.Message{ID: fmt.Sprintf("msg_bench_%d", n), ConversationID: convID, Direction: omnigate.Outbound,
		Channel: omnigate.SMS, QueueID: "support", From: c.Address, To: contact, Text: "Your order shipped.",
		Sender: omnigate.Human, PrincipalID: "agent-ann", Status: omnigate.StatusQueued, CreatedAt: now, UpdatedAt: now}
	if err := tx.InsertMessage(m); err != nil {
		return err
	}
	return tx.Enqueue(store.NewEntry{Kind: store.KindDeliver, FIFOKey: convID, MessageID: m.ID, DueAt: now})
}

// BenchmarkEnqueue runs one Update per send from many goroutines, so SQLite's group
// commit folds them; rows/s counts sends committed per second.
func BenchmarkEnqueue(b *testing.B) {
	for _, s := range benchStores {
		b.Run(s.name, func(b *testing.B) {
			db := s.open(b)
			ctx := context.Background()
			b.SetParallelism(32) // 64 goroutines on 2 cores, like 64 API connections
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					n := benchSeq.Add(1)
					now := time.Now()
					if err := db.Update(ctx, func(tx store.Tx) error { return enqueueOne(tx, n, now) }); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "rows/s")
		})
	}
}

// sendWrites is what a send to a new contact writes: the contact, the conversation, its
// message, the delivery and the conversation's event.
func sendWrites(n int64, now time.Time) store.Writes {
	convID := fmt.Sprintf("conv_bench_%d", n)
	contact := fmt.Sprintf("+1555%07d", n%10_000_000)
	c := omnigate.Conversation{ID: convID, Channel: omnigate.SMS, QueueID: "support", Address: "+15550001111",
		ContactAddress: contact, State: omnigate.StateAssigned, AssignedTo: "agent-ann",
		OpenedAt: now, LastActivityAt: now, RepliesSinceInbound: 1}
	m := omnigate.Message{ID: fmt.Sprintf("msg_bench_%d", n), ConversationID: convID, Direction: omnigate.Outbound,
		Channel: omnigate.SMS, QueueID: "support", From: c.Address, To: contact, Text: "Your order shipped.",
		Sender: omnigate.Human, PrincipalID: "agent-ann", Status: omnigate.StatusQueued, CreatedAt: now, UpdatedAt: now}
	return store.Writes{Now: now, Contacts: []omnigate.Contact{{Channel: omnigate.SMS, Address: contact}},
		Inserted: []omnigate.Conversation{c}, Messages: []omnigate.Message{m},
		Entries: []store.NewEntry{{Kind: store.KindDeliver, FIFOKey: convID, MessageID: m.ID, DueAt: now},
			{Kind: store.KindEvent, FIFOKey: "ev:" + convID, Payload: []byte(`{"type":"conversation.updated","data":{}}`), DueAt: now}}}
}

// BenchmarkSendWrites writes what a send to a new contact writes, from 64 goroutines:
// "write" in one Tx.Write (on PostgreSQL one statement), "calls" one method per write as
// before it; sends/s counts sends committed per second.
func BenchmarkSendWrites(b *testing.B) {
	for _, s := range benchStores {
		for _, mode := range []string{"write", "calls"} {
			b.Run(s.name+"/"+mode, func(b *testing.B) {
				db := s.open(b)
				ctx := context.Background()
				b.SetParallelism(32)
				b.ReportAllocs()
				b.ResetTimer()
				start := time.Now()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						w := sendWrites(benchSeq.Add(1), time.Now())
						err := db.Update(ctx, func(tx store.Tx) error {
							if mode == "write" {
								return tx.Write(w)
							}
							if _, err := tx.UpsertContact(w.Contacts[0], w.Now); err != nil {
								return err
							}
							if err := tx.InsertConversation(w.Inserted[0]); err != nil {
								return err
							}
							if err := tx.InsertMessage(w.Messages[0]); err != nil {
								return err
							}
							return tx.Enqueue(w.Entries...)
						})
						if err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "sends/s")
			})
		}
	}
}

// BenchmarkClaimComplete pre-fills b.N deliverable rows spread over many FIFO keys,
// then claims them 128 at a time and completes each batch as sent, as the relay does;
// rows/s counts rows claimed and completed per second.
func BenchmarkClaimComplete(b *testing.B) {
	const keys = 4096
	for _, s := range benchStores {
		b.Run(s.name, func(b *testing.B) {
			db := s.open(b)
			ctx := context.Background()
			now := time.Now().Add(-time.Second)
			for i := 0; i < b.N; i += 1000 {
				err := db.Update(ctx, func(tx store.Tx) error {
					for j := i; j < min(i+1000, b.N); j++ {
						// Rows past the first keys conversations queue behind their
						// key's head, as a conversation's later messages do.
						n := benchSeq.Add(1)
						if err := enqueueRow(tx, n, j%keys, now); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			done := 0
			results := make([]store.Result, 0, 128)
			for done < b.N {
				c, err := db.ClaimDue(ctx, store.Claim{Owner: "bench", Now: time.Now(), Lease: 30 * time.Second, Limit: 128})
				es := c.Entries
				if err != nil {
					b.Fatal(err)
				}
				if len(es) == 0 {
					b.Fatalf("nothing due after %d of %d rows", done, b.N)
				}
				results = results[:0]
				for _, e := range es {
					results = append(results, store.Result{EntryID: e.ID, Token: e.LeaseToken, Outcome: store.Done,
						MessageID: e.MessageID, Channel: e.Message.Channel, Status: omnigate.StatusSent, ProviderMessageID: "SM" + e.MessageID})
				}
				errs, err := db.Complete(ctx, results, time.Now())
				if err != nil {
					b.Fatal(err)
				}
				for _, e := range errs {
					if e != nil {
						b.Fatal(e)
					}
				}
				done += len(es)
			}
			b.ReportMetric(float64(done)/time.Since(start).Seconds(), "rows/s")
		})
	}
}

// enqueueRow writes a message and its outbox row on FIFO key "conv_key_<key>".
func enqueueRow(tx store.Tx, n int64, key int, now time.Time) error {
	convID := fmt.Sprintf("conv_key_%d", key)
	if _, err := tx.Conversation(convID); err != nil {
		c := omnigate.Conversation{ID: convID, Channel: omnigate.SMS, QueueID: "support", Address: "+15550001111",
			ContactAddress: fmt.Sprintf("+1555%07d", key), State: omnigate.StateAssigned, AssignedTo: "agent-ann",
			OpenedAt: now, LastActivityAt: now}
		if err := tx.InsertConversation(c); err != nil {
			return err
		}
	}
	m := omnigate.Message{ID: fmt.Sprintf("msg_bench_%d", n), ConversationID: convID, Direction: omnigate.Outbound,
		Channel: omnigate.SMS, QueueID: "support", From: "+15550001111", To: fmt.Sprintf("+1555%07d", key),
		Text: "Your order shipped.", Sender: omnigate.Human, PrincipalID: "agent-ann", Status: omnigate.StatusQueued,
		CreatedAt: now, UpdatedAt: now}
	if err := tx.InsertMessage(m); err != nil {
		return err
	}
	return tx.Enqueue(store.NewEntry{Kind: store.KindDeliver, FIFOKey: convID, MessageID: m.ID, DueAt: now})
}

// BenchmarkEventPath writes b.N platform events, four to a transaction as a message's
// send and results do, and takes them off again 128 at a time: through the event log
// (read, then deleted with their batch under the dispatch lease) and, to compare, as
// outbox rows claimed under a lease and completed, as events went before the log.
// events/s counts events written and taken off per second.
func BenchmarkEventPath(b *testing.B) {
	payload := []byte(`{"id":"evt_0123456789abcdef","type":"message.status","conversation_id":"conv_0123456789abcdef","data":{"status":"sent"}}`)
	for _, s := range benchStores {
		for _, path := range []string{"log", "outbox"} {
			b.Run(s.name+"/"+path, func(b *testing.B) {
				db := s.open(b)
				ctx := context.Background()
				now := time.Now()
				if ok, err := db.LeaseEvents(ctx, store.EventLease{Owner: "bench", Now: now, Until: now.Add(time.Hour)}); err != nil || !ok {
					b.Fatal("lease", ok, err)
				}
				b.ReportAllocs()
				b.ResetTimer()
				start := time.Now()
				for i := 0; i < b.N; i += 4 {
					es := make([]store.NewEntry, 0, 4)
					for j := i; j < min(i+4, b.N); j++ {
						es = append(es, store.NewEntry{Kind: store.KindEvent, FIFOKey: fmt.Sprintf("ev:conv_%d", j), Payload: payload, DueAt: now})
					}
					var err error
					if path == "log" {
						err = db.Update(ctx, func(tx store.Tx) error { return tx.Enqueue(es...) })
					} else {
						err = db.EnqueueOutbox(ctx, es...)
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				for done := 0; done < b.N; {
					var n int
					if path == "log" {
						batch, err := db.ReadEvents(ctx, 128)
						if err != nil {
							b.Fatal(err)
						}
						seqs := make([]int64, 0, len(batch.Events))
						for _, e := range batch.Events {
							seqs = append(seqs, e.Seq)
						}
						if err := db.FinishEvents(ctx, store.EventsDone{Owner: "bench", LeaseUntil: now.Add(time.Hour), Done: seqs}); err != nil {
							b.Fatal(err)
						}
						n = len(seqs)
					} else {
						c, err := db.ClaimDue(ctx, store.Claim{Owner: "bench", Now: time.Now(), Lease: 30 * time.Second, Limit: 128})
						if err != nil {
							b.Fatal(err)
						}
						results := make([]store.Result, 0, len(c.Entries))
						for _, e := range c.Entries {
							results = append(results, store.Result{EntryID: e.ID, Token: e.LeaseToken, Outcome: store.Done})
						}
						if _, err := db.Complete(ctx, results, time.Now()); err != nil {
							b.Fatal(err)
						}
						n = len(results)
					}
					if n == 0 {
						b.Fatalf("nothing left after %d of %d events", done, b.N)
					}
					done += n
				}
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
			})
		}
	}
}

package sqlstore_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/omnigate/omnigate/store"
)

// TestEnqueueBatchOrder enqueues batches of every size around the prepared forms
// SQLite splits a batch into, in the outbox and, as events, in the event log: every
// row is stored once, with its own values, and the ids follow the batch's order (the
// FIFO order of a key).
func TestEnqueueBatchOrder(t *testing.T) {
	for name, open := range bothStores {
		t.Run(name, func(t *testing.T) {
			db := open(t)
			ctx := context.Background()
			due := time.Now().UTC().Truncate(time.Microsecond)
			var want []string
			var wantEvents []store.NewEntry
			for _, n := range []int{1, 3, 4, 5, 7, 15, 31, 32, 33, 63, 64, 100} {
				var es []store.NewEntry
				for i := range n {
					key := fmt.Sprintf("b%d-%d", n, i)
					es = append(es, store.NewEntry{Kind: store.KindEvent, FIFOKey: "ev:" + strconv.Itoa(i%3), MessageID: key,
						Payload: []byte(key), DueAt: due.Add(time.Duration(i) * time.Microsecond)})
					want = append(want, key)
					wantEvents = append(wantEvents, es[len(es)-1])
				}
				// The same rows as events, through Enqueue, go to the event log.
				if err := db.Update(ctx, func(tx store.Tx) error { return tx.Enqueue(es...) }); err != nil {
					t.Fatal(err)
				}
				if err := db.EnqueueOutbox(ctx, es...); err != nil {
					t.Fatal(err)
				}
			}
			b, err := db.ReadEvents(ctx, 1000)
			if err != nil || len(b.Events) != len(want) {
				t.Fatalf("%d events logged (%v), want %d", len(b.Events), err, len(want))
			}
			for i, e := range b.Events {
				w := wantEvents[i]
				if string(e.Payload) != string(w.Payload) || e.FIFOKey != w.FIFOKey || !e.CreatedAt.Equal(w.DueAt) || (i > 0 && e.Seq <= b.Events[i-1].Seq) {
					t.Fatalf("event %d = %+v, want %s", i, e, want[i])
				}
			}
			var got []store.OutboxRow
			for after := int64(0); ; {
				rows, err := db.Outbox(ctx, "pending", after, 100)
				if err != nil {
					t.Fatal(err)
				}
				if len(rows) == 0 {
					break
				}
				got = append(got, rows...)
				after = rows[len(rows)-1].ID
			}
			if len(got) != len(want) {
				t.Fatalf("%d rows stored, want %d", len(got), len(want))
			}
			for i, r := range got {
				if r.MessageID != want[i] || r.FIFOKey != "ev:"+strconv.Itoa(int(r.DueAt.Sub(due)/time.Microsecond)%3) {
					t.Fatalf("row %d = %+v, want message %s", i, r, want[i])
				}
			}
		})
	}
}

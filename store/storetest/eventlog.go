package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/omnigate/omnigate/store"
)

// drainLog takes the event log's lease as owner "drain", posts nothing, and returns the
// payloads of every event in the log in log order, deleting them as posted.
func drainLog(t *testing.T, s store.Store) []string {
	t.Helper()
	now := time.Now()
	if ok, err := s.LeaseEvents(ctx(), store.EventLease{Owner: "drain", Now: now, Until: now.Add(time.Minute)}); err != nil || !ok {
		t.Fatalf("lease the event log: %v %v", ok, err)
	}
	var out []string
	for {
		b, err := s.ReadEvents(ctx(), 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Events) == 0 {
			return out
		}
		var done []int64
		for _, e := range b.Events {
			out = append(out, string(e.Payload))
			done = append(done, e.Seq)
		}
		if err := s.FinishEvents(ctx(), store.EventsDone{Owner: "drain", LeaseUntil: now.Add(time.Minute), Done: done}); err != nil {
			t.Fatal(err)
		}
	}
}

// testEventLog: events go to the log in order; one live owner holds the dispatch lease;
// a batch is recorded only under the lease; spilled events become outbox rows, and the
// log then reports their key as behind the outbox.
func testEventLog(t *testing.T, s store.Store) {
	ev := func(key, payload string) store.NewEntry {
		return store.NewEntry{Kind: store.KindEvent, FIFOKey: key, Payload: []byte(payload), DueAt: t0}
	}
	if err := s.Update(ctx(), func(tx store.Tx) error {
		return tx.Enqueue(ev("ev:a", "a1"), ev("ev:b", "b1"), ev("ev:a", "a2"))
	}); err != nil {
		t.Fatal(err)
	}
	if es, _ := claim(t, s, "w", t0.Add(time.Hour), time.Minute, 10); len(es) != 0 {
		t.Fatalf("claimed %d outbox rows, want none: events go to the log", len(es))
	}
	b, err := s.ReadEvents(ctx(), 10)
	var got []string
	for _, e := range b.Events {
		got = append(got, e.FIFOKey+"="+string(e.Payload))
		if !e.CreatedAt.Equal(t0) {
			t.Errorf("event %d created at %v, want %v", e.Seq, e.CreatedAt, t0)
		}
	}
	if err != nil || !slices.Equal(got, []string{"ev:a=a1", "ev:b=b1", "ev:a=a2"}) || len(b.Behind) != 0 {
		t.Fatalf("log = %q behind %v (%v), want a1 b1 a2 and nothing behind", got, b.Behind, err)
	}
	if st, err := s.OutboxStats(ctx(), t0); err != nil || st.Pending != 3 {
		t.Errorf("outbox stats = %+v, %v: want the 3 logged events pending", st, err)
	}

	// x is a live instance and holds the lease; y cannot take it or record a batch.
	now := time.Now()
	if _, err := s.Heartbeat(ctx(), store.Heartbeat{Owner: "x", Now: now, LeaseUntil: now.Add(time.Minute), DeadBefore: now.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	lease := func(owner string, at time.Time) bool {
		t.Helper()
		ok, err := s.LeaseEvents(ctx(), store.EventLease{Owner: owner, Now: at, Until: at.Add(30 * time.Second)})
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !lease("x", now) || lease("y", now) || !lease("x", now.Add(time.Second)) {
		t.Fatal("x should hold the lease, and y not take it while x lives and its lease runs")
	}
	a1, b1, a2 := b.Events[0], b.Events[1], b.Events[2]
	if err := s.FinishEvents(ctx(), store.EventsDone{Owner: "y", LeaseUntil: now.Add(time.Minute), Done: []int64{a1.Seq, b1.Seq}}); !errors.Is(err, store.ErrLeaseLost) {
		t.Fatalf("y's finish of posted events = %v, want ErrLeaseLost", err)
	}
	spill := []store.SpilledEvent{{Seq: a1.Seq, Entry: store.NewEntry{FIFOKey: "ev:a", Payload: a1.Payload, DueAt: t0.Add(time.Second)},
		Attempts: 1, Error: "503: busy"},
		{Seq: a2.Seq, Entry: store.NewEntry{FIFOKey: "ev:a", Payload: a2.Payload, DueAt: t0}}}
	if err := s.FinishEvents(ctx(), store.EventsDone{Owner: "y", LeaseUntil: now.Add(time.Minute), Done: []int64{b1.Seq}, Spill: spill}); !errors.Is(err, store.ErrLeaseLost) {
		t.Fatalf("y's finish = %v, want ErrLeaseLost", err)
	}
	if b, _ := s.ReadEvents(ctx(), 10); len(b.Events) != 3 {
		t.Fatalf("y's refused finish changed the log: %d events", len(b.Events))
	}
	// x posted b1; a1 failed and moves to the outbox with a2 behind it.
	if err := s.FinishEvents(ctx(), store.EventsDone{Owner: "x", LeaseUntil: now.Add(time.Minute), Done: []int64{b1.Seq}, Spill: spill}); err != nil {
		t.Fatal(err)
	}
	if b, _ := s.ReadEvents(ctx(), 10); len(b.Events) != 0 {
		t.Fatalf("log after finish = %+v, want empty", b.Events)
	}
	if es, _ := claim(t, s, "w", t0, time.Minute, 10); len(es) != 0 {
		t.Fatalf("claimed %+v before a1's retry is due", es)
	}
	es, err := claim(t, s, "w", t0.Add(time.Second), time.Minute, 10)
	if err != nil || len(es) != 1 || es[0].Kind != store.KindEvent || string(es[0].Payload) != "a1" || es[0].FIFOKey != "ev:a" ||
		es[0].Attempts != 2 || !es[0].CreatedAt.Equal(t0.Add(time.Second)) {
		t.Fatalf("claim = %+v, %v: want a1 alone (a2 waits behind it), on its second attempt", es, err)
	}
	// A new event of a goes behind the outbox's rows; one of b does not.
	if err := s.Update(ctx(), func(tx store.Tx) error { return tx.Enqueue(ev("ev:a", "a3"), ev("ev:b", "b2")) }); err != nil {
		t.Fatal(err)
	}
	b, err = s.ReadEvents(ctx(), 10)
	if err != nil || len(b.Events) != 2 || !b.Behind["ev:a"] || b.Behind["ev:b"] {
		t.Fatalf("log = %+v behind %v (%v), want a3 behind the outbox and b2 not", b.Events, b.Behind, err)
	}
	// The platform refused b2: it becomes a dead letter at once, with its attempt.
	a3, b2 := b.Events[0], b.Events[1]
	if err := s.FinishEvents(ctx(), store.EventsDone{Owner: "x", LeaseUntil: now.Add(time.Minute), Spill: []store.SpilledEvent{
		{Seq: a3.Seq, Entry: store.NewEntry{FIFOKey: "ev:a", Payload: a3.Payload, DueAt: t0}},
		{Seq: b2.Seq, Entry: store.NewEntry{FIFOKey: "ev:b", Payload: b2.Payload, DueAt: t0}, Attempts: 1, Error: "401: refused", Dead: true, CreatedAt: t0}}}); err != nil {
		t.Fatal(err)
	}
	dead, err := s.Outbox(ctx(), store.OutboxDead, 0, 10)
	if err != nil || len(dead) != 1 || dead[0].FIFOKey != "ev:b" || dead[0].Attempts != 1 || dead[0].LastError != "401: refused" {
		t.Fatalf("dead letters = %+v, %v: want b2 after one attempt with the platform's answer", dead, err)
	}

	// The lease passes on: when x releases it, when its holder's lease ran out, and at
	// once when its holder is no live instance (the living reap dead ones).
	if err := s.Release(ctx(), "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Heartbeat(ctx(), store.Heartbeat{Owner: "y", Now: now, LeaseUntil: now.Add(time.Minute), DeadBefore: now.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if !lease("y", now) {
		t.Fatal("y could not take the lease x released")
	}
	if lease("z", now) || !lease("z", now.Add(31*time.Second)) {
		t.Fatal("z should take the lease only once y's ran out")
	}
	if !lease("w", now.Add(32*time.Second)) {
		t.Fatal("w could not take the lease of z, which is no live instance")
	}
}

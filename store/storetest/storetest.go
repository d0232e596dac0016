// Package storetest is the conformance suite every store.Store implementation passes:
// the same tests run against SQLite and PostgreSQL.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/store"
)

// Run runs the suite; open returns a fresh, empty, migrated store for each test.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"conversation and message round trip", testRoundTrip},
		{"claim respects per-key FIFO", testFIFO},
		{"rows enqueued in one call keep their order", testEnqueueOrder},
		{"events go to the event log, posted under one lease", testEventLog},
		{"Write stores a decision's writes as the calls it stands for would", testWrite},
		{"a stale lease cannot complete or fail", testLeaseToken},
		{"retry and dead letters", testRetryDead},
		{"status never moves backwards", testStatusForward},
		{"inbound dedupe", testDedupe},
		{"idempotency records", testIdempotency},
		{"a failed update writes nothing and spares its neighbours", testUpdateIsolation},
		{"cancel queued spares leased rows", testCancelQueued},
		{"contacts search and opt-outs", testContacts},
		{"contact aliases", testContactAliases},
		{"a receipt that overtakes the commit is applied", testHeldReceipt},
		{"a receipt before Complete keeps its status and Complete's event is dropped", testReceiptBeforeComplete},
		{"Complete records the carrier id whether or not the status moves", testCarrierIDWithStatus},
		{"receipt and Complete race: the highest status wins, nothing is left held", testReceiptCompleteRace},
		{"two receipts race: the highest status wins", testReceiptsRace},
		{"a cancelled caller in a group commit fails alone", testCancelledCallerFailsAlone},
		{"a failing caller in a group commit fails alone", testFailingCallerFailsAlone},
		{"a swallowed statement error spares the group commit", testSwallowedErrorSparesNeighbours},
		{"heartbeats extend leases in flight", testHeartbeatExtends},
		{"a dead instance's leases are released by the living", testReapDeadInstance},
		{"paced rows get distinct slots across concurrent claims", testPacingSlots},
		{"a paced row claimed long after its slot takes a new one", testPacingLateReslot},
		{"a claim never takes back the owner's own rows in flight", testClaimExcludes},
		{"next due ignores leased heads and rows behind them", testNextDueClaimable},
		{"prune deletes old dedupe keys, idempotency records and held receipts", testPrune},
		{"templates are replaced per address and kept", testTemplates},
		{"retention tombstones old bodies, in batches, sparing messages in flight", testRetentionBodies},
		{"retention deletes old conversations the outbox no longer needs", testRetentionConversations},
		{"erasing a contact leaves tombstones, cancels queued sends, keeps opt-outs", testEraseContact},
		{"media references round trip", testMedia},
		{"retention and erasure remove media references", testMediaRetentionAndErasure},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

var t0 = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

func ctx() context.Context { return context.Background() }

func conv(id string) omnigate.Conversation {
	return omnigate.Conversation{ID: id, Channel: omnigate.SMS, QueueID: "support", Address: "+15550001111",
		ContactAddress: "+14155550100", State: omnigate.StateAssigned, AssignedTo: "agent-ann",
		OpenedAt: t0, LastActivityAt: t0}
}

func msg(id, convID string, at time.Time) omnigate.Message {
	return omnigate.Message{ID: id, ConversationID: convID, Direction: omnigate.Outbound, Channel: omnigate.SMS,
		QueueID: "support", From: "+15550001111", To: "+14155550100", Text: "hello " + id,
		Sender: omnigate.Human, PrincipalID: "agent-ann", Status: omnigate.StatusQueued, CreatedAt: at, UpdatedAt: at}
}

// seed writes a conversation and n queued messages with their outbox rows, enqueued in
// one call: every FIFO test then also checks that one call keeps the rows' order.
func seed(t *testing.T, s store.Store, convID string, n int) []string {
	t.Helper()
	var ids []string
	err := s.Update(ctx(), func(tx store.Tx) error {
		ids = ids[:0]
		if _, err := tx.Conversation(convID); errors.Is(err, store.ErrNotFound) {
			if err := tx.InsertConversation(conv(convID)); err != nil {
				return err
			}
		}
		var rows []store.NewEntry
		for i := 0; i < n; i++ {
			id := fmt.Sprintf("%s-m%03d", convID, i)
			if err := tx.InsertMessage(msg(id, convID, t0.Add(time.Duration(i)*time.Millisecond))); err != nil {
				return err
			}
			rows = append(rows, store.NewEntry{Kind: store.KindDeliver, FIFOKey: convID, MessageID: id, DueAt: t0})
			ids = append(ids, id)
		}
		return tx.Enqueue(rows...)
	})
	if err != nil {
		t.Fatalf("seed: %v", err)
	}
	return ids
}

func testRoundTrip(t *testing.T, s store.Store) {
	c := conv("c1")
	c.LastInboundAt = t0.Add(-time.Hour)
	m := msg("m1", "c1", t0)
	m.Template = &omnigate.Template{Name: "order_update", Language: "en_US", Variables: map[string]string{"1": "Ann"}}
	m.Media = []omnigate.Media{{URL: "https://cdn.example.com/a.png", ContentType: "image/png"}}
	err := s.Update(ctx(), func(tx store.Tx) error {
		if err := tx.InsertConversation(c); err != nil {
			return err
		}
		return tx.InsertMessage(m)
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Conversation(ctx(), "c1")
	if err != nil {
		t.Fatal(err)
	}
	if got.LastInboundAt != c.LastInboundAt || got.State != c.State || got.AssignedTo != "agent-ann" {
		t.Errorf("conversation = %+v, want %+v", got, c)
	}
	gm, err := s.Message(ctx(), "m1")
	if err != nil {
		t.Fatal(err)
	}
	if gm.Template == nil || gm.Template.Variables["1"] != "Ann" || len(gm.Media) != 1 || gm.Text != m.Text {
		t.Errorf("message = %+v", gm)
	}
	if _, err := s.Message(ctx(), "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing message: err = %v, want ErrNotFound", err)
	}
	var latest omnigate.Conversation
	err = s.Update(ctx(), func(tx store.Tx) error {
		var err error
		latest, err = tx.LatestConversation(store.ConversationKey{Channel: omnigate.SMS, Address: "+15550001111", ContactAddress: "+14155550100"})
		return err
	})
	if err != nil || latest.ID != "c1" {
		t.Errorf("LatestConversation = %v, %v", latest.ID, err)
	}
}

func testFIFO(t *testing.T, s store.Store) {
	seed(t, s, "a", 3)
	seed(t, s, "b", 2)
	now := t0.Add(time.Second)
	es, err := claim(t, s, "w1", now, time.Minute, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 2 || es[0].MessageID != "a-m000" || es[1].MessageID != "b-m000" {
		t.Fatalf("first claim = %v, want the head of each key", ids(es))
	}
	if es[0].Message == nil || es[0].Conversation == nil || es[0].Message.Text != "hello a-m000" {
		t.Fatalf("claimed entry lacks its message: %+v", es[0])
	}
	// Nothing more while the heads are leased.
	if more, _ := claim(t, s, "w2", now, time.Minute, 10); len(more) != 0 {
		t.Fatalf("claimed %v behind leased heads", ids(more))
	}
	if _, err := s.Complete(ctx(), []store.Result{{EntryID: es[0].ID, Token: es[0].LeaseToken, Outcome: store.Done,
		MessageID: "a-m000", Channel: omnigate.SMS, Status: omnigate.StatusSent, ProviderMessageID: "SM1"}}, now); err != nil {
		t.Fatal(err)
	}
	next, err := claim(t, s, "w2", now, time.Minute, 10)
	if err != nil || len(next) != 1 || next[0].MessageID != "a-m001" {
		t.Fatalf("after completing a's head: %v, %v", ids(next), err)
	}
	m, _ := s.Message(ctx(), "a-m000")
	if m.Status != omnigate.StatusSent || m.ProviderMessageID != "SM1" || m.Attempts != 1 {
		t.Errorf("completed message = %+v", m)
	}
	m, _ = s.Message(ctx(), "a-m001")
	if m.Status != omnigate.StatusSending {
		t.Errorf("claimed message status = %s, want sending", m.Status)
	}
}

func testEnqueueOrder(t *testing.T, s store.Store) {
	want := seed(t, s, "long", 7) // past the prepared forms: one statement built for the call
	now := t0.Add(time.Second)
	for _, id := range want {
		es, err := claim(t, s, "w", now, time.Minute, 10)
		if err != nil || len(es) != 1 || es[0].MessageID != id {
			t.Fatalf("claim = %v, %v: want only %s", ids(es), err, id)
		}
		if _, err := s.Complete(ctx(), []store.Result{{EntryID: es[0].ID, Token: es[0].LeaseToken, Outcome: store.Done,
			MessageID: id, Channel: omnigate.SMS, Status: omnigate.StatusSent, ProviderMessageID: "SM" + id}}, now); err != nil {
			t.Fatal(err)
		}
	}
}

func ids(es []store.Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.MessageID)
	}
	return out
}

func testLeaseToken(t *testing.T, s store.Store) {
	seed(t, s, "a", 1)
	stale, err := claim(t, s, "w1", t0, time.Second, 1)
	if err != nil || len(stale) != 1 {
		t.Fatalf("claim: %v %v", stale, err)
	}
	// The lease runs out; another worker takes the row.
	later := t0.Add(2 * time.Second)
	fresh, err := claim(t, s, "w2", later, time.Minute, 1)
	if err != nil || len(fresh) != 1 {
		t.Fatalf("re-claim after expiry: %v %v", fresh, err)
	}
	for _, outcome := range []store.Outcome{store.Done, store.Retry, store.Dead} {
		errs, err := s.Complete(ctx(), []store.Result{{EntryID: stale[0].ID, Token: stale[0].LeaseToken, Outcome: outcome,
			RetryAt: later, MessageID: "a-m000", Status: omnigate.StatusFailed}}, later)
		if err != nil {
			t.Fatal(err)
		}
		if !errors.Is(errs[0], store.ErrLeaseLost) {
			t.Errorf("stale worker's outcome %d: err = %v, want ErrLeaseLost", outcome, errs[0])
		}
	}
	if m, _ := s.Message(ctx(), "a-m000"); m.Status != omnigate.StatusSending {
		t.Errorf("stale worker changed the message: %s", m.Status)
	}
	errs, err := s.Complete(ctx(), []store.Result{{EntryID: fresh[0].ID, Token: fresh[0].LeaseToken, Outcome: store.Done,
		MessageID: "a-m000", Status: omnigate.StatusSent}}, later)
	if err != nil || errs[0] != nil {
		t.Fatalf("current holder's complete: %v %v", errs, err)
	}
	if m, _ := s.Message(ctx(), "a-m000"); m.Status != omnigate.StatusSent || m.Attempts != 2 {
		t.Errorf("message = %s attempts %d, want sent after 2 attempts", m.Status, m.Attempts)
	}
}

func testRetryDead(t *testing.T, s store.Store) {
	seed(t, s, "a", 2)
	es, _ := claim(t, s, "w", t0, time.Minute, 5)
	retryAt := t0.Add(time.Minute)
	s.Complete(ctx(), []store.Result{{EntryID: es[0].ID, Token: es[0].LeaseToken, Outcome: store.Retry, RetryAt: retryAt,
		Error: "503", MessageID: "a-m000", Status: omnigate.StatusQueued}}, t0)
	if m, _ := s.Message(ctx(), "a-m000"); m.Status != omnigate.StatusQueued {
		t.Errorf("retried message status = %s, want queued", m.Status)
	}
	// The head waits for its retry, and so does everything behind it.
	if got, _ := claim(t, s, "w", t0.Add(time.Second), time.Minute, 5); len(got) != 0 {
		t.Fatalf("claimed %v before the head's retry time", ids(got))
	}
	if due, ok, _ := s.NextDue(ctx()); !ok || !due.Before(retryAt.Add(time.Millisecond)) {
		t.Errorf("NextDue = %v %v", due, ok)
	}
	es, _ = claim(t, s, "w", retryAt, time.Minute, 5)
	if len(es) != 1 || es[0].Attempts != 2 {
		t.Fatalf("retry claim = %+v", es)
	}
	s.Complete(ctx(), []store.Result{{EntryID: es[0].ID, Token: es[0].LeaseToken, Outcome: store.Dead, Error: "gave up",
		MessageID: "a-m000", Status: omnigate.StatusFailed, ErrorCode: "21211", ErrorMessage: "invalid"}}, retryAt)
	dead, err := s.Outbox(ctx(), store.OutboxDead, 0, 10)
	if err != nil || len(dead) != 1 || dead[0].LastError != "gave up" || dead[0].MessageID != "a-m000" {
		t.Fatalf("dead letters = %+v, %v", dead, err)
	}
	// A dead head no longer blocks its key.
	es, _ = claim(t, s, "w", retryAt, time.Minute, 5)
	if len(es) != 1 || es[0].MessageID != "a-m001" {
		t.Fatalf("after dead head: %v", ids(es))
	}
	if err := s.RetryDead(ctx(), dead[0].ID, retryAt); err != nil {
		t.Fatal(err)
	}
	if m, _ := s.Message(ctx(), "a-m000"); m.Status != omnigate.StatusQueued || m.ErrorCode != "" {
		t.Errorf("replayed message = %s %q", m.Status, m.ErrorCode)
	}
	if err := s.RetryDead(ctx(), dead[0].ID, retryAt); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second replay: %v, want ErrNotFound", err)
	}
	st, _ := s.OutboxStats(ctx(), retryAt)
	if st.Pending != 2 || st.Dead != 0 {
		t.Errorf("stats = %+v", st)
	}
}

func testStatusForward(t *testing.T, s store.Store) {
	seed(t, s, "a", 1)
	steps := []struct {
		to      omnigate.MessageStatus
		changed bool
	}{
		{omnigate.StatusSent, true}, {omnigate.StatusRead, true}, {omnigate.StatusDelivered, false},
		{omnigate.StatusSent, false}, {omnigate.StatusFailed, true}, {omnigate.StatusRead, false},
	}
	for _, st := range steps {
		var changed bool
		err := s.Update(ctx(), func(tx store.Tx) error {
			var err error
			changed, err = tx.SetMessageStatus(store.StatusUpdate{MessageID: "a-m000", Status: st.to, Now: t0})
			return err
		})
		if err != nil || changed != st.changed {
			t.Errorf("to %s: changed = %v (%v), want %v", st.to, changed, err, st.changed)
		}
	}
}

func testDedupe(t *testing.T, s store.Store) {
	var first, second bool
	s.Update(ctx(), func(tx store.Tx) error { first, _ = tx.SeenInbound("twilio", "SM1", t0); return nil })
	s.Update(ctx(), func(tx store.Tx) error { second, _ = tx.SeenInbound("twilio", "SM1", t0); return nil })
	if !first || second {
		t.Errorf("SeenInbound = %v then %v, want true then false", first, second)
	}
	var other bool
	s.Update(ctx(), func(tx store.Tx) error { other, _ = tx.SeenInbound("meta", "SM1", t0); return nil })
	if !other {
		t.Error("the same id from another provider is a different message")
	}
}

func testIdempotency(t *testing.T, s store.Store) {
	expired, stale := t0.Add(-24*time.Hour), t0.Add(-2*time.Minute)
	begin := func(hash string, now time.Time) bool {
		var owned bool
		if err := s.Update(ctx(), func(tx store.Tx) error {
			var err error
			owned, err = tx.BeginIdempotency(store.IdempotencyBegin{PrincipalID: "ann", Key: "k1", BodyHash: hash, Now: now, Expired: now.Add(-24 * time.Hour), Stale: now.Add(-2 * time.Minute)})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return owned
	}
	if !begin("h1", t0) {
		t.Fatal("first Begin does not own the key")
	}
	if begin("h1", t0.Add(time.Second)) {
		t.Fatal("second Begin owns a key in flight")
	}
	s.Update(ctx(), func(tx store.Tx) error { return tx.FinishIdempotency("ann", "k1", 202, []byte(`{"id":"m1"}`)) })
	var rec store.Idempotency
	err := s.Update(ctx(), func(tx store.Tx) error {
		var err error
		rec, err = tx.Idempotency("ann", "k1", expired)
		return err
	})
	if err != nil || !rec.Done || rec.Code != 202 || string(rec.Response) != `{"id":"m1"}` || rec.BodyHash != "h1" {
		t.Fatalf("record = %+v, %v", rec, err)
	}
	if begin("h2", t0.Add(time.Hour)) {
		t.Fatal("a done, unexpired record was taken over")
	}
	if !begin("h2", t0.Add(25*time.Hour)) {
		t.Fatal("an expired record was not taken over")
	}
	_ = stale
	// A pending record whose request died is taken over once stale.
	if !begin("h3", t0.Add(25*time.Hour+3*time.Minute)) {
		t.Fatal("a stale pending record was not taken over")
	}
}

func testUpdateIsolation(t *testing.T, s store.Store) {
	boom := errors.New("boom")
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = s.Update(ctx(), func(tx store.Tx) error {
				if err := tx.InsertConversation(conv(fmt.Sprintf("c%02d", i))); err != nil {
					return err
				}
				if i%2 == 1 {
					return boom
				}
				return nil
			})
		}(i)
	}
	wg.Wait()
	for i, err := range errs {
		_, gerr := s.Conversation(ctx(), fmt.Sprintf("c%02d", i))
		if i%2 == 1 {
			if !errors.Is(err, boom) || !errors.Is(gerr, store.ErrNotFound) {
				t.Errorf("update %d: err %v, row %v: want boom and nothing written", i, err, gerr)
			}
		} else if err != nil || gerr != nil {
			t.Errorf("update %d: err %v, row %v: want written", i, err, gerr)
		}
	}
}

func testCancelQueued(t *testing.T, s store.Store) {
	seed(t, s, "a", 3)
	es, _ := claim(t, s, "w", t0, time.Minute, 5) // a-m000 is in flight
	if len(es) != 1 {
		t.Fatalf("claim = %v", ids(es))
	}
	var canceled []string
	if err := s.Update(ctx(), func(tx store.Tx) error {
		var err error
		canceled, err = tx.CancelQueued("a", "agent-ann", t0)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(canceled) != 2 || canceled[0] == "a-m000" || canceled[1] == "a-m000" {
		t.Fatalf("canceled = %v, want the two queued ones", canceled)
	}
	for id, want := range map[string]omnigate.MessageStatus{"a-m000": omnigate.StatusSending, "a-m001": omnigate.StatusCanceled, "a-m002": omnigate.StatusCanceled} {
		if m, _ := s.Message(ctx(), id); m.Status != want {
			t.Errorf("%s = %s, want %s", id, m.Status, want)
		}
	}
	s.Complete(ctx(), []store.Result{{EntryID: es[0].ID, Token: es[0].LeaseToken, Outcome: store.Done, MessageID: "a-m000", Status: omnigate.StatusSent}}, t0)
	if more, _ := claim(t, s, "w", t0.Add(time.Hour), time.Minute, 5); len(more) != 0 {
		t.Errorf("canceled messages still claimable: %v", ids(more))
	}
}

func testContacts(t *testing.T, s store.Store) {
	err := s.Update(ctx(), func(tx store.Tx) error {
		for _, c := range []omnigate.Contact{
			{Channel: omnigate.SMS, Address: "+14155550100", Name: "Ann Smith"},
			{Channel: omnigate.SMS, Address: "+14155550199", Name: "Bob"},
			{Channel: omnigate.Instagram, Address: "6655443322", Name: ""},
		} {
			if _, err := tx.UpsertContact(c, t0); err != nil {
				return err
			}
		}
		// An update without a name keeps the stored one.
		if _, err := tx.UpsertContact(omnigate.Contact{Channel: omnigate.SMS, Address: "+14155550100"}, t0); err != nil {
			return err
		}
		return tx.SetOptOut(store.OptOut{Channel: omnigate.SMS, ContactAddress: "+14155550100", OurAddress: "+15550001111", OptedOut: true, Now: t0})
	})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := s.Contacts(ctx(), store.ContactQuery{Channel: omnigate.SMS, Prefix: "ann", After: "", Queues: nil, Limit: 10})
	if len(got) != 1 || got[0].Name != "Ann Smith" {
		t.Errorf("by name = %+v", got)
	}
	got, _ = s.Contacts(ctx(), store.ContactQuery{Channel: omnigate.SMS, Prefix: "+1415555", After: "", Queues: nil, Limit: 10})
	if len(got) != 2 {
		t.Errorf("by address prefix = %+v", got)
	}
	got, _ = s.Contacts(ctx(), store.ContactQuery{Channel: omnigate.SMS, Prefix: "+1415555", After: "sms|+14155550100", Queues: nil, Limit: 10})
	if len(got) != 1 || got[0].Address != "+14155550199" {
		t.Errorf("after cursor = %+v", got)
	}
	got, _ = s.Contacts(ctx(), store.ContactQuery{Channel: omnigate.SMS, Prefix: "%", After: "", Queues: nil, Limit: 10})
	if len(got) != 0 {
		t.Errorf("a %% prefix is literal: %+v", got)
	}
	// Limited to queues: only contacts with a conversation in one of them.
	err = s.Update(ctx(), func(tx store.Tx) error {
		for i, c := range []struct{ contact, queue string }{{"+14155550100", "support"}, {"+14155550199", "billing"}} {
			if err := tx.InsertConversation(omnigate.Conversation{ID: fmt.Sprintf("conv_contacts_%d", i), Channel: omnigate.SMS,
				QueueID: c.queue, Address: "+15550001111", ContactAddress: c.contact, State: omnigate.StateQueued,
				OpenedAt: t0, LastActivityAt: t0}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		queues []string
		want   []string
	}{
		{nil, []string{"+14155550100", "+14155550199"}},
		{[]string{"support"}, []string{"+14155550100"}},
		{[]string{"billing", "support"}, []string{"+14155550100", "+14155550199"}},
		{[]string{"sales"}, nil},
		{[]string{}, nil},
	} {
		got, err := s.Contacts(ctx(), store.ContactQuery{Channel: "", Prefix: "+1415555", After: "", Queues: tc.queues, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		var addrs []string
		for _, c := range got {
			addrs = append(addrs, c.Address)
		}
		if !slices.Equal(addrs, tc.want) {
			t.Errorf("contacts of queues %q = %v, want %v", tc.queues, addrs, tc.want)
		}
	}
	var c omnigate.Contact
	s.Update(ctx(), func(tx store.Tx) error { c, err = tx.Contact(omnigate.SMS, "+14155550100"); return err })
	if len(c.OptedOut) != 1 || c.OptedOut[0] != "+15550001111" {
		t.Errorf("opt-outs = %v", c.OptedOut)
	}
	s.Update(ctx(), func(tx store.Tx) error {
		return tx.SetOptOut(store.OptOut{Channel: omnigate.SMS, ContactAddress: "+14155550100", OurAddress: "+15550001111", OptedOut: false, Now: t0})
	})
	s.Update(ctx(), func(tx store.Tx) error { c, err = tx.Contact(omnigate.SMS, "+14155550100"); return err })
	if len(c.OptedOut) != 0 {
		t.Errorf("opt-outs after opt-in = %v", c.OptedOut)
	}
}

// claim claims up to limit rows for owner, unpaced, with the lease measured on now.
func claim(t *testing.T, s store.Store, owner string, now time.Time, lease time.Duration, limit int) ([]store.Entry, error) {
	t.Helper()
	c, err := s.ClaimDue(ctx(), store.Claim{Owner: owner, Now: now, Lease: lease, Limit: limit})
	return c.Entries, err
}

// receipt applies r in its own transaction.
func receipt(t *testing.T, s store.Store, r store.Receipt) store.ReceiptOutcome {
	t.Helper()
	var out store.ReceiptOutcome
	if err := s.Update(ctx(), func(tx store.Tx) error {
		var err error
		out, err = tx.ApplyReceipt(r, t0)
		return err
	}); err != nil {
		t.Fatalf("receipt %+v: %v", r, err)
	}
	return out
}

// heldLeft counts held receipts that nothing applied.
func heldLeft(t *testing.T, s store.Store) int {
	t.Helper()
	n, err := s.Prune(ctx(), store.Prune{ReceiptsBefore: t0.Add(1000 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func testHeldReceipt(t *testing.T, s store.Store) {
	seed(t, s, "a", 1)
	// The carrier's "delivered" overtakes the relay's commit of the carrier id.
	if out := receipt(t, s, store.Receipt{Channel: omnigate.SMS, ProviderMessageID: "SM9", Status: omnigate.StatusDelivered}); !out.Held {
		t.Fatalf("receipt for an unknown carrier id: %+v, want held", out)
	}
	es, _ := claim(t, s, "w", t0, time.Minute, 1)
	if _, err := s.Complete(ctx(), []store.Result{{EntryID: es[0].ID, Token: es[0].LeaseToken, Outcome: store.Done,
		MessageID: "a-m000", Channel: omnigate.SMS, Status: omnigate.StatusSent, ProviderMessageID: "SM9"}}, t0); err != nil {
		t.Fatal(err)
	}
	if m, _ := s.Message(ctx(), "a-m000"); m.Status != omnigate.StatusDelivered || m.ProviderMessageID != "SM9" {
		t.Errorf("message = %s %q, want delivered SM9", m.Status, m.ProviderMessageID)
	}
}

// statusEvents drains the event log and the outbox and returns the events' payloads in
// delivery order.
func statusEvents(t *testing.T, s store.Store, now time.Time) []string {
	t.Helper()
	out := drainLog(t, s)
	for range 20 {
		es, err := claim(t, s, "drain", now, time.Minute, 100)
		if err != nil {
			t.Fatal(err)
		}
		var rs []store.Result
		for _, e := range es {
			if e.Kind == store.KindEvent {
				out = append(out, string(e.Payload))
			}
			rs = append(rs, store.Result{EntryID: e.ID, Token: e.LeaseToken, Outcome: store.Done})
		}
		if len(rs) == 0 {
			return out
		}
		if _, err := s.Complete(ctx(), rs, now); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func event(payload string) store.NewEntry {
	return store.NewEntry{Kind: store.KindEvent, FIFOKey: "ev:a", Payload: []byte(payload), DueAt: t0}
}

// sentResult is the relay's result for a message the carrier took as pid.
func sentResult(e store.Entry, pid string) store.Result {
	return store.Result{EntryID: e.ID, Token: e.LeaseToken, Outcome: store.Done, MessageID: e.MessageID,
		Channel: omnigate.SMS, Status: omnigate.StatusSent, ProviderMessageID: pid,
		Events: []store.NewEntry{event("sent")},
		ReceiptEvent: func(st omnigate.MessageStatus, _, _ string) (store.NewEntry, error) {
			return event(string(st)), nil
		}}
}

func testCarrierIDWithStatus(t *testing.T, s store.Store) {
	seed(t, s, "a", 1)
	seed(t, s, "b", 1)
	es, _ := claim(t, s, "w", t0, time.Minute, 2)
	if len(es) != 2 {
		t.Fatalf("claimed %d, want 2", len(es))
	}
	// a's failure reaches us by our own id before the relay commits "sent": its status
	// stays, its carrier id is still recorded. b's moves to sent with its id.
	if out := receipt(t, s, store.Receipt{Channel: omnigate.SMS, MessageID: "a-m000", Status: omnigate.StatusFailed, ErrorCode: "30008"}); !out.Changed {
		t.Fatalf("receipt: %+v", out)
	}
	var rs []store.Result
	for _, e := range es {
		rs = append(rs, sentResult(e, "SM-"+e.MessageID))
	}
	errs, err := s.Complete(ctx(), rs, t0)
	if err != nil || errs[0] != nil || errs[1] != nil {
		t.Fatalf("complete: %v %v", err, errs)
	}
	for id, want := range map[string]omnigate.MessageStatus{"a-m000": omnigate.StatusFailed, "b-m000": omnigate.StatusSent} {
		m, err := s.Message(ctx(), id)
		if err != nil {
			t.Fatal(err)
		}
		if m.Status != want || m.ProviderMessageID != "SM-"+id {
			t.Errorf("%s: %s %q, want %s %q", id, m.Status, m.ProviderMessageID, want, "SM-"+id)
		}
	}
	if evs := statusEvents(t, s, t0); !slices.Equal(evs, []string{"sent"}) {
		t.Errorf("events = %q, want one sent (b's)", evs)
	}
}

func testReceiptBeforeComplete(t *testing.T, s store.Store) {
	seed(t, s, "a", 1)
	es, _ := claim(t, s, "w", t0, time.Minute, 1)
	// The status callback (it carries our id) arrives before the relay commits "sent".
	out := receipt(t, s, store.Receipt{Channel: omnigate.SMS, MessageID: "a-m000", ProviderMessageID: "SM1", Status: omnigate.StatusDelivered})
	if !out.Changed || out.Message.Status != omnigate.StatusDelivered || out.Message.ProviderMessageID != "SM1" {
		t.Fatalf("receipt: %+v", out)
	}
	errs, err := s.Complete(ctx(), []store.Result{sentResult(es[0], "SM1")}, t0)
	if err != nil || errs[0] != nil {
		t.Fatalf("complete: %v %v", err, errs)
	}
	if m, _ := s.Message(ctx(), "a-m000"); m.Status != omnigate.StatusDelivered {
		t.Errorf("status = %s, want delivered: the relay's sent must not move it back", m.Status)
	}
	if evs := statusEvents(t, s, t0); len(evs) != 0 {
		t.Errorf("events %v: the relay's sent changed nothing and must say nothing", evs)
	}
}

// race runs a and b at once, many times over fresh messages, and checks each round.
func race(t *testing.T, s store.Store, rounds int, a, b func(round int, e store.Entry), check func(round int)) {
	t.Helper()
	var ids []string
	for r := range rounds {
		ids = append(ids, seed(t, s, fmt.Sprintf("r%03d", r), 1)...)
	}
	es, err := claim(t, s, "w", t0, time.Hour, rounds)
	if err != nil || len(es) != rounds {
		t.Fatalf("claimed %d of %d: %v", len(es), rounds, err)
	}
	byMsg := map[string]store.Entry{}
	for _, e := range es {
		byMsg[e.MessageID] = e
	}
	for r, id := range ids {
		e := byMsg[id]
		var wg sync.WaitGroup
		start := make(chan struct{})
		wg.Add(2)
		go func() { defer wg.Done(); <-start; a(r, e) }()
		go func() { defer wg.Done(); <-start; b(r, e) }()
		close(start)
		wg.Wait()
		check(r)
	}
}

func testReceiptCompleteRace(t *testing.T, s store.Store) {
	const rounds = 60
	pid := func(r int) string { return fmt.Sprintf("SMr%03d", r) }
	race(t, s, rounds,
		func(r int, e store.Entry) {
			errs, err := s.Complete(ctx(), []store.Result{sentResult(e, pid(r))}, t0)
			if err != nil || errs[0] != nil {
				t.Errorf("round %d: complete: %v %v", r, err, errs)
			}
		},
		func(r int, e store.Entry) {
			// A receipt that names only the carrier's id (Meta, X): it may overtake the
			// relay's commit and be held.
			receipt(t, s, store.Receipt{Channel: omnigate.SMS, ProviderMessageID: pid(r), Status: omnigate.StatusDelivered})
		},
		func(r int) {
			m, _ := s.Message(ctx(), fmt.Sprintf("r%03d-m000", r))
			if m.Status != omnigate.StatusDelivered || m.ProviderMessageID != pid(r) {
				t.Errorf("round %d: message %s %q, want delivered %s", r, m.Status, m.ProviderMessageID, pid(r))
			}
		})
	if n := heldLeft(t, s); n != 0 {
		t.Errorf("%d held receipts were never applied", n)
	}
}

func testReceiptsRace(t *testing.T, s store.Store) {
	const rounds = 60
	race(t, s, rounds,
		func(r int, e store.Entry) {
			receipt(t, s, store.Receipt{Channel: omnigate.SMS, MessageID: e.MessageID, Status: omnigate.StatusRead})
		},
		func(r int, e store.Entry) {
			receipt(t, s, store.Receipt{Channel: omnigate.SMS, MessageID: e.MessageID, Status: omnigate.StatusDelivered})
		},
		func(r int) {
			if m, _ := s.Message(ctx(), fmt.Sprintf("r%03d-m000", r)); m.Status != omnigate.StatusRead {
				t.Errorf("round %d: status %s, want read", r, m.Status)
			}
		})
}

func testCancelledCallerFailsAlone(t *testing.T, s store.Store) {
	oneCallerFails(t, s, "g", func(_ store.Tx, cancel func()) error {
		cancel() // this caller gives up half-way through its writes
		return nil
	}, context.Canceled)
}

// errRefused is a caller's own error, returned after it wrote.
var errRefused = errors.New("refused after writing")

func testFailingCallerFailsAlone(t *testing.T, s store.Store) {
	oneCallerFails(t, s, "f", func(store.Tx, func()) error { return errRefused }, errRefused)
}

// testSwallowedErrorSparesNeighbours: a caller whose statement failed but who returned
// nil all the same (PostgreSQL has then aborted the transaction) must not cost the
// other callers of its group commit their writes.
func testSwallowedErrorSparesNeighbours(t *testing.T, s store.Store) {
	oneCallerFails(t, s, "w", func(tx store.Tx, _ func()) error {
		if err := tx.InsertConversation(conv("w03")); err == nil {
			t.Error("inserting a conversation twice succeeded")
		}
		return nil
	}, nil)
}

// oneCallerFails folds ten callers into one group commit, caller 3 of which writes and
// then fails as fail says (given its transaction and its context's cancel): its writes
// must be gone and its error (want) returned, and every other caller must commit. With
// want nil, caller 3 may either fail with nothing written or succeed with its writes.
func oneCallerFails(t *testing.T, s store.Store, prefix string, fail func(tx store.Tx, cancel func()) error, want error) {
	// Hold the writer so that the next calls are folded into one group commit.
	release := make(chan struct{})
	holding := make(chan struct{})
	blockerDone := make(chan error, 1)
	go func() {
		blockerDone <- s.Update(ctx(), func(tx store.Tx) error {
			select {
			case holding <- struct{}{}:
			default:
			}
			<-release
			return tx.InsertConversation(conv("blocker"))
		})
	}()
	select {
	case <-holding:
	case <-time.After(5 * time.Second):
		// Stores without a group commit run the blocker in its own transaction too.
	}
	var wg sync.WaitGroup
	errs := make([]error, 10)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, cancel := context.WithCancel(ctx())
			defer cancel()
			errs[i] = s.Update(c, func(tx store.Tx) error {
				if err := tx.InsertConversation(conv(fmt.Sprintf("%s%02d", prefix, i))); err != nil {
					return err
				}
				if err := tx.InsertMessage(msg(fmt.Sprintf("%s%02d-m", prefix, i), fmt.Sprintf("%s%02d", prefix, i), t0)); err != nil {
					return err
				}
				if i == 3 {
					return fail(tx, cancel)
				}
				return nil
			})
		}()
	}
	time.Sleep(50 * time.Millisecond) // let the callers queue behind the blocker
	close(release)
	wg.Wait()
	if err := <-blockerDone; err != nil {
		t.Fatalf("blocker: %v", err)
	}
	for i, err := range errs {
		_, gerr := s.Conversation(ctx(), fmt.Sprintf("%s%02d", prefix, i))
		if i == 3 {
			_, merr := s.Message(ctx(), fmt.Sprintf("%s%02d-m", prefix, i))
			if want == nil && err == nil {
				if gerr != nil || merr != nil {
					t.Errorf("caller 3 succeeded but its rows are missing: %v, %v", gerr, merr)
				}
				continue
			}
			if (want != nil && !errors.Is(err, want)) || err == nil || !errors.Is(gerr, store.ErrNotFound) || !errors.Is(merr, store.ErrNotFound) {
				t.Errorf("failing caller: err %v, rows %v, %v: want %v and nothing written", err, gerr, merr, want)
			}
			continue
		}
		if err != nil || gerr != nil {
			t.Errorf("caller %d: err %v, row %v: an innocent caller must commit", i, err, gerr)
		}
	}
}

func testHeartbeatExtends(t *testing.T, s store.Store) {
	seed(t, s, "a", 1)
	seed(t, s, "b", 1)
	es, _ := claim(t, s, "w1", t0, time.Second, 2)
	if len(es) != 2 {
		t.Fatalf("claimed %d", len(es))
	}
	hb, err := s.Heartbeat(ctx(), store.Heartbeat{Owner: "w1", Now: t0, Extend: []int64{es[0].ID},
		LeaseUntil: t0.Add(time.Hour), DeadBefore: t0.Add(-time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if hb.Known || len(hb.Extended) != 1 || hb.Extended[0] != es[0].ID {
		t.Fatalf("first heartbeat = %+v, want unknown (new) and %d extended", hb, es[0].ID)
	}
	// Past the original lease: the extended row stays held, the other is free.
	got, _ := claim(t, s, "w2", t0.Add(2*time.Second), time.Minute, 2)
	if len(got) != 1 || got[0].ID != es[1].ID {
		t.Errorf("w2 claimed %v, want only the row whose lease was not extended (%d)", ids(got), es[1].ID)
	}
	// w1 no longer holds es[1]: extending it does nothing.
	hb, err = s.Heartbeat(ctx(), store.Heartbeat{Owner: "w1", Now: t0.Add(3 * time.Second), Extend: []int64{es[0].ID, es[1].ID},
		LeaseUntil: t0.Add(time.Hour), DeadBefore: t0.Add(-time.Minute)})
	if err != nil || !hb.Known || len(hb.Extended) != 1 {
		t.Errorf("second heartbeat = %+v %v, want known with one extended", hb, err)
	}
}

func testReapDeadInstance(t *testing.T, s store.Store) {
	seed(t, s, "a", 2)
	seed(t, s, "b", 1)
	beat := func(owner string, at time.Time) store.HeartbeatResult {
		t.Helper()
		hb, err := s.Heartbeat(ctx(), store.Heartbeat{Owner: owner, Now: at, DeadBefore: at.Add(-5 * time.Second)})
		if err != nil {
			t.Fatal(err)
		}
		return hb
	}
	beat("dead", t0)
	beat("alive", t0)
	es, _ := claim(t, s, "dead", t0, time.Hour, 10)
	if len(es) != 2 {
		t.Fatalf("claimed %d", len(es))
	}
	// "dead" stops; "alive" keeps beating. Within the timeout nothing is reaped.
	if hb := beat("alive", t0.Add(4*time.Second)); hb.Reaped != 0 {
		t.Errorf("reaped %d before the timeout", hb.Reaped)
	}
	if hb := beat("alive", t0.Add(6*time.Second)); hb.Reaped != 2 {
		t.Errorf("reaped %d, want the dead instance's 2 leases", hb.Reaped)
	}
	got, _ := claim(t, s, "alive", t0.Add(6*time.Second), time.Minute, 10)
	if len(got) != 2 {
		t.Errorf("alive claimed %v, want both rows at once, long before their hour-long leases end", ids(got))
	}
	errs, err := s.Complete(ctx(), []store.Result{{EntryID: es[0].ID, Token: es[0].LeaseToken, Outcome: store.Done}}, t0)
	if err != nil || !errors.Is(errs[0], store.ErrLeaseLost) {
		t.Errorf("the dead instance's late complete: %v %v, want ErrLeaseLost", err, errs)
	}
	if hb := beat("dead", t0.Add(7*time.Second)); hb.Known {
		t.Error("an instance taken for dead must learn it: Known = true")
	}
}

func testPacingSlots(t *testing.T, s store.Store) {
	const n, interval = 12, 200 * time.Millisecond
	for i := range n {
		seed(t, s, fmt.Sprintf("p%02d", i), 1)
	}
	pace := func(m omnigate.Message) (string, time.Duration) { return "sms|" + m.From, interval }
	var wg sync.WaitGroup
	var mu sync.Mutex
	var now []store.Entry
	rows := 0
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := s.ClaimDue(ctx(), store.Claim{Owner: fmt.Sprintf("w%d", w), Now: t0, Lease: time.Minute, Limit: 4, Pace: pace})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			now = append(now, c.Entries...)
			rows += c.Rows
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(now) != 1 || rows != n {
		t.Fatalf("three claims took %d rows and gave %d to send now, want %d and 1", rows, len(now), n)
	}
	// Everything else waits at its own slot: due times t0+1..n-1 intervals, each once.
	list, err := s.Outbox(ctx(), store.OutboxPending, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[time.Duration]bool{}
	for _, r := range list {
		if r.ID == now[0].ID {
			continue
		}
		off := r.DueAt.Sub(t0)
		if off%interval != 0 || off < interval || off > (n-1)*interval || seen[off] {
			t.Errorf("row %d due at t0+%v: want a distinct slot in 1..%d × %v", r.ID, off, n-1, interval)
		}
		seen[off] = true
		if r.Attempts != 0 {
			t.Errorf("row %d: a row put back to its slot spent an attempt (%d)", r.ID, r.Attempts)
		}
	}
	if due, ok, _ := s.NextDue(ctx()); !ok || !due.Equal(t0.Add(interval)) {
		t.Errorf("NextDue = %v %v, want the first slot", due, ok)
	}
	// At its slot a row is claimed and sent without taking another slot.
	c, err := s.ClaimDue(ctx(), store.Claim{Owner: "w0", Now: t0.Add(interval), Lease: time.Minute, Limit: 4, Pace: pace})
	if err != nil || len(c.Entries) != 1 || c.Rows != 1 {
		t.Errorf("claim at the first slot: %d entries of %d rows (%v), want 1 of 1", len(c.Entries), c.Rows, err)
	}
}

func testNextDueClaimable(t *testing.T, s store.Store) {
	seed(t, s, "a", 2)
	if _, ok, _ := s.NextDue(ctx()); !ok {
		t.Fatal("NextDue: nothing, want the head of a")
	}
	if es, _ := claim(t, s, "w", t0, time.Minute, 10); len(es) != 1 {
		t.Fatalf("claimed %d, want the head only", len(es))
	}
	// a's head is in flight and its second row waits behind it: nothing is claimable.
	if due, ok, _ := s.NextDue(ctx()); ok {
		t.Errorf("NextDue = %v, want none while the only head is leased", due)
	}
}

func testPrune(t *testing.T, s store.Store) {
	old, fresh := t0.Add(-48*time.Hour), t0
	err := s.Update(ctx(), func(tx store.Tx) error {
		for _, at := range []time.Time{old, fresh} {
			id := "SM" + at.Format("0102")
			if _, err := tx.SeenInbound("twilio", id, at); err != nil {
				return err
			}
			if _, err := tx.BeginIdempotency(store.IdempotencyBegin{PrincipalID: "ann", Key: "k" + id, BodyHash: "h", Now: at, Expired: at.Add(-time.Hour), Stale: at.Add(-time.Hour)}); err != nil {
				return err
			}
			r := store.Receipt{Channel: omnigate.SMS, ProviderMessageID: id, Status: omnigate.StatusDelivered}
			if _, err := tx.ApplyReceipt(r, at); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	cut := t0.Add(-24 * time.Hour)
	n, err := s.Prune(ctx(), store.Prune{InboundSeenBefore: cut, IdempotencyBefore: cut, ReceiptsBefore: cut, Limit: 1})
	if err != nil || n != 3 {
		t.Errorf("pruned %d (%v), want the 3 old rows", n, err)
	}
	var oldAgain, freshAgain bool
	s.Update(ctx(), func(tx store.Tx) error {
		oldAgain, _ = tx.SeenInbound("twilio", "SM"+old.Format("0102"), t0)
		freshAgain, _ = tx.SeenInbound("twilio", "SM"+fresh.Format("0102"), t0)
		return nil
	})
	if !oldAgain || freshAgain {
		t.Errorf("after pruning: old id new again = %v (want true), fresh id new again = %v (want false)", oldAgain, freshAgain)
	}
	if n := heldLeft(t, s); n != 1 {
		t.Errorf("held receipts left %d, want the fresh one", n)
	}
}

func testPacingLateReslot(t *testing.T, s store.Store) {
	const interval = 200 * time.Millisecond
	seed(t, s, "p1", 1)
	seed(t, s, "p2", 1)
	pace := func(m omnigate.Message) (string, time.Duration) { return "sms|" + m.From, interval }
	c, err := s.ClaimDue(ctx(), store.Claim{Owner: "w", Now: t0, Lease: time.Minute, Limit: 10, Pace: pace})
	if err != nil || len(c.Entries) != 1 || c.Rows != 2 {
		t.Fatalf("first claim: %d entries of %d rows (%v), want 1 of 2", len(c.Entries), c.Rows, err)
	}
	// The relay fell behind: the second row's slot (t0+200ms) passed a second ago.
	late := t0.Add(interval + time.Second)
	c, err = s.ClaimDue(ctx(), store.Claim{Owner: "w", Now: late, Lease: time.Minute, Limit: 10, Pace: pace})
	if err != nil {
		t.Fatal(err)
	}
	// The sender's next free slot is now (its last one lies in the past), so it goes.
	if len(c.Entries) != 1 {
		t.Errorf("late claim gave %d entries, want the row, on a fresh slot that is now", len(c.Entries))
	}
	seed(t, s, "p3", 1)
	seed(t, s, "p4", 1)
	c, _ = s.ClaimDue(ctx(), store.Claim{Owner: "w", Now: late, Lease: time.Minute, Limit: 10, Pace: pace})
	if len(c.Entries) != 0 || c.Rows != 2 {
		t.Errorf("claim right after: %d entries of %d rows, want both waiting for slots after the one just used", len(c.Entries), c.Rows)
	}
}

func testClaimExcludes(t *testing.T, s store.Store) {
	seed(t, s, "a", 1)
	es, _ := claim(t, s, "w", t0, time.Second, 1)
	if len(es) != 1 {
		t.Fatalf("claimed %d", len(es))
	}
	// Its lease ran out while its attempt was still running (a stalled heartbeat).
	c, err := s.ClaimDue(ctx(), store.Claim{Owner: "w", Now: t0.Add(2 * time.Second), Lease: time.Minute, Limit: 1, Exclude: []int64{es[0].ID}})
	if err != nil || len(c.Entries) != 0 {
		t.Errorf("the owner claimed its own row in flight again: %v (%v)", ids(c.Entries), err)
	}
	if got, _ := claim(t, s, "other", t0.Add(2*time.Second), time.Minute, 1); len(got) != 1 {
		t.Errorf("another instance claimed %d rows, want the expired one", len(got))
	}
}

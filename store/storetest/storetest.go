// Package storetest is the conformance suite every store.Store implementation passes:
// the same tests run against SQLite and PostgreSQL.
package storetest

import (
	"context"
	"errors"
	"fmt"
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
		{"a stale lease cannot complete or fail", testLeaseToken},
		{"retry and dead letters", testRetryDead},
		{"status never moves backwards", testStatusForward},
		{"inbound dedupe", testDedupe},
		{"idempotency records", testIdempotency},
		{"a failed update writes nothing and spares its neighbours", testUpdateIsolation},
		{"cancel queued spares leased rows", testCancelQueued},
		{"contacts search and opt-outs", testContacts},
		{"a receipt that overtakes the commit is applied", testHeldReceipt},
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

// seed writes a conversation and n queued messages with their outbox rows.
func seed(t *testing.T, s store.Store, convID string, n int) []string {
	t.Helper()
	var ids []string
	err := s.Update(ctx(), func(tx store.Tx) error {
		if _, err := tx.Conversation(convID); errors.Is(err, store.ErrNotFound) {
			if err := tx.InsertConversation(conv(convID)); err != nil {
				return err
			}
		}
		for i := 0; i < n; i++ {
			id := fmt.Sprintf("%s-m%03d", convID, i)
			if err := tx.InsertMessage(msg(id, convID, t0.Add(time.Duration(i)*time.Millisecond))); err != nil {
				return err
			}
			if err := tx.Enqueue(store.NewEntry{Kind: store.KindDeliver, FIFOKey: convID, MessageID: id, DueAt: t0}); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return nil
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
	es, err := s.ClaimDue(ctx(), "w1", now, time.Minute, 10)
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
	if more, _ := s.ClaimDue(ctx(), "w2", now, time.Minute, 10); len(more) != 0 {
		t.Fatalf("claimed %v behind leased heads", ids(more))
	}
	if _, err := s.Complete(ctx(), []store.Result{{EntryID: es[0].ID, Token: es[0].LeaseToken, Outcome: store.Done,
		MessageID: "a-m000", Status: omnigate.StatusSent, ProviderMessageID: "SM1"}}, now); err != nil {
		t.Fatal(err)
	}
	next, err := s.ClaimDue(ctx(), "w2", now, time.Minute, 10)
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

func ids(es []store.Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.MessageID)
	}
	return out
}

func testLeaseToken(t *testing.T, s store.Store) {
	seed(t, s, "a", 1)
	stale, err := s.ClaimDue(ctx(), "w1", t0, time.Second, 1)
	if err != nil || len(stale) != 1 {
		t.Fatalf("claim: %v %v", stale, err)
	}
	// The lease runs out; another worker takes the row.
	later := t0.Add(2 * time.Second)
	fresh, err := s.ClaimDue(ctx(), "w2", later, time.Minute, 1)
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
	es, _ := s.ClaimDue(ctx(), "w", t0, time.Minute, 5)
	retryAt := t0.Add(time.Minute)
	s.Complete(ctx(), []store.Result{{EntryID: es[0].ID, Token: es[0].LeaseToken, Outcome: store.Retry, RetryAt: retryAt,
		Error: "503", MessageID: "a-m000", Status: omnigate.StatusQueued}}, t0)
	if m, _ := s.Message(ctx(), "a-m000"); m.Status != omnigate.StatusQueued {
		t.Errorf("retried message status = %s, want queued", m.Status)
	}
	// The head waits for its retry, and so does everything behind it.
	if got, _ := s.ClaimDue(ctx(), "w", t0.Add(time.Second), time.Minute, 5); len(got) != 0 {
		t.Fatalf("claimed %v before the head's retry time", ids(got))
	}
	if due, ok, _ := s.NextDue(ctx()); !ok || !due.Before(retryAt.Add(time.Millisecond)) {
		t.Errorf("NextDue = %v %v", due, ok)
	}
	es, _ = s.ClaimDue(ctx(), "w", retryAt, time.Minute, 5)
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
	es, _ = s.ClaimDue(ctx(), "w", retryAt, time.Minute, 5)
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
			changed, err = tx.SetMessageStatus("a-m000", st.to, "", "", t0)
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
			owned, err = tx.BeginIdempotency("ann", "k1", hash, now, now.Add(-24*time.Hour), now.Add(-2*time.Minute))
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
	es, _ := s.ClaimDue(ctx(), "w", t0, time.Minute, 5) // a-m000 is in flight
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
	if more, _ := s.ClaimDue(ctx(), "w", t0.Add(time.Hour), time.Minute, 5); len(more) != 0 {
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
			if err := tx.UpsertContact(c, t0); err != nil {
				return err
			}
		}
		// An update without a name keeps the stored one.
		if err := tx.UpsertContact(omnigate.Contact{Channel: omnigate.SMS, Address: "+14155550100"}, t0); err != nil {
			return err
		}
		return tx.SetOptOut(omnigate.SMS, "+14155550100", "+15550001111", true, t0)
	})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := s.Contacts(ctx(), omnigate.SMS, "ann", "", 10)
	if len(got) != 1 || got[0].Name != "Ann Smith" {
		t.Errorf("by name = %+v", got)
	}
	got, _ = s.Contacts(ctx(), omnigate.SMS, "+1415555", "", 10)
	if len(got) != 2 {
		t.Errorf("by address prefix = %+v", got)
	}
	got, _ = s.Contacts(ctx(), omnigate.SMS, "+1415555", "sms|+14155550100", 10)
	if len(got) != 1 || got[0].Address != "+14155550199" {
		t.Errorf("after cursor = %+v", got)
	}
	got, _ = s.Contacts(ctx(), omnigate.SMS, "%", "", 10)
	if len(got) != 0 {
		t.Errorf("a %% prefix is literal: %+v", got)
	}
	var c omnigate.Contact
	s.Update(ctx(), func(tx store.Tx) error { c, err = tx.Contact(omnigate.SMS, "+14155550100"); return err })
	if len(c.OptedOut) != 1 || c.OptedOut[0] != "+15550001111" {
		t.Errorf("opt-outs = %v", c.OptedOut)
	}
	s.Update(ctx(), func(tx store.Tx) error {
		return tx.SetOptOut(omnigate.SMS, "+14155550100", "+15550001111", false, t0)
	})
	s.Update(ctx(), func(tx store.Tx) error { c, err = tx.Contact(omnigate.SMS, "+14155550100"); return err })
	if len(c.OptedOut) != 0 {
		t.Errorf("opt-outs after opt-in = %v", c.OptedOut)
	}
}

func testHeldReceipt(t *testing.T, s store.Store) {
	seed(t, s, "a", 1)
	// The carrier's "delivered" overtakes the relay's commit of the carrier id.
	if err := s.Update(ctx(), func(tx store.Tx) error {
		return tx.HoldReceipt(omnigate.SMS, "SM9", omnigate.StatusDelivered, "", "", t0)
	}); err != nil {
		t.Fatal(err)
	}
	es, _ := s.ClaimDue(ctx(), "w", t0, time.Minute, 1)
	if _, err := s.Complete(ctx(), []store.Result{{EntryID: es[0].ID, Token: es[0].LeaseToken, Outcome: store.Done,
		MessageID: "a-m000", Status: omnigate.StatusSent, ProviderMessageID: "SM9"}}, t0); err != nil {
		t.Fatal(err)
	}
	if m, _ := s.Message(ctx(), "a-m000"); m.Status != omnigate.StatusDelivered || m.ProviderMessageID != "SM9" {
		t.Errorf("message = %s %q, want delivered SM9", m.Status, m.ProviderMessageID)
	}
}

package outbox_test

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/outbox"
	"github.com/omnigate/omnigate/store"
)

// statuses is an outbox.Observer that records the statuses reported per message.
type statuses struct {
	mu  sync.Mutex
	got map[string][]omnigate.MessageStatus
}

func (s *statuses) Attempt(string, omnigate.Channel, string, string, time.Duration) {}
func (s *statuses) BreakerState(string, string)                                     {}
func (s *statuses) Claim(int)                                                       {}
func (s *statuses) MessageStatus(m omnigate.Message, st omnigate.MessageStatus) {
	s.mu.Lock()
	s.got[m.ID] = append(s.got[m.ID], st)
	s.mu.Unlock()
}

func (s *statuses) of(id string) []omnigate.MessageStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.got[id])
}

// TestHeldReceiptsObserved: a carrier's receipts that overtook the relay's commit (held
// by the store until the relay records the carrier's id) are reported to the observer
// with the relay's own status, so the metrics count them; without a platform events
// sink too.
func TestHeldReceiptsObserved(t *testing.T) {
	t.Parallel()
	st := openSQLite(t)
	const carrierID = "carrier-msg-1"
	c := &carrier{answer: func(string, int) (int, string) { return http.StatusOK, `{"id":"` + carrierID + `"}` }}
	srv := startCarrier(t, c)
	ids := newEnqueuer(st).enqueue(t, outMsg{contact: "visitor-1", text: "hello"})

	// The receipts arrive first: nothing carries the carrier's id yet, so they are held.
	for _, s := range []omnigate.MessageStatus{omnigate.StatusDelivered, omnigate.StatusRead} {
		err := st.Update(context.Background(), func(tx store.Tx) error {
			out, err := tx.ApplyReceipt(store.Receipt{Channel: omnigate.Open, ProviderMessageID: carrierID, Status: s}, time.Now())
			if err == nil && !out.Held {
				t.Errorf("receipt %s was not held: %+v", s, out)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	obs := &statuses{got: map[string][]omnigate.MessageStatus{}}
	startRelay(t, st, srv, "relay-held", func(cfg *outbox.Config) { cfg.Observer = obs })
	waitFor(t, "the message to be read", func() bool { return message(t, st, ids[0]).Status == omnigate.StatusRead })
	waitFor(t, "the statuses to be reported", func() bool { return len(obs.of(ids[0])) >= 3 })
	want := []omnigate.MessageStatus{omnigate.StatusSent, omnigate.StatusDelivered, omnigate.StatusRead}
	if got := obs.of(ids[0]); !slices.Equal(got, want) {
		t.Errorf("observed %v, want %v", got, want)
	}
}

// TestReceiptBeforeResultCountedOnce: when the carrier's receipt moves the message
// before the relay's own result commits (the receipt was counted when it came), the
// relay's result leaves the status alone and is not counted again.
func TestReceiptBeforeResultCountedOnce(t *testing.T) {
	t.Parallel()
	st := openSQLite(t)
	ids := newEnqueuer(st).enqueue(t, outMsg{contact: "visitor-1", text: "hello"})
	c := &carrier{answer: func(string, int) (int, string) {
		// The receipt lands while the carrier call is still open.
		err := st.Update(context.Background(), func(tx store.Tx) error {
			_, err := tx.ApplyReceipt(store.Receipt{Channel: omnigate.Open, MessageID: ids[0], Status: omnigate.StatusDelivered}, time.Now())
			return err
		})
		if err != nil {
			t.Error(err)
		}
		return http.StatusOK, `{"id":"carrier-msg-2"}`
	}}
	srv := startCarrier(t, c)
	obs := &statuses{got: map[string][]omnigate.MessageStatus{}}
	startRelay(t, st, srv, "relay-receipt-first", func(cfg *outbox.Config) { cfg.Observer = obs })
	waitFor(t, "the delivery to be recorded", func() bool {
		rows, err := st.Outbox(context.Background(), store.OutboxPending, 0, 10)
		return err == nil && len(rows) == 0 && message(t, st, ids[0]).ProviderMessageID == "carrier-msg-2"
	})
	if m := message(t, st, ids[0]); m.Status != omnigate.StatusDelivered {
		t.Errorf("status = %s, want delivered (the receipt's)", m.Status)
	}
	if got := obs.of(ids[0]); len(got) != 0 {
		t.Errorf("the relay counted %v; the receipt had already moved the message", got)
	}
}

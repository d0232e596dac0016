package outbox_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/omnigate/omnigate/outbox"
	"github.com/omnigate/omnigate/store"
)

// claimClock is a real store that notes when each claim starts and ends.
type claimClock struct {
	store.Store
	mu     sync.Mutex
	starts []time.Time
	ends   []time.Time
}

func (c *claimClock) ClaimDue(ctx context.Context, cl store.Claim) (store.Claimed, error) {
	start := time.Now()
	out, err := c.Store.ClaimDue(ctx, cl)
	c.mu.Lock()
	c.starts, c.ends = append(c.starts, start), append(c.ends, time.Now())
	c.mu.Unlock()
	return out, err
}

// TestClaimGap: rows committed one by one, each commit waking the claimer, are claimed no
// sooner than ClaimGap after the previous claim ended, and all are delivered.
func TestClaimGap(t *testing.T) {
	t.Parallel()
	const gap = 40 * time.Millisecond
	st := &claimClock{Store: openSQLite(t)}
	c := &carrier{}
	srv := startCarrier(t, c)
	startRelay(t, st, srv, "relay-gap", func(cfg *outbox.Config) { cfg.ClaimGap = gap })
	e := newEnqueuer(st)
	const total = 30
	for i := range total {
		e.enqueue(t, outMsg{contact: fmt.Sprintf("gap-%02d", i), text: "hi"})
	}
	waitFor(t, "every message to reach the carrier", func() bool { return c.count() >= total })
	st.mu.Lock()
	defer st.mu.Unlock()
	for i := 1; i < len(st.starts); i++ {
		if d := st.starts[i].Sub(st.ends[i-1]); d < gap {
			t.Errorf("claim %d started %v after claim %d ended, want at least %v", i, d, i-1, gap)
		}
	}
}

// TestNoClaimGap: a negative ClaimGap claims at once on every wake-up; the rows are
// delivered all the same.
func TestNoClaimGap(t *testing.T) {
	t.Parallel()
	st := &claimClock{Store: openSQLite(t)}
	c := &carrier{}
	srv := startCarrier(t, c)
	startRelay(t, st, srv, "relay-nogap", func(cfg *outbox.Config) { cfg.ClaimGap = -1 })
	e := newEnqueuer(st)
	for i := range 10 {
		e.enqueue(t, outMsg{contact: fmt.Sprintf("nogap-%02d", i), text: "hi"})
	}
	waitFor(t, "every message to reach the carrier", func() bool { return c.count() >= 10 })
}

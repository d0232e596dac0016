package outbox_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "modernc.org/sqlite" // database/sql driver "sqlite", to inject faults beside the store

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/events"
	"github.com/omnigate/omnigate/outbox"
	"github.com/omnigate/omnigate/store"
)

// counter is an outbox.Observer that counts claims.
type counter struct {
	claims, rows atomic.Int64
}

func (c *counter) Attempt(string, omnigate.Channel, string, string, time.Duration) {}
func (c *counter) MessageStatus(omnigate.Message, omnigate.MessageStatus)          {}
func (c *counter) BreakerState(string, string)                                     {}
func (c *counter) Claim(rows int) {
	c.claims.Add(1)
	c.rows.Add(int64(rows))
}

// logCount counts log records whose message contains a string.
type logCount struct {
	substr string
	n      atomic.Int64
}

func (l *logCount) Enabled(context.Context, slog.Level) bool { return true }
func (l *logCount) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, l.substr) {
		l.n.Add(1)
	}
	return nil
}
func (l *logCount) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logCount) WithGroup(string) slog.Handler      { return l }

// retried records the messages whose attempt the relay took for failed and retried.
type retried struct {
	mu  sync.Mutex
	ids map[string]int
}

func (r *retried) Enabled(context.Context, slog.Level) bool { return true }
func (r *retried) Handle(_ context.Context, rec slog.Record) error {
	if rec.Message != "outbox: attempt failed; will retry" {
		return nil
	}
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == "message" {
			r.mu.Lock()
			r.ids[a.Value.String()]++
			r.mu.Unlock()
		}
		return true
	})
	return nil
}
func (r *retried) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *retried) WithGroup(string) slog.Handler      { return r }

// TestBacklogOverSlowCarrierSentOnce: a backlog that takes several leases to drain,
// over a carrier that answers slowly, with no crash: every message reaches the carrier
// exactly once. The lease is shorter than the backlog and longer than an attempt.
func TestBacklogOverSlowCarrierSentOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name            string
		open            func(*testing.T) store.Store
		relays, workers int
	}{
		{"sqlite", openSQLite, 1, 8},
		{"postgres", openPostgres, 2, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st := tc.open(t)
			c := &carrier{hold: 100 * time.Millisecond}
			srv := startCarrier(t, c)
			retries := &retried{ids: map[string]int{}}
			for i := range tc.relays {
				startRelay(t, st, srv, fmt.Sprintf("relay-%d", i), func(cfg *outbox.Config) {
					cfg.Workers, cfg.Lease, cfg.AttemptTimeout = tc.workers, 3*time.Second, 1500*time.Millisecond
					cfg.Log = slog.New(retries)
				})
			}
			// 300 conversations × 100 ms over 8 workers in all: about 3.75 s, longer than
			// the lease. (The lease leaves room for a database slowed down by every other
			// test on two cores: a result recorded after its lease ended is lost.)
			const total = 300
			var msgs []outMsg
			for i := range total {
				msgs = append(msgs, outMsg{contact: fmt.Sprintf("contact-%03d", i), text: "hello"})
			}
			ids := newEnqueuer(st).enqueue(t, msgs...)
			waitFor(t, "every message sent", func() bool {
				for _, id := range ids {
					if message(t, st, id).Status != omnigate.StatusSent {
						return false
					}
				}
				return true
			})
			// An attempt the relay took for failed (it timed out, as it may on a machine
			// overloaded by other tests, possibly after the carrier answered) is rightly
			// sent again; any other repeat is a duplicate without a crash.
			twice := 0
			c.mu.Lock()
			retries.mu.Lock()
			for _, id := range ids {
				if n := c.posts[id]; n < 1 || n > 1+retries.ids[id] {
					twice++
					t.Errorf("%s reached the carrier %d times; the relay retried it %d times", id, c.posts[id], retries.ids[id])
				}
			}
			if len(retries.ids) > 0 {
				t.Logf("%d attempts failed on this loaded machine and were retried", len(retries.ids))
			}
			retries.mu.Unlock()
			c.mu.Unlock()
			if twice > 0 {
				t.Errorf("%d of %d messages sent more than once without any crash", twice, total)
			}
		})
	}
}

// faulty installs a trigger that makes deleting outbox rows (the relay's Complete of a
// delivered row) fail while the returned switch is on.
func faulty(t *testing.T, driver, dsn string, postgres bool) func(on bool) {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ddl := []string{`CREATE TABLE fault (active INTEGER NOT NULL)`, `INSERT INTO fault VALUES (0)`}
	if postgres {
		ddl = append(ddl, `CREATE FUNCTION fail_complete() RETURNS trigger AS $$
			BEGIN IF (SELECT active FROM fault) = 1 THEN RAISE EXCEPTION 'injected fault'; END IF; RETURN OLD; END $$ LANGUAGE plpgsql`,
			`CREATE TRIGGER fail_complete BEFORE DELETE ON outbox FOR EACH ROW EXECUTE FUNCTION fail_complete()`)
	} else {
		ddl = append(ddl, `CREATE TRIGGER fail_complete BEFORE DELETE ON outbox
			WHEN (SELECT active FROM fault) = 1 BEGIN SELECT RAISE(ABORT, 'injected fault'); END`)
	}
	for _, q := range ddl {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return func(on bool) {
		v := 0
		if on {
			v = 1
		}
		if _, err := db.Exec(fmt.Sprintf(`UPDATE fault SET active = %d`, v)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCompleteFailureRetriedNotResent: the store refuses to record a delivered result
// for longer than the lease; the relay keeps the lease alive, retries the record until
// it commits, and the carrier sees the message once.
func TestCompleteFailureRetriedNotResent(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		open func(t *testing.T) (store.Store, func(bool))
	}{
		{"sqlite", func(t *testing.T) (store.Store, func(bool)) {
			st, path := openSQLiteAt(t)
			return st, faulty(t, "sqlite", "file:"+path+"?_pragma=busy_timeout(10000)", false)
		}},
		{"postgres", func(t *testing.T) (store.Store, func(bool)) {
			st, dsn := openPostgresAt(t)
			return st, faulty(t, "pgx", dsn, true)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st, fault := tc.open(t)
			c := &carrier{}
			srv := startCarrier(t, c)
			failures := &logCount{substr: "recording results failed"}
			startRelay(t, st, srv, "relay", func(cfg *outbox.Config) {
				cfg.Lease, cfg.AttemptTimeout = time.Second, 300*time.Millisecond
				cfg.Log = slog.New(failures)
			})
			fault(true)
			id := newEnqueuer(st).enqueue(t, outMsg{contact: "contact-1", text: "hello"})[0]
			// Eight failed records back off 10 ms, 20 ms, … 1.28 s: well past the lease.
			waitFor(t, "Complete to fail eight times", func() bool { return failures.n.Load() >= 8 })
			fault(false)
			waitFor(t, "the message to be sent", func() bool { return message(t, st, id).Status == omnigate.StatusSent })
			waitFor(t, "the outbox to empty", func() bool {
				rows, err := st.Outbox(context.Background(), store.OutboxPending, 0, 10)
				return err == nil && len(rows) == 0
			})
			if n := c.postsFor(id); n != 1 {
				t.Errorf("the carrier got the message %d times, want once: a failed record must not resend", n)
			}
		})
	}
}

// TestIdleWhileHeadBacksOff: while a conversation's head waits out its backoff and the
// next message waits behind it, the relay does not poll: the claims it makes in that
// time are counted, not timed.
func TestIdleWhileHeadBacksOff(t *testing.T) {
	t.Parallel()
	st := openSQLite(t)
	c := &carrier{answer: func(id string, n int) (int, string) {
		if n == 0 && strings.HasSuffix(id, "_0") {
			return http.StatusInternalServerError, `{"code":"oops","message":"try later"}`
		}
		return http.StatusOK, ""
	}}
	srv := startCarrier(t, c)
	obs := &counter{}
	startRelay(t, st, srv, "relay", func(cfg *outbox.Config) {
		cfg.InitialBackoff, cfg.MaxBackoff = 2*time.Second, 2*time.Second
		cfg.Observer = obs
	})
	ids := newEnqueuer(st).enqueue(t, outMsg{contact: "contact-1", text: "first"}, outMsg{contact: "contact-1", text: "second"})
	waitFor(t, "the first attempt", func() bool { return c.postsFor(ids[0]) == 1 })
	before := obs.claims.Load()
	waitFor(t, "the retry and the second message", func() bool { return message(t, st, ids[1]).Status == omnigate.StatusSent })
	// The retry's claim, the second message's, the empty claims after each completion,
	// and a wake or two: a handful. Polling every millisecond made thousands.
	if n := obs.claims.Load() - before; n > 12 {
		t.Errorf("%d claims while one head backed off for 1–3 s, want a handful", n)
	}
}

// TestPacingSchedulesOnce: 200 messages queued behind one sender paced at 5/s. Each row
// is claimed about once (given its slot), then once more at its slot to be sent.
func TestPacingSchedulesOnce(t *testing.T) {
	t.Parallel()
	st := openSQLite(t)
	c := &carrier{}
	srv := startCarrier(t, c)
	obs := &counter{}
	startRelay(t, st, srv, "relay", func(cfg *outbox.Config) {
		cfg.Rate = func(omnigate.Message) float64 { return 5 }
		cfg.Observer = obs
	})
	var msgs []outMsg
	for i := range 200 {
		msgs = append(msgs, outMsg{contact: fmt.Sprintf("contact-%03d", i), text: "hello"})
	}
	start := time.Now()
	newEnqueuer(st).enqueue(t, msgs...)
	waitFor(t, "20 deliveries", func() bool { return c.count() >= 20 })
	rows := obs.rows.Load()
	// 200 rows given a slot each, plus the ~20 claimed again at their slot (a few more
	// when a loaded machine claims a row too late and it takes a new slot). Re-claiming
	// every waiting row at every slot made 19 claims a row.
	if rows > 400 {
		t.Errorf("%d rows claimed to deliver %d messages of 200 queued, want each row claimed about once", rows, c.count())
	}
	checkPaced(t, c, start, 5)
}

// checkPaced asserts what pacing guarantees however loaded the machine: every send
// has its own slot, slots are at least 1/rate apart and none before the messages were
// queued, and nothing goes out before its slot. So the k-th arrival at the carrier
// (from 0) comes no sooner than queued + k/rate. A stall can only make sends later.
// Unshared pacers let three relays send three at a time.
func checkPaced(t *testing.T, c *carrier, queued time.Time, rate int) {
	t.Helper()
	c.mu.Lock()
	at := slices.Clone(c.answered)
	c.mu.Unlock()
	slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
	interval := time.Second / time.Duration(rate)
	for k, a := range at {
		if earliest := queued.Add(time.Duration(k) * interval); a.Before(earliest) {
			t.Errorf("message %d reached the carrier %v after the queue was filled, before its earliest slot (%v) at %d/s",
				k+1, a.Sub(queued).Round(time.Millisecond), earliest.Sub(queued), rate)
			return
		}
	}
}

// TestPacingHoldsAcrossRelays: three relays on one PostgreSQL database, one sender
// paced at 5/s: together they stay within the rate.
func TestPacingHoldsAcrossRelays(t *testing.T) {
	t.Parallel()
	st := openPostgres(t)
	c := &carrier{}
	srv := startCarrier(t, c)
	for i := range 3 {
		startRelay(t, st, srv, fmt.Sprintf("relay-%d", i), func(cfg *outbox.Config) {
			cfg.Rate = func(omnigate.Message) float64 { return 5 }
		})
	}
	var msgs []outMsg
	for i := range 60 {
		msgs = append(msgs, outMsg{contact: fmt.Sprintf("contact-%03d", i), text: "hello"})
	}
	start := time.Now()
	newEnqueuer(st).enqueue(t, msgs...)
	waitFor(t, "20 deliveries", func() bool { return c.count() >= 20 })
	checkPaced(t, c, start, 5)
}

// TestEventRefusedBecomesDeadLetter: a platform answering 401 (a rotated secret) gets
// no retries and loses nothing: the event is a dead letter with the platform's answer,
// and replaying it once the platform is fixed delivers it.
func TestEventRefusedBecomesDeadLetter(t *testing.T) {
	t.Parallel()
	st := openSQLite(t)
	var refuse atomic.Bool
	refuse.Store(true)
	var mu sync.Mutex
	var got []string
	platform := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if refuse.Load() {
			http.Error(w, "signature does not match the configured secret", http.StatusUnauthorized)
			return
		}
		mu.Lock()
		got = append(got, string(body))
		mu.Unlock()
	}))
	t.Cleanup(platform.Close)
	carrierSrv := startCarrier(t, &carrier{})
	startRelay(t, st, carrierSrv, "relay", func(cfg *outbox.Config) {
		cfg.Events = &events.Sink{URL: platform.URL, Secret: []byte("s"), Client: platform.Client()}
	})
	ev, err := events.Entry(events.TypeTyping, "conv-1", map[string]any{"typing": true}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Update(context.Background(), func(tx store.Tx) error { return tx.Enqueue(ev) }); err != nil {
		t.Fatal(err)
	}
	var dead []store.OutboxRow
	waitFor(t, "a dead letter", func() bool {
		dead, _ = st.Outbox(context.Background(), store.OutboxDead, 0, 10)
		return len(dead) == 1
	})
	if d := dead[0]; d.Kind != store.KindEvent || d.Attempts != 1 || !strings.Contains(d.LastError, "401") ||
		!strings.Contains(d.LastError, "signature does not match") {
		t.Errorf("dead letter = %+v, want the event after one attempt with the platform's 401 answer", d)
	}
	refuse.Store(false)
	if err := st.RetryDead(context.Background(), dead[0].ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the replayed event to arrive", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 1 && strings.Contains(got[0], `"typing"`)
	})
}

// TestReceiptStopsResend: an attempt times out on our side although the carrier took
// the message; its status callback arrives before the retry. The retry does not send.
func TestReceiptStopsResend(t *testing.T) {
	t.Parallel()
	st := openSQLite(t)
	c := &carrier{hold: 800 * time.Millisecond}
	srv := startCarrier(t, c)
	startRelay(t, st, srv, "relay", func(cfg *outbox.Config) {
		cfg.AttemptTimeout = 200 * time.Millisecond
		cfg.InitialBackoff, cfg.MaxBackoff = 2*time.Second, 2*time.Second
	})
	id := newEnqueuer(st).enqueue(t, outMsg{contact: "contact-1", text: "hello"})[0]
	waitFor(t, "the carrier to get the message", func() bool { return c.postsFor(id) == 1 })
	// The carrier's callback carries our id (the status-callback URL) and its own.
	if err := st.Update(context.Background(), func(tx store.Tx) error {
		_, err := tx.ApplyReceipt(store.Receipt{Channel: omnigate.Open, MessageID: id, ProviderMessageID: "carrier-1",
			Status: omnigate.StatusDelivered}, time.Now())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the row to complete", func() bool {
		rows, err := st.Outbox(context.Background(), store.OutboxPending, 0, 10)
		return err == nil && len(rows) == 0
	})
	if m := message(t, st, id); m.Status != omnigate.StatusDelivered || m.ProviderMessageID != "carrier-1" {
		t.Errorf("message = %s %q, want delivered carrier-1", m.Status, m.ProviderMessageID)
	}
	if n := c.postsFor(id); n != 1 {
		t.Errorf("the carrier got the message %d times after a receipt proved it had it", n)
	}
}

package outbox_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/adapters"
	"github.com/omnigate/omnigate/adapters/open"
	"github.com/omnigate/omnigate/outbox"
	"github.com/omnigate/omnigate/store"
	"github.com/omnigate/omnigate/store/sqlstore"
	"github.com/omnigate/omnigate/store/storetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const integration = "web-widget"

func openSQLite(t *testing.T) store.Store {
	st, _ := openSQLiteAt(t)
	return st
}

// openSQLiteAt returns a store on a fresh SQLite file and the file's path.
func openSQLiteAt(t *testing.T) (store.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "omnigate.db")
	db, err := sqlstore.Open(context.Background(), "sqlite://"+path, sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, path
}

// openPostgres returns a store in a fresh schema, or skips when there is no server
// (CI sets CI and fails instead).
func openPostgres(t *testing.T) store.Store {
	st, _ := openPostgresAt(t)
	return st
}

// openPostgresAt returns a store in a fresh schema and a DSN that reaches that schema.
func openPostgresAt(t *testing.T) (store.Store, string) {
	t.Helper()
	dsn := storetest.PostgresSchema(t)
	db, err := sqlstore.Open(context.Background(), dsn, sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, dsn
}

// carrier is a fake open-messaging integration. answer decides each post's reply from
// how many times this message id was posted before; received keeps arrival order.
type carrier struct {
	answer func(id string, n int) (int, string)
	delay  time.Duration // up to this much random delay before answering
	hold   time.Duration // this much delay before answering

	mu       sync.Mutex
	posts    map[string]int
	byTo     map[string][]string // contact -> texts in arrival order
	received int
	answered []time.Time // when each post was answered
}

func startCarrier(t *testing.T, c *carrier) *httptest.Server {
	t.Helper()
	c.posts, c.byTo = map[string]int{}, map[string][]string{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		var m struct {
			ID      string `json:"id"`
			Text    string `json:"text"`
			Channel struct {
				To struct {
					ID string `json:"id"`
				} `json:"to"`
			} `json:"channel"`
		}
		if err := json.Unmarshal(body, &m); err != nil || m.ID == "" {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		n := c.posts[m.ID]
		c.posts[m.ID]++
		c.byTo[m.Channel.To.ID] = append(c.byTo[m.Channel.To.ID], m.Text)
		c.received++
		c.mu.Unlock()
		if c.delay > 0 {
			time.Sleep(time.Duration(rand.Int64N(int64(c.delay))))
		}
		time.Sleep(c.hold)
		c.mu.Lock()
		c.answered = append(c.answered, time.Now())
		c.mu.Unlock()
		code, body2 := http.StatusOK, ""
		if c.answer != nil {
			code, body2 = c.answer(m.ID, n)
		}
		w.WriteHeader(code)
		io.WriteString(w, body2)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func (c *carrier) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.received
}

func (c *carrier) postsFor(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.posts[id]
}

// startRelay runs a relay delivering open messages to srv until the test ends.
func startRelay(t *testing.T, st store.Store, srv *httptest.Server, owner string, tune func(*outbox.Config)) {
	t.Helper()
	r, err := outbox.New(relayConfig(t, st, srv, owner, tune))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, 5*time.Second) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("relay: %v", err)
		}
	})
}

// openRegistry registers one open-messaging integration posting to srv.
func openRegistry(t *testing.T, srv *httptest.Server) *adapters.Registry {
	t.Helper()
	a, err := open.New(open.Config{Integrations: map[string]open.Integration{
		integration: {OutboundURL: srv.URL + "/hook", Secret: "s3cret"}}, HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	reg := adapters.NewRegistry()
	reg.Register(omnigate.Open, a)
	return reg
}

// relayConfig is a relay's configuration delivering to srv, an open-messaging carrier.
func relayConfig(t *testing.T, st store.Store, srv *httptest.Server, owner string, tune func(*outbox.Config)) outbox.Config {
	t.Helper()
	cfg := outbox.Config{Store: st, Registry: openRegistry(t, srv), Owner: owner, Workers: 8}
	if tune != nil {
		tune(&cfg)
	}
	return cfg
}

// enqueuer writes outbound messages the way messaging.Service does: conversation,
// message and outbox row in one transaction, the row keyed by the conversation.
type enqueuer struct {
	st    store.Store
	convs map[string]omnigate.Conversation // by contact
}

func newEnqueuer(st store.Store) *enqueuer {
	return &enqueuer{st: st, convs: map[string]omnigate.Conversation{}}
}

type outMsg struct{ contact, text string }

// enqueue writes msgs in one transaction, in order, and returns their ids.
func (e *enqueuer) enqueue(t *testing.T, msgs ...outMsg) []string {
	t.Helper()
	var ids []string
	err := e.st.Update(context.Background(), func(tx store.Tx) error {
		ids = ids[:0]
		now := time.Now().UTC()
		fresh := map[string]bool{}
		for i, m := range msgs {
			c, ok := e.convs[m.contact]
			if !ok {
				c = omnigate.Conversation{ID: fmt.Sprintf("conv_%s_%d", m.contact, now.UnixNano()), Channel: omnigate.Open,
					QueueID: "support", Address: integration, ContactAddress: m.contact, State: omnigate.StateAssigned,
					AssignedTo: "agent", OpenedAt: now, LastActivityAt: now}
				if err := tx.InsertConversation(c); err != nil {
					return err
				}
				e.convs[m.contact], fresh[m.contact] = c, true
			}
			id := fmt.Sprintf("msg_%s_%d_%d", m.contact, now.UnixNano(), i)
			if err := tx.InsertMessage(omnigate.Message{ID: id, ConversationID: c.ID, Direction: omnigate.Outbound,
				Channel: omnigate.Open, QueueID: "support", From: integration, To: m.contact, Text: m.text,
				Sender: omnigate.Human, PrincipalID: "agent", Status: omnigate.StatusQueued, CreatedAt: now, UpdatedAt: now}); err != nil {
				return err
			}
			if err := tx.Enqueue(store.NewEntry{Kind: store.KindDeliver, FIFOKey: c.ID, MessageID: id, DueAt: now}); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		// A conversation created in a rolled-back transaction does not exist.
		t.Fatal(err)
	}
	return ids
}

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func message(t *testing.T, st store.Store, id string) omnigate.Message {
	t.Helper()
	m, err := st.Message(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestFIFOPerConversation enqueues 1,000 messages over 20 conversations while the relay
// runs with 8 workers (and, on PostgreSQL, two relays sharing the database), and checks
// that each contact received its messages in the order they were enqueued: a
// conversation's next message is never handed over before the previous one is sent.
func TestFIFOPerConversation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		open   func(*testing.T) store.Store
		relays int
	}{
		{"sqlite", openSQLite, 1},
		{"postgres", openPostgres, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st := tc.open(t)
			c := &carrier{delay: 2 * time.Millisecond}
			srv := startCarrier(t, c)
			for i := range tc.relays {
				startRelay(t, st, srv, fmt.Sprintf("relay-%d", i), nil)
			}
			const convs, total = 20, 1000
			e := newEnqueuer(st)
			want := map[string][]string{}
			for batch := 0; batch < total; batch += 25 {
				var msgs []outMsg
				for i := batch; i < batch+25; i++ {
					m := outMsg{contact: fmt.Sprintf("contact-%02d", i%convs), text: fmt.Sprintf("m%04d", i)}
					msgs = append(msgs, m)
					want[m.contact] = append(want[m.contact], m.text)
				}
				e.enqueue(t, msgs...)
			}
			waitFor(t, "every message to reach the carrier", func() bool { return c.count() >= total })
			c.mu.Lock()
			got := c.byTo
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("arrival order per contact differs from enqueue order (-want +got):\n%s", diff)
			}
			c.mu.Unlock()
		})
	}
}

// TestRelayOutcomes covers how carrier answers become message states.
func TestRelayOutcomes(t *testing.T) {
	t.Parallel()
	type want struct {
		status   omnigate.MessageStatus
		attempts int
		posts    int
		code     string
		dead     bool
	}
	for _, tc := range []struct {
		name   string
		answer func(id string, n int) (int, string)
		want   want
	}{
		{
			// 500 is not retried inside the adapter: each failure costs a relay attempt.
			name: "500 twice then 200 is delivered on the third attempt",
			answer: func(_ string, n int) (int, string) {
				if n < 2 {
					return http.StatusInternalServerError, `{"code":"oops","message":"try later"}`
				}
				return http.StatusOK, `{"id":"carrier-1"}`
			},
			want: want{status: omnigate.StatusSent, attempts: 3, posts: 3},
		},
		{
			// 503 says the carrier never took the post, so the adapter retries it inline
			// within the same relay attempt.
			name: "503 twice then 200 is delivered within one attempt",
			answer: func(_ string, n int) (int, string) {
				if n < 2 {
					return http.StatusServiceUnavailable, ""
				}
				return http.StatusOK, ""
			},
			want: want{status: omnigate.StatusSent, attempts: 1, posts: 3},
		},
		{
			name: "400 fails the message with the carrier's code and no retry",
			answer: func(string, int) (int, string) {
				return http.StatusBadRequest, `{"code":"bad.request","message":"recipient unknown"}`
			},
			want: want{status: omnigate.StatusFailed, attempts: 1, posts: 1, code: "bad.request"},
		},
		{
			name: "exhausted attempts become a dead letter",
			answer: func(string, int) (int, string) {
				return http.StatusBadGateway, `{"code":"upstream","message":"down"}`
			},
			want: want{status: omnigate.StatusFailed, attempts: 3, posts: 3, code: "upstream", dead: true},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st := openSQLite(t)
			c := &carrier{answer: tc.answer}
			srv := startCarrier(t, c)
			startRelay(t, st, srv, "relay", func(cfg *outbox.Config) {
				cfg.MaxAttempts = 3
				cfg.InitialBackoff, cfg.MaxBackoff = time.Millisecond, 5*time.Millisecond
			})
			id := newEnqueuer(st).enqueue(t, outMsg{contact: "contact-1", text: "hello"})[0]
			waitFor(t, "a final status", func() bool {
				return message(t, st, id).Status.Final() || message(t, st, id).Status == omnigate.StatusSent
			})

			m := message(t, st, id)
			got := want{status: m.Status, attempts: m.Attempts, posts: c.postsFor(id), code: m.ErrorCode}
			ctx := context.Background()
			dead, err := st.Outbox(ctx, store.OutboxDead, 0, 10)
			if err != nil {
				t.Fatal(err)
			}
			pending, err := st.Outbox(ctx, store.OutboxPending, 0, 10)
			if err != nil {
				t.Fatal(err)
			}
			got.dead = len(dead) == 1 && dead[0].MessageID == id
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(want{})); diff != "" {
				t.Errorf("outcome (-want +got):\n%s", diff)
			}
			if len(pending) != 0 {
				t.Errorf("pending rows remain after a final outcome: %+v", pending)
			}
			if tc.want.dead && (dead[0].Attempts != tc.want.attempts || !strings.Contains(dead[0].LastError, "down")) {
				t.Errorf("dead letter = %+v, want %d attempts and the last error", dead[0], tc.want.attempts)
			}
			if !tc.want.dead && len(dead) != 0 {
				t.Errorf("unexpected dead letters: %+v", dead)
			}
		})
	}
}

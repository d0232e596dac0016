package outbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/adapters"
	"github.com/omnigate/omnigate/adapters/meta"
	"github.com/omnigate/omnigate/events"
	"github.com/omnigate/omnigate/outbox"
	"github.com/omnigate/omnigate/store"
)

// TestChainOrder: Chain(s, a, b) sends through a, then b, then s, and answers back out
// in the reverse order.
func TestChainOrder(t *testing.T) {
	var trail []string
	mark := func(name string) outbox.Wrapper {
		return func(next outbox.Sender) outbox.Sender {
			return outbox.SenderFunc(func(ctx context.Context, e store.Entry) (adapters.Receipt, error) {
				trail = append(trail, name+" in")
				rc, err := next.Send(ctx, e)
				trail = append(trail, name+" out")
				return rc, err
			})
		}
	}
	inner := outbox.SenderFunc(func(context.Context, store.Entry) (adapters.Receipt, error) {
		trail = append(trail, "send")
		return adapters.Receipt{}, nil
	})
	outbox.Chain(inner, mark("a"), mark("b")).Send(context.Background(), entry(omnigate.Message{ID: "m"}))
	want := "a in, b in, send, b out, a out"
	if got := strings.Join(trail, ", "); got != want {
		t.Errorf("trail %s, want %s", got, want)
	}
}

// TestCarriers: a message goes to the adapter registered for its channel, in the
// carrier's wire format; a channel without a carrier is a permanent failure that
// reaches no one, and a row whose message is gone sends nothing.
func TestCarriers(t *testing.T) {
	var mu sync.Mutex
	var posts []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		body, _ := io.ReadAll(r.Body)
		if !strings.HasPrefix(r.Header.Get("X-Hub-Signature-256"), "sha256=") || json.Unmarshal(body, &m) != nil {
			http.Error(w, "unsigned or not JSON", http.StatusBadRequest)
			return
		}
		mu.Lock()
		posts = append(posts, m)
		mu.Unlock()
		io.WriteString(w, `{"id":"op-1"}`)
	}))
	defer srv.Close()
	s := outbox.Carriers(openRegistry(t, srv))

	rc, err := s.Send(context.Background(), entry(omnigate.Message{ID: "msg-1", Channel: omnigate.Open, From: integration,
		To: "visitor-1", Text: "hello"}))
	if err != nil || rc.ProviderMessageID != "op-1" {
		t.Fatalf("open send = %+v, %v; want the integration's id", rc, err)
	}
	if len(posts) != 1 || posts[0]["text"] != "hello" {
		t.Errorf("posts = %v, want one with the text", posts)
	}

	_, err = s.Send(context.Background(), entry(omnigate.Message{ID: "msg-2", Channel: omnigate.SMS, From: "+15550001111", To: "+14155550100", Text: "hi"}))
	var pe *adapters.PermanentError
	if !errors.As(err, &pe) || pe.Code != "no_carrier" {
		t.Errorf("sms without a carrier = %v, want permanent no_carrier", err)
	}
	if _, err := s.Send(context.Background(), store.Entry{ID: 3, Kind: store.KindDeliver, MessageID: "gone"}); err == nil {
		t.Error("a row without its message was sent")
	}
	if len(posts) != 1 {
		t.Errorf("%d posts, want only the open message's", len(posts))
	}
}

// TestEvents: a platform event is posted signed, with its id; with no sink (events
// turned off since it was written) it is dropped as done.
func TestEvents(t *testing.T) {
	secret := []byte("platform-secret")
	got := make(chan *http.Request, 1)
	bodies := make(chan []byte, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- r
		bodies <- b
	}))
	defer srv.Close()
	payload := []byte(`{"id":"evt_1","type":"message.inbound"}`)
	e := store.Entry{ID: 1, Kind: store.KindEvent, Payload: payload}
	sink := &events.Sink{URL: srv.URL, Secret: secret, Client: srv.Client()}
	if _, err := outbox.Events(sink).Send(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	r, body := <-got, <-bodies
	if string(body) != string(payload) || r.Header.Get("X-Omnigate-Event-Id") != "evt_1" {
		t.Errorf("posted %s with id %q, want the payload and evt_1", body, r.Header.Get("X-Omnigate-Event-Id"))
	}
	if err := events.Verify(secret, body, r.Header.Get(events.SignatureHeader), time.Now(), 5*time.Minute); err != nil {
		t.Errorf("signature does not verify: %v", err)
	}
	if _, err := outbox.Events(nil).Send(context.Background(), e); err != nil {
		t.Errorf("no sink: %v, want the event dropped as done", err)
	}
}

// TestTypingThroughBreaker: typing goes through the carrier account's breaker: five
// failures open it, and while it is open the carrier is not asked. A channel whose
// carrier has no typing indicator is refused without a request.
func TestTypingThroughBreaker(t *testing.T) {
	var mu sync.Mutex
	var actions []string
	graph := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b struct {
			SenderAction string `json:"sender_action"`
		}
		json.NewDecoder(r.Body).Decode(&b)
		mu.Lock()
		actions = append(actions, b.SenderAction)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, `{"error":{"message":"An unexpected error has occurred. Please retry your request later.","type":"OAuthException","is_transient":true,"code":2,"fbtrace_id":"A1"}}`)
	}))
	defer graph.Close()
	mt, err := meta.New(meta.Config{AppSecret: "app-secret", VerifyToken: "v", PageTokens: map[string]string{"1001": "page-token"},
		GraphURL: graph.URL, APIVersion: "v23.0", HTTPClient: graph.Client()})
	if err != nil {
		t.Fatal(err)
	}
	reg := adapters.NewRegistry()
	reg.Register(omnigate.Messenger, mt)
	r, err := outbox.New(outbox.Config{Store: openSQLite(t), Registry: reg, Owner: "typing"})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Typing(context.Background(), omnigate.X, "1", "2", true); !errors.Is(err, outbox.ErrNoTyping) {
		t.Errorf("typing on a channel without a carrier = %v, want ErrNoTyping", err)
	}
	var last error
	for range 7 {
		last = r.Typing(context.Background(), omnigate.Messenger, "1001", "2002", true)
	}
	var re *adapters.RetryableError
	if last == nil || errors.As(last, &re) {
		t.Errorf("typing with the breaker open = %v, want the breaker's refusal", last)
	}
	if len(actions) != 5 || actions[0] != "typing_on" {
		t.Errorf("Graph was asked %d times (%v), want 5 before the breaker opened", len(actions), actions)
	}
	if st := r.BreakerStates()[mt.Account()]; st != "open" {
		t.Errorf("breaker %q, want open", st)
	}
}

// Package e2e_test drives omnigate end to end: the real platform API and carrier
// webhooks over HTTP, the real SQLite store, the real adapters and outbox relay, with
// carriers and the platform's event receiver faked by httptest servers that speak each
// wire format. Time is a settable fixed clock, so windows and timelines are crossed by
// moving the clock, never by sleeping.
package e2e_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	"go.uber.org/goleak"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/adapters"
	"github.com/omnigate/omnigate/adapters/carrierhttp"
	"github.com/omnigate/omnigate/adapters/meta"
	"github.com/omnigate/omnigate/adapters/open"
	"github.com/omnigate/omnigate/adapters/twilio"
	"github.com/omnigate/omnigate/adapters/x"
	"github.com/omnigate/omnigate/api"
	"github.com/omnigate/omnigate/events"
	"github.com/omnigate/omnigate/messaging"
	"github.com/omnigate/omnigate/outbox"
	"github.com/omnigate/omnigate/policy"
	"github.com/omnigate/omnigate/store/sqlstore"
	"github.com/omnigate/omnigate/webhook"
)

// Our addresses and the secrets the fakes share with omnigate.
const (
	supportSMS      = "+15550001111"
	supportWhatsApp = "+15550002222"
	billingSMS      = "+15550003333"
	pageID          = "104512345678"
	igAccount       = "17841400000000"
	xUser           = "1234567890"
	widget          = "web-widget"
	nosmsWidget     = "nosms-widget"
	waPhoneNumberID = "1098765"

	twilioSID     = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	twilioToken   = "0123456789abcdef0123456789abcdef"
	metaSecret    = "meta-app-secret"
	xSecret       = "x-consumer-secret"
	openSecret    = "open-secret"
	eventsSecret  = "events-secret"
	annKey        = "key-ann"
	bobKey        = "key-bob"
	catKey        = "key-cat"
	platformKey   = "key-platform"
	danKey        = "key-dan"
	waitDeadline  = 20 * time.Second
	retryAfterSec = "30" // carriers that are down ask for more than an inline retry may wait
)

// TestMain checks that every harness stops what it started: relay goroutines, servers
// and client connections.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// start is the fixed clock's first reading.
var start = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// clock is a fixed clock the test moves by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// request is one request a fake server received.
type request struct {
	Method   string
	Path     string
	Query    string
	Header   http.Header
	Body     []byte
	Accepted bool // answered 2xx
}

// fake is a carrier (or the platform) as an httptest server: it records every request
// and answers it through answer, unless down says to refuse it with 503.
type fake struct {
	srv    *httptest.Server
	answer func(w http.ResponseWriter, r *http.Request, body []byte)
	refuse func(w http.ResponseWriter) // how this carrier says "unavailable"

	mu   sync.Mutex
	reqs []request
	down func(body []byte) bool
}

func newFake(t *testing.T, answer func(w http.ResponseWriter, r *http.Request, body []byte), refuse func(w http.ResponseWriter)) *fake {
	f := &fake{answer: answer, refuse: refuse}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fake) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	down := f.down != nil && f.down(body)
	f.reqs = append(f.reqs, request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body, Accepted: !down})
	f.mu.Unlock()
	if down {
		f.refuse(w)
		return
	}
	f.answer(w, r, body)
}

// setDown makes the fake refuse every request whose body down matches (nil: none).
func (f *fake) setDown(down func(body []byte) bool) {
	f.mu.Lock()
	f.down = down
	f.mu.Unlock()
}

func (f *fake) requests() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.reqs...)
}

// matching returns the requests whose body contains s.
func (f *fake) matching(s string) []request {
	var out []request
	for _, r := range f.requests() {
		if bytes.Contains(r.Body, []byte(s)) {
			out = append(out, r)
		}
	}
	return out
}

func (f *fake) accepted(s string) int {
	n := 0
	for _, r := range f.matching(s) {
		if r.Accepted {
			n++
		}
	}
	return n
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// platformEvent is an event the platform received, signature checked.
type platformEvent struct {
	ID             string          `json:"id"`
	Type           string          `json:"type"`
	ConversationID string          `json:"conversation_id"`
	Data           json.RawMessage `json:"data"`
}

// harness is one omnigate with its fakes.
type harness struct {
	clk      *clock
	dbDir    string // the SQLite database's folder: db, -wal and -shm files
	st       *sqlstore.DB
	relay    *outbox.Relay
	url      string
	client   *http.Client
	twilio   *fake
	graph    *fake
	xapi     *fake
	widget   *fake
	platform *fake

	mu        sync.Mutex
	events    []platformEvent
	badEvents int
	// profiles are the Graph user profiles by user id (the fake answers {"id"} alone
	// for anyone else); profileGate, when set, holds every profile answer until closed.
	profiles    map[string]obj
	profileGate chan struct{}
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	return newHarnessWith(t, policy.Default())
}

// newHarnessWith is newHarness under the policy pol.
func newHarnessWith(t *testing.T, pol *policy.Policy) *harness {
	t.Helper()
	h := &harness{clk: &clock{now: start}, client: &http.Client{Timeout: 30 * time.Second}}
	var err error
	h.dbDir = t.TempDir()
	h.st, err = sqlstore.Open(context.Background(), "sqlite://"+filepath.Join(h.dbDir, "omnigate.db"), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.st.Close() })
	h.startFakes(t)

	// The API server's URL is the public URL Twilio signs against, so it is known
	// before the adapters are built.
	srv := httptest.NewUnstartedServer(nil)
	h.url = "http://" + srv.Listener.Addr().String()

	polFn := func() *policy.Policy { return pol }
	dir := directory()
	queues := func() map[string]omnigate.Queue { return dir.Queues }

	tw, err := twilio.New(twilio.Config{AccountSID: twilioSID, AuthToken: twilioToken, BaseURL: h.twilio.srv.URL, PublicURL: h.url})
	if err != nil {
		t.Fatal(err)
	}
	mt, err := meta.New(meta.Config{AppSecret: metaSecret, VerifyToken: "verify-me",
		PageTokens:    map[string]string{pageID: "page-token", igAccount: "ig-token"},
		WhatsAppToken: "wa-token", WhatsAppPhoneNumberIDs: map[string]string{supportWhatsApp: waPhoneNumberID},
		GraphURL: h.graph.srv.URL, Now: h.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	xa, err := x.New(x.Config{ConsumerSecret: xSecret, BearerTokens: map[string]string{xUser: "x-user-token"},
		BaseURL: h.xapi.srv.URL, Now: h.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	op, err := open.New(open.Config{Now: h.clk.Now, Integrations: map[string]open.Integration{
		widget:      {OutboundURL: h.widget.srv.URL + "/hook", Secret: openSecret},
		nosmsWidget: {OutboundURL: h.widget.srv.URL + "/nosms", Secret: openSecret},
	}})
	if err != nil {
		t.Fatal(err)
	}
	reg := adapters.NewRegistry()
	reg.Register(omnigate.SMS, tw)
	reg.Register(omnigate.WhatsApp, mt) // whatsapp_provider: meta
	reg.Register(omnigate.Messenger, mt)
	reg.Register(omnigate.Instagram, mt)
	reg.Register(omnigate.X, xa)
	reg.Register(omnigate.Open, op)

	sink := &events.Sink{URL: h.platform.srv.URL + "/events", Secret: []byte(eventsSecret), Client: &http.Client{Timeout: 10 * time.Second}}
	// No Rate: the relay's per-sender pacing runs on the same fixed clock and would hold
	// every second SMS until the test moved time; pacing is not what these tests are about.
	h.relay, err = outbox.New(outbox.Config{Store: h.st, Registry: reg, Events: sink, Owner: "e2e",
		Workers: 3, Lease: time.Minute, MaxAttempts: 10, InitialBackoff: time.Second, MaxBackoff: time.Minute,
		AttemptTimeout: 10 * time.Second, Recheck: messaging.Recheck(polFn),
		Now: h.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := messaging.New(messaging.Config{Store: h.st, Policy: polFn, Queues: queues, Events: true, Now: h.clk.Now,
		Principals: dir.AllPrincipals, DefaultCountry: func() string { return dir.DefaultCountry }, Typer: h.relay,
		// The fakes are on loopback, so media downloads are not guarded here.
		Registry: reg, MediaClient: carrierhttp.UserAgentClient(&http.Client{Timeout: 10 * time.Second}), MediaBaseURL: h.url,
		Profiles: func(ch omnigate.Channel) (adapters.Profiler, bool) {
			p, ok := any(mt).(adapters.Profiler)
			return p, ok && (ch == omnigate.Messenger || ch == omnigate.Instagram)
		}})
	if err != nil {
		t.Fatal(err)
	}
	sink.Prepare = svc.PrepareEvent
	a := api.New(api.Config{Service: svc, Directory: func() *api.Directory { return dir }})
	// Mounted as cmd/omnigate's newDaemon mounts them.
	hooks := map[string]adapters.Adapter{
		"POST /webhooks/twilio": tw, "POST /webhooks/twilio/status": tw,
		"/webhooks/meta": mt, "/webhooks/x": xa, "POST /webhooks/open/{integration}": op,
	}
	for pattern, ad := range hooks {
		a.Handle(pattern, &webhook.Handler{Adapter: ad, Ingester: svc, Log: discard()})
	}
	srv.Config.Handler = a
	srv.Start()
	t.Cleanup(srv.Close)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.relay.Run(ctx, 5*time.Second) }()
	profilesDone := make(chan struct{})
	go func() { defer close(profilesDone); svc.RunProfiles(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("relay: %v", err)
		}
		<-profilesDone
	})
	return h
}

func directory() *api.Directory {
	cred := func(key string, p omnigate.Principal) api.Credential {
		return api.Credential{KeySHA256: sha256.Sum256([]byte(key)), Principal: p}
	}
	return &api.Directory{
		DefaultCountry: "US",
		Queues: map[string]omnigate.Queue{
			"support": {ID: "support", Name: "Customer Support", Addresses: map[omnigate.Channel]string{
				omnigate.SMS: supportSMS, omnigate.WhatsApp: supportWhatsApp, omnigate.Messenger: pageID,
				omnigate.Instagram: igAccount, omnigate.X: xUser, omnigate.Open: widget}},
			"billing": {ID: "billing", Name: "Billing", Addresses: map[omnigate.Channel]string{omnigate.SMS: billingSMS}},
			"nosms":   {ID: "nosms", Name: "Web Chat", Addresses: map[omnigate.Channel]string{omnigate.Open: nosmsWidget}},
		},
		Principals: []api.Credential{
			cred(annKey, omnigate.Principal{ID: "agent-ann", Permissions: []string{omnigate.PermSend, omnigate.PermQueues},
				Queues: []string{"support"}, DefaultQueue: "support"}),
			cred(bobKey, omnigate.Principal{ID: "agent-bob", Permissions: []string{omnigate.PermSend}, Queues: []string{"support"}}),
			// cat belongs to a queue without an SMS number, to reach no_outbound_address.
			cred(catKey, omnigate.Principal{ID: "agent-cat", Permissions: []string{omnigate.PermSend, omnigate.PermQueues},
				Queues: []string{"support", "nosms"}}),
			// dan works the billing queue only.
			cred(danKey, omnigate.Principal{ID: "agent-dan", Permissions: []string{omnigate.PermSend}, Queues: []string{"billing"}}),
			cred(platformKey, omnigate.Principal{ID: "platform", Permissions: []string{omnigate.PermAssign, omnigate.PermQueues, omnigate.PermAdmin},
				Queues: []string{"*"}}),
		},
	}
}

func (h *harness) startFakes(t *testing.T) {
	var seq sync.Mutex
	n := 0
	next := func(prefix string) string {
		seq.Lock()
		defer seq.Unlock()
		n++
		return fmt.Sprintf("%s%06d", prefix, n)
	}
	// Twilio's Messages API: 201 with the message resource; 503 with Twilio's error.
	h.twilio = newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		if r.Method == http.MethodGet {
			serveTwilioMedia(w, r)
			return
		}
		form, _ := url.ParseQuery(string(body))
		writeJSON(w, http.StatusCreated, map[string]any{"account_sid": twilioSID, "api_version": "2010-04-01",
			"sid": next("SM"), "status": "queued", "to": form.Get("To"), "from": form.Get("From"), "body": form.Get("Body"),
			"direction": "outbound-api", "num_segments": "1", "num_media": "0"})
	}, func(w http.ResponseWriter) {
		w.Header().Set("Retry-After", retryAfterSec)
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"code": 20503, "message": "Service unavailable", "status": 503})
	})
	// Graph: the Send API answers a message_id, the Cloud API a messages list, the User
	// Profile API (GET /{version}/{user-id}) the user's profile.
	h.graph = newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		if r.Method == http.MethodGet {
			if !r.URL.Query().Has("fields") {
				h.serveGraphMedia(w, r)
				return
			}
			h.mu.Lock()
			gate := h.profileGate
			h.mu.Unlock()
			if gate != nil {
				<-gate
			}
			id := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
			out := obj{"id": id}
			h.mu.Lock()
			for k, v := range h.profiles[id] {
				out[k] = v
			}
			h.mu.Unlock()
			writeJSON(w, http.StatusOK, out)
			return
		}
		if strings.Contains(r.URL.Path, "/"+waPhoneNumberID+"/") {
			writeJSON(w, http.StatusOK, map[string]any{"messaging_product": "whatsapp",
				"messages": []map[string]string{{"id": "wamid." + next("")}}})
			return
		}
		var b struct {
			Recipient struct {
				ID string `json:"id"`
			} `json:"recipient"`
		}
		json.Unmarshal(body, &b)
		writeJSON(w, http.StatusOK, map[string]string{"recipient_id": b.Recipient.ID, "message_id": "m_" + next("")})
	}, func(w http.ResponseWriter) {
		w.Header().Set("Retry-After", retryAfterSec)
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": map[string]any{
			"message": "Service temporarily unavailable", "type": "OAuthException", "code": 2, "is_transient": true}})
	})
	h.xapi = newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		if r.Method == http.MethodGet {
			serveXMedia(w, r)
			return
		}
		writeJSON(w, http.StatusCreated, map[string]any{"data": map[string]string{
			"dm_conversation_id": "dmc", "dm_event_id": next("")}})
	}, func(w http.ResponseWriter) {
		w.Header().Set("Retry-After", retryAfterSec)
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"title": "Service Unavailable", "detail": "try later",
			"type": "about:blank", "status": 503})
	})
	h.widget = newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		writeJSON(w, http.StatusOK, map[string]string{"id": next("open-")})
	}, func(w http.ResponseWriter) {
		w.Header().Set("Retry-After", retryAfterSec)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"code": "unavailable", "message": "down"})
	})
	h.platform = newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		if events.Verify([]byte(eventsSecret), body, r.Header.Get(events.SignatureHeader), time.Now(), 0) != nil {
			h.mu.Lock()
			h.badEvents++
			h.mu.Unlock()
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		// One event, or a batch of them (events.batch above 1).
		evs, err := events.Split(body)
		if err != nil {
			t.Errorf("platform event %s: %v", body, err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		for _, raw := range evs {
			var ev platformEvent
			json.Unmarshal(raw, &ev)
			h.events = append(h.events, ev)
		}
		h.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}, func(w http.ResponseWriter) { w.WriteHeader(http.StatusServiceUnavailable) })
}

// eventsOf returns the platform events of type typ received so far.
func (h *harness) eventsOf(typ string) []platformEvent {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []platformEvent
	for _, e := range h.events {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

// advance moves the clock and wakes the relay, whose due times follow the clock.
func (h *harness) advance(d time.Duration) {
	h.clk.Set(h.clk.Now().Add(d))
	h.relay.Wake()
}

// waitFor polls cond until it holds. It bounds a wait for the relay (which runs in its
// own goroutines); it measures nothing.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitDeadline)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// obj is a decoded JSON object.
type obj = map[string]any

// call makes an API request with key's bearer token and decodes the JSON answer.
func (h *harness) call(t *testing.T, key, method, path string, body any) (int, obj) {
	t.Helper()
	code, raw := h.callRaw(t, key, method, path, body)
	var out obj
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: answer is not JSON: %v: %s", method, path, err, raw)
		}
	}
	return code, out
}

func (h *harness) callRaw(t *testing.T, key, method, path string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, h.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

// send posts POST /v1/messages.
func (h *harness) send(t *testing.T, key string, body obj) (int, obj) {
	t.Helper()
	return h.call(t, key, http.MethodPost, "/v1/messages", body)
}

// mustSend sends and requires 202; it returns the message and conversation ids.
func (h *harness) mustSend(t *testing.T, key string, body obj) (msgID, convID string) {
	t.Helper()
	code, out := h.send(t, key, body)
	if code != http.StatusAccepted {
		t.Fatalf("send %v: got %d %v, want 202", body, code, out)
	}
	return str(out, "id"), str(out, "conversation_id")
}

func (h *harness) message(t *testing.T, id string) obj {
	t.Helper()
	code, out := h.call(t, platformKey, http.MethodGet, "/v1/messages/"+id, nil)
	if code != http.StatusOK {
		t.Fatalf("GET message %s: %d %v", id, code, out)
	}
	return out
}

func (h *harness) conversation(t *testing.T, id string) obj {
	t.Helper()
	code, out := h.call(t, platformKey, http.MethodGet, "/v1/conversations/"+id, nil)
	if code != http.StatusOK {
		t.Fatalf("GET conversation %s: %d %v", id, code, out)
	}
	return out
}

// conversationsWith lists the conversations with a contact, most recent first.
func (h *harness) conversationsWith(t *testing.T, ch omnigate.Channel, address string) []obj {
	t.Helper()
	q := url.Values{"channel": {string(ch)}, "address": {address}}
	code, out := h.call(t, platformKey, http.MethodGet, "/v1/conversations?"+q.Encode(), nil)
	if code != http.StatusOK {
		t.Fatalf("GET conversations: %d %v", code, out)
	}
	return objs(out, "conversations")
}

// latestConversation is the id of the most recent conversation with a contact.
func (h *harness) latestConversation(t *testing.T, ch omnigate.Channel, address string) string {
	t.Helper()
	cs := h.conversationsWith(t, ch, address)
	if len(cs) == 0 {
		t.Fatalf("no %s conversation with %s", ch, address)
	}
	return str(cs[0], "id")
}

// assign has the platform route a conversation to a principal.
func (h *harness) assign(t *testing.T, convID, principal string) {
	t.Helper()
	code, out := h.call(t, platformKey, http.MethodPost, "/v1/conversations/"+convID+"/assign", obj{"principal": principal})
	if code != http.StatusOK {
		t.Fatalf("assign %s to %s: %d %v", convID, principal, code, out)
	}
}

// waitStatus waits until a message reaches status.
func (h *harness) waitStatus(t *testing.T, id, status string) obj {
	t.Helper()
	var m obj
	deadline := time.Now().Add(waitDeadline)
	for m = h.message(t, id); str(m, "status") != status; m = h.message(t, id) {
		if final := str(m, "status") == "failed" || str(m, "status") == "canceled"; final || time.Now().After(deadline) {
			t.Fatalf("gave up waiting for message %s to be %s; it is %v", id, status, m)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return m
}

// Webhooks, signed as each carrier signs them.

func (h *harness) postWebhook(t *testing.T, path string, header http.Header, body []byte) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// postMeta posts a Meta webhook signed with the app secret and requires 200.
func (h *harness) postMeta(t *testing.T, body []byte) {
	t.Helper()
	hd := http.Header{"Content-Type": {"application/json"}, meta.SignatureHeader: {meta.Sign(metaSecret, body)}}
	if code := h.postWebhook(t, "/webhooks/meta", hd, body); code != http.StatusOK {
		t.Fatalf("meta webhook: %d", code)
	}
}

// postX posts an X Account Activity webhook signed with the consumer secret.
func (h *harness) postX(t *testing.T, body []byte) {
	t.Helper()
	hd := http.Header{"Content-Type": {"application/json"}, x.SignatureHeader: {x.Sign(xSecret, body)}}
	if code := h.postWebhook(t, "/webhooks/x", hd, body); code != http.StatusOK {
		t.Fatalf("x webhook: %d", code)
	}
}

// postTwilio posts a Twilio inbound SMS, signed over the public URL and the sorted
// parameters as Twilio documents it.
func (h *harness) postTwilioSMS(t *testing.T, sid, from, to, text string) {
	t.Helper()
	form := url.Values{"AccountSid": {twilioSID}, "ApiVersion": {"2010-04-01"}, "MessageSid": {sid}, "SmsSid": {sid},
		"SmsMessageSid": {sid}, "SmsStatus": {"received"}, "From": {from}, "To": {to}, "Body": {text},
		"NumMedia": {"0"}, "NumSegments": {"1"}, "FromCountry": {"US"}, "ToCountry": {"US"}}
	h.postTwilioForm(t, form)
}

// postTwilioForm posts any Twilio inbound form, signed.
func (h *harness) postTwilioForm(t *testing.T, form url.Values) {
	t.Helper()
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := h.url + "/webhooks/twilio"
	for _, k := range keys {
		s += k + form.Get(k)
	}
	mac := hmac.New(sha1.New, []byte(twilioToken))
	mac.Write([]byte(s))
	hd := http.Header{"Content-Type": {"application/x-www-form-urlencoded"},
		"X-Twilio-Signature": {base64.StdEncoding.EncodeToString(mac.Sum(nil))}}
	if code := h.postWebhook(t, "/webhooks/twilio", hd, []byte(form.Encode())); code != http.StatusOK {
		t.Fatalf("twilio webhook: %d", code)
	}
}

// inbound fills a testdata payload template.
type inbound struct {
	Page, From, MID, Text, Name, URL string
	// UserID and Username: a WhatsApp user's business-scoped user id and username.
	UserID, Username string
	At               time.Time
}

func (in inbound) Millis() int64  { return in.At.UnixMilli() }
func (in inbound) Seconds() int64 { return in.At.Unix() }

var payloads = template.Must(template.New("").Funcs(template.FuncMap{
	"json": func(s string) string { b, _ := json.Marshal(s); return string(b) },
}).ParseGlob(filepath.Join("testdata", "*.json.tmpl")))

// payload renders testdata/name.json.tmpl and checks that it is JSON.
func payload(t *testing.T, name string, in inbound) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := payloads.ExecuteTemplate(&b, name+".json.tmpl", in); err != nil {
		t.Fatal(err)
	}
	if !json.Valid(b.Bytes()) {
		t.Fatalf("%s renders invalid JSON: %s", name, b.Bytes())
	}
	return b.Bytes()
}

// JSON helpers.

func str(o obj, key string) string {
	s, _ := o[key].(string)
	return s
}

func num(o obj, key string) int {
	f, _ := o[key].(float64)
	return int(f)
}

func sub(o obj, key string) obj {
	m, _ := o[key].(obj)
	return m
}

func objs(o obj, key string) []obj {
	list, _ := o[key].([]any)
	out := make([]obj, 0, len(list))
	for _, v := range list {
		m, _ := v.(obj)
		out = append(out, m)
	}
	return out
}

// errCode is the error code of an error answer.
func errCode(o obj) string { return str(sub(o, "error"), "code") }

// wantError requires an error answer with status and code.
func wantError(t *testing.T, what string, code int, out obj, wantStatus int, wantCode string) {
	t.Helper()
	if code != wantStatus || errCode(out) != wantCode {
		t.Fatalf("%s: got %d %v, want %d %s", what, code, out, wantStatus, wantCode)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

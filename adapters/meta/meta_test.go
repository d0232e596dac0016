package meta_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/adapters"
	"github.com/omnigate/omnigate/adapters/adaptertest"
	"github.com/omnigate/omnigate/adapters/meta"
)

const (
	appSecret = "app-secret"
	verify    = "verify-me"
	pageID    = "104512345678"
	pageToken = "page-token"
	igID      = "17841400000000"
	igToken   = "ig-token"
	waToken   = "wa-token"
	waNumber  = "+15550002222"
	waPNID    = "1098765"
)

func newMeta(t testing.TB, graphURL string, stories bool) *meta.Meta {
	t.Helper()
	m, err := meta.New(meta.Config{
		AppSecret: appSecret, VerifyToken: verify,
		PageTokens:             map[string]string{pageID: pageToken, igID: igToken},
		WhatsAppToken:          waToken,
		WhatsAppPhoneNumberIDs: map[string]string{waNumber: waPNID},
		GraphURL:               graphURL, APIVersion: "v23.0",
		StoryMentions: func() bool { return stories },
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func graphError(status int, code, subcode int, header http.Header) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for k, v := range header {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		body := map[string]any{"error": map[string]any{
			"message": "test error", "type": "OAuthException", "code": code,
			"error_subcode": subcode, "fbtrace_id": "AXsgnV2Cm3ZMGF3dF_cfYIn",
		}}
		if subcode == 0 {
			delete(body["error"].(map[string]any), "error_subcode")
		}
		_ = json.NewEncoder(w).Encode(body)
	}
}

func signedRequest(t *testing.T, name string) (*http.Request, []byte) {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, "/webhooks/meta", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set(meta.SignatureHeader, meta.Sign(appSecret, body))
	return r, body
}

func TestConformanceWhatsApp(t *testing.T) {
	t.Parallel()
	adaptertest.Run(t, adaptertest.Harness{
		New: func(t *testing.T, baseURL string) adapters.Adapter { return newMeta(t, baseURL, true) },
		Message: adapters.Outbound{
			MessageID: "msg-1", Channel: omnigate.WhatsApp, From: waNumber, To: "+16505551234", Text: "hello",
		},
		Accept: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"messaging_product":"whatsapp","contacts":[{"input":"16505551234","wa_id":"16505551234"}],"messages":[{"id":"wamid.HBgLMTY1MDUwNzY1MjAVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA"}]}`)
		},
		WantProviderID: "wamid.HBgLMTY1MDUwNzY1MjAVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA",
		Throttle:       graphError(http.StatusTooManyRequests, 130429, 0, http.Header{"Retry-After": {"30"}}),
		WantRetryAfter: 30 * time.Second,
		Reject:         graphError(http.StatusBadRequest, 131047, 0, nil),
		WantCode:       "131047",
		Webhook:        func(t *testing.T) (*http.Request, []byte) { return signedRequest(t, "whatsapp_text.json") },
		WantEvents:     1,
	})
}

func TestConformanceMessenger(t *testing.T) {
	t.Parallel()
	adaptertest.Run(t, adaptertest.Harness{
		New: func(t *testing.T, baseURL string) adapters.Adapter { return newMeta(t, baseURL, true) },
		Message: adapters.Outbound{
			MessageID: "msg-1", Channel: omnigate.Messenger, From: pageID, To: "1254459154682919", Text: "hello",
		},
		Accept: func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, `{"recipient_id":"1254459154682919","message_id":"m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM"}`)
		},
		WantProviderID: "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM",
		Throttle:       graphError(http.StatusBadRequest, 4, 0, http.Header{"Retry-After": {"5"}}),
		WantRetryAfter: 5 * time.Second,
		Reject:         graphError(http.StatusBadRequest, 10, 2018278, nil),
		WantCode:       "10/2018278",
		Webhook:        func(t *testing.T) (*http.Request, []byte) { return signedRequest(t, "messenger_batch.json") },
		WantEvents:     4,
	})
}

// fakeGraph records one send and answers as Graph does.
type fakeGraph struct {
	path, auth, query string
	body              map[string]any
}

func (f *fakeGraph) serve(t *testing.T, answer string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.path, f.auth, f.query = r.URL.Path, r.Header.Get("Authorization"), r.URL.RawQuery
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("content type = %q", ct)
		}
		if err := json.NewDecoder(r.Body).Decode(&f.body); err != nil {
			t.Errorf("decode: %v", err)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func jsonMap(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSendBodies(t *testing.T) {
	t.Parallel()
	const pageAnswer = `{"recipient_id":"1254459154682919","message_id":"m_123"}`
	const waAnswer = `{"messaging_product":"whatsapp","contacts":[{"input":"16505551234","wa_id":"16505551234"}],"messages":[{"id":"wamid.123"}]}`
	tests := []struct {
		name               string
		out                adapters.Outbound
		answer             string
		wantPath, wantAuth string
		wantBody           string
		wantID             string
	}{
		{
			name:     "messenger response text",
			out:      adapters.Outbound{Channel: omnigate.Messenger, From: pageID, To: "1254459154682919", Text: "Hi there"},
			answer:   pageAnswer,
			wantPath: "/v23.0/" + pageID + "/messages", wantAuth: "Bearer " + pageToken,
			wantBody: `{"recipient":{"id":"1254459154682919"},"messaging_type":"RESPONSE","message":{"text":"Hi there"}}`,
			wantID:   "m_123",
		},
		{
			name:     "messenger human agent tag",
			out:      adapters.Outbound{Channel: omnigate.Messenger, From: pageID, To: "1254459154682919", Text: "Following up", Tag: "HUMAN_AGENT"},
			answer:   pageAnswer,
			wantPath: "/v23.0/" + pageID + "/messages", wantAuth: "Bearer " + pageToken,
			wantBody: `{"recipient":{"id":"1254459154682919"},"messaging_type":"MESSAGE_TAG","tag":"HUMAN_AGENT","message":{"text":"Following up"}}`,
			wantID:   "m_123",
		},
		{
			name: "messenger image",
			out: adapters.Outbound{Channel: omnigate.Messenger, From: pageID, To: "1254459154682919",
				Media: []omnigate.Media{{URL: "https://cdn.example.com/a.png", ContentType: "image/png"}}},
			answer:   pageAnswer,
			wantPath: "/v23.0/" + pageID + "/messages", wantAuth: "Bearer " + pageToken,
			wantBody: `{"recipient":{"id":"1254459154682919"},"messaging_type":"RESPONSE","message":{"attachment":{"type":"image","payload":{"url":"https://cdn.example.com/a.png","is_reusable":false}}}}`,
			wantID:   "m_123",
		},
		{
			name:     "instagram text",
			out:      adapters.Outbound{Channel: omnigate.Instagram, From: igID, To: "5318329871523944", Text: "Thanks!"},
			answer:   `{"recipient_id":"5318329871523944","message_id":"aWdfZAG1faXRlbToxOkl"}`,
			wantPath: "/v23.0/" + igID + "/messages", wantAuth: "Bearer " + igToken,
			wantBody: `{"recipient":{"id":"5318329871523944"},"messaging_type":"RESPONSE","message":{"text":"Thanks!"}}`,
			wantID:   "aWdfZAG1faXRlbToxOkl",
		},
		{
			name:     "whatsapp text",
			out:      adapters.Outbound{Channel: omnigate.WhatsApp, From: waNumber, To: "+16505551234", Text: "Your order shipped"},
			answer:   waAnswer,
			wantPath: "/v23.0/" + waPNID + "/messages", wantAuth: "Bearer " + waToken,
			wantBody: `{"messaging_product":"whatsapp","recipient_type":"individual","to":"16505551234","type":"text","text":{"body":"Your order shipped"}}`,
			wantID:   "wamid.123",
		},
		{
			name: "whatsapp template with two variables",
			out: adapters.Outbound{Channel: omnigate.WhatsApp, From: waNumber, To: "+16505551234",
				Template: &omnigate.Template{Name: "order_update", Language: "en_US",
					Variables: map[string]string{"2": "shipped", "1": "Ann"}}},
			answer:   waAnswer,
			wantPath: "/v23.0/" + waPNID + "/messages", wantAuth: "Bearer " + waToken,
			wantBody: `{"messaging_product":"whatsapp","recipient_type":"individual","to":"16505551234","type":"template",
				"template":{"name":"order_update","language":{"code":"en_US"},"components":[{"type":"body","parameters":[
				{"type":"text","text":"Ann"},{"type":"text","text":"shipped"}]}]}}`,
			wantID: "wamid.123",
		},
		{
			name: "whatsapp template orders ten after nine",
			out: adapters.Outbound{Channel: omnigate.WhatsApp, From: waNumber, To: "+16505551234",
				Template: &omnigate.Template{Name: "t", Language: "en", Variables: map[string]string{
					"10": "j", "9": "i", "1": "a", "2": "b", "3": "c", "4": "d", "5": "e", "6": "f", "7": "g", "8": "h"}}},
			answer:   waAnswer,
			wantPath: "/v23.0/" + waPNID + "/messages", wantAuth: "Bearer " + waToken,
			wantBody: `{"messaging_product":"whatsapp","recipient_type":"individual","to":"16505551234","type":"template",
				"template":{"name":"t","language":{"code":"en"},"components":[{"type":"body","parameters":[
				{"type":"text","text":"a"},{"type":"text","text":"b"},{"type":"text","text":"c"},{"type":"text","text":"d"},
				{"type":"text","text":"e"},{"type":"text","text":"f"},{"type":"text","text":"g"},{"type":"text","text":"h"},
				{"type":"text","text":"i"},{"type":"text","text":"j"}]}]}}`,
			wantID: "wamid.123",
		},
		{
			name: "whatsapp image with caption",
			out: adapters.Outbound{Channel: omnigate.WhatsApp, From: waNumber, To: "+16505551234", Text: "receipt",
				Media: []omnigate.Media{{URL: "https://cdn.example.com/r.jpg", ContentType: "image/jpeg"}}},
			answer:   waAnswer,
			wantPath: "/v23.0/" + waPNID + "/messages", wantAuth: "Bearer " + waToken,
			wantBody: `{"messaging_product":"whatsapp","recipient_type":"individual","to":"16505551234","type":"image",
				"image":{"link":"https://cdn.example.com/r.jpg","caption":"receipt"}}`,
			wantID: "wamid.123",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var f fakeGraph
			srv := f.serve(t, tt.answer)
			rc, err := newMeta(t, srv.URL, true).Send(context.Background(), tt.out)
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if rc.ProviderMessageID != tt.wantID || rc.Status != omnigate.StatusSent {
				t.Errorf("receipt = %+v, want id %q, sent", rc, tt.wantID)
			}
			if f.path != tt.wantPath {
				t.Errorf("path = %q, want %q", f.path, tt.wantPath)
			}
			if f.auth != tt.wantAuth {
				t.Errorf("authorization = %q, want %q", f.auth, tt.wantAuth)
			}
			if f.query != "" {
				t.Errorf("query = %q, want none: the token rides in the header", f.query)
			}
			if diff := cmp.Diff(jsonMap(t, tt.wantBody), f.body); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSendRefusals(t *testing.T) {
	t.Parallel()
	m := newMeta(t, "http://127.0.0.1:1", true)
	tests := []struct {
		name string
		out  adapters.Outbound
		code string
	}{
		{"unknown page", adapters.Outbound{Channel: omnigate.Messenger, From: "999", To: "1", Text: "x"}, "unknown_sender"},
		{"unknown number", adapters.Outbound{Channel: omnigate.WhatsApp, From: "+1999", To: "+1", Text: "x"}, "unknown_sender"},
		{"empty", adapters.Outbound{Channel: omnigate.Messenger, From: pageID, To: "1"}, "empty_message"},
		{"text and media on messenger", adapters.Outbound{Channel: omnigate.Messenger, From: pageID, To: "1", Text: "x",
			Media: []omnigate.Media{{URL: "https://e/x.png", ContentType: "image/png"}}}, "unsupported_content"},
		{"sms", adapters.Outbound{Channel: omnigate.SMS, From: "+1", To: "+2", Text: "x"}, "unsupported_channel"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := m.Send(context.Background(), tt.out)
			var pe *adapters.PermanentError
			if !errors.As(err, &pe) || pe.Code != tt.code {
				t.Fatalf("err = %v, want permanent %s", err, tt.code)
			}
		})
	}
}

func TestSendErrorCodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		handler   http.HandlerFunc
		retryable bool
		code      string
		after     time.Duration
	}{
		{"pair rate limit", graphError(400, 131056, 0, nil), true, "131056", 0},
		{"page rate limit", graphError(400, 80007, 0, nil), true, "80007", 0},
		{"outside window", graphError(400, 10, 2018278, nil), false, "10/2018278", 0},
		{"blocked", graphError(400, 551, 1545041, nil), false, "551/1545041", 0},
		{"invalid param", graphError(400, 100, 0, nil), false, "100", 0},
		{"expired token", graphError(401, 190, 463, nil), false, "190/463", 0},
		{"graph down", graphError(500, 2, 0, nil), true, "2", 0},
		{"bare 403", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", http.StatusForbidden) }, false, "http_403", 0},
		{"unavailable with a long wait", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "120")
			http.Error(w, "later", http.StatusServiceUnavailable)
		}, true, "http_503", 2 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			_, err := newMeta(t, srv.URL, true).Send(context.Background(),
				adapters.Outbound{Channel: omnigate.Messenger, From: pageID, To: "1", Text: "x"})
			adaptertest.CheckClass(t, err, adaptertest.Class{Retryable: tt.retryable, Code: tt.code, RetryAfter: tt.after, CheckRetryAfter: true})
		})
	}
}

// A POST is repeated only when Graph asked for a short wait; a 500 is handed to the
// outbox at once, since the message may already be out.
func TestInlineRetries(t *testing.T) {
	t.Parallel()
	count := func(first http.HandlerFunc) int {
		var calls atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if calls.Add(1) == 1 {
				first(w, r)
				return
			}
			_, _ = io.WriteString(w, `{"recipient_id":"1","message_id":"m_ok"}`)
		}))
		defer srv.Close()
		_, _ = newMeta(t, srv.URL, true).Send(context.Background(),
			adapters.Outbound{Channel: omnigate.Messenger, From: pageID, To: "1", Text: "x"})
		return int(calls.Load())
	}
	if n := count(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "0")
		http.Error(w, "slow down", http.StatusTooManyRequests)
	}); n != 2 {
		t.Errorf("429 with Retry-After 0: %d calls, want 2", n)
	}
	if n := count(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", http.StatusInternalServerError) }); n != 1 {
		t.Errorf("500: %d calls, want 1", n)
	}
	if n := count(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "bad gateway", http.StatusBadGateway) }); n != 1 {
		t.Errorf("502: %d calls, want 1", n)
	}
}

// A Graph that cannot be reached never saw the message: retryable, never permanent.
func TestUnreachableGraph(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	_, err := newMeta(t, srv.URL, true).Send(context.Background(),
		adapters.Outbound{Channel: omnigate.Messenger, From: pageID, To: "1", Text: "x"})
	var re *adapters.RetryableError
	if !errors.As(err, &re) {
		t.Fatalf("err = %v, want *RetryableError", err)
	}
}

func TestTyping(t *testing.T) {
	t.Parallel()
	var f fakeGraph
	srv := f.serve(t, `{"recipient_id":"1254459154682919"}`)
	m := newMeta(t, srv.URL, true)
	if err := m.Typing(context.Background(), omnigate.Messenger, pageID, "1254459154682919", true); err != nil {
		t.Fatal(err)
	}
	want := jsonMap(t, `{"recipient":{"id":"1254459154682919"},"sender_action":"typing_on"}`)
	if diff := cmp.Diff(want, f.body); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
	var pe *adapters.PermanentError
	if err := m.Typing(context.Background(), omnigate.WhatsApp, waNumber, "+1", true); !errors.As(err, &pe) {
		t.Errorf("whatsapp typing: %v, want permanent", err)
	}
}

func TestChallenge(t *testing.T) {
	t.Parallel()
	m := newMeta(t, "http://127.0.0.1:1", true)
	tests := []struct {
		name, query string
		status      int
		body        string
	}{
		{"good token", "hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1158201444", 200, "1158201444"},
		{"bad token", "hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1158201444", 403, ""},
		{"no token", "hub.mode=subscribe&hub.challenge=1158201444", 403, ""},
		{"wrong mode", "hub.mode=unsubscribe&hub.verify_token=verify-me&hub.challenge=1", 403, ""},
		{"markup challenge", "hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=%3Cscript%3E1158201444", 400, ""},
		{"no challenge", "hub.mode=subscribe&hub.verify_token=verify-me", 400, ""},
		{"long challenge", "hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=" + strings.Repeat("1", 65), 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			m.Challenge(w, httptest.NewRequest(http.MethodGet, "/webhooks/meta?"+tt.query, nil))
			if w.Code != tt.status {
				t.Fatalf("status = %d, want %d", w.Code, tt.status)
			}
			if tt.status == 200 && w.Body.String() != tt.body {
				t.Errorf("body = %q, want %q", w.Body.String(), tt.body)
			}
			if tt.status != 200 && bytes.Contains(w.Body.Bytes(), []byte("1158201444")) {
				t.Error("a refused challenge echoes hub.challenge")
			}
		})
	}
}

func TestAcknowledge(t *testing.T) {
	t.Parallel()
	w := httptest.NewRecorder()
	newMeta(t, "http://127.0.0.1:1", true).Acknowledge(w, httptest.NewRequest(http.MethodPost, "/webhooks/meta", nil))
	if w.Code != 200 || w.Body.String() != "EVENT_RECEIVED" {
		t.Errorf("got %d %q", w.Code, w.Body.String())
	}
}

func ms(v int64) time.Time { return time.UnixMilli(v).UTC() }

func TestParseWebhook(t *testing.T) {
	t.Parallel()
	const (
		psid   = "1254459154682919"
		igUser = "5318329871523944"
		story  = "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDAwMDAwMDAwOjM0MDI4MjM2Njg0MTcxMDMwMTI0NDI3NjAxNzE0NzQyNjgyMzA2OjczMTU5MjcxMDM4NzQ4NDQ0MjEyODAyMDI3NzE2NzAxOTI="
		gone   = "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDAwMDAwMDAwOjM0MDI4MjM2Njg0MTcxMDMwMTI0NDI3NjAxNzE0NzQyNjgyMzA2OjczMTU5MjcxMDM4NzQ4NDQ0MjEyODAyMDI3NzE2NzAxOTM="
		plain  = "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDAwMDAwMDAwOjM0MDI4MjM2Njg0MTcxMDMwMTI0NDI3NjAxNzE0NzQyNjgyMzA2OjczMTU5MjcxMDM4NzQ4NDQ0MjEyODAyMDI3NzE2NzAxOTQ="
	)
	storyEvent := adapters.Event{
		Kind: adapters.EventMessage, Channel: omnigate.Instagram, ProviderMessageID: story,
		Address: igID, ContactAddress: igUser, StoryMention: true, Ephemeral: true,
		Media:     []omnigate.Media{{URL: "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=17895695668004550&signature=abc", ContentType: "image/*"}},
		Timestamp: ms(1569262485349),
	}
	igRest := []adapters.Event{
		{Kind: adapters.EventUnsend, Channel: omnigate.Instagram, ProviderMessageID: gone,
			Address: igID, ContactAddress: igUser, Timestamp: ms(1569262486001)},
		// No name in Instagram webhooks: omnigate shows the page-scoped id.
		{Kind: adapters.EventMessage, Channel: omnigate.Instagram, ProviderMessageID: plain,
			Address: igID, ContactAddress: "6402938475610023", Text: "is my order shipped?", Timestamp: ms(1569262487000)},
	}
	tests := []struct {
		name    string
		file    string
		stories bool
		want    []adapters.Event
	}{
		{
			name: "messenger text, echo, delivery and read across entries", file: "messenger_batch.json",
			want: []adapters.Event{
				{Kind: adapters.EventMessage, Channel: omnigate.Messenger,
					ProviderMessageID: "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6AC8fplwlqLP_5cgXIbu7I3rBN0P",
					Address:           pageID, ContactAddress: psid, Text: "hello, world!", Timestamp: ms(1458692752478)},
				{Kind: adapters.EventEcho, Channel: omnigate.Messenger, ProviderMessageID: "m_1457764197618:41d102a3e1ae206a38",
					Address: pageID, ContactAddress: psid, Text: "Hi, how can we help?", Timestamp: ms(1458692753000)},
				{Kind: adapters.EventStatus, Channel: omnigate.Messenger, ProviderMessageID: "m_1458668856218:ed81099e15d3f4f233",
					Address: pageID, ContactAddress: psid, Status: omnigate.StatusDelivered,
					Watermark: ms(1458668856253), Timestamp: ms(1458668856463)},
				{Kind: adapters.EventStatus, Channel: omnigate.Messenger, Address: pageID, ContactAddress: psid,
					Status: omnigate.StatusRead, Watermark: ms(1458668856253), Timestamp: ms(1458668856463)},
			},
		},
		{
			name: "instagram story mention, unsend and a user with no name", file: "instagram_batch.json", stories: true,
			want: append([]adapters.Event{storyEvent}, igRest...),
		},
		{
			name: "instagram story mentions dropped by policy", file: "instagram_batch.json", stories: false,
			want: igRest,
		},
		{
			name: "whatsapp text with profile name", file: "whatsapp_text.json",
			want: []adapters.Event{{
				Kind: adapters.EventMessage, Channel: omnigate.WhatsApp,
				ProviderMessageID: "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
				Address:           waNumber, ContactAddress: "+16505551234", ContactName: "Sheena Nelson",
				Text: "Does it come in another color?", Timestamp: time.Unix(1749416383, 0).UTC(),
			}},
		},
		{
			// The phone-number id is not configured: the display number stands in.
			name: "whatsapp template failure 131047", file: "whatsapp_status_failed.json",
			want: []adapters.Event{{
				Kind: adapters.EventStatus, Channel: omnigate.WhatsApp,
				ProviderMessageID: "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3NTg5RjA5QzQ3MjcxNDRGNjQA",
				Address:           "+15550003333", ContactAddress: "+16505551234", Status: omnigate.StatusFailed,
				ErrorCode:    "131047",
				ErrorMessage: "Re-engagement message: Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
				Timestamp:    time.Unix(1750263773, 0).UTC(),
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, body := signedRequest(t, tt.file)
			got, err := newMeta(t, "http://127.0.0.1:1", tt.stories).ParseWebhook(r, body)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseWebhookRejects(t *testing.T) {
	t.Parallel()
	m := newMeta(t, "http://127.0.0.1:1", true)
	r, body := signedRequest(t, "whatsapp_text.json")
	r.Header.Set(meta.SignatureHeader, meta.Sign("another-secret", body))
	if _, err := m.ParseWebhook(r, body); !errors.Is(err, adapters.ErrBadSignature) {
		t.Errorf("wrong secret: %v", err)
	}
	r.Header.Set(meta.SignatureHeader, "sha1="+url.QueryEscape("x"))
	if _, err := m.ParseWebhook(r, body); !errors.Is(err, adapters.ErrBadSignature) {
		t.Errorf("sha1 header: %v", err)
	}
	junk := []byte(`{"object":`)
	r.Header.Set(meta.SignatureHeader, meta.Sign(appSecret, junk))
	if _, err := m.ParseWebhook(r, junk); !errors.Is(err, adapters.ErrMalformed) {
		t.Errorf("junk: %v", err)
	}
	other := []byte(`{"object":"user","entry":[]}`)
	r.Header.Set(meta.SignatureHeader, meta.Sign(appSecret, other))
	if _, err := m.ParseWebhook(r, other); !errors.Is(err, adapters.ErrMalformed) {
		t.Errorf("unknown object: %v", err)
	}
}

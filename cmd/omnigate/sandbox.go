package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/adapters/sandbox"
	"github.com/omnigate/omnigate/config"
	"github.com/omnigate/omnigate/events"
)

// sandboxCarriers fills in every provider block the configuration leaves out with a
// built-in carrier mounted on omnigate's own listener under /sandbox/, and points the
// real adapter at it with generated credentials. Sends therefore take the real adapter
// path, and receipts and replies come back through the real webhook paths, signed.
// It returns the carriers it mounted, for the console to act as their customers.
func sandboxCarriers(cfg *config.Config, mux *http.ServeMux, base string, poster *sandbox.Poster, log *slog.Logger) (*sandboxSet, error) {
	set := &sandboxSet{open: map[string]*sandbox.OpenIntegration{}}
	p := &cfg.Providers
	queues := cfg.DomainQueues()
	addrs := func(ch omnigate.Channel) []string {
		var out []string
		for _, q := range queues {
			if a := q.Address(ch); a != "" {
				out = append(out, a)
			}
		}
		return out
	}
	uses := func(chs ...omnigate.Channel) bool {
		for _, ch := range chs {
			if len(addrs(ch)) > 0 {
				return true
			}
		}
		return false
	}
	// Stand in only for providers some queue needs.
	if p.Twilio == nil && uses(omnigate.SMS, omnigate.WhatsApp) {
		p.Twilio = &config.Twilio{AccountSID: "ACsandbox00000000000000000000000000", AuthToken: "sandboxtwiliotoken0000000000000000",
			BaseURL: base + "/sandbox/twilio"}
		h := sandbox.NewTwilio(sandbox.TwilioConfig{AccountSID: p.Twilio.AccountSID, AuthToken: p.Twilio.AuthToken,
			InboundURL: cfg.PublicURL + "/webhooks/twilio", Poster: poster, BaseURL: p.Twilio.BaseURL})
		mux.Handle("/sandbox/twilio/", http.StripPrefix("/sandbox/twilio", h))
		set.twilio = h
	}
	if p.Meta == nil && uses(omnigate.Messenger, omnigate.Instagram) {
		m := &config.Meta{AppSecret: "sandbox-meta-secret", VerifyToken: "sandbox-verify", WhatsAppToken: "sandbox-wa-token",
			PageTokens: map[string]string{}, WhatsAppPhoneNumberIDs: map[string]string{},
			GraphURL: base + "/sandbox/meta", APIVersion: "v23.0"}
		ids := map[string]string{}
		m.WhatsAppBusinessAccountIDs = map[string]string{}
		for i, a := range addrs(omnigate.WhatsApp) {
			id := fmt.Sprintf("10%010d", i+1)
			m.WhatsAppPhoneNumberIDs[a], ids[id] = id, a
			// One sandbox business account per number; every one serves the
			// sandbox's template catalogue.
			m.WhatsAppBusinessAccountIDs[a] = fmt.Sprintf("20%010d", i+1)
		}
		for _, a := range append(addrs(omnigate.Messenger), addrs(omnigate.Instagram)...) {
			m.PageTokens[a] = "sandbox-page-token"
		}
		h, err := sandbox.NewMeta(sandbox.MetaConfig{AppSecret: m.AppSecret, WebhookURL: cfg.PublicURL + "/webhooks/meta",
			PhoneNumberIDs: ids, InstagramIDs: addrs(omnigate.Instagram), Poster: poster,
			BaseURL: m.GraphURL, WhatsAppToken: m.WhatsAppToken})
		if err != nil {
			return nil, err
		}
		mux.Handle("/sandbox/meta/", http.StripPrefix("/sandbox/meta", h))
		p.Meta = m
		set.meta = h
	}
	if p.X == nil && uses(omnigate.X) {
		x := &config.X{ConsumerSecret: "sandbox-x-secret", BearerTokens: map[string]string{}, BaseURL: base + "/sandbox/x"}
		tokens := map[string]string{}
		for _, a := range addrs(omnigate.X) {
			x.BearerTokens[a] = "sandbox-x-token-" + a
			tokens["sandbox-x-token-"+a] = a
		}
		h, err := sandbox.NewX(sandbox.XConfig{ConsumerSecret: x.ConsumerSecret, WebhookURL: cfg.PublicURL + "/webhooks/x",
			Tokens: tokens, Poster: poster, BaseURL: x.BaseURL})
		if err != nil {
			return nil, err
		}
		mux.Handle("/sandbox/x/", http.StripPrefix("/sandbox/x", h))
		p.X = x
		set.x = h
	}
	if p.Open == nil && uses(omnigate.Open) {
		o := &config.Open{Integrations: map[string]config.OpenIntegration{}}
		for _, a := range addrs(omnigate.Open) {
			secret := "sandbox-open-secret-" + a
			o.Integrations[a] = config.OpenIntegration{OutboundURL: base + "/sandbox/open/" + a, Secret: secret}
			h := sandbox.NewOpen(sandbox.OpenConfig{Integration: a, Secret: secret,
				WebhookURL: cfg.PublicURL + "/webhooks/open/" + a, Poster: poster})
			mux.Handle("/sandbox/open/"+a, h)
			set.open[a] = h
		}
		p.Open = o
	}
	log.Info("sandbox carriers enabled for providers missing from the configuration", "base", base+"/sandbox/")
	return set, nil
}

// sandboxSet is the sandbox carriers one daemon mounted; nil for a carrier whose
// provider block the configuration has.
type sandboxSet struct {
	twilio *sandbox.Twilio
	meta   *sandbox.Meta
	x      *sandbox.X
	open   map[string]*sandbox.OpenIntegration // by integration id
}

// eventSink is the sandbox platform: it verifies and keeps the last events omnigate
// pushed, so a newcomer can watch them at GET /sandbox/events.
type eventSink struct {
	secret []byte
	mu     sync.Mutex
	events []json.RawMessage
	subs   map[chan json.RawMessage]struct{}
}

// subscribe returns the events kept so far and a channel of those that follow. A
// subscriber that falls 256 events behind has its channel closed (it catches up by
// subscribing again); cancel ends the subscription.
func (s *eventSink) subscribe() (past []json.RawMessage, next <-chan json.RawMessage, cancel func()) {
	ch := make(chan json.RawMessage, 256)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.subs == nil {
		s.subs = map[chan json.RawMessage]struct{}{}
	}
	s.subs[ch] = struct{}{}
	return append([]json.RawMessage{}, s.events...), ch, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, ok := s.subs[ch]; ok {
			delete(s.subs, ch)
			close(ch)
		}
	}
}

// keep stores one event and hands it to the subscribers. s.mu is held.
func (s *eventSink) keep(ev json.RawMessage) {
	s.events = append(s.events, ev)
	if len(s.events) > 500 {
		s.events = s.events[len(s.events)-500:]
	}
	for ch := range s.subs {
		select {
		case ch <- ev:
		default:
			delete(s.subs, ch)
			close(ch)
		}
	}
}

func (s *eventSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet {
		s.mu.Lock()
		out := append([]json.RawMessage{}, s.events...)
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"events": out})
		return
	}
	// A batch (events.batch above 1) is at most about 1 MiB of events, plus one
	// event that may be larger on its own.
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 4<<20))
	if err != nil {
		http.Error(w, "bad event", http.StatusBadRequest)
		return
	}
	if events.Verify(s.secret, body, r.Header.Get(events.SignatureHeader), time.Now(), 0) != nil {
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	evs, err := events.Split(body)
	if err != nil {
		http.Error(w, "bad event", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	for _, ev := range evs {
		s.keep(ev)
	}
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

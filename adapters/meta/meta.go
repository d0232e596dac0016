// Package meta is the adapter for Meta's messaging products: Messenger and Instagram
// through the Graph Send API, and WhatsApp through the Cloud API. One app secret signs
// every webhook, so one adapter serves all three channels.
//
// Send errors carry Meta's code as "code", or "code/subcode" whenever Graph reports an
// error_subcode (for example "131047", "10/2018278", "100/33"), so that the subcode that
// tells apart Meta's broad codes survives on the message. A response without a Graph
// error body carries "http_<status>".
package meta

import (
	"crypto/subtle"
	"errors"
	"github.com/omnigate/omnigate/adapters/carrierhttp"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/omnigate/omnigate/adapters"
)

// Config is what the Meta adapter needs. Tokens are secrets; nothing else is.
type Config struct {
	// AppID names the Meta app in Account (not a secret); "meta" when empty.
	AppID       string
	AppSecret   string // signs webhooks
	VerifyToken string // answers the GET subscription check
	// PageTokens maps a Facebook page id or an Instagram account id to its page token.
	PageTokens map[string]string
	// WhatsAppToken is the system-user token for the Cloud API.
	WhatsAppToken string
	// WhatsAppPhoneNumberIDs maps our E.164 number to its Cloud API phone-number id.
	WhatsAppPhoneNumberIDs map[string]string
	// WhatsAppBusinessAccountIDs maps our E.164 number to the id of the WhatsApp
	// Business Account that owns it, whose message templates it may send (Templates).
	WhatsAppBusinessAccountIDs map[string]string
	GraphURL                   string // https://graph.facebook.com when empty
	APIVersion                 string // v23.0 when empty
	HTTPClient                 *http.Client
	// StoryMentions, when set, is asked for every inbound Instagram story mention:
	// false drops it here. nil passes every story mention on, for omnigate's policy
	// to decide per queue (messaging), so that a queue's override takes effect.
	StoryMentions func() bool
	// Now is the clock for Retry-After dates; time.Now when nil.
	Now func() time.Time
}

// Meta sends through the Graph API and reads Meta's webhooks. It is safe for concurrent use.
type Meta struct {
	cfg     Config
	graph   string // GraphURL + "/" + APIVersion, no trailing slash
	http    *retryablehttp.Client
	byPNID  map[string]string // phone-number id -> our E.164
	account string
}

var (
	_ adapters.Adapter      = (*Meta)(nil)
	_ adapters.Challenger   = (*Meta)(nil)
	_ adapters.Acknowledger = (*Meta)(nil)
	_ adapters.Typer        = (*Meta)(nil)
)

// New checks cfg and returns the adapter.
func New(cfg Config) (*Meta, error) {
	var errs []error
	if cfg.AppSecret == "" {
		errs = append(errs, errors.New("meta: app_secret is required"))
	}
	if cfg.VerifyToken == "" {
		errs = append(errs, errors.New("meta: verify_token is required"))
	}
	if len(cfg.WhatsAppPhoneNumberIDs) > 0 && cfg.WhatsAppToken == "" {
		errs = append(errs, errors.New("meta: whatsapp_token is required with whatsapp_phone_number_ids"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.GraphURL == "" {
		cfg.GraphURL = "https://graph.facebook.com"
	}
	if cfg.APIVersion == "" {
		cfg.APIVersion = "v23.0"
	}
	if cfg.AppID == "" {
		cfg.AppID = "meta"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m := &Meta{
		cfg:     cfg,
		graph:   strings.TrimRight(cfg.GraphURL, "/") + "/" + strings.Trim(cfg.APIVersion, "/"),
		http:    carrierhttp.NewClient(cfg.HTTPClient, cfg.Now),
		byPNID:  make(map[string]string, len(cfg.WhatsAppPhoneNumberIDs)),
		account: "meta:" + cfg.AppID,
	}
	for number, id := range cfg.WhatsAppPhoneNumberIDs {
		m.byPNID[id] = number
	}
	return m, nil
}

// Provider returns "meta".
func (m *Meta) Provider() string { return "meta" }

// Account returns "meta:" and the app id: one breaker for the app's Graph traffic.
func (m *Meta) Account() string { return m.account }

// Challenge answers Meta's subscription check: 200 with hub.challenge as text when
// hub.mode is subscribe and hub.verify_token matches, else 403. Meta's challenge is a
// number; anything else (up to 64 digits are answered) is refused with 400, so the
// endpoint never reflects text an outsider chose.
func (m *Meta) Challenge(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	token := q.Get("hub.verify_token")
	if q.Get("hub.mode") != "subscribe" ||
		subtle.ConstantTimeCompare([]byte(token), []byte(m.cfg.VerifyToken)) != 1 {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	if !numeric(q.Get("hub.challenge"), 64) {
		http.Error(w, "hub.challenge must be a number", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, q.Get("hub.challenge"))
}

// Acknowledge answers 200 "EVENT_RECEIVED", as Meta's examples do.
func (m *Meta) Acknowledge(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, "EVENT_RECEIVED")
}

// numeric reports whether s is 1 to max ASCII digits.
func numeric(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

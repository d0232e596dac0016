package sandbox

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"
)

// OpenConfig configures a sandbox open-messaging integration.
type OpenConfig struct {
	// Integration is the integration id it plays (a queue's "open" address).
	Integration string
	// Secret signs both directions, as omnigate's open provider configuration has it.
	Secret string
	// WebhookURL is omnigate's /webhooks/open/{integration} URL receipts and replies go to.
	WebhookURL string
	// Poster posts the webhooks; nil means a private one that nobody can wait for.
	Poster *Poster
}

// OpenIntegration is a fake open-messaging integration. As an http.Handler it is the
// integration's outbound URL: it accepts signed normalized messages from omnigate, answers
// 200 and then posts a signed Delivered receipt and, when the text asks a question, a
// signed inbound reply from the contact. Typing events are accepted and ignored.
type OpenIntegration struct {
	cfg OpenConfig
}

// NewOpen returns the sandbox integration for cfg.
func NewOpen(cfg OpenConfig) *OpenIntegration {
	if cfg.Poster == nil {
		cfg.Poster = &Poster{}
	}
	return &OpenIntegration{cfg: cfg}
}

// The sandbox keeps its own copy of the wire format rather than importing the adapter,
// so each checks the other.
type openMessage struct {
	ID        string      `json:"id,omitempty"`
	Channel   openChannel `json:"channel"`
	Type      string      `json:"type"`
	Text      string      `json:"text,omitempty"`
	Status    string      `json:"status,omitempty"`
	Events    []openEvent `json:"events,omitempty"`
	Direction string      `json:"direction,omitempty"`
}

type openEvent struct {
	EventType string      `json:"eventType"`
	Typing    *openTyping `json:"typing,omitempty"`
}

type openTyping struct {
	Type string `json:"type"`
}

type openChannel struct {
	Platform  string     `json:"platform,omitempty"`
	Type      string     `json:"type,omitempty"`
	MessageID string     `json:"messageId,omitempty"`
	To        *openParty `json:"to,omitempty"`
	From      *openParty `json:"from,omitempty"`
	Time      string     `json:"time,omitempty"`
}

type openParty struct {
	ID       string `json:"id"`
	IDType   string `json:"idType,omitempty"`
	Nickname string `json:"nickname,omitempty"`
}

const openMaxBody = 1 << 20

// ServeHTTP accepts one outbound post from omnigate.
func (o *OpenIntegration) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		openError(w, http.StatusMethodNotAllowed, "method.not.allowed", "POST only")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, openMaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			openError(w, http.StatusRequestEntityTooLarge, "payload.too.large", "body over 1 MiB")
			return
		}
		openError(w, http.StatusBadRequest, "bad.request", "unreadable body")
		return
	}
	if !openVerify(o.cfg.Secret, r.Header.Get("X-Hub-Signature-256"), body) {
		openError(w, http.StatusUnauthorized, "bad.signature", "signature mismatch")
		return
	}
	var m openMessage
	if err := json.Unmarshal(body, &m); err != nil {
		openError(w, http.StatusBadRequest, "bad.request", "not a normalized message")
		return
	}
	if m.Channel.From == nil || m.Channel.From.ID != o.cfg.Integration {
		openError(w, http.StatusBadRequest, "unknown.integration", "channel.from.id is not this integration")
		return
	}
	if m.Channel.To == nil || m.Channel.To.ID == "" {
		openError(w, http.StatusBadRequest, "invalid.recipient", "channel.to.id missing")
		return
	}
	switch m.Type {
	case "Event":
		w.WriteHeader(http.StatusOK)
		return
	case "Text":
	default:
		openError(w, http.StatusBadRequest, "unsupported.type", "type must be Text or Event")
		return
	}
	id := m.Channel.MessageID
	if id == "" {
		id = m.ID
	}
	if id == "" {
		openError(w, http.StatusBadRequest, "bad.request", "channel.messageId missing")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]string{"id": id})

	contact := m.Channel.To.ID
	o.post(openMessage{
		Channel: openChannel{
			Platform: "Open", Type: "Private", MessageID: id,
			To: &openParty{ID: contact}, From: &openParty{ID: o.cfg.Integration}, Time: openNow(),
		},
		Type:      "Receipt",
		Status:    "Delivered",
		Direction: "Outbound",
	})
	if WantsReply(m.Text) {
		o.post(openMessage{
			Channel: openChannel{
				Platform: "Open", Type: "Private", MessageID: "sandbox-" + openRandomID(),
				To:   &openParty{ID: o.cfg.Integration},
				From: &openParty{ID: contact, IDType: "Opaque", Nickname: "Sandbox Customer"},
				Time: openNow(),
			},
			Type:      "Text",
			Text:      ReplyText(m.Text),
			Direction: "Inbound",
		})
	}
}

func (o *OpenIntegration) post(m openMessage) {
	body, err := json.Marshal(m)
	if err != nil {
		return // plain structs of strings always encode
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("X-Hub-Signature-256", openSign(o.cfg.Secret, body))
	o.cfg.Poster.Post(o.cfg.WebhookURL, h, body)
}

func openSign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func openVerify(secret, header string, body []byte) bool {
	enc, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return false
	}
	got, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

// openRandomID names a reply uniquely across restarts, so omnigate's dedupe never
// mistakes a new reply for one it stored before.
func openRandomID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func openNow() string { return time.Now().UTC().Format("2006-01-02T15:04:05.000Z07:00") }

func openError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"code": code, "message": msg, "status": status})
}

package sandbox

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/omnigate/omnigate/adapters/signature"
)

// MetaConfig configures the sandbox Graph API.
type MetaConfig struct {
	// AppSecret signs the webhooks, as the Meta app's secret does.
	AppSecret string
	// WebhookURL is omnigate's Meta webhook, e.g. http://127.0.0.1:8080/webhooks/meta.
	WebhookURL string
	// PhoneNumberIDs maps each WhatsApp Cloud phone-number id to its E.164 number; a
	// send to any other id is a Messenger or Instagram send.
	PhoneNumberIDs map[string]string
	// InstagramIDs are the account ids whose webhooks are Instagram's (object
	// "instagram"); every other sender id is a Messenger page.
	InstagramIDs []string
	Poster       *Poster
	// BaseURL is where omnigate reaches this sandbox (its graph_url): the prefix of
	// media download and CDN URLs.
	BaseURL string
	// WhatsAppToken, when set, is the only token media lookups and downloads accept.
	WhatsAppToken string
	// Now stamps messages and receipts; time.Now when nil.
	Now func() time.Time
}

// Meta is a local Graph API for Messenger, Instagram and WhatsApp Cloud sends. Mount it
// with http.StripPrefix and point the Meta adapter's GraphURL at the prefix. It accepts
// POST /{version}/{id}/messages with any Bearer token, answers as Graph does, then
// posts signed webhooks: a delivery (Messenger, Instagram) or the statuses sent and
// delivered (WhatsApp) for the accepted message, and, when WantsReply, the customer's
// answer. Typing requests (sender_action) are acknowledged and post nothing. GET
// /{version}/{user-id}?fields=... serves the users' profiles (User Profile API).
type Meta struct {
	cfg MetaConfig
	mux *http.ServeMux
	seq atomic.Uint64
	// idBase keeps ids unique across restarts, so omnigate's dedupe of carrier ids never
	// mistakes a new sandbox message for one it stored before.
	idBase uint64
}

// NewMeta checks cfg and returns the sandbox Graph API.
func NewMeta(cfg MetaConfig) (*Meta, error) {
	var errs []error
	if cfg.AppSecret == "" {
		errs = append(errs, errors.New("sandbox meta: app secret is required"))
	}
	if cfg.WebhookURL == "" {
		errs = append(errs, errors.New("sandbox meta: webhook url is required"))
	}
	if cfg.Poster == nil {
		errs = append(errs, errors.New("sandbox meta: poster is required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m := &Meta{cfg: cfg, mux: http.NewServeMux(), idBase: uint64(time.Now().UnixNano())}
	m.mux.HandleFunc("POST /{version}/{id}/messages", m.messages)
	m.mux.HandleFunc("GET /{version}/{id}/message_templates", m.messageTemplates)
	m.mux.HandleFunc("GET /{version}/{id}", m.graphObject)
	m.mux.HandleFunc("GET /whatsapp-media/{id}", m.mediaDownload)
	m.mux.HandleFunc("GET /cdn/{name}", func(w http.ResponseWriter, _ *http.Request) { servePhoto(w) })
	return m, nil
}

// Sandbox users' profiles: every Messenger user is "Sandbox Customer" (first and last
// name), every Instagram user has the name "Sandbox Customer" and a username.
const (
	sandboxFirstName = "Sandbox"
	sandboxLastName  = "Customer"
	sandboxUsername  = "sandbox.customer"
)

// profile answers the User Profile API: GET /{version}/{user-id}?fields=..., with the
// fields asked for among first_name, last_name (Messenger), name and username
// (Instagram), and the id.
func (m *Meta) profile(w http.ResponseWriter, r *http.Request) {
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); !ok || tok == "" {
		graphFail(w, http.StatusUnauthorized, 190, "An access token is required to request this resource.")
		return
	}
	values := map[string]string{"first_name": sandboxFirstName, "last_name": sandboxLastName,
		"name": sandboxFirstName + " " + sandboxLastName, "username": sandboxUsername}
	out := map[string]string{"id": r.PathValue("id")}
	for _, f := range strings.Split(r.URL.Query().Get("fields"), ",") {
		v, ok := values[strings.TrimSpace(f)]
		if !ok && strings.TrimSpace(f) != "" && f != "id" {
			graphFail(w, http.StatusBadRequest, 100, "(#100) Tried accessing nonexisting field ("+f+")")
			return
		}
		if ok {
			out[strings.TrimSpace(f)] = v
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// graphObject answers GET /{version}/{id}: a user's profile when fields are asked for
// (the User Profile API), else a WhatsApp media object.
func (m *Meta) graphObject(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Has("fields") {
		m.profile(w, r)
		return
	}
	m.mediaURL(w, r)
}

// ServeHTTP serves the Graph paths.
func (m *Meta) ServeHTTP(w http.ResponseWriter, r *http.Request) { m.mux.ServeHTTP(w, r) }

func (m *Meta) nextID() string { return strconv.FormatUint(m.idBase+m.seq.Add(1), 36) }

// graphFail answers with Graph's error envelope.
func graphFail(w http.ResponseWriter, status, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"message": msg, "type": "OAuthException", "code": code, "fbtrace_id": "SandboxTrace",
	}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (m *Meta) messages(w http.ResponseWriter, r *http.Request) {
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); !ok || tok == "" {
		graphFail(w, http.StatusUnauthorized, 190, "An access token is required to request this resource.")
		return
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		graphFail(w, http.StatusBadRequest, 100, "Invalid parameter")
		return
	}
	id := r.PathValue("id")
	if number, ok := m.cfg.PhoneNumberIDs[id]; ok {
		m.whatsApp(w, id, number, raw)
		return
	}
	m.page(w, id, raw)
}

type sandboxPageSend struct {
	Recipient struct {
		ID string `json:"id"`
	} `json:"recipient"`
	MessagingType string `json:"messaging_type"`
	Tag           string `json:"tag"`
	SenderAction  string `json:"sender_action"`
	Message       *struct {
		Text       string          `json:"text"`
		Attachment json.RawMessage `json:"attachment"`
	} `json:"message"`
}

func (m *Meta) page(w http.ResponseWriter, pageID string, raw []byte) {
	var in sandboxPageSend
	if err := json.Unmarshal(raw, &in); err != nil || in.Recipient.ID == "" {
		graphFail(w, http.StatusBadRequest, 100, "(#100) The parameter recipient is required")
		return
	}
	if in.SenderAction != "" {
		writeJSON(w, http.StatusOK, map[string]string{"recipient_id": in.Recipient.ID})
		return
	}
	if in.Message == nil || (in.Message.Text == "" && len(in.Message.Attachment) == 0) {
		graphFail(w, http.StatusBadRequest, 100, "(#100) The parameter message is required")
		return
	}
	switch in.MessagingType {
	case "RESPONSE", "UPDATE":
	case "MESSAGE_TAG":
		if in.Tag == "" {
			graphFail(w, http.StatusBadRequest, 100, "(#100) Tag is required for MESSAGE_TAG messaging type")
			return
		}
	default:
		graphFail(w, http.StatusBadRequest, 100, "(#100) Param messaging_type must be one of {RESPONSE, UPDATE, MESSAGE_TAG}")
		return
	}
	mid := "m_sandbox" + m.nextID()
	writeJSON(w, http.StatusOK, map[string]string{"recipient_id": in.Recipient.ID, "message_id": mid})

	object := "page"
	if slices.Contains(m.cfg.InstagramIDs, pageID) {
		object = "instagram"
	}
	now := m.cfg.Now().UnixMilli()
	m.post(map[string]any{"object": object, "entry": []any{map[string]any{
		"id": pageID, "time": now,
		"messaging": []any{map[string]any{
			"sender": map[string]string{"id": in.Recipient.ID}, "recipient": map[string]string{"id": pageID},
			"timestamp": now, "delivery": map[string]any{"mids": []string{mid}, "watermark": now},
		}},
	}}})
	if WantsReply(in.Message.Text) {
		m.post(map[string]any{"object": object, "entry": []any{map[string]any{
			"id": pageID, "time": now + 1,
			"messaging": []any{map[string]any{
				"sender": map[string]string{"id": in.Recipient.ID}, "recipient": map[string]string{"id": pageID},
				"timestamp": now + 1,
				"message":   map[string]string{"mid": "m_sandbox" + m.nextID(), "text": ReplyText(in.Message.Text)},
			}},
		}}})
	}
}

type sandboxWASend struct {
	MessagingProduct string `json:"messaging_product"`
	To               string `json:"to"`
	Recipient        string `json:"recipient"` // a business-scoped user id, when there is no to
	Type             string `json:"type"`
	Text             *struct {
		Body string `json:"body"`
	} `json:"text"`
	Template *struct {
		Name string `json:"name"`
	} `json:"template"`
}

func (m *Meta) whatsApp(w http.ResponseWriter, pnid, number string, raw []byte) {
	var in sandboxWASend
	err := json.Unmarshal(raw, &in)
	byUserID := err == nil && in.To == "" && in.Recipient != ""
	if byUserID {
		in.To = in.Recipient
	}
	if err != nil || in.MessagingProduct != "whatsapp" || in.To == "" || in.Type == "" {
		graphFail(w, http.StatusBadRequest, 100, "(#100) Invalid parameter")
		return
	}
	switch {
	case in.Type == "text" && (in.Text == nil || in.Text.Body == ""):
		graphFail(w, http.StatusBadRequest, 100, "(#100) The parameter text['body'] is required.")
		return
	case in.Type == "template" && (in.Template == nil || in.Template.Name == ""):
		graphFail(w, http.StatusBadRequest, 100, "(#100) The parameter template['name'] is required.")
		return
	}
	wamid := "wamid.sandbox" + m.nextID()
	contact := map[string]string{"input": in.To, "wa_id": in.To}
	if byUserID {
		contact = map[string]string{"input": in.To, "user_id": in.To}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"messaging_product": "whatsapp",
		"contacts":          []any{contact},
		"messages":          []any{map[string]string{"id": wamid}},
	})

	now := m.cfg.Now().Unix()
	metadata := map[string]string{"display_phone_number": strings.TrimPrefix(number, "+"), "phone_number_id": pnid}
	change := func(value map[string]any) map[string]any {
		value["messaging_product"] = "whatsapp"
		value["metadata"] = metadata
		return map[string]any{"object": "whatsapp_business_account", "entry": []any{map[string]any{
			"id": "sandbox-waba", "changes": []any{map[string]any{"field": "messages", "value": value}},
		}}}
	}
	status := func(s string) map[string]string {
		st := map[string]string{"id": wamid, "status": s, "timestamp": strconv.FormatInt(now, 10), "recipient_id": in.To}
		if byUserID {
			delete(st, "recipient_id")
			st["recipient_user_id"] = in.To
		}
		return st
	}
	// Both statuses ride in one payload so they reach omnigate in order.
	m.post(change(map[string]any{"statuses": []any{status("sent"), status("delivered")}}))
	if in.Text != nil && WantsReply(in.Text.Body) {
		sender := map[string]any{"profile": map[string]string{"name": "Sandbox Customer"}, "wa_id": in.To}
		reply := map[string]any{"from": in.To, "id": "wamid.sandbox" + m.nextID(), "timestamp": strconv.FormatInt(now+1, 10),
			"type": "text", "text": map[string]string{"body": ReplyText(in.Text.Body)}}
		if byUserID {
			// A user known by a business-scoped user id writes without a phone number.
			sender = map[string]any{"profile": map[string]string{"name": "Sandbox Customer", "username": "sandbox.customer"}, "user_id": in.To}
			delete(reply, "from")
			reply["from_user_id"] = in.To
		}
		m.post(change(map[string]any{
			"contacts": []any{sender},
			"messages": []any{reply},
		}))
	}
}

// post signs payload as Meta does (lowercase hex HMAC-SHA256 under the app secret).
func (m *Meta) post(payload any) {
	body, err := json.Marshal(payload)
	if err != nil {
		return
	}
	m.cfg.Poster.Post(m.cfg.WebhookURL, http.Header{
		"Content-Type":        {"application/json"},
		"X-Hub-Signature-256": {signature.SHA256(m.cfg.AppSecret, body, signature.Hex)},
	}, body)
}

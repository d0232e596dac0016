package sandbox

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/omnigate/omnigate/adapters/signature"
)

// XConfig configures the sandbox X API.
type XConfig struct {
	// ConsumerSecret signs the webhooks, as the X app's consumer secret does.
	ConsumerSecret string
	// WebhookURL is omnigate's X webhook, e.g. http://127.0.0.1:8080/webhooks/x.
	WebhookURL string
	// Tokens maps each user token the X adapter may present to the user id it belongs
	// to: X knows the sender from the token alone, and so must the sandbox to name
	// for_user_id in its webhooks.
	Tokens map[string]string
	Poster *Poster
	// BaseURL is where omnigate reaches this sandbox (its X base_url): the prefix of
	// DM media URLs.
	BaseURL string
	// Now stamps messages; time.Now when nil.
	Now func() time.Time
}

// X is a local X API for direct messages. Mount it with http.StripPrefix and point the
// X adapter's BaseURL at the prefix. It accepts
// POST /2/dm_conversations/with/{participant_id}/messages from a known token, answers
// as X does (201 with dm_event_id), and, when WantsReply, posts the customer's answer
// as a signed Account Activity DM. It posts no receipts: Account Activity has no
// delivery receipts, and it does not echo our own DM back either, though X does.
type X struct {
	cfg    XConfig
	mux    *http.ServeMux
	seq    atomic.Uint64
	idBase uint64
}

// NewX checks cfg and returns the sandbox X API.
func NewX(cfg XConfig) (*X, error) {
	var errs []error
	if cfg.ConsumerSecret == "" {
		errs = append(errs, errors.New("sandbox x: consumer secret is required"))
	}
	if cfg.WebhookURL == "" {
		errs = append(errs, errors.New("sandbox x: webhook url is required"))
	}
	if cfg.Poster == nil {
		errs = append(errs, errors.New("sandbox x: poster is required"))
	}
	if len(cfg.Tokens) == 0 {
		errs = append(errs, errors.New("sandbox x: at least one token is required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	// X ids are decimal snowflakes; a nanosecond base keeps them numeric and unique
	// across restarts.
	x := &X{cfg: cfg, mux: http.NewServeMux(), idBase: uint64(time.Now().UnixNano())}
	x.mux.HandleFunc("POST /2/dm_conversations/with/{participant_id}/messages", x.send)
	x.mux.HandleFunc("GET /1.1/ton/data/dm/{a}/{b}/{name}", x.xMedia)
	return x, nil
}

// ServeHTTP serves the X API paths.
func (x *X) ServeHTTP(w http.ResponseWriter, r *http.Request) { x.mux.ServeHTTP(w, r) }

func (x *X) nextID() string { return strconv.FormatUint(x.idBase+x.seq.Add(1), 10) }

func xProblem(w http.ResponseWriter, status int, typ, title, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"type": typ, "title": title, "detail": detail, "status": status})
}

func allDigits(s string) bool {
	return s != "" && len(s) <= 19 && strings.Trim(s, "0123456789") == ""
}

func (x *X) send(w http.ResponseWriter, r *http.Request) {
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	us, ok := x.cfg.Tokens[tok]
	if !ok || tok == "" {
		xProblem(w, http.StatusUnauthorized, "about:blank", "Unauthorized", "Unauthorized")
		return
	}
	participant := r.PathValue("participant_id")
	var in struct {
		Text string `json:"text"`
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err == nil {
		err = json.Unmarshal(raw, &in)
	}
	switch {
	case !allDigits(participant):
		xProblem(w, http.StatusBadRequest, "https://api.x.com/2/problems/invalid-request", "Invalid Request",
			"The `participant_id` query parameter value ["+participant+"] does not match ^[0-9]{1,19}$")
		return
	case err != nil || in.Text == "":
		xProblem(w, http.StatusBadRequest, "https://api.x.com/2/problems/invalid-request", "Invalid Request",
			"One or more parameters to your request was invalid.")
		return
	}
	lo, hi := us, participant
	if len(lo) > len(hi) || (len(lo) == len(hi) && lo > hi) {
		lo, hi = hi, lo
	}
	writeJSON(w, http.StatusCreated, map[string]any{"data": map[string]string{
		"dm_conversation_id": lo + "-" + hi, "dm_event_id": x.nextID(),
	}})
	if !WantsReply(in.Text) {
		return
	}
	now := x.cfg.Now().UnixMilli()
	x.post(map[string]any{
		"for_user_id": us,
		"direct_message_events": []any{map[string]any{
			"type": "message_create", "id": x.nextID(), "created_timestamp": strconv.FormatInt(now, 10),
			"message_create": map[string]any{
				"target":       map[string]string{"recipient_id": us},
				"sender_id":    participant,
				"message_data": map[string]any{"text": ReplyText(in.Text)},
			},
		}},
		"users": map[string]any{
			participant: map[string]string{"id": participant, "name": "Sandbox Customer", "screen_name": "sandbox_customer"},
			us:          map[string]string{"id": us, "name": "Sandbox Queue", "screen_name": "sandbox_queue"},
		},
	})
}

// post signs payload as X does (base64 HMAC-SHA256 under the consumer secret).
func (x *X) post(payload any) {
	body, err := json.Marshal(payload)
	if err != nil {
		return
	}
	x.cfg.Poster.Post(x.cfg.WebhookURL, http.Header{
		"Content-Type":                 {"application/json"},
		"X-Twitter-Webhooks-Signature": {signature.SHA256(x.cfg.ConsumerSecret, body, signature.Base64)},
	}, body)
}

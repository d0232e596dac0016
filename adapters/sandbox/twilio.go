package sandbox

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/omnigate/omnigate/adapters/signature"
)

// TwilioConfig configures the sandbox Twilio.
type TwilioConfig struct {
	// AccountSID and AuthToken are the credentials sends must carry (Basic auth); the
	// token also signs the webhooks the sandbox posts.
	AccountSID string
	AuthToken  string
	// InboundURL is where customer replies are posted, omnigate's /webhooks/twilio as
	// its public URL names it. Empty: the customer never replies.
	InboundURL string
	// Poster posts the status callbacks and replies. Nil: nothing is posted.
	Poster *Poster
	// BaseURL is where omnigate reaches this sandbox (its Twilio base_url): the prefix
	// of the media URLs customers' pictures get.
	BaseURL string
}

// Twilio is a fake Twilio speaking the Messages API of 2010-04-01: it accepts
// POST /2010-04-01/Accounts/{sid}/Messages.json with Basic auth, answers 201 with a
// queued message, then posts signed status callbacks (sent, then delivered) to the
// message's StatusCallback and, when the text asks a question, a signed customer reply
// to InboundURL. Errors use Twilio's codes and JSON body. It is an http.Handler; mount it
// under any prefix with http.StripPrefix.
type Twilio struct {
	cfg TwilioConfig
	mux *http.ServeMux
	now func() time.Time

	mu   sync.Mutex
	sent []url.Values
}

var _ http.Handler = (*Twilio)(nil)

// NewTwilio returns the sandbox Twilio for cfg.
func NewTwilio(cfg TwilioConfig) *Twilio {
	t := &Twilio{cfg: cfg, mux: http.NewServeMux(), now: time.Now}
	t.mux.HandleFunc("POST /2010-04-01/Accounts/{sid}/Messages.json", t.createMessage)
	t.mux.HandleFunc("GET /v1/ContentAndApprovals", t.contentAndApprovals)
	t.mux.HandleFunc("GET /2010-04-01/Accounts/{sid}/Messages/{msid}/Media/{mid}", t.twilioMedia)
	t.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		twilioError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
	})
	return t
}

// ServeHTTP serves Twilio's API.
func (t *Twilio) ServeHTTP(w http.ResponseWriter, r *http.Request) { t.mux.ServeHTTP(w, r) }

// Sent returns the form of every message accepted so far, in order.
func (t *Twilio) Sent() []url.Values {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]url.Values, len(t.sent))
	for i, f := range t.sent {
		out[i] = twilioCloneForm(f)
	}
	return out
}

// twilioMessage is the Message resource as Twilio answers a create.
type twilioMessage struct {
	AccountSID          string            `json:"account_sid"`
	APIVersion          string            `json:"api_version"`
	Body                string            `json:"body"`
	DateCreated         string            `json:"date_created"`
	DateSent            *string           `json:"date_sent"`
	DateUpdated         string            `json:"date_updated"`
	Direction           string            `json:"direction"`
	ErrorCode           *int              `json:"error_code"`
	ErrorMessage        *string           `json:"error_message"`
	From                string            `json:"from"`
	MessagingServiceSID *string           `json:"messaging_service_sid"`
	NumMedia            string            `json:"num_media"`
	NumSegments         string            `json:"num_segments"`
	Price               *string           `json:"price"`
	PriceUnit           string            `json:"price_unit"`
	SID                 string            `json:"sid"`
	Status              string            `json:"status"`
	SubresourceURIs     map[string]string `json:"subresource_uris"`
	To                  string            `json:"to"`
	URI                 string            `json:"uri"`
}

// authorized checks the request's HTTP basic auth against the account, as Twilio does,
// and (with account) that the path's account SID is the caller's; it answers the
// refusal itself.
func (t *Twilio) authorized(w http.ResponseWriter, r *http.Request, account bool) bool {
	user, pass, ok := r.BasicAuth()
	if !ok || !twilioSecretEqual(user, t.cfg.AccountSID) || !twilioSecretEqual(pass, t.cfg.AuthToken) {
		twilioError(w, http.StatusUnauthorized, 20003, "Authenticate")
		return false
	}
	if account && r.PathValue("sid") != user {
		twilioError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
		return false
	}
	return true
}

func (t *Twilio) createMessage(w http.ResponseWriter, r *http.Request) {
	if !t.authorized(w, r, true) {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		twilioError(w, http.StatusBadRequest, 20001, "Request body is not a form")
		return
	}
	form := r.PostForm
	to, from, text := form.Get("To"), form.Get("From"), form.Get("Body")
	switch {
	case to == "":
		twilioError(w, http.StatusBadRequest, 21604, "A 'To' phone number is required.")
		return
	case from == "":
		twilioError(w, http.StatusBadRequest, 21603, "A 'From' phone number is required.")
		return
	case !twilioIsE164(strings.TrimPrefix(to, "whatsapp:")):
		twilioError(w, http.StatusBadRequest, 21211, "Invalid 'To' Phone Number: "+to)
		return
	case text == "" && len(form["MediaUrl"]) == 0 && form.Get("ContentSid") == "":
		twilioError(w, http.StatusBadRequest, 21602, "Message body is required.")
		return
	}
	if sid := form.Get("ContentSid"); text == "" && sid != "" {
		body, ok := renderContent(sid, form.Get("ContentVariables"))
		if !ok {
			twilioError(w, http.StatusBadRequest, 21655, "The ContentSid is Invalid")
			return
		}
		text = body
	}

	sid := newTwilioSID("SM")
	t.mu.Lock()
	t.sent = append(t.sent, twilioCloneForm(form))
	t.mu.Unlock()

	now := t.now().UTC().Format(time.RFC1123Z)
	uri := "/2010-04-01/Accounts/" + t.cfg.AccountSID + "/Messages/" + sid
	msg := twilioMessage{
		AccountSID: t.cfg.AccountSID, APIVersion: "2010-04-01", Body: text,
		DateCreated: now, DateUpdated: now, Direction: "outbound-api",
		From: from, To: to, NumMedia: strconv.Itoa(len(form["MediaUrl"])), NumSegments: "1",
		PriceUnit: "USD", SID: sid, Status: "queued",
		SubresourceURIs: map[string]string{"media": uri + "/Media.json"}, URI: uri + ".json",
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(msg)

	if cb := form.Get("StatusCallback"); cb != "" {
		for _, status := range []string{"sent", "delivered"} {
			t.post(cb, url.Values{
				"AccountSid": {t.cfg.AccountSID}, "ApiVersion": {"2010-04-01"},
				"MessageSid": {sid}, "SmsSid": {sid},
				"MessageStatus": {status}, "SmsStatus": {status},
				"From": {from}, "To": {to},
			})
		}
	}
	if t.cfg.InboundURL != "" && WantsReply(form.Get("Body")) {
		reply := newTwilioSID("SM")
		// The customer answers: the recipient becomes the sender, prefixes kept.
		in := url.Values{
			"AccountSid": {t.cfg.AccountSID}, "ApiVersion": {"2010-04-01"},
			"MessageSid": {reply}, "SmsMessageSid": {reply}, "SmsSid": {reply}, "SmsStatus": {"received"},
			"From": {to}, "To": {from}, "Body": {ReplyText(form.Get("Body"))},
			"NumMedia": {"0"}, "NumSegments": {"1"},
		}
		if number, ok := strings.CutPrefix(to, "whatsapp:"); ok {
			in.Set("ProfileName", "Sandbox Customer")
			in.Set("WaId", strings.TrimPrefix(number, "+"))
			in.Set("MessageType", "text")
		}
		t.post(t.cfg.InboundURL, in)
	}
}

// post sends form to target signed as Twilio signs webhooks.
func (t *Twilio) post(target string, form url.Values) {
	if t.cfg.Poster == nil {
		return
	}
	h := http.Header{}
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	h.Set("X-Twilio-Signature", signature.Twilio(t.cfg.AuthToken, target, form))
	t.cfg.Poster.Post(target, h, []byte(form.Encode()))
}

// twilioError answers with Twilio's error body.
func twilioError(w http.ResponseWriter, status, code int, message string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"code": code, "message": message, "status": status,
		"more_info": "https://www.twilio.com/docs/errors/" + strconv.Itoa(code),
	})
}

// newTwilioSID returns prefix and 32 random hex digits, the shape of Twilio's SIDs.
func newTwilioSID(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return prefix + hex.EncodeToString(b[:])
}

// twilioIsE164 reports whether s is "+" and 7 to 15 digits, the first not zero.
func twilioIsE164(s string) bool {
	digits, ok := strings.CutPrefix(s, "+")
	if !ok || len(digits) < 7 || len(digits) > 15 || digits[0] == '0' {
		return false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func twilioSecretEqual(got, want string) bool {
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

func twilioCloneForm(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

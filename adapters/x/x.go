// Package x is the adapter for X direct messages: sends through the X API v2
// dm_conversations endpoints with each account's user token, and reads Account Activity
// webhooks (direct_message_events, typing and read events) after their CRC handshake.
//
// Send errors carry a stable code: the last segment of an X problem type
// ("invalid-request", "resource-not-found", ...), else the numeric code of X's error
// object, else "http_<status>". Media-only sends are refused with "media_unsupported":
// X takes media only as ids uploaded beforehand through the media upload API with the
// sender's token, which this adapter does not do. A text with media goes out as the
// text followed by the media URLs, one a line, so the contact can still open them.
package x

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/omnigate/omnigate/adapters/carrierhttp"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/adapters"
	"github.com/omnigate/omnigate/adapters/signature"
)

// SignatureHeader carries the webhook signature: "sha256=" and the base64
// HMAC-SHA256 of the raw body under the consumer secret.
const SignatureHeader = "X-Twitter-Webhooks-Signature"

const maxResponseBytes = 1 << 20

// Config is what the X adapter needs. The secret and tokens are secrets.
type Config struct {
	// AppID names the X app in Account (not a secret); "x" when empty.
	AppID          string
	ConsumerSecret string            // signs webhooks and answers the CRC
	BearerTokens   map[string]string // our user id -> that user's OAuth 2.0 user token
	BaseURL        string            // https://api.x.com when empty
	HTTPClient     *http.Client
	// Now is the clock that turns x-rate-limit-reset into a wait; time.Now when nil.
	Now func() time.Time
}

// X sends direct messages and reads Account Activity webhooks. It is safe for
// concurrent use.
type X struct {
	cfg     Config
	base    string
	http    *retryablehttp.Client
	account string
}

var (
	_ adapters.Adapter    = (*X)(nil)
	_ adapters.Challenger = (*X)(nil)
)

// New checks cfg and returns the adapter.
func New(cfg Config) (*X, error) {
	if cfg.ConsumerSecret == "" {
		return nil, errors.New("x: consumer_secret is required")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = "https://api.x.com"
	}
	if cfg.AppID == "" {
		cfg.AppID = "x"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	x := &X{cfg: cfg, base: strings.TrimRight(cfg.BaseURL, "/"), account: "x:" + cfg.AppID}
	// X rate limits name their end in x-rate-limit-reset; read it as the wait so a 429
	// that resets far ahead goes to the outbox instead of being retried inline.
	x.http = carrierhttp.NewClient(cfg.HTTPClient, cfg.Now)
	x.http.CheckRetry = x.checkRetry(x.http.CheckRetry)
	return x, nil
}

func (x *X) checkRetry(next retryablehttp.CheckRetry) retryablehttp.CheckRetry {
	return func(ctx context.Context, resp *http.Response, err error) (bool, error) {
		if err == nil && resp != nil && resp.StatusCode == http.StatusTooManyRequests {
			if wait, ok := x.rateLimitWait(resp.Header); ok && wait > carrierhttp.InlineWaitMax {
				return false, ctx.Err()
			}
		}
		return next(ctx, resp, err)
	}
}

// Provider returns "x".
func (x *X) Provider() string { return "x" }

// Account returns "x:" and the app id.
func (x *X) Account() string { return x.account }

// Challenge answers X's CRC check: {"response_token":"sha256=<base64 HMAC>"} for the
// crc_token query parameter. X computes webhook signatures the same way, so answering
// any string would make this endpoint a signing oracle for forged webhook bodies: only a
// token shaped like X's (see CRCToken) is answered, anything else gets 400 and is never
// signed.
func (x *X) Challenge(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	token := q.Get("crc_token")
	if len(q["crc_token"]) != 1 || !CRCToken(token) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"error":{"code":"bad_crc_token","message":"crc_token is missing or not shaped like an X CRC token"}}`)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"response_token": Sign(x.cfg.ConsumerSecret, []byte(token))})
}

// MaxCRCToken is the longest crc_token answered. X's tokens are UUIDs or base64 strings
// well under this.
const MaxCRCToken = 128

// CRCToken reports whether token is shaped like the crc_token X sends: 1 to MaxCRCToken
// characters of letters, digits and "-_=+/." (a UUID or base64 text). Such a token can
// never be a JSON object, so its HMAC can never pass for a webhook body's signature.
func CRCToken(token string) bool {
	if token == "" || len(token) > MaxCRCToken {
		return false
	}
	for i := 0; i < len(token); i++ {
		c := token[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-', c == '_', c == '=', c == '+', c == '/', c == '.':
		default:
			return false
		}
	}
	return true
}

// Sign returns "sha256=" and the base64 HMAC-SHA256 of data: the CRC response token
// and the webhook signature alike.
func Sign(consumerSecret string, data []byte) string {
	return signature.SHA256(consumerSecret, data, signature.Base64)
}

// Verify reports, in constant time, whether header is the signature of body.
func Verify(consumerSecret, header string, body []byte) bool {
	return signature.VerifySHA256(consumerSecret, header, body, signature.Base64)
}

// Send posts m as a one-to-one DM from m.From to m.To. It returns
// *adapters.RetryableError (network, 5xx, 429 with the wait until x-rate-limit-reset),
// *adapters.PermanentError (other 4xx, or a message X cannot take), or the context's
// error when ctx ends first.
func (x *X) Send(ctx context.Context, o adapters.Outbound) (adapters.Receipt, error) {
	if o.Channel != omnigate.X {
		return adapters.Receipt{}, adapters.Permanent("unsupported_channel", fmt.Sprintf("x does not carry %q", o.Channel), nil)
	}
	token, ok := x.cfg.BearerTokens[o.From]
	if !ok || token == "" {
		return adapters.Receipt{}, adapters.Permanent("unknown_sender", "no user token for "+o.From, nil)
	}
	switch {
	case o.Template != nil:
		return adapters.Receipt{}, adapters.Permanent("unsupported_content", "x has no templates", nil)
	case o.Text == "" && len(o.Media) > 0:
		return adapters.Receipt{}, adapters.Permanent("media_unsupported", "x needs media uploaded beforehand", nil)
	case o.Text == "":
		return adapters.Receipt{}, adapters.Permanent("empty_message", "nothing to send", nil)
	case len(o.Media) > 0:
		// Keep the words and let the contact follow the links.
		var b strings.Builder
		b.WriteString(o.Text)
		for _, m := range o.Media {
			b.WriteString("\n" + m.URL)
		}
		o.Text = b.String()
	}
	raw, err := json.Marshal(map[string]string{"text": o.Text})
	if err != nil {
		return adapters.Receipt{}, fmt.Errorf("x: encode: %w", err)
	}
	endpoint := x.base + "/2/dm_conversations/with/" + url.PathEscape(o.To) + "/messages"
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodPost, endpoint, raw)
	if err != nil {
		return adapters.Receipt{}, adapters.Permanent("bad_request", "x: build request", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := x.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return adapters.Receipt{}, fmt.Errorf("x: send: %w", ctx.Err())
		}
		return adapters.Receipt{}, adapters.Retryable("", "x: send: "+err.Error(), 0, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		if ctx.Err() != nil {
			return adapters.Receipt{}, fmt.Errorf("x: read response: %w", ctx.Err())
		}
		return adapters.Receipt{}, adapters.Retryable("", "x: read response: "+err.Error(), 0, err)
	}
	var out sendResponse
	_ = json.Unmarshal(data, &out) // an error body that is not JSON still has a status
	if resp.StatusCode/100 == 2 {
		if out.Data.DMEventID != "" {
			return adapters.Receipt{ProviderMessageID: out.Data.DMEventID, Status: omnigate.StatusSent}, nil
		}
		code, msg := out.code(resp.StatusCode)
		if code == "http_"+strconv.Itoa(resp.StatusCode) {
			code, msg = "invalid_response", "x accepted the message without a dm_event_id"
		}
		return adapters.Receipt{}, adapters.Permanent(code, msg, nil)
	}
	return adapters.Receipt{}, x.classify(resp, out)
}

// problem is X's error object: an RFC 7807 problem (type, title, detail) or the older
// {code, message}.
type problem struct {
	Type    string `json:"type"`
	Title   string `json:"title"`
	Detail  string `json:"detail"`
	Status  int    `json:"status"`
	Code    int    `json:"code"`
	Message string `json:"message"`
}

type sendResponse struct {
	Data struct {
		DMConversationID string `json:"dm_conversation_id"`
		DMEventID        string `json:"dm_event_id"`
	} `json:"data"`
	Errors []problem `json:"errors"`
	problem
}

// code picks a stable code and a message from the answer, whichever shape it has.
func (s sendResponse) code(status int) (string, string) {
	for _, p := range append([]problem{s.problem}, s.Errors...) {
		msg := strings.TrimSpace(p.Title + ": " + p.Detail)
		if p.Message != "" {
			msg = p.Message
		}
		if t, ok := strings.CutPrefix(p.Type, "https://api.x.com/2/problems/"); ok && t != "" {
			return t, msg
		}
		if p.Code != 0 {
			return strconv.Itoa(p.Code), msg
		}
		if p.Title != "" || p.Message != "" {
			return "http_" + strconv.Itoa(status), msg
		}
	}
	return "http_" + strconv.Itoa(status), http.StatusText(status)
}

func (x *X) classify(resp *http.Response, out sendResponse) error {
	code, msg := out.code(resp.StatusCode)
	cause := fmt.Errorf("x: status %d", resp.StatusCode)
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		wait, _ := x.rateLimitWait(resp.Header)
		return adapters.Retryable(code, msg, wait, cause)
	case resp.StatusCode >= 500:
		wait, _ := carrierhttp.RetryAfter(resp.Header, x.cfg.Now())
		return adapters.Retryable(code, msg, wait, cause)
	}
	return adapters.Permanent(code, msg, cause)
}

// rateLimitWait is how long until the window in x-rate-limit-reset (epoch seconds)
// reopens, or the Retry-After when X sends one instead.
func (x *X) rateLimitWait(h http.Header) (time.Duration, bool) {
	if v := strings.TrimSpace(h.Get("x-rate-limit-reset")); v != "" {
		if sec, err := strconv.ParseInt(v, 10, 64); err == nil {
			return max(time.Unix(sec, 0).Sub(x.cfg.Now()), 0), true
		}
	}
	return carrierhttp.RetryAfter(h, x.cfg.Now())
}

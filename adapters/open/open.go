// Package open is the adapter for open-messaging integrations: any third-party messaging
// platform that speaks the normalized message format of Genesys Cloud Open Messaging.
// Each integration has an outbound URL omnigate posts messages and typing events to and a
// shared secret both sides sign their posts with (X-Hub-Signature-256: sha256=<base64
// HMAC-SHA256>). Integrations post inbound messages, receipts and typing events back to
// /webhooks/open/{integration}.
package open

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

// SignatureHeader carries "sha256=" + base64 HMAC-SHA256(secret, raw body) on every post
// in either direction.
const SignatureHeader = "X-Hub-Signature-256"

// Integration is one open-messaging integration: where its outbound messages go and the
// secret both sides sign with.
type Integration struct {
	OutboundURL string
	Secret      string
}

// Config configures the adapter.
type Config struct {
	// Integrations maps an integration id (a queue's "open" address) to its integration.
	Integrations map[string]Integration
	// HTTPClient makes the posts; nil means a pooled client with a 30s timeout.
	HTTPClient *http.Client
	// Now is the clock stamped into outbound payloads; nil means time.Now.
	Now func() time.Time
}

// Open sends to and reads webhooks from open-messaging integrations. It is safe for
// concurrent use.
type Open struct {
	integrations map[string]Integration
	client       *retryablehttp.Client
	now          func() time.Time
}

var (
	_ adapters.Adapter = (*Open)(nil)
	_ adapters.Typer   = (*Open)(nil)
)

// Inline retries are carrierhttp's (blips only; the outbox owns real retries).
const (
	maxRespBody    = 64 << 10
	defaultTimeout = 30 * time.Second
)

// New returns an adapter for cfg's integrations. It reports every configuration problem
// at once.
func New(cfg Config) (*Open, error) {
	var errs []error
	if len(cfg.Integrations) == 0 {
		errs = append(errs, errors.New("open: no integrations configured"))
	}
	integrations := make(map[string]Integration, len(cfg.Integrations))
	for id, in := range cfg.Integrations {
		if id == "" {
			errs = append(errs, errors.New("open: integration with an empty id"))
		}
		if u, err := url.Parse(in.OutboundURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("open: integrations.%s.outbound_url: want an absolute http(s) URL, got %q", id, in.OutboundURL))
		}
		if in.Secret == "" {
			errs = append(errs, fmt.Errorf("open: integrations.%s.secret: empty", id))
		}
		integrations[id] = in
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Transport: carrierhttp.Transport(), Timeout: defaultTimeout}
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	o := &Open{integrations: integrations, now: now}
	o.client = carrierhttp.NewClient(hc, now)
	return o, nil
}

// Provider returns "open".
func (o *Open) Provider() string { return "open" }

// Account returns "open": the integrations share one circuit breaker.
func (o *Open) Account() string { return "open" }

// Send posts m to the outbound URL of the integration m.From. A 2xx answer gives a
// receipt whose provider id is the id the integration returned, or else m.MessageID.
// Errors: *adapters.PermanentError for an unknown integration, a message open messaging
// cannot carry or a 4xx answer (Code is the body's "code" or the HTTP status);
// *adapters.RetryableError for 429 (with Retry-After), 408, 5xx, network errors and a
// done ctx (which also matches context.Canceled or context.DeadlineExceeded).
func (o *Open) Send(ctx context.Context, m adapters.Outbound) (adapters.Receipt, error) {
	in, ok := o.integrations[m.From]
	if !ok {
		return adapters.Receipt{}, adapters.Permanent("unknown_integration", fmt.Sprintf("open: send: no integration %q", m.From), nil)
	}
	if err := sendable(m); err != nil {
		return adapters.Receipt{}, err
	}
	msg := message{
		ID:        m.MessageID,
		Channel:   o.channel(m.From, m.To, m.MessageID),
		Type:      typeText,
		Text:      m.Text,
		Direction: directionOutbound,
	}
	for _, md := range m.Media {
		msg.Content = append(msg.Content, content{
			ContentType: "Attachment",
			Attachment:  &attachment{MediaType: mediaType(md.ContentType), URL: md.URL, Mime: md.ContentType},
		})
	}
	body, err := json.Marshal(msg)
	if err != nil {
		return adapters.Receipt{}, adapters.Permanent("encode", "open: send: encode", err)
	}
	resp, err := o.post(ctx, in, body)
	if err != nil {
		return adapters.Receipt{}, fmt.Errorf("open: send: %w", err)
	}
	id := m.MessageID
	var answer struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(resp, &answer) == nil && answer.ID != "" {
		id = answer.ID
	}
	return adapters.Receipt{ProviderMessageID: id, Status: omnigate.StatusSent}, nil
}

// sendable rejects what the open format cannot carry, before anything goes out.
func sendable(m adapters.Outbound) error {
	switch {
	case m.Channel != "" && m.Channel != omnigate.Open:
		return adapters.Permanent("unsupported_channel", fmt.Sprintf("open: send: channel %q", m.Channel), nil)
	case m.Template != nil:
		return adapters.Permanent("unsupported_template", "open: send: open messaging has no templates", nil)
	case m.To == "":
		return adapters.Permanent("missing_recipient", "open: send: no recipient", nil)
	case m.Text == "" && len(m.Media) == 0:
		return adapters.Permanent("empty_message", "open: send: neither text nor media", nil)
	}
	return nil
}

// Typing posts a typing-on event from the integration from to the contact to. Open
// messaging has no typing-off event (an indicator expires by itself), so on=false sends
// nothing and returns nil. Errors are those of Send.
func (o *Open) Typing(ctx context.Context, ch omnigate.Channel, from, to string, on bool) error {
	if ch != omnigate.Open {
		return adapters.Permanent("unsupported_channel", fmt.Sprintf("open: typing: channel %q", ch), nil)
	}
	in, ok := o.integrations[from]
	if !ok {
		return adapters.Permanent("unknown_integration", fmt.Sprintf("open: typing: no integration %q", from), nil)
	}
	if !on {
		return nil
	}
	body, err := json.Marshal(message{
		Channel:   o.channel(from, to, ""),
		Type:      typeEvent,
		Events:    []event{{EventType: "Typing", Typing: &typing{Type: "On"}}},
		Direction: directionOutbound,
	})
	if err != nil {
		return adapters.Permanent("encode", "open: typing: encode", err)
	}
	if _, err := o.post(ctx, in, body); err != nil {
		return fmt.Errorf("open: typing: %w", err)
	}
	return nil
}

func (o *Open) channel(from, to, messageID string) channel {
	return channel{
		Platform:  "Open",
		Type:      "Private",
		MessageID: messageID,
		To:        &party{ID: to},
		From:      &party{ID: from},
		Time:      o.now().UTC().Format(timeLayout),
	}
}

// mediaType maps a MIME type to the open format's attachment kinds.
func mediaType(mime string) string {
	switch {
	case strings.HasPrefix(mime, "image/"):
		return "Image"
	case strings.HasPrefix(mime, "video/"):
		return "Video"
	case strings.HasPrefix(mime, "audio/"):
		return "Audio"
	}
	return "File"
}

// sign returns the X-Hub-Signature-256 value for body.
func sign(secret string, body []byte) string {
	return signature.SHA256(secret, body, signature.Base64)
}

// post sends a signed body to the integration and returns the answer's body on 2xx, or a
// classified error.
func (o *Open) post(ctx context.Context, in Integration, body []byte) ([]byte, error) {
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodPost, in.OutboundURL, body)
	if err != nil {
		return nil, adapters.Permanent("bad_request", "build request", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(SignatureHeader, sign(in.Secret, body))
	resp, err := o.client.Do(req)
	if err != nil {
		if resp != nil {
			resp.Body.Close()
		}
		if cerr := ctx.Err(); cerr != nil {
			return nil, adapters.Retryable("", "cancelled", 0, cerr)
		}
		return nil, adapters.Retryable("", "network error", 0, err)
	}
	defer resp.Body.Close()
	// A body that breaks off is read as far as it goes: the status alone classifies the
	// answer, and a 2xx falls back to our own message id.
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxRespBody))
	if resp.StatusCode/100 == 2 {
		return answer, nil
	}
	code, msg := errorDetail(resp.StatusCode, answer)
	switch {
	case resp.StatusCode == http.StatusTooManyRequests,
		resp.StatusCode == http.StatusRequestTimeout,
		resp.StatusCode >= 500:
		wait, _ := carrierhttp.RetryAfter(resp.Header, o.now())
		return nil, adapters.Retryable(code, msg, wait, nil)
	}
	return nil, adapters.Permanent(code, msg, nil)
}

// errorDetail takes the code and message from a JSON error body such as
// {"code":"bad.request","message":"..."}, falling back to the HTTP status.
func errorDetail(status int, body []byte) (code, msg string) {
	code, msg = strconv.Itoa(status), http.StatusText(status)
	var e struct {
		Code    any    `json:"code"`
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &e) != nil {
		return code, msg
	}
	switch c := e.Code.(type) {
	case string:
		if c != "" {
			code = c
		}
	case float64:
		code = strconv.FormatFloat(c, 'f', -1, 64)
	}
	if e.Message != "" {
		msg = e.Message
	}
	return code, msg
}

// Package twilio is omnigate's adapter for Twilio Programmable Messaging: it sends SMS,
// MMS and WhatsApp messages through twilio-go, classifies Twilio's errors for the relay,
// and verifies and parses Twilio's inbound-message and status-callback webhooks.
//
// Retries are split on purpose: the HTTP layer (go-retryablehttp) retries a POST only
// when it provably never reached Twilio or when Twilio asked for it (429, 503) with a
// short wait; every other retry belongs to omnigate's outbox, which owns backoff, the
// circuit breaker and dead letters.
package twilio

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"
	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/adapters"
	"github.com/omnigate/omnigate/adapters/carrierhttp"
	twclient "github.com/twilio/twilio-go/client"
	twapi "github.com/twilio/twilio-go/rest/api/v2010"
)

// DefaultBaseURL is Twilio's REST API, used when Config.BaseURL is empty.
const DefaultBaseURL = "https://api.twilio.com"

// whatsappPrefix marks a WhatsApp address in Twilio's To/From fields.
const whatsappPrefix = "whatsapp:"

// Config configures one Twilio account.
type Config struct {
	AccountSID string
	AuthToken  string
	// BaseURL is Twilio's API root without a trailing slash (default DefaultBaseURL); a
	// sandbox or test server may sit under a path prefix.
	BaseURL string
	// PublicURL is omnigate's public URL as Twilio calls it; webhook signatures are
	// computed over PublicURL + the request URI.
	PublicURL string
	// ContentSIDs maps "name/language" to the Content SID (HX...) of an approved
	// WhatsApp template.
	ContentSIDs map[string]string
	// ContentURL is Twilio's Content API root (default DefaultContentURL), from which
	// Templates lists the account's content templates.
	ContentURL string
	// ContentSID, when set, finds the Content SID of a template synced from the
	// Content API for sends from an address; ContentSIDs wins when it names the
	// template too.
	ContentSID func(ctx context.Context, from, name, language string) (string, bool)
	// HTTPClient, when set, makes the individual HTTP attempts (its Transport, Timeout
	// and CheckRedirect are used as given); retries are layered on top of it.
	HTTPClient *http.Client
}

// Validate reports every problem with c.
func (c Config) Validate() error {
	var errs []error
	if c.AccountSID == "" {
		errs = append(errs, errors.New("twilio: account_sid is required"))
	}
	if c.AuthToken == "" {
		errs = append(errs, errors.New("twilio: auth_token is required"))
	}
	// twilio-go sends nothing (21222, 21224) for credentials with other characters; say
	// so at start rather than at every send. The values are secrets: never quote them.
	if !alphanumeric(c.AccountSID) {
		errs = append(errs, errors.New("twilio: account_sid must be letters and digits only"))
	}
	if !alphanumeric(c.AuthToken) {
		errs = append(errs, errors.New("twilio: auth_token must be letters and digits only"))
	}
	if c.BaseURL != "" {
		if u, err := url.Parse(c.BaseURL); err != nil || u.Scheme == "" || u.Host == "" {
			errs = append(errs, fmt.Errorf("twilio: base_url %q is not an absolute URL", c.BaseURL))
		} else if strings.HasSuffix(c.BaseURL, "/") {
			errs = append(errs, fmt.Errorf("twilio: base_url %q must not end with a slash", c.BaseURL))
		}
	}
	if c.PublicURL == "" {
		errs = append(errs, errors.New("twilio: public_url is required to verify webhook signatures"))
	} else if u, err := url.Parse(c.PublicURL); err != nil || u.Scheme == "" || u.Host == "" {
		errs = append(errs, fmt.Errorf("twilio: public_url %q is not an absolute URL", c.PublicURL))
	}
	for key, sid := range c.ContentSIDs {
		if name, lang, ok := strings.Cut(key, "/"); !ok || name == "" || lang == "" {
			errs = append(errs, fmt.Errorf("twilio: content_sids key %q is not name/language", key))
		}
		if sid == "" {
			errs = append(errs, fmt.Errorf("twilio: content_sids[%q] is empty", key))
		}
	}
	return errors.Join(errs...)
}

// Twilio is one Twilio account. It is safe for concurrent use.
type Twilio struct {
	cfg       Config
	base      *url.URL
	publicURL string
	validator twclient.RequestValidator
	retrying  http.RoundTripper
	now       func() time.Time
}

var (
	_ adapters.Adapter      = (*Twilio)(nil)
	_ adapters.Acknowledger = (*Twilio)(nil)
)

// New returns the adapter for cfg, or every configuration problem.
func New(cfg Config) (*Twilio, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	base, err := url.Parse(cfg.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("twilio: base_url: %w", err)
	}
	return &Twilio{
		cfg:       cfg,
		base:      base,
		publicURL: strings.TrimSuffix(cfg.PublicURL, "/"),
		validator: twclient.NewRequestValidator(cfg.AuthToken),
		retrying:  &retryablehttp.RoundTripper{Client: carrierhttp.NewClient(cfg.HTTPClient, time.Now)},
		now:       time.Now,
	}, nil
}

// Provider returns "twilio".
func (t *Twilio) Provider() string { return "twilio" }

// Account returns "twilio:" and the account SID.
func (t *Twilio) Account() string { return "twilio:" + t.cfg.AccountSID }

// Send creates the message through Twilio's Messages API. On acceptance the receipt
// carries the message SID and status sent. Errors: *adapters.PermanentError (Twilio's
// code, or "template_not_configured", "unsupported_channel", "empty_message"),
// *adapters.RetryableError (network errors, 5xx, 429, code 20429, with Retry-After), or
// the context's error when ctx ends first.
func (t *Twilio) Send(ctx context.Context, m adapters.Outbound) (adapters.Receipt, error) {
	params, err := t.params(ctx, m)
	if err != nil {
		return adapters.Receipt{}, fmt.Errorf("twilio: send: %w", err)
	}
	x := &exchange{ctx: ctx, next: t.retrying}
	msg, err := t.api(x).CreateMessage(params)
	if err != nil {
		return adapters.Receipt{}, fmt.Errorf("twilio: send: %w", t.classify(ctx, x, err))
	}
	if msg.Sid == nil || *msg.Sid == "" {
		// Twilio answered 2xx but the answer does not name the message. It was probably
		// accepted; retrying risks a duplicate, failing risks losing it. At-least-once
		// delivery prefers the duplicate.
		return adapters.Receipt{}, fmt.Errorf("twilio: send: %w",
			adapters.Retryable("", fmt.Sprintf("HTTP %d without a message sid", x.status), 0, nil))
	}
	return adapters.Receipt{ProviderMessageID: *msg.Sid, Status: omnigate.StatusSent}, nil
}

// Paths of Twilio's webhooks on omnigate's public URL: inbound messages, and the
// per-message status callbacks, which carry our message id in "mid".
const (
	WebhookPath = "/webhooks/twilio"
	StatusPath  = "/webhooks/twilio/status"
)

// statusCallback is the URL Twilio reports m's statuses to: the one m names, else
// StatusPath on the public URL with m's id, so that a receipt finds the message even
// before its carrier id is recorded.
func (t *Twilio) statusCallback(m adapters.Outbound) string {
	if m.StatusCallback != "" || m.MessageID == "" || t.publicURL == "" {
		return m.StatusCallback
	}
	return t.publicURL + StatusPath + "?mid=" + url.QueryEscape(m.MessageID)
}

// params maps m onto Twilio's Message create fields.
func (t *Twilio) params(ctx context.Context, m adapters.Outbound) (*twapi.CreateMessageParams, error) {
	to, from := m.To, m.From
	switch m.Channel {
	case omnigate.SMS:
	case omnigate.WhatsApp:
		if omnigate.IsWhatsAppUserID(to) {
			return nil, adapters.Permanent("recipient_unsupported",
				"twilio sends whatsapp messages to phone numbers only, not to business-scoped user ids", nil)
		}
		to, from = withWhatsApp(to), withWhatsApp(from)
	default:
		return nil, adapters.Permanent("unsupported_channel",
			fmt.Sprintf("twilio does not carry channel %q", m.Channel), nil)
	}
	if m.Text == "" && m.Template == nil && len(m.Media) == 0 {
		return nil, adapters.Permanent("empty_message", "no text, template or media to send", nil)
	}
	p := &twapi.CreateMessageParams{}
	p.SetTo(to).SetFrom(from)
	if cb := t.statusCallback(m); cb != "" {
		p.SetStatusCallback(cb)
	}
	if m.Template != nil {
		key := m.Template.Name + "/" + m.Template.Language
		sid, ok := t.cfg.ContentSIDs[key]
		if !ok && t.cfg.ContentSID != nil {
			sid, ok = t.cfg.ContentSID(ctx, m.From, m.Template.Name, m.Template.Language)
		}
		if !ok {
			return nil, adapters.Permanent("template_not_configured",
				fmt.Sprintf("no content sid configured for template %q", key), nil)
		}
		p.SetContentSid(sid)
		if len(m.Template.Variables) > 0 {
			vars, err := json.Marshal(m.Template.Variables)
			if err != nil {
				return nil, adapters.Permanent("template_variables", "template variables do not encode", err)
			}
			p.SetContentVariables(string(vars))
		}
	} else if m.Text != "" {
		// With a ContentSid Twilio ignores Body, so it is sent only without a template.
		p.SetBody(m.Text)
	}
	if len(m.Media) > 0 {
		urls := make([]string, 0, len(m.Media))
		for _, md := range m.Media {
			urls = append(urls, md.URL)
		}
		p.SetMediaUrl(urls)
	}
	return p, nil
}

func withWhatsApp(addr string) string {
	if strings.HasPrefix(addr, whatsappPrefix) {
		return addr
	}
	return whatsappPrefix + addr
}

// api returns twilio-go's Messages API for one call. twilio-go builds its requests with
// context.Background() and hides the response of a failed call, so each call gets its
// own http.Client whose transport carries ctx and records the final response.
func (t *Twilio) api(x *exchange) *twapi.ApiService {
	c := &twclient.Client{
		Credentials: twclient.NewCredentials(t.cfg.AccountSID, t.cfg.AuthToken),
		HTTPClient: &http.Client{
			Transport:     x,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	c.SetAccountSid(t.cfg.AccountSID)
	return twapi.NewApiServiceWithClient(&rebasedClient{Client: c, base: t.base})
}

// rebasedClient points twilio-go at BaseURL. twilio-go's services hard-code
// https://api.twilio.com (the field is unexported) and its RequestHandler only rewrites
// edge and region, but every request passes through the BaseClient interface, so this
// wrapper swaps scheme and host and prefixes the base path there.
type rebasedClient struct {
	*twclient.Client
	base *url.URL
}

func (c *rebasedClient) SendRequest(method, rawURL string, data url.Values,
	headers map[string]any, body ...byte) (*http.Response, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	u.Scheme, u.Host, u.User = c.base.Scheme, c.base.Host, nil
	u.Path = c.base.Path + u.Path
	u.RawPath = ""
	return c.Client.SendRequest(method, u.String(), data, headers, body...)
}

// exchange is the per-call transport: it attaches the caller's context and remembers
// the status and headers of the last response, which twilio-go does not expose.
type exchange struct {
	ctx    context.Context
	next   http.RoundTripper
	status int
	header http.Header
}

func (x *exchange) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := x.next.RoundTrip(req.WithContext(x.ctx))
	if resp != nil {
		x.status, x.header = resp.StatusCode, resp.Header
		if resp.StatusCode >= 400 {
			// twilio-go decodes an error answer without closing its body, which would
			// hold the connection (and the client's timeout timer) until the timeout:
			// read it here, bounded, and close it.
			body, rerr := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
			resp.Body.Close()
			if rerr != nil {
				return nil, rerr
			}
			resp.Body = io.NopCloser(bytes.NewReader(body))
		}
	}
	return resp, err
}

// maxErrorBody bounds the error answer read from Twilio; its JSON errors are small.
const maxErrorBody = 64 << 10

// classify turns a failed CreateMessage into the relay's error taxonomy.
func (t *Twilio) classify(ctx context.Context, x *exchange, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	var tre *twclient.TwilioRestError
	hasBody := errors.As(err, &tre)
	status := x.status
	if status == 0 && hasBody {
		// twilio-go refused the request itself (e.g. 21222 for credentials it will not
		// send); it reports that as a Twilio error without an HTTP exchange.
		status = tre.Status
	}
	if status == 0 {
		return adapters.Retryable("", "network error", 0, err)
	}
	code, msg := "", http.StatusText(status)
	if hasBody && tre.Code != 0 {
		code = strconv.Itoa(tre.Code)
	}
	if hasBody && tre.Message != "" {
		msg = tre.Message
	}
	switch {
	case code == "20429" || status == http.StatusTooManyRequests || status >= 500:
		return adapters.Retryable(code, msg, retryAfterOrZero(x.header, t.now()), err)
	case status >= 400:
		if code == "" {
			code = "http_" + strconv.Itoa(status)
		}
		return adapters.Permanent(code, msg, err)
	}
	// A 2xx or 3xx whose body twilio-go could not read: as in Send, prefer a retry.
	return adapters.Retryable(code, fmt.Sprintf("HTTP %d: unreadable answer", status), 0, err)
}

// retryAfterOrZero is the wait Twilio asked for; zero when it asked for none.
func retryAfterOrZero(h http.Header, now time.Time) time.Duration {
	wait, _ := carrierhttp.RetryAfter(h, now)
	return wait
}

// alphanumeric reports whether s holds only ASCII letters and digits, what twilio-go
// accepts in credentials.
func alphanumeric(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

package twilio

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/adapters"
)

// Webhook paths, matched as suffixes so omnigate may be mounted under a prefix.
const (
	inboundPath = "/webhooks/twilio"
	statusPath  = "/webhooks/twilio/status"
)

// emptyTwiML tells Twilio there is nothing to reply with.
const emptyTwiML = `<?xml version="1.0" encoding="UTF-8"?><Response></Response>`

// statusOf maps Twilio's MessageStatus values to omnigate's. Statuses of inbound
// messages (receiving, received) are absent: they never concern our messages.
func statusOf(twilio string) (omnigate.MessageStatus, bool) {
	switch twilio {
	case "accepted", "scheduled", "queued":
		return omnigate.StatusQueued, true
	case "sending":
		return omnigate.StatusSending, true
	case "sent":
		return omnigate.StatusSent, true
	case "delivered":
		return omnigate.StatusDelivered, true
	case "read":
		return omnigate.StatusRead, true
	case "undelivered", "failed":
		return omnigate.StatusFailed, true
	case "canceled":
		return omnigate.StatusCanceled, true
	}
	return "", false
}

// ParseWebhook verifies X-Twilio-Signature over PublicURL + the request URI and the form
// parameters in body, then returns the inbound message (path /webhooks/twilio) or the
// status (path /webhooks/twilio/status) it carries. A status Twilio may add in future
// yields no event rather than an error, so Twilio does not retry it forever.
// Errors: adapters.ErrBadSignature, adapters.ErrMalformed (wrapped with detail).
func (t *Twilio) ParseWebhook(r *http.Request, body []byte) ([]adapters.Event, error) {
	sig := r.Header.Get("X-Twilio-Signature")
	if sig == "" {
		return nil, fmt.Errorf("twilio: webhook: %w", adapters.ErrBadSignature)
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("twilio: webhook: form: %w", malformed(err))
	}
	if !t.verify(r.URL.RequestURI(), form, sig) {
		return nil, fmt.Errorf("twilio: webhook: %w", adapters.ErrBadSignature)
	}
	// Twilio sends UTF-8; a signed byte that is not is replaced rather than refused,
	// because a refusal would be retried forever and lose the message, and PostgreSQL
	// stores only valid text.
	for _, vs := range form {
		for i, v := range vs {
			if !utf8.ValidString(v) {
				vs[i] = strings.ToValidUTF8(v, "\uFFFD")
			}
		}
	}
	if form.Get("MessageSid") == "" {
		return nil, fmt.Errorf("twilio: webhook: %w: no MessageSid", adapters.ErrMalformed)
	}
	switch {
	case strings.HasSuffix(r.URL.Path, statusPath):
		return parseStatus(r.URL.Query(), form)
	case strings.HasSuffix(r.URL.Path, inboundPath):
		return parseInbound(form)
	}
	return nil, fmt.Errorf("twilio: webhook: %w: unknown path %q", adapters.ErrMalformed, r.URL.Path)
}

// verify checks sig with twilio-go's validator, which also tries the URL with and
// without the scheme's default port, as Twilio's signing is inconsistent about it.
// Twilio never repeats a parameter name, and only first values are ever read, so the
// validator's first-value view of the form covers everything the adapter uses.
func (t *Twilio) verify(requestURI string, form url.Values, sig string) bool {
	params := make(map[string]string, len(form))
	for k, vs := range form {
		params[k] = vs[0]
	}
	return t.validator.Validate(t.publicURL+requestURI, params, sig)
}

func parseInbound(form url.Values) ([]adapters.Event, error) {
	ch, from, to := channelOf(form.Get("From"), form.Get("To"))
	ev := adapters.Event{
		Kind:              adapters.EventMessage,
		Channel:           ch,
		ProviderMessageID: form.Get("MessageSid"),
		Address:           to,
		ContactAddress:    from,
		ContactName:       form.Get("ProfileName"),
		Text:              form.Get("Body"),
	}
	if ev.ContactAddress == "" || ev.Address == "" {
		return nil, fmt.Errorf("twilio: webhook: %w: inbound message without From or To", adapters.ErrMalformed)
	}
	if n := form.Get("NumMedia"); n != "" {
		count, err := strconv.Atoi(n)
		if err != nil || count < 0 {
			return nil, fmt.Errorf("twilio: webhook: %w: NumMedia %q", adapters.ErrMalformed, n)
		}
		for i := range min(count, len(form)) {
			u := form.Get("MediaUrl" + strconv.Itoa(i))
			if u == "" {
				return nil, fmt.Errorf("twilio: webhook: %w: NumMedia %d but no MediaUrl%d", adapters.ErrMalformed, count, i)
			}
			ev.Media = append(ev.Media, omnigate.Media{URL: u, ContentType: form.Get("MediaContentType" + strconv.Itoa(i))})
		}
	}
	return []adapters.Event{ev}, nil
}

func parseStatus(query, form url.Values) ([]adapters.Event, error) {
	raw := form.Get("MessageStatus")
	if raw == "" {
		raw = form.Get("SmsStatus") // the legacy name Twilio still sends alongside
	}
	if raw == "" {
		return nil, fmt.Errorf("twilio: webhook: %w: status callback without MessageStatus", adapters.ErrMalformed)
	}
	status, ok := statusOf(raw)
	if !ok {
		return nil, nil
	}
	// Our From is the queue's address and To the contact's.
	ch, from, to := channelOf(form.Get("From"), form.Get("To"))
	return []adapters.Event{{
		Kind:              adapters.EventStatus,
		Channel:           ch,
		ProviderMessageID: form.Get("MessageSid"),
		MessageID:         query.Get("mid"),
		Address:           from,
		ContactAddress:    to,
		Status:            status,
		ErrorCode:         form.Get("ErrorCode"),
		ErrorMessage:      form.Get("ErrorMessage"),
	}}, nil
}

// channelOf strips Twilio's whatsapp: prefix from the addresses; its presence on
// either marks the WhatsApp channel.
func channelOf(from, to string) (omnigate.Channel, string, string) {
	f, fw := strings.CutPrefix(from, whatsappPrefix)
	tt, tw := strings.CutPrefix(to, whatsappPrefix)
	if fw || tw {
		return omnigate.WhatsApp, f, tt
	}
	return omnigate.SMS, from, to
}

func malformed(err error) error { return fmt.Errorf("%w: %w", adapters.ErrMalformed, err) }

// Acknowledge answers Twilio with an empty TwiML response, which sends no reply.
func (t *Twilio) Acknowledge(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, emptyTwiML)
}

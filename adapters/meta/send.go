package meta

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/omnigate/omnigate/adapters/carrierhttp"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/adapters"
)

// Local refusal codes: the message cannot be expressed on the channel, so no retry helps.
const (
	codeUnknownSender  = "unknown_sender"
	codeEmpty          = "empty_message"
	codeUnsupported    = "unsupported_content"
	codeBadResponse    = "invalid_response"
	codeBadChannel     = "unsupported_channel"
	maxResponseBytes   = 1 << 20
	typingUnsupported  = "typing_unsupported"
	humanAgentTag      = "HUMAN_AGENT"
	messagingResponse  = "RESPONSE"
	messagingTag       = "MESSAGE_TAG"
	whatsappProduct    = "whatsapp"
	whatsappIndividual = "individual"
)

// Send delivers m on Messenger, Instagram or WhatsApp. It returns *adapters.RetryableError
// (network, 5xx, 429, throttling codes), *adapters.PermanentError (Meta's code as
// "code" or "code/subcode", or a local code such as "unknown_sender" when m cannot be
// sent at all), or the context's error when ctx ends first.
func (m *Meta) Send(ctx context.Context, o adapters.Outbound) (adapters.Receipt, error) {
	switch o.Channel {
	case omnigate.Messenger, omnigate.Instagram:
		return m.sendPage(ctx, o)
	case omnigate.WhatsApp:
		return m.sendWhatsApp(ctx, o)
	}
	return adapters.Receipt{}, adapters.Permanent(codeBadChannel, fmt.Sprintf("meta does not carry %q", o.Channel), nil)
}

type pageRecipient struct {
	ID string `json:"id"`
}

type pageAttachment struct {
	Type    string `json:"type"`
	Payload struct {
		URL        string `json:"url"`
		IsReusable bool   `json:"is_reusable"`
	} `json:"payload"`
}

type pageMessage struct {
	Text       string          `json:"text,omitempty"`
	Attachment *pageAttachment `json:"attachment,omitempty"`
}

type pageSend struct {
	Recipient     pageRecipient `json:"recipient"`
	MessagingType string        `json:"messaging_type,omitempty"`
	Tag           string        `json:"tag,omitempty"`
	Message       *pageMessage  `json:"message,omitempty"`
	SenderAction  string        `json:"sender_action,omitempty"`
}

// sendPage uses the Send API of the page (or Instagram account) in o.From. A Send API
// message holds text or one attachment, never both: omnigate's messaging splits such a
// send into one message per part before it reaches the outbox, so that each part is
// tracked and retried on its own; an Outbound that still holds both is refused here
// rather than split into carrier messages that could fail halfway.
func (m *Meta) sendPage(ctx context.Context, o adapters.Outbound) (adapters.Receipt, error) {
	token, ok := m.cfg.PageTokens[o.From]
	if !ok || token == "" {
		return adapters.Receipt{}, adapters.Permanent(codeUnknownSender, "no page token for "+o.From, nil)
	}
	if o.Template != nil {
		return adapters.Receipt{}, adapters.Permanent(codeUnsupported, "templates are a whatsapp feature", nil)
	}
	msg := &pageMessage{Text: o.Text}
	switch {
	case len(o.Media) > 1:
		return adapters.Receipt{}, adapters.Permanent(codeUnsupported, "the send api takes one attachment per message", nil)
	case len(o.Media) == 1 && o.Text != "":
		return adapters.Receipt{}, adapters.Permanent(codeUnsupported, "the send api takes text or an attachment, not both", nil)
	case len(o.Media) == 1:
		a := &pageAttachment{Type: attachmentType(o.Media[0].ContentType)}
		a.Payload.URL = o.Media[0].URL
		msg.Attachment = a
	case o.Text == "":
		return adapters.Receipt{}, adapters.Permanent(codeEmpty, "nothing to send", nil)
	}
	body := pageSend{Recipient: pageRecipient{ID: o.To}, MessagingType: messagingResponse, Message: msg}
	if o.Tag == humanAgentTag {
		body.MessagingType, body.Tag = messagingTag, humanAgentTag
	} else if o.Tag != "" {
		return adapters.Receipt{}, adapters.Permanent(codeUnsupported, "unknown message tag "+o.Tag, nil)
	}
	var out struct {
		MessageID string `json:"message_id"`
	}
	if err := m.post(ctx, "/"+url.PathEscape(o.From)+"/messages", token, body, &out); err != nil {
		return adapters.Receipt{}, err
	}
	if out.MessageID == "" {
		return adapters.Receipt{}, adapters.Permanent(codeBadResponse, "graph accepted the message without a message_id", nil)
	}
	return adapters.Receipt{ProviderMessageID: out.MessageID, Status: omnigate.StatusSent}, nil
}

// attachmentType maps a content type to the Send API's attachment types.
func attachmentType(contentType string) string {
	major, _, _ := strings.Cut(strings.ToLower(contentType), "/")
	switch major {
	case "image", "video", "audio":
		return major
	}
	return "file"
}

type waTemplateParam struct {
	Type          string `json:"type"`
	ParameterName string `json:"parameter_name,omitempty"`
	Text          string `json:"text"`
}

type waTemplate struct {
	Name     string `json:"name"`
	Language struct {
		Code string `json:"code"`
	} `json:"language"`
	Components []waComponent `json:"components,omitempty"`
}

type waComponent struct {
	Type       string            `json:"type"`
	Parameters []waTemplateParam `json:"parameters"`
}

type waMedia struct {
	Link     string `json:"link"`
	Caption  string `json:"caption,omitempty"`
	Filename string `json:"filename,omitempty"`
}

type waSend struct {
	MessagingProduct string      `json:"messaging_product"`
	RecipientType    string      `json:"recipient_type"`
	To               string      `json:"to,omitempty"`
	Recipient        string      `json:"recipient,omitempty"` // a business-scoped user id
	Type             string      `json:"type"`
	Text             *waText     `json:"text,omitempty"`
	Template         *waTemplate `json:"template,omitempty"`
	Image            *waMedia    `json:"image,omitempty"`
	Video            *waMedia    `json:"video,omitempty"`
	Audio            *waMedia    `json:"audio,omitempty"`
	Document         *waMedia    `json:"document,omitempty"`
}

type waText struct {
	Body string `json:"body"`
}

// sendWhatsApp uses the Cloud API number registered for o.From. Text may ride as the
// caption of a single image, video or document.
func (m *Meta) sendWhatsApp(ctx context.Context, o adapters.Outbound) (adapters.Receipt, error) {
	pnid, ok := m.cfg.WhatsAppPhoneNumberIDs[o.From]
	if !ok || pnid == "" {
		return adapters.Receipt{}, adapters.Permanent(codeUnknownSender, "no whatsapp phone-number id for "+o.From, nil)
	}
	body := waSend{MessagingProduct: whatsappProduct, RecipientType: whatsappIndividual}
	if omnigate.IsWhatsAppUserID(o.To) {
		// A contact without a phone number is addressed by its business-scoped user id.
		body.Recipient = o.To
	} else {
		body.To = digits(o.To)
	}
	switch {
	case o.Template != nil:
		body.Type, body.Template = "template", whatsAppTemplate(*o.Template)
	case len(o.Media) > 1:
		return adapters.Receipt{}, adapters.Permanent(codeUnsupported, "whatsapp takes one media item per message", nil)
	case len(o.Media) == 1:
		media := &waMedia{Link: o.Media[0].URL, Caption: o.Text}
		switch t := attachmentType(o.Media[0].ContentType); t {
		case "image":
			body.Type, body.Image = t, media
		case "video":
			body.Type, body.Video = t, media
		case "audio":
			if o.Text != "" {
				return adapters.Receipt{}, adapters.Permanent(codeUnsupported, "whatsapp audio takes no caption", nil)
			}
			media.Caption = ""
			body.Type, body.Audio = t, media
		default:
			media.Filename = fileName(o.Media[0].URL)
			body.Type, body.Document = "document", media
		}
	case o.Text != "":
		body.Type, body.Text = "text", &waText{Body: o.Text}
	default:
		return adapters.Receipt{}, adapters.Permanent(codeEmpty, "nothing to send", nil)
	}
	var out struct {
		Messages []struct {
			ID string `json:"id"`
		} `json:"messages"`
	}
	if err := m.post(ctx, "/"+url.PathEscape(pnid)+"/messages", m.cfg.WhatsAppToken, body, &out); err != nil {
		return adapters.Receipt{}, err
	}
	if len(out.Messages) == 0 || out.Messages[0].ID == "" {
		return adapters.Receipt{}, adapters.Permanent(codeBadResponse, "cloud api accepted the message without an id", nil)
	}
	return adapters.Receipt{ProviderMessageID: out.Messages[0].ID, Status: omnigate.StatusSent}, nil
}

// whatsAppTemplate fills the body component. Variables keyed "1", "2", ... are
// positional and go in numeric order; any other key makes them named parameters
// (Cloud API parameter_name), in name order.
func whatsAppTemplate(t omnigate.Template) *waTemplate {
	wt := &waTemplate{Name: t.Name}
	wt.Language.Code = t.Language
	if len(t.Variables) == 0 {
		return wt
	}
	keys := make([]string, 0, len(t.Variables))
	positional := true
	for k := range t.Variables {
		keys = append(keys, k)
		if n, err := strconv.Atoi(k); err != nil || n < 1 {
			positional = false
		}
	}
	params := make([]waTemplateParam, 0, len(keys))
	if positional {
		slices.SortFunc(keys, func(a, b string) int {
			x, _ := strconv.Atoi(a)
			y, _ := strconv.Atoi(b)
			return x - y
		})
	} else {
		slices.Sort(keys)
	}
	for _, k := range keys {
		p := waTemplateParam{Type: "text", Text: t.Variables[k]}
		if !positional {
			p.ParameterName = k
		}
		params = append(params, p)
	}
	wt.Components = []waComponent{{Type: "body", Parameters: params}}
	return wt
}

// Typing shows or clears the typing indicator on Messenger and Instagram. WhatsApp's
// indicator is tied to marking an inbound message read, which this call cannot name, so
// it is refused with a PermanentError coded "typing_unsupported".
func (m *Meta) Typing(ctx context.Context, ch omnigate.Channel, from, to string, on bool) error {
	if ch != omnigate.Messenger && ch != omnigate.Instagram {
		return adapters.Permanent(typingUnsupported, fmt.Sprintf("no typing indicator on %s", ch), nil)
	}
	token, ok := m.cfg.PageTokens[from]
	if !ok || token == "" {
		return adapters.Permanent(codeUnknownSender, "no page token for "+from, nil)
	}
	action := "typing_off"
	if on {
		action = "typing_on"
	}
	body := pageSend{Recipient: pageRecipient{ID: to}, SenderAction: action}
	return m.post(ctx, "/"+url.PathEscape(from)+"/messages", token, body, nil)
}

// post sends body to Graph with the token as a Bearer header (never in the query
// string, where it would reach access logs) and decodes a 2xx answer into out.
func (m *Meta) post(ctx context.Context, path, token string, body, out any) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("meta: encode: %w", err)
	}
	return m.call(ctx, http.MethodPost, path, token, raw, out)
}

// get reads a Graph object into out.
func (m *Meta) get(ctx context.Context, pathQuery, token string, out any) error {
	return m.call(ctx, http.MethodGet, pathQuery, token, nil, out)
}

// call makes one Graph request with the token as a Bearer header and decodes a 2xx
// answer into out (when not nil); any other answer is classified.
func (m *Meta) call(ctx context.Context, method, path, token string, body []byte, out any) error {
	var payload any // nil, not a nil []byte, for a request without a body
	if body != nil {
		payload = body
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, method, m.graph+path, payload)
	if err != nil {
		return adapters.Permanent("bad_request", "meta: build request", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := m.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("meta: %s: %w", method, ctx.Err())
		}
		return adapters.Retryable("", "meta: "+method+": "+err.Error(), 0, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("meta: read response: %w", ctx.Err())
		}
		// Graph answered, so a sent message may be out: the outbox decides.
		return adapters.Retryable("", "meta: read response: "+err.Error(), 0, err)
	}
	if resp.StatusCode/100 != 2 {
		return m.classify(resp, data)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return adapters.Permanent(codeBadResponse, "meta: decode response", err)
	}
	return nil
}

// graphError is Graph's error envelope.
type graphError struct {
	Error struct {
		Message      string `json:"message"`
		Type         string `json:"type"`
		Code         int    `json:"code"`
		Subcode      int    `json:"error_subcode"`
		FBTraceID    string `json:"fbtrace_id"`
		IsTransient  bool   `json:"is_transient"`
		ErrorUserMsg string `json:"error_user_msg"`
	} `json:"error"`
}

// retryableCodes are Graph codes that mean "later": throttling (4, 17, 32, 613, 80007,
// 130429, 131048 spam rate, 131056 pair rate) and temporary outages (1, 2, 131000,
// 131016, 133004).
var retryableCodes = map[int]bool{
	1: true, 2: true, 4: true, 17: true, 32: true, 613: true, 80007: true,
	130429: true, 131000: true, 131016: true, 131048: true, 131056: true, 133004: true,
}

// classify turns a non-2xx answer into the error kind the relay acts on.
func (m *Meta) classify(resp *http.Response, data []byte) error {
	wait, _ := carrierhttp.RetryAfter(resp.Header, m.cfg.Now())
	var ge graphError
	parsed := json.Unmarshal(data, &ge) == nil && ge.Error.Code != 0
	code := "http_" + strconv.Itoa(resp.StatusCode)
	msg := http.StatusText(resp.StatusCode)
	if parsed {
		code = strconv.Itoa(ge.Error.Code)
		if ge.Error.Subcode != 0 {
			code += "/" + strconv.Itoa(ge.Error.Subcode)
		}
		msg = ge.Error.Message
		if ge.Error.FBTraceID != "" {
			msg += " (fbtrace_id " + ge.Error.FBTraceID + ")"
		}
	}
	cause := fmt.Errorf("meta: graph status %d", resp.StatusCode)
	switch {
	case resp.StatusCode >= 500, resp.StatusCode == http.StatusTooManyRequests,
		parsed && (retryableCodes[ge.Error.Code] || ge.Error.IsTransient):
		return adapters.Retryable(code, msg, wait, cause)
	}
	return adapters.Permanent(code, msg, cause)
}

// digits keeps the digits of an E.164 number: the Cloud API wants "15551234567".
func digits(s string) string {
	var b bytes.Buffer
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// fileName is the last path segment of a media URL, shown to the recipient of a document.
func fileName(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	i := strings.LastIndexByte(u.Path, '/')
	return u.Path[i+1:]
}

package meta

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/adapters"
	"github.com/omnigate/omnigate/adapters/signature"
)

// SignatureHeader carries the webhook signature: "sha256=" and the lowercase hex
// HMAC-SHA256 of the raw body under the app secret.
const SignatureHeader = "X-Hub-Signature-256"

// ParseWebhook verifies the signature and returns every event of every entry, in payload
// order. Unknown event kinds (reactions, referrals, template updates) are skipped.
// Errors: adapters.ErrBadSignature, adapters.ErrMalformed.
func (m *Meta) ParseWebhook(r *http.Request, body []byte) ([]adapters.Event, error) {
	if !Verify(m.cfg.AppSecret, r.Header.Get(SignatureHeader), body) {
		return nil, adapters.ErrBadSignature
	}
	var p payload
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, fmt.Errorf("meta: %w: %v", adapters.ErrMalformed, err)
	}
	switch p.Object {
	case "page":
		return m.pageEvents(omnigate.Messenger, p.Entry), nil
	case "instagram":
		return m.pageEvents(omnigate.Instagram, p.Entry), nil
	case "whatsapp_business_account":
		return m.whatsAppEvents(p.Entry), nil
	}
	return nil, fmt.Errorf("meta: %w: unknown object %q", adapters.ErrMalformed, p.Object)
}

// Sign returns the X-Hub-Signature-256 value for body: what Meta sends, and what the
// sandbox and tests send.
func Sign(appSecret string, body []byte) string {
	return signature.SHA256(appSecret, body, signature.Hex)
}

// Verify reports, in constant time, whether header is the signature of body.
func Verify(appSecret, header string, body []byte) bool {
	return signature.VerifySHA256(appSecret, header, body, signature.Hex)
}

type payload struct {
	Object string  `json:"object"`
	Entry  []entry `json:"entry"`
}

type entry struct {
	ID        string      `json:"id"`
	Time      int64       `json:"time"`
	Messaging []messaging `json:"messaging"`
	Changes   []change    `json:"changes"`
}

type party struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"` // Meta omits it; kept when a payload has it
}

type messaging struct {
	Sender    party  `json:"sender"`
	Recipient party  `json:"recipient"`
	Timestamp int64  `json:"timestamp"`
	Message   *msg   `json:"message"`
	Delivery  *mark  `json:"delivery"`
	Read      *mark  `json:"read"`
	Postback  *postb `json:"postback"`
}

type msg struct {
	MID         string       `json:"mid"`
	Text        string       `json:"text"`
	IsEcho      bool         `json:"is_echo"`
	IsDeleted   bool         `json:"is_deleted"`
	Attachments []attachment `json:"attachments"`
}

type attachment struct {
	Type    string `json:"type"`
	Payload struct {
		URL string `json:"url"`
	} `json:"payload"`
}

// mark is a delivery or read receipt: Messenger names a watermark (and for deliveries,
// mids); Instagram names the message read.
type mark struct {
	MIDs      []string `json:"mids"`
	MID       string   `json:"mid"`
	Watermark int64    `json:"watermark"`
}

type postb struct {
	MID     string `json:"mid"`
	Title   string `json:"title"`
	Payload string `json:"payload"`
}

func millis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

func (m *Meta) pageEvents(ch omnigate.Channel, entries []entry) []adapters.Event {
	var out []adapters.Event
	for _, e := range entries {
		for _, ev := range e.Messaging {
			ts := millis(ev.Timestamp)
			if ts.IsZero() {
				ts = millis(e.Time)
			}
			base := adapters.Event{Channel: ch, Timestamp: ts}
			switch {
			case ev.Message != nil && ev.Message.IsDeleted:
				x := base
				x.Kind, x.ProviderMessageID = adapters.EventUnsend, ev.Message.MID
				x.Address, x.ContactAddress = ev.Recipient.ID, ev.Sender.ID
				out = append(out, x)
			case ev.Message != nil && ev.Message.IsEcho:
				x := base
				x.Kind, x.ProviderMessageID, x.Text = adapters.EventEcho, ev.Message.MID, ev.Message.Text
				x.Address, x.ContactAddress, x.ContactName = ev.Sender.ID, ev.Recipient.ID, ev.Recipient.Name
				x.Media, _ = pageMedia(ev.Message.Attachments)
				out = append(out, x)
			case ev.Message != nil:
				x := base
				x.Kind, x.ProviderMessageID, x.Text = adapters.EventMessage, ev.Message.MID, ev.Message.Text
				x.Address, x.ContactAddress, x.ContactName = ev.Recipient.ID, ev.Sender.ID, ev.Sender.Name
				var story bool
				x.Media, story = pageMedia(ev.Message.Attachments)
				if story {
					if m.cfg.StoryMentions != nil && !m.cfg.StoryMentions() {
						continue
					}
					x.StoryMention, x.Ephemeral = true, true
				}
				out = append(out, x)
			case ev.Postback != nil:
				// A button tap reads to the agent as the button's title.
				x := base
				x.Kind, x.ProviderMessageID, x.Text = adapters.EventMessage, ev.Postback.MID, ev.Postback.Title
				if x.ProviderMessageID == "" {
					x.ProviderMessageID = fmt.Sprintf("postback:%s:%d", ev.Sender.ID, ev.Timestamp)
				}
				x.Address, x.ContactAddress, x.ContactName = ev.Recipient.ID, ev.Sender.ID, ev.Sender.Name
				out = append(out, x)
			case ev.Delivery != nil:
				out = append(out, receipts(base, ev, ev.Delivery, omnigate.StatusDelivered)...)
			case ev.Read != nil:
				out = append(out, receipts(base, ev, ev.Read, omnigate.StatusRead)...)
			}
		}
	}
	return out
}

// receipts expands a delivery or read into one status event per named message, each
// carrying the watermark, or a single watermark-only event when no message is named.
func receipts(base adapters.Event, ev messaging, mk *mark, status omnigate.MessageStatus) []adapters.Event {
	base.Kind, base.Status = adapters.EventStatus, status
	base.Address, base.ContactAddress = ev.Recipient.ID, ev.Sender.ID
	base.Watermark = millis(mk.Watermark)
	mids := mk.MIDs
	if mk.MID != "" {
		mids = append(mids, mk.MID)
	}
	if len(mids) == 0 {
		if base.Watermark.IsZero() {
			return nil
		}
		return []adapters.Event{base}
	}
	out := make([]adapters.Event, 0, len(mids))
	for _, id := range mids {
		x := base
		x.ProviderMessageID = id
		out = append(out, x)
	}
	return out
}

// pageMedia returns the attachments that carry a URL, and whether one is a story mention.
func pageMedia(atts []attachment) ([]omnigate.Media, bool) {
	var media []omnigate.Media
	story := false
	for _, a := range atts {
		if a.Type == "story_mention" {
			story = true
		}
		if a.Payload.URL == "" {
			continue
		}
		media = append(media, omnigate.Media{URL: a.Payload.URL, ContentType: contentType(a.Type)})
	}
	return media, story
}

// contentType gives the major type of a Meta attachment type; Meta sends no MIME type.
func contentType(t string) string {
	switch t {
	case "image", "video", "audio":
		return t + "/*"
	case "story_mention":
		return "image/*"
	}
	return "application/octet-stream"
}

type change struct {
	Field string  `json:"field"`
	Value waValue `json:"value"`
}

type waValue struct {
	Metadata struct {
		DisplayPhoneNumber string `json:"display_phone_number"`
		PhoneNumberID      string `json:"phone_number_id"`
	} `json:"metadata"`
	Contacts []waContact `json:"contacts"`
	Messages []waMessage `json:"messages"`
	Statuses []waStatus  `json:"statuses"`
}

// waContact is the sender of an inbound message. A user with a username may come
// without wa_id (the phone number); user_id, the business-scoped user id, is there
// whether or not.
type waContact struct {
	WaID    string `json:"wa_id"`
	UserID  string `json:"user_id"`
	Profile struct {
		Name     string `json:"name"`
		Username string `json:"username"`
	} `json:"profile"`
}

type waMediaIn struct {
	ID       string `json:"id"`
	MimeType string `json:"mime_type"`
	Caption  string `json:"caption"`
}

type waMessage struct {
	ID         string `json:"id"`
	From       string `json:"from"`
	FromUserID string `json:"from_user_id"`
	Timestamp  string `json:"timestamp"`
	Type       string `json:"type"`
	Text       *struct {
		Body string `json:"body"`
	} `json:"text"`
	Image    *waMediaIn `json:"image"`
	Video    *waMediaIn `json:"video"`
	Audio    *waMediaIn `json:"audio"`
	Document *waMediaIn `json:"document"`
	Sticker  *waMediaIn `json:"sticker"`
	Button   *struct {
		Text string `json:"text"`
	} `json:"button"`
	Interactive *struct {
		ButtonReply *struct {
			Title string `json:"title"`
		} `json:"button_reply"`
		ListReply *struct {
			Title string `json:"title"`
		} `json:"list_reply"`
	} `json:"interactive"`
	Location *struct {
		Latitude  float64 `json:"latitude"`
		Longitude float64 `json:"longitude"`
		Name      string  `json:"name"`
	} `json:"location"`
}

type waStatus struct {
	ID              string `json:"id"`
	Status          string `json:"status"`
	Timestamp       string `json:"timestamp"`
	RecipientID     string `json:"recipient_id"`
	RecipientUserID string `json:"recipient_user_id"`
	Errors          []struct {
		Code      int    `json:"code"`
		Title     string `json:"title"`
		Message   string `json:"message"`
		ErrorData struct {
			Details string `json:"details"`
		} `json:"error_data"`
	} `json:"errors"`
}

func seconds(s string) time.Time {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n == 0 {
		return time.Time{}
	}
	return time.Unix(n, 0).UTC()
}

func (m *Meta) whatsAppEvents(entries []entry) []adapters.Event {
	var out []adapters.Event
	for _, e := range entries {
		for _, c := range e.Changes {
			v := c.Value
			ours, ok := m.byPNID[v.Metadata.PhoneNumberID]
			if !ok {
				ours = "+" + digits(v.Metadata.DisplayPhoneNumber)
			}
			for _, wm := range v.Messages {
				ct := senderOf(v.Contacts, wm)
				phone := wm.From
				if phone == "" {
					phone = ct.WaID
				}
				userID := wm.FromUserID
				if userID == "" {
					userID = ct.UserID
				}
				x := adapters.Event{
					Kind: adapters.EventMessage, Channel: omnigate.WhatsApp,
					ProviderMessageID: wm.ID, Address: ours,
					ContactName: ct.Profile.Name, Timestamp: seconds(wm.Timestamp),
				}
				if x.ContactName == "" {
					x.ContactName = ct.Profile.Username
				}
				switch {
				case digits(phone) != "":
					// A phone number stays the address, as before usernames: the threads
					// and opt-outs of existing contacts carry on. The user id is recorded
					// beside it.
					x.ContactAddress = "+" + digits(phone)
					if omnigate.IsWhatsAppUserID(userID) {
						x.ContactUserID = userID
					}
				case omnigate.IsWhatsAppUserID(userID):
					x.ContactAddress = userID
				default:
					continue // nobody to thread with or answer
				}
				if !whatsAppContent(&x, wm) {
					continue
				}
				out = append(out, x)
			}
			for _, st := range v.Statuses {
				status, ok := waStatuses[st.Status]
				if !ok {
					continue
				}
				x := adapters.Event{
					Kind: adapters.EventStatus, Channel: omnigate.WhatsApp,
					ProviderMessageID: st.ID, Address: ours,
					ContactAddress: "+" + digits(st.RecipientID),
					Status:         status, Timestamp: seconds(st.Timestamp),
				}
				if digits(st.RecipientID) == "" {
					// Sent to a business-scoped user id: the receipt names the user so.
					x.ContactAddress = st.RecipientUserID
				}
				if len(st.Errors) > 0 {
					x.ErrorCode = strconv.Itoa(st.Errors[0].Code)
					x.ErrorMessage = st.Errors[0].Title
					if d := st.Errors[0].ErrorData.Details; d != "" {
						x.ErrorMessage += ": " + d
					}
				}
				out = append(out, x)
			}
		}
	}
	return out
}

// senderOf finds the contacts entry of wm's sender: by phone number, else by user id,
// else the only entry.
func senderOf(cs []waContact, wm waMessage) waContact {
	for _, c := range cs {
		if (wm.From != "" && c.WaID == wm.From) || (wm.FromUserID != "" && c.UserID == wm.FromUserID) {
			return c
		}
	}
	if len(cs) == 1 && wm.From == "" && wm.FromUserID == "" {
		return cs[0]
	}
	return waContact{}
}

var waStatuses = map[string]omnigate.MessageStatus{
	"sent": omnigate.StatusSent, "delivered": omnigate.StatusDelivered,
	"read": omnigate.StatusRead, "failed": omnigate.StatusFailed,
}

// whatsAppContent fills text and media from an inbound message and reports whether the
// type is one omnigate carries. Media come without a URL (the Cloud API hands out media
// ids that need the token to fetch), so the URL is "whatsapp-media:" and the id.
// Reactions, contacts cards, orders and system notices are skipped.
func whatsAppContent(x *adapters.Event, wm waMessage) bool {
	media := func(mi *waMediaIn) bool {
		if mi == nil {
			return false
		}
		x.Media = []omnigate.Media{{URL: whatsAppMediaPrefix + mi.ID, ContentType: mi.MimeType}}
		x.Text = mi.Caption
		return true
	}
	switch wm.Type {
	case "text":
		if wm.Text == nil {
			return false
		}
		x.Text = wm.Text.Body
		return true
	case "image":
		return media(wm.Image)
	case "video":
		return media(wm.Video)
	case "audio":
		return media(wm.Audio)
	case "document":
		return media(wm.Document)
	case "sticker":
		return media(wm.Sticker)
	case "button":
		if wm.Button == nil {
			return false
		}
		x.Text = wm.Button.Text
		return true
	case "interactive":
		switch {
		case wm.Interactive == nil:
			return false
		case wm.Interactive.ButtonReply != nil:
			x.Text = wm.Interactive.ButtonReply.Title
		case wm.Interactive.ListReply != nil:
			x.Text = wm.Interactive.ListReply.Title
		default:
			return false
		}
		return true
	case "location":
		if wm.Location == nil {
			return false
		}
		x.Text = strings.TrimSpace(fmt.Sprintf("%s https://maps.google.com/?q=%v,%v",
			wm.Location.Name, wm.Location.Latitude, wm.Location.Longitude))
		return true
	}
	return false
}

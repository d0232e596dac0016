package sandbox

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
)

// This file holds what a simulated customer does on a phone or in an app: write, type,
// unsend, mention the business in a story. Each posts what the real carrier would, to
// omnigate's real webhook, signed with the carrier's real scheme, through the Poster, so
// it is handled exactly like traffic from the carrier. Each returns the carrier's id of
// the message it created, when it created one.

// ErrUnknownAddress is returned for an action on an address the sandbox carrier does
// not serve.
var ErrUnknownAddress = errors.New("sandbox: the carrier does not serve this address")

// Say posts a customer's message from contact to our number to (both E.164; both with
// a "whatsapp:" prefix for WhatsApp), as Twilio posts an inbound message.
func (t *Twilio) Say(contact, to, text string) (string, error) {
	if t.cfg.InboundURL == "" {
		return "", errors.New("sandbox twilio: no inbound url")
	}
	sid := newTwilioSID("SM")
	t.postInbound(sid, contact, to, text, "text", nil)
	return sid, nil
}

// postInbound posts message sid from contact to our number to as Twilio's inbound
// webhook form, with the media fields (NumMedia, MediaUrlN, ...) when there are any;
// kind is WhatsApp's MessageType.
func (t *Twilio) postInbound(sid, contact, to, body, kind string, media url.Values) {
	in := url.Values{
		"AccountSid": {t.cfg.AccountSID}, "ApiVersion": {"2010-04-01"},
		"MessageSid": {sid}, "SmsMessageSid": {sid}, "SmsSid": {sid}, "SmsStatus": {"received"},
		"From": {contact}, "To": {to}, "Body": {body}, "NumMedia": {"0"}, "NumSegments": {"1"},
	}
	for k, v := range media {
		in[k] = v
	}
	if number, ok := strings.CutPrefix(contact, "whatsapp:"); ok {
		in.Set("ProfileName", "Sandbox Customer")
		in.Set("WaId", strings.TrimPrefix(number, "+"))
		in.Set("MessageType", kind)
	}
	t.post(t.cfg.InboundURL, in)
}

// pageObject is the webhook object of our page or Instagram account id.
func (m *Meta) pageObject(ourID string) string {
	for _, id := range m.cfg.InstagramIDs {
		if id == ourID {
			return "instagram"
		}
	}
	return "page"
}

// messaging posts one Messenger or Instagram messaging event from contact to ourID.
func (m *Meta) messaging(ourID, contact string, event map[string]any) {
	now := m.cfg.Now().UnixMilli()
	event["sender"] = map[string]string{"id": contact}
	event["recipient"] = map[string]string{"id": ourID}
	event["timestamp"] = now
	m.post(map[string]any{"object": m.pageObject(ourID), "entry": []any{map[string]any{
		"id": ourID, "time": now, "messaging": []any{event},
	}}})
}

// Say posts a customer's message to our address: a page or Instagram account id, or a
// WhatsApp Cloud number (E.164) the sandbox serves.
func (m *Meta) Say(ours, contact, text string) (string, error) {
	if strings.HasPrefix(ours, "+") {
		for pnid, number := range m.cfg.PhoneNumberIDs {
			if number != ours {
				continue
			}
			wamid := "wamid.sandbox" + m.nextID()
			m.post(map[string]any{"object": "whatsapp_business_account", "entry": []any{map[string]any{
				"id": "sandbox-waba", "changes": []any{map[string]any{"field": "messages", "value": map[string]any{
					"messaging_product": "whatsapp",
					"metadata":          map[string]string{"display_phone_number": strings.TrimPrefix(number, "+"), "phone_number_id": pnid},
					"contacts":          []any{map[string]any{"profile": map[string]string{"name": "Sandbox Customer"}, "wa_id": strings.TrimPrefix(contact, "+")}},
					"messages": []any{map[string]any{
						"from": strings.TrimPrefix(contact, "+"), "id": wamid, "timestamp": strconv.FormatInt(m.cfg.Now().Unix(), 10),
						"type": "text", "text": map[string]string{"body": text},
					}},
				}}},
			}}})
			return wamid, nil
		}
		return "", ErrUnknownAddress
	}
	mid := "m_sandbox" + m.nextID()
	m.messaging(ours, contact, map[string]any{"message": map[string]string{"mid": mid, "text": text}})
	return mid, nil
}

// Unsend posts that contact deleted their message mid (Instagram's is_deleted).
func (m *Meta) Unsend(ours, contact, mid string) error {
	if m.pageObject(ours) != "instagram" {
		return errors.New("sandbox meta: only Instagram reports an unsent message")
	}
	m.messaging(ours, contact, map[string]any{"message": map[string]any{"mid": mid, "is_deleted": true}})
	return nil
}

// StoryMention posts that contact mentioned our Instagram account in their story.
func (m *Meta) StoryMention(ours, contact string) (string, error) {
	if m.pageObject(ours) != "instagram" {
		return "", errors.New("sandbox meta: story mentions are Instagram's")
	}
	mid := "m_sandbox" + m.nextID()
	m.messaging(ours, contact, map[string]any{"message": map[string]any{"mid": mid, "attachments": []any{map[string]any{
		"type": "story_mention", "payload": map[string]string{"url": m.storyURL()},
	}}}})
	return mid, nil
}

// xUsers is the users object of an X account activity payload.
func xUsers(us, contact string) map[string]any {
	return map[string]any{
		contact: map[string]string{"id": contact, "name": "Sandbox Customer", "screen_name": "sandbox_customer"},
		us:      map[string]string{"id": us, "name": "Sandbox Queue", "screen_name": "sandbox_queue"},
	}
}

// Say posts a direct message from contact to our account us.
func (x *X) Say(us, contact, text string) (string, error) {
	id := x.nextID()
	x.dm(us, contact, id, map[string]any{"text": text})
	return id, nil
}

// dm posts the direct message event id from contact to us with data as its
// message_data.
func (x *X) dm(us, contact, id string, data map[string]any) {
	x.post(map[string]any{
		"for_user_id": us,
		"direct_message_events": []any{map[string]any{
			"type": "message_create", "id": id, "created_timestamp": strconv.FormatInt(x.cfg.Now().UnixMilli(), 10),
			"message_create": map[string]any{
				"target":       map[string]string{"recipient_id": us},
				"sender_id":    contact,
				"message_data": data,
			},
		}},
		"users": xUsers(us, contact),
	})
}

// Typing posts that contact is typing to our account us.
func (x *X) Typing(us, contact string) {
	x.post(map[string]any{
		"for_user_id": us,
		"direct_message_indicate_typing_events": []any{map[string]any{
			"created_timestamp": strconv.FormatInt(x.cfg.Now().UnixMilli(), 10),
			"sender_id":         contact, "target": map[string]string{"recipient_id": us},
		}},
		"users": xUsers(us, contact),
	})
}

// Say posts a text from contact to the integration.
func (o *OpenIntegration) Say(contact, text string) (string, error) {
	id := "sandbox-" + openRandomID()
	o.post(openMessage{
		Channel: openChannel{
			Platform: "Open", Type: "Private", MessageID: id,
			To:   &openParty{ID: o.cfg.Integration},
			From: &openParty{ID: contact, IDType: "Opaque", Nickname: "Sandbox Customer"},
			Time: openNow(),
		},
		Type: "Text", Text: text, Direction: "Inbound",
	})
	return id, nil
}

// Typing posts that contact started (on) or stopped typing.
func (o *OpenIntegration) Typing(contact string, on bool) {
	state := "Off"
	if on {
		state = "On"
	}
	o.post(openMessage{
		Channel: openChannel{
			Platform: "Open", Type: "Private",
			To:   &openParty{ID: o.cfg.Integration},
			From: &openParty{ID: contact, IDType: "Opaque"},
			Time: openNow(),
		},
		Type:      "Event",
		Events:    []openEvent{{EventType: "Typing", Typing: &openTyping{Type: state}}},
		Direction: "Inbound",
	})
}

// storyURL is a story's CDN link: on the sandbox's own CDN when it knows its base URL,
// so the story can be fetched through omnigate until it expires.
func (m *Meta) storyURL() string {
	if m.cfg.BaseURL == "" {
		return "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=sandbox" + m.nextID()
	}
	return m.cfg.BaseURL + "/cdn/story" + m.nextID() + ".png?signature=sandbox"
}

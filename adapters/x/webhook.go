package x

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/adapters"
)

type activity struct {
	ForUserID string           `json:"for_user_id"`
	DMs       []dmEvent        `json:"direct_message_events"`
	Typing    []indicatorEvent `json:"direct_message_indicate_typing_events"`
	Reads     []indicatorEvent `json:"direct_message_mark_read_events"`
	Users     map[string]user  `json:"users"`
}

type user struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	ScreenName string `json:"screen_name"`
}

type dmEvent struct {
	Type             string `json:"type"`
	ID               string `json:"id"`
	CreatedTimestamp string `json:"created_timestamp"`
	MessageCreate    struct {
		Target struct {
			RecipientID string `json:"recipient_id"`
		} `json:"target"`
		SenderID    string `json:"sender_id"`
		MessageData struct {
			Text       string `json:"text"`
			Attachment *struct {
				Type  string `json:"type"`
				Media struct {
					MediaURLHTTPS string `json:"media_url_https"`
					Type          string `json:"type"`
				} `json:"media"`
			} `json:"attachment"`
		} `json:"message_data"`
	} `json:"message_create"`
}

type indicatorEvent struct {
	CreatedTimestamp string `json:"created_timestamp"`
	SenderID         string `json:"sender_id"`
	Target           struct {
		RecipientID string `json:"recipient_id"`
	} `json:"target"`
	LastReadEventID string `json:"last_read_event_id"`
}

// ParseWebhook verifies the signature and returns the Account Activity events for
// for_user_id: each DM (the account's own as EventEcho), each typing indicator of a
// contact, and each read receipt (EventStatus read for last_read_event_id). Other
// activity (follows, likes, posts) is skipped. Errors: adapters.ErrBadSignature,
// adapters.ErrMalformed.
func (x *X) ParseWebhook(r *http.Request, body []byte) ([]adapters.Event, error) {
	if !Verify(x.cfg.ConsumerSecret, r.Header.Get(SignatureHeader), body) {
		return nil, adapters.ErrBadSignature
	}
	var a activity
	if err := json.Unmarshal(body, &a); err != nil {
		return nil, fmt.Errorf("x: %w: %v", adapters.ErrMalformed, err)
	}
	if a.ForUserID == "" {
		return nil, fmt.Errorf("x: %w: no for_user_id", adapters.ErrMalformed)
	}
	var out []adapters.Event
	for _, dm := range a.DMs {
		if dm.Type != "message_create" {
			continue
		}
		mc := dm.MessageCreate
		ev := adapters.Event{
			Kind: adapters.EventMessage, Channel: omnigate.X, ProviderMessageID: dm.ID,
			Address: mc.Target.RecipientID, ContactAddress: mc.SenderID,
			Text: mc.MessageData.Text, Timestamp: millis(dm.CreatedTimestamp),
		}
		if mc.SenderID == a.ForUserID {
			ev.Kind, ev.Address, ev.ContactAddress = adapters.EventEcho, mc.SenderID, mc.Target.RecipientID
		}
		ev.ContactName = a.Users[ev.ContactAddress].Name
		if att := mc.MessageData.Attachment; att != nil && att.Media.MediaURLHTTPS != "" {
			ev.Media = []omnigate.Media{{URL: att.Media.MediaURLHTTPS, ContentType: mediaType(att.Media.Type)}}
		}
		out = append(out, ev)
	}
	for _, t := range a.Typing {
		if t.SenderID == a.ForUserID {
			continue // our own indicator, shown by us
		}
		out = append(out, adapters.Event{
			Kind: adapters.EventTyping, Channel: omnigate.X, Typing: true,
			Address: t.Target.RecipientID, ContactAddress: t.SenderID,
			ContactName: a.Users[t.SenderID].Name, Timestamp: millis(t.CreatedTimestamp),
		})
	}
	for _, rd := range a.Reads {
		if rd.SenderID == a.ForUserID || rd.LastReadEventID == "" {
			continue // we read theirs: nothing to report on our messages
		}
		out = append(out, adapters.Event{
			Kind: adapters.EventStatus, Channel: omnigate.X, Status: omnigate.StatusRead,
			ProviderMessageID: rd.LastReadEventID,
			Address:           rd.Target.RecipientID, ContactAddress: rd.SenderID,
			Timestamp: millis(rd.CreatedTimestamp),
		})
	}
	return out, nil
}

func millis(s string) time.Time {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n == 0 {
		return time.Time{}
	}
	return time.UnixMilli(n).UTC()
}

func mediaType(t string) string {
	switch t {
	case "photo":
		return "image/*"
	case "video", "animated_gif":
		return "video/*"
	}
	return ""
}

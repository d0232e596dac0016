package messaging

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/adapters"
	"github.com/omnigate/omnigate/store"
)

// DefaultMediaMaxBytes is the largest attachment GET /v1/media/{id} streams when the
// configuration names no other cap: WhatsApp's largest document is 100 MB.
const DefaultMediaMaxBytes = 100 << 20

// MaxHeldMedia is how many ephemeral links (story mentions) are held in memory at once.
// Beyond it a new one is not held and its media is unavailable at once: memory is
// bounded whatever a carrier sends.
const MaxHeldMedia = 10000

// heldLink is an ephemeral link, in memory only.
type heldLink struct {
	url     string
	expires time.Time
}

// mediaHold holds ephemeral links (Instagram story mentions) in memory until they
// expire. Nothing in it is ever written anywhere: after a restart it is empty and the
// media it held is unavailable.
type mediaHold struct {
	mu    sync.Mutex
	links map[string]heldLink
}

func (h *mediaHold) put(id, url string, expires, now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.links == nil {
		h.links = map[string]heldLink{}
	}
	if len(h.links) >= MaxHeldMedia {
		for k, l := range h.links {
			if !now.Before(l.expires) {
				delete(h.links, k)
			}
		}
		if len(h.links) >= MaxHeldMedia {
			return false
		}
	}
	h.links[id] = heldLink{url: url, expires: expires}
	return true
}

// get returns the link of id while it has not expired at now.
func (h *mediaHold) get(id string, now time.Time) (string, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	l, ok := h.links[id]
	if ok && !now.Before(l.expires) {
		delete(h.links, id)
		return "", false
	}
	return l.url, ok
}

func (h *mediaHold) drop(ids []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, id := range ids {
		delete(h.links, id)
	}
}

// mediaURL is the omnigate URL of media id.
func (s *Service) mediaURL(id string) string {
	return strings.TrimRight(s.cfg.MediaBaseURL, "/") + "/v1/media/" + id
}

// fetcher returns the adapter that fetches ch's inbound media, if any.
func (s *Service) fetcher(ch omnigate.Channel) (adapters.MediaFetcher, bool) {
	if s.cfg.Registry == nil {
		return nil, false
	}
	a, ok := s.cfg.Registry.For(ch)
	if !ok {
		return nil, false
	}
	f, ok := a.(adapters.MediaFetcher)
	return f, ok
}

// inboundMedia records each attachment of an inbound message as a media reference and
// returns the message's media as omnigate URLs. Ephemeral links are held in memory
// only (their ids are appended to held, to be dropped if the transaction fails); the
// stored reference has no locator. A channel whose carrier cannot fetch media (open
// messaging) keeps the URLs its integration sent.
func (s *Service) inboundMedia(tx store.Tx, ev adapters.Event, convID, msgID string, expires, now time.Time, held *[]string) ([]omnigate.Media, error) {
	if len(ev.Media) == 0 {
		return nil, nil
	}
	if _, ok := s.fetcher(ev.Channel); !ok {
		if ev.Ephemeral {
			return nil, nil
		}
		return ev.Media, nil
	}
	out := make([]omnigate.Media, 0, len(ev.Media))
	for _, md := range ev.Media {
		id := NewID("med")
		ref := store.MediaRef{ID: id, ConversationID: convID, MessageID: msgID, Channel: ev.Channel, Address: ev.Address,
			ContentType: md.ContentType, CreatedAt: now}
		if ev.Ephemeral {
			ref.Ephemeral, ref.ExpiresAt = true, expires
			if s.media.put(id, md.URL, expires, now) {
				*held = append(*held, id)
			}
		} else {
			ref.Locator = md.URL
		}
		if err := tx.InsertMedia(ref); err != nil {
			return nil, err
		}
		out = append(out, omnigate.Media{ID: id, URL: s.mediaURL(id), ContentType: md.ContentType, Ephemeral: ev.Ephemeral})
	}
	return out, nil
}

// MediaStream is an attachment being streamed from its carrier. The caller closes Body.
type MediaStream struct {
	Body        io.ReadCloser
	ContentType string
	Length      int64 // -1 when the carrier did not say
}

// ErrMediaTooLarge is what reading a MediaStream's Body returns past the size cap.
var ErrMediaTooLarge = errors.New("media: larger than the size cap")

// Media starts streaming attachment id from its carrier, with the carrier's
// credentials, to a principal who may see the conversation it belongs to (a member of
// the conversation's current queue, or a key with admin or routing permission). Nothing
// is kept: every call fetches afresh. Ephemeral media is served only while its link is
// held and unexpired.
func (s *Service) Media(ctx context.Context, p omnigate.Principal, id string) (MediaStream, error) {
	notFound := refuse(KindNotFound, "media_not_found", "no media with this id", nil)
	ref, err := s.cfg.Store.Media(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return MediaStream{}, notFound
	}
	if err != nil {
		return MediaStream{}, err
	}
	if _, err := s.visible(ctx, p, ref.ConversationID); err != nil {
		var refusal *Error
		if errors.As(err, &refusal) && refusal.Kind == KindNotFound {
			return MediaStream{}, notFound
		}
		return MediaStream{}, err
	}
	locator := ref.Locator
	if ref.Ephemeral {
		link, ok := s.media.get(ref.ID, s.cfg.Now())
		if !ok {
			return MediaStream{}, refuse(KindGone, "media_expired",
				"this media was ephemeral (a story mention) and is no longer available", nil)
		}
		locator = link
	}
	f, ok := s.fetcher(ref.Channel)
	if !ok {
		return MediaStream{}, refuse(KindUnavailable, "media_unavailable", "no carrier for "+string(ref.Channel)+" can fetch this media", nil)
	}
	resp, err := f.FetchMedia(ctx, s.mediaClient(), ref.Channel, ref.Address, locator)
	switch {
	case errors.Is(err, adapters.ErrMediaGone):
		return MediaStream{}, refuse(KindGone, "media_gone", "the carrier no longer has this media", nil)
	case ctx.Err() != nil:
		return MediaStream{}, ctx.Err()
	case err != nil:
		s.cfg.Log.Warn("media: fetch failed", "media_id", ref.ID, "channel", ref.Channel, "err", err)
		return MediaStream{}, refuse(KindUnavailable, "media_unavailable", "the carrier did not serve this media", nil)
	}
	max := s.cfg.MediaMaxBytes
	if resp.ContentLength > max {
		resp.Body.Close()
		return MediaStream{}, refuse(KindUnavailable, "media_too_large",
			fmt.Sprintf("the media is larger than the %d-byte cap", max), map[string]any{"max_bytes": max})
	}
	return MediaStream{Body: &cappedBody{rc: resp.Body, left: max}, Length: resp.ContentLength,
		ContentType: mediaType(ref.ContentType, resp.Header.Get("Content-Type"))}, nil
}

func (s *Service) mediaClient() *http.Client {
	if s.cfg.MediaClient != nil {
		return s.cfg.MediaClient
	}
	return http.DefaultClient
}

// mediaType is the Content-Type to serve: the carrier's own MIME type when it gave a
// whole one, else what the download answered, else octet-stream.
func mediaType(recorded, answered string) string {
	for _, t := range []string{recorded, answered} {
		if mt, _, err := mime.ParseMediaType(t); err == nil && !strings.Contains(mt, "*") && strings.Contains(mt, "/") {
			return t
		}
	}
	return "application/octet-stream"
}

// cappedBody fails a read past the size cap, whatever the carrier announced.
type cappedBody struct {
	rc   io.ReadCloser
	left int64
}

func (c *cappedBody) Read(p []byte) (int, error) {
	if c.left <= 0 {
		// One byte more tells a body exactly at the cap from a longer one.
		var one [1]byte
		if n, _ := c.rc.Read(one[:]); n > 0 {
			return 0, ErrMediaTooLarge
		}
		return c.rc.Read(p[:0])
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.rc.Read(p)
	c.left -= int64(n)
	return n, err
}

func (c *cappedBody) Close() error { return c.rc.Close() }

// PrepareEvent marks, in a platform event about to be posted, every ephemeral media
// whose link is no longer held (omnigate restarted, or it expired) as
// "available": false. Other events pass unchanged. It is the events sink's Prepare.
func (s *Service) PrepareEvent(body []byte) []byte {
	if !bytes.Contains(body, []byte(`"ephemeral":true`)) {
		return body
	}
	var ev map[string]json.RawMessage
	if json.Unmarshal(body, &ev) != nil {
		return body
	}
	var data map[string]json.RawMessage
	if json.Unmarshal(ev["data"], &data) != nil {
		return body
	}
	var media []map[string]any
	if json.Unmarshal(data["media"], &media) != nil {
		return body
	}
	now := s.cfg.Now()
	for _, m := range media {
		if eph, _ := m["ephemeral"].(bool); !eph {
			continue
		}
		id, _ := m["id"].(string)
		_, held := s.media.get(id, now)
		m["available"] = held
	}
	var err error
	if data["media"], err = json.Marshal(media); err != nil {
		return body
	}
	if ev["data"], err = json.Marshal(data); err != nil {
		return body
	}
	out, err := json.Marshal(ev)
	if err != nil {
		return body
	}
	return out
}

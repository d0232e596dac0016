package sandbox

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
)

// This file is the carriers' media as the sandbox serves it, with each carrier's own
// credential check, so inbound attachments can be fetched through omnigate without any
// account: Twilio's Media resource (HTTP basic auth with the account SID and auth
// token), WhatsApp Cloud's media id lookup and download (the token, twice), Meta's CDN
// for Messenger and Instagram attachments (signed URLs, no token) and X's DM media
// (the receiving account's user token).

var (
	photoOnce sync.Once
	photo     []byte
)

// Photo is the picture every sandbox customer sends: a small PNG.
func Photo() []byte {
	photoOnce.Do(func() {
		img := image.NewRGBA(image.Rect(0, 0, 48, 48))
		for y := range 48 {
			for x := range 48 {
				img.Set(x, y, color.RGBA{uint8(x * 5), uint8(y * 5), 200, 255})
			}
		}
		var b bytes.Buffer
		_ = png.Encode(&b, img)
		photo = b.Bytes()
	})
	return photo
}

func servePhoto(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Content-Length", strconv.Itoa(len(Photo())))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(Photo())
}

// twilioMedia serves GET /2010-04-01/Accounts/{sid}/Messages/{msid}/Media/{mid}.
func (t *Twilio) twilioMedia(w http.ResponseWriter, r *http.Request) {
	if !t.authorized(w, r, true) {
		return
	}
	servePhoto(w)
}

// SayPhoto posts a customer's picture with a caption, as Twilio posts an inbound MMS
// (or WhatsApp image): NumMedia 1, MediaUrl0 on the sandbox's Media resource.
func (t *Twilio) SayPhoto(contact, to, caption string) (string, error) {
	if t.cfg.InboundURL == "" || t.cfg.BaseURL == "" {
		return "", errors.New("sandbox twilio: no inbound or base url")
	}
	sid := newTwilioSID("MM")
	t.postInbound(sid, contact, to, caption, "image", url.Values{"NumMedia": {"1"}, "MediaContentType0": {"image/png"},
		"MediaUrl0": {t.cfg.BaseURL + "/2010-04-01/Accounts/" + t.cfg.AccountSID + "/Messages/" + sid + "/Media/" + newTwilioSID("ME")}})
	return sid, nil
}

// graphToken checks the WhatsApp token when one is configured.
func (m *Meta) graphToken(w http.ResponseWriter, r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" || (m.cfg.WhatsAppToken != "" && !twilioSecretEqual(tok, m.cfg.WhatsAppToken)) {
		graphFail(w, http.StatusUnauthorized, 190, "Invalid OAuth access token - Cannot parse access token")
		return false
	}
	return true
}

// mediaURL serves GET /{version}/{media-id}: Retrieve Media URL.
func (m *Meta) mediaURL(w http.ResponseWriter, r *http.Request) {
	if !m.graphToken(w, r) {
		return
	}
	id := r.PathValue("id")
	if !allDigits(id) {
		graphFail(w, http.StatusBadRequest, 100, "(#100) Unsupported get request.")
		return
	}
	if pnid := r.URL.Query().Get("phone_number_id"); pnid != "" && m.cfg.PhoneNumberIDs[pnid] == "" {
		graphFail(w, http.StatusBadRequest, 100, "(#100) The media does not belong to this phone number")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{
		"messaging_product": "whatsapp", "id": id, "mime_type": "image/png",
		"sha256": "sandbox", "file_size": strconv.Itoa(len(Photo())),
		"url": m.cfg.BaseURL + "/whatsapp-media/" + id + "?ext=sandbox",
	})
}

// mediaDownload serves the URL mediaURL answered, to the same token.
func (m *Meta) mediaDownload(w http.ResponseWriter, r *http.Request) {
	if m.graphToken(w, r) {
		servePhoto(w)
	}
}

// SayPhoto posts a customer's picture to our address: a WhatsApp Cloud image message
// (a media id) for a number, else a Messenger or Instagram image attachment (a CDN URL).
func (m *Meta) SayPhoto(ours, contact, caption string) (string, error) {
	if m.cfg.BaseURL == "" {
		return "", errors.New("sandbox meta: no base url")
	}
	if strings.HasPrefix(ours, "+") {
		for pnid, number := range m.cfg.PhoneNumberIDs {
			if number != ours {
				continue
			}
			wamid := "wamid.sandbox" + m.nextID()
			mediaID := strconv.FormatUint(m.idBase+m.seq.Add(1), 10)
			m.post(map[string]any{"object": "whatsapp_business_account", "entry": []any{map[string]any{
				"id": "sandbox-waba", "changes": []any{map[string]any{"field": "messages", "value": map[string]any{
					"messaging_product": "whatsapp",
					"metadata":          map[string]string{"display_phone_number": strings.TrimPrefix(number, "+"), "phone_number_id": pnid},
					"contacts":          []any{map[string]any{"profile": map[string]string{"name": "Sandbox Customer"}, "wa_id": strings.TrimPrefix(contact, "+")}},
					"messages": []any{map[string]any{
						"from": strings.TrimPrefix(contact, "+"), "id": wamid, "timestamp": strconv.FormatInt(m.cfg.Now().Unix(), 10),
						"type": "image", "image": map[string]string{"caption": caption, "mime_type": "image/png", "sha256": "sandbox", "id": mediaID},
					}},
				}}},
			}}})
			return wamid, nil
		}
		return "", ErrUnknownAddress
	}
	mid := "m_sandbox" + m.nextID()
	m.messaging(ours, contact, map[string]any{"message": map[string]any{"mid": mid, "attachments": []any{map[string]any{
		"type": "image", "payload": map[string]string{"url": m.cfg.BaseURL + "/cdn/" + m.nextID() + ".png?_nc_sig=sandbox"},
	}}}})
	return mid, nil
}

// xMedia serves DM media to a known user token.
func (x *X) xMedia(w http.ResponseWriter, r *http.Request) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if _, known := x.cfg.Tokens[tok]; !ok || !known {
		xProblem(w, http.StatusUnauthorized, "about:blank", "Unauthorized", "Unauthorized")
		return
	}
	servePhoto(w)
}

// SayPhoto posts a direct message with a photo from contact to our account us.
func (x *X) SayPhoto(us, contact, caption string) (string, error) {
	if x.cfg.BaseURL == "" {
		return "", errors.New("sandbox x: no base url")
	}
	id := x.nextID()
	x.dm(us, contact, id, map[string]any{"text": caption, "attachment": map[string]any{"type": "media", "media": map[string]any{
		"id_str": id, "type": "photo", "media_url_https": x.cfg.BaseURL + "/1.1/ton/data/dm/" + id + "/" + id + "/photo.png",
	}}})
	return id, nil
}

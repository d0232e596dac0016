package e2e_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/omnigate/omnigate"
)

// The carriers' media, as the fakes serve it: each path has its own bytes (binary,
// larger than one read), so a mix-up or a truncation shows.
func mediaBytes(path string) []byte {
	var b bytes.Buffer
	sum := sha256.Sum256([]byte(path))
	for b.Len() < 70000 {
		b.Write(sum[:])
		sum = sha256.Sum256(sum[:])
	}
	return b.Bytes()
}

func serveBytes(w http.ResponseWriter, r *http.Request, contentType string) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(http.StatusOK)
	w.Write(mediaBytes(r.URL.Path))
}

// serveTwilioMedia serves /2010-04-01/Accounts/{sid}/Messages/{MM}/Media/{ME} to HTTP
// basic auth with the account SID and auth token, as Twilio does with media
// authentication on; anything else is Twilio's 401 (20003).
func serveTwilioMedia(w http.ResponseWriter, r *http.Request) {
	user, pass, ok := r.BasicAuth()
	if !ok || user != twilioSID || pass != twilioToken {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"code": 20003, "message": "Authenticate", "status": 401})
		return
	}
	if !strings.HasPrefix(r.URL.Path, "/2010-04-01/Accounts/"+twilioSID+"/Messages/") || !strings.Contains(r.URL.Path, "/Media/") {
		writeJSON(w, http.StatusNotFound, map[string]any{"code": 20404, "message": "not found", "status": 404})
		return
	}
	serveBytes(w, r, "image/jpeg")
}

// serveGraphMedia is Graph's media: GET /v23.0/{media-id} with the WhatsApp token
// answers the download URL (Retrieve Media URL), which serves the bytes to the same
// token; /cdn/ is Meta's CDN for Messenger and Instagram attachments (signed URLs, no
// token).
func (h *harness) serveGraphMedia(w http.ResponseWriter, r *http.Request) {
	graphAuth := func() bool {
		if r.Header.Get("Authorization") != "Bearer wa-token" {
			writeJSON(w, http.StatusUnauthorized, map[string]any{"error": map[string]any{
				"message": "Invalid OAuth access token.", "type": "OAuthException", "code": 190}})
			return false
		}
		return true
	}
	switch p := r.URL.Path; {
	case strings.HasPrefix(p, "/cdn/"):
		serveBytes(w, r, "image/png")
	case strings.HasPrefix(p, "/whatsapp-media/"):
		if graphAuth() {
			serveBytes(w, r, "image/jpeg")
		}
	case strings.HasPrefix(p, "/v23.0/"):
		if !graphAuth() {
			return
		}
		id := strings.TrimPrefix(p, "/v23.0/")
		if r.URL.Query().Get("phone_number_id") != waPhoneNumberID {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]any{
				"message": "(#100) The media does not belong to this phone number", "type": "OAuthException", "code": 100}})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"messaging_product": "whatsapp", "id": id, "mime_type": "image/jpeg",
			"sha256": "3mN2c0KzCkPu3ZfD0T3Th6Z2Ykf0Xo6BzBC1nvyJ3UQ=", "file_size": "70016",
			"url": h.graph.srv.URL + "/whatsapp-media/" + id + "?ext=1&hash=ATsV"})
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

// serveXMedia serves DM attachments to the receiving account's user token.
func serveXMedia(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer x-user-token" {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"})
		return
	}
	serveBytes(w, r, "image/jpeg")
}

// carrierCalls is what f received apart from User Profile API look-ups: those
// (GET /{user-id}?fields=...) follow a new contact's first message in the background,
// at any moment of a test.
func carrierCalls(f *fake) []request {
	var out []request
	for _, r := range f.requests() {
		if !strings.Contains(r.Query, "fields=") {
			out = append(out, r)
		}
	}
	return out
}

// getMedia fetches a URL with key's token.
func (h *harness) getMedia(t *testing.T, key, u string) (int, string, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), b
}

// inboundMediaEvent waits for the message.inbound event of conversation conv and
// returns its media.
func (h *harness) inboundMediaEvent(t *testing.T, contact string) (conv string, media []omnigate.Media) {
	t.Helper()
	waitFor(t, "the inbound event from "+contact, func() bool {
		for _, e := range h.eventsOf("message.inbound") {
			var d struct {
				From  string           `json:"from"`
				Media []omnigate.Media `json:"media"`
			}
			json.Unmarshal(e.Data, &d)
			if d.From == contact {
				conv, media = e.ConversationID, d.Media
				return true
			}
		}
		return false
	})
	return conv, media
}

// TestInboundMediaThroughOmnigate: an attachment from each carrier reaches the platform
// as an omnigate /v1/media/{id} URL, never the carrier's; fetching it streams the
// carrier's bytes, fetched with the carrier's credentials (as the fake carrier saw
// them), to a member of the conversation's queue, and an agent of another queue is
// refused. History shows the same URL.
func TestInboundMediaThroughOmnigate(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	at := h.clk.Now()
	cases := []struct {
		name, contact, carrierPath, contentType string
		post                                    func()
		fake                                    *fake
		auth                                    string // the Authorization the carrier must have seen
	}{{
		name: "twilio", contact: "+14155550111", contentType: "image/jpeg", fake: h.twilio,
		carrierPath: "/2010-04-01/Accounts/" + twilioSID + "/Messages/MM0000000000000000000000000000media/Media/ME0000000000000000000000000000media",
		auth:        "Basic " + basic(twilioSID, twilioToken),
		post: func() {
			sid := "MM0000000000000000000000000000media"
			h.postTwilioForm(t, url.Values{"AccountSid": {twilioSID}, "ApiVersion": {"2010-04-01"}, "MessageSid": {sid},
				"SmsSid": {sid}, "SmsMessageSid": {sid}, "SmsStatus": {"received"}, "From": {"+14155550111"}, "To": {supportSMS},
				"Body": {""}, "NumMedia": {"1"}, "NumSegments": {"1"}, "MediaContentType0": {"image/jpeg"},
				"MediaUrl0": {h.twilio.srv.URL + "/2010-04-01/Accounts/" + twilioSID + "/Messages/" + sid + "/Media/ME0000000000000000000000000000media"}})
		},
	}, {
		name: "whatsapp cloud", contact: "+14155550112", contentType: "image/jpeg", fake: h.graph,
		carrierPath: "/whatsapp-media/1482193762466710", auth: "Bearer wa-token",
		post: func() {
			h.postMeta(t, payload(t, "whatsapp_image", inbound{From: "14155550112", MID: "wamid.media1", Name: "Wanda",
				Text: "the receipt", URL: "1482193762466710", At: at}))
		},
	}, {
		name: "messenger", contact: "2461718453865678", contentType: "image/png", fake: h.graph,
		carrierPath: "/cdn/messenger/photo1.png",
		post: func() {
			h.postMeta(t, payload(t, "messenger_image", inbound{Page: pageID, From: "2461718453865678", MID: "m_media1",
				URL: h.graph.srv.URL + "/cdn/messenger/photo1.png?_nc_sig=abc", At: at}))
		},
	}, {
		name: "instagram", contact: "5318329871520001", contentType: "image/png", fake: h.graph,
		carrierPath: "/cdn/instagram/photo2.png",
		post: func() {
			h.postMeta(t, payload(t, "instagram_image", inbound{Page: igAccount, From: "5318329871520001", MID: "ig_media1",
				URL: h.graph.srv.URL + "/cdn/instagram/photo2.png?_nc_sig=def", At: at}))
		},
	}, {
		name: "x", contact: "9876500001", contentType: "image/jpeg", fake: h.xapi,
		carrierPath: "/1.1/ton/data/dm/1460727347187773440/1460727347187773441/abc.jpg", auth: "Bearer x-user-token",
		post: func() {
			h.postX(t, payload(t, "x_dm_photo", inbound{Page: xUser, From: "9876500001", MID: "1460727347187773442",
				Name: "Xena", URL: h.xapi.srv.URL + "/1.1/ton/data/dm/1460727347187773440/1460727347187773441/abc.jpg", At: at}))
		},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.post()
			conv, media := h.inboundMediaEvent(t, tc.contact)
			if len(media) != 1 || media[0].ID == "" || media[0].URL != h.url+"/v1/media/"+media[0].ID {
				t.Fatalf("event media = %+v, want one omnigate media URL", media)
			}
			before := len(carrierCalls(tc.fake))
			code, ct, got := h.getMedia(t, annKey, media[0].URL)
			if code != http.StatusOK {
				t.Fatalf("GET %s: %d %s", media[0].URL, code, got)
			}
			if want := mediaBytes(tc.carrierPath); !bytes.Equal(got, want) {
				t.Errorf("streamed %d bytes, want the carrier's %d", len(got), len(want))
			}
			if ct != tc.contentType {
				t.Errorf("Content-Type = %q, want %q", ct, tc.contentType)
			}
			var seen []request
			for _, r := range carrierCalls(tc.fake)[before:] {
				seen = append(seen, r)
				if got := r.Header.Get("Authorization"); got != tc.auth {
					t.Errorf("the carrier saw Authorization %q on %s, want %q", got, r.Path, tc.auth)
				}
				if got := r.Header.Get("User-Agent"); got != omnigate.UserAgent() {
					t.Errorf("the carrier saw User-Agent %q on %s, want %q", got, r.Path, omnigate.UserAgent())
				}
			}
			if len(seen) == 0 || seen[len(seen)-1].Path != tc.carrierPath {
				t.Errorf("the carrier served %v, want the download of %s last", seen, tc.carrierPath)
			}
			// dan works billing only: the conversation is support's.
			code, _, body := h.getMedia(t, danKey, media[0].URL)
			var out obj
			json.Unmarshal(body, &out)
			wantError(t, "another queue's agent", code, out, http.StatusNotFound, "media_not_found")
			if n := len(carrierCalls(tc.fake)); n != before+len(seen) {
				t.Errorf("a refused fetch reached the carrier")
			}

			_, raw := h.callRaw(t, annKey, http.MethodGet, "/v1/conversations/"+conv, nil)
			if !bytes.Contains(raw, []byte(media[0].URL)) || bytes.Contains(raw, []byte(tc.carrierPath)) {
				t.Errorf("history should show the omnigate URL and not the carrier's: %s", raw)
			}
		})
	}

	code, _, _ := h.getMedia(t, annKey, h.url+"/v1/media/med_unknown")
	if code != http.StatusNotFound {
		t.Errorf("unknown media: %d, want 404", code)
	}
}

func basic(user, pass string) string {
	req, _ := http.NewRequest(http.MethodGet, "http://x/", nil)
	req.SetBasicAuth(user, pass)
	return strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ")
}

package meta

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/adapters"
)

var _ adapters.MediaFetcher = (*Meta)(nil)

// whatsAppMediaPrefix marks an inbound WhatsApp Cloud attachment's locator: the media
// id, which only a Graph call with the token turns into a download URL.
const whatsAppMediaPrefix = "whatsapp-media:"

// FetchMedia downloads an inbound attachment. WhatsApp Cloud: GET /{media-id} with the
// system-user token (and phone_number_id, so Graph checks the media is our number's)
// answers a URL valid for minutes, downloaded with the same token. Messenger and
// Instagram: the attachment's CDN URL is signed and fetched as it is, without a token,
// so no token ever goes to a host that is not Graph's or the one Graph named.
func (m *Meta) FetchMedia(ctx context.Context, client *http.Client, ch omnigate.Channel, address, locator string) (*http.Response, error) {
	id, ok := strings.CutPrefix(locator, whatsAppMediaPrefix)
	if !ok {
		return adapters.GetMedia(ctx, client, locator, nil)
	}
	if ch != omnigate.WhatsApp || m.cfg.WhatsAppToken == "" || !numeric(id, 64) {
		return nil, errors.New("meta: not a WhatsApp media id this account can fetch")
	}
	bearer := func(r *http.Request) {
		r.Header.Set("Authorization", "Bearer "+m.cfg.WhatsAppToken)
		r.Header.Set("Accept", "application/json")
	}
	u := m.graph + "/" + id
	if pnid := m.cfg.WhatsAppPhoneNumberIDs[address]; pnid != "" {
		u += "?" + url.Values{"phone_number_id": {pnid}}.Encode()
	}
	resp, err := adapters.GetMedia(ctx, client, u, bearer)
	if err != nil {
		return nil, err
	}
	var info struct {
		URL      string `json:"url"`
		MimeType string `json:"mime_type"`
	}
	err = json.NewDecoder(io.LimitReader(resp.Body, maxResponseBytes)).Decode(&info)
	resp.Body.Close()
	if err != nil || info.URL == "" {
		return nil, errors.New("meta: the media lookup answered no url")
	}
	return adapters.GetMedia(ctx, client, info.URL, func(r *http.Request) {
		r.Header.Set("Authorization", "Bearer "+m.cfg.WhatsAppToken)
	})
}

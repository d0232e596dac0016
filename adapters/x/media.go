package x

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/adapters"
)

var _ adapters.MediaFetcher = (*X)(nil)

// mediaHosts serve DM attachments; they answer only requests authorised as a
// participant of the conversation.
var mediaHosts = []string{"ton.twitter.com", "ton.x.com"}

// FetchMedia downloads a DM attachment (media_url_https) authorised with the user token
// of our account the DM reached. Only X's media hosts (and BaseURL's host, for a
// sandbox) get the token.
func (x *X) FetchMedia(ctx context.Context, client *http.Client, _ omnigate.Channel, address, locator string) (*http.Response, error) {
	u, err := url.Parse(locator)
	if err != nil || u.Host == "" {
		return nil, errors.New("x: media URL is not absolute")
	}
	host := strings.ToLower(u.Hostname())
	known := adapters.SameHost(locator, x.base)
	for _, h := range mediaHosts {
		known = known || (host == h && u.Scheme == "https")
	}
	if !known {
		return nil, errors.New("x: media URL is not on X's media host")
	}
	token := x.cfg.BearerTokens[address]
	if token == "" {
		return nil, errors.New("x: no user token for the account the DM reached")
	}
	return adapters.GetMedia(ctx, client, locator, func(r *http.Request) {
		r.Header.Set("Authorization", "Bearer "+token)
	})
}

package twilio

import (
	"context"
	"errors"
	"net/http"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/adapters"
)

var _ adapters.MediaFetcher = (*Twilio)(nil)

// FetchMedia downloads an inbound MediaUrlN with HTTP basic auth (account SID and auth
// token), as Twilio requires when media authentication is on. Only URLs on Twilio's API
// host (BaseURL) are fetched, so the credentials never go elsewhere; Twilio answers with
// a redirect to its media store, which the client follows without the credentials.
func (t *Twilio) FetchMedia(ctx context.Context, client *http.Client, _ omnigate.Channel, _, locator string) (*http.Response, error) {
	if !adapters.SameHost(locator, t.base.String()) {
		return nil, errors.New("twilio: media URL is not on Twilio's API host")
	}
	return adapters.GetMedia(ctx, client, locator, func(r *http.Request) {
		r.SetBasicAuth(t.cfg.AccountSID, t.cfg.AuthToken)
	})
}

package adapters

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/omnigate/omnigate"
)

// MediaFetcher is an adapter that can fetch an inbound attachment with the carrier's
// credentials, for omnigate to stream it to the platform.
type MediaFetcher interface {
	// FetchMedia starts the download of locator (the URL or media id the adapter put in
	// an inbound event's Media) that reached our address on ch. Every request goes
	// through client, which may refuse private destinations. On success the answer is
	// 2xx and the caller closes its body; a carrier that no longer has the media gives
	// ErrMediaGone.
	FetchMedia(ctx context.Context, client *http.Client, ch omnigate.Channel, address, locator string) (*http.Response, error)
}

// ErrMediaGone: the carrier no longer serves the attachment (expired or deleted).
var ErrMediaGone = errors.New("the carrier no longer has this media")

// GetMedia makes one GET of u through client with the headers set by auth (nil: none)
// and checks the answer: 2xx is returned open, 404 and 410 are ErrMediaGone, anything
// else an error naming the status (never the URL, which may carry a signature).
func GetMedia(ctx context.Context, client *http.Client, u string, auth func(*http.Request)) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, errors.New("media: not a URL")
	}
	if auth != nil {
		auth(req)
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL may carry a signature: keep it out of logs
		}
		return nil, fmt.Errorf("media: fetch failed: %w", err)
	}
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return resp, nil
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		resp.Body.Close()
		return nil, ErrMediaGone
	}
	resp.Body.Close()
	return nil, fmt.Errorf("media: the carrier answered %d", resp.StatusCode)
}

// SameHost reports whether raw is an http(s) URL on base's scheme and host, so that
// credentials meant for the carrier's API never go to another host.
func SameHost(raw, base string) bool {
	u, err := url.Parse(raw)
	b, berr := url.Parse(base)
	return err == nil && berr == nil && u.Host != "" && strings.EqualFold(u.Host, b.Host) && u.Scheme == b.Scheme
}

// Package carrierhttp is the HTTP client the carrier adapters share: it repeats a request
// only when it provably never reached the carrier, or when the carrier asked for a short
// wait, because every other retry belongs to omnigate's outbox.
package carrierhttp

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-cleanhttp"
	"github.com/hashicorp/go-retryablehttp"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/egress"
)

// Inline retries are for blips only: omnigate's outbox owns every other retry, with
// backoff, a breaker and a durable attempt count, so the client gives up quickly.
const (
	inlineRetries = 2
	inlineWaitMin = 200 * time.Millisecond
	// InlineWaitMax is the longest carrier-requested wait the client sleeps on itself;
	// a longer one goes back to the outbox.
	InlineWaitMax  = time.Second
	defaultTimeout = 30 * time.Second
)

// NewClient returns a client that repeats a POST only when it provably never reached
// the carrier (the connection could not be dialled) or when the carrier said so with 429
// or 503 and asked for no more than a short wait. Anything else is returned at once: a
// repeated POST that did reach the carrier may deliver the message twice. Every request
// names omnigate in its User-Agent (see WithUserAgent); hc itself is not changed.
func NewClient(hc *http.Client, now func() time.Time) *retryablehttp.Client {
	if hc == nil {
		// A redirect is answered as it came: following it would turn a POST into a
		// GET, or repeat it somewhere the adapter never named.
		hc = &http.Client{Transport: Transport(), Timeout: defaultTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if now == nil {
		now = time.Now
	}
	return &retryablehttp.Client{
		HTTPClient:   UserAgentClient(hc),
		RetryWaitMin: inlineWaitMin,
		RetryWaitMax: InlineWaitMax,
		RetryMax:     inlineRetries,
		CheckRetry: func(ctx context.Context, resp *http.Response, err error) (bool, error) {
			if ctx.Err() != nil {
				return false, ctx.Err()
			}
			if err != nil {
				return NeverSent(err), nil
			}
			if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable {
				return false, nil
			}
			wait, ok := RetryAfter(resp.Header, now())
			return !ok || wait <= InlineWaitMax, nil
		},
		Backoff: func(lo, hi time.Duration, attempt int, resp *http.Response) time.Duration {
			if resp != nil {
				if wait, ok := RetryAfter(resp.Header, now()); ok {
					return wait
				}
			}
			wait := lo << attempt
			if wait > hi {
				wait = hi
			}
			return wait
		},
		// Hand the last response back so the adapter classifies it in the carrier's terms.
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
	}
}

// Transport returns a pooled transport that keeps enough idle connections per carrier
// host for every relay worker to reuse one (Go's default keeps two, so eight workers
// would keep opening new TLS connections to the same carrier).
func Transport() *http.Transport {
	t := cleanhttp.DefaultPooledTransport()
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 64
	return t
}

// GuardedTransport is Transport with a dialer that refuses loopback, private and
// link-local addresses (egress.Control), for destinations taken from configuration or
// callers rather than a carrier's fixed API host.
func GuardedTransport() *http.Transport {
	t := Transport()
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, Control: egress.Control}
	t.DialContext = d.DialContext
	return t
}

// NeverSent reports whether err happened before any byte of the request left: a failed
// dial (refused, unreachable, DNS) is the only failure that proves it.
func NeverSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && (op.Op == "dial" || op.Op == "proxyconnect")
}

// RetryAfter reads a Retry-After header in seconds or as an HTTP date (a date in the
// past is no wait). It is the one parser of the header: every adapter and the platform
// events use it. ok is false when the header is absent or unreadable.
func RetryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// WithUserAgent wraps rt (http.DefaultTransport when nil) so that every request it
// carries says User-Agent: omnigate.UserAgent(), whatever the caller or a carrier's SDK
// set: carriers see who calls them and which version.
func WithUserAgent(rt http.RoundTripper) http.RoundTripper {
	if rt == nil {
		rt = http.DefaultTransport
	}
	if _, ok := rt.(userAgent); ok {
		return rt
	}
	return userAgent{next: rt}
}

// UserAgentClient returns a copy of hc whose transport is wrapped by WithUserAgent.
func UserAgentClient(hc *http.Client) *http.Client {
	c := *hc
	c.Transport = WithUserAgent(hc.Transport)
	return &c
}

type userAgent struct{ next http.RoundTripper }

func (u userAgent) RoundTrip(req *http.Request) (*http.Response, error) {
	ua := omnigate.UserAgent()
	if req.Header.Get("User-Agent") != ua {
		// A RoundTripper must not change the caller's request: change a copy.
		req = req.Clone(req.Context())
		req.Header.Set("User-Agent", ua)
	}
	return u.next.RoundTrip(req)
}

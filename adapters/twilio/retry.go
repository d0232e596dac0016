package twilio

import (
	"context"
	"errors"
	"github.com/omnigate/omnigate/adapters/carrierhttp"
	"net"
	"net/http"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// In-process retries are few and short: they only smooth over a refused connection or a
// brief 429/503. Anything longer is the outbox's job, so a Retry-After beyond
// retryWaitMax is handed back to the relay instead of being slept on here.
const (
	retryMax     = 2
	retryWaitMin = 100 * time.Millisecond
	retryWaitMax = time.Second
	// attemptTimeout bounds one HTTP attempt when Config.HTTPClient is not given.
	attemptTimeout = 30 * time.Second
)

func newRetryClient(hc *http.Client) *retryablehttp.Client {
	if hc == nil {
		hc = &http.Client{
			Transport:     carrierhttp.Transport(),
			Timeout:       attemptTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return &retryablehttp.Client{
		HTTPClient:   hc,
		Logger:       nil, // the relay logs outcomes; attempts are not worth a line each
		RetryWaitMin: retryWaitMin,
		RetryWaitMax: retryWaitMax,
		RetryMax:     retryMax,
		CheckRetry:   retryOnlyUnsent,
		Backoff:      backoff,
		// Hand the last response back as is, so twilio-go can read Twilio's error body
		// and the adapter its status and Retry-After.
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
	}
}

// retryOnlyUnsent is the retry policy for non-idempotent POSTs: a request is repeated
// only when it provably never reached Twilio (the connection was never established) or
// when Twilio itself asked for a retry with 429 or 503 and a short enough wait. A timeout,
// a reset connection or a 500 may hide an accepted message, so those go back to the
// outbox, which records the attempt.
func retryOnlyUnsent(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return false, ctxErr
	}
	if err != nil {
		return neverSent(err), nil
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		wait := retryAfter(resp.Header, time.Now())
		return wait <= retryWaitMax, nil
	}
	return false, nil
}

// neverSent reports whether err happened while dialing, before any byte of the request
// was written: connection refused, no route, DNS failure.
func neverSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// backoff waits what Twilio asked for (retryOnlyUnsent already capped it), else
// doubles from min up to max.
func backoff(min, max time.Duration, attempt int, resp *http.Response) time.Duration {
	if resp != nil {
		if wait := retryAfter(resp.Header, time.Now()); wait > 0 {
			return wait
		}
	}
	wait := min << attempt
	if wait <= 0 || wait > max {
		wait = max
	}
	return wait
}

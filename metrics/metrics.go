// Package metrics exports omnigate's Prometheus metrics: messages by channel, queue,
// direction and status; carrier call latency and delivery attempts; outbox depth and
// age; circuit breaker state; policy decisions; webhook, reload and API requests.
//
// Every label takes its values from a small set fixed by the code or the configuration
// (channels, providers, queue ids, carrier accounts, route patterns, status codes), never
// from a request: no message ids, addresses or raw paths, so the series count stays
// bounded however much traffic passes. A *Metrics is safe for concurrent use.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/messaging"
	"github.com/omnigate/omnigate/outbox"
	"github.com/omnigate/omnigate/store"
)

const namespace = "omnigate"

// StatsTimeout bounds the outbox-stats query made at scrape time, well inside
// Prometheus's default 10s scrape timeout, so that a slow database costs the outbox
// gauges of one scrape and not the whole scrape.
const StatsTimeout = 2 * time.Second

// Interface guards: the relay and the messaging service report through a *Metrics.
var (
	_ outbox.Observer    = (*Metrics)(nil)
	_ messaging.Observer = (*Metrics)(nil)
)

// Metrics holds omnigate's collectors. Build it with New.
type Metrics struct {
	gatherer prometheus.Gatherer

	messages      *prometheus.CounterVec
	carrierCall   *prometheus.HistogramVec
	attempts      *prometheus.CounterVec
	claims        prometheus.Counter
	claimedRows   prometheus.Counter
	breaker       *prometheus.GaugeVec
	decisions     *prometheus.CounterVec
	webhooks      *prometheus.CounterVec
	reloads       *prometheus.CounterVec
	httpRequests  *prometheus.CounterVec
	httpDurations *prometheus.HistogramVec
}

// New registers omnigate's metrics on reg and returns them. stats, when not nil, is
// called at each scrape (bounded by StatsTimeout) for the outbox gauges; wire it to
// store.Store.OutboxStats with the current time.
//
// Handler serves reg when reg is also a prometheus.Gatherer, as *prometheus.Registry
// is; a nil reg gets a fresh registry of its own. New panics if any of these metrics
// is already registered on reg, as prometheus.MustRegister does: that is a wiring
// mistake, found at start-up.
func New(reg prometheus.Registerer, stats func(ctx context.Context) (store.OutboxStats, error)) *Metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := &Metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "messages_total",
			Help:      "Messages by channel, queue, direction and status: each message counts once at creation with its first status, then once per status it moves to.",
		}, []string{"channel", "queue", "direction", "status"}),
		carrierCall: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace,
			Name:      "carrier_call_duration_seconds",
			Help:      "Duration of one delivery attempt (a carrier send or a platform event post), by kind, provider and outcome.",
			// From a fast API acknowledgement to the relay's 30s attempt timeout.
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"kind", "provider", "outcome"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "delivery_attempts_total",
			Help:      "Delivery attempts by kind, channel, provider and outcome (ok, retryable, permanent, breaker_open, error); retries are the retryable ones.",
		}, []string{"kind", "channel", "provider", "outcome"}),
		claims: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "outbox_claims_total",
			Help:      "Claim transactions the relay ran; near zero per second when there is nothing to deliver.",
		}),
		claimedRows: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "outbox_claimed_rows_total",
			Help:      "Outbox rows claimed, including paced rows put back to their slot.",
		}),
		breaker: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace,
			Name:      "breaker_state",
			Help:      "Circuit breaker state per carrier account: 0 closed, 1 half-open, 2 open.",
		}, []string{"account"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "policy_decisions_total",
			Help:      "Policy decisions on outbound messages by channel, rule and result (allow, deny).",
		}, []string{"channel", "rule", "result"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "webhook_requests_total",
			Help:      "Carrier webhook requests by carrier and result (ok, bad_signature, malformed, duplicate, too_large, error).",
		}, []string{"carrier", "result"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "reloads_total",
			Help:      "Reloads of the policy or the configuration by kind and result (ok, failed).",
		}, []string{"kind", "result"}),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "http_requests_total",
			Help:      "Platform API requests by route pattern and status code.",
		}, []string{"route", "code"}),
		httpDurations: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace,
			Name:      "http_request_duration_seconds",
			Help:      "Platform API request latency by route pattern.",
			Buckets:   prometheus.DefBuckets,
		}, []string{"route"}),
	}
	reg.MustRegister(m.messages, m.carrierCall, m.attempts, m.claims, m.claimedRows, m.breaker, m.decisions,
		m.webhooks, m.reloads, m.httpRequests, m.httpDurations)
	if stats != nil {
		reg.MustRegister(newOutboxCollector(stats))
	}
	// A failed reload is what an operator alerts on; with the series present at zero
	// from the start, increase() sees the first failure instead of a series appearing.
	for _, kind := range []string{"policy", "config"} {
		for _, result := range []string{"ok", "failed"} {
			m.reloads.WithLabelValues(kind, result)
		}
	}
	if g, ok := reg.(prometheus.Gatherer); ok {
		m.gatherer = g
	}
	return m
}

// Handler serves the registry New was given in the Prometheus exposition formats. A
// collector that fails is left out of the response instead of failing the scrape. When
// that registry cannot be gathered (a Registerer that is not a Gatherer), Handler answers
// 500: serve the metrics with promhttp.HandlerFor and the matching Gatherer instead.
func (m *Metrics) Handler() http.Handler {
	if m.gatherer == nil {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "metrics: the registerer given to metrics.New is not a gatherer", http.StatusInternalServerError)
		})
	}
	return promhttp.HandlerFor(m.gatherer, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Message counts a message at its creation, with the status it was created with
// (queued for a send, received for an inbound message). It implements messaging.Observer.
func (m *Metrics) Message(msg omnigate.Message) {
	m.messages.WithLabelValues(string(msg.Channel), msg.QueueID, string(msg.Direction), string(msg.Status)).Inc()
}

// MessageStatus counts msg moving to status (sent, delivered, failed, ...). It
// implements outbox.Observer.
func (m *Metrics) MessageStatus(msg omnigate.Message, status omnigate.MessageStatus) {
	m.messages.WithLabelValues(string(msg.Channel), msg.QueueID, string(msg.Direction), string(status)).Inc()
}

// Attempt records one delivery attempt: its duration and its outcome. An outcome
// outside ok, retryable, permanent, breaker_open and error is counted as error. It
// implements outbox.Observer.
func (m *Metrics) Attempt(kind string, ch omnigate.Channel, provider string, outcome string, d time.Duration) {
	outcome = oneOf(outcome, "error", "ok", "retryable", "permanent", "breaker_open")
	m.carrierCall.WithLabelValues(kind, provider, outcome).Observe(d.Seconds())
	m.attempts.WithLabelValues(kind, string(ch), provider, outcome).Inc()
}

// Claim counts one claim transaction and the rows it took. It implements
// outbox.Observer.
func (m *Metrics) Claim(rows int) {
	m.claims.Inc()
	m.claimedRows.Add(float64(rows))
}

// BreakerState sets the account's breaker gauge from gobreaker's state name: 0
// closed, 1 half-open, 2 open. An unknown name leaves the gauge as it was. It
// implements outbox.Observer.
func (m *Metrics) BreakerState(account string, state string) {
	var v float64
	switch state {
	case "closed":
		v = 0
	case "half-open":
		v = 1
	case "open":
		v = 2
	default:
		return
	}
	m.breaker.WithLabelValues(account).Set(v)
}

// Decision counts one policy decision. rule is the rule that decided (for an allow,
// whatever the policy reports, possibly ""). It implements messaging.Observer.
func (m *Metrics) Decision(ch omnigate.Channel, rule string, allow bool) {
	result := "deny"
	if allow {
		result = "allow"
	}
	m.decisions.WithLabelValues(string(ch), rule, result).Inc()
}

// Webhook counts one carrier webhook request. result is ok, bad_signature, malformed,
// duplicate, too_large or error; anything else is counted as error.
func (m *Metrics) Webhook(carrier, result string) {
	result = oneOf(result, "error", "ok", "bad_signature", "malformed", "duplicate", "too_large")
	m.webhooks.WithLabelValues(carrier, result).Inc()
}

// Reload counts one reload of kind policy or config, ok or failed.
func (m *Metrics) Reload(kind string, ok bool) {
	result := "failed"
	if ok {
		result = "ok"
	}
	m.reloads.WithLabelValues(kind, result).Inc()
}

// HTTP records one platform API request. route must be the matched pattern
// (http.Request.Pattern, e.g. "GET /v1/messages/{id}"), never the raw path, and "" when
// no route matched; a code outside 100-599 is counted as "other".
func (m *Metrics) HTTP(route string, code int, d time.Duration) {
	c := "other"
	if code >= 100 && code <= 599 {
		c = strconv.Itoa(code)
	}
	m.httpRequests.WithLabelValues(route, c).Inc()
	m.httpDurations.WithLabelValues(route).Observe(d.Seconds())
}

// oneOf returns v when it is one of allowed, else fallback: a caller's typo or a new
// outcome must not open an unbounded label.
func oneOf(v, fallback string, allowed ...string) string {
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	return fallback
}

package metrics

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/store"
)

func newMetrics(t *testing.T) (*Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	return New(reg, nil), reg
}

// counted checks that c holds exactly one series and that series is the one at labels
// with value want: a method that counted twice, or under other labels, fails.
func counted(t *testing.T, vec interface {
	prometheus.Collector
	WithLabelValues(...string) prometheus.Counter
}, want float64, labels ...string) {
	t.Helper()
	if n := testutil.CollectAndCount(vec); n != 1 {
		t.Errorf("series = %d, want 1", n)
	}
	if got := testutil.ToFloat64(vec.WithLabelValues(labels...)); got != want {
		t.Errorf("value at %v = %v, want %v", labels, got, want)
	}
}

func TestMessageCountsCreationAndTransitions(t *testing.T) {
	t.Parallel()
	m, _ := newMetrics(t)
	msg := omnigate.Message{Channel: omnigate.SMS, QueueID: "support", Direction: omnigate.Outbound, Status: omnigate.StatusQueued, ID: "msg-1", To: "+14155550100"}
	m.Message(msg)
	counted(t, m.messages, 1, "sms", "support", "outbound", "queued")

	m.MessageStatus(msg, omnigate.StatusSent)
	m.MessageStatus(msg, omnigate.StatusDelivered)
	if n := testutil.CollectAndCount(m.messages); n != 3 {
		t.Errorf("series = %d, want 3 (queued, sent, delivered)", n)
	}
	for _, st := range []string{"queued", "sent", "delivered"} {
		if got := testutil.ToFloat64(m.messages.WithLabelValues("sms", "support", "outbound", st)); got != 1 {
			t.Errorf("status %s = %v, want 1", st, got)
		}
	}
}

func TestMessageLabelsCarryNoIdentifiers(t *testing.T) {
	t.Parallel()
	m, reg := newMetrics(t)
	m.Message(omnigate.Message{ID: "msg-secret-id", ConversationID: "conv-9", Channel: omnigate.WhatsApp, QueueID: "sales",
		Direction: omnigate.Inbound, Status: omnigate.StatusReceived, From: "+14155550100", To: "+14155550199", Text: "hello"})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, s := range mf.GetMetric() {
			for _, l := range s.GetLabel() {
				for _, leak := range []string{"msg-secret-id", "conv-9", "+1415", "hello"} {
					if strings.Contains(l.GetValue(), leak) {
						t.Errorf("%s label %s=%q leaks %q", mf.GetName(), l.GetName(), l.GetValue(), leak)
					}
				}
			}
		}
	}
}

func TestAttempt(t *testing.T) {
	t.Parallel()
	tests := []struct {
		outcome, want string
	}{
		{"ok", "ok"},
		{"retryable", "retryable"},
		{"permanent", "permanent"},
		{"breaker_open", "breaker_open"},
		{"error", "error"},
		{"something new", "error"}, // unknown outcomes stay inside the bounded set
	}
	for _, tt := range tests {
		t.Run(tt.outcome, func(t *testing.T) {
			t.Parallel()
			m, _ := newMetrics(t)
			m.Attempt("deliver", omnigate.Messenger, "meta", tt.outcome, 300*time.Millisecond)
			counted(t, m.attempts, 1, "deliver", "messenger", "meta", tt.want)

			if n := testutil.CollectAndCount(m.carrierCall); n != 1 {
				t.Errorf("histogram series = %d, want 1", n)
			}
			want := `
# HELP omnigate_carrier_call_duration_seconds Duration of one delivery attempt (a carrier send or a platform event post), by kind, provider and outcome.
# TYPE omnigate_carrier_call_duration_seconds histogram
omnigate_carrier_call_duration_seconds_bucket{kind="deliver",outcome="` + tt.want + `",provider="meta",le="0.01"} 0
omnigate_carrier_call_duration_seconds_bucket{kind="deliver",outcome="` + tt.want + `",provider="meta",le="0.025"} 0
omnigate_carrier_call_duration_seconds_bucket{kind="deliver",outcome="` + tt.want + `",provider="meta",le="0.05"} 0
omnigate_carrier_call_duration_seconds_bucket{kind="deliver",outcome="` + tt.want + `",provider="meta",le="0.1"} 0
omnigate_carrier_call_duration_seconds_bucket{kind="deliver",outcome="` + tt.want + `",provider="meta",le="0.25"} 0
omnigate_carrier_call_duration_seconds_bucket{kind="deliver",outcome="` + tt.want + `",provider="meta",le="0.5"} 1
omnigate_carrier_call_duration_seconds_bucket{kind="deliver",outcome="` + tt.want + `",provider="meta",le="1"} 1
omnigate_carrier_call_duration_seconds_bucket{kind="deliver",outcome="` + tt.want + `",provider="meta",le="2.5"} 1
omnigate_carrier_call_duration_seconds_bucket{kind="deliver",outcome="` + tt.want + `",provider="meta",le="5"} 1
omnigate_carrier_call_duration_seconds_bucket{kind="deliver",outcome="` + tt.want + `",provider="meta",le="10"} 1
omnigate_carrier_call_duration_seconds_bucket{kind="deliver",outcome="` + tt.want + `",provider="meta",le="30"} 1
omnigate_carrier_call_duration_seconds_bucket{kind="deliver",outcome="` + tt.want + `",provider="meta",le="+Inf"} 1
omnigate_carrier_call_duration_seconds_sum{kind="deliver",outcome="` + tt.want + `",provider="meta"} 0.3
omnigate_carrier_call_duration_seconds_count{kind="deliver",outcome="` + tt.want + `",provider="meta"} 1
`
			if err := testutil.CollectAndCompare(m.carrierCall, strings.NewReader(want)); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestBreakerState(t *testing.T) {
	t.Parallel()
	m, _ := newMetrics(t)
	for _, tt := range []struct {
		state string
		want  float64
	}{
		{"open", 2},
		{"half-open", 1},
		{"closed", 0},
		{"open", 2},
		{"unknown state: 7", 2}, // ignored: the last known state stands
	} {
		m.BreakerState("twilio:AC123", tt.state)
		if got := testutil.ToFloat64(m.breaker.WithLabelValues("twilio:AC123")); got != tt.want {
			t.Errorf("after %q: gauge = %v, want %v", tt.state, got, tt.want)
		}
	}
	if n := testutil.CollectAndCount(m.breaker); n != 1 {
		t.Errorf("series = %d, want 1", n)
	}
}

func TestDecision(t *testing.T) {
	t.Parallel()
	m, _ := newMetrics(t)
	m.Decision(omnigate.WhatsApp, "template_required", false)
	counted(t, m.decisions, 1, "whatsapp", "template_required", "deny")

	m2, _ := newMetrics(t)
	m2.Decision(omnigate.SMS, "", true)
	counted(t, m2.decisions, 1, "sms", "", "allow")
}

func TestWebhook(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ result, want string }{
		{"ok", "ok"}, {"bad_signature", "bad_signature"}, {"malformed", "malformed"},
		{"duplicate", "duplicate"}, {"too_large", "too_large"}, {"error", "error"},
		{"/webhooks/open/abc?x=1", "error"},
	} {
		m, _ := newMetrics(t)
		m.Webhook("twilio", tt.result)
		counted(t, m.webhooks, 1, "twilio", tt.want)
	}
}

func TestReload(t *testing.T) {
	t.Parallel()
	m, _ := newMetrics(t)
	// All four series exist at zero from the start so increase() catches the first failure.
	if n := testutil.CollectAndCount(m.reloads); n != 4 {
		t.Fatalf("series before any reload = %d, want 4", n)
	}
	m.Reload("policy", false)
	m.Reload("config", true)
	for _, tt := range []struct {
		kind, result string
		want         float64
	}{
		{"policy", "failed", 1}, {"policy", "ok", 0}, {"config", "ok", 1}, {"config", "failed", 0},
	} {
		if got := testutil.ToFloat64(m.reloads.WithLabelValues(tt.kind, tt.result)); got != tt.want {
			t.Errorf("reloads{%s,%s} = %v, want %v", tt.kind, tt.result, got, tt.want)
		}
	}
}

func TestHTTP(t *testing.T) {
	t.Parallel()
	m, _ := newMetrics(t)
	m.HTTP("GET /v1/messages/{id}", 404, 20*time.Millisecond)
	counted(t, m.httpRequests, 1, "GET /v1/messages/{id}", "404")
	if n := testutil.CollectAndCount(m.httpDurations); n != 1 {
		t.Errorf("duration series = %d, want 1", n)
	}

	m2, _ := newMetrics(t)
	m2.HTTP("", 0, time.Millisecond)
	counted(t, m2.httpRequests, 1, "", "other")
}

func TestOutboxCollectorReportsStats(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	New(reg, func(ctx context.Context) (store.OutboxStats, error) {
		if _, ok := ctx.Deadline(); !ok {
			t.Error("stats called without a deadline")
		}
		return store.OutboxStats{Pending: 12, Dead: 3, OldestDueAge: 90 * time.Second}, nil
	})
	want := `
# HELP omnigate_outbox_dead Outbox rows that exhausted their attempts (dead letters).
# TYPE omnigate_outbox_dead gauge
omnigate_outbox_dead 3
# HELP omnigate_outbox_oldest_due_age_seconds How long the oldest due pending row has been due; 0 when none is due.
# TYPE omnigate_outbox_oldest_due_age_seconds gauge
omnigate_outbox_oldest_due_age_seconds 90
# HELP omnigate_outbox_pending Outbox rows waiting for delivery (messages and platform events), across the whole store: instances sharing a database report the same value.
# TYPE omnigate_outbox_pending gauge
omnigate_outbox_pending 12
# HELP omnigate_outbox_stats_up 1 when the outbox gauges of this scrape were read from the store, 0 when the query failed or timed out (the gauges are then absent).
# TYPE omnigate_outbox_stats_up gauge
omnigate_outbox_stats_up 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"omnigate_outbox_pending", "omnigate_outbox_dead", "omnigate_outbox_oldest_due_age_seconds", "omnigate_outbox_stats_up"); err != nil {
		t.Error(err)
	}
}

func TestOutboxCollectorFailureKeepsTheScrape(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m := New(reg, func(context.Context) (store.OutboxStats, error) {
		return store.OutboxStats{}, errors.New("database is locked")
	})
	m.Webhook("meta", "ok")

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d, want 200", rec.Code)
	}
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{"omnigate_outbox_stats_up 0", `omnigate_webhook_requests_total{carrier="meta",result="ok"} 1`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("scrape lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(string(body), "omnigate_outbox_pending ") {
		t.Errorf("scrape reports a pending depth it could not read:\n%s", body)
	}
}

func TestHandlerServesTheRegistry(t *testing.T) {
	t.Parallel()
	m, _ := newMetrics(t)
	m.Reload("policy", true)
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if !strings.Contains(rec.Body.String(), `omnigate_reloads_total{kind="policy",result="ok"} 1`) {
		t.Errorf("scrape lacks the reload:\n%s", rec.Body.String())
	}
}

func TestHandlerWithoutGatherer(t *testing.T) {
	t.Parallel()
	// A wrapped registerer cannot be gathered; Handler says so instead of serving nothing.
	m := New(prometheus.WrapRegistererWith(prometheus.Labels{"instance_role": "test"}, prometheus.NewRegistry()), nil)
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusInternalServerError {
		t.Errorf("status = %d, want 500", rec.Code)
	}
}

func TestNewTwiceOnOneRegistryPanics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	New(reg, nil)
	defer func() {
		if recover() == nil {
			t.Error("second New on the same registry did not panic")
		}
	}()
	New(reg, nil)
}

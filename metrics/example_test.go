package metrics_test

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/omnigate/omnigate/metrics"
	"github.com/omnigate/omnigate/store"
)

// Wiring in main: the store answers the outbox gauges at scrape time, the relay and the
// messaging service take m as their Observer, and the mux serves m.Handler.
func Example() {
	var st store.Store // the opened store
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, func(ctx context.Context) (store.OutboxStats, error) {
		return st.OutboxStats(ctx, time.Now())
	})

	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	mux.HandleFunc("GET /v1/queues", func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		w.WriteHeader(http.StatusOK)
		m.HTTP(r.Pattern, http.StatusOK, time.Since(start)) // the pattern, never r.URL.Path
	})
	_ = mux
}

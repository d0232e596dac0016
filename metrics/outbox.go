package metrics

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/omnigate/omnigate/store"
)

// outboxCollector asks the store for the outbox's depth at scrape time, so the gauges
// are as fresh as the scrape and nothing polls the database between scrapes.
type outboxCollector struct {
	stats                  func(ctx context.Context) (store.OutboxStats, error)
	up, pending, dead, age *prometheus.Desc
}

func newOutboxCollector(stats func(ctx context.Context) (store.OutboxStats, error)) *outboxCollector {
	desc := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, nil, nil)
	}
	return &outboxCollector{
		stats:   stats,
		up:      desc("outbox_stats_up", "1 when the outbox gauges of this scrape were read from the store, 0 when the query failed or timed out (the gauges are then absent)."),
		pending: desc("outbox_pending", "Outbox rows waiting for delivery (messages and platform events), across the whole store: instances sharing a database report the same value."),
		dead:    desc("outbox_dead", "Outbox rows that exhausted their attempts (dead letters)."),
		age:     desc("outbox_oldest_due_age_seconds", "How long the oldest due pending row has been due; 0 when none is due."),
	}
}

// Describe implements prometheus.Collector.
func (c *outboxCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.up
	ch <- c.pending
	ch <- c.dead
	ch <- c.age
}

// Collect implements prometheus.Collector. A failed query reports outbox_stats_up 0 and
// leaves the gauges out rather than failing the scrape: the relay's own metrics matter
// most exactly when the database is in trouble, and a stale or zero depth would lie.
func (c *outboxCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), StatsTimeout)
	defer cancel()
	s, err := c.stats(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(s.Pending))
	ch <- prometheus.MustNewConstMetric(c.dead, prometheus.GaugeValue, float64(s.Dead))
	ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, s.OldestDueAge.Seconds())
}

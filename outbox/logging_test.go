package outbox_test

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"testing"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/outbox"
)

// records keeps every log record, for tests that check what an operator would see.
type records struct {
	mu  sync.Mutex
	all []slog.Record
}

func (l *records) Enabled(context.Context, slog.Level) bool { return true }
func (l *records) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all = append(l.all, r.Clone())
	return nil
}
func (l *records) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *records) WithGroup(string) slog.Handler      { return l }

// find returns the attributes of the first record at level whose message is msg.
func (l *records) find(level slog.Level, msg string) (map[string]string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.all {
		if r.Level == level && r.Message == msg {
			attrs := map[string]string{}
			r.Attrs(func(a slog.Attr) bool { attrs[a.Key] = a.Value.String(); return true })
			return attrs, true
		}
	}
	return nil, false
}

// TestPermanentFailureLoggedAtWarn: a carrier's final refusal is something an operator
// must act on (a bad credential, a blocked number), so it is logged at WARN with the
// carrier's code and the message, not at INFO or DEBUG.
func TestPermanentFailureLoggedAtWarn(t *testing.T) {
	t.Parallel()
	st := openSQLite(t)
	c := &carrier{answer: func(string, int) (int, string) {
		return http.StatusUnauthorized, `{"code":"unauthorized","message":"bad credentials"}`
	}}
	srv := startCarrier(t, c)
	logs := &records{}
	startRelay(t, st, srv, "relay", func(cfg *outbox.Config) { cfg.Log = slog.New(logs) })
	id := newEnqueuer(st).enqueue(t, outMsg{contact: "contact-1", text: "hello"})[0]
	waitFor(t, "the message to fail", func() bool { return message(t, st, id).Status == omnigate.StatusFailed })
	var attrs map[string]string
	waitFor(t, "the warning", func() bool {
		var ok bool
		attrs, ok = logs.find(slog.LevelWarn, "outbox: the carrier refused the message for good")
		return ok
	})
	if attrs["code"] != "unauthorized" || attrs["message"] != id || attrs["channel"] != "open" {
		t.Errorf("warning attributes = %v, want code unauthorized, message %s, channel open", attrs, id)
	}
}

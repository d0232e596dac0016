package outbox_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/adapters"
	"github.com/omnigate/omnigate/outbox"
	"github.com/omnigate/omnigate/store"
)

// recorder is the innermost Sender: it records what reached it and answers err.
type recorder struct {
	err  error
	got  []store.Entry
	ctxs []context.Context
}

func (r *recorder) Send(ctx context.Context, e store.Entry) (adapters.Receipt, error) {
	r.got = append(r.got, e)
	r.ctxs = append(r.ctxs, ctx)
	return adapters.Receipt{ProviderMessageID: "p1"}, r.err
}

func entry(m omnigate.Message) store.Entry {
	return store.Entry{ID: 1, Kind: store.KindDeliver, MessageID: m.ID, Message: &m}
}

func TestRecheck(t *testing.T) {
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		verdict outbox.Verdict
		wantErr bool
		wantTag string
	}{
		{"allowed goes out with the tag valid now", outbox.Verdict{Allow: true, Tag: "HUMAN_AGENT"}, false, "HUMAN_AGENT"},
		{"expired never reaches the carrier", outbox.Verdict{Rule: "policy_expired", Reason: "window closed"}, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inner := &recorder{}
			var checkedAt time.Time
			s := outbox.Chain(inner, outbox.Recheck(func(_ store.Entry, at time.Time) outbox.Verdict {
				checkedAt = at
				return tc.verdict
			}, func() time.Time { return now }))
			_, err := s.Send(context.Background(), entry(omnigate.Message{ID: "m1", Tag: "OLD"}))
			var de *adapters.PolicyDeniedError
			if tc.wantErr != errors.As(err, &de) || (tc.wantErr && de.Rule != "policy_expired") {
				t.Fatalf("err = %v, want denied: %v", err, tc.wantErr)
			}
			if !checkedAt.Equal(now) {
				t.Errorf("checked at %v, want the business clock's %v", checkedAt, now)
			}
			if tc.wantErr {
				if len(inner.got) != 0 {
					t.Error("a denied message reached the carrier")
				}
				return
			}
			if len(inner.got) != 1 || inner.got[0].Message.Tag != tc.wantTag {
				t.Errorf("sent %+v, want one message tagged %q", inner.got, tc.wantTag)
			}
		})
	}
}

func TestSkipAccepted(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    omnigate.Message
		skip bool
	}{
		{"sending without a carrier id goes out", omnigate.Message{ID: "m", Status: omnigate.StatusSending}, false},
		{"a carrier id from a receipt stops it", omnigate.Message{ID: "m", Status: omnigate.StatusSending, ProviderMessageID: "SM1"}, true},
		{"delivered stops it", omnigate.Message{ID: "m", Status: omnigate.StatusDelivered}, true},
		{"failed by the carrier stops it", omnigate.Message{ID: "m", Status: omnigate.StatusFailed}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inner := &recorder{}
			_, err := outbox.Chain(inner, outbox.SkipAccepted()).Send(context.Background(), entry(tc.m))
			if skipped := errors.Is(err, outbox.ErrAlreadyAccepted); skipped != tc.skip || (len(inner.got) == 1) == tc.skip {
				t.Errorf("skipped = %v (sent %d), want %v", skipped, len(inner.got), tc.skip)
			}
		})
	}
}

func TestTimeout(t *testing.T) {
	inner := &recorder{}
	start := time.Now()
	outbox.Chain(inner, outbox.Timeout(time.Minute)).Send(context.Background(), entry(omnigate.Message{ID: "m"}))
	dl, ok := inner.ctxs[0].Deadline()
	if !ok || dl.Before(start.Add(time.Minute)) || dl.After(time.Now().Add(time.Minute)) {
		t.Errorf("deadline %v (%v), want one minute from the call", dl, ok)
	}
}

func TestBreakers(t *testing.T) {
	labels := func(store.Entry) (string, omnigate.Channel, string) { return "acct", omnigate.Open, "open" }
	e := entry(omnigate.Message{ID: "m"})
	t.Run("refused messages do not trip it", func(t *testing.T) {
		b := &outbox.Breakers{}
		inner := &recorder{err: adapters.Permanent("21211", "invalid number", nil)}
		s := outbox.Chain(inner, b.Wrap(labels))
		for range 10 {
			s.Send(context.Background(), e)
		}
		if st := b.States()["acct"]; st != "closed" || len(inner.got) != 10 {
			t.Errorf("state %s after 10 refusals (%d sent), want closed", st, len(inner.got))
		}
	})
	t.Run("five carrier failures open it and shed load", func(t *testing.T) {
		b := &outbox.Breakers{}
		inner := &recorder{err: adapters.Retryable("", "503", 0, nil)}
		s := outbox.Chain(inner, b.Wrap(labels))
		var last error
		for range 8 {
			_, last = s.Send(context.Background(), e)
		}
		if st := b.States()["acct"]; st != "open" || len(inner.got) != 5 {
			t.Errorf("state %s with %d carrier calls, want open after 5", st, len(inner.got))
		}
		var re *adapters.RetryableError
		if last == nil || errors.As(last, &re) {
			t.Errorf("an open breaker answered %v, want its own refusal", last)
		}
	})
}

type attempts struct {
	counter
	outcomes []string
}

func (a *attempts) Attempt(kind string, ch omnigate.Channel, provider, outcome string, _ time.Duration) {
	a.outcomes = append(a.outcomes, kind+"/"+string(ch)+"/"+provider+"/"+outcome)
}

func TestObserve(t *testing.T) {
	o := &attempts{}
	labels := func(store.Entry) (string, omnigate.Channel, string) { return "acct", omnigate.SMS, "twilio" }
	for _, err := range []error{nil, adapters.Retryable("", "x", 0, nil), adapters.Permanent("1", "x", nil), errors.New("boom")} {
		outbox.Chain(&recorder{err: err}, outbox.Observe(o, "deliver", labels)).Send(context.Background(), entry(omnigate.Message{ID: "m"}))
	}
	want := []string{"deliver/sms/twilio/ok", "deliver/sms/twilio/retryable", "deliver/sms/twilio/permanent", "deliver/sms/twilio/error"}
	if len(o.outcomes) != len(want) {
		t.Fatalf("observed %v, want %v", o.outcomes, want)
	}
	for i := range want {
		if o.outcomes[i] != want[i] {
			t.Errorf("observed %v, want %v", o.outcomes, want)
			break
		}
	}
}

func TestPacing(t *testing.T) {
	if outbox.Pacing(nil) != nil {
		t.Error("no rate must pace nothing")
	}
	pace := outbox.Pacing(func(m omnigate.Message) float64 {
		if m.Channel == omnigate.SMS {
			return 4
		}
		return 0
	})
	key, iv := pace(omnigate.Message{Channel: omnigate.SMS, From: "+15550001111"})
	if key != "sms|+15550001111" || iv != 250*time.Millisecond {
		t.Errorf("sms: %q %v, want sms|+15550001111 every 250ms", key, iv)
	}
	if _, iv := pace(omnigate.Message{Channel: omnigate.X, From: "1"}); iv != 0 {
		t.Errorf("x: interval %v, want unpaced", iv)
	}
}

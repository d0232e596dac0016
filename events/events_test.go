package events_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/omnigate/omnigate/events"
)

// TestVerifyRefusesReplays: a captured event stops verifying once its timestamp is out
// of tolerance, and neither the timestamp nor the body can be changed to revive it.
func TestVerifyRefusesReplays(t *testing.T) {
	t.Parallel()
	secret := []byte("events-secret")
	body := []byte(`{"id":"evt_1","type":"message.inbound"}`)
	sent := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	sig := events.Sign(secret, body, sent)
	retimed := strings.Replace(sig, "t="+strconv.FormatInt(sent.Unix(), 10), "t="+strconv.FormatInt(sent.Add(time.Hour).Unix(), 10), 1)
	tests := []struct {
		name   string
		header string
		body   string
		now    time.Time
		want   error
	}{
		{"fresh", sig, string(body), sent.Add(time.Minute), nil},
		{"clock a little behind", sig, string(body), sent.Add(-time.Minute), nil},
		{"replayed an hour later", sig, string(body), sent.Add(time.Hour), events.ErrStale},
		{"timestamp moved forward", retimed, string(body), sent.Add(time.Hour), events.ErrBadSignature},
		{"another body", sig, `{"id":"evt_2","type":"message.inbound"}`, sent, events.ErrBadSignature},
		{"another secret", events.Sign([]byte("other"), body, sent), string(body), sent, events.ErrBadSignature},
		{"old untimed format", "sha256=" + strings.TrimPrefix(sig[strings.Index(sig, "v1=")+3:], ""), string(body), sent, events.ErrNoSignature},
		{"empty", "", string(body), sent, events.ErrNoSignature},
		{"no v1", "t=" + strconv.FormatInt(sent.Unix(), 10), string(body), sent, events.ErrNoSignature},
		{"second v1 matches (rotation)", sig + ",v1=" + strings.Repeat("00", 32), string(body), sent, nil},
	}
	for _, tt := range tests {
		if err := events.Verify(secret, []byte(tt.body), tt.header, tt.now, 0); !errors.Is(err, tt.want) {
			t.Errorf("%s: Verify = %v, want %v", tt.name, err, tt.want)
		}
	}
}

// TestSignFormat pins the header's shape: t=<unix seconds>,v1=<64 hex digits>.
func TestSignFormat(t *testing.T) {
	t.Parallel()
	sig := events.Sign([]byte("s"), []byte("{}"), time.Unix(1767225600, 0))
	if !strings.HasPrefix(sig, "t=1767225600,v1=") || len(sig) != len("t=1767225600,v1=")+64 {
		t.Errorf("Sign = %q", sig)
	}
}

package events_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/omnigate/omnigate/events"
)

// FuzzVerify: whatever the header, Verify never panics, and it accepts only a header
// whose timestamp is fresh and whose v1 is the MAC of that timestamp and the body;
// Sign's own header always verifies.
func FuzzVerify(f *testing.F) {
	now := time.Unix(1767225600, 0)
	body := []byte(`{"id":"evt_1","type":"message.inbound","data":{}}`)
	f.Add(body, events.Sign([]byte("s"), body, now), int64(0))
	f.Add(body, events.Sign([]byte("s"), body, now)+",v1=00", int64(400))
	f.Add(body, "sha256=00", int64(-1))
	f.Add([]byte{}, "t=,v1=", int64(1))
	f.Fuzz(func(t *testing.T, body []byte, header string, skew int64) {
		secret := []byte("s")
		at := now.Add(time.Duration(skew%1000) * time.Second)
		if err := events.Verify(secret, body, events.Sign(secret, body, at), now, 0); (err == nil) != (skew%1000 <= 300 && skew%1000 >= -300) {
			t.Fatalf("own signature %ds off: %v", skew%1000, err)
		}
		if events.Verify(secret, body, header, now, 0) != nil {
			return
		}
		// Accepted: the header must carry t within tolerance and its correct v1.
		ts := ""
		for part := range strings.SplitSeq(header, ",") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(part), "t="); ok {
				ts = v
			}
		}
		sec, err := strconv.ParseInt(ts, 10, 64)
		if err != nil {
			t.Fatalf("header %q verified without a timestamp", header)
		}
		want := events.Sign(secret, body, time.Unix(sec, 0))
		v1 := want[strings.Index(want, "v1="):]
		if !strings.Contains(strings.ToLower(header), v1) {
			t.Fatalf("header %q verified without the body's MAC", header)
		}
	})
}

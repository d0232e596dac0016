package messaging

import (
	"strconv"
	"testing"
	"time"

	"github.com/omnigate/omnigate"
)

// TestProfileSweepMakesRoom: a full memory of contacts whose waits are not over is cut
// to nine tenths, so the next sweep is thousands of contacts away; expired waits go
// first.
func TestProfileSweepMakesRoom(t *testing.T) {
	now := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	p := newProfiles()
	expired := profileKey{ch: omnigate.Messenger, ours: "1", contact: "expired"}
	p.next[expired] = now.Add(-time.Minute)
	for i := 0; len(p.next) < profileMemory; i++ {
		p.next[profileKey{ch: omnigate.Messenger, ours: "1", contact: strconv.Itoa(i)}] = now.Add(time.Hour)
	}
	p.sweep(now)
	if _, ok := p.next[expired]; ok {
		t.Error("an expired wait survived the sweep")
	}
	if n := len(p.next); n >= profileMemory*9/10 || n < profileMemory*9/10-1 {
		t.Errorf("%d contacts remembered after the sweep, want just under %d", n, profileMemory*9/10)
	}
}

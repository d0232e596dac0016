package outbox

import (
	"time"

	"github.com/omnigate/omnigate"
)

// Pacing turns per-sender rates into the claim's pacing (store.Claim.Pace). A sender is
// one of our addresses on one channel; with rate N per second it sends at most one
// message every 1/N seconds, across every instance, since the store keeps each sender's
// next free slot. A paced message is given its slot once, as its due time, and is sent
// when it comes due: it waits, it never fails, and it is not claimed again and again
// while it waits. A nil rate paces nothing.
func Pacing(rate func(m omnigate.Message) float64) func(m omnigate.Message) (string, time.Duration) {
	if rate == nil {
		return nil
	}
	return func(m omnigate.Message) (string, time.Duration) {
		r := rate(m)
		if r <= 0 {
			return "", 0
		}
		return string(m.Channel) + "|" + m.From, time.Duration(float64(time.Second) / r)
	}
}

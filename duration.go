package omnigate

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
)

// ErrDuration is ParseDuration's one error; it never echoes the value.
var ErrDuration = errors.New("invalid duration")

// ParseDuration is the one duration grammar of omnigate.yaml and policy.yaml: Go's
// duration text ("90s", "15m", "1h30m", "500ms"), optionally after a whole number of
// days ("7d", "1d12h"), or "0". A leading minus negates the whole; callers that take
// no negative durations refuse them themselves.
func ParseDuration(s string) (time.Duration, error) {
	const day = 24 * time.Hour
	s = strings.TrimSpace(s)
	rest := s
	var days int64
	if i := strings.IndexByte(s, 'd'); i >= 0 {
		n, err := strconv.ParseInt(s[:i], 10, 64)
		if err != nil || n > int64(math.MaxInt64/day) || n < -int64(math.MaxInt64/day) {
			return 0, ErrDuration
		}
		days, rest = n, s[i+1:]
		if rest == "" {
			return time.Duration(days) * day, nil
		}
		if rest[0] == '-' || rest[0] == '+' {
			return 0, ErrDuration
		}
	}
	d, err := time.ParseDuration(rest)
	if err != nil {
		return 0, ErrDuration
	}
	if days < 0 {
		d = -d
	}
	total := time.Duration(days)*day + d
	if (days > 0 && total < 0) || (days < 0 && total > 0) {
		return 0, ErrDuration
	}
	return total, nil
}

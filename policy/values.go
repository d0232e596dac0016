package policy

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/omnigate/omnigate"
)

const day = 24 * time.Hour

// parseDuration is omnigate's one duration grammar (omnigate.ParseDuration).
func parseDuration(s string) (time.Duration, error) { return omnigate.ParseDuration(s) }

// formatDuration writes d the way policy.yaml does: "90s" is "1m30s", windows up to
// 72h stay in hours ("24h", "72h") and longer ones use days ("7d", "8d12h"). Sub-second
// remainders are kept in time.Duration's notation.
func formatDuration(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	var b strings.Builder
	if d < 0 {
		b.WriteByte('-')
		d = -d
	}
	for _, u := range []struct {
		unit time.Duration
		name string
	}{{day, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if u.unit == day && d <= maxThreadingTimeline {
			continue
		}
		if n := d / u.unit; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, u.name)
			d -= n * u.unit
		}
	}
	if d > 0 {
		b.WriteString(d.String())
	}
	return b.String()
}

var rateUnits = map[string]float64{"s": 1, "m": 60, "h": 3600}

// parseRate reads a pace such as "1/s", "20/s", "5/m" or "100/h" as messages per
// second. "0" is unpaced.
func parseRate(s string) (float64, error) {
	s = strings.TrimSpace(s)
	if s == "0" {
		return 0, nil
	}
	num, unit, ok := strings.Cut(s, "/")
	per, known := rateUnits[strings.TrimSpace(unit)]
	if !ok || !known {
		return 0, fmt.Errorf("invalid rate %q (want e.g. 1/s, 20/s, 5/m)", s)
	}
	n, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || math.IsNaN(n) || math.IsInf(n, 0) {
		return 0, fmt.Errorf("invalid rate %q (want e.g. 1/s, 20/s, 5/m)", s)
	}
	if n < 0 {
		return 0, fmt.Errorf("rate %q must not be negative", s)
	}
	return n / per, nil
}

// formatRate writes a per-second rate in the largest unit that gives a whole number.
func formatRate(perSecond float64) string {
	for _, u := range []struct {
		name string
		per  float64
	}{{"s", 1}, {"m", 60}, {"h", 3600}} {
		n := perSecond * u.per
		if n >= 1 && math.Abs(n-math.Round(n)) < 1e-9 {
			return strconv.FormatFloat(math.Round(n), 'f', -1, 64) + "/" + u.name
		}
	}
	return strconv.FormatFloat(perSecond, 'g', 4, 64) + "/s"
}

package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Duration is a time.Duration written in YAML as Go duration text ("90s", "15m",
// "1h30m") or as whole days ("7d"), which operators use for windows and timeouts.
type Duration time.Duration

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// String formats d as ParseDuration accepts it, in days when it is a whole number of them.
func (d Duration) String() string {
	const day = 24 * time.Hour
	if t := time.Duration(d); t > 0 && t%day == 0 {
		return strconv.FormatInt(int64(t/day), 10) + "d"
	}
	return time.Duration(d).String()
}

// errDuration is the one message for a bad duration; it never echoes the value.
var errDuration = errors.New("must be a duration such as 90s, 15m, 24h or 7d")

// ParseDuration parses "90s", "15m", "24h", "1h30m" or "7d". Negative durations are
// rejected: nothing in omnigate.yaml or policy.yaml counts backwards.
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if s == "0" {
		return 0, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseInt(days, 10, 64)
		if err != nil || n < 0 || n > int64(time.Duration(1<<63-1)/(24*time.Hour)) {
			return 0, errDuration
		}
		return Duration(time.Duration(n) * 24 * time.Hour), nil
	}
	t, err := time.ParseDuration(s)
	if err != nil || t < 0 {
		return 0, errDuration
	}
	return Duration(t), nil
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errDuration
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalYAML implements yaml.Marshaler, writing the form UnmarshalYAML reads.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

var _ fmt.Stringer = Duration(0)

package config

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/omnigate/omnigate"
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

// ParseDuration parses omnigate's one duration grammar (omnigate.ParseDuration):
// "90s", "15m", "24h", "1h30m", "7d", "1d12h". Negative durations are rejected:
// nothing in omnigate.yaml counts backwards.
func ParseDuration(s string) (Duration, error) {
	t, err := omnigate.ParseDuration(s)
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

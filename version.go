package omnigate

import (
	"regexp"
	"strings"
)

// Version is omnigate's version, set at build time:
//
//	go build -ldflags "-X github.com/omnigate/omnigate.Version=1.4.2" ./cmd/omnigate
//
// A build without it is a development build.
var Version = "0.0.0-dev"

var versionCore = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+$`)

// UserAgent is the User-Agent omnigate sends on every carrier and platform call, and
// what `omnigate version` prints: "omnigate/" and the version's major.minor.patch,
// with a pre-release or build suffix carried after a semicolon ("omnigate/0.0.0;dev",
// "omnigate/1.4.2;rc.1"). Carriers' API descriptions (Meta's WhatsApp Cloud API)
// require exactly the shape name/major.minor.patch[;token]; a version that is not
// semantic is reported as 0.0.0 with the version as the token, so the header always
// has that shape.
func UserAgent() string { return "omnigate/" + userAgentVersion(Version) }

func userAgentVersion(v string) string {
	v = strings.TrimPrefix(strings.TrimSpace(v), "v")
	core, suffix := v, ""
	if i := strings.IndexAny(v, "-+"); i >= 0 {
		core, suffix = v[:i], v[i+1:]
	}
	if !versionCore.MatchString(core) {
		core, suffix = "0.0.0", v
	}
	token := strings.Trim(strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '=', r == '.':
			return r
		}
		return '.'
	}, suffix), ".")
	if token == "" {
		return core
	}
	return core + ";" + token
}

package omnigate

import (
	"regexp"
	"testing"
)

// metaUserAgent is the User-Agent pattern of Meta's WhatsApp Business Messaging
// OpenAPI description (v23), which refuses any other shape.
var metaUserAgent = regexp.MustCompile(`^[a-zA-Z0-9\-_]+\/[0-9]+\.[0-9]+\.[0-9]+(;[a-zA-Z0-9\-=\.]+)?(\s+[a-zA-Z0-9\-_]+\/[0-9\-\.]+)?$`)

func TestUserAgentShape(t *testing.T) {
	for _, tc := range []struct{ version, want string }{
		{"0.0.0-dev", "omnigate/0.0.0;dev"},
		{"1.4.2", "omnigate/1.4.2"},
		{"v1.4.2", "omnigate/1.4.2"},
		{"1.4.2-rc.1", "omnigate/1.4.2;rc.1"},
		{"1.4.2-rc.1+g1a2b3c", "omnigate/1.4.2;rc.1.g1a2b3c"},
		{"1.4.2+dirty", "omnigate/1.4.2;dirty"},
		{"dev", "omnigate/0.0.0;dev"},
		{"", "omnigate/0.0.0"},
		{"1.4", "omnigate/0.0.0;1.4"},
		{"build 7 (local)", "omnigate/0.0.0;build.7..local"},
	} {
		got := userAgentVersion(tc.version)
		if "omnigate/"+got != tc.want {
			t.Errorf("version %q: user agent %q, want %q", tc.version, "omnigate/"+got, tc.want)
		}
		if !metaUserAgent.MatchString("omnigate/" + got) {
			t.Errorf("version %q: %q does not match Meta's User-Agent pattern", tc.version, "omnigate/"+got)
		}
	}
	if ua := UserAgent(); !metaUserAgent.MatchString(ua) {
		t.Errorf("UserAgent() = %q does not match Meta's pattern", ua)
	}
}

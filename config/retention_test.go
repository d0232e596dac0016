package config

import (
	"strings"
	"testing"
	"time"
)

func TestRetentionAndTemplateSettings(t *testing.T) {
	t.Parallel()
	c, err := parse([]byte("sandbox: true\nretention:\n  message_bodies: 90d\n  conversations: 365d\n"), "", lookupIn(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Retention.MessageBodies.Std() != 90*24*time.Hour || c.Retention.Conversations.Std() != 365*24*time.Hour {
		t.Errorf("retention = %+v", c.Retention)
	}
	bad := []struct{ doc, want string }{
		{"sandbox: true\nretention:\n  message_bodies: 90s\n",
			"omnigate.yaml:3: retention.message_bodies: must be at least 1d (or 0 to keep forever), got 1m30s"},
		{"sandbox: true\nretention:\n  message_bodies: 90d\n  conversations: 30d\n",
			"omnigate.yaml:4: retention.conversations: is shorter than retention.message_bodies (90d)"},
		{"sandbox: true\nretention:\n  bodies: 90d\n", `unknown key "bodies" (known keys: message_bodies, conversations)`},
		{"providers:\n  meta:\n    app_secret: s\n    verify_token: v\n    whatsapp_business_account_ids: {\"+15550002222\": \"waba-1\"}\n",
			`omnigate.yaml:5: providers.meta.whatsapp_business_account_ids.+15550002222: must be a WhatsApp Business Account id (digits only)`},
	}
	for _, b := range bad {
		_, err := parse([]byte(b.doc), "", lookupIn(nil))
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%q: err = %v, want it to contain %q", b.doc, err, b.want)
		}
	}
	if got := (&Twilio{BaseURL: DefaultTwilioBaseURL}).ContentURL(); got != "https://content.twilio.com" {
		t.Errorf("content url with the default base = %s", got)
	}
	if got := (&Twilio{BaseURL: "http://127.0.0.1:9/sandbox/twilio"}).ContentURL(); got != "http://127.0.0.1:9/sandbox/twilio" {
		t.Errorf("content url with another base = %s", got)
	}
}

package sandbox

import (
	"net/url"
	"testing"

	twclient "github.com/twilio/twilio-go/client"

	"github.com/omnigate/omnigate/adapters/signature"
)

// TestTwilioSignature checks the sandbox's signing against Twilio's published example
// and against twilio-go's validator, which omnigate uses to verify.
func TestTwilioSignature(t *testing.T) {
	t.Parallel()
	const fullURL = "https://mycompany.com/myapp.php?foo=1&bar=2"
	form := url.Values{
		"CallSid": {"CA1234567890ABCDE"},
		"Caller":  {"+14158675309"},
		"Digits":  {"1234"},
		"From":    {"+14158675309"},
		"To":      {"+18005551212"},
	}
	sig := signature.Twilio("12345", fullURL, form)
	if want := "RSOYDt4T1cUTdK1PDd93/VVr8B8="; sig != want {
		t.Errorf("signature = %q, want Twilio's %q", sig, want)
	}
	params := map[string]string{}
	for k, vs := range form {
		params[k] = vs[0]
	}
	v := twclient.NewRequestValidator("12345")
	if !v.Validate(fullURL, params, sig) {
		t.Error("twilio-go's validator rejects the sandbox's signature")
	}
}

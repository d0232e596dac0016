package signature_test

import (
	"net/url"
	"testing"

	"github.com/twilio/twilio-go/client"

	"github.com/omnigate/omnigate/adapters/signature"
)

// TestSHA256 checks the MAC against a value computed independently (RFC 4231 test
// case 2: key "Jefe", data "what do ya want for nothing?"), in both encodings.
func TestSHA256(t *testing.T) {
	const key, data = "Jefe", "what do ya want for nothing?"
	const wantHex = "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
	if got := signature.SHA256(key, []byte(data), signature.Hex); got != wantHex {
		t.Errorf("hex = %s, want %s", got, wantHex)
	}
	const wantB64 = "sha256=W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM="
	if got := signature.SHA256(key, []byte(data), signature.Base64); got != wantB64 {
		t.Errorf("base64 = %s, want %s", got, wantB64)
	}
	for _, tc := range []struct {
		name   string
		header string
		enc    signature.Encoding
		ok     bool
	}{
		{"hex", wantHex, signature.Hex, true},
		{"base64", wantB64, signature.Base64, true},
		{"other encoding", wantHex, signature.Base64, false},
		{"no prefix", wantHex[len("sha256="):], signature.Hex, false},
		{"other body's", signature.SHA256(key, []byte("x"), signature.Hex), signature.Hex, false},
		{"empty", "", signature.Hex, false},
	} {
		if got := signature.VerifySHA256(key, tc.header, []byte(data), tc.enc); got != tc.ok {
			t.Errorf("%s: verified %v, want %v", tc.name, got, tc.ok)
		}
	}
}

// TestTwilio: what Twilio would sign, twilio-go's validator (the adapter's) accepts.
func TestTwilio(t *testing.T) {
	const token, u = "12345", "https://mycompany.com/myapp.php?foo=1&bar=2"
	form := url.Values{"CallSid": {"CA1234567890ABCDE"}, "Caller": {"+12349013030"}, "Digits": {"1234"},
		"From": {"+12349013030"}, "To": {"+18005551212"}}
	params := map[string]string{}
	for k, v := range form {
		params[k] = v[0]
	}
	sig := signature.Twilio(token, u, form)
	valid, other := client.NewRequestValidator(token), client.NewRequestValidator("other")
	if !valid.Validate(u, params, sig) {
		t.Errorf("twilio-go refuses %s", sig)
	}
	if other.Validate(u, params, sig) {
		t.Error("another token's validator accepted it")
	}
}

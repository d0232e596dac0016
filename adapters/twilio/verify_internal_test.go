package twilio

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/url"
	"testing"
)

// TestPublishedSignatureVector is the example from Twilio's webhook security docs.
func TestPublishedSignatureVector(t *testing.T) {
	t.Parallel()
	a, err := New(Config{AccountSID: "AC1", AuthToken: "12345", PublicURL: "https://mycompany.com"})
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{
		"CallSid": {"CA1234567890ABCDE"},
		"Caller":  {"+14158675309"},
		"Digits":  {"1234"},
		"From":    {"+14158675309"},
		"To":      {"+18005551212"},
	}
	const requestURI = "/myapp.php?foo=1&bar=2"
	if !a.verify(requestURI, form, "RSOYDt4T1cUTdK1PDd93/VVr8B8=") {
		t.Error("Twilio's published signature does not verify")
	}

	// The same parameters signed in the order they were posted, not sorted by name.
	s := "https://mycompany.com" + requestURI
	for _, kv := range [][2]string{{"To", "+18005551212"}, {"From", "+14158675309"},
		{"Digits", "1234"}, {"Caller", "+14158675309"}, {"CallSid", "CA1234567890ABCDE"}} {
		s += kv[0] + kv[1]
	}
	mac := hmac.New(sha1.New, []byte("12345"))
	mac.Write([]byte(s))
	if unsorted := base64.StdEncoding.EncodeToString(mac.Sum(nil)); a.verify(requestURI, form, unsorted) {
		t.Error("a signature over unsorted parameters verifies")
	}
}

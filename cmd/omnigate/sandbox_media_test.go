package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/omnigate/omnigate/adapters/sandbox"
)

// TestSandboxMediaThroughOmnigate: with the example configuration (sandbox carriers
// only), a customer's photo on every channel that has one arrives as a /v1/media/{id}
// URL that streams the sandbox carrier's picture, fetched with the credentials the
// sandbox checks, so inbound media works without any account.
func TestSandboxMediaThroughOmnigate(t *testing.T) {
	t.Parallel()
	base := exampleDaemon(t)
	const ann, platform = "ann-demo-key", "platform-demo-key"
	get := func(key, u string) (int, []byte) {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	for _, tc := range []struct{ channel, address, contact string }{
		{"sms", "+15550001111", "+14155550181"},
		{"whatsapp", "+15550002222", "+14155550182"},
		{"messenger", "104512345678", "2461718453860183"},
		{"instagram", "17841400000000", "5318329871520184"},
		{"x", "1234567890", "9876500185"},
	} {
		t.Run(tc.channel, func(t *testing.T) {
			b, _ := json.Marshal(map[string]string{"channel": tc.channel, "address": tc.address, "contact": tc.contact,
				"action": "photo", "text": "look"})
			resp, err := http.Post(base+"/sandbox/console/customer", "application/json", bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted {
				t.Fatalf("photo action: %d", resp.StatusCode)
			}
			var mediaURL string
			deadline := time.Now().Add(20 * time.Second)
			for mediaURL == "" {
				if time.Now().After(deadline) {
					t.Fatal("gave up waiting for the photo in history")
				}
				time.Sleep(10 * time.Millisecond)
				q := url.Values{"channel": {tc.channel}, "address": {tc.contact}}
				_, raw := get(platform, base+"/v1/conversations?"+q.Encode())
				var list struct {
					Conversations []struct {
						ID string `json:"id"`
					} `json:"conversations"`
				}
				json.Unmarshal(raw, &list)
				if len(list.Conversations) == 0 {
					continue
				}
				_, raw = get(platform, base+"/v1/conversations/"+list.Conversations[0].ID)
				var c struct {
					Messages []struct {
						Media []struct {
							URL string `json:"url"`
						} `json:"media"`
					} `json:"messages"`
				}
				json.Unmarshal(raw, &c)
				if len(c.Messages) > 0 && len(c.Messages[0].Media) == 1 {
					mediaURL = c.Messages[0].Media[0].URL
				}
			}
			code, got := get(ann, mediaURL)
			if code != http.StatusOK || !bytes.Equal(got, sandbox.Photo()) {
				t.Errorf("GET %s: %d, %d bytes; want the sandbox's %d-byte photo", mediaURL, code, len(got), len(sandbox.Photo()))
			}
		})
	}
}

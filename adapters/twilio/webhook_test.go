package twilio_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/adapters"
)

func TestParseWebhook(t *testing.T) {
	t.Parallel()
	const mediaBase = "https://api.twilio.com/2010-04-01/Accounts/" + accountSID + "/Messages/MM3d7f9e1c2b4a6d8f0e1c3b5a7d9f1e3c/Media/"
	tests := []struct {
		file   string
		target string
		want   []adapters.Event
	}{
		{"sms_inbound.form", "/webhooks/twilio", []adapters.Event{{
			Kind: adapters.EventMessage, Channel: omnigate.SMS,
			ProviderMessageID: "SM1f0e8ae6ade43cb3c0ce4525424e404f",
			Address:           "+15550001111", ContactAddress: "+14155550123",
			Text: "Hello there, where is my order?",
		}}},
		{"whatsapp_inbound.form", "/webhooks/twilio", []adapters.Event{{
			Kind: adapters.EventMessage, Channel: omnigate.WhatsApp,
			ProviderMessageID: "SM2c6b2a5d1f8e4b0c9d7e6f5a4b3c2d1e",
			Address:           "+15550002222", ContactAddress: "+447700900123", ContactName: "Ada Lovelace",
			Text: "Hi! Can I change my delivery address?",
		}}},
		{"mms_inbound.form", "/webhooks/twilio", []adapters.Event{{
			Kind: adapters.EventMessage, Channel: omnigate.SMS,
			ProviderMessageID: "MM3d7f9e1c2b4a6d8f0e1c3b5a7d9f1e3c",
			Address:           "+15550001111", ContactAddress: "+12125550199",
			Text: "Photos of the damage",
			Media: []omnigate.Media{
				{URL: mediaBase + "ME1111111111111111111111111111111a", ContentType: "image/jpeg"},
				{URL: mediaBase + "ME2222222222222222222222222222222b", ContentType: "image/png"},
			},
		}}},
		{"status_delivered.form", "/webhooks/twilio/status?mid=msg-1", []adapters.Event{{
			Kind: adapters.EventStatus, Channel: omnigate.SMS,
			ProviderMessageID: "SM4e8f0a2b4c6d8e0f1a3b5c7d9e1f3a5b", MessageID: "msg-1",
			Address: "+15550001111", ContactAddress: "+14155550123", Status: omnigate.StatusDelivered,
		}}},
		{"status_undelivered.form", "/webhooks/twilio/status?mid=msg-2", []adapters.Event{{
			Kind: adapters.EventStatus, Channel: omnigate.SMS,
			ProviderMessageID: "SM5f9a1b3c5d7e9f1a2b4c6d8e0f2a4b6c", MessageID: "msg-2",
			Address: "+15550001111", ContactAddress: "+14155550123",
			Status: omnigate.StatusFailed, ErrorCode: "30003",
		}}},
		{"status_read.form", "/webhooks/twilio/status?mid=msg-3", []adapters.Event{{
			Kind: adapters.EventStatus, Channel: omnigate.WhatsApp,
			ProviderMessageID: "SM6a0b2c4d6e8f0a1b3c5d7e9f1a3b5c7d", MessageID: "msg-3",
			Address: "+15550002222", ContactAddress: "+447700900123", Status: omnigate.StatusRead,
		}}},
	}
	a := newAdapter(t, "")
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			body := fixture(t, tt.file)
			got, err := a.ParseWebhook(signedRequest(t, tt.target, body), body)
			if err != nil {
				t.Fatalf("ParseWebhook: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSignatureURL checks which URL the signature must cover: omnigate's public URL and
// the request URI, with or without the default port.
func TestSignatureURL(t *testing.T) {
	t.Parallel()
	a := newAdapter(t, "")
	body := fixture(t, "status_delivered.form")
	form, _ := url.ParseQuery(string(body))
	const target = "/webhooks/twilio/status?mid=msg-1"
	tests := []struct {
		name    string
		signed  string
		wantErr error
	}{
		{"public URL", publicURL + target, nil},
		{"public URL with the default port", "https://omnigate.example.com:443" + target, nil},
		{"another host", "https://attacker.example.com" + target, adapters.ErrBadSignature},
		{"another message id", publicURL + "/webhooks/twilio/status?mid=msg-2", adapters.ErrBadSignature},
		{"another token", "", adapters.ErrBadSignature},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodPost, target, strings.NewReader(string(body)))
		sig := sign(authToken, tt.signed, form)
		if tt.signed == "" {
			sig = sign("not-the-token", publicURL+target, form)
		}
		r.Header.Set("X-Twilio-Signature", sig)
		if _, err := a.ParseWebhook(r, body); !errors.Is(err, tt.wantErr) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.wantErr)
		}
	}
}

func TestParseWebhookMalformed(t *testing.T) {
	t.Parallel()
	a := newAdapter(t, "")
	tests := []struct {
		name   string
		target string
		body   string
	}{
		{"no MessageSid", "/webhooks/twilio", "From=%2B14155550123&To=%2B15550001111&Body=hi"},
		{"no From", "/webhooks/twilio", "MessageSid=SM1&To=%2B15550001111&Body=hi"},
		{"NumMedia not a number", "/webhooks/twilio", "MessageSid=SM1&From=%2B1&To=%2B2&NumMedia=two"},
		{"missing MediaUrl", "/webhooks/twilio", "MessageSid=SM1&From=%2B1&To=%2B2&NumMedia=1"},
		{"status without MessageStatus", "/webhooks/twilio/status?mid=m", "MessageSid=SM1"},
		{"unknown path", "/webhooks/twilio/other", "MessageSid=SM1"},
	}
	for _, tt := range tests {
		body := []byte(tt.body)
		if _, err := a.ParseWebhook(signedRequest(t, tt.target, body), body); !errors.Is(err, adapters.ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", tt.name, err)
		}
	}

	// A body that is not a form cannot be signed over its parameters at all.
	r := httptest.NewRequest(http.MethodPost, "/webhooks/twilio", strings.NewReader("a=%zz"))
	r.Header.Set("X-Twilio-Signature", "c2lnbmF0dXJl")
	if _, err := a.ParseWebhook(r, []byte("a=%zz")); !errors.Is(err, adapters.ErrMalformed) {
		t.Errorf("unparseable form: err = %v, want ErrMalformed", err)
	}
}

func TestUnknownStatusIsIgnored(t *testing.T) {
	t.Parallel()
	a := newAdapter(t, "")
	body := []byte("MessageSid=SM1&MessageStatus=partially_delivered&From=%2B15550001111&To=%2B14155550123")
	evs, err := a.ParseWebhook(signedRequest(t, "/webhooks/twilio/status?mid=m", body), body)
	if err != nil || len(evs) != 0 {
		t.Errorf("got %v, %v; want no events and no error", evs, err)
	}
}

func TestAcknowledge(t *testing.T) {
	t.Parallel()
	w := httptest.NewRecorder()
	newAdapter(t, "").Acknowledge(w, httptest.NewRequest(http.MethodPost, "/webhooks/twilio", nil))
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "text/xml" {
		t.Errorf("status %d, Content-Type %q", w.Code, w.Header().Get("Content-Type"))
	}
	if want := `<?xml version="1.0" encoding="UTF-8"?><Response></Response>`; w.Body.String() != want {
		t.Errorf("body = %q, want %q", w.Body.String(), want)
	}
}

package twilio_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/adapters"
	"github.com/omnigate/omnigate/adapters/adaptertest"
	"github.com/omnigate/omnigate/adapters/twilio"
)

const (
	accountSID = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	authToken  = "f00dfacef00dfacef00dfacef00dface"
	publicURL  = "https://omnigate.example.com"
	messageSID = "SM1234567890abcdef1234567890abcdef"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newAdapter(t testing.TB, baseURL string, mod ...func(*twilio.Config)) *twilio.Twilio {
	t.Helper()
	cfg := twilio.Config{
		AccountSID:  accountSID,
		AuthToken:   authToken,
		BaseURL:     baseURL,
		PublicURL:   publicURL,
		ContentSIDs: map[string]string{"order_update/en": "HXb5b62575e6e4ff6129ad7c8efe1f983e"},
	}
	for _, f := range mod {
		f(&cfg)
	}
	a, err := twilio.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
}

// twilioJSON writes a JSON answer the way Twilio's API does.
func twilioJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

const acceptedMessage = `{"account_sid": "` + accountSID + `", "api_version": "2010-04-01",
 "body": "Your order shipped", "date_created": "Thu, 24 Aug 2023 05:01:45 +0000",
 "date_sent": null, "date_updated": "Thu, 24 Aug 2023 05:01:45 +0000",
 "direction": "outbound-api", "error_code": null, "error_message": null,
 "from": "+15550001111", "messaging_service_sid": null, "num_media": "0", "num_segments": "1",
 "price": null, "price_unit": "USD", "sid": "` + messageSID + `", "status": "queued",
 "subresource_uris": {"media": "/2010-04-01/Accounts/` + accountSID + `/Messages/` + messageSID + `/Media.json"},
 "to": "+14155550123", "uri": "/2010-04-01/Accounts/` + accountSID + `/Messages/` + messageSID + `.json"}`

// sign computes X-Twilio-Signature as Twilio documents it: the full URL, then every
// POST parameter sorted by name, name then value, HMAC-SHA1 with the auth token.
func sign(token, fullURL string, form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := fullURL
	for _, k := range keys {
		for _, v := range form[k] {
			s += k + v
		}
	}
	mac := hmac.New(sha1.New, []byte(token))
	mac.Write([]byte(s))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// signedRequest builds the webhook request Twilio would post to publicURL+target.
func signedRequest(t *testing.T, target string, body []byte) *http.Request {
	t.Helper()
	form, err := url.ParseQuery(string(body))
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, target, strings.NewReader(string(body)))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("X-Twilio-Signature", sign(authToken, publicURL+target, form))
	return r
}

func TestConformance(t *testing.T) {
	adaptertest.Run(t, adaptertest.Harness{
		New: func(t *testing.T, baseURL string) adapters.Adapter { return newAdapter(t, baseURL) },
		Message: adapters.Outbound{
			MessageID: "msg-1", Channel: omnigate.SMS, From: "+15550001111", To: "+14155550123",
			Text: "Your order shipped", StatusCallback: publicURL + "/webhooks/twilio/status?mid=msg-1",
		},
		Accept: func(w http.ResponseWriter, r *http.Request) {
			twilioJSON(w, http.StatusCreated, acceptedMessage)
		},
		WantProviderID: messageSID,
		Throttle: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "30")
			twilioJSON(w, http.StatusTooManyRequests, `{"code": 20429, "message": "Too Many Requests",
				"more_info": "https://www.twilio.com/docs/errors/20429", "status": 429}`)
		},
		WantRetryAfter: 30 * time.Second,
		Reject: func(w http.ResponseWriter, r *http.Request) {
			twilioJSON(w, http.StatusBadRequest, `{"code": 21211, "message": "Invalid 'To' Phone Number: +1415555012",
				"more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}`)
		},
		WantCode: "21211",
		Webhook: func(t *testing.T) (*http.Request, []byte) {
			body := fixture(t, "sms_inbound.form")
			return signedRequest(t, "/webhooks/twilio", body), body
		},
		WantEvents: 1,
	})
}

func TestSendWireFormat(t *testing.T) {
	t.Parallel()
	callback := publicURL + "/webhooks/twilio/status?mid=msg-7"
	tests := []struct {
		name string
		m    adapters.Outbound
		want url.Values
	}{
		{
			name: "sms",
			m: adapters.Outbound{Channel: omnigate.SMS, From: "+15550001111", To: "+14155550123",
				Text: "Your order shipped", StatusCallback: callback},
			want: url.Values{"To": {"+14155550123"}, "From": {"+15550001111"},
				"Body": {"Your order shipped"}, "StatusCallback": {callback}},
		},
		{
			name: "mms with two media",
			m: adapters.Outbound{Channel: omnigate.SMS, From: "+15550001111", To: "+14155550123",
				Text: "Your receipts", StatusCallback: callback, Media: []omnigate.Media{
					{URL: "https://cdn.example.com/a.jpg", ContentType: "image/jpeg"},
					{URL: "https://cdn.example.com/b.pdf", ContentType: "application/pdf"},
				}},
			want: url.Values{"To": {"+14155550123"}, "From": {"+15550001111"}, "Body": {"Your receipts"},
				"StatusCallback": {callback},
				"MediaUrl":       {"https://cdn.example.com/a.jpg", "https://cdn.example.com/b.pdf"}},
		},
		{
			name: "whatsapp text",
			m: adapters.Outbound{Channel: omnigate.WhatsApp, From: "+15550002222", To: "+447700900123",
				Text: "Hello from support", StatusCallback: callback},
			want: url.Values{"To": {"whatsapp:+447700900123"}, "From": {"whatsapp:+15550002222"},
				"Body": {"Hello from support"}, "StatusCallback": {callback}},
		},
		{
			name: "whatsapp template",
			m: adapters.Outbound{Channel: omnigate.WhatsApp, From: "+15550002222", To: "+447700900123",
				StatusCallback: callback, Template: &omnigate.Template{Name: "order_update", Language: "en",
					Variables: map[string]string{"2": "tomorrow", "1": "Ada"}}},
			want: url.Values{"To": {"whatsapp:+447700900123"}, "From": {"whatsapp:+15550002222"},
				"ContentSid": {"HXb5b62575e6e4ff6129ad7c8efe1f983e"}, "ContentVariables": {`{"1":"Ada","2":"tomorrow"}`},
				"StatusCallback": {callback}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got url.Values
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPost || r.URL.Path != "/prefix/2010-04-01/Accounts/"+accountSID+"/Messages.json" {
					t.Errorf("request %s %s", r.Method, r.URL.Path)
				}
				if user, pass, ok := r.BasicAuth(); !ok || user != accountSID || pass != authToken {
					t.Errorf("basic auth = %q, %q, %v", user, pass, ok)
				}
				if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
					t.Errorf("Content-Type = %q", ct)
				}
				if err := r.ParseForm(); err != nil {
					t.Error(err)
				}
				got = r.PostForm
				twilioJSON(w, http.StatusCreated, acceptedMessage)
			}))
			defer srv.Close()
			// A path prefix in BaseURL is kept, as when the sandbox is mounted under one.
			rc, err := newAdapter(t, srv.URL+"/prefix").Send(context.Background(), tt.m)
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("form (-want +got):\n%s", diff)
			}
			if want := (adapters.Receipt{ProviderMessageID: messageSID, Status: omnigate.StatusSent}); rc != want {
				t.Errorf("receipt = %+v, want %+v", rc, want)
			}
		})
	}
}

func TestSendRefusedLocally(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	a := newAdapter(t, srv.URL)
	tests := []struct {
		name     string
		m        adapters.Outbound
		wantCode string
	}{
		{"unknown template", adapters.Outbound{Channel: omnigate.WhatsApp, From: "+15550002222", To: "+447700900123",
			Template: &omnigate.Template{Name: "order_update", Language: "de"}}, "template_not_configured"},
		{"channel twilio does not carry", adapters.Outbound{Channel: omnigate.Messenger, From: "1", To: "2", Text: "hi"},
			"unsupported_channel"},
		{"nothing to send", adapters.Outbound{Channel: omnigate.SMS, From: "+15550001111", To: "+14155550123"},
			"empty_message"},
	}
	for _, tt := range tests {
		_, err := a.Send(context.Background(), tt.m)
		var pe *adapters.PermanentError
		if !errors.As(err, &pe) || pe.Code != tt.wantCode {
			t.Errorf("%s: err = %v, want permanent %s", tt.name, err, tt.wantCode)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("Twilio was called %d times for sends refused locally", n)
	}
}

func TestSendClassifiesErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		status         int
		retryAfter     string
		body           string
		wantRetryable  bool
		wantCode       string
		wantRetryAfter time.Duration
	}{
		{"opted out", 400, "", `{"code": 21610, "message": "Attempt to send to unsubscribed recipient", "more_info": "https://www.twilio.com/docs/errors/21610", "status": 400}`, false, "21610", 0},
		{"not a mobile number", 400, "", `{"code": 21408, "message": "Permission to send an SMS has not been enabled for the region", "more_info": "https://www.twilio.com/docs/errors/21408", "status": 400}`, false, "21408", 0},
		{"whatsapp window closed", 400, "", `{"code": 63016, "message": "Failed to send freeform message because you are outside the allowed window", "more_info": "https://www.twilio.com/docs/errors/63016", "status": 400}`, false, "63016", 0},
		{"bad credentials", 401, "", `{"code": 20003, "message": "Authenticate", "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401}`, false, "20003", 0},
		{"4xx without a Twilio body", 404, "", `not json`, false, "http_404", 0},
		{"throttle code in a 400", 400, "", `{"code": 20429, "message": "Too Many Requests", "more_info": "", "status": 400}`, true, "20429", 0},
		{"5xx with Twilio body", 502, "", `{"code": 20500, "message": "Internal Server Error", "more_info": "", "status": 502}`, true, "20500", 0},
		{"503 asking for a long wait", 503, "120", `{"code": 20503, "message": "Service Unavailable", "more_info": "", "status": 503}`, true, "20503", 2 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.retryAfter != "" {
					w.Header().Set("Retry-After", tt.retryAfter)
				}
				twilioJSON(w, tt.status, tt.body)
			}))
			defer srv.Close()
			_, err := newAdapter(t, srv.URL).Send(context.Background(), smsMessage())
			adaptertest.CheckClass(t, err, adaptertest.Class{Retryable: tt.wantRetryable, Code: tt.wantCode, RetryAfter: tt.wantRetryAfter, CheckRetryAfter: true})
		})
	}
}

func smsMessage() adapters.Outbound {
	return adapters.Outbound{Channel: omnigate.SMS, From: "+15550001111", To: "+14155550123", Text: "hi"}
}

// TestRetryOnlyWhatNeverArrived counts requests at the fake Twilio: a POST that reached
// it is repeated only when Twilio asked for it (503 with no or a short Retry-After).
func TestRetryOnlyWhatNeverArrived(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		handler  http.HandlerFunc
		wantHits int32
	}{
		{"500 is left to the outbox", func(w http.ResponseWriter, r *http.Request) {
			twilioJSON(w, 500, `{"code": 20500, "message": "Internal Server Error", "more_info": "", "status": 500}`)
		}, 1},
		{"503 is retried in place", func(w http.ResponseWriter, r *http.Request) {
			twilioJSON(w, 503, `{"code": 20503, "message": "Service Unavailable", "more_info": "", "status": 503}`)
		}, 3},
		{"429 with a short Retry-After is retried in place", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "0")
			twilioJSON(w, 429, `{"code": 20429, "message": "Too Many Requests", "more_info": "", "status": 429}`)
		}, 3},
		{"a connection dropped after the request arrived is left to the outbox", func(w http.ResponseWriter, r *http.Request) {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
		}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var hits atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				tt.handler(w, r)
			}))
			defer srv.Close()
			_, err := newAdapter(t, srv.URL).Send(context.Background(), smsMessage())
			var re *adapters.RetryableError
			if !errors.As(err, &re) {
				t.Errorf("err = %v, want *RetryableError", err)
			}
			if n := hits.Load(); n != tt.wantHits {
				t.Errorf("Twilio saw %d requests, want %d", n, tt.wantHits)
			}
		})
	}
}

func TestRetryRefusedConnection(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: every dial is refused
	var dials atomic.Int32
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}}
	a := newAdapter(t, "http://"+addr, func(c *twilio.Config) { c.HTTPClient = hc })
	_, err = a.Send(context.Background(), smsMessage())
	var re *adapters.RetryableError
	if !errors.As(err, &re) {
		t.Fatalf("err = %v, want *RetryableError", err)
	}
	if n := dials.Load(); n != 3 {
		t.Errorf("dialed %d times, want 3 (a refused connection never reached Twilio)", n)
	}
}

func TestNewReportsEveryProblem(t *testing.T) {
	t.Parallel()
	_, err := twilio.New(twilio.Config{BaseURL: "api.twilio.com", ContentSIDs: map[string]string{"nolang": "HX1"}})
	if err == nil {
		t.Fatal("New accepted an empty configuration")
	}
	for _, want := range []string{"account_sid", "auth_token", "base_url", "public_url", "content_sids"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

func TestAccount(t *testing.T) {
	t.Parallel()
	a := newAdapter(t, "")
	if a.Provider() != "twilio" || a.Account() != "twilio:"+accountSID {
		t.Errorf("Provider, Account = %q, %q", a.Provider(), a.Account())
	}
}

// TestNewRefusesCredentialsTwilioGoRefuses: a token with a character twilio-go will not
// send (a trailing newline from a secret store) fails at start, not at every send, and
// the message never quotes the secret.
func TestNewRefusesCredentialsTwilioGoRefuses(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ sid, token, want string }{
		{"AC0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcd\n", "auth_token"},
		{"AC0123456789abcdef0123456789abcdef", "tok-en", "auth_token"},
		{"AC01234567-9abcdef", "0123456789abcdef0123456789abcdef", "account_sid"},
	} {
		_, err := twilio.New(twilio.Config{AccountSID: tt.sid, AuthToken: tt.token, PublicURL: "https://omnigate.example.com"})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%q, %q) = %v, want an error about %s", tt.sid, tt.token, err, tt.want)
			continue
		}
		if strings.Contains(err.Error(), tt.token) {
			t.Errorf("the error quotes the token: %v", err)
		}
	}
}

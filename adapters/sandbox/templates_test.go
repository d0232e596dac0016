package sandbox_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/adapters"
	"github.com/omnigate/omnigate/adapters/meta"
	"github.com/omnigate/omnigate/adapters/sandbox"
	"github.com/omnigate/omnigate/adapters/twilio"
)

// summary is what a listing says of each template, in order.
func summary(ts []adapters.Template) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.Name+"/"+t.Language+" "+t.Category+" "+t.Status)
	}
	return out
}

func TestSandboxMetaTemplatesThroughTheAdapter(t *testing.T) {
	poster := &sandbox.Poster{}
	defer poster.Close()
	h, err := sandbox.NewMeta(sandbox.MetaConfig{AppSecret: "s", WebhookURL: "http://127.0.0.1:1/webhooks/meta", Poster: poster})
	if err != nil {
		t.Fatal(err)
	}
	var pages atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pages.Add(1)
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	a, err := meta.New(meta.Config{AppSecret: "s", VerifyToken: "v", WhatsAppToken: "wa-token",
		WhatsAppPhoneNumberIDs:     map[string]string{"+15550002222": "1098765"},
		WhatsAppBusinessAccountIDs: map[string]string{"+15550002222": "2000000001"}, GraphURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	got, err := a.Templates(context.Background(), omnigate.WhatsApp, "+15550002222")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"order_update/en_US UTILITY approved", "appointment_reminder/en_US UTILITY approved",
		"appointment_reminder/es_ES UTILITY approved", "welcome_back/en_US MARKETING approved",
		"summer_sale/en_US MARKETING rejected"}
	if d := cmp.Diff(want, summary(got)); d != "" {
		t.Errorf("templates (-want +got):\n%s", d)
	}
	if pages.Load() != 3 {
		t.Errorf("%d requests, want the 3 pages followed by cursor", pages.Load())
	}
	if d := cmp.Diff([]string{"1", "2", "3"}, got[0].Variables); d != "" || got[0].ProviderID == "" ||
		got[0].Body != "Hi {{1}}, your order {{2}} has shipped and should arrive {{3}}." {
		t.Errorf("order_update = %+v (variables -want +got: %s)", got[0], d)
	}
	if len(got[3].Variables) != 0 {
		t.Errorf("welcome_back variables = %v, want none", got[3].Variables)
	}
	if _, err := a.Templates(context.Background(), omnigate.WhatsApp, "+15550009999"); !errors.Is(err, adapters.ErrNoTemplates) {
		t.Errorf("a number without a business account: err = %v, want ErrNoTemplates", err)
	}
}

func TestSandboxTwilioTemplatesThroughTheAdapter(t *testing.T) {
	const sid, token = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "tokentokentokentokentokentoken12"
	h := sandbox.NewTwilio(sandbox.TwilioConfig{AccountSID: sid, AuthToken: token})
	srv := httptest.NewServer(http.StripPrefix("/sandbox/twilio", h))
	defer srv.Close()
	a, err := twilio.New(twilio.Config{AccountSID: sid, AuthToken: token, BaseURL: srv.URL + "/sandbox/twilio",
		ContentURL: srv.URL + "/sandbox/twilio", PublicURL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := a.Templates(context.Background(), omnigate.WhatsApp, "+15550002222")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"order_update/en UTILITY approved", "appointment_reminder/en UTILITY approved",
		"appointment_reminder/es UTILITY approved", "welcome_back/en MARKETING approved",
		"summer_sale/en MARKETING rejected"}
	if d := cmp.Diff(want, summary(got)); d != "" {
		t.Errorf("templates (-want +got):\n%s", d)
	}
	if len(got[0].ProviderID) != 34 || got[0].ProviderID[:2] != "HX" || len(got[0].Variables) != 3 {
		t.Errorf("order_update = %+v, want a Content SID and 3 variables", got[0])
	}
	// A wrong token is Twilio's 20003: permanent.
	bad, _ := twilio.New(twilio.Config{AccountSID: sid, AuthToken: "wrongwrongwrong", BaseURL: srv.URL,
		ContentURL: srv.URL + "/sandbox/twilio", PublicURL: "http://127.0.0.1:1"})
	var perm *adapters.PermanentError
	if _, err := bad.Templates(context.Background(), omnigate.WhatsApp, "+15550002222"); !errors.As(err, &perm) || perm.Code != "20003" {
		t.Errorf("wrong credentials: err = %v, want permanent 20003", err)
	}
	if _, err := a.Templates(context.Background(), omnigate.SMS, "+15550001111"); !errors.Is(err, adapters.ErrNoTemplates) {
		t.Errorf("sms: err = %v, want ErrNoTemplates", err)
	}
}

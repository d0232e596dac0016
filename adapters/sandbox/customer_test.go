package sandbox_test

import (
	"net/http"
	"testing"

	"go.uber.org/goleak"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/adapters"
	"github.com/omnigate/omnigate/adapters/meta"
	"github.com/omnigate/omnigate/adapters/open"
	"github.com/omnigate/omnigate/adapters/sandbox"
	"github.com/omnigate/omnigate/adapters/twilio"
	"github.com/omnigate/omnigate/adapters/x"
)

// TestCustomerActions: what the console's simulated customer does is posted in each
// carrier's wire format, signed, and the real adapter reads it as the event it means.
func TestCustomerActions(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	const (
		page, ig, number, pnid = "104512345678", "17841400000000", "+15550002222", "1098765"
		sms, xUs, integration  = "+15550001111", "1234567890", "web-widget"
		sid, token             = "ACsandbox00000000000000000000000000", "sandboxtwiliotoken0000000000000000"
	)
	transport := &http.Transport{}
	defer transport.CloseIdleConnections()
	poster := &sandbox.Poster{Client: &http.Client{Transport: transport}}
	defer poster.Close()

	// One receiver per carrier, each parsing with the real adapter.
	var tw, mt, xa, op adapters.Adapter
	twHook, twEvents := receiver(t, func() adapters.Adapter { return tw })
	defer twHook.Close()
	mtHook, mtEvents := receiver(t, func() adapters.Adapter { return mt })
	defer mtHook.Close()
	xHook, xEvents := receiver(t, func() adapters.Adapter { return xa })
	defer xHook.Close()
	opHook, opEvents := receiver(t, func() adapters.Adapter { return op })
	defer opHook.Close()

	var err error
	if tw, err = twilio.New(twilio.Config{AccountSID: sid, AuthToken: token, PublicURL: twHook.URL}); err != nil {
		t.Fatal(err)
	}
	if mt, err = meta.New(meta.Config{AppSecret: "app-secret", VerifyToken: "v", PageTokens: map[string]string{page: "t", ig: "t"},
		WhatsAppToken: "t", WhatsAppPhoneNumberIDs: map[string]string{number: pnid}, StoryMentions: func() bool { return true }}); err != nil {
		t.Fatal(err)
	}
	if xa, err = x.New(x.Config{ConsumerSecret: "x-secret", BearerTokens: map[string]string{xUs: "t"}}); err != nil {
		t.Fatal(err)
	}
	if op, err = open.New(open.Config{Integrations: map[string]open.Integration{
		integration: {OutboundURL: "http://127.0.0.1:1/unused", Secret: "open-secret"}}}); err != nil {
		t.Fatal(err)
	}

	twc := sandbox.NewTwilio(sandbox.TwilioConfig{AccountSID: sid, AuthToken: token, InboundURL: twHook.URL + "/webhooks/twilio", Poster: poster})
	mtc, err := sandbox.NewMeta(sandbox.MetaConfig{AppSecret: "app-secret", WebhookURL: mtHook.URL + "/webhooks/meta",
		PhoneNumberIDs: map[string]string{pnid: number}, InstagramIDs: []string{ig}, Poster: poster})
	if err != nil {
		t.Fatal(err)
	}
	xc, err := sandbox.NewX(sandbox.XConfig{ConsumerSecret: "x-secret", WebhookURL: xHook.URL + "/webhooks/x",
		Tokens: map[string]string{"t": xUs}, Poster: poster})
	if err != nil {
		t.Fatal(err)
	}
	opc := sandbox.NewOpen(sandbox.OpenConfig{Integration: integration, Secret: "open-secret",
		WebhookURL: opHook.URL + "/webhooks/open/" + integration, Poster: poster})

	one := func(t *testing.T, events <-chan adapters.Event) adapters.Event {
		t.Helper()
		return await(t, events, func(evs []adapters.Event) bool { return len(evs) == 1 })[0]
	}
	check := func(t *testing.T, got adapters.Event, kind adapters.EventKind, ch omnigate.Channel, ours, contact, text string) {
		t.Helper()
		if got.Kind != kind || got.Channel != ch || got.Address != ours || got.ContactAddress != contact || got.Text != text {
			t.Errorf("event = %+v, want %s on %s from %s to %s saying %q", got, kind, ch, contact, ours, text)
		}
	}

	t.Run("sms and STOP", func(t *testing.T) {
		id, err := twc.Say("+14155550100", sms, "STOP")
		if err != nil {
			t.Fatal(err)
		}
		ev := one(t, twEvents)
		check(t, ev, adapters.EventMessage, omnigate.SMS, sms, "+14155550100", "STOP")
		if ev.ProviderMessageID != id {
			t.Errorf("carrier id %q, want %q", ev.ProviderMessageID, id)
		}
	})
	t.Run("whatsapp through twilio", func(t *testing.T) {
		if _, err := twc.Say("whatsapp:+14155550100", "whatsapp:"+number, "hola"); err != nil {
			t.Fatal(err)
		}
		check(t, one(t, twEvents), adapters.EventMessage, omnigate.WhatsApp, number, "+14155550100", "hola")
	})
	t.Run("whatsapp cloud", func(t *testing.T) {
		if _, err := mtc.Say(number, "+14155550100", "hi"); err != nil {
			t.Fatal(err)
		}
		check(t, one(t, mtEvents), adapters.EventMessage, omnigate.WhatsApp, number, "+14155550100", "hi")
		if _, err := mtc.Say("+15550009999", "+14155550100", "hi"); err != sandbox.ErrUnknownAddress {
			t.Errorf("an unknown number: %v", err)
		}
	})
	t.Run("messenger", func(t *testing.T) {
		if _, err := mtc.Say(page, "1254459154682919", "hello page"); err != nil {
			t.Fatal(err)
		}
		check(t, one(t, mtEvents), adapters.EventMessage, omnigate.Messenger, page, "1254459154682919", "hello page")
	})
	t.Run("instagram unsend and story mention", func(t *testing.T) {
		mid, err := mtc.Say(ig, "5318329871523944", "oops")
		if err != nil {
			t.Fatal(err)
		}
		check(t, one(t, mtEvents), adapters.EventMessage, omnigate.Instagram, ig, "5318329871523944", "oops")
		if err := mtc.Unsend(ig, "5318329871523944", mid); err != nil {
			t.Fatal(err)
		}
		if ev := one(t, mtEvents); ev.Kind != adapters.EventUnsend || ev.ProviderMessageID != mid {
			t.Errorf("unsend = %+v", ev)
		}
		if _, err := mtc.StoryMention(ig, "5318329871523944"); err != nil {
			t.Fatal(err)
		}
		if ev := one(t, mtEvents); ev.Kind != adapters.EventMessage || !ev.StoryMention || len(ev.Media) != 1 {
			t.Errorf("story mention = %+v", ev)
		}
		if err := mtc.Unsend(page, "1", "m"); err == nil {
			t.Error("Messenger reported an unsend")
		}
	})
	t.Run("x message and typing", func(t *testing.T) {
		if _, err := xc.Say(xUs, "3001969357", "dm"); err != nil {
			t.Fatal(err)
		}
		check(t, one(t, xEvents), adapters.EventMessage, omnigate.X, xUs, "3001969357", "dm")
		xc.Typing(xUs, "3001969357")
		if ev := one(t, xEvents); ev.Kind != adapters.EventTyping || !ev.Typing || ev.ContactAddress != "3001969357" {
			t.Errorf("typing = %+v", ev)
		}
	})
	t.Run("open message and typing", func(t *testing.T) {
		if _, err := opc.Say("visitor-7", "from the widget"); err != nil {
			t.Fatal(err)
		}
		check(t, one(t, opEvents), adapters.EventMessage, omnigate.Open, integration, "visitor-7", "from the widget")
		opc.Typing("visitor-7", true)
		if ev := one(t, opEvents); ev.Kind != adapters.EventTyping || !ev.Typing || ev.ContactAddress != "visitor-7" {
			t.Errorf("typing = %+v", ev)
		}
	})
}

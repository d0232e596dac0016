package messaging_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/adapters"
	"github.com/omnigate/omnigate/adapters/twilio"
	"github.com/omnigate/omnigate/messaging"
	"github.com/omnigate/omnigate/policy"
)

// TestMediaSizeCap: an attachment within the cap streams whole; one announced larger
// is refused before a byte is read; one that does not announce its size and runs past
// the cap fails the read instead of ending short.
func TestMediaSizeCap(t *testing.T) {
	ctx := context.Background()
	const limit = 1000
	carrier := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		body := bytes.Repeat([]byte{7}, n)
		if r.URL.Query().Get("chunked") == "" {
			w.Header().Set("Content-Length", strconv.Itoa(n))
		}
		w.Header().Set("Content-Type", "image/jpeg")
		w.Write(body)
	}))
	defer carrier.Close()
	tw, err := twilio.New(twilio.Config{AccountSID: "AC1", AuthToken: "tok", BaseURL: carrier.URL, PublicURL: "https://og.example"})
	if err != nil {
		t.Fatal(err)
	}
	reg := adapters.NewRegistry()
	reg.Register(omnigate.SMS, tw)
	st := openStore(t)
	svc, err := messaging.New(messaging.Config{Store: st, Policy: policy.Default, Registry: reg, MediaClient: carrier.Client(),
		MediaBaseURL: "https://og.example", MediaMaxBytes: limit, Now: func() time.Time { return time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC) },
		Queues: func() map[string]omnigate.Queue {
			return map[string]omnigate.Queue{"support": {ID: "support", Addresses: map[omnigate.Channel]string{omnigate.SMS: "+15550001111"}}}
		}})
	if err != nil {
		t.Fatal(err)
	}
	var media []omnigate.Media
	for _, q := range []string{"n=1000", "n=1001", "n=5000&chunked=1"} {
		media = append(media, omnigate.Media{URL: carrier.URL + "/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1?" + q, ContentType: "image/jpeg"})
	}
	if _, err := svc.Ingest(ctx, "twilio", []adapters.Event{{Kind: adapters.EventMessage, Channel: omnigate.SMS, ProviderMessageID: "MM1",
		Address: "+15550001111", ContactAddress: "+14155550100", Media: media}}); err != nil {
		t.Fatal(err)
	}
	cs, _ := st.Conversations(ctx, omnigate.SMS, "+14155550100", 1)
	msgs, err := st.ConversationMessages(ctx, cs[0].ID)
	if err != nil || len(msgs) != 1 || len(msgs[0].Media) != 3 {
		t.Fatalf("history: %+v %v", msgs, err)
	}
	agent := omnigate.Principal{ID: "ann", Queues: []string{"support"}}
	ids := msgs[0].Media

	m, err := svc.Media(ctx, agent, ids[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(m.Body)
	m.Body.Close()
	if err != nil || len(b) != limit || m.ContentType != "image/jpeg" {
		t.Errorf("at the cap: %d bytes, %v, %q", len(b), err, m.ContentType)
	}
	_, err = svc.Media(ctx, agent, ids[1].ID)
	var me *messaging.Error
	if !errors.As(err, &me) || me.Code != "media_too_large" {
		t.Errorf("announced past the cap: %v, want media_too_large", err)
	}
	m, err = svc.Media(ctx, agent, ids[2].ID)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(m.Body)
	m.Body.Close()
	if !errors.Is(err, messaging.ErrMediaTooLarge) {
		t.Errorf("streamed past the cap: %v, want ErrMediaTooLarge", err)
	}
}

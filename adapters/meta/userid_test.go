package meta_test

import (
	"testing"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/adapters"
)

// TestWhatsAppUserIDs: a user with a username writes with a business-scoped user id and
// no phone number (addressed by the id, named by the username); a user with both is
// addressed by the number with the id beside it; a message naming nobody, or an id of
// the wrong shape, is skipped; a receipt for a send to an id names the id.
func TestWhatsAppUserIDs(t *testing.T) {
	m := newMeta(t, "http://graph.invalid", false)
	r, body := signedRequest(t, "whatsapp_user_ids.json")
	evs, err := m.ParseWebhook(r, body)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 3 {
		t.Fatalf("got %d events, want 3: %+v", len(evs), evs)
	}
	a, b, st := evs[0], evs[1], evs[2]
	if a.Kind != adapters.EventMessage || a.ContactAddress != "BR.1502576394655843" || a.ContactUserID != "" ||
		a.ContactName != "ana.costa" || a.Text != "oi" {
		t.Errorf("username user: %+v", a)
	}
	if b.ContactAddress != "+14155550163" || b.ContactUserID != "US.13491208655302741918" || b.ContactName != "Sam" {
		t.Errorf("user with a number: %+v", b)
	}
	if st.Kind != adapters.EventStatus || st.Status != omnigate.StatusDelivered || st.ContactAddress != "BR.1502576394655843" ||
		st.ProviderMessageID != "wamid.OUT1" {
		t.Errorf("receipt: %+v", st)
	}
}

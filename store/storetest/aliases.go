package storetest

import (
	"errors"
	"testing"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/store"
)

// testContactAliases: an alias resolves to its contact's address on its channel only,
// a later alias record replaces the address, and an unknown alias is ErrNotFound.
func testContactAliases(t *testing.T, s store.Store) {
	const bsuid = "US.13491208655302741918"
	lookup := func(ch omnigate.Channel, alias string) (string, error) {
		var got string
		err := s.Update(ctx(), func(tx store.Tx) error {
			var err error
			got, err = tx.ContactByAlias(ch, alias)
			return err
		})
		return got, err
	}
	if _, err := lookup(omnigate.WhatsApp, bsuid); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown alias: %v, want ErrNotFound", err)
	}
	set := func(address string) {
		t.Helper()
		if err := s.Update(ctx(), func(tx store.Tx) error {
			return tx.AliasContact(omnigate.WhatsApp, bsuid, address, t0)
		}); err != nil {
			t.Fatal(err)
		}
	}
	set("+14155550100")
	set("+14155550100") // recorded again at every message: no conflict
	if got, err := lookup(omnigate.WhatsApp, bsuid); err != nil || got != "+14155550100" {
		t.Fatalf("alias = %q, %v; want +14155550100", got, err)
	}
	if _, err := lookup(omnigate.SMS, bsuid); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("alias found on another channel: %v", err)
	}
	set("+14155550199")
	if got, err := lookup(omnigate.WhatsApp, bsuid); err != nil || got != "+14155550199" {
		t.Errorf("replaced alias = %q, %v; want +14155550199", got, err)
	}
}

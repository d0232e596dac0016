package adapters_test

import (
	"context"
	"net/http"
	"sync"
	"testing"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/adapters"
)

type named struct{ provider, account string }

func (n named) Provider() string { return n.provider }
func (n named) Account() string  { return n.account }
func (n named) Send(context.Context, adapters.Outbound) (adapters.Receipt, error) {
	return adapters.Receipt{}, adapters.Permanent("test", "not a carrier", nil)
}
func (n named) ParseWebhook(*http.Request, []byte) ([]adapters.Event, error) { return nil, nil }

// TestRegistryReplace: readers always find a whole adapter, old or new, and never one
// the new set lacks, while a reload replaces the set (run with -race).
func TestRegistryReplace(t *testing.T) {
	build := func(account string) *adapters.Registry {
		r := adapters.NewRegistry()
		a := named{"twilio", account}
		r.Register(omnigate.SMS, a)
		r.Register(omnigate.WhatsApp, a)
		return r
	}
	reg := build("old")
	if a, ok := reg.Provider("twilio"); !ok || a.Account() != "old" {
		t.Fatalf("Provider(twilio) = %v, %v", a, ok)
	}
	if _, ok := reg.Provider("meta"); ok {
		t.Fatal("Provider(meta) found an adapter")
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	mixed := make(chan string, 1)
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				sms, _ := reg.For(omnigate.SMS)
				if _, ok := reg.For(omnigate.X); ok {
					select {
					case mixed <- "x appeared":
					default:
					}
				}
				if acc := sms.Account(); acc != "old" && acc != "new" {
					select {
					case mixed <- acc:
					default:
					}
				}
			}
		})
	}
	for i := range 1000 {
		if i%2 == 0 {
			reg.Replace(build("new"))
		} else {
			reg.Replace(build("old"))
		}
	}
	close(stop)
	wg.Wait()
	select {
	case m := <-mixed:
		t.Fatalf("a reader saw %s", m)
	default:
	}
	reg.Replace(build("new"))
	if a, _ := reg.For(omnigate.WhatsApp); a.Account() != "new" {
		t.Errorf("after Replace, whatsapp is carried by %s", a.Account())
	}
}

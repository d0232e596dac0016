package messaging_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/adapters"
	"github.com/omnigate/omnigate/messaging"
	"github.com/omnigate/omnigate/policy"
)

// TestTemplateCheckFollowsTheSyncedCatalogue: before a number's catalogue was ever
// synced a template send is left to the carrier; after, a send with the wrong variables
// is refused, the right one accepted, and a failing sync keeps the catalogue.
func TestTemplateCheckFollowsTheSyncedCatalogue(t *testing.T) {
	st := openStore(t)
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	q := omnigate.Queue{ID: "support", Addresses: map[omnigate.Channel]string{omnigate.WhatsApp: "+15550002222"}}
	var fail error
	source := func(ctx context.Context, ch omnigate.Channel, from string) ([]adapters.Template, error) {
		if fail != nil {
			return nil, fail
		}
		return []adapters.Template{{Name: "order_update", Language: "en_US", Category: "UTILITY", Status: "approved",
			Body: "Hi {{1}}, order {{2}}", Variables: []string{"1", "2"}, ProviderID: "991"}}, nil
	}
	svc, err := messaging.New(messaging.Config{Store: st, Policy: policy.Default, Templates: source,
		Queues: func() map[string]omnigate.Queue { return map[string]omnigate.Queue{"support": q} },
		Now:    func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	ann := omnigate.Principal{ID: "ann", Permissions: []string{omnigate.PermSend}, Queues: []string{"support"}}
	admin := omnigate.Principal{ID: "ops", Permissions: []string{omnigate.PermAdmin}, Queues: []string{"*"}}
	send := func(to string, vars map[string]string) error {
		_, err := svc.Send(context.Background(), messaging.SendRequest{Principal: ann, Queue: q.ID, Channel: omnigate.WhatsApp,
			To: messaging.Recipients{Addresses: []string{to}}, Template: &omnigate.Template{Name: "order_update", Language: "en_US", Variables: vars}})
		return err
	}
	short := map[string]string{"1": "Ann"}
	if err := send("+14155550101", short); err != nil {
		t.Errorf("never synced: %v, want the send left to the carrier", err)
	}
	if _, err := svc.SyncTemplates(context.Background(), ann); err == nil {
		t.Error("an agent synced templates; want forbidden")
	}
	res, err := svc.SyncTemplates(context.Background(), admin)
	if err != nil || len(res) != 1 || res[0].Status != messaging.SyncOK || res[0].Approved != 1 {
		t.Fatalf("sync = %+v, %v", res, err)
	}
	var me *messaging.Error
	if err := send("+14155550102", short); !errors.As(err, &me) || me.Code != "template_variables" || me.Kind != messaging.KindUnprocessable {
		t.Errorf("short send after the sync: %v, want 422 template_variables", err)
	}
	if err := send("+14155550103", map[string]string{"1": "Ann", "2": "#1"}); err != nil {
		t.Errorf("right send: %v", err)
	}
	if id, ok := svc.TemplateProviderID(context.Background(), omnigate.WhatsApp, "+15550002222", "order_update", "en_US"); !ok || id != "991" {
		t.Errorf("provider id = %q, %v", id, ok)
	}
	fail = adapters.Permanent("190", "Invalid OAuth access token.", nil)
	res, err = svc.SyncTemplates(context.Background(), admin)
	if err != nil || res[0].Status != messaging.SyncFailed {
		t.Errorf("failing sync = %+v, %v", res, err)
	}
	list, err := svc.Templates(context.Background(), ann, "support", omnigate.WhatsApp)
	if err != nil || len(list.Templates) != 1 || list.SyncedAt == nil {
		t.Errorf("after a failed sync: %+v, %v; want the catalogue kept", list, err)
	}
}

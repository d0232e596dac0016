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

// TestReplySend: a reply by conversation id goes from the conversation's address on
// behalf of its current queue, to members of that queue only, under the send rules, and
// not into a conversation that is over.
func TestReplySend(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	queues := map[string]omnigate.Queue{
		"support": {ID: "support", Addresses: map[omnigate.Channel]string{omnigate.SMS: "+15550001111"}},
		"billing": {ID: "billing", Addresses: map[omnigate.Channel]string{omnigate.SMS: "+15550003333"}},
	}
	admin := omnigate.Principal{ID: "admin", Permissions: []string{omnigate.PermAdmin, omnigate.PermAssign}}
	ann := omnigate.Principal{ID: "ann", Permissions: []string{omnigate.PermSend}, Queues: []string{"support"}}
	router := omnigate.Principal{ID: "router", Permissions: []string{omnigate.PermSend, omnigate.PermAssign}, Queues: []string{"support"}}
	dan := omnigate.Principal{ID: "dan", Permissions: []string{omnigate.PermSend}, Queues: []string{"billing"}}
	svc, err := messaging.New(messaging.Config{Store: st, Policy: policy.Default, Now: clock,
		Queues:     func() map[string]omnigate.Queue { return queues },
		Principals: func() []omnigate.Principal { return []omnigate.Principal{admin, ann, router, dan} }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Ingest(ctx, "twilio", []adapters.Event{{Kind: adapters.EventMessage, Channel: omnigate.SMS,
		ProviderMessageID: "SM1", Address: "+15550001111", ContactAddress: "+14155550100", Text: "hi"}}); err != nil {
		t.Fatal(err)
	}
	cs, err := st.Conversations(ctx, omnigate.SMS, "+14155550100", 1)
	if err != nil || len(cs) != 1 {
		t.Fatalf("conversations: %v %v", cs, err)
	}
	conv := cs[0].ID
	if _, err := svc.Transfer(ctx, admin, conv, "billing"); err != nil {
		t.Fatal(err)
	}
	refusal := func(err error) (messaging.Kind, string) {
		var me *messaging.Error
		if !errors.As(err, &me) {
			t.Fatalf("err = %v, want a refusal", err)
		}
		return me.Kind, me.Code
	}
	reply := func(p omnigate.Principal, conv, text string) messaging.SendRequest {
		return messaging.SendRequest{Principal: p, Conversation: conv, Text: text}
	}

	_, err = svc.Send(ctx, reply(ann, conv, "x"))
	if s, c := refusal(err); s != messaging.KindNotFound || c != "conversation_not_found" {
		t.Errorf("a non-member who cannot see it: %d %s", s, c)
	}
	_, err = svc.Send(ctx, reply(router, conv, "x"))
	if s, c := refusal(err); s != messaging.KindForbidden || c != "not_queue_member" {
		t.Errorf("a non-member who can see it: %d %s", s, c)
	}
	_, err = svc.Send(ctx, reply(dan, "conv_none", "x"))
	if s, c := refusal(err); s != messaging.KindNotFound || c != "conversation_not_found" {
		t.Errorf("unknown conversation: %d %s", s, c)
	}

	req := reply(dan, conv, "hello")
	res, err := svc.Send(ctx, req)
	if err != nil || res[0].Err == nil || res[0].Err.Code != "conversation_active" {
		t.Fatalf("reply while queued: %+v %v, want conversation_active", res, err)
	}
	if _, err := svc.Assign(ctx, admin, conv, "dan"); err != nil {
		t.Fatal(err)
	}
	res, err = svc.Send(ctx, req)
	if err != nil || res[0].Err != nil || res[0].ConversationID != conv {
		t.Fatalf("reply when assigned: %+v %v", res, err)
	}
	m, err := st.Message(ctx, res[0].MessageID)
	if err != nil || m.From != "+15550001111" || m.QueueID != "billing" || m.To != "+14155550100" {
		t.Errorf("reply = %+v %v, want from +15550001111 for billing", m, err)
	}

	// Over: disconnected, wrapped up, and the threading timeline has run out.
	if _, _, err := svc.Disconnect(ctx, dan, conv); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Wrapup(ctx, dan, conv, "done", ""); err != nil {
		t.Fatal(err)
	}
	now = now.Add(400 * 24 * time.Hour)
	res, err = svc.Send(ctx, req)
	if err != nil || res[0].Err == nil || res[0].Err.Code != "conversation_closed" {
		t.Fatalf("reply after the timeline: %+v %v, want conversation_closed", res, err)
	}
	if cs, _ := st.Conversations(ctx, omnigate.SMS, "+14155550100", 5); len(cs) != 1 {
		t.Errorf("a refused reply opened a conversation: %d", len(cs))
	}
}

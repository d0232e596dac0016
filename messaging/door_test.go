package messaging_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/messaging"
	"github.com/omnigate/omnigate/policy"
)

func newService(t *testing.T) *messaging.Service {
	t.Helper()
	queues := map[string]omnigate.Queue{
		"support": {ID: "support", Addresses: map[omnigate.Channel]string{omnigate.Open: "web-widget"}},
		"billing": {ID: "billing", Addresses: map[omnigate.Channel]string{omnigate.Open: "app-chat"}},
	}
	svc, err := messaging.New(messaging.Config{Store: openStore(t), Policy: policy.Default,
		Queues: func() map[string]omnigate.Queue { return queues }, Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

var ann = omnigate.Principal{ID: "ann", Permissions: []string{omnigate.PermSend}, Queues: []string{"support"}, DefaultQueue: "support"}

// TestSendOnce: the first request sends and stores the caller's answer; the same key
// and fingerprint replay it; another fingerprint is ErrIdempotencyReused, all as
// typed refusals with their kind.
func TestSendOnce(t *testing.T) {
	svc := newService(t)
	req := messaging.SendRequest{Principal: ann, Channel: omnigate.Open, To: messaging.Recipients{Addresses: []string{"visitor-1"}}, Text: "hi"}
	renders := 0
	render := func(rs []messaging.Result) messaging.Answer {
		renders++
		return messaging.Answer{Code: 202, Body: []byte(rs[0].MessageID)}
	}
	key := messaging.IdempotencyKey{Key: "k1", Fingerprint: []byte("body-1")}
	first, replayed, err := svc.SendOnce(context.Background(), req, key, render)
	if err != nil || replayed || len(first.Body) == 0 {
		t.Fatalf("first = %+v %v %v", first, replayed, err)
	}
	again, replayed, err := svc.SendOnce(context.Background(), req, key, render)
	if err != nil || !replayed || string(again.Body) != string(first.Body) || again.Code != 202 || renders != 1 {
		t.Errorf("replay = %+v %v %v (%d renders), want the first answer replayed", again, replayed, err, renders)
	}
	_, _, err = svc.SendOnce(context.Background(), req, messaging.IdempotencyKey{Key: "k1", Fingerprint: []byte("body-2")}, render)
	if !errors.Is(err, messaging.ErrIdempotencyReused) || messaging.KindOf(err) != messaging.KindUnprocessable {
		t.Errorf("reused key = %v (kind %v), want ErrIdempotencyReused", err, messaging.KindOf(err))
	}
}

// TestVisibility: a principal sees messages and conversations of its queues only;
// anything else is not found, exactly as if it did not exist.
func TestVisibility(t *testing.T) {
	svc := newService(t)
	rs, err := svc.Send(context.Background(), messaging.SendRequest{Principal: ann, Channel: omnigate.Open,
		To: messaging.Recipients{Addresses: []string{"visitor-2"}}, Text: "hello"})
	if err != nil || len(rs) != 1 || rs[0].Err != nil {
		t.Fatalf("send = %+v %v", rs, err)
	}
	if _, err := svc.Message(context.Background(), ann, rs[0].MessageID); err != nil {
		t.Errorf("ann reading her message: %v", err)
	}
	bob := omnigate.Principal{ID: "bob", Permissions: []string{omnigate.PermSend}, Queues: []string{"billing"}}
	if _, err := svc.Message(context.Background(), bob, rs[0].MessageID); messaging.KindOf(err) != messaging.KindNotFound {
		t.Errorf("bob reading another queue's message = %v, want not found", err)
	}
	if _, _, err := svc.Conversation(context.Background(), bob, rs[0].ConversationID); messaging.KindOf(err) != messaging.KindNotFound {
		t.Errorf("bob reading another queue's conversation = %v, want not found", err)
	}
	_, err = svc.Send(context.Background(), messaging.SendRequest{Principal: bob, Queue: "support", Channel: omnigate.Open,
		To: messaging.Recipients{Addresses: []string{"visitor-2"}}, Text: "hello"})
	var me *messaging.Error
	if !errors.As(err, &me) || me.Kind != messaging.KindForbidden || me.Code != "not_queue_member" {
		t.Errorf("bob sending for support = %v, want forbidden not_queue_member", err)
	}
}

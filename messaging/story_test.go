package messaging_test

import (
	"context"
	"testing"
	"time"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/adapters"
	"github.com/omnigate/omnigate/messaging"
	"github.com/omnigate/omnigate/policy"
)

// TestStoryMentionsFollowTheQueueOverride: story mentions are off for Instagram, but
// one queue turns them on; that queue's mentions are stored and the others' dropped.
// The rule is decided here, per queue, and nowhere before.
func TestStoryMentionsFollowTheQueueOverride(t *testing.T) {
	st := openStore(t)
	pol, err := policy.Parse([]byte(`version: 1
channels:
  instagram: {story_mentions: false}
queues:
  stories:
    channels:
      instagram: {story_mentions: true}
`))
	if err != nil {
		t.Fatal(err)
	}
	queues := map[string]omnigate.Queue{
		"stories": {ID: "stories", Addresses: map[omnigate.Channel]string{omnigate.Instagram: "1001"}},
		"plain":   {ID: "plain", Addresses: map[omnigate.Channel]string{omnigate.Instagram: "1002"}},
	}
	svc, err := messaging.New(messaging.Config{Store: st, Policy: func() *policy.Policy { return pol },
		Queues: func() map[string]omnigate.Queue { return queues }, Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	mention := func(address, id string) adapters.Event {
		return adapters.Event{Kind: adapters.EventMessage, Channel: omnigate.Instagram, ProviderMessageID: id,
			Address: address, ContactAddress: "2002", StoryMention: true, Ephemeral: true,
			Media: []omnigate.Media{{URL: "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1"}}}
	}
	got, err := svc.Ingest(context.Background(), "meta", []adapters.Event{mention("1001", "m1"), mention("1002", "m2")})
	if err != nil {
		t.Fatal(err)
	}
	if got.Stored != 1 || got.Dropped != 1 {
		t.Fatalf("ingest = %+v, want the overriding queue's mention stored and the other dropped", got)
	}
	cs, err := st.Conversations(context.Background(), omnigate.Instagram, "2002", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 || cs[0].QueueID != "stories" {
		t.Errorf("conversations = %+v, want one in queue stories", cs)
	}
}

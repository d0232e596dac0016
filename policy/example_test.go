package policy_test

import (
	"fmt"
	"time"

	"github.com/omnigate/omnigate/policy"
)

// A human agent answers a Messenger contact who wrote 30 hours ago: the 24h window is
// closed, so the reply must carry Meta's HUMAN_AGENT tag; an automated reply is refused.
func ExampleDecide() {
	p := policy.Default()
	rules := p.Rules("support", policy.Messenger)
	lastInbound := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	now := lastInbound.Add(30 * time.Hour)
	facts := policy.Facts{LastInboundAt: lastInbound}

	d := policy.Decide(rules, facts, policy.Message{Channel: policy.Messenger, Text: "Following up on your order."}, now)
	fmt.Println(d.Allow, d.Rule, d.MessagingType, d.Tag, d.WindowClosesAt.Format(time.DateTime))

	d = policy.Decide(rules, facts, policy.Message{Channel: policy.Messenger, Text: "Rate us!", Sender: "automated"}, now)
	fmt.Println(d.Allow, d.Rule)
	fmt.Println(d.Reason)
	// Output:
	// true human_agent_tag MESSAGE_TAG HUMAN_AGENT 2025-03-08 09:00:00
	// false human_agent_only
	// the 24h reply window closed; until 7d after the contact's last message only a human agent may reply
}

// SMS decisions carry the segment count, and opt-out keywords are single words in any
// case.
func ExampleRules_Keyword() {
	rules := policy.Default().Rules("", policy.SMS)
	fmt.Println(rules.Keyword(" Stop "), rules.Keyword("stop please"))

	d := policy.Decide(rules, policy.Facts{}, policy.Message{Channel: policy.SMS, Text: "Ваш заказ отправлен"}, time.Now())
	fmt.Println(d.Allow, d.Segments, d.Encoding)
	// Output:
	// stop none
	// true 1 UCS-2
}

func ExampleSegments() {
	fmt.Println(policy.Segments("Your order shipped. Track it at {link}."))
	// Output: 1 GSM-7
}

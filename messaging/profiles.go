package messaging

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/adapters"
	"github.com/omnigate/omnigate/store"
)

// Profile look-ups are tuned for a carrier's rate limits, not for speed: one at a time,
// at most once a day per contact, a failed one not again for an hour.
const (
	// ProfileRefresh is how long a profile look-up is trusted before the contact's next
	// message looks it up again.
	ProfileRefresh   = 24 * time.Hour
	profileRetry     = time.Hour
	profileTimeout   = 10 * time.Second
	profileQueueSize = 256
	profileMemory    = 50000 // contacts remembered before old entries are swept
)

// ProfileSource returns the adapter that reads user profiles on ch, if any.
type ProfileSource func(ch omnigate.Channel) (adapters.Profiler, bool)

// profileKey names one contact as seen from one of our addresses.
type profileKey struct {
	ch            omnigate.Channel
	ours, contact string
}

// profiles looks up contacts' names in the carriers' user profiles in the background:
// after an inbound message committed, never while the webhook waits for its answer.
type profiles struct {
	queue chan profileKey

	mu       sync.Mutex
	next     map[profileKey]time.Time // when the contact may be looked up again
	inflight map[profileKey]bool
}

func newProfiles() *profiles {
	return &profiles{queue: make(chan profileKey, profileQueueSize), next: map[profileKey]time.Time{},
		inflight: map[profileKey]bool{}}
}

// wantProfiles asks for the profiles of the contacts of inbound Messenger and
// Instagram messages that were just committed. It never blocks: when the queue is full
// the contact is looked up at a later message.
func (s *Service) wantProfiles(msgs []omnigate.Message) {
	if s.cfg.Profiles == nil {
		return
	}
	now := s.cfg.Now()
	p := s.profiles
	for _, m := range msgs {
		if m.Direction != omnigate.Inbound || (m.Channel != omnigate.Messenger && m.Channel != omnigate.Instagram) {
			continue
		}
		k := profileKey{ch: m.Channel, ours: m.To, contact: m.From}
		p.mu.Lock()
		if p.inflight[k] || now.Before(p.next[k]) {
			p.mu.Unlock()
			continue
		}
		if len(p.next) >= profileMemory {
			p.sweep(now)
		}
		select {
		case p.queue <- k:
			p.inflight[k] = true
		default:
		}
		p.mu.Unlock()
	}
}

// sweep forgets the contacts whose wait is over and, if that is not enough, any others
// down to nine tenths of profileMemory, so that a full map is swept once per
// profileMemory/10 new contacts rather than on every message. A contact forgotten early
// is only looked up again sooner. p.mu is held.
func (p *profiles) sweep(now time.Time) {
	for k, t := range p.next {
		if now.After(t) {
			delete(p.next, k)
		}
	}
	for k := range p.next {
		if len(p.next) < profileMemory*9/10 {
			break
		}
		delete(p.next, k)
	}
}

// RunProfiles looks up the contacts' profiles asked for until ctx ends. Without it, no
// profile is looked up. It returns when ctx is done.
func (s *Service) RunProfiles(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case k := <-s.profiles.queue:
			wait := s.lookUpProfile(ctx, k)
			p := s.profiles
			p.mu.Lock()
			delete(p.inflight, k)
			p.next[k] = s.cfg.Now().Add(wait)
			p.mu.Unlock()
		}
	}
}

// lookUpProfile reads one contact's profile and records the name on the contact and
// its latest conversation. A user without a name keeps showing the address. It returns
// how long to wait before looking the contact up again.
func (s *Service) lookUpProfile(ctx context.Context, k profileKey) time.Duration {
	src, ok := s.cfg.Profiles(k.ch)
	if !ok {
		return ProfileRefresh
	}
	fetchCtx, cancel := context.WithTimeout(ctx, profileTimeout)
	name, err := src.Profile(fetchCtx, k.ch, k.ours, k.contact)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			s.cfg.Log.Warn("messaging: contact profile look-up failed; the contact shows its address meanwhile",
				"channel", k.ch, "address", k.ours, "err", err)
		}
		return profileRetry
	}
	if name == "" {
		return ProfileRefresh
	}
	err = s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		if _, err := tx.UpsertContact(omnigate.Contact{Channel: k.ch, Address: k.contact, Name: name}, s.cfg.Now().UTC()); err != nil {
			return err
		}
		c, err := tx.LatestConversation(store.ConversationKey{Channel: k.ch, Address: k.ours, ContactAddress: k.contact})
		if errors.Is(err, store.ErrNotFound) || (err == nil && c.ContactName == name) {
			return nil
		}
		if err != nil {
			return err
		}
		c.ContactName = name
		return tx.UpdateConversation(c)
	})
	if err != nil {
		if ctx.Err() == nil {
			s.cfg.Log.Error("messaging: recording a contact's profile name failed", "channel", k.ch, "err", err)
		}
		return profileRetry
	}
	return ProfileRefresh
}

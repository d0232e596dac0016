// Package sandbox holds local fake carriers that speak each carrier's real wire format:
// they accept sends on the carrier's API paths, post delivery receipts back to omnigate's
// real webhook paths with real signatures, and can reply like a customer. `omnigate serve`
// mounts them when `sandbox: true` and a provider block is absent, and tests use them as
// fake carrier servers.
//
// The sandbox customer replies to any outbound text that contains a question mark, so a
// newcomer sees a reply come back without any account.
package sandbox

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// WantsReply reports whether the sandbox customer answers an outbound text.
func WantsReply(text string) bool { return bytes.ContainsRune([]byte(text), '?') }

// ReplyText is what the sandbox customer answers.
func ReplyText(text string) string { return "Thanks, got it: " + text }

// Poster posts signed webhooks to omnigate in the background, one at a time in the
// order they were asked for (so "sent" arrives before "delivered"), retrying a failed
// post a few times, the way a carrier does. Close waits for the posts already asked for.
type Poster struct {
	Client *http.Client
	Log    *slog.Logger
	// Delay is how long after the triggering send each post is made (default 5ms).
	Delay time.Duration

	mu      sync.Mutex
	queue   []post
	running bool
	closed  bool
	idle    sync.Cond
}

type post struct {
	url    string
	header http.Header
	body   []byte
	at     time.Time
}

// Post queues body for url with the given headers, to be sent Delay from now. It
// returns at once.
func (p *Poster) Post(url string, header http.Header, body []byte) {
	delay := p.Delay
	if delay == 0 {
		delay = 5 * time.Millisecond
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.queue = append(p.queue, post{url: url, header: header, body: body, at: time.Now().Add(delay)})
	if !p.running {
		p.running = true
		go p.run()
	}
}

func (p *Poster) run() {
	for {
		p.mu.Lock()
		if len(p.queue) == 0 {
			p.running = false
			if p.idle.L != nil {
				p.idle.Broadcast()
			}
			p.mu.Unlock()
			return
		}
		next := p.queue[0]
		p.queue = p.queue[1:]
		p.mu.Unlock()
		time.Sleep(time.Until(next.at))
		for attempt := 0; attempt < 5; attempt++ {
			err := p.post(next.url, next.header, next.body)
			if err == nil {
				break
			}
			if p.Log != nil {
				p.Log.Warn("sandbox: webhook post failed", "url", next.url, "attempt", attempt+1, "err", err)
			}
			time.Sleep(time.Duration(attempt+1) * 100 * time.Millisecond)
		}
	}
}

func (p *Poster) post(url string, header http.Header, body []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	c := p.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// Close stops accepting posts and waits for those already asked for.
func (p *Poster) Close() {
	p.mu.Lock()
	p.closed = true
	if p.idle.L == nil {
		p.idle.L = &p.mu
	}
	for p.running {
		p.idle.Wait()
	}
	p.mu.Unlock()
}

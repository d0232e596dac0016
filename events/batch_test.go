package events

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omnigate/omnigate/adapters"
)

var batchSecret = []byte("batch-secret")

// platform is a fake receiver speaking the events wire format. Every post must verify
// and parse; it records each post's event ids in arrival order. While gate is set,
// each post tells arrived and then waits for gate to close before answering status.
type platform struct {
	t       *testing.T
	srv     *httptest.Server
	mu      sync.Mutex
	posts   [][]string        // event ids per post
	raw     [][]byte          // bodies per post
	headers []http.Header     // headers per post
	gate    chan struct{}     // nil: answer at once
	arrived chan struct{}     // one send per post, when gate is set
	status  int               // the answer; 204 when 0
	answer  string            // the answer's body
	extra   func(http.Header) // sets more answer headers
}

func newPlatform(t *testing.T) *platform {
	p := &platform{t: t}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *platform) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if err := Verify(batchSecret, body, r.Header.Get(SignatureHeader), time.Now(), 0); err != nil {
		p.t.Errorf("post does not verify: %v", err)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	evs, err := Split(body)
	if err != nil {
		p.t.Errorf("post %s: %v", body, err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	var ids []string
	for _, raw := range evs {
		var ev Event
		if err := json.Unmarshal(raw, &ev); err != nil || ev.ID == "" {
			p.t.Errorf("event %s does not parse: %v", raw, err)
		}
		ids = append(ids, ev.ID)
	}
	p.mu.Lock()
	p.posts = append(p.posts, ids)
	p.raw = append(p.raw, body)
	p.headers = append(p.headers, r.Header.Clone())
	gate, status, answer := p.gate, p.status, p.answer
	p.mu.Unlock()
	if gate != nil {
		p.arrived <- struct{}{}
		<-gate
	}
	if p.extra != nil {
		p.extra(w.Header())
	}
	if status == 0 {
		status = http.StatusNoContent
	}
	w.WriteHeader(status)
	io.WriteString(w, answer)
}

// hold makes the following posts wait until the returned release is called.
func (p *platform) hold() (release func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gate = make(chan struct{})
	p.arrived = make(chan struct{}, 64)
	gate := p.gate
	return func() {
		p.mu.Lock()
		p.gate = nil
		p.mu.Unlock()
		close(gate)
	}
}

func (p *platform) sink(batch int) *Sink {
	return &Sink{URL: p.srv.URL, Secret: batchSecret, Client: p.srv.Client(), Batch: batch}
}

func (p *platform) got() [][]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.posts)
}

func body(id string) []byte {
	return fmt.Appendf(nil, `{"id":%q,"type":"typing","created_at":"2026-03-01T12:00:00Z","conversation_id":"c_%s","data":{}}`, id, id)
}

// queued waits until n events wait in s's queue (posters busy on held posts).
func queued(t *testing.T, s *Sink, n int) {
	t.Helper()
	for {
		s.batchOnce.Do(func() { s.queue = &batchQueue{} })
		s.queue.mu.Lock()
		got := len(s.queue.waiting)
		s.queue.mu.Unlock()
		if got == n {
			return
		}
		if got > n {
			t.Fatalf("%d events waiting, want %d", got, n)
		}
		runtime.Gosched()
	}
}

// busy occupies every poster of s with a held post of one event each; it returns the
// ids posted and a channel of their outcomes.
func busy(t *testing.T, p *platform, s *Sink) ([]string, chan error) {
	t.Helper()
	var ids []string
	out := make(chan error, batchPosters)
	for i := range batchPosters {
		id := "evt_busy" + strconv.Itoa(i)
		ids = append(ids, id)
		go func() { out <- s.Post(context.Background(), body(id)) }()
		<-p.arrived
	}
	return ids, out
}

type result struct {
	id  string
	err error
}

// waitingPosts starts one Post per id, in order, each after the one before is queued
// (so the queue's order is the ids' order); ctxs[i], when set, is id i's context.
func waitingPosts(t *testing.T, s *Sink, ids []string, ctxs map[string]context.Context) chan result {
	t.Helper()
	out := make(chan result, len(ids))
	s.batchOnce.Do(func() { s.queue = &batchQueue{} })
	s.queue.mu.Lock()
	base := len(s.queue.waiting)
	s.queue.mu.Unlock()
	for i, id := range ids {
		ctx := context.Background()
		if c, ok := ctxs[id]; ok {
			ctx = c
		}
		go func() { out <- result{id, s.Post(ctx, body(id))} }()
		queued(t, s, base+i+1)
	}
	return out
}

func ids(prefix string, n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("evt_%s%02d", prefix, i))
	}
	return out
}

// TestBatchFormsFromWaiting: events that wait while the posters are busy go out
// together in the order they were posted, and never more than Batch per post; every
// post is signed over its whole body and counts its events in X-Omnigate-Event-Count.
func TestBatchFormsFromWaiting(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		batch int
		want  [][]string // the posts after the busy ones, in order of their first event
	}{
		{batch: 100, want: [][]string{ids("w", 10)}},
		{batch: 4, want: [][]string{ids("w", 10)[:4], ids("w", 10)[4:8], ids("w", 10)[8:]}},
	} {
		p := newPlatform(t)
		s := p.sink(tt.batch)
		release := p.hold()
		busyIDs, busyOut := busy(t, p, s)
		out := waitingPosts(t, s, ids("w", 10), nil)
		release()
		for range 10 {
			if r := <-out; r.err != nil {
				t.Errorf("batch %d: %s: %v", tt.batch, r.id, r.err)
			}
		}
		for range batchPosters {
			if err := <-busyOut; err != nil {
				t.Errorf("batch %d: busy post: %v", tt.batch, err)
			}
		}
		got := p.got()
		if len(got) != batchPosters+len(tt.want) {
			t.Fatalf("batch %d: posts %v, want the %d busy ones and %v", tt.batch, got, batchPosters, tt.want)
		}
		slices.SortFunc(got[:batchPosters], func(a, b []string) int { return strings.Compare(a[0], b[0]) })
		for i, id := range busyIDs {
			if !slices.Equal(got[i], []string{id}) {
				t.Errorf("batch %d: busy post %d carried %v, want [%s] alone", tt.batch, i, got[i], id)
			}
		}
		rest := got[batchPosters:]
		slices.SortFunc(rest, func(a, b []string) int { return strings.Compare(a[0], b[0]) })
		if fmt.Sprint(rest) != fmt.Sprint(tt.want) {
			t.Errorf("batch %d: posts %v, want %v", tt.batch, rest, tt.want)
		}
		p.mu.Lock()
		for i, h := range p.headers {
			if n := h.Get(BatchCountHeader); n != strconv.Itoa(len(p.posts[i])) {
				t.Errorf("batch %d: post %d counts %q, carries %d", tt.batch, i, n, len(p.posts[i]))
			}
			if h.Get(EventIDHeader) != "" {
				t.Errorf("batch %d: post %d has %s %q", tt.batch, i, EventIDHeader, h.Get(EventIDHeader))
			}
			if !bytes.HasPrefix(p.raw[i], []byte(`{"events":[{"id":`)) {
				t.Errorf("batch %d: post %d body %s", tt.batch, i, p.raw[i])
			}
		}
		p.mu.Unlock()
	}
}

// TestBatchOfOne: a lone event goes out at once, as a batch of one, byte for byte the
// event inside {"events":[...]}; Prepare rewrites it first.
func TestBatchOfOne(t *testing.T) {
	t.Parallel()
	p := newPlatform(t)
	s := p.sink(50)
	s.Prepare = func(b []byte) []byte {
		return bytes.Replace(b, []byte(`"data":{}`), []byte(`"data":{"prepared":true}`), 1)
	}
	if err := s.Post(context.Background(), body("evt_one")); err != nil {
		t.Fatal(err)
	}
	want := `{"events":[` + strings.Replace(string(body("evt_one")), `"data":{}`, `"data":{"prepared":true}`, 1) + `]}`
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.raw) != 1 || string(p.raw[0]) != want {
		t.Errorf("posted %q, want %q", p.raw, want)
	}
	if n := p.headers[0].Get(BatchCountHeader); n != "1" {
		t.Errorf("%s = %q, want 1", BatchCountHeader, n)
	}
}

// TestBatchPrepareEach: Prepare applies to every event of a batch.
func TestBatchPrepareEach(t *testing.T) {
	t.Parallel()
	p := newPlatform(t)
	s := p.sink(10)
	s.Prepare = func(b []byte) []byte {
		return bytes.Replace(b, []byte(`"type":"typing"`), []byte(`"type":"prepared"`), 1)
	}
	release := p.hold()
	_, busyOut := busy(t, p, s)
	out := waitingPosts(t, s, ids("p", 3), nil)
	release()
	for range 3 {
		if r := <-out; r.err != nil {
			t.Error(r.err)
		}
	}
	for range batchPosters {
		<-busyOut
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, raw := range p.raw {
		evs, _ := Split(raw)
		for _, ev := range evs {
			if !bytes.Contains(ev, []byte(`"type":"prepared"`)) {
				t.Errorf("event not prepared: %s", ev)
			}
		}
	}
}

// TestBatchOutcomeFansOut: a batch's refusal is every event's: 503 is retryable with
// the platform's Retry-After, 400 permanent with the platform's answer.
func TestBatchOutcomeFansOut(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		status int
		check  func(error) string
	}{
		{http.StatusServiceUnavailable, func(err error) string {
			var re *adapters.RetryableError
			if !errors.As(err, &re) || re.Code != "503" || re.RetryAfter != 7*time.Second {
				return fmt.Sprintf("%v, want retryable 503 after 7s", err)
			}
			return ""
		}},
		{http.StatusBadRequest, func(err error) string {
			var pe *adapters.PermanentError
			if !errors.As(err, &pe) || pe.Code != "400" || !strings.Contains(pe.Message, "unknown event type") {
				return fmt.Sprintf("%v, want permanent 400 with the platform's answer", err)
			}
			return ""
		}},
	} {
		p := newPlatform(t)
		p.status, p.answer = tt.status, "unknown event type"
		p.extra = func(h http.Header) { h.Set("Retry-After", "7") }
		s := p.sink(20)
		release := p.hold()
		_, busyOut := busy(t, p, s)
		out := waitingPosts(t, s, ids("f", 5), nil)
		release()
		for range 5 {
			r := <-out
			if msg := tt.check(r.err); msg != "" {
				t.Errorf("%d: %s: %s", tt.status, r.id, msg)
			}
		}
		for range batchPosters {
			if msg := tt.check(<-busyOut); msg != "" {
				t.Errorf("%d: busy post: %s", tt.status, msg)
			}
		}
		if got := p.got(); len(got) != batchPosters+1 {
			t.Errorf("%d: posts %v, want the waiting five in one", tt.status, got)
		}
	}
}

// TestBatchLeavesOutCanceled: a caller whose context ends while it waits gets its
// context's error and its event is not posted; the others' batch goes without it.
func TestBatchLeavesOutCanceled(t *testing.T) {
	t.Parallel()
	p := newPlatform(t)
	s := p.sink(20)
	release := p.hold()
	_, busyOut := busy(t, p, s)
	ctx, cancel := context.WithCancel(context.Background())
	all := ids("c", 5)
	out := waitingPosts(t, s, all, map[string]context.Context{all[1]: ctx, all[3]: ctx})
	cancel()
	for range 2 {
		r := <-out
		if (r.id != all[1] && r.id != all[3]) || !errors.Is(r.err, context.Canceled) {
			t.Errorf("%s: %v, want only the canceled ones to return first, with context.Canceled", r.id, r.err)
		}
	}
	release()
	for range 3 {
		if r := <-out; r.err != nil {
			t.Errorf("%s: %v", r.id, r.err)
		}
	}
	for range batchPosters {
		<-busyOut
	}
	got := p.got()
	want := []string{all[0], all[2], all[4]}
	if len(got) != batchPosters+1 || !slices.Equal(got[batchPosters], want) {
		t.Errorf("posts %v, want the busy ones and then %v", got, want)
	}
}

// TestBatchBytes: a batch stops growing at BatchBytes; a larger event goes alone.
func TestBatchBytes(t *testing.T) {
	t.Parallel()
	p := newPlatform(t)
	s := p.sink(100)
	pad := strings.Repeat("x", BatchBytes/3)
	s.Prepare = func(b []byte) []byte {
		if bytes.Contains(b, []byte("evt_big")) {
			return bytes.Replace(b, []byte(`"data":{}`), []byte(`"data":{"pad":"`+pad+pad+pad+`"}`), 1)
		}
		return bytes.Replace(b, []byte(`"data":{}`), []byte(`"data":{"pad":"`+pad+`"}`), 1)
	}
	release := p.hold()
	_, busyOut := busy(t, p, s)
	out := waitingPosts(t, s, []string{"evt_a", "evt_b", "evt_big", "evt_c", "evt_d", "evt_e"}, nil)
	release()
	for range 6 {
		if r := <-out; r.err != nil {
			t.Errorf("%s: %v", r.id, r.err)
		}
	}
	for range batchPosters {
		<-busyOut
	}
	got := p.got()[batchPosters:]
	slices.SortFunc(got, func(a, b []string) int { return strings.Compare(a[0], b[0]) })
	if want := "[[evt_a evt_b] [evt_big] [evt_c evt_d] [evt_e]]"; fmt.Sprint(got) != want {
		t.Errorf("posts %v, want %s", got, want)
	}
}

// TestBatchConcurrent: many callers at once each get nil, and every event arrives
// exactly once whatever batches formed.
func TestBatchConcurrent(t *testing.T) {
	t.Parallel()
	p := newPlatform(t)
	s := p.sink(16)
	const n = 300
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for _, id := range ids("x", n) {
		wg.Go(func() { errs <- s.Post(context.Background(), body(id)) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	seen := map[string]int{}
	for _, post := range p.got() {
		if len(post) > 16 {
			t.Errorf("a post of %d events, more than the batch of 16", len(post))
		}
		for _, id := range post {
			seen[id]++
		}
	}
	for _, id := range ids("x", n) {
		if seen[id] != 1 {
			t.Errorf("%s arrived %d times", id, seen[id])
		}
	}
}

// TestUnbatchedWireFormat: with Batch 1 (and 0, unset) each event is posted alone,
// exactly as before batching existed: the body is the event byte for byte, named by
// X-Omnigate-Event-Id, with no count header.
func TestUnbatchedWireFormat(t *testing.T) {
	t.Parallel()
	for _, batch := range []int{0, 1} {
		p := newPlatform(t)
		s := p.sink(batch)
		for _, id := range []string{"evt_u1", "evt_u2"} {
			if err := s.Post(context.Background(), body(id)); err != nil {
				t.Fatal(err)
			}
		}
		p.mu.Lock()
		if len(p.raw) != 2 {
			t.Fatalf("batch %d: %d posts, want 2", batch, len(p.raw))
		}
		for i, id := range []string{"evt_u1", "evt_u2"} {
			if !bytes.Equal(p.raw[i], body(id)) {
				t.Errorf("batch %d: posted %s, want %s", batch, p.raw[i], body(id))
			}
			h := p.headers[i]
			if h.Get(EventIDHeader) != id || h.Get(BatchCountHeader) != "" || h.Get("Content-Type") != "application/json" {
				t.Errorf("batch %d: headers %v", batch, h)
			}
		}
		p.mu.Unlock()
	}
}

// TestBatchRefusesNonJSON: an event that is not JSON fails alone, permanently, and
// is never put in a batch.
func TestBatchRefusesNonJSON(t *testing.T) {
	t.Parallel()
	p := newPlatform(t)
	s := p.sink(10)
	var pe *adapters.PermanentError
	if err := s.Post(context.Background(), []byte(`{"id":"evt_x"`)); !errors.As(err, &pe) {
		t.Errorf("Post = %v, want a permanent error", err)
	}
	if got := p.got(); len(got) != 0 {
		t.Errorf("posted %v", got)
	}
}

// TestSplit: both wire formats split into their events; anything else is refused.
func TestSplit(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		body string
		want []string
	}{
		{`{"id":"evt_1","type":"typing"}`, []string{`{"id":"evt_1","type":"typing"}`}},
		{" {\"id\":\"evt_1\"}\n", []string{`{"id":"evt_1"}`}},
		{`{"events":[{"id":"evt_1"},{"id":"evt_2"}]}`, []string{`{"id":"evt_1"}`, `{"id":"evt_2"}`}},
		{`{"events":[]}`, []string{}},
		{`{"events":[1]}`, nil},
		{`{"events":{}}`, nil},
		{`[{"id":"evt_1"}]`, nil},
		{`{"id":`, nil},
		{``, nil},
	} {
		evs, err := Split([]byte(tt.body))
		if tt.want == nil {
			if err == nil {
				t.Errorf("Split(%q) = %s, want an error", tt.body, evs)
			}
			continue
		}
		got := []string{}
		for _, e := range evs {
			got = append(got, string(e))
		}
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("Split(%q) = %q, %v; want %q", tt.body, got, err, tt.want)
		}
	}
}

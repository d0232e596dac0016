package events

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/omnigate/omnigate/adapters"
)

// Batched delivery (events.batch above 1).
//
// Every post's body is {"events":[<event>,...]}: the same event objects an unbatched
// post carries, in the order their posts were started, signed as one body. The header
// X-Omnigate-Event-Count gives how many there are; there is no X-Omnigate-Event-Id.
// A batch succeeds or fails as a whole: a 2xx delivers every event in it, and any
// other outcome is every event's (each is retried, or dead-lettered, as its own outbox
// row). A retried event may therefore arrive again in another batch, beside other
// events: the receiver drops each event whose "id" it has already processed.
//
// Batches form like a group commit, with no timer: Post queues the event and waits. A
// poster takes the first waiting event and every other one waiting behind it (up to
// Batch events and BatchBytes), posts them, and gives each waiter the outcome. While a
// post is in flight the relay's other workers queue their events, which become the
// next batch; an event that finds a poster free is posted at once, alone. A caller
// whose context ends while it waits is left out of the batch and gets a retryable
// error wrapping ctx.Err().
//
// Order: the relay hands out one row per FIFO key (one conversation's events) at a
// time, so two events of one conversation are never waiting together, and batching
// keeps their order.

// BatchCountHeader gives the number of events in a batched post.
const BatchCountHeader = "X-Omnigate-Event-Count"

// MaxBatch is the largest events.batch; a larger Batch posts MaxBatch events at most.
const MaxBatch = 500

// BatchBytes stops a batch from growing past about 1 MiB of events; an event larger
// than that is posted alone, in a batch of one.
const BatchBytes = 1 << 20

// batchPosters is how many batches may be in flight at once.
const batchPosters = 2

// batchQueue holds the events waiting for a poster.
type batchQueue struct {
	mu      sync.Mutex
	waiting []*waiter
	posters int // running posters, at most batchPosters
}

// waiter is one Post call waiting for its batch's outcome.
type waiter struct {
	ctx  context.Context
	body []byte
	done chan error // buffered: the poster never blocks on a waiter that left
}

func (s *Sink) postBatched(ctx context.Context, body []byte) error {
	if err := ctx.Err(); err != nil {
		return gaveUp(err)
	}
	if s.Prepare != nil {
		body = s.Prepare(body)
	}
	// One body that is not JSON would spoil the whole batch; it fails alone.
	if !json.Valid(body) {
		return adapters.Permanent("bad_event", "events: the event is not JSON", nil)
	}
	s.batchOnce.Do(func() { s.queue = &batchQueue{} })
	q := s.queue
	w := &waiter{ctx: ctx, body: body, done: make(chan error, 1)}
	q.mu.Lock()
	q.waiting = append(q.waiting, w)
	start := q.posters < batchPosters
	if start {
		q.posters++
	}
	q.mu.Unlock()
	if start {
		go s.poster(q)
	}
	select {
	case err := <-w.done:
		return err
	case <-ctx.Done():
		// A poster that already took the event may still deliver it: the row is
		// retried anyway, and the receiver drops the duplicate by id.
		select {
		case err := <-w.done:
			return err
		default:
			return gaveUp(ctx.Err())
		}
	}
}

// gaveUp is the error of a caller whose context ended before its batch's outcome:
// retryable, as a post that timed out is.
func gaveUp(err error) error {
	return adapters.Retryable("", "events: the attempt ended before its batch was posted", 0, err)
}

// poster posts batches until no event is waiting.
func (s *Sink) poster(q *batchQueue) {
	for {
		q.mu.Lock()
		batch := q.take(min(s.Batch, MaxBatch))
		if len(batch) == 0 {
			q.posters--
			q.mu.Unlock()
			return
		}
		q.mu.Unlock()
		err := s.postBatch(batch)
		for _, w := range batch {
			w.done <- err
		}
	}
}

// take removes up to max waiting events from the front of the queue, leaving out
// those whose caller has already given up (they return their context's error).
func (q *batchQueue) take(max int) []*waiter {
	var batch []*waiter
	size, n := 0, 0
	for ; n < len(q.waiting) && len(batch) < max; n++ {
		w := q.waiting[n]
		if w.ctx.Err() != nil {
			continue
		}
		if len(batch) > 0 && size+len(w.body) > BatchBytes {
			break
		}
		size += len(w.body) + 1
		batch = append(batch, w)
	}
	m := copy(q.waiting, q.waiting[n:])
	clear(q.waiting[m:])
	q.waiting = q.waiting[:m]
	return batch
}

// postBatch posts batch as one body. The request lasts while any of its callers still
// waits: it is cancelled once every caller's context has ended.
func (s *Sink) postBatch(batch []*waiter) error {
	ctx, cancel := context.WithCancel(context.WithoutCancel(batch[0].ctx))
	defer cancel()
	var left atomic.Int32
	left.Store(int32(len(batch)))
	for _, w := range batch {
		stop := context.AfterFunc(w.ctx, func() {
			if left.Add(-1) == 0 {
				cancel()
			}
		})
		defer stop()
	}
	size := len(`{"events":[]}`)
	for _, w := range batch {
		size += len(w.body) + 1
	}
	body := make([]byte, 0, size)
	body = append(body, `{"events":[`...)
	for i, w := range batch {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, w.body...)
	}
	body = append(body, "]}"...)
	n := strconv.Itoa(len(batch))
	return s.send(ctx, body, func(h http.Header) { h.Set(BatchCountHeader, n) }, "batch")
}

// ErrNotEvents is returned by Split for a body that is neither an event object nor a
// batch of them.
var ErrNotEvents = errors.New("events: body is neither an event nor a batch of events")

// Split returns the events one post carries, in order: the body itself when it is one
// event, or each event of a batch ({"events":[...]}). Receivers use it to accept both
// formats; the signature is checked over the whole body first.
func Split(body []byte) ([]json.RawMessage, error) {
	var b struct {
		Events *[]json.RawMessage `json:"events"`
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' || json.Unmarshal(trimmed, &b) != nil {
		return nil, ErrNotEvents
	}
	if b.Events == nil {
		return []json.RawMessage{trimmed}, nil
	}
	for _, e := range *b.Events {
		if t := bytes.TrimSpace(e); len(t) == 0 || t[0] != '{' {
			return nil, ErrNotEvents
		}
	}
	return *b.Events, nil
}

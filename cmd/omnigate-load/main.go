// Command omnigate-load is omnigate's load tool: it drives a running omnigate on
// loopback and reports throughput and latency percentiles. It also serves the fake
// carriers the daemon delivers to (bench/omnigate.yaml points the daemon at them), so a
// run needs no network and no account.
//
// Modes:
//
//	webhook       N signed Twilio inbound posts (distinct MessageSid) over C connections
//	send          N POST /v1/messages (distinct contacts) at full speed or --rate; accept
//	              latency, then waits until all are sent for the end-to-end rate
//	idle-latency  one message at a time on the open channel: enqueue -> carrier call
//	table         every figure of BENCHMARKS.md in one run: starts the daemons itself
//	              (--omnigate, --config, --pg), drives each row for --duration and
//	              prints the figures beside their targets (see table.go)
//	ceiling       serve the no-store ceiling on --listen: a server that only parses a
//	              Twilio webhook's form, checks its signature and answers
//
// Every loop is bounded by --n and --timeout, and only 127.0.0.1 is ever contacted.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/omnigate/omnigate/adapters/signature"
	"github.com/omnigate/omnigate/events"
)

type options struct {
	mode        string
	target      string
	n, c        int
	rate        float64
	timeout     time.Duration
	twilioToken string
	publicURL   string
	to          string
	apiKey      string
	queue       string
	channel     string
	fakeTwilio  string
	fakeOpen    string
	gap         time.Duration
	duration    time.Duration
	fakeEvents  string

	// table mode
	binary, config, configEvents, configEventsBatched, workdir, pg, rows, profileDir, listen string
	ratePerSec                                                                               float64
	quiet                                                                                    bool
}

func main() {
	var o options
	flag.StringVar(&o.mode, "mode", "", "webhook | send | idle-latency | fakes (only serve the fake carriers)")
	flag.StringVar(&o.target, "target", "http://127.0.0.1:8080", "omnigate base URL (loopback only)")
	flag.IntVar(&o.n, "n", 10000, "requests to make")
	flag.IntVar(&o.c, "c", 64, "concurrent connections")
	flag.Float64Var(&o.rate, "rate", 0, "send: requests per second (0 = as fast as the connections go)")
	flag.DurationVar(&o.timeout, "timeout", 2*time.Minute, "bound on the whole run")
	flag.StringVar(&o.twilioToken, "twilio-token", "", "webhook: the daemon's Twilio auth token")
	flag.StringVar(&o.publicURL, "public-url", "", "webhook: the daemon's public_url (signatures cover it)")
	flag.StringVar(&o.to, "to", "+15550001111", "webhook: our address the customers write to")
	flag.StringVar(&o.apiKey, "api-key", "ann-demo-key", "send, idle-latency: API key")
	flag.StringVar(&o.queue, "queue", "support", "send, idle-latency: queue")
	flag.StringVar(&o.channel, "channel", "sms", "send: channel (sms goes to --fake-twilio, open to --fake-open)")
	flag.StringVar(&o.fakeTwilio, "fake-twilio", "", "serve a fake Twilio Messages API on 127.0.0.1:PORT (\":PORT\")")
	flag.StringVar(&o.fakeOpen, "fake-open", "", "serve a fake open-messaging integration on 127.0.0.1:PORT (\":PORT\")")
	flag.DurationVar(&o.gap, "gap", 20*time.Millisecond, "idle-latency: pause between messages")
	flag.DurationVar(&o.duration, "duration", 0, "webhook, send: stop starting requests after this long (0: run --n); table: each row's load phase (default 10s)")
	flag.StringVar(&o.fakeEvents, "fake-events", "", "serve a fake platform-events receiver on 127.0.0.1:PORT (\":PORT\")")
	flag.StringVar(&o.binary, "omnigate", "", "table: the omnigate binary to start")
	flag.StringVar(&o.config, "config", "bench/omnigate.yaml", "table: the daemon's configuration without platform events (BENCH_LISTEN and BENCH_STORE are set per row)")
	flag.StringVar(&o.configEvents, "config-events", "bench/omnigate-events.yaml", "table: the same with platform events posted to 127.0.0.1:9103")
	flag.StringVar(&o.configEventsBatched, "config-events-batched", "bench/omnigate-events-batched.yaml", "table: the same with events posted in batches (events.batch)")
	flag.StringVar(&o.workdir, "workdir", "", "table: folder for SQLite files and daemon logs (default: a new temporary folder)")
	flag.StringVar(&o.pg, "pg", "", "table: PostgreSQL DSN of a database the tool may drop and re-create (empty: skip the PostgreSQL rows)")
	flag.StringVar(&o.rows, "rows", "", "table: comma-separated row names to run (default: all; see --mode table --help)")
	flag.StringVar(&o.profileDir, "profile-dir", "", "table: write each row's daemon CPU and allocation profiles here (turns the daemon's pprof listener on)")
	flag.StringVar(&o.listen, "listen", "127.0.0.1:8090", "ceiling: address to serve on")
	flag.Float64Var(&o.ratePerSec, "latency-rate", 1000, "table: the fixed send rate of the accept-latency row")
	flag.Parse()
	if o.mode == "table" {
		if err := table(o); err != nil {
			fmt.Fprintln(os.Stderr, "omnigate-load:", err)
			os.Exit(1)
		}
		return
	}
	if o.mode == "ceiling" {
		if err := ceiling(o.listen, o.twilioToken, o.publicURL); err != nil {
			fmt.Fprintln(os.Stderr, "omnigate-load:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "omnigate-load:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	if err := loopbackOnly(o.target); err != nil {
		return err
	}
	if o.n <= 0 || o.c <= 0 || o.n > 10_000_000 {
		return errors.New("--n must be 1..10000000 and --c at least 1")
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	fk := &fakes{arrivals: map[string]time.Time{}}
	stop, err := fk.serve(o)
	if err != nil {
		return err
	}
	defer stop()
	client := newClient(o.c)
	switch o.mode {
	case "webhook":
		_, err := webhook(ctx, o, client)
		return err
	case "send":
		_, err := send(ctx, o, client, fk, nil)
		return err
	case "idle-latency":
		return idleLatency(ctx, o, client, fk)
	case "fakes":
		fmt.Println("serving fake carriers until --timeout or interrupt")
		<-ctx.Done()
		return nil
	}
	return fmt.Errorf("unknown --mode %q", o.mode)
}

// serve starts the fakes o names and returns a function that stops them.
func (f *fakes) serve(o options) (func(), error) {
	var stops []func()
	stopAll := func() {
		for _, s := range stops {
			s()
		}
	}
	for _, s := range []struct {
		addr string
		h    http.Handler
	}{{o.fakeTwilio, http.HandlerFunc(f.twilio)}, {o.fakeOpen, http.HandlerFunc(f.open)}, {o.fakeEvents, http.HandlerFunc(f.event)}} {
		if s.addr == "" {
			continue
		}
		stop, err := serveLoopback(s.addr, s.h)
		if err != nil {
			stopAll()
			return nil, err
		}
		stops = append(stops, stop)
	}
	return stopAll, nil
}

func newClient(c int) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: c, MaxIdleConnsPerHost: c, MaxConnsPerHost: c, IdleConnTimeout: time.Minute,
	}}
}

// loopbackOnly refuses any target that is not 127.0.0.1, ::1 or localhost.
func loopbackOnly(target string) error {
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		return fmt.Errorf("--target %q is not a URL", target)
	}
	h := u.Hostname()
	if ip := net.ParseIP(h); (ip != nil && ip.IsLoopback()) || h == "localhost" {
		return nil
	}
	return fmt.Errorf("--target %q: only loopback targets are allowed", target)
}

// serveLoopback serves h on 127.0.0.1 at the port of addr (":PORT" or "HOST:PORT").
func serveLoopback(addr string, h http.Handler) (func(), error) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("fake listen address %q: %w", addr, err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", port))
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return func() { srv.Close() }, nil
}

// fakes are the carriers omnigate delivers to; they record when each message arrived.
type fakes struct {
	count    atomic.Int64
	events   atomic.Int64 // platform events received
	posts    atomic.Int64 // platform-event posts received (fewer than events when batched)
	mu       sync.Mutex
	arrivals map[string]time.Time // our message id -> arrival, for idle-latency
	last     time.Time
	seen     chan string // idle-latency: ids as they arrive
}

func (f *fakes) arrived(id string) {
	now := time.Now()
	f.count.Add(1)
	f.mu.Lock()
	f.last = now
	if f.seen != nil {
		f.arrivals[id] = now
	}
	ch := f.seen
	f.mu.Unlock()
	if ch != nil && id != "" {
		select {
		case ch <- id:
		default:
		}
	}
}

// twilio answers POST /2010-04-01/Accounts/{sid}/Messages.json with 201 and a SID.
func (f *fakes) twilio(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/Messages.json") {
		http.NotFound(w, r)
		return
	}
	_, _ = io.Copy(io.Discard, r.Body)
	f.arrived("")
	var b [16]byte
	_, _ = rand.Read(b[:])
	sid := "SM" + hex.EncodeToString(b[:])
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	fmt.Fprintf(w, `{"sid":%q,"status":"queued","num_segments":"1"}`, sid)
}

// event answers a platform-event post with 204, as a receiver that took it would. A
// post without X-Omnigate-Event-Count is one event; a batched one
// ({"events":[...]}) is parsed and counts its events, which must match the header.
func (f *fakes) event(w http.ResponseWriter, r *http.Request) {
	n := int64(1)
	if c := r.Header.Get(events.BatchCountHeader); c != "" {
		body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
		evs, serr := events.Split(body)
		if err != nil || serr != nil || strconv.Itoa(len(evs)) != c {
			http.Error(w, "bad batch", http.StatusBadRequest)
			return
		}
		n = int64(len(evs))
	} else {
		_, _ = io.Copy(io.Discard, r.Body)
	}
	f.events.Add(n)
	f.posts.Add(1)
	w.WriteHeader(http.StatusNoContent)
}

// open answers an open-messaging outbound post with 200 and the message id.
func (f *fakes) open(w http.ResponseWriter, r *http.Request) {
	var m struct {
		ID string `json:"id"`
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	_ = json.Unmarshal(body, &m)
	f.arrived(m.ID)
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"id":%q}`, "open-"+m.ID)
}

// latencies collects request durations from many goroutines.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

// quantile is the q-th quantile of the samples (0 without samples).
func (l *latencies) quantile(q float64) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0
	}
	slices.Sort(l.d)
	return l.d[min(len(l.d)-1, int(q*float64(len(l.d))))]
}

func (l *latencies) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return "no samples"
	}
	slices.Sort(l.d)
	p := func(q float64) time.Duration { return l.d[min(len(l.d)-1, int(q*float64(len(l.d))))] }
	ms := func(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 2, 64) + "ms" }
	return fmt.Sprintf("n=%d p50=%s p90=%s p99=%s max=%s", len(l.d), ms(p(0.50)), ms(p(0.90)), ms(p(0.99)), ms(l.d[len(l.d)-1]))
}

// statusCounts counts answers by HTTP status (0: transport error).
type statusCounts struct {
	mu sync.Mutex
	m  map[int]int
}

func (s *statusCounts) add(code int) {
	s.mu.Lock()
	if s.m == nil {
		s.m = map[int]int{}
	}
	s.m[code]++
	s.mu.Unlock()
}

func (s *statusCounts) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var parts []string
	for k, v := range s.m {
		parts = append(parts, fmt.Sprintf("%d:%d", k, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// pool runs do(i) for i in [0,n) on c goroutines; with rate > 0, request i starts no
// earlier than start + i/rate; with d > 0 no request starts after start + d. It
// returns how many requests ran and how long they took.
func pool(ctx context.Context, n, c int, rate float64, d time.Duration, do func(i int)) (int, time.Duration) {
	var next, ran atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n || (d > 0 && time.Since(start) >= d) {
					return
				}
				if rate > 0 {
					if d := time.Until(start.Add(time.Duration(float64(i) / rate * float64(time.Second)))); d > 0 {
						time.Sleep(d)
					}
				}
				do(i)
				ran.Add(1)
			}
		}()
	}
	wg.Wait()
	return int(ran.Load()), time.Since(start)
}

// result is one load run's figures, for the table.
type result struct {
	requests  int
	elapsed   time.Duration
	rate      float64 // requests per second
	lat       *latencies
	codes     *statusCounts
	accepted  int
	carrier   int64   // messages the fake carrier saw
	e2e       float64 // accepted messages per second, start -> last read back as sent
	start     time.Time
	timedOut  bool
	firstFail string
}

// maxDuration bounds --n when a run is bounded by --duration instead.
const maxDuration = 10_000_000

func webhook(ctx context.Context, o options, client *http.Client) (result, error) {
	if o.twilioToken == "" || o.publicURL == "" {
		return result{}, errors.New("webhook: --twilio-token and --public-url are required")
	}
	n := o.n
	if o.duration > 0 {
		n = maxDuration
	}
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	target := strings.TrimSuffix(o.target, "/") + "/webhooks/twilio"
	signed := strings.TrimSuffix(o.publicURL, "/") + "/webhooks/twilio"
	lat, codes := &latencies{}, &statusCounts{}
	done, elapsed := pool(ctx, n, o.c, 0, o.duration, func(i int) {
		sid := fmt.Sprintf("SMload%s%08d", run, i)
		form := url.Values{
			"AccountSid": {"ACload"}, "ApiVersion": {"2010-04-01"}, "MessageSid": {sid}, "SmsMessageSid": {sid},
			"SmsSid": {sid}, "SmsStatus": {"received"}, "From": {fmt.Sprintf("+1999%07d", i%10_000_000)},
			"To": {o.to}, "Body": {"hello from load " + strconv.Itoa(i)}, "NumMedia": {"0"}, "NumSegments": {"1"},
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Twilio-Signature", signature.Twilio(o.twilioToken, signed, form))
		t0 := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			codes.add(0)
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		lat.add(time.Since(t0))
		codes.add(resp.StatusCode)
	})
	r := result{requests: done, elapsed: elapsed, rate: float64(done) / elapsed.Seconds(), lat: lat, codes: codes}
	if !o.quiet {
		fmt.Printf("webhook: %d requests, %d connections in %s: %.0f req/s\n", done, o.c, elapsed.Round(time.Millisecond), r.rate)
		fmt.Printf("  latency %s\n  status %s\n", lat.String(), codes.String())
	}
	return r, nil
}

type sendResult struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

// postSend sends one message to `to` through the daemon at target and returns the
// message id.
func postSend(ctx context.Context, o options, client *http.Client, target, ch, to, text string) (string, int, error) {
	body, _ := json.Marshal(map[string]any{"queue": o.queue, "channel": ch, "to": to, "text": text})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(target, "/")+"/v1/messages", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+o.apiKey)
	resp, err := client.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var r sendResult
	_ = json.Unmarshal(raw, &r)
	if resp.StatusCode != http.StatusAccepted {
		return "", resp.StatusCode, fmt.Errorf("HTTP %d: %s", resp.StatusCode, raw)
	}
	return r.ID, resp.StatusCode, nil
}

// contact returns the i-th distinct recipient of a run on ch.
func contact(ch string, run, i int) string {
	if ch == "open" {
		return fmt.Sprintf("load-%d-%d", run, i)
	}
	// A valid US number: a real area code, an exchange 200..899, four digits.
	areas := [...]int{415, 212, 310, 312, 646, 718, 206, 303}
	n := run*1_000_003 + i
	return fmt.Sprintf("+1%03d%03d%04d", areas[(n/7_000_000)%len(areas)], 200+(n/10_000)%700, n%10_000)
}

// send posts messages to the daemons at targets (round robin; nil: --target), then
// waits until the fake carrier saw every accepted one and a sample reads back as sent.
func send(ctx context.Context, o options, client *http.Client, fk *fakes, targets []string) (result, error) {
	if len(targets) == 0 {
		targets = []string{o.target}
	}
	run := int(time.Now().UnixNano() / 1e6 % 1000)
	lat, codes := &latencies{}, &statusCounts{}
	var firstErr atomic.Value
	var idsMu sync.Mutex
	var ids []string
	n := o.n
	if o.duration > 0 {
		n = maxDuration
	}
	base := fk.count.Load()
	start := time.Now()
	done, elapsed := pool(ctx, n, o.c, o.rate, o.duration, func(i int) {
		t0 := time.Now()
		id, code, err := postSend(ctx, o, client, targets[i%len(targets)], o.channel, contact(o.channel, run, i), "load message "+strconv.Itoa(i))
		if err != nil {
			firstErr.CompareAndSwap(nil, err.Error())
			codes.add(code)
			return
		}
		lat.add(time.Since(t0))
		codes.add(code)
		idsMu.Lock()
		ids = append(ids, id)
		idsMu.Unlock()
	})
	r := result{requests: done, elapsed: elapsed, rate: float64(done) / elapsed.Seconds(), lat: lat, codes: codes, accepted: len(ids)}
	if e := firstErr.Load(); e != nil {
		r.firstFail = e.(string)
	}
	if !o.quiet {
		fmt.Printf("send: %d requests (%s), %d connections, target rate %v/s: accepted %d in %s: %.0f req/s\n",
			done, o.channel, o.c, o.rate, r.accepted, elapsed.Round(time.Millisecond), r.rate)
		fmt.Printf("  accept latency %s\n  status %s\n", lat.String(), codes.String())
		if r.firstFail != "" {
			fmt.Printf("  first error: %s\n", r.firstFail)
		}
	}
	if r.accepted == 0 {
		return r, errors.New("send: nothing was accepted")
	}
	// Wait until the fake carrier saw every accepted message, then until the sample
	// reads back as sent (the daemon's commit of "sent" follows the carrier call).
	for fk.count.Load()-base < int64(r.accepted) && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	fk.mu.Lock()
	carrierDone := fk.last
	fk.mu.Unlock()
	r.carrier = fk.count.Load() - base
	sample := sampleIDs(ids, 50)
	for ctx.Err() == nil {
		pending := 0
		for i, id := range sample {
			if st, err := messageStatus(ctx, o, client, targets[i%len(targets)], id); err != nil || st == "queued" || st == "sending" {
				pending++
			}
		}
		if pending == 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	sentDone := time.Now()
	if ctx.Err() != nil {
		r.timedOut = true
		if !o.quiet {
			fmt.Printf("  timed out: the carrier saw %d of %d\n", r.carrier, r.accepted)
		}
		return r, nil
	}
	r.start = start
	r.e2e = float64(r.accepted) / sentDone.Sub(start).Seconds()
	if !o.quiet {
		fmt.Printf("  end to end: carrier saw %d of %d, last at +%s: %.0f msg/s (accept -> carrier call)\n",
			r.carrier, r.accepted, carrierDone.Sub(start).Round(time.Millisecond), float64(r.carrier)/carrierDone.Sub(start).Seconds())
		fmt.Printf("  sample of %d read back as sent by +%s (upper bound incl. polling): %.0f msg/s\n",
			len(sample), sentDone.Sub(start).Round(time.Millisecond), r.e2e)
	}
	return r, nil
}

// sampleIDs picks up to k ids spread over the run, always including the last.
func sampleIDs(ids []string, k int) []string {
	var out []string
	for i := len(ids) - 1; i >= 0; i -= max(1, len(ids)/k) {
		if ids[i] != "" {
			out = append(out, ids[i])
		}
	}
	return out
}

func messageStatus(ctx context.Context, o options, client *http.Client, target, id string) (string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(target, "/")+"/v1/messages/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+o.apiKey)
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var m struct {
		Status string `json:"status"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		return "", err
	}
	return m.Status, nil
}

func idleLatency(ctx context.Context, o options, client *http.Client, fk *fakes) error {
	if o.fakeOpen == "" {
		return errors.New("idle-latency: --fake-open is required (the daemon's open integration posts to it)")
	}
	fk.mu.Lock()
	fk.seen = make(chan string, 16)
	fk.mu.Unlock()
	run := int(time.Now().UnixNano() / 1e6 % 1000)
	var e2e, accept, afterAccept latencies
	for i := 0; i < o.n && ctx.Err() == nil; i++ {
		t0 := time.Now()
		id, _, err := postSend(ctx, o, client, o.target, "open", contact("open", run, i), "idle probe "+strconv.Itoa(i))
		if err != nil {
			return fmt.Errorf("idle-latency: send %d: %w", i, err)
		}
		t1 := time.Now()
		var at time.Time
		for at.IsZero() {
			select {
			case <-fk.seen:
			case <-time.After(5 * time.Second):
				return fmt.Errorf("idle-latency: message %s never reached the fake integration", id)
			case <-ctx.Done():
				return ctx.Err()
			}
			fk.mu.Lock()
			at = fk.arrivals[id]
			fk.mu.Unlock()
		}
		e2e.add(at.Sub(t0))
		accept.add(t1.Sub(t0))
		if at.After(t1) {
			afterAccept.add(at.Sub(t1))
		} else {
			afterAccept.add(0) // the carrier call started before the 202 was read
		}
		time.Sleep(o.gap)
	}
	fmt.Printf("idle-latency: %d messages one at a time, %s apart (open channel)\n", o.n, o.gap)
	fmt.Printf("  request start -> carrier call %s\n  accept (202)                  %s\n  202 read -> carrier call      %s\n",
		e2e.String(), accept.String(), afterAccept.String())
	return nil
}

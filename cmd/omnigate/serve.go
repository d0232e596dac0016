package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/omnigate/omnigate"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/omnigate/omnigate/adapters"
	"github.com/omnigate/omnigate/adapters/carrierhttp"
	"github.com/omnigate/omnigate/adapters/meta"
	"github.com/omnigate/omnigate/adapters/open"
	"github.com/omnigate/omnigate/adapters/sandbox"
	"github.com/omnigate/omnigate/adapters/twilio"
	"github.com/omnigate/omnigate/adapters/x"
	"github.com/omnigate/omnigate/api"
	"github.com/omnigate/omnigate/config"
	"github.com/omnigate/omnigate/events"
	"github.com/omnigate/omnigate/messaging"
	"github.com/omnigate/omnigate/metrics"
	"github.com/omnigate/omnigate/outbox"
	"github.com/omnigate/omnigate/policy"
	"github.com/omnigate/omnigate/store"
	"github.com/omnigate/omnigate/store/sqlstore"
	"github.com/omnigate/omnigate/webhook"
)

func newLogger(c config.Log) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.SlogLevel()}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// directory builds the API's view of the configuration.
func directory(cfg *config.Config) (*api.Directory, error) {
	d := &api.Directory{Queues: map[string]omnigate.Queue{}, DefaultCountry: cfg.DefaultCountry}
	for _, q := range cfg.DomainQueues() {
		d.Queues[q.ID] = q
	}
	byID := map[string]config.Principal{}
	for _, p := range cfg.Principals {
		byID[p.ID] = p
	}
	for _, p := range cfg.DomainPrincipals() {
		raw, err := hex.DecodeString(byID[p.ID].KeySHA256)
		if err != nil || len(raw) != 32 {
			return nil, fmt.Errorf("principal %s: key_sha256 is not 64 hex digits", p.ID)
		}
		var c api.Credential
		copy(c.KeySHA256[:], raw)
		c.Principal = p
		d.Principals = append(d.Principals, c)
	}
	return d, nil
}

// webhookRoutes maps each carrier webhook route to the carrier serving it. Every route
// is mounted whatever is configured: a reload may add a carrier, and a route whose
// carrier is not configured answers 404.
func webhookRoutes() map[string]string {
	return map[string]string{
		"POST " + twilio.WebhookPath:        "twilio",
		"POST " + twilio.StatusPath:         "twilio",
		"/webhooks/meta":                    "meta",
		"/webhooks/x":                       "x",
		"POST /webhooks/open/{integration}": "open",
	}
}

// registry builds the adapters for the configured providers and registers each
// channel's carrier.
func registry(cfg *config.Config, sids contentSID) (*adapters.Registry, error) {
	reg := adapters.NewRegistry()
	p := cfg.Providers
	var tw *twilio.Twilio
	var mt *meta.Meta
	if p.Twilio != nil {
		a, err := twilio.New(twilio.Config{AccountSID: p.Twilio.AccountSID, AuthToken: p.Twilio.AuthToken,
			BaseURL: p.Twilio.BaseURL, PublicURL: cfg.PublicURL, ContentSIDs: p.Twilio.ContentSIDs,
			ContentURL: p.Twilio.ContentURL(), ContentSID: sids})
		if err != nil {
			return nil, fmt.Errorf("twilio: %w", err)
		}
		tw = a
		reg.Register(omnigate.SMS, a)
	}
	if p.Meta != nil {
		a, err := meta.New(meta.Config{AppSecret: p.Meta.AppSecret, VerifyToken: p.Meta.VerifyToken, PageTokens: p.Meta.PageTokens,
			WhatsAppToken: p.Meta.WhatsAppToken, WhatsAppPhoneNumberIDs: p.Meta.WhatsAppPhoneNumberIDs,
			WhatsAppBusinessAccountIDs: p.Meta.WhatsAppBusinessAccountIDs,
			GraphURL:                   p.Meta.GraphURL, APIVersion: p.Meta.APIVersion})
		if err != nil {
			return nil, fmt.Errorf("meta: %w", err)
		}
		mt = a
		reg.Register(omnigate.Messenger, a)
		reg.Register(omnigate.Instagram, a)
	}
	switch {
	case p.WhatsAppProvider == "meta" && mt != nil:
		reg.Register(omnigate.WhatsApp, mt)
	case tw != nil:
		reg.Register(omnigate.WhatsApp, tw)
	}
	if p.X != nil {
		a, err := x.New(x.Config{ConsumerSecret: p.X.ConsumerSecret, BearerTokens: p.X.BearerTokens, BaseURL: p.X.BaseURL})
		if err != nil {
			return nil, fmt.Errorf("x: %w", err)
		}
		reg.Register(omnigate.X, a)
	}
	if p.Open != nil && len(p.Open.Integrations) > 0 {
		ints := map[string]open.Integration{}
		for id, i := range p.Open.Integrations {
			ints[id] = open.Integration{OutboundURL: i.OutboundURL, Secret: i.Secret}
		}
		a, err := open.New(open.Config{Integrations: ints, HTTPClient: outboundClient(cfg)})
		if err != nil {
			return nil, fmt.Errorf("open: %w", err)
		}
		reg.Register(omnigate.Open, a)
	}
	return reg, nil
}

// profileSource finds the adapter that reads user profiles on a channel, in the
// registry as it stands (a reload may replace the carriers).
func profileSource(reg *adapters.Registry) messaging.ProfileSource {
	return func(ch omnigate.Channel) (adapters.Profiler, bool) {
		a, ok := reg.For(ch)
		if !ok {
			return nil, false
		}
		p, ok := a.(adapters.Profiler)
		return p, ok
	}
}

// outboundClient is the HTTP client for destinations the configuration names (open
// integrations, events.url): it refuses loopback, private and link-local addresses at
// dial time, after resolution and on redirects, unless allow_private_destinations or
// the sandbox is on.
func outboundClient(cfg *config.Config) *http.Client {
	t := carrierhttp.Transport()
	if !cfg.PrivateDestinationsAllowed() {
		t = carrierhttp.GuardedTransport()
	}
	return &http.Client{Transport: t, Timeout: 15 * time.Second}
}

// mediaClient downloads inbound media from carriers' CDNs, naming omnigate in its
// User-Agent like every carrier call: guarded like outboundClient, without its overall timeout (a large attachment streams for as long as the caller
// reads); the API request's context bounds it.
func mediaClient(cfg *config.Config) *http.Client {
	c := outboundClient(cfg)
	c.Timeout = 0
	return carrierhttp.UserAgentClient(c)
}

// daemon is a running omnigate.
type daemon struct {
	cfg    *config.Config
	log    *slog.Logger
	st     *sqlstore.DB
	pol    *policy.Holder
	dir    atomic.Pointer[api.Directory]
	relay  *outbox.Relay
	svc    *messaging.Service
	srv    *http.Server
	ln     net.Listener
	poster *sandbox.Poster
	met    *metrics.Metrics
	// console is the sandbox console at /sandbox/; nil without the sandbox.
	console *console

	// carriers is the registry the relay, the API and the webhooks consult on every
	// attempt and request; reload replaces its contents when a provider block changed.
	carriers *adapters.Registry
	// file is the configuration as the file said at start, before the daemon filled
	// in a port or sandbox carriers: what reload compares a new file with.
	file config.Config
	// sandboxProviders are the blocks the sandbox filled in at start; a reloaded file
	// without a block keeps using the sandbox carrier.
	sandboxProviders config.Providers
	// providers are the provider blocks in use.
	providers config.Providers
	reloadMu  sync.Mutex
	// restart lists the changed keys that take effect only after a restart.
	restart atomic.Pointer[[]string]
}

func newDaemon(ctx context.Context, cfg *config.Config, log *slog.Logger) (*daemon, error) {
	d := &daemon{cfg: cfg, log: log, file: *cfg}
	d.restart.Store(&[]string{})
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	d.ln = ln
	if port := ln.Addr().(*net.TCPAddr).Port; strings.HasSuffix(cfg.PublicURL, ":0") {
		// Port 0 was a request for any free port; carriers must call the one we got.
		cfg.PublicURL = strings.TrimSuffix(cfg.PublicURL, "0") + strconv.Itoa(port)
	}
	if strings.HasPrefix(cfg.Events.URL, "/") {
		// A path names the sandbox's platform on this listener.
		cfg.Events.URL = localBase(ln) + cfg.Events.URL
	}
	fail := func(err error) (*daemon, error) {
		ln.Close()
		if d.st != nil {
			d.st.Close()
		}
		return nil, err
	}
	d.st, err = sqlstore.Open(ctx, cfg.Store, sqlstore.Options{Dir: cfg.Dir, Owner: true})
	if err != nil {
		return fail(err)
	}
	d.pol, err = policy.NewHolder(cfg.PolicyFile, log)
	if err != nil {
		return fail(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	d.met = metrics.New(reg, func(ctx context.Context) (store.OutboxStats, error) { return d.st.OutboxStats(ctx, time.Now()) })
	d.pol.OnReload(func(ok bool) { d.met.Reload("policy", ok) })
	dir, err := directory(cfg)
	if err != nil {
		return fail(err)
	}
	d.dir.Store(dir)

	sandboxMux := http.NewServeMux() // the sandbox carriers, console and platform, under /sandbox/
	if cfg.Sandbox {
		d.poster = &sandbox.Poster{Log: log}
		// The sandbox carriers live on this listener; reach them over loopback.
		base := "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
		if cfg.SandboxWithProviders {
			log.Warn("sandbox carriers beside real providers (sandbox_with_providers): the sandboxed channels' webhook secrets are published, so anyone can forge their webhooks")
		}
		fakes, err := sandboxCarriers(cfg, sandboxMux, base, d.poster, log)
		if err != nil {
			return fail(err)
		}
		var platform *eventSink
		if cfg.Events.URL != "" {
			platform = &eventSink{secret: []byte(cfg.Events.Secret)}
			sandboxMux.Handle("/sandbox/events", platform)
		}
		d.console = newConsole(cfg, fakes, platform, cfg.Events.URL == localBase(ln)+"/sandbox/events")
		d.console.mount(sandboxMux)
	}
	d.sandboxProviders = filledIn(d.file.Providers, cfg.Providers)
	d.providers = cfg.Providers
	carriers, err := registry(cfg, d.contentSID)
	if err != nil {
		return fail(err)
	}
	d.carriers = carriers
	var sink *events.Sink
	if cfg.Events.URL != "" {
		sink = &events.Sink{URL: cfg.Events.URL, Secret: []byte(cfg.Events.Secret), Client: outboundClient(cfg),
			Batch: cfg.Events.Batch}
	}
	owner := hostOwner()
	d.relay, err = outbox.New(outbox.Config{Store: d.st, Registry: carriers, Observer: d.met, Events: sink, Owner: owner,
		Workers: cfg.Relay.Workers, BatchSize: cfg.Relay.BatchSize, Lease: cfg.Relay.Lease.Std(),
		AttemptTimeout: cfg.Relay.AttemptTimeout.Std(), InstanceTimeout: cfg.Relay.InstanceTimeout.Std(),
		MaxAttempts: cfg.Relay.MaxAttempts, InitialBackoff: cfg.Relay.InitialBackoff.Std(), MaxBackoff: cfg.Relay.MaxBackoff.Std(),
		Recheck: messaging.Recheck(d.pol.Current),
		Rate:    messaging.Rate(d.pol.Current), Log: log})
	if err != nil {
		return fail(err)
	}
	svc, err := messaging.New(messaging.Config{Store: d.st, Policy: d.pol.Current, PolicyError: d.pol.LastError,
		Queues:         func() map[string]omnigate.Queue { return d.dir.Load().Queues },
		Principals:     func() []omnigate.Principal { return d.dir.Load().AllPrincipals() },
		DefaultCountry: func() string { return d.dir.Load().DefaultCountry },
		Typer:          d.relay, AllowPrivateMedia: cfg.PrivateDestinationsAllowed(),
		Events: cfg.Events.URL != "", Log: log, Observer: d.met, Templates: templateSource(carriers),
		Retention: messaging.Retention{MessageBodies: cfg.Retention.MessageBodies.Std(), Conversations: cfg.Retention.Conversations.Std()},
		Registry:  carriers, MediaClient: mediaClient(cfg), MediaBaseURL: cfg.PublicURL,
		Profiles: profileSource(carriers)})
	if err != nil {
		return fail(err)
	}
	d.svc = svc
	if sink != nil {
		// Story-mention links live in the service's memory: each event is completed
		// from it just before it is posted. The relay has not started yet.
		sink.Prepare = svc.PrepareEvent
	}
	a := api.New(api.Config{Service: svc, Directory: func() *api.Directory { return d.dir.Load() }, Log: log,
		RestartPending: func() []string { return *d.restart.Load() }})
	// The process's routes: the platform API, the carriers' webhooks, metrics and
	// the sandbox, framed alike (request ids, access log, error shape).
	root := http.NewServeMux()
	a.Mount(root)
	for pattern, provider := range webhookRoutes() {
		current := func() (adapters.Adapter, bool) { return carriers.Provider(provider) }
		root.Handle(pattern, &webhook.Handler{Current: current, Ingester: svc, Log: log, Observe: d.met.Webhook})
	}
	root.Handle("GET /metrics", d.met.Handler())
	if cfg.Sandbox {
		root.Handle("/sandbox/", sandboxMux)
	}
	d.srv = &http.Server{Handler: api.Frame(root, log, d.met.HTTP), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	if d.console != nil {
		d.srv.RegisterOnShutdown(d.console.close) // its event streams never go idle
	}
	return d, nil
}

// localBase is the base URL a process on this machine reaches ln at: its own address,
// or loopback when it listens on every interface.
func localBase(ln net.Listener) string {
	a := ln.Addr().(*net.TCPAddr)
	host := "127.0.0.1"
	if !a.IP.IsUnspecified() {
		host = a.IP.String()
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(a.Port))
}

func hostOwner() string {
	h, _ := os.Hostname()
	var b [4]byte
	rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", h, os.Getpid(), hex.EncodeToString(b[:]))
}

// reload re-reads the configuration file (SIGHUP, or the file changed): queues,
// principals and the default country take effect at once, and when a provider block
// changed the carrier adapters are rebuilt and swapped in, so the next attempt uses the
// new credentials while attempts in flight finish with the old ones. A change that
// needs a restart (listen, store, ...) is logged as a warning naming it and shown by
// /readyz; the running value stays. A file that fails validation, or whose carriers
// cannot be built, changes nothing.
func (d *daemon) reload() {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	cfg, err := config.Load(d.cfg.Path)
	var dir *api.Directory
	if err == nil {
		dir, err = directory(cfg)
	}
	var providers config.Providers
	var carriers *adapters.Registry
	var changed []string
	if err == nil {
		providers = d.sandboxProviders.Under(cfg.Providers)
		changed = providers.Changed(d.providers)
		if len(changed) > 0 {
			running := *d.cfg
			running.Providers = providers
			carriers, err = registry(&running, d.contentSID)
		}
	}
	d.met.Reload("config", err == nil)
	if err != nil {
		d.log.Error("config reload failed; keeping the running configuration", "err", err)
		return
	}
	d.dir.Store(dir)
	if carriers != nil {
		d.carriers.Replace(carriers)
		d.providers = providers
		d.log.Info("carrier adapters rebuilt; the next attempts use them", "changed", strings.Join(changed, ", "))
	}
	pending := d.file.RestartNeeded(cfg)
	d.restart.Store(&pending)
	if len(pending) > 0 {
		d.log.Warn("configuration changes need a restart; the running values stay until then",
			"keys", strings.Join(pending, ", "))
	}
	if err := d.pol.Reload(); err != nil {
		d.log.Error("policy reload failed; keeping the running policy", "err", err)
	}
	d.log.Info("configuration reloaded", "queues", len(dir.Queues), "principals", len(dir.Principals))
}

// filledIn returns the blocks of after that before lacked: what the sandbox added.
func filledIn(before, after config.Providers) config.Providers {
	var p config.Providers
	if before.Twilio == nil {
		p.Twilio = after.Twilio
	}
	if before.Meta == nil {
		p.Meta = after.Meta
	}
	if before.X == nil {
		p.X = after.X
	}
	if before.Open == nil {
		p.Open = after.Open
	}
	return p
}

// run serves until ctx ends, then shuts down gracefully within the configured deadline.
func (d *daemon) run(ctx context.Context) error {
	defer d.st.Close()
	relayCtx, stopRelay := context.WithCancel(context.Background())
	relayDone := make(chan error, 1)
	go func() { relayDone <- d.relay.Run(relayCtx, d.cfg.ShutdownTimeout.Std()) }()
	// The watchers and the janitor use the store: stop them before it closes.
	watchCtx, stopWatch := context.WithCancel(context.Background())
	var watchers sync.WaitGroup
	defer func() { stopWatch(); watchers.Wait() }()
	if d.cfg.PolicyFile != "" {
		watchers.Go(func() { d.pol.Watch(watchCtx) })
	}
	watchers.Go(func() { d.svc.RunJanitor(watchCtx, 10*time.Minute) })
	watchers.Go(func() { d.svc.RunTemplateSync(watchCtx, config.TemplateSyncInterval) })
	watchers.Go(func() { d.svc.RunProfiles(watchCtx) })
	if d.cfg.Path != "" {
		watchers.Go(func() {
			if err := config.Watch(watchCtx, d.cfg.Path, 200*time.Millisecond, d.log, d.reload); err != nil {
				d.log.Warn("not watching the configuration file; reload it with SIGHUP", "err", err)
			}
		})
	}
	srvErr := make(chan error, 1)
	go func() { srvErr <- d.srv.Serve(d.ln) }()
	d.log.Info("omnigate serving", "listen", d.ln.Addr().String(), "public_url", d.cfg.PublicURL, "sandbox", d.cfg.Sandbox)

	var err error
	select {
	case <-ctx.Done():
	case err = <-srvErr:
	}
	d.log.Info("shutting down: no new requests; finishing deliveries in flight", "deadline", d.cfg.ShutdownTimeout.Std())
	shutCtx, cancel := context.WithTimeout(context.Background(), d.cfg.ShutdownTimeout.Std())
	defer cancel()
	d.srv.Shutdown(shutCtx)
	stopRelay()
	if rerr := <-relayDone; rerr != nil {
		d.log.Error("releasing leases", "err", rerr)
	}
	if d.poster != nil {
		d.poster.Close()
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

func serve(cfg *config.Config) error {
	log := newLogger(cfg.Log)
	tuneGC()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	stopDebug, err := startDebug(log)
	if err != nil {
		return err
	}
	defer stopDebug()
	d, err := newDaemon(ctx, cfg, log)
	if err != nil {
		return err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for range hup {
			d.reload()
		}
	}()
	return d.run(ctx)
}

// tuneGC lets the heap grow to three times the live data between collections instead of
// twice (GOGC=200): under load the collector took about a twentieth of the daemon's CPU,
// and the heap is small (tens of MB), so the trade is cheap. A soft limit of 120 MiB
// keeps the heap below the memory target whatever the load. GOGC and GOMEMLIMIT in the
// environment still win.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(200)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(120 << 20)
	}
}

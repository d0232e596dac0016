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
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/omnigate/omnigate"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/omnigate/omnigate/adapters"
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

// registry builds the adapters for the configured providers and registers each
// channel's carrier. It returns the webhook routes too.
func registry(cfg *config.Config, pol func() *policy.Policy) (*adapters.Registry, map[string]adapters.Adapter, error) {
	reg := adapters.NewRegistry()
	hooks := map[string]adapters.Adapter{}
	p := cfg.Providers
	var tw *twilio.Twilio
	var mt *meta.Meta
	if p.Twilio != nil {
		a, err := twilio.New(twilio.Config{AccountSID: p.Twilio.AccountSID, AuthToken: p.Twilio.AuthToken,
			BaseURL: p.Twilio.BaseURL, PublicURL: cfg.PublicURL, ContentSIDs: p.Twilio.ContentSIDs})
		if err != nil {
			return nil, nil, fmt.Errorf("twilio: %w", err)
		}
		tw = a
		reg.Register(omnigate.SMS, a)
		hooks["POST /webhooks/twilio"], hooks["POST /webhooks/twilio/status"] = a, a
	}
	if p.Meta != nil {
		a, err := meta.New(meta.Config{AppSecret: p.Meta.AppSecret, VerifyToken: p.Meta.VerifyToken, PageTokens: p.Meta.PageTokens,
			WhatsAppToken: p.Meta.WhatsAppToken, WhatsAppPhoneNumberIDs: p.Meta.WhatsAppPhoneNumberIDs,
			GraphURL: p.Meta.GraphURL, APIVersion: p.Meta.APIVersion,
			StoryMentions: func() bool { return pol().Rules("", string(omnigate.Instagram)).StoryMentions }})
		if err != nil {
			return nil, nil, fmt.Errorf("meta: %w", err)
		}
		mt = a
		reg.Register(omnigate.Messenger, a)
		reg.Register(omnigate.Instagram, a)
		hooks["/webhooks/meta"] = a
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
			return nil, nil, fmt.Errorf("x: %w", err)
		}
		reg.Register(omnigate.X, a)
		hooks["/webhooks/x"] = a
	}
	if p.Open != nil && len(p.Open.Integrations) > 0 {
		ints := map[string]open.Integration{}
		for id, i := range p.Open.Integrations {
			ints[id] = open.Integration{OutboundURL: i.OutboundURL, Secret: i.Secret}
		}
		a, err := open.New(open.Config{Integrations: ints})
		if err != nil {
			return nil, nil, fmt.Errorf("open: %w", err)
		}
		reg.Register(omnigate.Open, a)
		hooks["POST /webhooks/open/{integration}"] = a
	}
	return reg, hooks, nil
}

// daemon is a running omnigate.
type daemon struct {
	cfg    *config.Config
	log    *slog.Logger
	st     *sqlstore.DB
	pol    *policy.Holder
	dir    atomic.Pointer[api.Directory]
	relay  *outbox.Relay
	srv    *http.Server
	ln     net.Listener
	poster *sandbox.Poster
	met    *metrics.Metrics
}

func newDaemon(ctx context.Context, cfg *config.Config, log *slog.Logger) (*daemon, error) {
	d := &daemon{cfg: cfg, log: log}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	d.ln = ln
	if port := ln.Addr().(*net.TCPAddr).Port; strings.HasSuffix(cfg.PublicURL, ":0") {
		// Port 0 was a request for any free port; carriers must call the one we got.
		cfg.PublicURL = strings.TrimSuffix(cfg.PublicURL, "0") + strconv.Itoa(port)
	}
	fail := func(err error) (*daemon, error) {
		ln.Close()
		if d.st != nil {
			d.st.Close()
		}
		return nil, err
	}
	d.st, err = sqlstore.Open(ctx, cfg.Store, sqlstore.Options{Dir: cfg.Dir})
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

	mux := http.NewServeMux()
	if cfg.Sandbox {
		d.poster = &sandbox.Poster{Log: log}
		// The sandbox carriers live on this listener; reach them over loopback.
		base := "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
		if err := sandboxCarriers(cfg, mux, base, d.poster, log); err != nil {
			return fail(err)
		}
		if cfg.Events.URL != "" {
			mux.Handle("/sandbox/events", &eventSink{secret: []byte(cfg.Events.Secret)})
		}
	}
	carriers, hooks, err := registry(cfg, d.pol.Current)
	if err != nil {
		return fail(err)
	}
	queues := func() map[string]omnigate.Queue { return d.dir.Load().Queues }
	svc, err := messaging.New(messaging.Config{Store: d.st, Policy: d.pol.Current, Queues: queues,
		Events: cfg.Events.URL != "", Log: log, Observer: d.met})
	if err != nil {
		return fail(err)
	}
	var sink *events.Sink
	if cfg.Events.URL != "" {
		sink = &events.Sink{URL: cfg.Events.URL, Secret: []byte(cfg.Events.Secret), Client: &http.Client{Timeout: 15 * time.Second}}
	}
	owner := hostOwner()
	d.relay, err = outbox.New(outbox.Config{Store: d.st, Registry: carriers, Observer: d.met, Events: sink, Owner: owner,
		Workers: cfg.Relay.Workers, BatchSize: cfg.Relay.BatchSize, Lease: cfg.Relay.Lease.Std(),
		MaxAttempts: cfg.Relay.MaxAttempts, InitialBackoff: cfg.Relay.InitialBackoff.Std(), MaxBackoff: cfg.Relay.MaxBackoff.Std(),
		Recheck: messaging.Recheck(d.pol.Current),
		Rate: func(m omnigate.Message) float64 {
			return d.pol.Current().Rules(m.QueueID, string(m.Channel)).RatePerSender
		},
		StatusCallback: func(id string) string { return cfg.PublicURL + "/webhooks/twilio/status?mid=" + id },
		Log:            log})
	if err != nil {
		return fail(err)
	}
	a := api.New(api.Config{Service: svc, Store: d.st, Directory: func() *api.Directory { return d.dir.Load() },
		Policy: d.pol.Current, PolicyError: d.pol.LastError, Registry: carriers, Log: log, Observe: d.met.HTTP})
	for pattern, ad := range hooks {
		a.Handle(pattern, &webhook.Handler{Adapter: ad, Ingester: svc, Log: log, Observe: d.met.Webhook})
	}
	a.Handle("GET /metrics", d.met.Handler())
	a.Handle("/sandbox/", mux)
	d.srv = &http.Server{Handler: a, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	return d, nil
}

func hostOwner() string {
	h, _ := os.Hostname()
	var b [4]byte
	rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", h, os.Getpid(), hex.EncodeToString(b[:]))
}

// reload re-reads the configuration file (SIGHUP): queues, principals and the default
// country take effect at once; a file that fails validation keeps the running one.
// Listen address, store and providers need a restart.
func (d *daemon) reload() {
	cfg, err := config.Load(d.cfg.Path)
	var dir *api.Directory
	if err == nil {
		dir, err = directory(cfg)
	}
	d.met.Reload("config", err == nil)
	if err != nil {
		d.log.Error("config reload failed; keeping the running configuration", "err", err)
		return
	}
	d.dir.Store(dir)
	if err := d.pol.Reload(); err != nil {
		d.log.Error("policy reload failed; keeping the running policy", "err", err)
	}
	d.log.Info("configuration reloaded", "queues", len(dir.Queues), "principals", len(dir.Principals))
}

// run serves until ctx ends, then shuts down gracefully within the configured deadline.
func (d *daemon) run(ctx context.Context) error {
	defer d.st.Close()
	relayCtx, stopRelay := context.WithCancel(context.Background())
	relayDone := make(chan error, 1)
	go func() { relayDone <- d.relay.Run(relayCtx, d.cfg.ShutdownTimeout.Std()) }()
	watchCtx, stopWatch := context.WithCancel(context.Background())
	defer stopWatch()
	if d.cfg.PolicyFile != "" {
		go d.pol.Watch(watchCtx)
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

func serve(cfgPath string) error {
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
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

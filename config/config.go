// Package config reads omnigate.yaml, the daemon's configuration (docs/configuration.md).
//
// Load reads the file, expands ${NAME} references from the environment inside scalar
// values only (so an environment value can never add YAML structure), decodes strictly,
// fills defaults and validates. Every problem is reported at once, each with its path in
// the document and its line, in a *ValidationError; secrets never appear in a message.
//
// After a successful Load, relative paths (policy_file and a sqlite:// store) are absolute,
// resolved against the folder of the configuration file, and public_url has no trailing
// slash.
package config

import (
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"github.com/omnigate/omnigate"
)

// Config is the whole of omnigate.yaml. The zero values of optional fields are replaced
// by defaults when the file is loaded (see ApplyDefaults).
type Config struct {
	// Listen is the host:port the HTTP server binds. Default ":8080".
	Listen string `yaml:"listen"`
	// PublicURL is the absolute http(s) URL carriers call; Twilio signatures are computed
	// over it. Default "http://127.0.0.1" plus the port of Listen. Never ends in "/".
	PublicURL string `yaml:"public_url"`
	// Store is sqlite://PATH (default "sqlite://./omnigate.db") or postgres(ql)://...
	// After Load a relative sqlite path is absolute; see SQLitePath.
	Store string `yaml:"store"`
	// PolicyFile is the policy.yaml path; empty means the built-in policy.
	PolicyFile string `yaml:"policy_file"`
	// DefaultCountry is the ISO 3166 alpha-2 region for numbers written without a
	// country code. Default "US".
	DefaultCountry string      `yaml:"default_country"`
	Queues         []Queue     `yaml:"queues"`
	Principals     []Principal `yaml:"principals"`
	Events         Events      `yaml:"events"`
	Providers      Providers   `yaml:"providers"`
	// Sandbox lets channels without a provider block use the built-in sandbox carriers.
	// Their secrets are published, so beside a real provider block it is refused unless
	// SandboxWithProviders is also true.
	Sandbox bool `yaml:"sandbox"`
	// SandboxWithProviders accepts sandbox carriers beside real provider blocks: anyone
	// can then forge the webhooks of the channels the sandbox stands in for.
	SandboxWithProviders bool `yaml:"sandbox_with_providers"`
	// AllowPrivateDestinations lets events.url, open-messaging outbound URLs and API
	// media URLs point at loopback, private or link-local addresses. The sandbox
	// implies it.
	AllowPrivateDestinations bool  `yaml:"allow_private_destinations"`
	Log                      Log   `yaml:"log"`
	Relay                    Relay `yaml:"relay"`

	// ShutdownTimeout bounds graceful shutdown. Default 10s.
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
	// Retention bounds how long message content and conversations are kept; by
	// default nothing is deleted.
	Retention Retention `yaml:"retention"`

	// Path is the absolute path of the file loaded; empty after Parse.
	Path string `yaml:"-"`
	// Dir is the folder relative paths were resolved against.
	Dir string `yaml:"-"`

	// lines maps a document path ("queues[0].addresses.sms") to its line, for messages.
	lines map[string]int
}

// PrivateDestinationsAllowed reports whether outbound URLs may reach loopback,
// private or link-local addresses: when allow_private_destinations or the sandbox
// (whose carriers listen on loopback) is on.
func (c *Config) PrivateDestinationsAllowed() bool { return c.AllowPrivateDestinations || c.Sandbox }

// Queue is a contact-center queue with its outbound address per channel.
type Queue struct {
	ID   string `yaml:"id"`
	Name string `yaml:"name"` // default: the id
	// Addresses maps a channel name (sms, whatsapp, messenger, instagram, x, open) to the
	// address the queue sends from: E.164 for sms and whatsapp, a page id, an Instagram
	// account id, an X user id, an open-messaging integration id.
	Addresses map[string]string `yaml:"addresses"`
}

// Principal is an API key holder. Only the key's SHA-256 is configured, never the key.
type Principal struct {
	ID string `yaml:"id"`
	// KeySHA256 is the lowercase hex SHA-256 of the API key (lowercased on load).
	KeySHA256    string   `yaml:"key_sha256"`
	Permissions  []string `yaml:"permissions"`
	Queues       []string `yaml:"queues"` // queue ids, or "*" for every queue
	DefaultQueue string   `yaml:"default_queue"`
}

// Events says where platform events are pushed. With sandbox true, URL may be a path
// ("/sandbox/events"): it is then on omnigate's own listener, reached over loopback on
// whatever port the listener got, so changing listen never breaks it. When URL is empty, no events are
// enqueued at all (nothing accumulates in the outbox waiting for a receiver); Secret is
// then ignored. When URL is set, Secret is required: it keys X-Omnigate-Signature.
type Events struct {
	URL    string `yaml:"url"`
	Secret string `yaml:"secret"`
	// Batch is the most events one post carries (1 to 500, default 1). 1 posts every
	// event alone, as its own JSON object; above 1 every post is {"events":[...]}.
	Batch int `yaml:"batch"`
}

// Providers holds one block per carrier account. A nil block means the carrier is not
// configured: its channels use the sandbox carriers when Sandbox is true, and are a
// validation error when a queue has an address on them and Sandbox is false.
type Providers struct {
	Twilio *Twilio `yaml:"twilio,omitempty"`
	Meta   *Meta   `yaml:"meta,omitempty"`
	X      *X      `yaml:"x,omitempty"`
	Open   *Open   `yaml:"open,omitempty"`
	// WhatsAppProvider names who carries whatsapp: "twilio" (default) or "meta".
	WhatsAppProvider string `yaml:"whatsapp_provider"`
}

// Twilio carries sms, and whatsapp when WhatsAppProvider is "twilio". WhatsApp
// templates are synced from Twilio's Content API: https://content.twilio.com with the
// default base_url, else base_url itself (a proxy or fake serving both APIs).
type Twilio struct {
	AccountSID string `yaml:"account_sid"`
	AuthToken  string `yaml:"auth_token"`
	BaseURL    string `yaml:"base_url"` // default https://api.twilio.com
	// ContentSIDs maps "template_name/language" to a Content API SID ("HX...").
	ContentSIDs map[string]string `yaml:"content_sids"`
}

// Meta carries messenger and instagram, and whatsapp (Cloud API) when WhatsAppProvider
// is "meta".
type Meta struct {
	AppSecret   string `yaml:"app_secret"`
	VerifyToken string `yaml:"verify_token"`
	// PageTokens maps a Facebook page id to its page access token; every queue's
	// messenger address needs one. An Instagram account sends with the token of the
	// page it is linked to, so keys may also be Instagram account ids.
	PageTokens    map[string]string `yaml:"page_tokens"`
	WhatsAppToken string            `yaml:"whatsapp_token"`
	// WhatsAppPhoneNumberIDs maps a queue's whatsapp address (E.164) to its Cloud API
	// phone number id.
	WhatsAppPhoneNumberIDs map[string]string `yaml:"whatsapp_phone_number_ids"`
	// WhatsAppBusinessAccountIDs maps a queue's whatsapp address (E.164) to the id of
	// the WhatsApp Business Account owning it, whose message templates are synced.
	WhatsAppBusinessAccountIDs map[string]string `yaml:"whatsapp_business_account_ids"`
	GraphURL                   string            `yaml:"graph_url"`   // default https://graph.facebook.com
	APIVersion                 string            `yaml:"api_version"` // default v23.0
}

// X carries the x channel (direct messages).
type X struct {
	ConsumerSecret string `yaml:"consumer_secret"`
	// BearerTokens maps a queue's X user id to the user-context token that sends as it.
	BearerTokens map[string]string `yaml:"bearer_tokens"`
	BaseURL      string            `yaml:"base_url"` // default https://api.x.com
}

// Open carries the open channel: one integration per id a queue uses as its address.
type Open struct {
	Integrations map[string]OpenIntegration `yaml:"integrations"`
}

// OpenIntegration is one open-messaging integration.
type OpenIntegration struct {
	OutboundURL string `yaml:"outbound_url"`
	Secret      string `yaml:"secret"`
}

// Log configures log/slog output.
type Log struct {
	Format string `yaml:"format"` // json | text (default)
	Level  string `yaml:"level"`  // debug | info (default) | warn | error
}

// SlogLevel returns Level as a slog.Level; an unknown or empty level is info.
func (l Log) SlogLevel() slog.Level {
	switch l.Level {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// Relay tunes the outbox relay.
type Relay struct {
	Workers     int      `yaml:"workers"`      // default 8
	MaxAttempts int      `yaml:"max_attempts"` // default 10
	Lease       Duration `yaml:"lease"`        // default 30s
	BatchSize   int      `yaml:"batch_size"`   // most rows one claim takes; default 128
	// AttemptTimeout bounds one carrier call or event post; at most half the lease.
	AttemptTimeout Duration `yaml:"attempt_timeout"` // default 10s (lease/3 when that is shorter)
	// InstanceTimeout: an instance not heard from for this long is taken for dead and
	// its leases are released to the others.
	InstanceTimeout Duration `yaml:"instance_timeout"` // default 5s
	InitialBackoff  Duration `yaml:"initial_backoff"`  // default 1s
	MaxBackoff      Duration `yaml:"max_backoff"`      // default 10m
}

// Defaults, in one place.
const (
	DefaultListen           = ":8080"
	DefaultStore            = "sqlite://./omnigate.db"
	DefaultCountryCode      = "US"
	DefaultTwilioBaseURL    = "https://api.twilio.com"
	DefaultMetaGraphURL     = "https://graph.facebook.com"
	DefaultMetaAPIVersion   = "v23.0"
	DefaultXBaseURL         = "https://api.x.com"
	DefaultWhatsAppProvider = "twilio"
	// MaxEventsBatch is the largest events.batch (events.MaxBatch).
	MaxEventsBatch = 500
)

// ApplyDefaults fills every unset field with its default. Parse calls it; a test that
// builds a Config by hand can call it too. A field written explicitly in the file (even
// as 0 or "") keeps its value so that Validate can reject it rather than hide it.
func (c *Config) ApplyDefaults() {
	unset := func(path string) bool {
		_, written := c.lines[path]
		return !written
	}
	str := func(p *string, path, def string) {
		if *p == "" && unset(path) {
			*p = def
		}
	}
	num := func(p *int, path string, def int) {
		if *p == 0 && unset(path) {
			*p = def
		}
	}
	dur := func(p *Duration, path string, def time.Duration) {
		if *p == 0 && unset(path) {
			*p = Duration(def)
		}
	}

	str(&c.Listen, "listen", DefaultListen)
	if c.PublicURL == "" && unset("public_url") {
		c.PublicURL = defaultPublicURL(c.Listen)
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	str(&c.Store, "store", DefaultStore)
	str(&c.DefaultCountry, "default_country", DefaultCountryCode)
	for i := range c.Queues {
		if c.Queues[i].Name == "" {
			c.Queues[i].Name = c.Queues[i].ID
		}
	}
	for i := range c.Principals {
		c.Principals[i].KeySHA256 = strings.ToLower(c.Principals[i].KeySHA256)
	}
	str(&c.Providers.WhatsAppProvider, "providers.whatsapp_provider", DefaultWhatsAppProvider)
	if t := c.Providers.Twilio; t != nil {
		str(&t.BaseURL, "providers.twilio.base_url", DefaultTwilioBaseURL)
	}
	if m := c.Providers.Meta; m != nil {
		str(&m.GraphURL, "providers.meta.graph_url", DefaultMetaGraphURL)
		str(&m.APIVersion, "providers.meta.api_version", DefaultMetaAPIVersion)
	}
	if x := c.Providers.X; x != nil {
		str(&x.BaseURL, "providers.x.base_url", DefaultXBaseURL)
	}
	num(&c.Events.Batch, "events.batch", 1)
	str(&c.Log.Format, "log.format", "text")
	str(&c.Log.Level, "log.level", "info")
	num(&c.Relay.Workers, "relay.workers", 8)
	num(&c.Relay.MaxAttempts, "relay.max_attempts", 10)
	dur(&c.Relay.Lease, "relay.lease", 30*time.Second)
	attempt := 10 * time.Second
	if l := c.Relay.Lease.Std(); l > 0 {
		attempt = min(attempt, l/3)
	}
	dur(&c.Relay.AttemptTimeout, "relay.attempt_timeout", attempt)
	dur(&c.Relay.InstanceTimeout, "relay.instance_timeout", 5*time.Second)
	num(&c.Relay.BatchSize, "relay.batch_size", 128)
	dur(&c.Relay.InitialBackoff, "relay.initial_backoff", time.Second)
	dur(&c.Relay.MaxBackoff, "relay.max_backoff", 10*time.Minute)
	dur(&c.ShutdownTimeout, "shutdown_timeout", 10*time.Second)
}

// ContentURL is where Twilio's Content API is reached: see Twilio.
func (t *Twilio) ContentURL() string {
	if t.BaseURL == DefaultTwilioBaseURL || t.BaseURL == "" {
		return "https://content.twilio.com"
	}
	return t.BaseURL
}

// LocalURL is where a process on this machine (the send command, the sandbox) reaches a
// server bound to Listen: http on the loopback address for a wildcard host, else on the
// host itself.
func (c *Config) LocalURL() string { return defaultPublicURL(c.Listen) }

// defaultPublicURL is where a local carrier (the sandbox) reaches a server bound to
// listen: the loopback address for a wildcard host, else the host itself.
func defaultPublicURL(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "" // Validate reports listen; an empty public_url adds no second message
	}
	switch host {
	case "", "0.0.0.0", "::", "[::]":
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// resolvePaths makes the policy file and a sqlite store path absolute against dir, so
// the daemon finds them whatever its working directory.
func (c *Config) resolvePaths(dir string) {
	if dir == "" {
		return
	}
	if c.PolicyFile != "" && !filepath.IsAbs(c.PolicyFile) {
		c.PolicyFile = filepath.Join(dir, c.PolicyFile)
	}
	if p, query, ok := splitSQLite(c.Store); ok && p != "" && p != ":memory:" && !filepath.IsAbs(p) {
		c.Store = sqliteScheme + filepath.Join(dir, p) + query
	}
}

const sqliteScheme = "sqlite://"

// splitSQLite splits "sqlite://PATH?QUERY" into PATH and "?QUERY".
func splitSQLite(store string) (path, query string, ok bool) {
	rest, ok := strings.CutPrefix(store, sqliteScheme)
	if !ok {
		return "", "", false
	}
	if i := strings.IndexByte(rest, '?'); i >= 0 {
		return rest[:i], rest[i:], true
	}
	return rest, "", true
}

// SQLitePath returns the database file of a sqlite:// store (absolute after Load) and
// any "?query" options, or ok false when the store is not SQLite.
func (c *Config) SQLitePath() (path, query string, ok bool) {
	return splitSQLite(c.Store)
}

// DefaultPath is the configuration file used when none is named: $OMNIGATE_CONFIG when
// set, else ./omnigate.yaml.
func DefaultPath() string {
	if p := os.Getenv("OMNIGATE_CONFIG"); p != "" {
		return p
	}
	return "./omnigate.yaml"
}

// DomainQueues returns the queues as domain types, in file order. The result shares
// nothing with c.
func (c *Config) DomainQueues() []omnigate.Queue {
	out := make([]omnigate.Queue, 0, len(c.Queues))
	for _, q := range c.Queues {
		addrs := make(map[omnigate.Channel]string, len(q.Addresses))
		for ch, a := range q.Addresses {
			addrs[omnigate.Channel(ch)] = a
		}
		out = append(out, omnigate.Queue{ID: q.ID, Name: q.Name, Addresses: addrs})
	}
	return out
}

// DomainPrincipals returns the principals as domain types, in file order. The key hash
// is not part of omnigate.Principal: look it up in Principals to authenticate.
func (c *Config) DomainPrincipals() []omnigate.Principal {
	out := make([]omnigate.Principal, 0, len(c.Principals))
	for _, p := range c.Principals {
		out = append(out, omnigate.Principal{
			ID:           p.ID,
			Permissions:  append([]string(nil), p.Permissions...),
			Queues:       append([]string(nil), p.Queues...),
			DefaultQueue: p.DefaultQueue,
		})
	}
	return out
}

// Under returns file's provider blocks, with p's block wherever file has none: the
// sandbox's carriers (p) stand in for the blocks a file leaves out.
func (p Providers) Under(file Providers) Providers {
	out := file
	if out.Twilio == nil {
		out.Twilio = p.Twilio
	}
	if out.Meta == nil {
		out.Meta = p.Meta
	}
	if out.X == nil {
		out.X = p.X
	}
	if out.Open == nil {
		out.Open = p.Open
	}
	return out
}

// Changed names the provider settings that differ between p and q: "twilio", "meta",
// "x", "open", "whatsapp_provider".
func (p Providers) Changed(q Providers) []string {
	var out []string
	add := func(name string, equal bool) {
		if !equal {
			out = append(out, name)
		}
	}
	add("twilio", reflect.DeepEqual(p.Twilio, q.Twilio))
	add("meta", reflect.DeepEqual(p.Meta, q.Meta))
	add("x", reflect.DeepEqual(p.X, q.X))
	add("open", reflect.DeepEqual(p.Open, q.Open))
	add("whatsapp_provider", p.WhatsAppProvider == q.WhatsAppProvider)
	return out
}

// RestartNeeded names the settings that differ between c (running) and next and that
// the daemon reads only at start: everything but queues, principals, default_country
// and providers, which a reload applies.
func (c *Config) RestartNeeded(next *Config) []string {
	var out []string
	add := func(name string, equal bool) {
		if !equal {
			out = append(out, name)
		}
	}
	add("listen", c.Listen == next.Listen)
	// A public_url that follows listen changes with it; listen names the change.
	derived := c.PublicURL == defaultPublicURL(c.Listen) && next.PublicURL == defaultPublicURL(next.Listen)
	add("public_url", derived || c.PublicURL == next.PublicURL)
	add("store", c.Store == next.Store)
	add("policy_file", c.PolicyFile == next.PolicyFile)
	add("sandbox", c.Sandbox == next.Sandbox)
	add("events", c.Events == next.Events)
	add("relay", c.Relay == next.Relay)
	add("log", c.Log == next.Log)
	add("shutdown_timeout", c.ShutdownTimeout == next.ShutdownTimeout)
	add("retention", c.Retention == next.Retention)
	return out
}

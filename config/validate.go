package config

import (
	"time"

	"cmp"
	"fmt"
	"maps"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/nyaruka/phonenumbers"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/egress"
	"github.com/omnigate/omnigate/yamlfile"
)

// Problem is one thing wrong with a configuration: where (a path such as
// "queues[0].addresses.sms" and, when known, its line) and what to do about it.
type Problem = yamlfile.Problem

// ValidationError lists every problem found in a configuration. Its messages never
// contain secret values.
type ValidationError struct {
	// File names the configuration in messages; "omnigate.yaml" when empty.
	File     string
	Problems []Problem
}

// Error returns one "omnigate.yaml:12: queues[0].addresses.sms: ..." line per problem.
func (e *ValidationError) Error() string {
	file := cmp.Or(e.File, "omnigate.yaml")
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.Format(file)
	}
	return strings.Join(lines, "\n")
}

// sortProblems orders problems by line, as an operator reads the file; problems without
// a line keep their order, last.
func sortProblems(ps []Problem) {
	slices.SortStableFunc(ps, func(a, b Problem) int {
		switch {
		case a.Line == b.Line:
			return 0
		case a.Line == 0:
			return 1
		case b.Line == 0:
			return -1
		}
		return a.Line - b.Line
	})
}

// Validate checks the whole configuration and returns a *ValidationError listing every
// problem, or nil. It expects defaults to be applied (Parse and Load do).
func (c *Config) Validate() error {
	v := &validator{c: c}
	v.server()
	queues := v.queues()
	v.principals(queues)
	v.events()
	v.providers()
	v.log()
	v.relay()
	v.retention()
	v.templates()
	if len(v.problems) == 0 {
		return nil
	}
	sortProblems(v.problems)
	return &ValidationError{Problems: v.problems}
}

type validator struct {
	c        *Config
	problems []Problem
}

// add records a problem at path, with the line of path or of its nearest written parent.
func (v *validator) add(path, format string, args ...any) {
	line := 0
	for p := path; p != ""; p = parentPath(p) {
		if l, ok := v.c.lines[p]; ok {
			line = l
			break
		}
	}
	v.problems = append(v.problems, Problem{Path: path, Line: line, Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) server() {
	c := v.c
	if host, port, err := net.SplitHostPort(c.Listen); err != nil {
		v.add("listen", "must be host:port such as \":8080\" or \"127.0.0.1:8080\", got %q", c.Listen)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		v.add("listen", "port must be a number from 0 to 65535, got %q", port)
	} else if strings.ContainsAny(host, " /") {
		v.add("listen", "host %q is not a host name or IP address", host)
	}
	if c.PublicURL != "" || v.written("public_url") {
		if msg := checkURL(c.PublicURL); msg != "" {
			v.add("public_url", "%s", msg)
		} else if u, _ := url.Parse(c.PublicURL); u.RawQuery != "" || u.Fragment != "" {
			v.add("public_url", "must not have a query or fragment: webhook paths are appended to it")
		}
	}
	v.store()
	if !phonenumbers.GetSupportedRegions()[c.DefaultCountry] {
		if phonenumbers.GetSupportedRegions()[strings.ToUpper(c.DefaultCountry)] {
			v.add("default_country", "write the region in capitals: %q", strings.ToUpper(c.DefaultCountry))
		} else {
			v.add("default_country", "%q is not an ISO 3166 alpha-2 region with phone numbers (such as US, GB, DE)", c.DefaultCountry)
		}
	}
	if c.ShutdownTimeout <= 0 {
		v.add("shutdown_timeout", "must be greater than 0")
	}
}

func (v *validator) written(path string) bool {
	_, ok := v.c.lines[path]
	return ok
}

// store checks the store URL. Messages never echo it: a postgres URL may hold a password.
func (v *validator) store() {
	s := v.c.Store
	if p, _, ok := splitSQLite(s); ok {
		if p == "" {
			v.add("store", "sqlite:// needs a file path, such as sqlite://./omnigate.db")
		}
		return
	}
	scheme, _, _ := strings.Cut(s, "://")
	if scheme != "postgres" && scheme != "postgresql" {
		v.add("store", "must start with sqlite:// or postgres:// (or postgresql://)")
		return
	}
	if _, err := url.Parse(s); err != nil {
		v.add("store", "is not a valid postgres URL (such as postgres://user@host:5432/db)")
	}
}

// checkURL returns what is wrong with an absolute http(s) URL, or "".
func checkURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return "must be an absolute URL such as https://host/path"
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "must be an http:// or https:// URL"
	}
	return ""
}

var (
	idPattern     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]*$`)
	digits        = regexp.MustCompile(`^[0-9]+$`)
	alnum         = regexp.MustCompile(`^[A-Za-z0-9]+$`)
	hex64         = regexp.MustCompile(`^[0-9a-f]{64}$`)
	contentSID    = regexp.MustCompile(`^HX[0-9a-fA-F]{32}$`)
	apiVersion    = regexp.MustCompile(`^v[0-9]+\.[0-9]+$`)
	idRule        = "may hold letters, digits, '.', '_', ':' and '-', starting with a letter or digit"
	knownPermList = []string{omnigate.PermSend, omnigate.PermQueues, omnigate.PermAssign, omnigate.PermAdmin}
)

// uniqueID checks one queue or principal id and records it in seen.
func (v *validator) uniqueID(path, kind, id string, seen map[string]bool) {
	switch {
	case id == "":
		v.add(path, "is required")
	case !idPattern.MatchString(id):
		v.add(path, "%q: a %s id %s", id, kind, idRule)
	case seen[id]:
		v.add(path, "duplicate %s id %q", kind, id)
	default:
		seen[id] = true
	}
}

// queues checks queues and returns the valid ids.
func (v *validator) queues() map[string]bool {
	ids := map[string]bool{}
	// owner maps "channel address" to the queue that already sends from it: inbound
	// messages to an address must thread into exactly one queue.
	owner := map[string]string{}
	for i, q := range v.c.Queues {
		p := fmt.Sprintf("queues[%d]", i)
		v.uniqueID(p+".id", "queue", q.ID, ids)
		for _, ch := range slices.Sorted(maps.Keys(q.Addresses)) {
			addr := q.Addresses[ch]
			ap := keyPath(p+".addresses", ch)
			if !omnigate.Channel(ch).Valid() {
				v.add(ap, "unknown channel %q (channels: sms, whatsapp, messenger, instagram, x, open)", ch)
				continue
			}
			if msg := checkAddress(omnigate.Channel(ch), addr); msg != "" {
				v.add(ap, "%s", msg)
				continue
			}
			key := ch + " " + addr
			if other, dup := owner[key]; dup && other != q.ID {
				v.add(ap, "%s is already the %s address of queue %q; inbound messages to it would have two queues", addr, ch, other)
				continue
			}
			owner[key] = q.ID
		}
	}
	return ids
}

// checkAddress returns what is wrong with a queue's address on ch, or "".
func checkAddress(ch omnigate.Channel, addr string) string {
	switch {
	case addr == "":
		return "address is empty"
	case ch.UsesPhoneNumbers():
		return checkE164(addr)
	case ch == omnigate.Messenger:
		if !digits.MatchString(addr) {
			return fmt.Sprintf("%q is not a Facebook page id (digits only)", addr)
		}
	case ch == omnigate.Instagram:
		if !digits.MatchString(addr) {
			return fmt.Sprintf("%q is not an Instagram account id (digits only)", addr)
		}
	case ch == omnigate.X:
		if !digits.MatchString(addr) {
			return fmt.Sprintf("%q is not an X user id (digits only)", addr)
		}
	case ch == omnigate.Open:
		if !idPattern.MatchString(addr) {
			return fmt.Sprintf("%q: an open-messaging integration id %s", addr, idRule)
		}
	}
	return ""
}

// checkE164 accepts only canonical E.164 ("+15550001111"): the address is compared
// byte for byte with what carriers send, so "+1 555 000 1111" would never match.
// Possible (not "valid") numbers are accepted so that 555 test numbers work.
func checkE164(addr string) string {
	if !strings.HasPrefix(addr, "+") {
		return fmt.Sprintf("%q must be an E.164 number starting with + and the country code, such as +15550001111", addr)
	}
	num, err := phonenumbers.Parse(addr, "")
	if err != nil || !phonenumbers.IsPossibleNumber(num) {
		return fmt.Sprintf("%q is not a possible E.164 phone number", addr)
	}
	if e164 := phonenumbers.Format(num, phonenumbers.E164); e164 != addr {
		return fmt.Sprintf("%q must be written in E.164 form: %q", addr, e164)
	}
	return ""
}

func (v *validator) principals(queues map[string]bool) {
	ids := map[string]bool{}
	keys := map[string]string{}
	for i, pr := range v.c.Principals {
		p := fmt.Sprintf("principals[%d]", i)
		v.uniqueID(p+".id", "principal", pr.ID, ids)
		// The hash is not a secret, but an operator may paste the key by mistake: never echo it.
		switch {
		case pr.KeySHA256 == "":
			v.add(p+".key_sha256", "is required: the hex SHA-256 of the API key (printf %%s KEY | sha256sum)")
		case !hex64.MatchString(pr.KeySHA256):
			v.add(p+".key_sha256", "must be 64 hex digits, the SHA-256 of the API key, never the key itself")
		case keys[pr.KeySHA256] != "":
			v.add(p+".key_sha256", "is the same key as principal %q: one key must name one principal", keys[pr.KeySHA256])
		default:
			keys[pr.KeySHA256] = cmp.Or(pr.ID, p)
		}
		for j, perm := range pr.Permissions {
			if !slices.Contains(knownPermList, perm) {
				v.add(fmt.Sprintf("%s.permissions[%d]", p, j), "unknown permission %q (permissions: %s)", perm, strings.Join(knownPermList, ", "))
			}
		}
		all := false
		for j, q := range pr.Queues {
			switch {
			case q == "*":
				all = true
			case !queues[q]:
				v.add(fmt.Sprintf("%s.queues[%d]", p, j), "no queue has id %q", q)
			}
		}
		if dq := pr.DefaultQueue; dq != "" {
			switch {
			case !queues[dq]:
				v.add(p+".default_queue", "no queue has id %q", dq)
			case !all && !slices.Contains(pr.Queues, dq):
				v.add(p+".default_queue", "%q is not one of this principal's queues", dq)
			}
		}
	}
}

func (v *validator) events() {
	e := v.c.Events
	if e.Batch < 1 || e.Batch > MaxEventsBatch {
		v.add("events.batch", "must be from 1 (each event posted alone) to %d, got %d", MaxEventsBatch, e.Batch)
	}
	if e.URL == "" {
		if v.written("events.url") {
			v.add("events.url", "is empty; leave it out to disable events")
		}
		return
	}
	if strings.HasPrefix(e.URL, "/") {
		// A path on omnigate's own listener: the sandbox's platform.
		if !v.c.Sandbox {
			v.add("events.url", "is a path, which names the sandbox's platform on omnigate's own listener; "+
				"without sandbox: true give an absolute URL such as https://host/path")
		}
	} else if msg := checkURL(e.URL); msg != "" {
		v.add("events.url", "%s", msg)
	} else {
		v.destination("events.url", e.URL)
	}
	if e.Secret == "" {
		v.add("events.secret", "is required when events.url is set: it signs every event")
	}
}

// carrier names the provider block that carries each channel, given whatsapp_provider.
func (c *Config) carrier(ch omnigate.Channel) string {
	switch ch {
	case omnigate.SMS:
		return "twilio"
	case omnigate.WhatsApp:
		return c.Providers.WhatsAppProvider
	case omnigate.Messenger, omnigate.Instagram:
		return "meta"
	}
	return string(ch) // x, open
}

func (c *Config) hasProvider(name string) bool {
	switch name {
	case "twilio":
		return c.Providers.Twilio != nil
	case "meta":
		return c.Providers.Meta != nil
	case "x":
		return c.Providers.X != nil
	case "open":
		return c.Providers.Open != nil
	}
	return false
}

// realProviders names the provider blocks present, in a fixed order.
func (c *Config) realProviders() []string {
	var out []string
	for _, name := range []string{"twilio", "meta", "x", "open"} {
		if c.hasProvider(name) {
			out = append(out, "providers."+name)
		}
	}
	return out
}

func (v *validator) providers() {
	c := v.c
	pr := c.Providers
	if real := c.realProviders(); c.Sandbox && len(real) > 0 && !c.SandboxWithProviders {
		v.add("sandbox", "is true beside %s: the channels without a provider would use sandbox carriers "+
			"whose webhook secrets are published, so anyone could forge their webhooks. Add the missing "+
			"provider blocks and remove sandbox, or set sandbox_with_providers: true to accept that",
			strings.Join(real, ", "))
	}
	if wp := pr.WhatsAppProvider; wp != "twilio" && wp != "meta" {
		v.add("providers.whatsapp_provider", "must be twilio or meta, got %q", wp)
	}
	if t := pr.Twilio; t != nil {
		v.required("providers.twilio.account_sid", t.AccountSID)
		v.required("providers.twilio.auth_token", t.AuthToken)
		// twilio-go refuses to send (error 21222 or 21224) when either has anything but
		// letters and digits, typically a newline or quote left by a secret store.
		if t.AccountSID != "" && !alnum.MatchString(t.AccountSID) {
			v.add("providers.twilio.account_sid", "must be letters and digits only (AC and 32 hex digits); twilio-go refuses anything else")
		} else if t.AccountSID != "" && !strings.HasPrefix(t.AccountSID, "AC") {
			v.add("providers.twilio.account_sid", "must be an Account SID, starting with AC")
		}
		if t.AuthToken != "" && !alnum.MatchString(t.AuthToken) {
			v.add("providers.twilio.auth_token", "must be letters and digits only; twilio-go refuses anything else (look for a stray newline, space or quote)")
		}
		v.url("providers.twilio.base_url", t.BaseURL)
		for _, k := range slices.Sorted(maps.Keys(t.ContentSIDs)) {
			p := keyPath("providers.twilio.content_sids", k)
			if name, lang, ok := strings.Cut(k, "/"); !ok || name == "" || lang == "" {
				v.add(p, "key must be template_name/language, such as order_update/en_US")
			}
			if !contentSID.MatchString(t.ContentSIDs[k]) {
				v.add(p, "must be a Twilio Content SID: HX and 32 hex digits")
			}
		}
	}
	if m := pr.Meta; m != nil {
		v.required("providers.meta.app_secret", m.AppSecret)
		v.url("providers.meta.graph_url", m.GraphURL)
		if !apiVersion.MatchString(m.APIVersion) {
			v.add("providers.meta.api_version", "must look like v23.0, got %q", m.APIVersion)
		}
		for _, k := range slices.Sorted(maps.Keys(m.PageTokens)) {
			p := keyPath("providers.meta.page_tokens", k)
			if !digits.MatchString(k) {
				v.add(p, "key must be a page or Instagram account id (digits only)")
			}
			v.required(p, m.PageTokens[k])
			v.headerToken(p, m.PageTokens[k])
		}
		v.numberIDs("providers.meta.whatsapp_phone_number_ids", m.WhatsAppPhoneNumberIDs, "a WhatsApp Cloud API phone number id")
	}
	if m := pr.Meta; m != nil {
		v.headerToken("providers.meta.whatsapp_token", m.WhatsAppToken)
	}
	if x := pr.X; x != nil {
		v.required("providers.x.consumer_secret", x.ConsumerSecret)
		v.url("providers.x.base_url", x.BaseURL)
		for _, k := range slices.Sorted(maps.Keys(x.BearerTokens)) {
			p := keyPath("providers.x.bearer_tokens", k)
			if !digits.MatchString(k) {
				v.add(p, "key must be an X user id (digits only)")
			}
			v.required(p, x.BearerTokens[k])
			v.headerToken(p, x.BearerTokens[k])
		}
	}
	if o := pr.Open; o != nil {
		for _, k := range slices.Sorted(maps.Keys(o.Integrations)) {
			p := keyPath("providers.open.integrations", k)
			if !idPattern.MatchString(k) {
				v.add(p, "an integration id %s", idRule)
			}
			if v.url(p+".outbound_url", o.Integrations[k].OutboundURL) {
				v.destination(p+".outbound_url", o.Integrations[k].OutboundURL)
			}
			v.required(p+".secret", o.Integrations[k].Secret)
		}
	}
	v.carriers()
}

// carriers checks that every queue address can be sent from: by a provider that holds
// the credential for that address, or by the sandbox.
func (v *validator) carriers() {
	c := v.c
	reported := map[omnigate.Channel]bool{}
	for i, q := range c.Queues {
		for _, name := range slices.Sorted(maps.Keys(q.Addresses)) {
			ch, addr := omnigate.Channel(name), q.Addresses[name]
			if !ch.Valid() {
				continue
			}
			p := keyPath(fmt.Sprintf("queues[%d].addresses", i), name)
			provider := c.carrier(ch)
			if !c.hasProvider(provider) {
				if !c.Sandbox && !reported[ch] {
					reported[ch] = true
					hint := "add providers." + provider
					if ch == omnigate.WhatsApp {
						hint += " (whatsapp_provider is " + provider + ")"
					}
					// The sandbox is only a fix for a configuration without real carriers:
					// beside them it would publish the missing channels' webhook secrets.
					if len(c.realProviders()) == 0 {
						hint += ", or set sandbox: true"
					}
					v.add(p, "no carrier for channel %s: %s", ch, hint)
				}
				continue
			}
			pr := c.Providers
			switch {
			// Instagram is not checked: it sends with the token of its linked page, whose
			// id the configuration does not know.
			case ch == omnigate.Messenger && pr.Meta.PageTokens[addr] == "":
				v.add(p, "providers.meta.page_tokens has no token for %s", addr)
			case ch == omnigate.WhatsApp && provider == "meta" && pr.Meta.WhatsAppPhoneNumberIDs[addr] == "":
				v.add(p, "providers.meta.whatsapp_phone_number_ids has no id for %s", addr)
			case ch == omnigate.WhatsApp && provider == "meta" && pr.Meta.WhatsAppToken == "" && !reported[ch]:
				reported[ch] = true
				v.add("providers.meta.whatsapp_token", "is required: whatsapp_provider is meta and queue %q has a whatsapp address", q.ID)
			case ch == omnigate.X && pr.X.BearerTokens[addr] == "":
				v.add(p, "providers.x.bearer_tokens has no token for %s", addr)
			case ch == omnigate.Open:
				if _, ok := pr.Open.Integrations[addr]; !ok {
					v.add(p, "providers.open.integrations has no integration %q", addr)
				}
			}
		}
	}
}

// headerToken reports a token that cannot go in an "Authorization: Bearer" header as
// one word: Go's HTTP client refuses control characters, and a space or quote means a
// value pasted wrong. It names only the path: the value is a secret.
func (v *validator) headerToken(path, value string) {
	for i := 0; i < len(value); i++ {
		if c := value[i]; c <= ' ' || c >= 0x7f || c == '"' {
			v.add(path, "must be printable ASCII without spaces or quotes, as an Authorization header needs (look for a stray newline)")
			return
		}
	}
}

// required reports an empty value. It names only the path: the value may be a secret.
func (v *validator) required(path, value string) {
	if value == "" {
		v.add(path, "is required")
	}
}

// url reports a value that is not an absolute http(s) URL, and whether it is one.
func (v *validator) url(path, value string) bool {
	if msg := checkURL(value); msg != "" {
		v.add(path, "%s", msg)
		return false
	}
	return true
}

// destination reports an outbound URL that points at a loopback, private or link-local
// address while allow_private_destinations (or the sandbox) is off.
func (v *validator) destination(path, value string) {
	if v.c.PrivateDestinationsAllowed() {
		return
	}
	if err := egress.CheckURL(value); err != nil {
		v.add(path, "points at a loopback, private or link-local address; set allow_private_destinations: true if omnigate should reach it")
	}
}

func (v *validator) log() {
	if f := v.c.Log.Format; f != "json" && f != "text" {
		v.add("log.format", "must be json or text, got %q", f)
	}
	switch l := v.c.Log.Level; l {
	case "debug", "info", "warn", "error":
	default:
		v.add("log.level", "must be debug, info, warn or error, got %q", l)
	}
}

func (v *validator) relay() {
	r := v.c.Relay
	positive := func(path string, n int64) {
		if n <= 0 {
			v.add(path, "must be greater than 0")
		}
	}
	positive("relay.workers", int64(r.Workers))
	positive("relay.max_attempts", int64(r.MaxAttempts))
	positive("relay.lease", int64(r.Lease))
	positive("relay.batch_size", int64(r.BatchSize))
	positive("relay.initial_backoff", int64(r.InitialBackoff))
	positive("relay.max_backoff", int64(r.MaxBackoff))
	positive("relay.attempt_timeout", int64(r.AttemptTimeout))
	if r.Lease > 0 && r.AttemptTimeout > r.Lease/2 {
		v.add("relay.attempt_timeout", "must be at most half of relay.lease (%s), so that an attempt always ends before its lease could", r.Lease)
	}
	if r.InstanceTimeout < Duration(time.Second) {
		v.add("relay.instance_timeout", "must be at least 1s: instances heartbeat several times within it")
	}
	if r.InitialBackoff > 0 && r.MaxBackoff > 0 && r.MaxBackoff < r.InitialBackoff {
		v.add("relay.max_backoff", "must not be shorter than relay.initial_backoff (%s)", r.InitialBackoff)
	}
}

// templates checks the WhatsApp Business Account of each number whose templates are
// synced.
func (v *validator) templates() {
	if m := v.c.Providers.Meta; m != nil {
		v.numberIDs("providers.meta.whatsapp_business_account_ids", m.WhatsAppBusinessAccountIDs, "a WhatsApp Business Account id")
	}
}

// numberIDs checks a map from our E.164 numbers to a carrier's numeric ids (what).
func (v *validator) numberIDs(path string, ids map[string]string, what string) {
	for _, k := range slices.Sorted(maps.Keys(ids)) {
		p := keyPath(path, k)
		if msg := checkE164(k); msg != "" {
			v.add(p, "key %s", msg)
		}
		if !digits.MatchString(ids[k]) {
			v.add(p, "must be %s (digits only)", what)
		}
	}
}

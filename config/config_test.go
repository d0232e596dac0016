package config

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/omnigate/omnigate"
)

// testEnv is the environment the testdata files expect. Its values are distinctive so
// that a test can prove none of them leaks into an error or into Redacted.
var testEnv = map[string]string{
	"PG_PASSWORD":            "pg-secret-value",
	"OMNIGATE_EVENTS_SECRET": "events-secret-value",
	"TWILIO_AUTH_TOKEN":      "twilioSecretValue0123",
	"META_APP_SECRET":        "meta-app-secret-value",
	"META_VERIFY_TOKEN":      "meta-verify-secret-value",
	"META_PAGE_TOKEN":        "meta-page-secret-value",
	"WA_TOKEN":               "wa-secret-value",
	"X_CONSUMER_SECRET":      "x-consumer-secret-value",
	"X_USER_TOKEN":           "x-user-secret-value",
	"OPEN_SECRET":            "open-secret-value",
	"RELAY_WORKERS":          "12",
}

func lookupIn(env map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	}
}

func parseFile(t *testing.T, name string, env map[string]string) (*Config, error) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return parse(data, "/etc/omnigate", lookupIn(env))
}

func TestParseGood(t *testing.T) {
	t.Parallel()
	c, err := parseFile(t, "good.yaml", testEnv)
	if err != nil {
		t.Fatalf("good.yaml: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"public_url trailing slash trimmed", c.PublicURL, "https://omnigate.example.com"},
		{"postgres store kept, env expanded", c.Store, "postgres://omnigate:pg-secret-value@db.example.com:5432/omnigate"},
		{"policy_file resolved", c.PolicyFile, "/etc/omnigate/policy.yaml"},
		{"key hash lowercased", c.Principals[0].KeySHA256, "ef5f3934d98ff49d3e399f60826aa8e72e9126b09b957e12f6f5725436197e4d"},
		{"queue name defaults to id", c.Queues[1].Name, "billing"},
		{"twilio base_url default", c.Providers.Twilio.BaseURL, DefaultTwilioBaseURL},
		{"meta api_version default", c.Providers.Meta.APIVersion, "v23.0"},
		{"x base_url kept", c.Providers.X.BaseURL, "http://127.0.0.1:9999"},
		{"secret from env", c.Events.Secret, "events-secret-value"},
		{"number from env, though quoted", c.Relay.Workers, 12},
		{"max_attempts default", c.Relay.MaxAttempts, 10},
		{"lease", c.Relay.Lease.Std(), time.Minute},
		{"days", c.Relay.MaxBackoff.Std(), 24 * time.Hour},
		{"shutdown_timeout", c.ShutdownTimeout.Std(), 30 * time.Second},
		{"log", c.Log, Log{Format: "json", Level: "debug"}},
		{"dir", c.Dir, "/etc/omnigate"},
	}
	for _, ch := range checks {
		if diff := cmp.Diff(ch.want, ch.got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", ch.name, diff)
		}
	}
}

func TestParseDefaults(t *testing.T) {
	t.Parallel()
	c, err := parse([]byte("listen: \"0.0.0.0:9000\"\n"), "/srv", lookupIn(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Listen:         "0.0.0.0:9000",
		PublicURL:      "http://127.0.0.1:9000",
		Store:          "sqlite:///srv/omnigate.db",
		DefaultCountry: "US",
		Events:         Events{Batch: 1},
		Providers:      Providers{WhatsAppProvider: "twilio"},
		Log:            Log{Format: "text", Level: "info"},
		Relay: Relay{Workers: 8, MaxAttempts: 10, Lease: Duration(30 * time.Second), BatchSize: 128,
			AttemptTimeout: Duration(10 * time.Second), InstanceTimeout: Duration(5 * time.Second),
			InitialBackoff: Duration(time.Second), MaxBackoff: Duration(10 * time.Minute)},
		ShutdownTimeout: Duration(10 * time.Second),
		Dir:             "/srv",
	}
	if diff := cmp.Diff(want, c, cmp.AllowUnexported(Config{}), cmp.FilterPath(func(p cmp.Path) bool {
		return p.Last().String() == ".lines"
	}, cmp.Ignore())); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
}

// TestProblems pins the exact messages, lines included: they are the operator's
// interface to a broken file.
func TestProblems(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file string
		env  map[string]string
		want []string
	}{{
		file: "unknown_keys.yaml",
		want: []string{
			`omnigate.yaml:2: listne: unknown key "listne" (known keys: listen, public_url, store, policy_file, default_country, queues, principals, events, providers, sandbox, sandbox_with_providers, allow_private_destinations, log, relay, shutdown_timeout, retention)`,
			`omnigate.yaml:5: queues[0].adresses: unknown key "adresses" (known keys: id, name, addresses)`,
			`omnigate.yaml:9: principals[0].role: unknown key "role" (known keys: id, key_sha256, permissions, queues, default_queue)`,
			`omnigate.yaml:12: providers.twilio.baseurl: unknown key "baseurl" (known keys: account_sid, auth_token, base_url, content_sids)`,
		},
	}, {
		file: "many_problems.yaml",
		want: []string{
			`omnigate.yaml:1: listen: must be host:port such as ":8080" or "127.0.0.1:8080", got "8080"`,
			`omnigate.yaml:2: public_url: must be an absolute URL such as https://host/path`,
			`omnigate.yaml:3: store: must start with sqlite:// or postgres:// (or postgresql://)`,
			`omnigate.yaml:4: default_country: "XX" is not an ISO 3166 alpha-2 region with phone numbers (such as US, GB, DE)`,
			`omnigate.yaml:7: queues[0].addresses.fax: unknown channel "fax" (channels: sms, whatsapp, messenger, instagram, x, open)`,
			`omnigate.yaml:8: queues[1].id: duplicate queue id "support"`,
			`omnigate.yaml:9: queues[1].addresses.open: "web widget": an open-messaging integration id may hold letters, digits, '.', '_', ':' and '-', starting with a letter or digit`,
			`omnigate.yaml:10: queues[2].id: is required`,
			`omnigate.yaml:13: principals[0].key_sha256: must be 64 hex digits, the SHA-256 of the API key, never the key itself`,
			`omnigate.yaml:14: principals[0].permissions[1]: unknown permission "conversation:delete" (permissions: conversation:message:create, routing:queue:view, routing:conversation:assign, admin)`,
			`omnigate.yaml:15: principals[0].queues[1]: no queue has id "sales"`,
			`omnigate.yaml:16: principals[0].default_queue: no queue has id "sales"`,
			`omnigate.yaml:17: principals[1].id: duplicate principal id "ann"`,
			`omnigate.yaml:18: principals[1].key_sha256: is required: the hex SHA-256 of the API key (printf %s KEY | sha256sum)`,
			`omnigate.yaml:19: events.secret: is required when events.url is set: it signs every event`,
			`omnigate.yaml:20: events.url: must be an http:// or https:// URL`,
			`omnigate.yaml:21: log.format: must be json or text, got "xml"`,
			`omnigate.yaml:21: log.level: must be debug, info, warn or error, got "verbose"`,
			`omnigate.yaml:22: relay.max_attempts: must be a whole number`,
			`omnigate.yaml:22: relay.workers: must be greater than 0`,
			`omnigate.yaml:22: relay.batch_size: must be greater than 0`,
			`omnigate.yaml:22: relay.attempt_timeout: must be at most half of relay.lease (10s), so that an attempt always ends before its lease could`,
			`omnigate.yaml:22: relay.instance_timeout: must be at least 1s: instances heartbeat several times within it`,
			`omnigate.yaml:22: relay.max_backoff: must not be shorter than relay.initial_backoff (1m0s)`,
			`omnigate.yaml:23: shutdown_timeout: must be a duration such as 90s, 15m, 24h or 7d`,
		},
	}, {
		file: "unset_env.yaml",
		env:  map[string]string{},
		want: []string{
			`omnigate.yaml:5: queues[0].addresses.sms: environment variable SUPPORT_SMS is not set`,
			`omnigate.yaml:8: events.secret: environment variable EVENTS_SECRET is not set`,
			`omnigate.yaml:12: providers.twilio.auth_token: environment variable TWILIO_AUTH_TOKEN is not set`,
		},
	}, {
		file: "bad_e164.yaml",
		want: []string{
			`omnigate.yaml:5: queues[0].addresses.sms: "15550001111" must be an E.164 number starting with + and the country code, such as +15550001111`,
			`omnigate.yaml:6: queues[0].addresses.whatsapp: "+1 555 000 2222" must be written in E.164 form: "+15550002222"`,
			`omnigate.yaml:9: queues[1].addresses.sms: "+1" is not a possible E.164 phone number`,
		},
	}, {
		file: "duplicate_queue.yaml",
		want: []string{
			`omnigate.yaml:7: queues[2].id: duplicate queue id "support"`,
		},
	}, {
		file: "shared_address.yaml",
		want: []string{
			`omnigate.yaml:6: queues[1].addresses.sms: +15550001111 is already the sms address of queue "support"; inbound messages to it would have two queues`,
		},
	}, {
		file: "default_queue.yaml",
		want: []string{
			`omnigate.yaml:10: principals[0].default_queue: "billing" is not one of this principal's queues`,
			`omnigate.yaml:15: principals[1].default_queue: no queue has id "vip"`,
		},
	}, {
		file: "no_carrier.yaml",
		want: []string{
			`omnigate.yaml:4: queues[0].addresses.open: no carrier for channel open: add providers.open`,
			`omnigate.yaml:4: queues[0].addresses.whatsapp: providers.meta.whatsapp_phone_number_ids has no id for +15550002222`,
			`omnigate.yaml:6: queues[1].addresses.messenger: providers.meta.page_tokens has no token for 104599999999`,
			`omnigate.yaml:8: providers.twilio.auth_token: must be letters and digits only; twilio-go refuses anything else (look for a stray newline, space or quote)`,
		},
	}, {
		file: "no_provider_sms.yaml",
		want: []string{
			`omnigate.yaml:4: queues[0].addresses.sms: no carrier for channel sms: add providers.twilio`,
			`omnigate.yaml:4: queues[0].addresses.whatsapp: no carrier for channel whatsapp: add providers.twilio (whatsapp_provider is twilio)`,
			`omnigate.yaml:6: providers.meta.app_secret: is required`,
		},
	}, {
		file: "sandbox_beside_providers.yaml",
		want: []string{
			`omnigate.yaml:2: sandbox: is true beside providers.twilio: the channels without a provider would use sandbox carriers whose webhook secrets are published, so anyone could forge their webhooks. Add the missing provider blocks and remove sandbox, or set sandbox_with_providers: true to accept that`,
		},
	}, {
		// Credentials each carrier's client would refuse at every send.
		file: "bad_credentials.yaml",
		env:  map[string]string{"TWILIO_AUTH_TOKEN": "0123456789abcdef0123456789abcdef\n", "X_TOKEN": "x-token\"", "PAGE_TOKEN": "EAAB page"},
		want: []string{
			`omnigate.yaml:8: providers.twilio.account_sid: must be an Account SID, starting with AC`,
			`omnigate.yaml:9: providers.twilio.auth_token: must be letters and digits only; twilio-go refuses anything else (look for a stray newline, space or quote)`,
			`omnigate.yaml:11: providers.meta.page_tokens.104512345678: must be printable ASCII without spaces or quotes, as an Authorization header needs (look for a stray newline)`,
			`omnigate.yaml:12: providers.meta.whatsapp_token: must be printable ASCII without spaces or quotes, as an Authorization header needs (look for a stray newline)`,
			`omnigate.yaml:14: providers.x.bearer_tokens.1234567890: must be printable ASCII without spaces or quotes, as an Authorization header needs (look for a stray newline)`,
		},
	}, {
		file: "private_destinations.yaml",
		want: []string{
			`omnigate.yaml:5: events.url: points at a loopback, private or link-local address; set allow_private_destinations: true if omnigate should reach it`,
			`omnigate.yaml:9: providers.open.integrations.web-widget.outbound_url: points at a loopback, private or link-local address; set allow_private_destinations: true if omnigate should reach it`,
		},
	}, {
		file: "types.yaml",
		want: []string{
			`omnigate.yaml:1: sandbox: must be true or false`,
			`omnigate.yaml:2: queues: must be a list`,
			`omnigate.yaml:3: listen: must be a single value, not a list or mapping`,
			`omnigate.yaml:5: relay.lease: must be a duration such as 90s, 15m, 24h or 7d`,
			`omnigate.yaml:6: relay.workers: must be a whole number`,
			`omnigate.yaml:7: relay.workers: duplicate key "workers" (first at line 6)`,
			`omnigate.yaml:8: events.secret: must be a single value, not a list or mapping`,
		},
	}, {
		file: "syntax.yaml",
		want: []string{
			`omnigate.yaml:2: invalid YAML: did not find expected '-' indicator`,
		},
	}}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			env := tt.env
			if env == nil {
				env = testEnv
			}
			c, err := parseFile(t, tt.file, env)
			if c != nil {
				t.Errorf("config returned with an error")
			}
			ve, ok := errors.AsType[*ValidationError](err)
			if !ok {
				t.Fatalf("error %v (%T), want *ValidationError", err, err)
			}
			if diff := cmp.Diff(tt.want, strings.Split(ve.Error(), "\n")); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

// TestNoSecretInErrors breaks files whose secrets are present and checks that no
// secret value appears in any message.
func TestNoSecretInErrors(t *testing.T) {
	t.Parallel()
	for _, file := range []string{"no_carrier.yaml", "types.yaml", "no_provider_sms.yaml", "bad_credentials.yaml"} {
		_, err := parseFile(t, file, testEnv)
		if err == nil {
			t.Fatalf("%s: no error", file)
		}
		for _, secret := range []string{"secret-twilio-token", "secret-meta-app", "secret-page-token", "secret-value", "wa token", "SKabc"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("%s: error leaks %q:\n%v", file, secret, err)
			}
		}
	}
}

func TestRedactedHasNoSecret(t *testing.T) {
	t.Parallel()
	c, err := parseFile(t, "good.yaml", testEnv)
	if err != nil {
		t.Fatal(err)
	}
	out := c.Redacted()
	for name, v := range testEnv {
		if strings.Contains(v, "secret") && strings.Contains(out, v) {
			t.Errorf("Redacted shows $%s:\n%s", name, out)
		}
	}
	for _, want := range []string{"auth_token: '[redacted]'", `"104512345678": '[redacted]'`, "account_sid: AC00000000000000000000000000000000"} {
		if !strings.Contains(out, want) {
			t.Errorf("Redacted lacks %q:\n%s", want, out)
		}
	}
	if c.Providers.Twilio.AuthToken != "twilioSecretValue0123" || c.Providers.Meta.PageTokens["104512345678"] != "meta-page-secret-value" {
		t.Error("Redacted modified the config it renders")
	}
}

func TestEnvCannotInjectStructure(t *testing.T) {
	t.Parallel()
	c, err := parseFile(t, "injection.yaml", map[string]string{"QUEUE_NAME": "x\n  sandbox: false\nqueues: []"})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Queues) != 1 || c.Queues[0].Name != "x\n  sandbox: false\nqueues: []" || !c.Sandbox {
		t.Errorf("variable changed the document: %+v", c)
	}
}

func TestExpand(t *testing.T) {
	t.Parallel()
	env := lookupIn(map[string]string{"A": "1", "EMPTY": "", "NESTED": "${A}"})
	tests := []struct {
		in, want string
		missing  []string
		err      bool
	}{
		{in: "plain $ and $A", want: "plain $ and $A"},
		{in: "${A}-${A}", want: "1-1"},
		{in: "x${EMPTY}y", want: "xy"},
		{in: "${NESTED}", want: "${A}"}, // a value is never expanded again
		{in: "$${A}", want: "${A}"},
		{in: "${B}${C}${B}", missing: []string{"B", "C"}},
		{in: "${A", err: true},
		{in: "${1A}", err: true},
	}
	for _, tt := range tests {
		got, missing, err := expand(tt.in, env)
		if (err != nil) != tt.err {
			t.Errorf("expand(%q) error = %v, want error %v", tt.in, err, tt.err)
			continue
		}
		if tt.err {
			continue
		}
		if len(tt.missing) == 0 && got != tt.want {
			t.Errorf("expand(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if diff := cmp.Diff(tt.missing, missing); diff != "" {
			t.Errorf("expand(%q) missing (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestParseDuration(t *testing.T) {
	t.Parallel()
	good := map[string]time.Duration{
		"90s": 90 * time.Second, "15m": 15 * time.Minute, "24h": 24 * time.Hour,
		"7d": 7 * 24 * time.Hour, "0": 0, "1h30m": 90 * time.Minute, "500ms": 500 * time.Millisecond,
	}
	for in, want := range good {
		got, err := ParseDuration(in)
		if err != nil || got.Std() != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
		if back, err := ParseDuration(got.String()); err != nil || back != got {
			t.Errorf("ParseDuration(%q.String() = %q) = %v, %v", in, got.String(), back, err)
		}
	}
	for _, in := range []string{"", "7", "-1s", "1.5d", "d", "soon", "-2d"} {
		if _, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) succeeded", in)
		}
	}
}

// TestLoadResolvesRelativePaths runs Load on a file in a temporary folder: the policy
// file and SQLite database are found next to it, whatever the working directory.
func TestLoadResolvesRelativePaths(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "conf", "omnigate.yaml")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	data := "store: \"sqlite://data/og.db?_pragma=busy_timeout(5000)\"\npolicy_file: ../policy.yaml\nsandbox: true\n"
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	confDir := filepath.Join(dir, "conf")
	if c.Path != path || c.Dir != confDir {
		t.Errorf("Path, Dir = %q, %q; want %q, %q", c.Path, c.Dir, path, confDir)
	}
	if want := filepath.Join(dir, "policy.yaml"); c.PolicyFile != want {
		t.Errorf("PolicyFile = %q, want %q", c.PolicyFile, want)
	}
	db, query, ok := c.SQLitePath()
	if want := filepath.Join(confDir, "data", "og.db"); !ok || db != want || query != "?_pragma=busy_timeout(5000)" {
		t.Errorf("SQLitePath() = %q, %q, %v; want %q", db, query, ok, want)
	}

	// Absolute paths are kept.
	abs := "store: \"sqlite:///var/lib/omnigate.db\"\npolicy_file: /etc/policy.yaml\nsandbox: true\n"
	c, err = parse([]byte(abs), confDir, lookupIn(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Store != "sqlite:///var/lib/omnigate.db" || c.PolicyFile != "/etc/policy.yaml" {
		t.Errorf("absolute paths changed: %q, %q", c.Store, c.PolicyFile)
	}
}

func TestLoadNamesTheFile(t *testing.T) {
	t.Parallel()
	_, err := Load("testdata/duplicate_queue.yaml")
	want := `testdata/duplicate_queue.yaml:7: queues[2].id: duplicate queue id "support"`
	if err == nil || err.Error() != want {
		t.Errorf("Load error = %v, want %s", err, want)
	}
	if _, err := Load("testdata/missing.yaml"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want ErrNotExist", err)
	}
}

// TestExample keeps the repository's sandbox configuration loadable: it is what a
// newcomer runs first.
func TestExample(t *testing.T) {
	t.Parallel()
	c, err := Load("../examples/omnigate.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !c.Sandbox || c.Providers != (Providers{WhatsAppProvider: "twilio"}) {
		t.Errorf("example is not a credential-free sandbox: sandbox=%v providers=%+v", c.Sandbox, c.Providers)
	}
	queues := c.DomainQueues()
	if got := len(queues[0].Addresses); got != len(omnigate.AllChannels()) {
		t.Errorf("support has %d addresses, want one per channel", got)
	}
	if queues[1].Address(omnigate.SMS) != "+15550003333" {
		t.Errorf("billing sms = %q", queues[1].Address(omnigate.SMS))
	}
	ps := c.DomainPrincipals()
	if !ps[0].Can(omnigate.PermSend) || !ps[0].MemberOf("support") || ps[0].MemberOf("billing") || ps[0].DefaultQueue != "support" {
		t.Errorf("agent-ann = %+v", ps[0])
	}
	if !ps[1].Can(omnigate.PermAdmin) || !ps[1].MemberOf("billing") {
		t.Errorf("platform = %+v", ps[1])
	}
	// The documented demo keys authenticate as their principals.
	for i, key := range map[int]string{0: "ann-demo-key", 1: "platform-demo-key"} {
		if got := c.Principals[i].KeySHA256; got != sha256Hex(key) {
			t.Errorf("principals[%d].key_sha256 = %s, want sha256(%q)", i, got, key)
		}
	}
}

func TestValidateBuiltInCode(t *testing.T) {
	t.Parallel()
	c := &Config{Queues: []Queue{{ID: "q", Addresses: map[string]string{"sms": "+15550001111"}}}}
	c.ApplyDefaults()
	err := c.Validate()
	want := "omnigate.yaml: queues[0].addresses.sms: no carrier for channel sms: add providers.twilio, or set sandbox: true"
	if err == nil || err.Error() != want {
		t.Errorf("Validate() = %v, want %s", err, want)
	}
	c.Sandbox = true
	if err := c.Validate(); err != nil {
		t.Errorf("sandbox: %v", err)
	}
}

func TestDefaultPath(t *testing.T) {
	t.Setenv("OMNIGATE_CONFIG", "")
	if got := DefaultPath(); got != "./omnigate.yaml" {
		t.Errorf("DefaultPath() = %q", got)
	}
	t.Setenv("OMNIGATE_CONFIG", "/etc/omnigate/omnigate.yaml")
	if got := DefaultPath(); got != "/etc/omnigate/omnigate.yaml" {
		t.Errorf("DefaultPath() = %q", got)
	}
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestParseEdgeCases(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, doc string
		want      string // the error, or "" for a valid document
	}{
		{"empty file is all defaults", "", ""},
		{"null value is absent", "listen:\nsandbox: true\n", ""},
		{"explicit empty is kept and rejected", "listen: \"\"\n", `omnigate.yaml:1: listen: must be host:port such as ":8080" or "127.0.0.1:8080", got ""`},
		{"top level must be a mapping", "- a\n", "omnigate.yaml:1: must be a mapping of key: value"},
		{"merge keys are walked for unknown keys",
			"sandbox: true\nbase: &b {id: a}\n",
			`omnigate.yaml:2: base: unknown key "base" (known keys: listen, public_url, store, policy_file, default_country, queues, principals, events, providers, sandbox, sandbox_with_providers, allow_private_destinations, log, relay, shutdown_timeout, retention)`},
		{"anchors and merges decode",
			"sandbox: true\nqueues:\n  - &q {id: a, addresses: {open: w1}}\n  - <<: *q\n    id: b\n    addresses: {open: w2}\n", ""},
		{"lowercase country", "default_country: gb\n", `omnigate.yaml:1: default_country: write the region in capitals: "GB"`},
	}
	for _, tt := range tests {
		_, err := parse([]byte(tt.doc), "", lookupIn(nil))
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("%s: error\n%s\nwant\n%s", tt.name, got, tt.want)
		}
	}
}

// TestPrivateDestinationsAllowed: the same file loads once the operator allows private
// destinations, or runs the sandbox.
func TestPrivateDestinationsAllowed(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join("testdata", "private_destinations.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, extra := range []string{"allow_private_destinations: true\n", "sandbox: true\nsandbox_with_providers: true\n"} {
		if _, err := Parse(append(append([]byte{}, data...), extra...), t.TempDir()); err != nil {
			t.Errorf("with %q: %v", extra, err)
		}
	}
}

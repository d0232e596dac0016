package config

import (
	"maps"
	"net/url"
	"strings"

	"gopkg.in/yaml.v3"
)

// redactedText replaces every secret in Redacted's output.
const redactedText = "[redacted]"

// Redacted returns the effective configuration as YAML, for logs and debugging, with
// every secret and token replaced by "[redacted]" and any password inside a URL (the
// store's, a webhook's) masked. An empty secret stays empty, so a missing one shows.
// Key hashes are kept: they are one-way and needed to tell principals apart.
func (c *Config) Redacted() string {
	r := *c
	r.Queues = nil // deep-copied below; nothing in c is modified
	for _, q := range c.Queues {
		q.Addresses = maps.Clone(q.Addresses)
		r.Queues = append(r.Queues, q)
	}
	r.PublicURL = redactURL(c.PublicURL)
	r.Store = redactURL(c.Store)
	r.Events.URL = redactURL(c.Events.URL)
	r.Events.Secret = redact(c.Events.Secret)
	if t := c.Providers.Twilio; t != nil {
		rt := *t
		rt.AuthToken = redact(t.AuthToken)
		rt.BaseURL = redactURL(t.BaseURL)
		r.Providers.Twilio = &rt
	}
	if m := c.Providers.Meta; m != nil {
		rm := *m
		rm.AppSecret = redact(m.AppSecret)
		rm.VerifyToken = redact(m.VerifyToken)
		rm.WhatsAppToken = redact(m.WhatsAppToken)
		rm.PageTokens = redactValues(m.PageTokens)
		rm.GraphURL = redactURL(m.GraphURL)
		r.Providers.Meta = &rm
	}
	if x := c.Providers.X; x != nil {
		rx := *x
		rx.ConsumerSecret = redact(x.ConsumerSecret)
		rx.BearerTokens = redactValues(x.BearerTokens)
		rx.BaseURL = redactURL(x.BaseURL)
		r.Providers.X = &rx
	}
	if o := c.Providers.Open; o != nil && o.Integrations != nil {
		ro := Open{Integrations: map[string]OpenIntegration{}}
		for id, in := range o.Integrations {
			ro.Integrations[id] = OpenIntegration{OutboundURL: redactURL(in.OutboundURL), Secret: redact(in.Secret)}
		}
		r.Providers.Open = &ro
	}
	out, err := yaml.Marshal(&r)
	if err != nil {
		// Only plain data lives in Config; say so rather than return half a document.
		return "# config: cannot render: " + err.Error() + "\n"
	}
	return string(out)
}

func redact(secret string) string {
	if secret == "" {
		return ""
	}
	return redactedText
}

func redactValues(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = redact(v)
	}
	return out
}

// redactURL masks a password in the user info and any query parameter whose name says
// it holds a secret (postgres DSNs accept ?password=). A value that does not parse as a
// URL may be anything, so it is withheld whole.
func redactURL(s string) string {
	if s == "" || strings.HasPrefix(s, sqliteScheme) {
		return s
	}
	u, err := url.Parse(s)
	if err != nil {
		return redactedText
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "REDACTED")
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			lk := strings.ToLower(k)
			for _, word := range []string{"password", "secret", "token", "key", "sig"} {
				if strings.Contains(lk, word) {
					q.Set(k, "REDACTED")
				}
			}
		}
		u.RawQuery = q.Encode()
	}
	return u.String()
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/omnigate/omnigate/adapters/sandbox"
	"github.com/omnigate/omnigate/config"
	"github.com/omnigate/omnigate/store/storetest"
)

const (
	tmplAnnKey   = "ann-templates-key"
	tmplBobKey   = "bob-templates-key"
	tmplAdminKey = "admin-templates-key"
	tmplNumber   = "+15550002222"
	tmplContact  = "+14155550123"
)

// tmplPrincipals are the keys of these tests: ann in support, bob in billing, an admin.
func tmplPrincipals() string {
	return fmt.Sprintf(`principals:
  - {id: ann, key_sha256: %q, permissions: [conversation:message:create, routing:queue:view], queues: [support], default_queue: support}
  - {id: bob, key_sha256: %q, permissions: [conversation:message:create], queues: [billing], default_queue: billing}
  - {id: admin, key_sha256: %q, permissions: [admin, routing:queue:view], queues: ["*"]}
`, keyHash(tmplAnnKey), keyHash(tmplBobKey), keyHash(tmplAdminKey))
}

// serveIn runs the daemon for cfgText in dir until stop is called (or the test ends).
func serveIn(t *testing.T, dir, cfgText string) (base string, d *daemon, stop func()) {
	t.Helper()
	cfgPath := filepath.Join(dir, "omnigate.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d, err = newDaemon(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon: %v", err)
		}
	}
	t.Cleanup(stop)
	return "http://" + d.ln.Addr().String(), d, stop
}

// call makes one API call and decodes the JSON answer.
func call(t *testing.T, client *http.Client, method, url, key string, body any) (int, map[string]any) {
	t.Helper()
	code, raw, err := apiCall(client, method, url, key, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s: %d %s: %v", method, url, code, raw, err)
	}
	return code, out
}

func errorCode(out map[string]any) string {
	e, _ := out["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

// templateNames lists "name/language" of a template list answer.
func templateNames(list any) []string {
	var out []string
	items, _ := list.([]any)
	for _, it := range items {
		m, _ := it.(map[string]any)
		out = append(out, fmt.Sprint(m["name"], "/", m["language"]))
	}
	return out
}

func templateSend(name, lang string, vars map[string]string) map[string]any {
	return map[string]any{"channel": "whatsapp", "to": tmplContact,
		"template": map[string]any{"name": name, "language": lang, "variables": vars}}
}

// TestTemplatesFromTheSandboxAndRefusedSends drives the real daemon with the sandbox
// Twilio: the catalogue is synced from its Content API, listed for the queue's members,
// offered by /v1/messages/check when the window is closed, and a send with the wrong
// variable count, language or name is refused with 422 before anything reaches the
// carrier, while a right one goes out with the synced Content SID.
func TestTemplatesFromTheSandboxAndRefusedSends(t *testing.T) {
	cfg := `listen: "127.0.0.1:0"
public_url: "http://127.0.0.1:0"
store: "sqlite://./omnigate.db"
sandbox: true
queues:
  - {id: support, addresses: {whatsapp: "` + tmplNumber + `"}}
  - {id: billing, addresses: {sms: "+15550003333"}}
` + tmplPrincipals()
	base, d, _ := serveIn(t, t.TempDir(), cfg)
	client := apiClient(t)
	carrier := d.console.fakes.twilio

	code, out := call(t, client, http.MethodPost, base+"/v1/templates/sync", tmplAnnKey, nil)
	if code != http.StatusForbidden {
		t.Errorf("sync by an agent: %d %v, want 403", code, out)
	}
	code, out = call(t, client, http.MethodPost, base+"/v1/templates/sync", tmplAdminKey, nil)
	res, _ := out["results"].([]any)
	if code != http.StatusOK || len(res) != 1 {
		t.Fatalf("sync: %d %v", code, out)
	}
	if r := res[0].(map[string]any); r["status"] != "synced" || r["templates"] != 5.0 || r["approved"] != 4.0 {
		t.Errorf("sync result = %v, want 5 templates, 4 approved", r)
	}

	code, out = call(t, client, http.MethodGet, base+"/v1/templates?queue=support&channel=whatsapp", tmplAnnKey, nil)
	want := []string{"appointment_reminder/en", "appointment_reminder/es", "order_update/en", "welcome_back/en"}
	if code != http.StatusOK || !slices.Equal(templateNames(out["templates"]), want) || out["synced_at"] == nil {
		t.Fatalf("templates: %d %v, want %v", code, out, want)
	}
	first := out["templates"].([]any)[2].(map[string]any)
	if fmt.Sprint(first["variables"]) != "[1 2 3]" || first["category"] != "UTILITY" || first["body"] == "" {
		t.Errorf("order_update = %v", first)
	}
	if code, out := call(t, client, http.MethodGet, base+"/v1/templates?queue=support", tmplBobKey, nil); code != http.StatusForbidden || errorCode(out) != "not_queue_member" {
		t.Errorf("another queue's agent: %d %v, want 403 not_queue_member", code, out)
	}
	if code, out := call(t, client, http.MethodGet, base+"/v1/templates?queue=billing&channel=sms", tmplAdminKey, nil); code != http.StatusUnprocessableEntity || errorCode(out) != "templates_unsupported" {
		t.Errorf("sms templates: %d %v, want 422 templates_unsupported", code, out)
	}

	// The contact never wrote: free text is refused, and the check offers the templates.
	code, out = call(t, client, http.MethodPost, base+"/v1/messages/check", tmplAnnKey,
		map[string]any{"channel": "whatsapp", "to": tmplContact, "text": "hello"})
	if code != http.StatusOK || out["allowed"] != false || !slices.Equal(templateNames(out["templates"]), want) {
		t.Errorf("check with the window closed: %d %v, want the 4 templates offered", code, out)
	}

	refused := []struct {
		body any
		code string
	}{
		{templateSend("order_update", "en", map[string]string{"1": "Ann", "2": "#1042"}), "template_variables"},
		{templateSend("order_update", "en", map[string]string{"1": "Ann", "2": "#1042", "3": "today", "4": "extra"}), "template_variables"},
		{templateSend("order_update", "en_US", map[string]string{"1": "Ann", "2": "#1042", "3": "today"}), "template_language"},
		{templateSend("order_updated", "en", nil), "template_unknown"},
		{templateSend("summer_sale", "en", map[string]string{"1": "Ann"}), "template_not_approved"},
	}
	for _, r := range refused {
		code, out := call(t, client, http.MethodPost, base+"/v1/messages", tmplAnnKey, r.body)
		if code != http.StatusUnprocessableEntity || errorCode(out) != r.code {
			t.Errorf("send %v: %d %v, want 422 %s", r.body, code, out, r.code)
		}
	}
	code, out = call(t, client, http.MethodPost, base+"/v1/messages", tmplAnnKey,
		templateSend("order_update", "en", map[string]string{"1": "Ann", "2": "#1042", "3": "today"}))
	if code != http.StatusAccepted {
		t.Fatalf("a right template send: %d %v", code, out)
	}
	convID, _ := out["conversation_id"].(string)
	waitUntil(t, 10*time.Second, "the template at the carrier", func() bool { return len(carrier.Sent()) > 0 })
	sent := carrier.Sent()
	if len(sent) != 1 {
		t.Fatalf("carrier received %d messages, want only the right one: %v", len(sent), sent)
	}
	var vars map[string]string
	json.Unmarshal([]byte(sent[0].Get("ContentVariables")), &vars)
	if sid := sent[0].Get("ContentSid"); len(sid) != 34 || sid[:2] != "HX" || len(vars) != 3 || vars["3"] != "today" {
		t.Errorf("carrier got ContentSid %q, ContentVariables %v; want the synced SID and 3 variables", sid, vars)
	}
	code, out = call(t, client, http.MethodGet, base+"/v1/conversations/"+convID, tmplAnnKey, nil)
	if msgs, _ := out["messages"].([]any); code != http.StatusOK || len(msgs) != 1 {
		t.Errorf("conversation: %d %v, want the one accepted message (refused sends store nothing)", code, out)
	}
}

// TestTemplatesSurviveRestart: a catalogue synced from Meta's Graph API (the sandbox's,
// served by this test) is still listed, and still refuses a wrong send, after a restart
// whose own sync fails, on SQLite and PostgreSQL.
func TestTemplatesSurviveRestart(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			dsn := "sqlite://./omnigate.db"
			if backend == "postgres" {
				dsn = storetest.PostgresSchema(t)
			}
			poster := &sandbox.Poster{}
			defer poster.Close()
			graph, err := sandbox.NewMeta(sandbox.MetaConfig{AppSecret: "app-secret", WebhookURL: "http://127.0.0.1:1/webhooks/meta", Poster: poster})
			if err != nil {
				t.Fatal(err)
			}
			good := httptest.NewServer(graph)
			defer good.Close()
			// After the restart Graph refuses the token: the sync fails, the catalogue stays.
			bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusBadRequest)
				w.Write([]byte(`{"error":{"message":"Invalid OAuth access token.","type":"OAuthException","code":190,"fbtrace_id":"T"}}`))
			}))
			defer bad.Close()
			cfg := func(graphURL string) string {
				return `listen: "127.0.0.1:0"
public_url: "http://127.0.0.1:0"
store: "` + dsn + `"
allow_private_destinations: true
queues:
  - {id: support, addresses: {whatsapp: "` + tmplNumber + `"}}
  - {id: billing, addresses: {}}
` + tmplPrincipals() + `providers:
  whatsapp_provider: meta
  meta:
    app_secret: app-secret
    verify_token: verify
    whatsapp_token: wa-token
    whatsapp_phone_number_ids: {"` + tmplNumber + `": "1098765"}
    whatsapp_business_account_ids: {"` + tmplNumber + `": "2000000001"}
    graph_url: "` + graphURL + `"
`
			}
			dir := t.TempDir()
			client := apiClient(t)
			list := func(base string) (int, map[string]any) {
				return call(t, client, http.MethodGet, base+"/v1/templates?queue=support&channel=whatsapp", tmplAnnKey, nil)
			}
			want := []string{"appointment_reminder/en_US", "appointment_reminder/es_ES", "order_update/en_US", "welcome_back/en_US"}

			base, _, stop := serveIn(t, dir, cfg(good.URL))
			code, out := call(t, client, http.MethodPost, base+"/v1/templates/sync", tmplAdminKey, nil)
			if code != http.StatusOK {
				t.Fatalf("sync: %d %v", code, out)
			}
			code, out = list(base)
			if code != http.StatusOK || !slices.Equal(templateNames(out["templates"]), want) {
				t.Fatalf("before the restart: %d %v", code, out)
			}
			stop()
			restarted := time.Now()

			base, _, _ = serveIn(t, dir, cfg(bad.URL))
			code, out = call(t, client, http.MethodPost, base+"/v1/templates/sync", tmplAdminKey, nil)
			res, _ := out["results"].([]any)
			if code != http.StatusOK || len(res) != 1 || res[0].(map[string]any)["status"] != "failed" {
				t.Errorf("sync after the restart: %d %v, want it failed", code, out)
			}
			code, out = list(base)
			syncedAt, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(out["synced_at"]))
			if code != http.StatusOK || !slices.Equal(templateNames(out["templates"]), want) || syncedAt.IsZero() || syncedAt.After(restarted) {
				t.Errorf("after the restart: %d %v, want %v as synced before the restart", code, out, want)
			}
			code, out = call(t, client, http.MethodPost, base+"/v1/messages", tmplAnnKey,
				templateSend("appointment_reminder", "es_ES", map[string]string{"1": "Ana"}))
			if code != http.StatusUnprocessableEntity || errorCode(out) != "template_variables" {
				t.Errorf("a short send after the restart: %d %v, want 422 template_variables", code, out)
			}
		})
	}
}

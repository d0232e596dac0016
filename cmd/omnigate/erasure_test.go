package main

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/store"
	"github.com/omnigate/omnigate/store/sqlstore"
	"github.com/omnigate/omnigate/store/storetest"
)

const (
	eraseNumber  = "+15550001111"
	eraseContact = "+14155550177"
	agedContact  = "+14155550166"
)

// seedAged writes, before the daemon starts, a conversation with a message 100 days
// old and one an hour old, and a conversation last active 400 days ago.
func seedAged(t *testing.T, dsn, dir string) {
	t.Helper()
	st, err := sqlstore.Open(context.Background(), dsn, sqlstore.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UTC()
	conv := func(id string, at time.Time) omnigate.Conversation {
		return omnigate.Conversation{ID: id, Channel: omnigate.SMS, QueueID: "support", Address: eraseNumber,
			ContactAddress: agedContact, State: omnigate.StateClosed, OpenedAt: at, LastActivityAt: at, LastInboundAt: at}
	}
	msg := func(id, convID string, at time.Time) omnigate.Message {
		return omnigate.Message{ID: id, ConversationID: convID, Direction: omnigate.Inbound, Channel: omnigate.SMS,
			QueueID: "support", From: agedContact, To: eraseNumber, Text: "my card ends in 4242 " + id,
			Media: []omnigate.Media{{URL: "https://cdn.example.com/" + id + ".jpg"}}, Status: omnigate.StatusReceived,
			CreatedAt: at, UpdatedAt: at}
	}
	ancient, old := now.Add(-400*24*time.Hour), now.Add(-100*24*time.Hour)
	err = st.Update(context.Background(), func(tx store.Tx) error {
		recent := conv("conv_recent", now.Add(-time.Hour))
		recent.OpenedAt = old
		for _, c := range []omnigate.Conversation{conv("conv_ancient", ancient), recent} {
			if err := tx.InsertConversation(c); err != nil {
				return err
			}
		}
		for _, m := range []omnigate.Message{msg("msg_ancient", "conv_ancient", ancient),
			msg("msg_old", "conv_recent", old), msg("msg_fresh", "conv_recent", now.Add(-time.Hour))} {
			if err := tx.InsertMessage(m); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestRetentionAndErasureThroughTheAPI runs the daemon on SQLite and PostgreSQL with
// retention configured: at start its janitor tombstones a 100-day-old body and deletes
// a conversation idle for 400 days; then an administrator erases a contact who texted
// through the sandbox carrier, the history keeps its tombstones, and the platform gets
// contact.erased.
func TestRetentionAndErasureThroughTheAPI(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			dir := t.TempDir()
			dsn := "sqlite://" + filepath.Join(dir, "omnigate.db")
			if backend == "postgres" {
				dsn = storetest.PostgresSchema(t)
			}
			seedAged(t, dsn, dir)
			cfg := `listen: "127.0.0.1:0"
public_url: "http://127.0.0.1:0"
store: "` + dsn + `"
sandbox: true
events: {url: /sandbox/events, secret: erasure-events-secret}
retention: {message_bodies: 90d, conversations: 365d}
queues:
  - {id: support, addresses: {sms: "` + eraseNumber + `"}}
  - {id: billing, addresses: {sms: "+15550003333"}}
` + tmplPrincipals()
			base, _, _ := serveIn(t, dir, cfg)
			client := apiClient(t)

			// Retention, applied by the janitor when the daemon starts.
			waitUntil(t, 10*time.Second, "the old body tombstoned", func() bool {
				_, out := call(t, client, http.MethodGet, base+"/v1/messages/msg_old", tmplAdminKey, nil)
				return out["redacted"] == true
			})
			_, old := call(t, client, http.MethodGet, base+"/v1/messages/msg_old", tmplAdminKey, nil)
			if old["text"] != nil || old["media"] != nil || old["status"] != "received" {
				t.Errorf("old message = %v, want a tombstone keeping its status", old)
			}
			_, fresh := call(t, client, http.MethodGet, base+"/v1/messages/msg_fresh", tmplAdminKey, nil)
			if fresh["redacted"] != nil || fresh["text"] == nil {
				t.Errorf("fresh message = %v, want it untouched", fresh)
			}
			waitUntil(t, 10*time.Second, "the idle conversation deleted", func() bool {
				code, _ := call(t, client, http.MethodGet, base+"/v1/conversations/conv_ancient", tmplAdminKey, nil)
				return code == http.StatusNotFound
			})
			if code, out := call(t, client, http.MethodGet, base+"/v1/conversations/conv_recent", tmplAdminKey, nil); code != http.StatusOK || len(out["messages"].([]any)) != 2 {
				t.Errorf("recent conversation: %d %v, want both messages (one a tombstone)", code, out)
			}

			// Erasure of a contact who wrote back through the sandbox carrier.
			code, out := call(t, client, http.MethodPost, base+"/v1/messages", tmplAnnKey,
				map[string]any{"channel": "sms", "to": eraseContact, "text": "Can you confirm your address?"})
			if code != http.StatusAccepted {
				t.Fatalf("send: %d %v", code, out)
			}
			convID := out["conversation_id"].(string)
			waitUntil(t, 10*time.Second, "the customer's reply", func() bool {
				_, c := call(t, client, http.MethodGet, base+"/v1/conversations/"+convID, tmplAnnKey, nil)
				msgs, _ := c["messages"].([]any)
				return len(msgs) == 2
			})
			if code, out := call(t, client, http.MethodDelete, base+"/v1/contacts/sms/"+eraseContact, tmplAnnKey, nil); code != http.StatusForbidden {
				t.Errorf("erasure by an agent: %d %v, want 403", code, out)
			}
			if code, out := call(t, client, http.MethodDelete, base+"/v1/contacts/sms/+14155550999", tmplAdminKey, nil); code != http.StatusNotFound || errorCode(out) != "contact_not_found" {
				t.Errorf("unknown contact: %d %v, want 404 contact_not_found", code, out)
			}
			if code, out := call(t, client, http.MethodDelete, base+"/v1/contacts/sms/not-a-number", tmplAdminKey, nil); code != http.StatusBadRequest || errorCode(out) != "invalid_address" {
				t.Errorf("bad address: %d %v, want 400 invalid_address", code, out)
			}
			code, out = call(t, client, http.MethodDelete, base+"/v1/contacts/sms/"+eraseContact, tmplAdminKey, nil)
			if code != http.StatusOK || out["messages"] != 2.0 || len(out["conversations"].([]any)) != 1 {
				t.Fatalf("erasure: %d %v, want 1 conversation and 2 messages", code, out)
			}
			_, c := call(t, client, http.MethodGet, base+"/v1/conversations/"+convID, tmplAnnKey, nil)
			msgs, _ := c["messages"].([]any)
			if len(msgs) != 2 {
				t.Fatalf("history after erasure: %v, want 2 tombstones", c)
			}
			for _, m := range msgs {
				m := m.(map[string]any)
				if m["redacted"] != true || m["text"] != nil || m["status"] == nil {
					t.Errorf("message after erasure = %v, want a tombstone", m)
				}
			}
			waitUntil(t, 10*time.Second, "contact.erased at the platform", func() bool {
				code, raw, err := apiCall(client, http.MethodGet, base+"/sandbox/events", "", nil)
				if err != nil || code != http.StatusOK {
					return false
				}
				var evs struct {
					Events []struct {
						Type string          `json:"type"`
						Data json.RawMessage `json:"data"`
					} `json:"events"`
				}
				json.Unmarshal(raw, &evs)
				for _, e := range evs.Events {
					var d struct {
						Contact  string `json:"contact"`
						Messages int    `json:"messages"`
					}
					json.Unmarshal(e.Data, &d)
					if e.Type == "contact.erased" && d.Contact == eraseContact && d.Messages == 2 {
						return true
					}
				}
				return false
			})
		})
	}
}

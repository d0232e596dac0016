package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/egress"
	"github.com/omnigate/omnigate/messaging"
	"github.com/omnigate/omnigate/store"
)

// MaxRecipients is how many recipients one send may name.
const MaxRecipients = 50

// sendBody is POST /v1/messages and /v1/messages/check.
type sendBody struct {
	Queue    string             `json:"queue"`
	Channel  omnigate.Channel   `json:"channel"`
	To       json.RawMessage    `json:"to"`
	Country  string             `json:"country"`
	Text     string             `json:"text"`
	Template *omnigate.Template `json:"template"`
	Media    []omnigate.Media   `json:"media"`
	Sender   omnigate.Sender    `json:"sender"`
	Takeover bool               `json:"takeover"`
}

type fieldProblem struct {
	Field   string `json:"field"`
	Problem string `json:"problem"`
}

// parseSend validates a send completely: every bad field is reported at once, because
// the compose button needs the queue and the number both to be right.
func (s *Server) parseSend(w http.ResponseWriter, r *http.Request) (messaging.Send, bool, []byte) {
	var b sendBody
	raw, ok := readBody(w, r, &b)
	if !ok {
		return messaging.Send{}, false, nil
	}
	p := principalOf(r)
	dir := s.cfg.Directory()
	var problems []fieldProblem
	bad := func(field, problem string) { problems = append(problems, fieldProblem{field, problem}) }

	queueID := b.Queue
	if queueID == "" {
		queueID = p.DefaultQueue
	}
	q, queueKnown := dir.Queues[queueID]
	switch {
	case queueID == "":
		bad("queue", "required (this principal has no default queue)")
	case !queueKnown:
		bad("queue", "no such queue")
	}
	if !b.Channel.Valid() {
		bad("channel", "must be one of sms, whatsapp, messenger, instagram, x, open")
	}
	country := b.Country
	if country == "" {
		country = dir.DefaultCountry
	} else if len(phonenumbers.GetSupportedRegions()) > 0 {
		if _, ok := phonenumbers.GetSupportedRegions()[strings.ToUpper(country)]; !ok {
			bad("country", "not an ISO 3166 country code")
		}
	}
	var tos []string
	badAddress := false
	if len(bytes.TrimSpace(b.To)) == 0 || string(bytes.TrimSpace(b.To)) == "null" {
		bad("to", "required")
	} else if b.To[0] == '[' {
		if err := json.Unmarshal(b.To, &tos); err != nil {
			bad("to", "must be a string or a list of strings")
		} else if len(tos) == 0 || len(tos) > MaxRecipients {
			bad("to", "a list must have 1 to 50 recipients")
		}
	} else {
		var one string
		if err := json.Unmarshal(b.To, &one); err != nil {
			bad("to", "must be a string or a list of strings")
		} else {
			tos = []string{one}
		}
	}
	seen := map[string]bool{}
	var normalized []string
	if b.Channel.Valid() {
		for i, t := range tos {
			n, ok := omnigate.NormalizeAddress(b.Channel, t, country)
			field := "to"
			if b.To[0] == '[' {
				field = "to[" + itoa(i) + "]"
			}
			switch {
			case !ok:
				badAddress = true
				switch {
				case b.Channel.UsesPhoneNumbers():
					bad(field, "not a valid phone number for country "+strings.ToUpper(country))
				case b.Channel == omnigate.X || b.Channel == omnigate.Messenger || b.Channel == omnigate.Instagram:
					bad(field, "must be the contact's numeric "+string(b.Channel)+" user id")
				default:
					bad(field, "not a valid address")
				}
			case seen[n]:
				bad(field, "duplicate recipient")
			default:
				seen[n] = true
				normalized = append(normalized, n)
			}
		}
	}
	switch {
	case b.Template != nil && (b.Text != "" || len(b.Media) > 0):
		bad("template", "a template is sent on its own, without text or media")
	case b.Template == nil && b.Text == "" && len(b.Media) == 0:
		bad("text", "one of text, template or media is required")
	}
	if b.Template != nil && (b.Template.Name == "" || b.Template.Language == "") {
		bad("template", "name and language are required")
	}
	for i, m := range b.Media {
		switch u, err := url.Parse(m.URL); {
		case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
			bad("media["+itoa(i)+"].url", "must be an absolute http(s) URL")
		case !s.cfg.AllowPrivateMedia && egress.CheckURL(m.URL) != nil:
			bad("media["+itoa(i)+"].url", "must not point at a loopback, private or link-local address")
		}
	}
	if b.Sender != "" && b.Sender != omnigate.Human && b.Sender != omnigate.Automated {
		bad("sender", "must be human or automated")
	}
	if len(problems) > 0 {
		switch {
		case len(problems) == 1 && !queueKnown && queueID != "":
			writeError(w, http.StatusNotFound, "queue_not_found", "no queue "+queueID, nil)
		case len(problems) == len(tos) && badAddress && queueKnown:
			writeError(w, http.StatusBadRequest, "invalid_address", problems[0].Problem, map[string]any{"fields": problems})
		default:
			writeError(w, http.StatusBadRequest, "invalid_request", "the request has invalid fields", map[string]any{"fields": problems})
		}
		return messaging.Send{}, false, nil
	}
	if !p.MemberOf(q.ID) {
		writeError(w, http.StatusForbidden, "not_queue_member", "you can only send on behalf of queues you belong to", nil)
		return messaging.Send{}, false, nil
	}
	if q.Address(b.Channel) == "" {
		writeError(w, http.StatusUnprocessableEntity, "no_outbound_address", "queue "+q.ID+" has no "+string(b.Channel)+" address", nil)
		return messaging.Send{}, false, nil
	}
	return messaging.Send{Principal: p, Queue: q, Channel: b.Channel, To: normalized, Text: b.Text, Template: b.Template,
		Media: b.Media, Sender: b.Sender, Takeover: b.Takeover}, b.To[0] == '[', raw
}

// resultBody is one recipient's answer.
func resultBody(req messaging.Send, r messaging.Result) (int, map[string]any) {
	if r.Err != nil {
		status, code := httpError(r.Err)
		e := errorBody(code, r.Err.Message, r.Err.Details)
		e["to"] = r.To
		if r.Decision != nil {
			e["error"].(map[string]any)["decision"] = r.Decision
		}
		return status, e
	}
	return http.StatusAccepted, map[string]any{"id": r.MessageID, "conversation_id": r.ConversationID,
		"status": r.Status, "to": r.To, "channel": req.Channel, "queue": req.Queue.ID,
		"conversation": r.Outcome, "decision": r.Decision}
}

// response is the whole answer to a send: one recipient's, or {"results": [...]} for a
// list (200: each result stands on its own, and a conflict for one fails no other).
func response(req messaging.Send, list bool, results []messaging.Result) (int, []byte) {
	if !list && len(results) == 1 {
		code, body := resultBody(req, results[0])
		b, _ := json.Marshal(body)
		return code, b
	}
	out := make([]map[string]any, 0, len(results))
	for _, r := range results {
		_, body := resultBody(req, r)
		out = append(out, body)
	}
	b, _ := json.Marshal(map[string]any{"results": out})
	return http.StatusOK, b
}

const (
	idemTTL   = messaging.IdempotencyTTL
	idemStale = 2 * time.Minute // a pending key whose request died is taken over after this
)

func (s *Server) send(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("Idempotency-Key")
	if len(key) > 255 {
		writeError(w, http.StatusBadRequest, "invalid_request", "Idempotency-Key is limited to 255 characters",
			map[string]any{"fields": []fieldProblem{{"Idempotency-Key", "longer than 255 characters"}}})
		return
	}
	req, list, raw := s.parseSend(w, r)
	if raw == nil {
		return
	}
	p := principalOf(r)
	if key == "" {
		results, err := s.cfg.Service.Send(r.Context(), req)
		if err != nil {
			s.writeErr(w, r, err)
			return
		}
		code, body := response(req, list, results)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		w.Write(body)
		return
	}
	s.sendIdempotent(w, r, p, key, raw, req, list)
}

// sendIdempotent implements Idempotency-Key: the same key and body replays the first
// response; another body is 422; a key whose first request is still running is 409.
// The response is recorded in the same transaction as the messages it reports.
func (s *Server) sendIdempotent(w http.ResponseWriter, r *http.Request, p omnigate.Principal, key string, raw []byte, req messaging.Send, list bool) {
	sum := sha256.Sum256(raw)
	hash := hex.EncodeToString(sum[:])
	var replay *store.Idempotency
	errReused := errors.New("reused")
	errInFlight := errors.New("in flight")
	err := s.cfg.Store.Update(r.Context(), func(tx store.Tx) error {
		replay = nil
		now := s.cfg.Now().UTC()
		rec, err := tx.Idempotency(p.ID, key, now.Add(-idemTTL))
		if err == nil {
			if rec.BodyHash != hash {
				return errReused
			}
			if rec.Done {
				replay = &rec
				return nil
			}
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		owned, err := tx.BeginIdempotency(p.ID, key, hash, now, now.Add(-idemTTL), now.Add(-idemStale))
		if err != nil {
			return err
		}
		if !owned {
			return errInFlight
		}
		return nil
	})
	switch {
	case errors.Is(err, errReused):
		writeError(w, http.StatusUnprocessableEntity, "idempotency_key_reused", "this Idempotency-Key was used with a different body", nil)
		return
	case errors.Is(err, errInFlight):
		writeError(w, http.StatusConflict, "idempotency_in_flight", "a request with this Idempotency-Key is still being processed", nil)
		return
	case err != nil:
		s.writeErr(w, r, err)
		return
	}
	if replay != nil {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Idempotent-Replayed", "true")
		w.WriteHeader(replay.Code)
		w.Write(replay.Response)
		return
	}
	var code int
	var body []byte
	req.InTx = func(tx store.Tx, results []messaging.Result) error {
		code, body = response(req, list, results)
		return tx.FinishIdempotency(p.ID, key, code, body)
	}
	if _, err := s.cfg.Service.Send(r.Context(), req); err != nil {
		// Nothing was written; free the key so the caller can try again.
		s.cfg.Store.Update(r.Context(), func(tx store.Tx) error { return tx.DropIdempotency(p.ID, key) })
		s.writeErr(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(body)
}

func (s *Server) check(w http.ResponseWriter, r *http.Request) {
	req, _, raw := s.parseSend(w, r)
	if raw == nil {
		return
	}
	req.DryRun = true
	results, err := s.cfg.Service.Send(r.Context(), req)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	out := make([]map[string]any, 0, len(results))
	for _, res := range results {
		o := map[string]any{"to": res.To, "decision": res.Decision, "conversation": res.Outcome,
			"conversation_id": res.ConversationID, "allowed": res.Err == nil}
		if res.Err != nil {
			o["error"] = map[string]any{"code": res.Err.Code, "message": res.Err.Message}
			for k, v := range res.Err.Details {
				o["error"].(map[string]any)[k] = v
			}
			if res.Err.Code == "conversation_active" || res.Err.Code == "takeover_required" {
				o["conversation_id"] = res.Err.Details["conversation_id"]
			}
		}
		out = append(out, o)
	}
	if len(out) == 1 {
		writeJSON(w, http.StatusOK, out[0])
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": out})
}

// messageJSON is a message as the API shows it.
func messageJSON(m omnigate.Message) map[string]any {
	out := map[string]any{"id": m.ID, "conversation_id": m.ConversationID, "direction": m.Direction,
		"channel": m.Channel, "queue": m.QueueID, "from": m.From, "to": m.To, "status": m.Status,
		"attempts": m.Attempts, "created_at": m.CreatedAt, "updated_at": m.UpdatedAt}
	if m.Text != "" {
		out["text"] = m.Text
	}
	if m.Template != nil {
		out["template"] = m.Template
	}
	if len(m.Media) > 0 {
		out["media"] = m.Media
	}
	if m.Sender != "" {
		out["sender"] = m.Sender
	}
	if m.Tag != "" {
		out["tag"] = m.Tag
	}
	if m.ProviderMessageID != "" {
		out["provider_message_id"] = m.ProviderMessageID
	}
	if m.ErrorCode != "" || m.ErrorMessage != "" {
		out["error"] = map[string]string{"code": m.ErrorCode, "message": m.ErrorMessage}
	}
	if m.Deleted {
		out["deleted"] = true
	}
	return out
}

func (s *Server) getMessage(w http.ResponseWriter, r *http.Request) {
	m, err := s.cfg.Store.Message(r.Context(), r.PathValue("id"))
	p := principalOf(r)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !p.MemberOf(m.QueueID) && !p.Can(omnigate.PermAdmin)) {
		writeError(w, http.StatusNotFound, "message_not_found", "no message with this id", nil)
		return
	}
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, messageJSON(m))
}

package api

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/messaging"
)

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

// recipients reads "to": one address, or a list of them.
func recipients(raw json.RawMessage) messaging.Recipients {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return messaging.Recipients{Problem: "required"}
	}
	const notRecipients = "must be a string or a list of strings"
	if raw[0] == '[' {
		var tos []string
		if err := json.Unmarshal(raw, &tos); err != nil {
			return messaging.Recipients{List: true, Problem: notRecipients}
		}
		return messaging.Recipients{Addresses: tos, List: true}
	}
	var one string
	if err := json.Unmarshal(raw, &one); err != nil {
		return messaging.Recipients{Problem: notRecipients}
	}
	return messaging.Recipients{Addresses: []string{one}}
}

// decodeSend reads a send's body; messaging validates it.
func decodeSend(w http.ResponseWriter, r *http.Request) (messaging.SendRequest, []byte, bool) {
	var b sendBody
	raw, ok := readBody(w, r, &b)
	if !ok {
		return messaging.SendRequest{}, nil, false
	}
	return messaging.SendRequest{Principal: principalOf(r), Queue: b.Queue, Channel: b.Channel, To: recipients(b.To),
		Country: b.Country, Text: b.Text, Template: b.Template, Media: b.Media, Sender: b.Sender, Takeover: b.Takeover}, raw, true
}

// resultBody is one recipient's answer.
func resultBody(r messaging.Result) (int, map[string]any) {
	if r.Err != nil {
		status, code := httpError(r.Err)
		e := errorBody(code, r.Err.Message, r.Err.Details)
		e["to"] = r.To
		if r.Decision != nil {
			e["error"].(map[string]any)["decision"] = r.Decision
		}
		return status, e
	}
	out := map[string]any{"id": r.MessageID, "conversation_id": r.ConversationID,
		"status": r.Status, "to": r.To, "channel": r.Channel, "queue": r.Queue,
		"conversation": r.Outcome, "decision": r.Decision}
	if len(r.Parts) > 0 {
		out["parts"] = r.Parts
	}
	return http.StatusAccepted, out
}

// response is the whole answer to a send: one recipient's, or {"results": [...]} for a
// list (200: each result stands on its own, and a conflict for one fails no other).
func response(req messaging.SendRequest, results []messaging.Result) messaging.Answer {
	if !req.To.List && len(results) == 1 {
		code, body := resultBody(results[0])
		b, _ := json.Marshal(body)
		return messaging.Answer{Code: code, Body: b}
	}
	out := make([]map[string]any, 0, len(results))
	for _, r := range results {
		_, body := resultBody(r)
		out = append(out, body)
	}
	b, _ := json.Marshal(map[string]any{"results": out})
	return messaging.Answer{Code: http.StatusOK, Body: b}
}

// send answers POST /v1/messages. With an Idempotency-Key, the same key and body
// replay the first answer; another body is 422; a key whose first request is still
// running is 409.
func (s *Server) send(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("Idempotency-Key")
	if len(key) > messaging.MaxIdempotencyKey {
		// Refused before the body is read, as a header problem.
		s.writeErr(w, r, idempotencyKeyTooLong())
		return
	}
	req, raw, ok := decodeSend(w, r)
	if !ok {
		return
	}
	s.answerSend(w, r, req, key, raw)
}

func idempotencyKeyTooLong() *messaging.Error {
	return &messaging.Error{Kind: messaging.KindInvalid, Code: "invalid_request",
		Message: "Idempotency-Key is limited to 255 characters",
		Details: map[string]any{"fields": []messaging.FieldProblem{{Field: "Idempotency-Key", Problem: "longer than 255 characters"}}}}
}

// answerSend sends req, under the Idempotency-Key when there is one (fingerprint is
// the request as received), and writes the answer.
func (s *Server) answerSend(w http.ResponseWriter, r *http.Request, req messaging.SendRequest, key string, fingerprint []byte) {
	var ans messaging.Answer
	if key == "" {
		results, err := s.cfg.Service.Send(r.Context(), req)
		if err != nil {
			s.writeErr(w, r, err)
			return
		}
		ans = response(req, results)
	} else {
		var replayed bool
		var err error
		ans, replayed, err = s.cfg.Service.SendOnce(r.Context(), req, messaging.IdempotencyKey{Key: key, Fingerprint: fingerprint},
			func(results []messaging.Result) messaging.Answer { return response(req, results) })
		if err != nil {
			s.writeErr(w, r, err)
			return
		}
		if replayed {
			w.Header().Set("Idempotent-Replayed", "true")
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(ans.Code)
	w.Write(ans.Body)
}

func (s *Server) check(w http.ResponseWriter, r *http.Request) {
	req, _, ok := decodeSend(w, r)
	if !ok {
		return
	}
	results, err := s.cfg.Service.Check(r.Context(), req)
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
		if res.Templates != nil {
			o["templates"] = res.Templates
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
	if m.Redacted {
		out["redacted"] = true
	}
	return out
}

func (s *Server) getMessage(w http.ResponseWriter, r *http.Request) {
	m, err := s.cfg.Service.Message(r.Context(), principalOf(r), r.PathValue("id"))
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, messageJSON(m))
}

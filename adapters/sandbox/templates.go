package sandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// sandboxTemplate is one template of the sandbox's catalogue, which both sandbox
// carriers serve in their own wire format.
type sandboxTemplate struct {
	id, name, category, status string
	header, body, footer       string
	// samples are example values of the body's variables, in order.
	samples []string
	// metaLang and twilioLang are the language as each carrier writes it.
	metaLang, twilioLang string
}

// catalogue is what a newcomer finds in the sandbox: approved templates with and
// without variables, one in two languages, and a rejected one that is never offered.
var catalogue = []sandboxTemplate{
	{id: "1200000000000001", name: "order_update", category: "UTILITY", status: "APPROVED", header: "Order update",
		body: "Hi {{1}}, your order {{2}} has shipped and should arrive {{3}}.", footer: "Reply STOP to opt out",
		samples: []string{"Ann", "#1042", "tomorrow"}, metaLang: "en_US", twilioLang: "en"},
	{id: "1200000000000002", name: "appointment_reminder", category: "UTILITY", status: "APPROVED",
		body:    "Hi {{1}}, this is a reminder of your appointment on {{2}}. Reply to change it.",
		samples: []string{"Ann", "Monday 10:00"}, metaLang: "en_US", twilioLang: "en"},
	{id: "1200000000000003", name: "appointment_reminder", category: "UTILITY", status: "APPROVED",
		body:    "Hola {{1}}, le recordamos su cita del {{2}}. Responda para cambiarla.",
		samples: []string{"Ana", "lunes 10:00"}, metaLang: "es_ES", twilioLang: "es"},
	{id: "1200000000000004", name: "welcome_back", category: "MARKETING", status: "APPROVED",
		body: "Welcome back! Reply to this message to talk to our team.", metaLang: "en_US", twilioLang: "en"},
	{id: "1200000000000005", name: "summer_sale", category: "MARKETING", status: "REJECTED",
		body: "Hi {{1}}, everything is 20% off this week!", samples: []string{"Ann"}, metaLang: "en_US", twilioLang: "en"},
}

// templatePage is how many templates the sandbox puts on a page, small so that
// clients exercise the carriers' paging.
const templatePage = 2

// pageBounds reads a zero-based page start from cursor and returns the page's end.
func pageBounds(cursor string, size int) (start, end int) {
	start, _ = strconv.Atoi(cursor)
	if start < 0 || start > len(catalogue) {
		start = len(catalogue)
	}
	return start, min(start+size, len(catalogue))
}

// messageTemplates serves GET /{version}/{waba-id}/message_templates as the Graph API
// does: name, language, status, category and components, with cursor paging.
func (m *Meta) messageTemplates(w http.ResponseWriter, r *http.Request) {
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); !ok || tok == "" {
		graphFail(w, http.StatusUnauthorized, 190, "An access token is required to request this resource.")
		return
	}
	q := r.URL.Query()
	size := templatePage
	if n, err := strconv.Atoi(q.Get("limit")); err == nil && n > 0 && n < size {
		size = n
	}
	start, end := pageBounds(q.Get("after"), size)
	data := []map[string]any{}
	for _, t := range catalogue[start:end] {
		var comps []map[string]any
		if t.header != "" {
			comps = append(comps, map[string]any{"type": "HEADER", "format": "TEXT", "text": t.header})
		}
		body := map[string]any{"type": "BODY", "text": t.body}
		if len(t.samples) > 0 {
			body["example"] = map[string]any{"body_text": [][]string{t.samples}}
		}
		comps = append(comps, body)
		if t.footer != "" {
			comps = append(comps, map[string]any{"type": "FOOTER", "text": t.footer})
		}
		data = append(data, map[string]any{"id": t.id, "name": t.name, "language": t.metaLang,
			"status": t.status, "category": t.category, "components": comps})
	}
	paging := map[string]any{"cursors": map[string]string{"before": strconv.Itoa(start), "after": strconv.Itoa(end)}}
	if end < len(catalogue) {
		next := *r.URL
		nq := next.Query()
		nq.Set("after", strconv.Itoa(end))
		next.RawQuery = nq.Encode()
		paging["next"] = "https://graph.facebook.com" + next.RequestURI()
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": data, "paging": paging})
}

// contentAndApprovals serves GET /v1/ContentAndApprovals as Twilio's Content API does:
// each content template with its types, variables and WhatsApp approval, paged with
// meta.next_page_url.
func (t *Twilio) contentAndApprovals(w http.ResponseWriter, r *http.Request) {
	if !t.authorized(w, r, false) {
		return
	}
	q := r.URL.Query()
	size := templatePage
	if n, err := strconv.Atoi(q.Get("PageSize")); err == nil && n > 0 && n < size {
		size = n
	}
	page, _ := strconv.Atoi(q.Get("Page"))
	start, end := pageBounds(q.Get("PageToken"), size)
	contents := []map[string]any{}
	for i, c := range catalogue[start:end] {
		vars := map[string]string{}
		for j, s := range c.samples {
			vars[strconv.Itoa(j+1)] = s
		}
		sid := contentSID(start + i)
		contents = append(contents, map[string]any{
			"sid": sid, "account_sid": t.cfg.AccountSID, "friendly_name": c.name, "language": c.twilioLang,
			"date_created": "2026-01-05T10:00:00Z", "date_updated": "2026-01-06T10:00:00Z",
			"variables": vars, "types": map[string]any{"twilio/text": map[string]string{"body": c.body}},
			"url": "https://content.twilio.com/v1/Content/" + sid,
			"approval_requests": map[string]any{"name": c.name, "category": c.category, "content_type": "twilio/text",
				"status": strings.ToLower(c.status), "rejection_reason": rejection(c.status), "allow_category_change": true,
				"type": "whatsapp"},
		})
	}
	pageURL := func(p int, token string) string {
		v := url.Values{"PageSize": {strconv.Itoa(size)}, "Page": {strconv.Itoa(p)}}
		if token != "" {
			v.Set("PageToken", token)
		}
		return "https://content.twilio.com/v1/ContentAndApprovals?" + v.Encode()
	}
	meta := map[string]any{"page": page, "page_size": size, "first_page_url": pageURL(0, ""),
		"previous_page_url": nil, "url": pageURL(page, q.Get("PageToken")), "next_page_url": nil, "key": "contents"}
	if end < len(catalogue) {
		meta["next_page_url"] = pageURL(page+1, strconv.Itoa(end))
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	writeJSON(w, http.StatusOK, map[string]any{"contents": contents, "meta": meta})
}

// contentSID is the Content SID of the catalogue's i-th template.
func contentSID(i int) string { return fmt.Sprintf("HX%032x", i+1) }

// renderContent fills a content template's variables (ContentVariables, a JSON
// object) into its body, as the customer would see it; ok is false for an unknown SID.
func renderContent(sid, variables string) (string, bool) {
	for i, c := range catalogue {
		if contentSID(i) != sid {
			continue
		}
		vars := map[string]string{}
		_ = json.Unmarshal([]byte(variables), &vars) // absent or bad: placeholders stay
		body := c.body
		for k, v := range vars {
			body = strings.ReplaceAll(body, "{{"+k+"}}", v)
		}
		return body, true
	}
	return "", false
}

func rejection(status string) string {
	if status == "REJECTED" {
		return "The template's content does not follow the commerce policy."
	}
	return ""
}

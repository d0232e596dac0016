package twilio

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"

	twclient "github.com/twilio/twilio-go/client"
	contentapi "github.com/twilio/twilio-go/rest/content/v1"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/adapters"
)

// DefaultContentURL is Twilio's Content API, used when Config.ContentURL is empty.
const DefaultContentURL = "https://content.twilio.com"

// maxTemplates bounds one listing of the account's content templates.
const maxTemplates = 1000

var _ adapters.TemplateLister = (*Twilio)(nil)

// Templates lists the account's content templates with their WhatsApp approval
// (GET /v1/ContentAndApprovals). Content templates belong to the account, so every
// WhatsApp sender of the account gets the same list; other channels have none
// (adapters.ErrNoTemplates). A template is named by its WhatsApp template name when
// it was submitted for approval, else by its friendly name; one never submitted has
// status "unsubmitted".
func (t *Twilio) Templates(ctx context.Context, ch omnigate.Channel, from string) ([]adapters.Template, error) {
	if ch != omnigate.WhatsApp {
		return nil, adapters.ErrNoTemplates
	}
	base := t.cfg.ContentURL
	if base == "" {
		base = DefaultContentURL
	}
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return nil, adapters.Permanent("bad_config", "twilio: content_url is not an absolute URL", err)
	}
	x := &exchange{ctx: ctx, next: t.retrying}
	c := &twclient.Client{
		Credentials: twclient.NewCredentials(t.cfg.AccountSID, t.cfg.AuthToken),
		HTTPClient: &http.Client{Transport: x,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
	}
	c.SetAccountSid(t.cfg.AccountSID)
	svc := contentapi.NewApiServiceWithClient(&rebasedClient{Client: c, base: u})
	records, err := svc.ListContentAndApprovals(new(contentapi.ListContentAndApprovalsParams).SetPageSize(100).SetLimit(maxTemplates))
	if err != nil {
		return nil, fmt.Errorf("twilio: list templates: %w", t.classify(ctx, x, err))
	}
	out := make([]adapters.Template, 0, len(records))
	for _, r := range records {
		tm := adapters.Template{Status: "unsubmitted", Variables: []string{}}
		if r.Sid != nil {
			tm.ProviderID = *r.Sid
		}
		if r.FriendlyName != nil {
			tm.Name = *r.FriendlyName
		}
		if r.Language != nil {
			tm.Language = *r.Language
		}
		if r.ApprovalRequests != nil {
			a := *r.ApprovalRequests
			if name, _ := a["name"].(string); name != "" {
				tm.Name = name
			}
			if st, _ := a["status"].(string); st != "" {
				tm.Status = strings.ToLower(st)
			}
			cat, _ := a["category"].(string)
			tm.Category = strings.ToUpper(cat)
		}
		if r.Types != nil {
			tm.Body = contentBody(*r.Types)
		}
		tm.Variables = contentVariables(r.Variables, tm.Body)
		if tm.Name == "" || tm.Language == "" {
			continue // nothing a send could name
		}
		out = append(out, tm)
	}
	return out, nil
}

// contentBody is the text of a content template: the body of its first type that has
// one (twilio/text, twilio/quick-reply, twilio/media...), else a card's title.
func contentBody(types map[string]any) string {
	keys := make([]string, 0, len(types))
	for k := range types {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if v, ok := types[k].(map[string]any); ok {
			if b, _ := v["body"].(string); b != "" {
				return b
			}
		}
	}
	for _, k := range keys {
		if v, ok := types[k].(map[string]any); ok {
			if b, _ := v["title"].(string); b != "" {
				return b
			}
		}
	}
	return ""
}

// contentVariables are the template's variables: the keys of its variables object
// (their sample values), in the order the body uses them, then any the body lacks.
func contentVariables(vars *map[string]any, body string) []string {
	out := adapters.TemplateVariables(body)
	if vars == nil {
		return out
	}
	seen := map[string]bool{}
	for _, v := range out {
		seen[v] = true
	}
	var extra []string
	for k := range *vars {
		if !seen[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	return append(out, extra...)
}

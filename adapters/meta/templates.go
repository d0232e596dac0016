package meta

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/adapters"
)

var _ adapters.TemplateLister = (*Meta)(nil)

// maxTemplatePages bounds one listing (100 templates a page): a WhatsApp Business
// Account holds at most a few hundred.
const maxTemplatePages = 50

// waTemplateList is a page of GET /{waba-id}/message_templates.
type waTemplateList struct {
	Data []struct {
		ID         string `json:"id"`
		Name       string `json:"name"`
		Language   string `json:"language"`
		Status     string `json:"status"`
		Category   string `json:"category"`
		Components []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"components"`
	} `json:"data"`
	Paging struct {
		Cursors struct {
			After string `json:"after"`
		} `json:"cursors"`
		Next string `json:"next"`
	} `json:"paging"`
}

// Templates lists the message templates of the WhatsApp Business Account that from
// belongs to (WhatsAppBusinessAccountIDs), following Graph's cursor paging. Only
// WhatsApp has templates; adapters.ErrNoTemplates when from has no account id.
func (m *Meta) Templates(ctx context.Context, ch omnigate.Channel, from string) ([]adapters.Template, error) {
	waba := m.cfg.WhatsAppBusinessAccountIDs[from]
	if ch != omnigate.WhatsApp || waba == "" {
		return nil, adapters.ErrNoTemplates
	}
	var out []adapters.Template
	after := ""
	for range maxTemplatePages {
		q := url.Values{"fields": {"name,language,status,category,components"}, "limit": {"100"}}
		if after != "" {
			q.Set("after", after)
		}
		var page waTemplateList
		if err := m.get(ctx, "/"+url.PathEscape(waba)+"/message_templates?"+q.Encode(), m.cfg.WhatsAppToken, &page); err != nil {
			return nil, err
		}
		for _, t := range page.Data {
			tm := adapters.Template{Name: t.Name, Language: t.Language, Category: strings.ToUpper(t.Category),
				Status: strings.ToLower(t.Status), ProviderID: t.ID, Variables: []string{}}
			for _, c := range t.Components {
				if strings.EqualFold(c.Type, "BODY") {
					tm.Body = c.Text
					tm.Variables = adapters.TemplateVariables(c.Text)
				}
			}
			out = append(out, tm)
		}
		// Graph gives a next link only while more pages follow.
		if page.Paging.Next == "" || page.Paging.Cursors.After == "" || page.Paging.Cursors.After == after {
			return out, nil
		}
		after = page.Paging.Cursors.After
	}
	return nil, adapters.Permanent(codeBadResponse, fmt.Sprintf("meta: more than %d pages of templates", maxTemplatePages), nil)
}

package messaging

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/adapters"
	"github.com/omnigate/omnigate/store"
)

// TemplateSource lists the carrier's templates for sending from one of our addresses
// on ch. adapters.ErrNoTemplates: the configuration names no catalogue for it.
type TemplateSource func(ctx context.Context, ch omnigate.Channel, from string) ([]adapters.Template, error)

// Template is an approved template as agents see it.
type Template struct {
	Name     string `json:"name"`
	Language string `json:"language"`
	Category string `json:"category,omitempty"`
	// Body is the template's text; Variables name its placeholders ({{1}}, {{name}}),
	// every one of which a send must fill.
	Body      string   `json:"body"`
	Variables []string `json:"variables"`
}

// TemplateList answers GET /v1/templates.
type TemplateList struct {
	Queue   string           `json:"queue"`
	Channel omnigate.Channel `json:"channel"`
	Address string           `json:"address"`
	// SyncedAt is when the catalogue was last read from the carrier; nil: never.
	SyncedAt  *time.Time `json:"synced_at"`
	Templates []Template `json:"templates"`
}

// TemplateSync is the outcome of syncing one address's catalogue.
type TemplateSync struct {
	Channel omnigate.Channel `json:"channel"`
	Address string           `json:"address"`
	// Templates and Approved count what the carrier reported.
	Templates int `json:"templates"`
	Approved  int `json:"approved"`
	// Status is synced, not_configured (no catalogue for this address) or failed
	// (Error says why; the stored catalogue is kept).
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

// Template sync statuses.
const (
	SyncOK            = "synced"
	SyncNotConfigured = "not_configured"
	SyncFailed        = "failed"
)

func approvedViews(set store.TemplateSet) []Template {
	out := []Template{}
	for _, t := range set.Templates {
		if t.Approved() {
			out = append(out, Template{Name: t.Name, Language: t.Language, Category: t.Category, Body: t.Body,
				Variables: slices.Clone(t.Variables)})
		}
	}
	return out
}

// Templates lists the approved templates that can be sent from queueID's address on
// ch, as last synced from the carrier. Refusals: queue_not_found (404),
// not_queue_member (403) unless p is a member or an admin, templates_unsupported
// (422) on a channel without templates, no_outbound_address (422).
func (s *Service) Templates(ctx context.Context, p omnigate.Principal, queueID string, ch omnigate.Channel) (TemplateList, error) {
	q, ok := s.cfg.Queues()[queueID]
	switch {
	case !ok:
		return TemplateList{}, refuse(KindNotFound, "queue_not_found", "no queue "+queueID, nil)
	case !p.MemberOf(q.ID) && !p.Can(omnigate.PermAdmin):
		return TemplateList{}, refuse(KindForbidden, "not_queue_member", "you can only list the templates of queues you belong to", nil)
	case ch != omnigate.WhatsApp:
		return TemplateList{}, refuse(KindUnprocessable, "templates_unsupported",
			"message templates are a whatsapp feature", map[string]any{"channel": ch})
	case q.Address(ch) == "":
		return TemplateList{}, refuse(KindUnprocessable, "no_outbound_address",
			fmt.Sprintf("queue %q has no %s address", q.ID, ch), nil)
	}
	set, err := s.cfg.Store.Templates(ctx, ch, q.Address(ch))
	if err != nil {
		return TemplateList{}, err
	}
	out := TemplateList{Queue: q.ID, Channel: ch, Address: q.Address(ch), Templates: approvedViews(set)}
	if !set.SyncedAt.IsZero() {
		at := set.SyncedAt
		out.SyncedAt = &at
	}
	return out, nil
}

// SyncTemplates reads the template catalogue of every WhatsApp address of the
// configured queues from its carrier now (an administrator's refresh). Refusal:
// forbidden (403) without the admin permission.
func (s *Service) SyncTemplates(ctx context.Context, p omnigate.Principal) ([]TemplateSync, error) {
	if !p.Can(omnigate.PermAdmin) {
		return nil, refuse(KindForbidden, "forbidden", "syncing templates needs the admin permission",
			map[string]any{"permission": omnigate.PermAdmin})
	}
	return s.syncTemplates(ctx)
}

// syncTemplates syncs every address; one failing carrier fails no other address.
func (s *Service) syncTemplates(ctx context.Context) ([]TemplateSync, error) {
	out := []TemplateSync{}
	if s.cfg.Templates == nil {
		return out, nil
	}
	seen := map[string]bool{}
	var addrs []string
	for _, q := range s.cfg.Queues() {
		if a := q.Address(omnigate.WhatsApp); a != "" && !seen[a] {
			seen[a] = true
			addrs = append(addrs, a)
		}
	}
	sort.Strings(addrs)
	for _, addr := range addrs {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		r := TemplateSync{Channel: omnigate.WhatsApp, Address: addr, Status: SyncOK}
		ts, err := s.cfg.Templates(ctx, omnigate.WhatsApp, addr)
		switch {
		case errors.Is(err, adapters.ErrNoTemplates):
			r.Status = SyncNotConfigured
		case err != nil:
			r.Status, r.Error = SyncFailed, err.Error()
			s.cfg.Log.Warn("template sync failed; the stored catalogue stays", "address", addr, "err", err)
		default:
			stored := make([]store.Template, 0, len(ts))
			for _, t := range ts {
				stored = append(stored, store.Template{Name: t.Name, Language: t.Language, Category: t.Category,
					Status: t.Status, Body: t.Body, Variables: t.Variables, ProviderID: t.ProviderID})
				if t.Status == "approved" {
					r.Approved++
				}
			}
			r.Templates = len(ts)
			if err := s.cfg.Store.ReplaceTemplates(ctx, omnigate.WhatsApp, addr, stored, s.cfg.Now().UTC()); err != nil {
				return out, err
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// RunTemplateSync syncs the template catalogues now and then every interval until ctx
// ends.
func (s *Service) RunTemplateSync(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if res, err := s.syncTemplates(ctx); err != nil && ctx.Err() == nil {
			s.cfg.Log.Warn("template sync failed; will try again", "err", err)
		} else if len(res) > 0 {
			s.cfg.Log.Info("message templates synced", "addresses", len(res))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// TemplateProviderID returns the carrier's id (Twilio's Content SID) of an approved
// synced template of from; ok is false when there is none.
func (s *Service) TemplateProviderID(ctx context.Context, ch omnigate.Channel, from, name, language string) (string, bool) {
	set, err := s.cfg.Store.Templates(ctx, ch, from)
	if err != nil {
		return "", false
	}
	for _, t := range set.Templates {
		if t.Name == name && t.Language == language && t.Approved() && t.ProviderID != "" {
			return t.ProviderID, true
		}
	}
	return "", false
}

// checkTemplate refuses, with 422, a WhatsApp send naming a template the synced
// catalogue of from does not have approved in that language, or with other variables
// than its placeholders: template_unknown, template_not_approved, template_language,
// template_variables. An address whose catalogue was never synced is not checked
// (the carrier decides), so a carrier without a catalogue loses nothing.
func (s *Service) checkTemplate(ctx context.Context, ch omnigate.Channel, from string, t *omnigate.Template) error {
	if t == nil || ch != omnigate.WhatsApp {
		return nil
	}
	set, err := s.cfg.Store.Templates(ctx, ch, from)
	if err != nil {
		return err
	}
	if set.SyncedAt.IsZero() {
		return nil
	}
	var named []store.Template
	var languages []string
	for _, c := range set.Templates {
		if c.Name == t.Name {
			named = append(named, c)
			if c.Approved() {
				languages = append(languages, c.Language)
			}
		}
	}
	if len(named) == 0 {
		return refuse(KindUnprocessable, "template_unknown",
			fmt.Sprintf("no template %q can be sent from %s; GET /v1/templates lists those that can", t.Name, from),
			map[string]any{"template": t.Name})
	}
	i := slices.IndexFunc(named, func(c store.Template) bool { return c.Language == t.Language })
	switch {
	case i < 0 && len(languages) == 0:
		return refuse(KindUnprocessable, "template_not_approved",
			fmt.Sprintf("template %q is not approved by the carrier", t.Name), map[string]any{"template": t.Name, "status": named[0].Status})
	case i < 0:
		return refuse(KindUnprocessable, "template_language",
			fmt.Sprintf("template %q has no approved %q version; it exists in %s", t.Name, t.Language, strings.Join(languages, ", ")),
			map[string]any{"template": t.Name, "languages": languages})
	case !named[i].Approved():
		return refuse(KindUnprocessable, "template_not_approved",
			fmt.Sprintf("template %q (%s) is not approved by the carrier", t.Name, t.Language),
			map[string]any{"template": t.Name, "status": named[i].Status})
	}
	want := slices.Clone(named[i].Variables)
	got := make([]string, 0, len(t.Variables))
	for k := range t.Variables {
		got = append(got, k)
	}
	sort.Strings(want)
	sort.Strings(got)
	if !slices.Equal(want, got) {
		return refuse(KindUnprocessable, "template_variables",
			fmt.Sprintf("template %q (%s) takes %d variables (%s); the send gave %d", t.Name, t.Language,
				len(want), strings.Join(named[i].Variables, ", "), len(got)),
			map[string]any{"template": t.Name, "variables": named[i].Variables})
	}
	return nil
}

// offerTemplates lists, on each dry-run result refused because only a template may
// be sent, the approved templates of from.
func (s *Service) offerTemplates(ctx context.Context, ch omnigate.Channel, from string, results []Result) error {
	var offer []Template
	loaded := false
	for i, r := range results {
		if r.Decision == nil || r.Decision.Allow || !r.Decision.RequiresTemplate {
			continue
		}
		if !loaded {
			set, err := s.cfg.Store.Templates(ctx, ch, from)
			if err != nil {
				return err
			}
			offer, loaded = approvedViews(set), true
		}
		results[i].Templates = offer
		if results[i].Templates == nil {
			results[i].Templates = []Template{}
		}
	}
	return nil
}

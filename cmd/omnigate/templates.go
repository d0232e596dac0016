package main

import (
	"context"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/adapters"
	"github.com/omnigate/omnigate/messaging"
)

// contentSID finds the Content SID of a template synced from Twilio's Content API.
type contentSID = func(ctx context.Context, from, name, language string) (string, bool)

// contentSID looks a synced template's Content SID up for the Twilio adapter. The
// service exists before the relay first sends.
func (d *daemon) contentSID(ctx context.Context, from, name, language string) (string, bool) {
	if d.svc == nil {
		return "", false
	}
	return d.svc.TemplateProviderID(ctx, omnigate.WhatsApp, from, name, language)
}

// templateSource lists templates through whichever adapter carries the channel now
// (a reload may swap it).
func templateSource(carriers *adapters.Registry) messaging.TemplateSource {
	return func(ctx context.Context, ch omnigate.Channel, from string) ([]adapters.Template, error) {
		a, ok := carriers.For(ch)
		if !ok {
			return nil, adapters.ErrNoTemplates
		}
		l, ok := a.(adapters.TemplateLister)
		if !ok {
			return nil, adapters.ErrNoTemplates
		}
		return l.Templates(ctx, ch, from)
	}
}

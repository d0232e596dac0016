package adapters

import (
	"context"
	"errors"
	"regexp"

	"github.com/omnigate/omnigate"
)

// Template is a message template as a carrier reports it.
type Template struct {
	Name     string
	Language string
	Category string // upper case: MARKETING, UTILITY, AUTHENTICATION
	// Status is the carrier's review status in lower case; "approved" can be sent.
	Status string
	// Body is the text of the template's body with its placeholders.
	Body string
	// Variables are the body's placeholders in the order they first appear.
	Variables []string
	// ProviderID is the carrier's id: Meta's template id, Twilio's Content SID.
	ProviderID string
}

// TemplateLister is an adapter that can list the message templates usable from one
// of our addresses (a WhatsApp number).
type TemplateLister interface {
	// Templates returns every template the carrier holds for sending from from on
	// ch, approved or not. Errors: ErrNoTemplates when the configuration names no
	// template catalogue for from, *RetryableError, *PermanentError, context errors.
	Templates(ctx context.Context, ch omnigate.Channel, from string) ([]Template, error)
}

// ErrNoTemplates reports that no template catalogue is configured for an address.
var ErrNoTemplates = errors.New("no template catalogue configured for this address")

var placeholder = regexp.MustCompile(`\{\{\s*([A-Za-z0-9_]+)\s*\}\}`)

// TemplateVariables returns the placeholders of a template body ("{{1}}",
// "{{first_name}}"), each once, in the order they first appear.
func TemplateVariables(body string) []string {
	out := []string{}
	seen := map[string]bool{}
	for _, m := range placeholder.FindAllStringSubmatch(body, -1) {
		if !seen[m[1]] {
			seen[m[1]] = true
			out = append(out, m[1])
		}
	}
	return out
}

package messaging

import "github.com/omnigate/omnigate"

// part is one carrier message a send becomes.
type part struct {
	Text  string
	Media []omnigate.Media
}

// parts splits a send into the carrier messages it becomes. Messenger's and Instagram's
// Send API carries text or one attachment per message, never both, so a send with
// several attachments, or with text and attachments, becomes one message per
// attachment in the order given, then the text (read as the caption below them, as on
// WhatsApp). Each part is a message of its own: its own outbox row in the
// conversation's order, status, attempts and carrier id. A part that went out is
// therefore never sent again by another part's retry, and a part that failed fails
// alone. Every other send is one message.
func parts(ch omnigate.Channel, text string, tpl *omnigate.Template, media []omnigate.Media) []part {
	split := (ch == omnigate.Messenger || ch == omnigate.Instagram) && tpl == nil &&
		(len(media) > 1 || (len(media) == 1 && text != ""))
	if !split {
		return []part{{Text: text, Media: media}}
	}
	out := make([]part, 0, len(media)+1)
	for _, m := range media {
		out = append(out, part{Media: []omnigate.Media{m}})
	}
	if text != "" {
		out = append(out, part{Text: text})
	}
	return out
}

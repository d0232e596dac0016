package messaging

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/egress"
)

// MaxRecipients is how many recipients one send may name.
const MaxRecipients = 50

// SendRequest is a send as the caller asked for it, before any check. Send, Check and
// SendOnce validate it completely (every bad field is reported at once, because a
// compose form needs the queue and the number both to be right), check that the
// principal may send for the queue, and normalise the addresses.
type SendRequest struct {
	Principal omnigate.Principal
	// Queue is the queue id; the principal's default queue when empty.
	Queue   string
	Channel omnigate.Channel
	To      Recipients
	// Country is for phone numbers written without a country code; the configured
	// default country when empty.
	Country  string
	Text     string
	Template *omnigate.Template
	Media    []omnigate.Media
	Sender   omnigate.Sender
	Takeover bool
	// Conversation, when set, makes the send a reply inside that conversation: Queue,
	// Channel, To and Country are then taken from it (see prepare).
	Conversation string

	address string // the conversation's own address, for a reply
}

// Recipients are the addresses a send names, as the caller wrote them.
type Recipients struct {
	Addresses []string
	// List reports that the caller gave a list (even of one): problems then name
	// "to[i]", and the answer has one result per recipient.
	List bool
	// Problem says why the caller's recipients could not be read at all ("required",
	// "must be a string or a list of strings"); empty when they could.
	Problem string
}

// send is a validated SendRequest.
type send struct {
	principal omnigate.Principal
	queue     omnigate.Queue
	channel   omnigate.Channel
	to        []string // normalised contact addresses, no duplicates
	text      string
	template  *omnigate.Template
	media     []omnigate.Media
	sender    omnigate.Sender
	takeover  bool
	// conversation pins a reply inside that conversation, sent from address (its own)
	// rather than the queue's.
	conversation string
	address      string
}

// validate checks req completely and resolves its queue and addresses.
func (s *Service) validate(req SendRequest) (send, error) {
	p := req.Principal
	var problems []FieldProblem
	bad := func(field, problem string) { problems = append(problems, FieldProblem{field, problem}) }

	queueID := req.Queue
	if queueID == "" {
		queueID = p.DefaultQueue
	}
	q, queueKnown := s.cfg.Queues()[queueID]
	switch {
	case queueID == "":
		bad("queue", "required (this principal has no default queue)")
	case !queueKnown:
		bad("queue", "no such queue")
	}
	ch := req.Channel
	if !ch.Valid() {
		bad("channel", "must be one of sms, whatsapp, messenger, instagram, x, open")
	}
	country := req.Country
	if country == "" {
		country = s.defaultCountry()
	} else if !omnigate.ValidCountry(country) {
		bad("country", "not an ISO 3166 country code")
	}
	tos := req.To.Addresses
	switch {
	case req.To.Problem != "":
		bad("to", req.To.Problem)
	case req.To.List && (len(tos) == 0 || len(tos) > MaxRecipients):
		bad("to", "a list must have 1 to "+strconv.Itoa(MaxRecipients)+" recipients")
	}
	badAddress := false
	seen := map[string]bool{}
	var normalized []string
	if ch.Valid() {
		for i, t := range tos {
			n, ok := omnigate.NormalizeAddress(ch, t, country)
			field := "to"
			if req.To.List {
				field = "to[" + strconv.Itoa(i) + "]"
			}
			switch {
			case !ok:
				badAddress = true
				switch {
				case ch.UsesPhoneNumbers():
					bad(field, "not a valid phone number for country "+strings.ToUpper(country))
				case ch.UsesNumericIDs():
					bad(field, "must be the contact's numeric "+string(ch)+" user id")
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
	case req.Template != nil && (req.Text != "" || len(req.Media) > 0):
		bad("template", "a template is sent on its own, without text or media")
	case req.Template == nil && req.Text == "" && len(req.Media) == 0:
		bad("text", "one of text, template or media is required")
	}
	if req.Template != nil && (req.Template.Name == "" || req.Template.Language == "") {
		bad("template", "name and language are required")
	}
	for i, m := range req.Media {
		field := "media[" + strconv.Itoa(i) + "].url"
		switch u, err := url.Parse(m.URL); {
		case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
			bad(field, "must be an absolute http(s) URL")
		case !s.cfg.AllowPrivateMedia && egress.CheckURL(m.URL) != nil:
			// A carrier or an open-messaging integration would fetch it from inside.
			bad(field, "must not point at a loopback, private or link-local address")
		}
	}
	if req.Sender != "" && req.Sender != omnigate.Human && req.Sender != omnigate.Automated {
		bad("sender", "must be human or automated")
	}
	if len(problems) > 0 {
		switch {
		case len(problems) == 1 && !queueKnown && queueID != "":
			return send{}, refuse(KindNotFound, "queue_not_found", "no queue "+queueID, nil)
		case len(problems) == len(tos) && badAddress && queueKnown:
			return send{}, invalid("invalid_address", problems[0].Problem, problems...)
		default:
			return send{}, invalid("invalid_request", "the request has invalid fields", problems...)
		}
	}
	if !p.Can(omnigate.PermSend) {
		return send{}, forbidden(omnigate.PermSend)
	}
	if !p.MemberOf(q.ID) {
		return send{}, refuse(KindForbidden, "not_queue_member", "you can only send on behalf of queues you belong to", nil)
	}
	if q.Address(ch) == "" && req.address == "" {
		return send{}, refuse(KindUnprocessable, "no_outbound_address", "queue "+q.ID+" has no "+string(ch)+" address", nil)
	}
	sender := req.Sender
	if sender == "" {
		sender = omnigate.Human
	}
	return send{principal: p, queue: q, channel: ch, to: normalized, text: req.Text, template: req.Template,
		media: req.Media, sender: sender, takeover: req.Takeover, address: req.address}, nil
}

// forbidden refuses a principal that lacks perm.
func forbidden(perm string) *Error {
	return refuse(KindForbidden, "forbidden", "this key lacks the "+perm+" permission", map[string]any{"permission": perm})
}

func (s *Service) defaultCountry() string {
	if s.cfg.DefaultCountry == nil {
		return ""
	}
	return s.cfg.DefaultCountry()
}

package main

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"regexp"
	"sync"
	"time"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/config"
)

// consoleFiles are the console's page, style and script: plain files, no build step.
//
//go:embed console
var consoleFiles embed.FS

// console is the sandbox console at /sandbox/: a page that shows every simulated
// customer's conversation per channel, live from the platform events the sandbox's
// platform receives (server-sent events), and lets a person act as the customer through
// the sandbox carriers, which post to omnigate's real signed webhooks. It answers
// loopback clients only.
type console struct {
	fakes    *sandboxSet
	platform *eventSink // nil: events go elsewhere, or nowhere
	channels []consoleChannel
	// events reports whether events.url is the sandbox's platform, whose events the
	// console shows.
	events bool
	// waTwilio: the sandbox Twilio carries WhatsApp (else the sandbox Graph API).
	waTwilio bool

	once sync.Once
	done chan struct{} // closed at shutdown: event streams end
}

// consoleChannel is one of our addresses a sandbox carrier serves.
type consoleChannel struct {
	Channel   omnigate.Channel `json:"channel"`
	Address   string           `json:"address"`
	Queue     string           `json:"queue"`
	QueueName string           `json:"queue_name"`
	// Actions are what the customer can do besides writing: "stop", "typing",
	// "unsend", "story".
	Actions []string `json:"actions"`
}

func newConsole(cfg *config.Config, fakes *sandboxSet, platform *eventSink, events bool) *console {
	c := &console{fakes: fakes, platform: platform, events: events && platform != nil, done: make(chan struct{})}
	whatsAppByTwilio := cfg.Providers.WhatsAppProvider != "meta"
	c.waTwilio = whatsAppByTwilio
	for _, q := range cfg.DomainQueues() {
		for _, ch := range omnigate.AllChannels() {
			addr := q.Address(ch)
			if addr == "" {
				continue
			}
			served, actions := false, []string{}
			switch ch {
			case omnigate.SMS:
				served, actions = fakes.twilio != nil, []string{"stop", "photo"}
			case omnigate.WhatsApp:
				served, actions = (whatsAppByTwilio && fakes.twilio != nil) || (!whatsAppByTwilio && fakes.meta != nil), []string{"photo"}
			case omnigate.Messenger:
				served, actions = fakes.meta != nil, []string{"photo"}
			case omnigate.Instagram:
				served, actions = fakes.meta != nil, []string{"unsend", "story", "photo"}
			case omnigate.X:
				served, actions = fakes.x != nil, []string{"typing", "photo"}
			case omnigate.Open:
				served, actions = fakes.open[addr] != nil, []string{"typing"}
			}
			if served {
				c.channels = append(c.channels, consoleChannel{Channel: ch, Address: addr, Queue: q.ID, QueueName: q.Name, Actions: actions})
			}
		}
	}
	return c
}

// mount registers the console's routes on the sandbox's mux.
func (c *console) mount(mux *http.ServeMux) {
	static, _ := fs.Sub(consoleFiles, "console")
	files := http.FileServerFS(static)
	mux.Handle("GET /sandbox/{$}", loopbackOnly(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeFileFS(w, r, static, "index.html")
	})))
	mux.Handle("GET /sandbox/console/static/", loopbackOnly(http.StripPrefix("/sandbox/console/static/", files)))
	mux.Handle("GET /sandbox/console/setup", loopbackOnly(http.HandlerFunc(c.setup)))
	mux.Handle("GET /sandbox/console/stream", loopbackOnly(http.HandlerFunc(c.stream)))
	mux.Handle("POST /sandbox/console/customer", loopbackOnly(http.HandlerFunc(c.customer)))
}

// close ends the event streams, so a graceful shutdown does not wait for them.
func (c *console) close() { c.once.Do(func() { close(c.done) }) }

// loopbackOnly answers 403 to any client not on this machine: the console acts as
// customers and shows message contents.
func loopbackOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			http.Error(w, "the sandbox console answers only on this machine (loopback)", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (c *console) setup(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"channels": c.channels, "events": c.events})
}

// stream sends every platform event the sandbox's platform kept, then each new one, as
// server-sent events. A browser's EventSource reconnects by itself and gets the kept
// events again; the page ignores the ids it has seen.
func (c *console) stream(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	// A stream outlives the server's read and write timeouts.
	rc.SetReadDeadline(time.Time{})
	rc.SetWriteDeadline(time.Time{})
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	if c.platform == nil {
		fmt.Fprint(w, "retry: 60000\n\n")
		rc.Flush()
		select {
		case <-r.Context().Done():
		case <-c.done:
		}
		return
	}
	past, next, cancel := c.platform.subscribe()
	defer cancel()
	fmt.Fprint(w, "retry: 1000\n\n")
	for _, ev := range past {
		fmt.Fprintf(w, "data: %s\n\n", ev)
	}
	if rc.Flush() != nil {
		return
	}
	ping := time.NewTicker(15 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-c.done:
			return
		case ev, ok := <-next:
			if !ok {
				return // fell behind: the browser reconnects and catches up
			}
			fmt.Fprintf(w, "data: %s\n\n", ev)
		case <-ping.C:
			fmt.Fprint(w, ": ping\n\n")
		}
		if rc.Flush() != nil {
			return
		}
	}
}

// customerAction is what the console asks a simulated customer to do.
type customerAction struct {
	Channel omnigate.Channel `json:"channel"`
	Address string           `json:"address"` // ours
	Contact string           `json:"contact"`
	Action  string           `json:"action"` // say (default), typing, unsend, story, photo
	Text    string           `json:"text"`
	// CarrierID is the carrier's id of the message to unsend.
	CarrierID string `json:"carrier_id"`
}

var (
	phoneContact = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	idContact    = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)
	digitContact = regexp.MustCompile(`^[0-9]{1,32}$`)
)

func (c *console) customer(w http.ResponseWriter, r *http.Request) {
	var a customerAction
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&a); err != nil {
		consoleError(w, http.StatusBadRequest, "the body is not a customer action")
		return
	}
	if a.Action == "" {
		a.Action = "say"
	}
	var ch *consoleChannel
	for i := range c.channels {
		if c.channels[i].Channel == a.Channel && c.channels[i].Address == a.Address {
			ch = &c.channels[i]
		}
	}
	switch {
	case ch == nil:
		consoleError(w, http.StatusNotFound, "no sandbox carrier serves this channel and address")
		return
	case a.Channel.UsesPhoneNumbers() && !phoneContact.MatchString(a.Contact):
		consoleError(w, http.StatusBadRequest, "the customer's number must be E.164, such as +14155550100")
		return
	case (a.Channel == omnigate.Messenger || a.Channel == omnigate.Instagram || a.Channel == omnigate.X) && !digitContact.MatchString(a.Contact):
		consoleError(w, http.StatusBadRequest, "the customer's id must be digits on "+string(a.Channel))
		return
	case !a.Channel.UsesPhoneNumbers() && !idContact.MatchString(a.Contact):
		consoleError(w, http.StatusBadRequest, "the customer's id may hold letters, digits, '.', '_', ':' and '-'")
		return
	case a.Action == "say" && a.Text == "":
		consoleError(w, http.StatusBadRequest, "write something first")
		return
	}
	id, err := c.act(a)
	if err != nil {
		consoleError(w, http.StatusBadRequest, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	json.NewEncoder(w).Encode(map[string]string{"carrier_id": id})
}

var errNoSuchAction = errors.New("this carrier has no such customer action")

// act has the carrier post what the customer did; it returns the carrier's message id.
func (c *console) act(a customerAction) (string, error) {
	f := c.fakes
	switch a.Channel {
	case omnigate.SMS:
		if a.Action == "say" {
			return f.twilio.Say(a.Contact, a.Address, a.Text)
		}
		if a.Action == "photo" {
			return f.twilio.SayPhoto(a.Contact, a.Address, a.Text)
		}
	case omnigate.WhatsApp:
		if a.Action == "say" && c.waTwilio {
			return f.twilio.Say("whatsapp:"+a.Contact, "whatsapp:"+a.Address, a.Text)
		}
		if a.Action == "say" {
			return f.meta.Say(a.Address, a.Contact, a.Text)
		}
		if a.Action == "photo" && c.waTwilio {
			return f.twilio.SayPhoto("whatsapp:"+a.Contact, "whatsapp:"+a.Address, a.Text)
		}
		if a.Action == "photo" {
			return f.meta.SayPhoto(a.Address, a.Contact, a.Text)
		}
	case omnigate.Messenger, omnigate.Instagram:
		switch a.Action {
		case "say":
			return f.meta.Say(a.Address, a.Contact, a.Text)
		case "unsend":
			if a.CarrierID == "" {
				return "", errors.New("name the message to unsend")
			}
			return a.CarrierID, f.meta.Unsend(a.Address, a.Contact, a.CarrierID)
		case "story":
			return f.meta.StoryMention(a.Address, a.Contact)
		case "photo":
			return f.meta.SayPhoto(a.Address, a.Contact, a.Text)
		}
	case omnigate.X:
		switch a.Action {
		case "say":
			return f.x.Say(a.Address, a.Contact, a.Text)
		case "typing":
			f.x.Typing(a.Address, a.Contact)
			return "", nil
		case "photo":
			return f.x.SayPhoto(a.Address, a.Contact, a.Text)
		}
	case omnigate.Open:
		switch a.Action {
		case "say":
			return f.open[a.Address].Say(a.Contact, a.Text)
		case "typing":
			f.open[a.Address].Typing(a.Contact, true)
			return "", nil
		}
	}
	return "", errNoSuchAction
}

func consoleError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"message": msg}})
}

package open_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/adapters"
	"github.com/omnigate/omnigate/adapters/open"
)

// An integration is an id (the queue's "open" address), the URL its outbound messages
// go to and the secret both sides sign with. Send posts one signed normalized message.
func Example() {
	widget := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"id":"widget-123"}`)
	}))
	defer widget.Close()

	a, err := open.New(open.Config{Integrations: map[string]open.Integration{
		"web-widget": {OutboundURL: widget.URL, Secret: "shared-secret"},
	}})
	if err != nil {
		panic(err)
	}
	rc, err := a.Send(context.Background(), adapters.Outbound{
		MessageID: "msg-1", Channel: omnigate.Open, From: "web-widget", To: "contact-42", Text: "Hello!",
	})
	fmt.Println(rc.ProviderMessageID, rc.Status, err)
	// Output: widget-123 sent <nil>
}

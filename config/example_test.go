package config_test

import (
	"fmt"

	"github.com/omnigate/omnigate/config"
)

// Every problem is reported at once, with its path and line, so an operator fixes the
// file in one pass.
func ExampleParse() {
	_, err := config.Parse([]byte(`sandbox: true
queues:
  - id: support
    addresses: {sms: "555-0100"}
    nmae: Support
principals:
  - id: ann
    key_sha256: "ef5f3934d98ff49d3e399f60826aa8e72e9126b09b957e12f6f5725436197e4d"
    queues: [support]
    default_queue: billing
`), "")
	fmt.Println(err)
	// Output:
	// omnigate.yaml:4: queues[0].addresses.sms: "555-0100" must be an E.164 number starting with + and the country code, such as +15550001111
	// omnigate.yaml:5: queues[0].nmae: unknown key "nmae" (known keys: id, name, addresses)
	// omnigate.yaml:10: principals[0].default_queue: no queue has id "billing"
}

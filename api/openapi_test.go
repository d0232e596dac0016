package api_test

import (
	"net/http"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/omnigate/omnigate/api"
)

// TestOpenAPICoversRoutes checks the document against the server: every route the
// server registers is documented, and every documented route is served.
func TestOpenAPICoversRoutes(t *testing.T) {
	var doc struct {
		OpenAPI string                            `yaml:"openapi"`
		Paths   map[string]map[string]interface{} `yaml:"paths"`
	}
	if err := yaml.Unmarshal(api.OpenAPI(), &doc); err != nil {
		t.Fatalf("openapi.yaml does not parse: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Errorf("openapi = %q, want 3.1.x", doc.OpenAPI)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			switch method {
			case "get", "post", "put", "patch", "delete":
				documented[strings.ToUpper(method)+" "+path] = true
			}
		}
	}
	srv := api.New(api.Config{})
	// What cmd/omnigate mounts on the server besides the API's own routes.
	for _, p := range []string{"POST /webhooks/twilio", "POST /webhooks/twilio/status", "/webhooks/meta", "/webhooks/x",
		"POST /webhooks/open/{integration}", "GET /metrics"} {
		srv.Handle(p, http.NotFoundHandler())
	}
	served := map[string]bool{}
	for _, p := range srv.Patterns() {
		if strings.HasPrefix(p, "/") { // any method: the carrier's GET handshake and POST deliveries
			served["GET "+p], served["POST "+p] = true, true
			continue
		}
		served[p] = true
	}
	var missing, extra []string
	for r := range served {
		if !documented[r] {
			missing = append(missing, r)
		}
	}
	for r := range documented {
		if !served[r] {
			extra = append(extra, r)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 {
		t.Errorf("served but not documented: %v", missing)
	}
	if len(extra) > 0 {
		t.Errorf("documented but not served: %v", extra)
	}
}

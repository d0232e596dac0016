package api_test

import (
	"net/http"
	"testing"
)

// TestUnmatchedRoutesAnswerErrorShape: unknown /v1 paths and wrong methods answer the
// same {"error": ...} shape as every other refusal, not the mux's plain text.
func TestUnmatchedRoutesAnswerErrorShape(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	tests := []struct {
		method, path string
		status       int
		code, allow  string
	}{
		{http.MethodGet, "/v1/nope", 404, "not_found", ""},
		{http.MethodGet, "/v1/messages/x/y", 404, "not_found", ""},
		{http.MethodDelete, "/v1/messages", 405, "method_not_allowed", "POST"},
		{http.MethodPut, "/v1/conversations/conv_1/assign", 405, "method_not_allowed", "POST"},
		{http.MethodPost, "/v1/queues", 405, "method_not_allowed", "GET, HEAD"},
	}
	for _, tt := range tests {
		r := a.do(t, tt.method, tt.path, agentKey, nil)
		if r.status != tt.status || r.errorCode() != tt.code || r.header.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s: %d %q %q, want %d %s: %s", tt.method, tt.path, r.status, r.errorCode(), r.header.Get("Content-Type"), tt.status, tt.code, r.raw)
		}
		if got := r.header.Get("Allow"); got != tt.allow {
			t.Errorf("%s %s: Allow %q, want %q", tt.method, tt.path, got, tt.allow)
		}
	}
}

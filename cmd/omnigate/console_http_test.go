package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestConsoleLoopbackOnly: the console answers clients on this machine only.
func TestConsoleLoopbackOnly(t *testing.T) {
	h := loopbackOnly(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	for addr, want := range map[string]int{
		"127.0.0.1:5000": http.StatusNoContent, "[::1]:5000": http.StatusNoContent,
		"192.0.2.7:5000": http.StatusForbidden, "[2001:db8::1]:5000": http.StatusForbidden, "garbage": http.StatusForbidden,
	} {
		r := httptest.NewRequest(http.MethodGet, "/sandbox/", nil)
		r.RemoteAddr = addr
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != want {
			t.Errorf("from %s: %d, want %d", addr, w.Code, want)
		}
	}
}

// TestConsoleCustomerRefusals: a customer action the sandbox cannot carry is refused
// with a reason, and nothing is posted.
func TestConsoleCustomerRefusals(t *testing.T) {
	base := exampleDaemon(t)
	for _, tc := range []struct {
		body map[string]string
		want int
	}{
		{map[string]string{"channel": "sms", "address": "+15559999999", "contact": "+14155550100", "text": "hi"}, http.StatusNotFound},
		{map[string]string{"channel": "sms", "address": "+15550001111", "contact": "4155550100", "text": "hi"}, http.StatusBadRequest},
		{map[string]string{"channel": "messenger", "address": "104512345678", "contact": "abc", "text": "hi"}, http.StatusBadRequest},
		{map[string]string{"channel": "open", "address": "web-widget", "contact": "visitor 1", "text": "hi"}, http.StatusBadRequest},
		{map[string]string{"channel": "sms", "address": "+15550001111", "contact": "+14155550100"}, http.StatusBadRequest},
		{map[string]string{"channel": "sms", "address": "+15550001111", "contact": "+14155550100", "action": "typing"}, http.StatusBadRequest},
		{map[string]string{"channel": "instagram", "address": "17841400000000", "contact": "531832", "action": "unsend"}, http.StatusBadRequest},
		{map[string]string{"channel": "open", "address": "web-widget", "contact": "visitor-1", "action": "typing"}, http.StatusAccepted},
	} {
		b, _ := json.Marshal(tc.body)
		resp, err := http.Post(base+"/sandbox/console/customer", "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		var out struct {
			Error struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if resp.StatusCode != tc.want || (tc.want >= 400 && out.Error.Message == "") {
			t.Errorf("%v: %d %q, want %d with a reason", tc.body, resp.StatusCode, out.Error.Message, tc.want)
		}
	}
}

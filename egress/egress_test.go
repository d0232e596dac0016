package egress_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync/atomic"
	"testing"

	"github.com/omnigate/omnigate/egress"
)

func TestCheckURL(t *testing.T) {
	t.Parallel()
	refused := []string{
		"http://127.0.0.1/x", "http://127.1/", "http://2130706433/", "http://0x7f.0.0.1/", "http://localhost:8080/",
		"http://api.localhost/", "https://10.1.2.3/hook", "http://172.16.0.1/", "http://192.168.1.1/",
		"http://169.254.169.254/latest/meta-data/", "http://[::1]/", "http://[fe80::1]/", "http://[fd00::1]/",
		"http://[::ffff:127.0.0.1]/", "http://0.0.0.0/", "http://100.64.0.1/", "http://LOCALHOST./",
	}
	for _, u := range refused {
		if err := egress.CheckURL(u); err == nil {
			t.Errorf("CheckURL(%q) = nil, want a refusal", u)
		}
	}
	for _, u := range []string{"https://widget.example.com/hook", "https://8.8.8.8/", "https://[2001:4860:4860::8888]/", "https://cdn1.bad.cab/x.png"} {
		if err := egress.CheckURL(u); err != nil {
			t.Errorf("CheckURL(%q) = %v, want nil", u, err)
		}
	}
}

func TestPrivate(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"127.0.0.1", "10.0.0.1", "169.254.169.254", "::1", "fe80::1", "fc00::1", "224.0.0.1", "255.255.255.255", "::ffff:10.0.0.1"} {
		if !egress.Private(netip.MustParseAddr(s)) {
			t.Errorf("Private(%s) = false", s)
		}
	}
	for _, s := range []string{"8.8.8.8", "1.1.1.1", "2606:4700::1111"} {
		if egress.Private(netip.MustParseAddr(s)) {
			t.Errorf("Private(%s) = true", s)
		}
	}
}

// TestControlRefusesLoopbackDial: a client whose dialer uses Control cannot reach a
// server on loopback, whatever name the URL used; the server never sees the request.
func TestControlRefusesLoopbackDial(t *testing.T) {
	t.Parallel()
	var hit atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hit.Store(true) }))
	defer srv.Close()
	d := &net.Dialer{Control: egress.Control}
	c := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	for _, u := range []string{srv.URL, "http://localhost:" + port} {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, u, nil)
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("GET %s succeeded", u)
		}
		if !errors.Is(err, egress.ErrPrivate) {
			t.Errorf("GET %s: %v, want ErrPrivate", u, err)
		}
	}
	if hit.Load() {
		t.Error("the loopback server was reached")
	}
}

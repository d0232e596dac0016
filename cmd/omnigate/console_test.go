package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/omnigate/omnigate/config"
)

// findBrowser returns a Chromium or Chrome to drive: $OMNIGATE_BROWSER, else the first
// found on PATH.
func findBrowser() string {
	if b := os.Getenv("OMNIGATE_BROWSER"); b != "" {
		return b
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// browserProfile returns a fresh user-data-dir, removed when the test ends. Chromium's
// helper processes may still be writing to it for a moment after the browser exits, so
// removal is retried until it succeeds (for at most ten seconds).
func browserProfile(t *testing.T) string {
	dir, err := os.MkdirTemp("", "omnigate-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		deadline := time.Now().Add(10 * time.Second)
		for {
			err := os.RemoveAll(dir)
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("removing the browser profile: %v", err)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	return dir
}

// exampleDaemon runs the sandbox of examples/omnigate.yaml in this process, on a free
// loopback port and a fresh database, and returns its base URL.
func exampleDaemon(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"omnigate.yaml", "policy.yaml"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "examples", name))
		if err != nil {
			t.Fatal(err)
		}
		if name == "omnigate.yaml" {
			b = regexp.MustCompile(`(?m)^listen:.*$`).ReplaceAll(b, []byte(`listen: "127.0.0.1:0"`))
			b = regexp.MustCompile(`(?m)^log:\n(  .*\n)*`).ReplaceAll(b, []byte("log: {level: warn}\n"))
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := config.Load(filepath.Join(dir, "omnigate.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d, err := newDaemon(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	return "http://" + d.ln.Addr().String()
}

// post sends a JSON body and decodes the JSON answer, failing unless it is want.
func post(t *testing.T, url, key string, body any, want int) map[string]any {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(b))
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	json.Unmarshal(raw, &out)
	if resp.StatusCode != want {
		t.Fatalf("POST %s: %d %s, want %d", url, resp.StatusCode, raw, want)
	}
	return out
}

// TestConsoleInBrowser drives the sandbox console in a real headless Chromium: a message
// sent from the API appears in its customer's chat and reaches delivered; a reply
// written as the customer goes through the carrier's real webhook and comes back as a
// message.inbound platform event in the feed. It saves a screenshot of the console to
// $OMNIGATE_CONSOLE_PNG (default: omnigate-console.png in the temporary folder).
func TestConsoleInBrowser(t *testing.T) {
	browser := findBrowser()
	if browser == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("no Chromium found: .ci/run installs it; or set OMNIGATE_BROWSER")
		}
		t.Skip("no Chromium found (set OMNIGATE_BROWSER to run this test)")
	}
	base := exampleDaemon(t)
	const ann = "ann-demo-key"

	// A few customers on other channels, so the console has something to show: they
	// write first (which opens the reply window), and an agent answers.
	for _, c := range []struct{ channel, ours, contact, says, reply string }{
		{"instagram", "17841400000000", "5318329871523944", "Do you ship to Canada?", "We do, in 3 to 5 days."},
		{"whatsapp", "+15550002222", "+14155550177", "Hola! Is the blue one back in stock?", "It is: I have put one aside for you."},
	} {
		post(t, base+"/sandbox/console/customer", "", map[string]string{
			"channel": c.channel, "address": c.ours, "contact": c.contact, "text": c.says}, http.StatusAccepted)
		// The platform assigns the new conversation to Ann, who answers.
		conv := ""
		deadline := time.Now().Add(20 * time.Second)
		for conv == "" {
			resp, err := http.Get(base + "/sandbox/events")
			if err != nil {
				t.Fatal(err)
			}
			var got struct {
				Events []struct {
					Type           string            `json:"type"`
					ConversationID string            `json:"conversation_id"`
					Data           map[string]string `json:"data"`
				} `json:"events"`
			}
			json.NewDecoder(resp.Body).Decode(&got)
			resp.Body.Close()
			for _, ev := range got.Events {
				if ev.Type == "message.inbound" && ev.Data["from"] == c.contact {
					conv = ev.ConversationID
				}
			}
			if conv == "" && time.Now().After(deadline) {
				t.Fatalf("no message.inbound from %s", c.contact)
			}
			time.Sleep(20 * time.Millisecond)
		}
		post(t, base+"/v1/conversations/"+conv+"/assign", "platform-demo-key", map[string]string{"principal": "agent-ann"}, http.StatusOK)
		post(t, base+"/v1/messages", ann, map[string]string{"channel": c.channel, "to": c.contact, "text": c.reply}, http.StatusAccepted)
	}

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(browser),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(browserProfile(t)),
		chromedp.WindowSize(1440, 900),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()

	// The page re-renders its lists on every event, so a node found a moment ago may be
	// gone: wait and click by selector inside the page, never by a remembered node.
	present := func(sel string) chromedp.Action {
		var ok bool
		return chromedp.Poll(`!!document.querySelector(`+strconv.Quote(sel)+`)`, &ok,
			chromedp.WithPollingTimeout(0), chromedp.WithPollingInterval(20*time.Millisecond))
	}
	click := func(sel string) chromedp.Action {
		return chromedp.Evaluate(`document.querySelector(`+strconv.Quote(sel)+`).click()`, nil)
	}
	start := time.Now()
	if err := chromedp.Run(ctx,
		chromedp.Navigate(base+"/sandbox/"),
		present(`#conn[data-state="open"]`),
	); err != nil {
		t.Fatalf("open the console: %v", err)
	}
	t.Logf("console open after %s", time.Since(start))

	// Sent from the API: it appears in the customer's chat, and its status moves to
	// delivered as the sandbox Twilio's callbacks come in.
	sent := post(t, base+"/v1/messages", ann, map[string]string{
		"channel": "sms", "to": "(415) 555-0100", "text": "Your order has shipped. It arrives on Thursday."}, http.StatusAccepted)
	id := sent["id"].(string)
	thread := `[data-thread="sms|+15550001111|+14155550100"]`
	if err := chromedp.Run(ctx,
		present(thread),
		click(thread),
		present(`#messages .msg.out[data-id="`+id+`"][data-status="delivered"]`),
	); err != nil {
		t.Fatalf("the API's message in the console: %v", err)
	}

	// Written as the customer: it goes to /webhooks/twilio signed, and comes back as a
	// message.inbound event to the sandbox's platform, shown in the feed and the chat.
	const reply = "Great, thank you! Can I change the delivery address?"
	var feedText string
	if err := chromedp.Run(ctx,
		chromedp.SendKeys(`#composer-text`, reply),
		chromedp.Click(`#composer-send`),
		present(`#feed .ev[data-type="message.inbound"]`),
		present(`#messages .msg.in`),
		chromedp.Text(`#feed`, &feedText),
	); err != nil {
		t.Fatalf("reply as the customer: %v", err)
	}
	if !strings.Contains(feedText, reply) {
		t.Errorf("the feed lacks the customer's reply:\n%s", feedText)
	}
	var chatText string
	if err := chromedp.Run(ctx, chromedp.Text(`#messages`, &chatText)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(chatText, reply) || !strings.Contains(chatText, "It arrives on Thursday.") {
		t.Errorf("the chat lacks a message:\n%s", chatText)
	}

	// The event stream stayed up all along: a stream the server cut (a write timeout,
	// a wrapper that cannot flush) shows "reconnecting".
	var conn string
	if err := chromedp.Run(ctx, chromedp.AttributeValue(`#conn`, "data-state", &conn, nil)); err != nil || conn != "open" {
		t.Errorf("the event stream is %q (%v), want open", conn, err)
	}

	var png []byte
	if err := chromedp.Run(ctx, chromedp.CaptureScreenshot(&png)); err != nil {
		t.Fatal(err)
	}
	out := os.Getenv("OMNIGATE_CONSOLE_PNG")
	if out == "" {
		out = filepath.Join(os.TempDir(), "omnigate-console.png")
	}
	if err := os.WriteFile(out, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of the console: %s", out)
}

package policy

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain checks that Watch leaves no goroutine (fsnotify's included) behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	goodPolicy  = "version: 1\nchannels:\n  x: {max_replies_per_inbound: 3}\n"
	fixedPolicy = "version: 1\nchannels:\n  x: {max_replies_per_inbound: 4}\n"
	badPolicy   = "version: 1\nchannels:\n  x: {max_replies: 3}\n"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// replaceFile saves the way editors do: write a temporary file, rename it over path.
func replaceFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp~"
	writeFile(t, tmp, content)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func xCap(h *Holder) int { return h.Current().Rules("", X).MaxRepliesPerInbound }

func TestHolderReload(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "policy.yaml")
	writeFile(t, path, goodPolicy)
	h, err := NewHolder(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	var results []bool
	h.OnReload(func(ok bool) { results = append(results, ok) })
	good := h.Current()
	if xCap(h) != 3 || h.LastError() != nil {
		t.Fatalf("after load: cap %d, LastError %v; want 3, nil", xCap(h), h.LastError())
	}

	writeFile(t, path, badPolicy)
	err = h.Reload()
	var le *LoadError
	if !errors.As(err, &le) || le.File != path {
		t.Fatalf("Reload of a bad file = %v, want *LoadError for %s", err, path)
	}
	if h.Current() != good {
		t.Errorf("a bad file replaced the good policy")
	}
	if !errors.Is(h.LastError(), err) {
		t.Errorf("LastError = %v, want %v", h.LastError(), err)
	}

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := h.Reload(); err == nil || h.Current() != good {
		t.Errorf("Reload of a missing file: err %v, policy replaced %v; want an error and the good policy", err, h.Current() != good)
	}

	writeFile(t, path, fixedPolicy)
	if err := h.Reload(); err != nil {
		t.Fatalf("Reload of the fixed file: %v", err)
	}
	if xCap(h) != 4 || h.LastError() != nil {
		t.Errorf("after fix: cap %d, LastError %v; want 4, nil", xCap(h), h.LastError())
	}
	if want := []bool{false, false, true}; len(results) != 3 || results[0] || results[1] || !results[2] {
		t.Errorf("OnReload calls = %v, want %v", results, want)
	}
}

func TestNewHolder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	writeFile(t, bad, badPolicy)
	if _, err := NewHolder(bad, nil); err == nil {
		t.Errorf("NewHolder with a bad file: no error")
	}
	if _, err := NewHolder(filepath.Join(dir, "missing.yaml"), nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("NewHolder with a missing file = %v, want ErrNotExist", err)
	}
	h, err := NewHolder("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if xCap(h) != 5 || h.Reload() != nil || h.LastError() != nil {
		t.Errorf("no file: want the default policy and reloads that succeed")
	}
}

func TestHolderWatch(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.yaml")
	writeFile(t, path, goodPolicy)
	h, err := NewHolder(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	h.debounce = 10 * time.Millisecond
	reloads := make(chan bool, 16)
	h.OnReload(func(ok bool) { reloads <- ok })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Watch(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Watch returned %v, want nil after cancel", err)
		}
	}()
	// waitReload waits for the watcher's next reload; the timeout only bounds a hang.
	waitReload := func() bool {
		t.Helper()
		select {
		case ok := <-reloads:
			return ok
		case <-time.After(10 * time.Second):
			t.Fatal("no reload after the file changed")
			return false
		}
	}

	// Another file in the directory (a database, say) does not cause a reload.
	writeFile(t, filepath.Join(dir, "omnigate.db"), "data")

	replaceFile(t, path, fixedPolicy)
	if !waitReload() || xCap(h) != 4 {
		t.Fatalf("after an editor-style save: cap %d, want 4", xCap(h))
	}
	good := h.Current()

	// Saves are atomic renames here: an in-place write can be seen half done (empty),
	// which is reported and then superseded, and would make the count of reloads vary.
	replaceFile(t, path, badPolicy)
	if waitReload() {
		t.Fatalf("reload of a bad file reported success")
	}
	if h.Current() != good || h.LastError() == nil {
		t.Errorf("bad file: policy replaced %v, LastError %v; want the good policy kept and an error", h.Current() != good, h.LastError())
	}

	replaceFile(t, path, goodPolicy)
	if !waitReload() || xCap(h) != 3 || h.LastError() != nil {
		t.Errorf("after the fix: cap %d, LastError %v; want 3, nil", xCap(h), h.LastError())
	}
	select {
	case ok := <-reloads:
		t.Errorf("unexpected extra reload (ok=%v)", ok)
	default:
	}
}

func TestHolderWatchWithoutFile(t *testing.T) {
	t.Parallel()
	h, err := NewHolder("", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := h.Watch(ctx); err != nil {
		t.Errorf("Watch = %v, want nil", err)
	}
}

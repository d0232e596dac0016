package policy

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/omnigate/omnigate/filewatch"
)

// defaultDebounce absorbs the burst of events one save makes (editors write a temporary
// file, rename it over the original, then chmod it).
const defaultDebounce = 200 * time.Millisecond

// Holder keeps the current policy and reloads it from its file. A file that fails to
// load never replaces a good policy: the old one stays current and the error is logged
// and kept for LastError. Current is safe for any number of goroutines.
type Holder struct {
	path     string
	log      *slog.Logger
	debounce time.Duration
	cur      atomic.Pointer[Policy]

	mu       sync.Mutex // serialises reloads and guards the fields below
	lastErr  error
	lastSum  [sha256.Size]byte // of the file content last loaded or tried
	onReload func(ok bool)
}

// NewHolder loads the policy at path, or uses Default when path is "". It fails when
// the first load fails: a daemon should not start without a valid policy. A nil log
// discards messages.
func NewHolder(path string, log *slog.Logger) (*Holder, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Holder{path: path, log: log, debounce: defaultDebounce}
	if path == "" {
		h.cur.Store(Default())
		return h, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	p, err := parseFile(path, data)
	if err != nil {
		return nil, err
	}
	h.cur.Store(p)
	h.lastSum = sha256.Sum256(data)
	return h, nil
}

// parseFile is Parse with the file name set on a *LoadError.
func parseFile(path string, data []byte) (*Policy, error) {
	p, err := Parse(data)
	if le, ok := errors.AsType[*LoadError](err); ok {
		le.File = path
	}
	return p, err
}

// Current returns the policy in force. It never blocks and never returns nil.
func (h *Holder) Current() *Policy { return h.cur.Load() }

// LastError returns the error of the last load or reload, nil when it succeeded.
func (h *Holder) LastError() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.lastErr
}

// OnReload sets fn to be called after every reload attempt with whether it succeeded
// (for metrics). Set it before Watch; fn runs on the reloading goroutine.
func (h *Holder) OnReload(fn func(ok bool)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.onReload = fn
}

// Reload re-reads the policy file (on SIGHUP, say). On error the current policy stays,
// the error is logged and returned, and LastError reports it. With no file it does
// nothing and succeeds.
func (h *Holder) Reload() error { return h.reload(false) }

// reload loads the file; when onlyIfChanged it skips content it already loaded or
// tried, so a watcher does not reload (and log) on events that changed nothing. The
// OnReload hook runs after the lock is released, so it may call LastError.
func (h *Holder) reload(onlyIfChanged bool) error {
	h.mu.Lock()
	tried, err := h.load(onlyIfChanged)
	hook := h.onReload
	h.mu.Unlock()
	if tried && hook != nil {
		hook(err == nil)
	}
	return err
}

// load does the work of reload with h.mu held; tried is false when it skipped.
func (h *Holder) load(onlyIfChanged bool) (tried bool, err error) {
	defer func() {
		if !tried {
			return
		}
		h.lastErr = err
		if err != nil {
			h.log.Error("policy reload failed; keeping the current policy", "path", h.path, "err", err)
		} else if h.path != "" {
			h.log.Info("policy loaded", "path", h.path)
		}
	}()
	if h.path == "" {
		return true, nil
	}
	data, err := os.ReadFile(h.path)
	if err != nil {
		// Forget the last content so the file's return is loaded whatever it holds.
		h.lastSum = [sha256.Size]byte{}
		return true, fmt.Errorf("policy: %w", err)
	}
	sum := sha256.Sum256(data)
	if onlyIfChanged && sum == h.lastSum {
		return false, nil
	}
	h.lastSum = sum
	p, err := parseFile(h.path, data)
	if err != nil {
		return true, err
	}
	h.cur.Store(p)
	return true, nil
}

// Watch reloads the policy whenever its file changes, until ctx is done; it then
// returns nil. It watches the file's directory rather than the file, because editors
// and config-map updates replace the file by renaming, which a watch on the file itself
// would lose. Bursts of events are debounced, and content that did not change is not
// reloaded. With no file it just waits for ctx. It returns an error only when the
// watch cannot be set up.
func (h *Holder) Watch(ctx context.Context) error {
	if h.path == "" {
		<-ctx.Done()
		return nil
	}
	reload := func() { _ = h.reload(true) } // logged and recorded by reload
	if err := filewatch.Watch(ctx, h.path, h.debounce, h.log, reload, reload); err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	return nil
}

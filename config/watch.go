package config

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Watch calls changed whenever the content of the file at path changes, until ctx is
// done; it then returns nil. It watches the file's folder rather than the file, because
// editors and Kubernetes config maps replace a file by renaming, which a watch on the
// file itself would lose. Bursts of events are debounced, and a write that leaves the
// content as it was calls nothing. It returns an error only when the watch cannot be set
// up. changed runs on Watch's goroutine.
func Watch(ctx context.Context, path string, debounce time.Duration, log *slog.Logger, changed func()) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("config: watch: %w", err)
	}
	defer w.Close()
	dir, name := filepath.Split(filepath.Clean(path))
	if dir == "" {
		dir = "."
	}
	if err := w.Add(dir); err != nil {
		return fmt.Errorf("config: watch %s: %w", dir, err)
	}
	sum := func() []byte {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		s := sha256.Sum256(b)
		return s[:]
	}
	last := sum()
	timer := time.NewTimer(debounce)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return errors.New("config: watch: event stream closed")
			}
			base := filepath.Base(ev.Name)
			if ev.Op != fsnotify.Chmod && (base == name || strings.HasPrefix(base, "..")) {
				timer.Reset(debounce)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return errors.New("config: watch: error stream closed")
			}
			log.Warn("config watch error", "path", path, "err", err)
		case <-timer.C:
			if now := sum(); now != nil && !bytes.Equal(now, last) {
				last = now
				changed()
			}
		}
	}
}

// Package filewatch is the one loop that follows a configuration file (omnigate.yaml,
// policy.yaml) as editors and Kubernetes config maps change it.
package filewatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Watch calls changed after events that may have changed the file at path, until ctx
// is done; it then returns nil. It watches the file's folder rather than the file,
// because editors and Kubernetes config maps replace a file by renaming, which a watch
// on the file itself would lose; other files in the folder are ignored. Bursts of
// events are debounced into one call. ready, when set, runs once the watch is in place
// (to catch a change made before it was). changed and ready run on Watch's goroutine;
// changed decides itself whether the content really changed. Watch returns an error
// only when the watch cannot be set up or fsnotify stops.
func Watch(ctx context.Context, path string, debounce time.Duration, log *slog.Logger, ready, changed func()) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch %s: %w", path, err)
	}
	defer w.Close()
	dir, name := filepath.Split(filepath.Clean(path))
	if dir == "" {
		dir = "."
	}
	if err := w.Add(dir); err != nil {
		return fmt.Errorf("watch %s: %w", dir, err)
	}
	if ready != nil {
		ready()
	}
	timer := time.NewTimer(debounce)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return errors.New("watch " + path + ": event stream closed")
			}
			if relevant(ev, name) {
				timer.Reset(debounce)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return errors.New("watch " + path + ": error stream closed")
			}
			if log != nil {
				log.Warn("file watch error", "path", path, "err", err)
			}
		case <-timer.C:
			changed()
		}
	}
}

// relevant reports whether ev may have changed the file called name: an event on the
// file itself, or on a Kubernetes config-map's "..data" link, which is swapped
// atomically while the file name stays a symlink into it. Other files in the directory
// (a SQLite database and its WAL may live there) are ignored.
func relevant(ev fsnotify.Event, name string) bool {
	if ev.Op == fsnotify.Chmod {
		return false
	}
	base := filepath.Base(ev.Name)
	return base == name || strings.HasPrefix(base, "..")
}

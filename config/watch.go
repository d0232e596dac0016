package config

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/omnigate/omnigate/filewatch"
)

// Watch calls changed whenever the content of the file at path changes, until ctx is
// done; it then returns nil. It watches the file's folder rather than the file, because
// editors and Kubernetes config maps replace a file by renaming, which a watch on the
// file itself would lose. Bursts of events are debounced, and a write that leaves the
// content as it was calls nothing. It returns an error only when the watch cannot be set
// up. changed runs on Watch's goroutine.
func Watch(ctx context.Context, path string, debounce time.Duration, log *slog.Logger, changed func()) error {
	sum := func() []byte {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		s := sha256.Sum256(b)
		return s[:]
	}
	var last []byte
	err := filewatch.Watch(ctx, path, debounce, log, func() { last = sum() }, func() {
		if now := sum(); now != nil && !bytes.Equal(now, last) {
			last = now
			changed()
		}
	})
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return nil
}

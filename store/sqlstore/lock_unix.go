//go:build unix

package sqlstore

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockFile takes an exclusive lock on path+".lock" that the kernel drops when the
// process dies, so a SIGKILLed owner never leaves a stale lock behind.
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("store: another omnigate process is serving %s (it holds %s.lock); SQLite serves one process, use PostgreSQL for several instances", path, path)
		}
		return nil, fmt.Errorf("store: lock %s.lock: %w", path, err)
	}
	return f, nil
}

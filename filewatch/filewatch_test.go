package filewatch_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/omnigate/omnigate/filewatch"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestWatchFollowsReplacements: a file replaced by renaming (as editors and config
// maps do) is seen; another file in the folder is not.
func TestWatchFollowsReplacements(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(path, []byte("version: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	changed := make(chan struct{}, 10)
	done := make(chan error, 1)
	go func() {
		done <- filewatch.Watch(ctx, path, 10*time.Millisecond, nil, func() { close(ready) }, func() { changed <- struct{}{} })
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Watch: %v", err)
		}
	}()
	<-ready

	// Another file first: it must not count. The replacement after it must.
	if err := os.WriteFile(filepath.Join(dir, "omnigate.db"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, ".policy.yaml.swp")
	if err := os.WriteFile(tmp, []byte("version: 1\n# edited\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	case <-time.After(30 * time.Second):
		t.Fatal("a replaced file was not reported")
	}
}

// TestWatchMissingFolder: a watch that cannot be set up says so at once.
func TestWatchMissingFolder(t *testing.T) {
	err := filewatch.Watch(context.Background(), filepath.Join(t.TempDir(), "nope", "policy.yaml"), time.Millisecond, nil, nil, func() {})
	if err == nil {
		t.Fatal("watching a missing folder succeeded")
	}
}

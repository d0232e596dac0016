package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/omnigate/omnigate"
)

// TestVersionCommand: `omnigate version` prints the User-Agent carriers see.
func TestVersionCommand(t *testing.T) {
	r := runCLI("version")
	if r.code != 0 || r.stdout != omnigate.UserAgent()+"\n" {
		t.Fatalf("version: %d %q %q, want %q", r.code, r.stdout, r.stderr, omnigate.UserAgent())
	}
}

// TestVersionSetAtBuildTime builds the binary with -ldflags -X, as a release does, and
// checks that `omnigate version` reports that version in the User-Agent's shape.
func TestVersionSetAtBuildTime(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := t.TempDir() + "/omnigate"
	build := exec.Command("go", "build", "-ldflags", "-X github.com/omnigate/omnigate.Version=2.5.1-rc.2", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(out)); got != "omnigate/2.5.1;rc.2" {
		t.Fatalf("version = %q, want omnigate/2.5.1;rc.2", got)
	}
}

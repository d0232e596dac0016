package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/omnigate/omnigate/store"
	"github.com/omnigate/omnigate/store/sqlstore"
)

// cliConfig writes a minimal configuration on a fresh SQLite file in dir with two
// pending outbox entries and one dead letter, and returns the file's path and the dead
// letter's id.
func cliConfig(t *testing.T, dir string) (string, int64) {
	t.Helper()
	cfgPath := filepath.Join(dir, "omnigate.yaml")
	cfg := `store: "sqlite://./cli.db"
sandbox: true
queues:
  - {id: support, addresses: {open: web-widget}}
`
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, "sqlite://"+filepath.Join(dir, "cli.db"), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now().UTC()
	err = db.Update(ctx, func(tx store.Tx) error {
		for i, key := range []string{"ev:a", "ev:b", "ev:c"} {
			due := now.Add(time.Hour)
			if i == 0 {
				due = now.Add(-time.Second) // the one to kill
			}
			if err := tx.Enqueue(store.NewEntry{Kind: store.KindEvent, FIFOKey: key, Payload: []byte(`{}`), DueAt: due}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Events reach the outbox when a post failed: the log's dispatcher spills them there.
	if ok, err := db.LeaseEvents(ctx, store.EventLease{Owner: "cli-test", Now: now, Until: now.Add(time.Minute)}); !ok || err != nil {
		t.Fatalf("lease the event log: %v %v", ok, err)
	}
	logged, err := db.ReadEvents(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	var spill []store.SpilledEvent
	for _, e := range logged.Events {
		spill = append(spill, store.SpilledEvent{Seq: e.Seq, Entry: store.NewEntry{FIFOKey: e.FIFOKey, Payload: e.Payload, DueAt: e.CreatedAt}})
	}
	if err := db.FinishEvents(ctx, store.EventsDone{Owner: "cli-test", LeaseUntil: now.Add(time.Minute), Spill: spill}); err != nil {
		t.Fatal(err)
	}
	claimed, err := db.ClaimDue(ctx, store.Claim{Owner: "cli-test", Now: now, Lease: time.Minute, Limit: 10})
	if err != nil || len(claimed.Entries) != 1 {
		t.Fatalf("claim: %v %+v", err, claimed)
	}
	e := claimed.Entries[0]
	errs, err := db.Complete(ctx, []store.Result{{EntryID: e.ID, Token: e.LeaseToken, Outcome: store.Dead, Error: "platform refused"}}, now)
	if err != nil || errs[0] != nil {
		t.Fatalf("complete: %v %v", err, errs)
	}
	return cfgPath, e.ID
}

type cliResult struct {
	code           int
	stdout, stderr string
}

func runCLI(args ...string) cliResult {
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return cliResult{code, out.String(), errOut.String()}
}

// TestCLIHelp: --help (anywhere) prints the command's usage with an example to stdout
// and exits 0.
func TestCLIHelp(t *testing.T) {
	for _, args := range [][]string{
		{"--help"}, {"help"}, {"help", "send"},
		{"serve", "--help"}, {"migrate", "-h"}, {"policy", "check", "--help"}, {"policy", "--help"},
		{"outbox", "--help"}, {"outbox", "ls", "--help"}, {"outbox", "retry", "--help"},
		{"outbox", "retry", "5", "--help"}, {"send", "--help"}, {"version", "--help"},
	} {
		r := runCLI(args...)
		if r.code != 0 || !strings.Contains(r.stdout, "usage: omnigate") || !strings.Contains(r.stdout, "example:") {
			t.Errorf("%q: exit %d\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
		}
	}
}

// TestCLIUsageErrors: a command called wrongly exits 2 and says what was wrong.
func TestCLIUsageErrors(t *testing.T) {
	cfgPath, _ := cliConfig(t, t.TempDir())
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "no command"},
		{[]string{"bogus"}, `unknown command "bogus"`},
		{[]string{"outbox"}, "use ls or retry"},
		{[]string{"outbox", "ls", "--status", "bogus", "--config", cfgPath}, `--status "bogus"`},
		{[]string{"outbox", "ls", "--limit", "many", "--config", cfgPath}, `invalid value "many" for flag -limit`},
		{[]string{"outbox", "ls", "extra", "--config", cfgPath}, `unexpected argument "extra"`},
		{[]string{"outbox", "retry", "--config", cfgPath}, "missing arguments"},
		{[]string{"outbox", "retry", "x5", "--config", cfgPath}, `ID "x5"`},
		{[]string{"serve", "--nope"}, "flag provided but not defined: -nope"},
		{[]string{"send", "--to", "+14155550100"}, "send needs --key"},
		{[]string{"policy", "lint"}, "the only subcommand is check"},
	} {
		r := runCLI(tc.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) || !strings.Contains(r.stderr, "usage: omnigate") {
			t.Errorf("%q: exit %d, want 2 with %q\nstderr: %s", tc.args, r.code, tc.want, r.stderr)
		}
	}
}

// TestCLIOutbox: outbox ls shows pending and dead entries with a summary line by
// default; --status narrows it; flags after the arguments count (retry ID --config).
func TestCLIOutbox(t *testing.T) {
	cfgPath, deadID := cliConfig(t, t.TempDir())

	r := runCLI("outbox", "ls", "--config", cfgPath)
	if r.code != 0 {
		t.Fatalf("outbox ls: exit %d: %s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if n := len(lines); n != 5 || !strings.HasPrefix(lines[0], "ID") || lines[n-1] != "2 pending, 1 dead" {
		t.Fatalf("outbox ls:\n%s", r.stdout)
	}
	if got := regexp.MustCompile(`(?m)^\d+\s+event\s+(pending|dead)`).FindAllStringSubmatch(r.stdout, -1); len(got) != 3 ||
		got[0][1] != "pending" || got[1][1] != "pending" || got[2][1] != "dead" {
		t.Errorf("outbox ls rows: %q", got)
	}

	r = runCLI("outbox", "ls", "--status", "dead", "--config", cfgPath)
	if r.code != 0 || strings.Count(r.stdout, "pending\t") != 0 || !strings.Contains(r.stdout, "platform refused") {
		t.Errorf("outbox ls --status dead: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI("outbox", "ls", "--status=pending", "--limit", "1", "--config", cfgPath)
	if r.code != 0 || !strings.Contains(r.stdout, "showing 1 of 2; 2 pending, 1 dead") {
		t.Errorf("outbox ls --limit 1: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// The flag after the id is not ignored: without it there is no ./omnigate.yaml.
	t.Setenv("OMNIGATE_CONFIG", filepath.Join(t.TempDir(), "missing.yaml"))
	r = runCLI("outbox", "retry", itoa64(deadID), "--config", cfgPath)
	if r.code != 0 || !strings.Contains(r.stdout, "queued for delivery") {
		t.Fatalf("outbox retry ID --config: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI("outbox", "ls", "--config", cfgPath)
	if !regexp.MustCompile(`\n3 pending, 0 dead(; .*)?\n$`).MatchString(r.stdout) {
		t.Errorf("after retry:\n%s", r.stdout)
	}
	r = runCLI("outbox", "retry", itoa64(deadID), "--config", cfgPath)
	if r.code != 1 || !strings.Contains(r.stderr, "no dead letter") {
		t.Errorf("retrying a pending entry: exit %d\n%s", r.code, r.stderr)
	}
}

// TestCLIConfigDefault: every command finds the configuration the same way:
// $OMNIGATE_CONFIG, else ./omnigate.yaml; and says where it looked when there is none.
func TestCLIConfigDefault(t *testing.T) {
	dir := t.TempDir()
	cfgPath, _ := cliConfig(t, dir)

	t.Setenv("OMNIGATE_CONFIG", cfgPath)
	for _, args := range [][]string{{"outbox", "ls"}, {"migrate"}} {
		if r := runCLI(args...); r.code != 0 {
			t.Errorf("%q with $OMNIGATE_CONFIG: exit %d: %s", args, r.code, r.stderr)
		}
	}

	t.Setenv("OMNIGATE_CONFIG", "")
	t.Chdir(dir)
	if r := runCLI("outbox", "ls"); r.code != 0 || !strings.HasSuffix(r.stdout, "2 pending, 1 dead\n") {
		t.Errorf("outbox ls in the configuration's folder: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	t.Chdir(t.TempDir())
	for _, args := range [][]string{{"outbox", "ls"}, {"migrate"}, {"policy", "check"}, {"serve"}} {
		r := runCLI(args...)
		if r.code != 1 || !strings.Contains(r.stderr, "no configuration file at ./omnigate.yaml") {
			t.Errorf("%q without a configuration: exit %d: %s", args, r.code, r.stderr)
		}
	}
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }

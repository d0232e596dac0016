// Package sqlitedrivers compares SQLite drivers on omnigate's write pattern: the
// group commit (one transaction, a savepoint per caller) of what an accepted send
// writes. It is its own module so that the daemon's module keeps one driver. Run:
//
//	go test -bench . -benchtime 20000x                 # modernc.org/sqlite (pure Go, the daemon's)
//	CGO_ENABLED=1 go test -tags mattn -bench . -benchtime 20000x   # C SQLite via cgo
//	go test -tags ncruces -bench . -benchtime 20000x   # SQLite compiled to WebAssembly (wazero)
//
// SYNC=OFF prices the engine without the commit's fsync.
package sqlitedrivers

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// schema is the Up half of every SQLite migration of the daemon.
func schema(tb testing.TB) []string {
	files, err := filepath.Glob("../../store/sqlstore/migrations/sqlite/*.sql")
	if err != nil || len(files) == 0 {
		tb.Fatalf("migrations: %v", err)
	}
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		up, _, _ := strings.Cut(string(b), "-- +goose Down")
		for stmt := range strings.SplitSeq(up, ";") {
			var lines []string
			for l := range strings.SplitSeq(stmt, "\n") {
				if !strings.HasPrefix(strings.TrimSpace(l), "--") {
					lines = append(lines, l)
				}
			}
			if s := strings.TrimSpace(strings.Join(lines, "\n")); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

func open(tb testing.TB) *sql.DB {
	db, err := sql.Open(driverName, filepath.Join(tb.TempDir(), "bench.db"))
	if err != nil {
		tb.Fatal(err)
	}
	db.SetMaxOpenConns(1) // the daemon's one writer
	tb.Cleanup(func() { db.Close() })
	sync := "FULL" // the daemon's default; SYNC=NORMAL (or OFF) leaves the fsync out to price the engine alone
	if v := os.Getenv("SYNC"); v != "" {
		sync = v
	}
	for _, p := range []string{"PRAGMA busy_timeout=10000", "PRAGMA journal_mode=WAL", "PRAGMA synchronous=" + sync,
		"PRAGMA foreign_keys=1", "PRAGMA temp_store=MEMORY"} {
		if _, err := db.Exec(p); err != nil {
			tb.Fatalf("%s: %v", p, err)
		}
	}
	for _, s := range schema(tb) {
		if _, err := db.Exec(s); err != nil {
			tb.Fatalf("%s: %v", s, err)
		}
	}
	return db
}

const (
	convCols = `id, channel, queue_id, address, contact_address, contact_name, state, assigned_to,
	opened_at, last_inbound_at, last_activity_at, replies_since_inbound, wrapup_code, wrapup_notes`
	msgCols = `id, conversation_id, direction, channel, queue_id, from_address, to_address, body,
	template, media, sender, principal_id, tag, status, attempts, provider_message_id,
	error_code, error_message, deleted, created_at, updated_at`
)

// BenchmarkGroupCommit writes b.N sends in transactions of 64 callers, each in its
// own savepoint: look up the conversation, insert it, its message and its outbox row.
func BenchmarkGroupCommit(b *testing.B) {
	db := open(b)
	qs := []string{
		"SAVEPOINT sp", "RELEASE sp",
		`SELECT id FROM conversations WHERE channel = ? AND address = ? AND contact_address = ? ORDER BY last_activity_at DESC, opened_at DESC LIMIT 1`,
		`INSERT INTO conversations (` + convCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		`INSERT INTO messages (` + msgCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		`INSERT INTO outbox (kind, fifo_key, message_id, payload, due_at, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
	}
	st := make([]*sql.Stmt, len(qs))
	for i, q := range qs {
		s, err := db.Prepare(q)
		if err != nil {
			b.Fatalf("%s: %v", q, err)
		}
		st[i] = s
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; {
		tx, err := db.Begin()
		if err != nil {
			b.Fatal(err)
		}
		for j := 0; j < 64 && i < b.N; j, i = j+1, i+1 {
			now := time.Now().UnixMicro()
			conv, msg, contact := fmt.Sprintf("conv_%d", i), fmt.Sprintf("msg_%d", i), fmt.Sprintf("+1555%07d", i)
			check(b)(tx.Stmt(st[0]).Exec())
			var id string
			if err := tx.Stmt(st[2]).QueryRow("sms", "+15550001111", contact).Scan(&id); err != sql.ErrNoRows {
				b.Fatalf("lookup: %v", err)
			}
			check(b)(tx.Stmt(st[3]).Exec(conv, "sms", "support", "+15550001111", contact, "", "assigned", "agent-ann", now, 0, now, 1, "", ""))
			check(b)(tx.Stmt(st[4]).Exec(msg, conv, "outbound", "sms", "support", "+15550001111", contact, "Your order shipped.",
				"", "", "human", "agent-ann", "", "queued", 0, "", "", "", 0, now, now))
			check(b)(tx.Stmt(st[5]).Exec("deliver", conv, msg, []byte(nil), now, now))
			check(b)(tx.Stmt(st[1]).Exec())
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "sends/s")
}

func check(b *testing.B) func(sql.Result, error) {
	return func(_ sql.Result, err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
}

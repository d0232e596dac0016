package storetest

import (
	"database/sql"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

var schemaSeq atomic.Int64

// PostgresServer is the server PostgreSQL tests use: $OMNIGATE_TEST_POSTGRES, or the
// local test database.
func PostgresServer() string {
	if v := os.Getenv("OMNIGATE_TEST_POSTGRES"); v != "" {
		return v
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// PostgresSchema creates a fresh schema on the test server, drops it when the test
// ends, and returns a DSN whose search_path is that schema: every store opened with it
// sees an empty database of its own. With no server answering it skips the test, and
// under CI (CI set) fails it instead.
func PostgresSchema(t testing.TB) string {
	t.Helper()
	base := PostgresServer()
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := admin.Ping(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("PostgreSQL is not reachable at %s: %v", base, err)
		}
		t.Skipf("PostgreSQL is not reachable: %v", err)
	}
	schema := fmt.Sprintf("t_%d_%d", os.Getpid(), schemaSeq.Add(1))
	if _, err := admin.Exec("DROP SCHEMA IF EXISTS " + schema + " CASCADE; CREATE SCHEMA " + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if a, err := sql.Open("pgx", base); err == nil {
			a.Exec("DROP SCHEMA IF EXISTS " + schema + " CASCADE")
			a.Close()
		}
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + schema
}

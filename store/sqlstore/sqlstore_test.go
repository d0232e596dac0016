package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/omnigate/omnigate/store"
	"github.com/omnigate/omnigate/store/sqlstore"
	"github.com/omnigate/omnigate/store/storetest"
)

func TestSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return OpenSQLite(t)
	})
}

// OpenSQLite returns a fresh SQLite store in a temporary folder.
func OpenSQLite(t testing.TB) *sqlstore.DB {
	t.Helper()
	dsn := "sqlite://" + filepath.Join(t.TempDir(), "omnigate.db")
	db, err := sqlstore.Open(context.Background(), dsn, sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

var schemaSeq atomic.Int64

// PostgresDSN is the server the PostgreSQL tests use: $OMNIGATE_TEST_POSTGRES, or the
// local test database.
func PostgresDSN() string {
	if v := os.Getenv("OMNIGATE_TEST_POSTGRES"); v != "" {
		return v
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// OpenPostgres returns a store in a fresh schema of the test database.
func OpenPostgres(t testing.TB) *sqlstore.DB {
	t.Helper()
	base := PostgresDSN()
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
	db, err := sqlstore.Open(context.Background(), base+sep+"search_path="+schema, sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestPostgres(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return OpenPostgres(t)
	})
}

package sqlstore_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/omnigate/omnigate/store"
	"github.com/omnigate/omnigate/store/sqlstore"
	"github.com/omnigate/omnigate/store/storetest"
)

func TestSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return OpenSQLite(t)
	})
}

// bothStores opens a fresh store of each kind, for tests that run the same checks on both.
var bothStores = map[string]func(testing.TB) *sqlstore.DB{
	"sqlite":   func(tb testing.TB) *sqlstore.DB { return OpenSQLite(tb) },
	"postgres": func(tb testing.TB) *sqlstore.DB { return OpenPostgres(tb) },
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

// OpenPostgres returns a store in a fresh schema of the test database.
func OpenPostgres(t testing.TB) *sqlstore.DB {
	t.Helper()
	return openPostgresOpt(t, sqlstore.Options{})
}

func openPostgresOpt(t testing.TB, opt sqlstore.Options) *sqlstore.DB {
	t.Helper()
	db, err := sqlstore.Open(context.Background(), storetest.PostgresSchema(t), opt)
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

// TestPostgresNoBatch runs the contract with PostgreSQL's group commit off.
func TestPostgresNoBatch(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return openPostgresOpt(t, sqlstore.Options{NoBatch: true})
	})
}

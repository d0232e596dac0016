package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// dialect is where SQLite and PostgreSQL differ.
type dialect interface {
	name() string
	gooseDialect() goose.Dialect
	rebind(q string) string
	// claimLock is appended to the claim's inner SELECT.
	claimLock() string
	// lockKey serialises transactions on one conversation key.
	lockKey(ctx context.Context, tx *sql.Tx, key string) error
	groupCommit() bool
	retryable(err error) bool
	// notifyInTx tells other instances that rows were enqueued (delivered at commit).
	notifyInTx(ctx context.Context, tx *sql.Tx) error
}

// listener is a dialect that can hear other instances' enqueues.
type listener interface {
	listen(ctx context.Context, dsn string, wake func())
}

type sqliteDialect struct{}

func openSQLite(path, query string) (w, r *sql.DB, err error) {
	params := "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)"
	if query != "" {
		params += "&" + query
	}
	w, err = sql.Open("sqlite", "file:"+path+"?"+params+"&_txlock=immediate")
	if err != nil {
		return nil, nil, err
	}
	// One writer: SQLite serialises writes anyway, and one connection lets the
	// committer batch without lock contention.
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	r, err = sql.Open("sqlite", "file:"+path+"?"+params)
	if err != nil {
		w.Close()
		return nil, nil, err
	}
	r.SetMaxOpenConns(4)
	r.SetMaxIdleConns(4)
	return w, r, nil
}

func (sqliteDialect) name() string                { return "sqlite" }
func (sqliteDialect) gooseDialect() goose.Dialect { return goose.DialectSQLite3 }
func (sqliteDialect) rebind(q string) string      { return q }
func (sqliteDialect) claimLock() string           { return "" }
func (sqliteDialect) groupCommit() bool           { return true }
func (sqliteDialect) lockKey(context.Context, *sql.Tx, string) error {
	return nil // write transactions are already serial (BEGIN IMMEDIATE, one writer)
}
func (sqliteDialect) notifyInTx(context.Context, *sql.Tx) error { return nil }
func (sqliteDialect) retryable(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		code := se.Code() & 0xff
		return code == sqlite3.SQLITE_BUSY || code == sqlite3.SQLITE_LOCKED
	}
	return false
}

type postgresDialect struct{}

func openPostgres(dsn string) (*sql.DB, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(32)
	db.SetMaxIdleConns(32)
	db.SetConnMaxIdleTime(5 * time.Minute)
	return db, nil
}

const notifyChannel = "omnigate_outbox"

func (postgresDialect) name() string                { return "postgres" }
func (postgresDialect) gooseDialect() goose.Dialect { return goose.DialectPostgres }
func (postgresDialect) claimLock() string           { return " FOR UPDATE SKIP LOCKED" }
func (postgresDialect) groupCommit() bool           { return false }
func (postgresDialect) rebind(q string) string {
	var b strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}
func (postgresDialect) lockKey(ctx context.Context, tx *sql.Tx, key string) error {
	_, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", key)
	return err
}
func (postgresDialect) notifyInTx(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, "NOTIFY "+notifyChannel)
	return err
}
func (postgresDialect) retryable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "40001" || pe.Code == "40P01" // serialization failure, deadlock
	}
	return false
}

// listen holds a dedicated connection on LISTEN and wakes the relay on every NOTIFY,
// reconnecting after failures until ctx ends.
func (postgresDialect) listen(ctx context.Context, dsn string, wake func()) {
	for ctx.Err() == nil {
		if err := listenOnce(ctx, dsn, wake); err != nil && ctx.Err() == nil {
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

func listenOnce(ctx context.Context, dsn string, wake func()) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		wake()
	}
}

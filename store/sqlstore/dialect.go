package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
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
	// rowLock is appended to a SELECT whose rows the statement then updates, so that
	// row locks are taken in the SELECT's order.
	rowLock() string
	// lockKey serialises transactions on one conversation key.
	lockKey(ctx context.Context, tx *sql.Tx, key string) error
	groupCommit() bool
	// combinedWrites: Tx.Write runs as one statement of data-modifying WITH clauses
	// (PostgreSQL, where each statement is a round trip); otherwise statement by
	// statement (SQLite, where a combined statement costs what its parts do).
	combinedWrites() bool
	// committers is how many transactions fold concurrent Update calls at once: one on
	// SQLite (its one writer), several on PostgreSQL, whose connections write in
	// parallel.
	committers() int
	retryable(err error) bool
	// notifyInTx tells other instances that rows were enqueued (delivered at commit);
	// from is the notifying store's token, which its own listener skips.
	notifyInTx(ctx context.Context, tx *sql.Tx, from string) error
	// txOptions are every write transaction's options.
	txOptions() *sql.TxOptions
	// idList is a subquery yielding the ids of one parameter, which idListArg makes.
	idList() string
	idListArg(ids []int64) string
	// textList is a subquery yielding the strings of one parameter, a JSON array.
	textList() string
	// records is a FROM item named alias with the columns cols whose rows are a batch:
	// set-based statements send a whole batch instead of one statement per row.
	// recordArgs makes its parameters from a slice of structs whose fields are the
	// columns in the same order (their json tags the column names).
	records(alias string, cols ...col) string
	recordArgs(rows any) []any
	// doneIn deletes the rows of a Complete's batch whose lease token still holds, and
	// returns their ids; doneArgs makes its parameters from the rows' ids and tokens.
	doneIn() string
	doneArgs(ids []int64, tokens []string) []any
	// completeBegin opens a Complete's transaction in one statement: relaySetup's
	// settings, lockKey's lock for every key in the order given, and when notify the
	// notification of the rows the batch enqueues.
	completeBegin(ctx context.Context, tx *sql.Tx, keys []string, notify bool, from string) error
	// claimSetup runs in the claim's transaction before the claim ("" for none).
	claimSetup() string
	// relaySetup runs first in a Complete's or a Heartbeat's transaction ("" for none).
	relaySetup() string
	// jsonArray aggregates expr over a query's rows into a JSON array, "[]" for none.
	jsonArray(expr string) string
	// rolledBack reports whether a commit's error says for certain that nothing was
	// written (an error of unknown outcome, a lost connection, is not).
	rolledBack(err error) bool
}

// col is a column of a records row set.
type col struct{ name, typ string }

// listener is a dialect that can hear other instances' enqueues.
type listener interface {
	listen(ctx context.Context, dsn, self string, wake func())
}

type sqliteDialect struct{}

func openSQLite(path, query string) (w, r *sql.DB, err error) {
	// synchronous(FULL): a 202 or a webhook acknowledgement must survive power loss,
	// not only a crash. A DSN may lower it (?_pragma=synchronous(NORMAL)): later
	// pragmas win.
	//
	// temp_store(MEMORY) keeps savepoint sub-journals in memory: the group commit runs
	// every caller in its own savepoint, and on disk the sub-journal cost a pwrite per
	// page each caller first touched (a quarter of the writer's CPU under load). It
	// only serves rolling back one caller; the WAL alone makes commits durable.
	params := "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)&_pragma=temp_store(MEMORY)"
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
func (sqliteDialect) claimLock() string           { return "" }
func (sqliteDialect) rowLock() string             { return "" }
func (sqliteDialect) groupCommit() bool           { return true }
func (sqliteDialect) combinedWrites() bool        { return false }
func (sqliteDialect) committers() int             { return 1 }
func (sqliteDialect) lockKey(context.Context, *sql.Tx, string) error {
	return nil // write transactions are already serial (BEGIN IMMEDIATE, one writer)
}
func (sqliteDialect) notifyInTx(context.Context, *sql.Tx, string) error { return nil }
func (sqliteDialect) txOptions() *sql.TxOptions                         { return nil }
func (sqliteDialect) idList() string                                    { return "SELECT value FROM json_each(?)" }
func (sqliteDialect) textList() string                                  { return "SELECT value FROM json_each(?)" }
func (sqliteDialect) idListArg(ids []int64) string                      { return joinIDs("[", ids, "]") }
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
	// Ten connections keep two cores busy; PostgreSQL's default max_connections (100)
	// then serves several instances with room for the operator's own sessions.
	db.SetMaxOpenConns(10)
	db.SetMaxIdleConns(10)
	db.SetConnMaxIdleTime(5 * time.Minute)
	return db, nil
}

const notifyChannel = "omnigate_outbox"

func (postgresDialect) name() string                { return "postgres" }
func (postgresDialect) gooseDialect() goose.Dialect { return goose.DialectPostgres }
func (postgresDialect) claimLock() string           { return " FOR UPDATE SKIP LOCKED" }
func (postgresDialect) rowLock() string             { return " FOR UPDATE" }
func (postgresDialect) groupCommit() bool           { return false }
func (postgresDialect) combinedWrites() bool        { return true }

// committers: four of the ten connections run batches; the others stay free for the
// relay's claims and completes and for reads.
func (postgresDialect) committers() int              { return 4 }
func (postgresDialect) idList() string               { return "SELECT unnest(?::bigint[])" }
func (postgresDialect) textList() string             { return "SELECT jsonb_array_elements_text(?::jsonb)" }
func (postgresDialect) idListArg(ids []int64) string { return joinIDs("{", ids, "}") }

// txOptions pins READ COMMITTED whatever the server's default: the conditional
// updates and advisory locks that keep statuses monotonic and held receipts applied
// are written for it, and a stricter level would only add serialisation failures.
func (postgresDialect) txOptions() *sql.TxOptions {
	return &sql.TxOptions{Isolation: sql.LevelReadCommitted}
}

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
func (postgresDialect) notifyInTx(ctx context.Context, tx *sql.Tx, from string) error {
	_, err := tx.ExecContext(ctx, "SELECT pg_notify('"+notifyChannel+"', $1)", from)
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
func (postgresDialect) listen(ctx context.Context, dsn, self string, wake func()) {
	for ctx.Err() == nil {
		if err := listenOnce(ctx, dsn, self, wake); err != nil && ctx.Err() == nil {
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

// listenOnce wakes the relay on every NOTIFY but its own store's (payload self): the
// store wakes its own relay when it commits, so hearing itself only doubled the claims.
func listenOnce(ctx context.Context, dsn, self string, wake func()) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if n.Payload != self {
			wake()
		}
	}
}

func joinIDs(open string, ids []int64, end string) string {
	var b strings.Builder
	b.WriteString(open)
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(id, 10))
	}
	b.WriteString(end)
	return b.String()
}

// rebind on SQLite keeps the placeholders and makes every LIMIT parameter an expression,
// +?, with the same value. SQLite's planner reads the value bound to a bare LIMIT ?
// and marks the statement to be prepared again whenever that parameter is bound, and
// database/sql binds every parameter on every run: the relay's claim was parsed and
// planned afresh on each call, over half of its cost.
func (sqliteDialect) rebind(q string) string { return strings.ReplaceAll(q, "LIMIT ?", "LIMIT +?") }

func (sqliteDialect) claimSetup() string { return "" }
func (sqliteDialect) relaySetup() string { return "" }

func (sqliteDialect) jsonArray(expr string) string { return "json_group_array(" + expr + ")" }

// SQLite's commit error is never taken for a certain rollback: the callers hear it.
func (sqliteDialect) rolledBack(error) bool { return false }

// PostgreSQL answers COMMIT of a transaction in which a statement failed with ROLLBACK.
func (postgresDialect) rolledBack(err error) bool { return errors.Is(err, pgx.ErrTxCommitRollback) }

func (postgresDialect) jsonArray(expr string) string {
	return "coalesce(json_agg(" + expr + "), '[]')::text"
}

// customPlans makes the transaction plan every statement for its parameters and the
// tables as they are now. The relay's statements run thousands of times on each
// connection: PostgreSQL's plan cache then switches to a generic plan, made once, and
// one made while the outbox or messages table was small (a fresh database, a drained
// queue) reads every pending row or every message for each batch once the table has
// grown: a seq scan of messages and a hash join over the whole backlog took half of
// PostgreSQL's time under load. Planning each time costs tens of microseconds a batch.
const customPlans = "set_config('plan_cache_mode', 'force_custom_plan', true)"

// claimSetup also keeps the claim on the due index: PostgreSQL's estimate of the
// FIFO-head filter is far too selective, so it otherwise reads every due row of a
// backlog into a bitmap and sorts them all to return a hundred (32 ms for 10,000 due
// rows instead of 2 ms walking outbox_due in order and stopping at the limit). Both
// settings end with the transaction.
func (postgresDialect) claimSetup() string {
	return "SELECT set_config('enable_bitmapscan', 'off', true), " + customPlans
}

func (postgresDialect) relaySetup() string { return "SELECT " + customPlans }

func (sqliteDialect) completeBegin(context.Context, *sql.Tx, []string, bool, string) error {
	return nil // write transactions are already serial
}

// records on SQLite reads the fields of each row's JSON object, parsing the object for
// each; a row of one column is a plain value of a JSON array instead, read as it is
// (recordArgs), as a claim's message ids are.
func (sqliteDialect) records(alias string, cols ...col) string {
	if len(cols) == 1 {
		return "(SELECT value AS " + cols[0].name + " FROM json_each(?)) AS " + alias
	}
	var b strings.Builder
	b.WriteString("(SELECT ")
	for i, c := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "value->>'%s' AS %s", c.name, c.name)
	}
	b.WriteString(" FROM json_each(?)) AS " + alias)
	return b.String()
}

func (sqliteDialect) recordArgs(rows any) []any {
	v := reflect.ValueOf(rows)
	if v.Type().Elem().NumField() == 1 {
		vals := make([]any, v.Len())
		for i := range vals {
			vals[i] = v.Index(i).Field(0).Interface()
		}
		return []any{jsonArg(vals)}
	}
	return []any{jsonArg(rows)}
}

// records on PostgreSQL unnests one array parameter per column. A set-returning
// function of a JSON parameter is estimated at a hundred rows whatever the batch, and
// with that estimate the planner preferred a hash join over the whole messages table
// or every pending outbox row to a hundred index look-ups; unnest of arrays is
// estimated at the arrays' length, so a batch of thirty is looked up by key.
func (postgresDialect) records(alias string, cols ...col) string {
	var b strings.Builder
	b.WriteString("unnest(")
	for i, c := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("?::" + c.typ + "[]")
	}
	b.WriteString(") AS " + alias + "(")
	for i, c := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(c.name)
	}
	b.WriteString(")")
	return b.String()
}

// recordArgs turns a slice of structs into one slice per field, sent as arrays.
func (postgresDialect) recordArgs(rows any) []any {
	v := reflect.ValueOf(rows)
	et := v.Type().Elem()
	out := make([]any, et.NumField())
	for f := range et.NumField() {
		c := reflect.MakeSlice(reflect.SliceOf(et.Field(f).Type), v.Len(), v.Len())
		for i := range v.Len() {
			c.Index(i).Set(v.Index(i).Field(f))
		}
		out[f] = c.Interface()
	}
	return out
}

// completeBegin saves a Complete up to two round trips: the setting, the carrier-id
// locks and the NOTIFY were three statements.
func (postgresDialect) completeBegin(ctx context.Context, tx *sql.Tx, keys []string, notify bool, from string) error {
	q := "SELECT " + customPlans
	var args []any
	if len(keys) > 0 {
		arg, err := json.Marshal(keys)
		if err != nil {
			return err
		}
		// The function scan yields the keys in array order, so the locks are taken in it.
		q += ", (SELECT count(pg_advisory_xact_lock(hashtextextended(k, 0))) FROM jsonb_array_elements_text($1::jsonb) AS k)"
		args = append(args, string(arg))
	}
	if notify {
		args = append(args, from)
		q += fmt.Sprintf(", pg_notify('%s', $%d)", notifyChannel, len(args))
	}
	_, err := tx.ExecContext(ctx, q, args...)
	return err
}

// doneIn on SQLite takes one JSON object of each lease token's ids (doneArgs): a
// batch's rows share the few tokens of their claims, and reading ids straight from
// arrays spared parsing every row's record twice, a third of the statement's work.
// SQLite's one writer takes no row locks.
func (sqliteDialect) doneIn() string {
	return `DELETE FROM outbox WHERE (id, lease_token) IN
			(SELECT i.value, t.key FROM json_each(?) AS t, json_each(t.value) AS i) RETURNING id`
}

func (sqliteDialect) doneArgs(ids []int64, tokens []string) []any {
	byToken := map[string][]int64{}
	for i, id := range ids {
		byToken[tokens[i]] = append(byToken[tokens[i]], id)
	}
	return []any{jsonArg(byToken)}
}

// doneIn on PostgreSQL locks the rows in id order first, as a heartbeat locks them
// (see extendLeases).
func (d postgresDialect) doneIn() string {
	return `DELETE FROM outbox WHERE id IN (SELECT o.id FROM outbox o WHERE (o.id, o.lease_token) IN
			(SELECT r.eid, r.token FROM ` + d.records("r", col{"eid", "bigint"}, col{"token", "text"}) + `) ORDER BY o.id` + d.rowLock() + `) RETURNING id`
}

// doneArgs on PostgreSQL: one array of ids and one of tokens, records' form.
func (postgresDialect) doneArgs(ids []int64, tokens []string) []any {
	return []any{ids, tokens}
}

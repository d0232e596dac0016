// Package sqlstore implements store.Store on SQLite (modernc.org/sqlite, WAL, one writer
// with group commit) and PostgreSQL (pgx, several instances sharing one database; claims
// with FOR UPDATE SKIP LOCKED, wake-ups with LISTEN/NOTIFY). The SQL is shared; the few
// places the two differ live in dialect.
package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/omnigate/omnigate/store"
)

//go:embed migrations
var migrations embed.FS

// Options tune a store. The zero value is fine.
type Options struct {
	// Dir resolves a relative SQLite path (the configuration file's folder).
	Dir string
	// MaxBatch is how many Update calls one transaction folds (default 256).
	MaxBatch int
	// NoBatch turns PostgreSQL's group commit off: every Update is then its own
	// transaction. SQLite always batches (its one writer would otherwise serialise
	// every commit's fsync).
	NoBatch bool
	// Owner makes this process the SQLite database's only server (omnigate serve): it
	// takes a lock file beside the database, refusing to open when another process
	// holds it, and releases every lease left by a previous run at once, since no other
	// process can be delivering them. PostgreSQL ignores it: instances heartbeat.
	Owner bool
}

// DB is a store.Store on SQLite or PostgreSQL.
type DB struct {
	d      dialect
	w      *sql.DB // writes (SQLite: one connection)
	r      *sql.DB // reads
	q      queries
	ev     eventLogQueries
	notify chan struct{}

	commits chan *pending // SQLite group commit
	// self names this store in its NOTIFY payloads, so that its own listener skips them.
	self string
	// stmts holds the write path's statements prepared once on SQLite's one writer
	// connection (parsing SQL was over half of the writer's CPU). Read-only after Open.
	// PostgreSQL needs none: pgx caches prepared statements per connection.
	stmts   map[string]*sql.Stmt
	wg      sync.WaitGroup
	stop    chan struct{}
	closeMu sync.Once

	listenCancel context.CancelFunc
	writes       sync.Map // writeShape → Tx.Write's statement (PostgreSQL)
	lock         *os.File // SQLite owner's lock file
}

var _ store.Store = (*DB)(nil)

// Open connects to dsn ("sqlite://path" or "postgres://..."), migrates the schema and
// returns the store.
func Open(ctx context.Context, dsn string, opt Options) (*DB, error) {
	db, err := open(ctx, dsn, opt)
	if err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := db.prepare(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if db.lock != nil {
		if err := db.recoverLeases(ctx); err != nil {
			db.Close()
			return nil, err
		}
	}
	return db, nil
}

// recoverLeases releases every lease and registration a previous run left: the lock
// proves no other process is delivering, so rows in flight at a crash are due again
// now instead of after their lease.
func (db *DB) recoverLeases(ctx context.Context) error {
	return db.own(ctx, func(stx store.Tx) error {
		t := stx.(*tx)
		if _, err := t.exec(db.q.releaseAll); err != nil {
			return err
		}
		_, err := t.exec(db.q.dropInstances)
		return err
	})
}

// savepoint statements of the SQLite group commit.
const (
	spBegin    = "SAVEPOINT sp"
	spRollback = "ROLLBACK TO sp"
	spRelease  = "RELEASE sp"
)

// prepare readies every statement on SQLite's writer connection. It runs after the
// migrations, since a statement can only be prepared against tables that exist; the
// store works without it (OpenNoMigrate), only slower.
func (db *DB) prepare(ctx context.Context) error {
	if !db.d.groupCommit() {
		return nil
	}
	stmts := map[string]*sql.Stmt{}
	qs := append([]string{spBegin, spRollback, spRelease}, statements(db.q, db.ev)...)
	for _, q := range qs {
		if q == "" {
			continue // a statement this dialect does without
		}
		s, err := db.w.PrepareContext(ctx, q)
		if err != nil {
			for _, s := range stmts {
				s.Close()
			}
			return fmt.Errorf("store: prepare %q: %w", q, err)
		}
		stmts[q] = s
	}
	db.stmts = stmts
	return nil
}

// statements lists every statement of the store's query sets.
func statements(q queries, ev eventLogQueries) []string {
	var qs []string
	for _, set := range [...]reflect.Value{reflect.ValueOf(q), reflect.ValueOf(ev)} {
		for i := range set.NumField() {
			if f := set.Field(i); f.Kind() == reflect.String {
				qs = append(qs, f.String())
			}
		}
	}
	for _, f := range [...]insertForms{q.enqueue, q.event} {
		for _, form := range f.forms {
			qs = append(qs, form.q)
		}
	}
	return qs
}

// txStmts binds the prepared statements to one transaction, on first use of each.
type txStmts struct {
	db    *DB
	tx    *sql.Tx
	bound map[string]*sql.Stmt
}

func newTxStmts(db *DB, sqlTx *sql.Tx) *txStmts {
	return &txStmts{db: db, tx: sqlTx}
}

// get returns q bound to the transaction, or nil when q is not prepared.
func (s *txStmts) get(ctx context.Context, q string) *sql.Stmt {
	ps := s.db.stmts[q]
	if ps == nil {
		return nil
	}
	if st := s.bound[q]; st != nil {
		return st
	}
	if s.bound == nil {
		s.bound = make(map[string]*sql.Stmt, 16)
	}
	st := s.tx.StmtContext(ctx, ps)
	s.bound[q] = st
	return st
}

// exec runs q in the transaction, prepared when it can be.
func (s *txStmts) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if st := s.get(ctx, q); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return s.tx.ExecContext(ctx, q, args...)
}

// OpenNoMigrate connects without touching the schema.
func OpenNoMigrate(ctx context.Context, dsn string, opt Options) (*DB, error) {
	return open(ctx, dsn, opt)
}

func open(ctx context.Context, dsn string, opt Options) (*DB, error) {
	if opt.MaxBatch <= 0 {
		opt.MaxBatch = 256
	}
	db := &DB{notify: make(chan struct{}, 1), stop: make(chan struct{}), self: newToken()}
	switch {
	case strings.HasPrefix(dsn, "sqlite://"):
		path := strings.TrimPrefix(dsn, "sqlite://")
		if path == "" {
			return nil, errors.New("store: sqlite:// needs a file path")
		}
		query := ""
		if i := strings.IndexByte(path, '?'); i >= 0 {
			path, query = path[:i], path[i+1:]
		}
		if path != ":memory:" && !filepath.IsAbs(path) && opt.Dir != "" {
			path = filepath.Join(opt.Dir, path)
		}
		if opt.Owner && path != ":memory:" {
			lock, err := lockFile(path)
			if err != nil {
				return nil, err
			}
			db.lock = lock
		}
		w, r, err := openSQLite(path, query)
		if err != nil {
			db.unlock()
			return nil, err
		}
		db.d, db.w, db.r = sqliteDialect{}, w, r
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		w, err := openPostgres(dsn)
		if err != nil {
			return nil, err
		}
		db.d, db.w, db.r = postgresDialect{}, w, w
	default:
		return nil, fmt.Errorf("store: unsupported store %q (use sqlite://PATH or postgres://HOST/DB)", redactDSN(dsn))
	}
	if err := db.w.PingContext(ctx); err != nil {
		db.w.Close()
		if db.r != db.w {
			db.r.Close()
		}
		db.unlock()
		return nil, fmt.Errorf("store: connect: %w", err)
	}
	db.q = buildQueries(db.d)
	db.ev = buildEventLogQueries(db.d)
	if n := db.d.committers(); n > 0 && (db.d.groupCommit() || !opt.NoBatch) {
		db.commits = make(chan *pending, 4096)
		for range n {
			db.wg.Add(1)
			go db.committer(opt.MaxBatch)
		}
	}
	if l, ok := db.d.(listener); ok {
		lctx, cancel := context.WithCancel(context.Background())
		db.listenCancel = cancel
		db.wg.Add(1)
		go func() {
			defer db.wg.Done()
			l.listen(lctx, dsn, db.self, db.wake)
		}()
	}
	return db, nil
}

// redactDSN drops any password from a DSN so that it can be shown.
func redactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparseable)"
	}
	return u.Redacted()
}

// Migrate brings the schema to the latest version.
func (db *DB) Migrate(ctx context.Context) error {
	p, err := db.provider()
	if err != nil {
		return err
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	return nil
}

// MigrationsCurrent implements store.Store.
func (db *DB) MigrationsCurrent(ctx context.Context) (bool, error) {
	p, err := db.provider()
	if err != nil {
		return false, err
	}
	has, err := p.HasPending(ctx)
	return !has, err
}

func (db *DB) provider() (*goose.Provider, error) {
	sub, err := fs.Sub(migrations, "migrations/"+db.d.name())
	if err != nil {
		return nil, err
	}
	return goose.NewProvider(db.d.gooseDialect(), db.w, sub)
}

// Ping implements store.Store.
func (db *DB) Ping(ctx context.Context) error { return db.r.PingContext(ctx) }

// Notify implements store.Store.
func (db *DB) Notify() <-chan struct{} { return db.notify }

func (db *DB) wake() {
	select {
	case db.notify <- struct{}{}:
	default:
	}
}

// Close stops background work and closes the connections.
func (db *DB) Close() error {
	db.closeMu.Do(func() {
		close(db.stop)
		if db.listenCancel != nil {
			db.listenCancel()
		}
	})
	db.wg.Wait()
	for _, s := range db.stmts {
		s.Close()
	}
	err := db.w.Close()
	if db.r != db.w {
		if rerr := db.r.Close(); err == nil {
			err = rerr
		}
	}
	db.unlock()
	return err
}

func (db *DB) unlock() {
	if db.lock != nil {
		db.lock.Close() // closing the descriptor drops the flock
		db.lock = nil
	}
}

// pending is one Update call waiting for the SQLite committer.
type pending struct {
	ctx  context.Context
	fn   func(store.Tx) error
	done chan error
}

// Update implements store.Store. Concurrent calls are folded into one transaction
// (one call's error rolls back only its own writes, see commitBatch):
// one commit, and on PostgreSQL one NOTIFY, serves many requests. A call returns only
// after the commit that holds its writes.
func (db *DB) Update(ctx context.Context, fn func(store.Tx) error) error {
	if db.commits == nil {
		return db.updateOne(ctx, fn)
	}
	p := &pending{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case db.commits <- p:
	case <-ctx.Done():
		return ctx.Err()
	case <-db.stop:
		return errors.New("store: closed")
	}
	return <-p.done
}

// own runs the store's own set-based transactions (claim, complete, heartbeat,
// release, prune, retry): on PostgreSQL each alone, since they take their row locks in
// one order so that instances cannot deadlock, and a batch of unrelated callers would
// hold other locks around them; on SQLite through the group commit like every write.
func (db *DB) own(ctx context.Context, fn func(store.Tx) error) error {
	if db.d.groupCommit() {
		return db.Update(ctx, fn)
	}
	return db.updateOne(ctx, fn)
}

func (db *DB) updateOne(ctx context.Context, fn func(store.Tx) error) error {
	for attempt := 0; ; attempt++ {
		sqlTx, err := db.w.BeginTx(ctx, db.d.txOptions())
		if err != nil {
			return fmt.Errorf("store: begin: %w", err)
		}
		t := &tx{db: db, tx: sqlTx, ctx: ctx, stmts: newTxStmts(db, sqlTx)}
		if err := fn(t); err != nil {
			sqlTx.Rollback()
			if db.d.retryable(err) && attempt < 5 {
				continue
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			// The caller gave up while its writes ran: database/sql rolls the
			// transaction back on its own, and the caller hears why.
			sqlTx.Rollback()
			return err
		}
		if err := sqlTx.Commit(); err != nil {
			if errors.Is(err, sql.ErrTxDone) && ctx.Err() != nil {
				return ctx.Err() // rolled back when the context ended: nothing written
			}
			if db.d.retryable(err) && attempt < 5 {
				continue
			}
			return fmt.Errorf("store: commit: %w", err)
		}
		if t.enqueued {
			db.wake()
		}
		return nil
	}
}

func (db *DB) committer(maxBatch int) {
	defer db.wg.Done()
	batch := make([]*pending, 0, maxBatch)
	for {
		batch = batch[:0]
		select {
		case p := <-db.commits:
			batch = append(batch, p)
		case <-db.stop:
			db.drain()
			return
		}
	more:
		for len(batch) < maxBatch {
			select {
			case p := <-db.commits:
				batch = append(batch, p)
			default:
				break more
			}
		}
		db.commitBatch(batch)
	}
}

// drain fails the calls still waiting when the store closes.
func (db *DB) drain() {
	for {
		select {
		case p := <-db.commits:
			p.done <- errors.New("store: closed")
		default:
			return
		}
	}
}

// commitBatch runs a batch of Update calls in one transaction: first without savepoints
// (commitWhole), since callers almost never fail, and with a savepoint per caller only
// when one did.
func (db *DB) commitBatch(batch []*pending) {
	if db.commitWhole(batch) {
		return
	}
	db.commitSavepoints(batch)
}

// commitWhole runs a batch of Update calls in one transaction with no savepoint per
// caller: two statements less per caller (on SQLite's one writer; on PostgreSQL two
// round trips, and no subtransactions, whose cache overflows past 64 in a transaction).
// When a caller fails (its function's error, or its context ended while its writes
// ran), or PostgreSQL turns the commit into a rollback (a failed statement whose error
// a caller swallowed), the transaction is rolled back and commitWhole reports false,
// having answered nobody: the batch is then run again with savepoints, which is why
// Update documents that fn may run more than once.
func (db *DB) commitWhole(batch []*pending) bool {
	ctx := context.Background()
	sqlTx, err := db.w.BeginTx(ctx, db.d.txOptions())
	if err != nil {
		return false // the savepoint path begins again and reports the error
	}
	stmts := newTxStmts(db, sqlTx)
	results := make([]error, len(batch))
	enqueued := false
	for i, p := range batch {
		if err := p.ctx.Err(); err != nil {
			results[i] = err // gave up before its function ran: nothing to undo
			continue
		}
		t := &tx{db: db, tx: sqlTx, ctx: ctx, stmts: stmts, batched: true}
		if err := p.fn(t); err != nil || p.ctx.Err() != nil {
			sqlTx.Rollback()
			return false
		}
		enqueued = enqueued || t.enqueued
	}
	if enqueued {
		// One NOTIFY for the batch, delivered to other instances at commit.
		if err := db.d.notifyInTx(ctx, sqlTx, db.self); err != nil {
			sqlTx.Rollback()
			return false
		}
	}
	if err := sqlTx.Commit(); err != nil {
		if db.d.rolledBack(err) {
			return false // nothing was written: the savepoint path sorts the callers out
		}
		for _, p := range batch {
			p.done <- fmt.Errorf("store: commit: %w", err)
		}
		return true
	}
	if enqueued {
		db.wake()
	}
	for i, p := range batch {
		p.done <- results[i]
	}
	return true
}

// commitSavepoints runs a batch of Update calls in one transaction. Every statement runs on
// the committer's own context: a caller's cancelled context would interrupt SQLite
// mid-statement, and an interrupted write inside a transaction rolls the whole
// transaction back, failing every innocent caller of the batch. Instead a caller whose
// context is done before or after its function ran has its own savepoint rolled back
// and gets its context's error; the others commit.
func (db *DB) commitSavepoints(batch []*pending) {
	ctx := context.Background()
	sqlTx, err := db.w.BeginTx(ctx, db.d.txOptions())
	if err != nil {
		for _, p := range batch {
			p.done <- fmt.Errorf("store: begin: %w", err)
		}
		return
	}
	stmts := newTxStmts(db, sqlTx)
	results := make([]error, len(batch))
	var solo []*pending // lost a deadlock or a serialisation race: retried alone
	enqueued := false
	abort := func(err error) {
		sqlTx.Rollback()
		for _, p := range batch {
			p.done <- fmt.Errorf("store: batch aborted: %w", err)
		}
	}
	for i, p := range batch {
		if err := p.ctx.Err(); err != nil {
			results[i] = err
			continue
		}
		if _, err := stmts.exec(ctx, spBegin); err != nil {
			abort(err)
			return
		}
		t := &tx{db: db, tx: sqlTx, ctx: ctx, stmts: stmts, batched: true}
		err := p.fn(t)
		if err == nil {
			err = p.ctx.Err() // the caller gave up while its writes ran
		}
		if err == nil {
			// A failed statement whose error the function swallowed leaves a
			// PostgreSQL transaction aborted: RELEASE then fails, and rolling back
			// to the savepoint repairs it for the rest of the batch.
			if _, err = stmts.exec(ctx, spRelease); err == nil {
				if t.enqueued {
					enqueued = true
				}
				continue
			}
		}
		results[i] = err
		if db.d.retryable(err) {
			solo = append(solo, p)
			results[i] = nil
		}
		if _, rerr := stmts.exec(ctx, spRollback); rerr != nil {
			abort(rerr)
			return
		}
		if _, err := stmts.exec(ctx, spRelease); err != nil {
			abort(err)
			return
		}
	}
	if enqueued {
		// One NOTIFY for the batch, delivered to other instances at commit.
		if err := db.d.notifyInTx(ctx, sqlTx, db.self); err != nil {
			abort(err)
			return
		}
	}
	if err := sqlTx.Commit(); err != nil {
		for _, p := range batch {
			p.done <- fmt.Errorf("store: commit: %w", err)
		}
		return
	}
	if enqueued {
		db.wake()
	}
	for _, p := range solo {
		go func() { p.done <- db.updateOne(p.ctx, p.fn) }()
	}
	for i, p := range batch {
		if !slices.Contains(solo, p) {
			p.done <- results[i]
		}
	}
}

func newToken() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// micros stores times as microseconds since the epoch; the zero time is 0.
func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v).UTC()
}

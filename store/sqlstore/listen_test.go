package sqlstore

import (
	"context"
	"database/sql"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omnigate/omnigate/store/storetest"
)

// TestListenSkipsOwnNotifications: a store's listener wakes its relay for every other
// store's NOTIFY and never for its own (the store wakes its relay itself on commit).
// Notifications arrive in order, so once the other store's, sent after ours, has woken
// the relay, ours has been seen and skipped.
func TestListenSkipsOwnNotifications(t *testing.T) {
	app := "listen-test-" + newToken()
	dsn := storetest.PostgresSchema(t) + "&application_name=" + app
	ctx, cancel := context.WithCancel(context.Background())
	var wakes atomic.Int32
	woken := make(chan struct{}, 100)
	done := make(chan struct{})
	go func() {
		defer close(done)
		postgresDialect{}.listen(ctx, dsn, "me", func() { wakes.Add(1); woken <- struct{}{} })
	}()
	defer func() { cancel(); <-done }()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Wait until the listener's connection has run LISTEN: notifications sent before
	// then are not delivered to it.
	for listening := 0; listening == 0; {
		if err := db.QueryRow(`SELECT count(*) FROM pg_stat_activity WHERE application_name = $1
			AND query LIKE 'LISTEN%' AND state = 'idle'`, app).Scan(&listening); err != nil {
			t.Fatal(err)
		}
		if listening == 0 {
			time.Sleep(5 * time.Millisecond)
		}
	}
	for _, from := range []string{"me", "me", "other"} {
		if _, err := db.Exec("SELECT pg_notify('"+notifyChannel+"', $1)", from); err != nil {
			t.Fatal(err)
		}
	}
	<-woken
	if got := wakes.Load(); got != 1 {
		t.Errorf("woken %d times by two own notifications and one other, want 1", got)
	}
}

//go:build !unix

package sqlstore

import "os"

// lockFile is a no-op where flock is not available: the operator must make sure only
// one process serves a SQLite database.
func lockFile(string) (*os.File, error) { return nil, nil }

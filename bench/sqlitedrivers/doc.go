// Package sqlitedrivers holds only a benchmark comparing SQLite drivers; see
// drivers_test.go.
package sqlitedrivers

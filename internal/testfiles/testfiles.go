// Package testfiles reads the sample payloads tests and fuzz targets are seeded with.
package testfiles

import (
	"os"
	"path/filepath"
	"testing"
)

// Files returns the contents of the files in the package's testdata folder whose names
// match pattern ("*.json"), in name order. A file that cannot be read fails tb.
func Files(tb testing.TB, pattern string) [][]byte {
	tb.Helper()
	names, err := filepath.Glob(filepath.Join("testdata", pattern))
	if err != nil {
		tb.Fatal(err)
	}
	out := make([][]byte, 0, len(names))
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

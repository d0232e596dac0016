//go:build !mattn && !ncruces

package sqlitedrivers

import _ "modernc.org/sqlite"

const driverName = "sqlite"

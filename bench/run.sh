#!/bin/sh
# Reproduces every figure of BENCHMARKS.md: builds omnigate and omnigate-load, then
# lets the load tool start the daemons row by row (fake carriers on loopback, SMS
# pacing off) and print the table with the targets.
#
#   bench/run.sh                 # 10 s of load per row (about 3 minutes plus the build)
#   DURATION=3s bench/run.sh     # a quick pass
#   PG=postgres://postgres@127.0.0.1:5432/omnigate_bench?sslmode=disable bench/run.sh
#   ROWS=webhook-sqlite,ceiling PROFILE_DIR=/tmp/prof bench/run.sh
#
# PG names a database the tool DROPS and re-creates for every PostgreSQL row (default
# below; set PG= to an empty value to skip the PostgreSQL rows). Needs Go and, for the
# PostgreSQL rows, a server on which the DSN's user may create databases. Ports used
# on 127.0.0.1: 8080-8082 (daemons), 8090 (ceiling), 9101-9103 (fakes), 6061 (pprof).
set -eu
cd "$(dirname "$0")/.."
OUT=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/omnigate-bench.XXXXXX")}
DURATION=${DURATION:-10s}
PG=${PG-postgres://postgres@127.0.0.1:5432/omnigate_bench?sslmode=disable}
mkdir -p "$OUT"
go build -o "$OUT/omnigate" ./cmd/omnigate
go build -o "$OUT/omnigate-load" ./cmd/omnigate-load
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(go version | cut -d' ' -f3-4)"
echo "uptime: $(uptime)"
set -- --mode table --omnigate "$OUT/omnigate" --config bench/omnigate.yaml \
	--config-events bench/omnigate-events.yaml --config-events-batched bench/omnigate-events-batched.yaml --workdir "$OUT/work" --duration "$DURATION" --pg "$PG"
[ -n "${ROWS:-}" ] && set -- "$@" --rows "$ROWS"
[ -n "${PROFILE_DIR:-}" ] && set -- "$@" --profile-dir "$PROFILE_DIR"
"$OUT/omnigate-load" "$@"
echo "uptime: $(uptime)"
echo "daemon logs and databases: $OUT/work"

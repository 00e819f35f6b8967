#!/usr/bin/env bash
# Runs souk and the Express + Socket.IO reference one after the other on this
# machine with the same loads, and writes the figures into BENCHMARKS.md and
# docs/bench/latency.svg.
#
#   bench/run.sh                      # the full comparison (about 15 minutes)
#   bench/run.sh --rates 500,1000 --refine 0 --idle-sockets 2000   # a quick one
#
# Every flag is passed to `souk-bench compare` (see `--help`). It builds what
# it needs: souk (release), the load generator (release, in bench/target) and
# the reference's node_modules (npm ci). Traffic stays on 127.0.0.1.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# 10,000 idle sockets plus the pairs' need more descriptors than the usual
# 1024, in the server and in the generator.
want=16384
hard="$(ulimit -Hn)"
if [ "$hard" != unlimited ] && [ "$hard" -lt "$want" ]; then
    echo "warning: the hard limit of open files is $hard; the idle-socket test may fail" >&2
    want="$hard"
fi
ulimit -n "$want"

echo "== building souk (release)" >&2
cargo build --release -p souk-api
echo "== building the load generator (release)" >&2
cargo build --release --manifest-path bench/Cargo.toml
echo "== installing the reference's packages" >&2
if [ ! -d bench/reference/node_modules ] || [ bench/reference/package-lock.json -nt bench/reference/node_modules ]; then
    npm ci --prefix bench/reference --no-audit --no-fund
fi

echo "== machine load before the run: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
exec bench/target/release/souk-bench compare \
    --command-line "bench/run.sh${*:+ $*}" \
    "$@"

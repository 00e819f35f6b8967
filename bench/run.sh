#!/usr/bin/env bash
# Runs souk and its three peers (the floor: souk's socket stack relaying in
# memory; the in-memory Express + Socket.IO reference; the durable Express +
# Socket.IO + PostgreSQL reference) one after the other on this machine with
# the same loads, interleaved rate by rate, and writes the figures and the
# goals' ratios into BENCHMARKS.md and the plot into docs/bench/latency.svg.
#
#   bench/run.sh                      # the full comparison (about 25 minutes)
#   bench/run.sh --quick              # a shorter one (about 10 minutes)
#   bench/run.sh --servers souk,floor --rates 500,1000 --refine 0 --idle-sockets 0
#
# --quick stands for `--rates 250,1000,2000,4000,8000 --refine 1 --duration 5`
# (the flags after it still apply). Every other flag is passed to
# `souk-bench compare` (see `--help`). It builds what it needs: souk
# (release; or set SOUK_BIN to a release binary built elsewhere), the load
# generator and the floor (release, in bench/target), the references'
# node_modules (npm ci). The durable reference's PostgreSQL comes from
# Debian's binaries (scripts/pg.sh). Traffic stays on 127.0.0.1.
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

# --quick: its three settings, unless a flag of the command line gives one.
args=()
quick=0
for a in "$@"; do
    if [ "$a" = --quick ]; then quick=1; else args+=("$a"); fi
done
if [ "$quick" = 1 ]; then
    given=" ${args[*]:-} "
    for setting in "--rates 250,1000,2000,4000,8000" "--refine 1" "--duration 5"; do
        case "$given" in
            *" ${setting%% *} "* | *" ${setting%% *}="*) ;;
            *) read -r -a pair <<<"$setting"; args+=("${pair[@]}") ;;
        esac
    done
fi

if [ -n "${SOUK_BIN:-}" ]; then
    echo "== souk: $SOUK_BIN" >&2
    souk_bin="$SOUK_BIN"
else
    echo "== building souk (release)" >&2
    cargo build --release -p souk-api
    souk_bin=target/release/souk
fi
echo "== building the load generator and the floor (release)" >&2
cargo build --release --manifest-path bench/Cargo.toml
for dir in bench/reference bench/reference-pg; do
    if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules" ]; then
        echo "== installing the packages of $dir" >&2
        npm ci --prefix "$dir" --no-audit --no-fund
    fi
done

echo "== machine load before the run: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
exec bench/target/release/souk-bench compare \
    --souk-bin "$souk_bin" \
    --command-line "bench/run.sh${*:+ $*}" \
    "${args[@]}"

#!/usr/bin/env bash
# Socket delivery across nodes against one node, at the same offered rate, in
# one run on this machine: BENCHMARKS.md ("Cluster") shows its output.
#
#   bench/cluster.sh                                  # 1,000 messages/s, 3 rounds
#   bench/cluster.sh --rate 500 --rounds 2 --duration 10
#
# Each round runs three loads, in an order that rotates from round to round
# (so that neither gets the quieter part of the machine's time):
# - single: one standalone node on the embedded log (plain `souk serve`);
# - one-node: two nodes sharing a private PostgreSQL log, both sides of every
#   conversation on node A;
# - cross-node: the same two nodes, customers' sockets on A, vendors' on B:
#   every message is sent on one node and heard on the other.
# Messages go over the sockets (`souk-bench load --via socket`), 100 pairs.
# The figures of every load are kept as JSON in the output directory (printed
# at the end); the summary is a Markdown table on stdout. SOUK_BIN runs a
# souk you built instead of building one.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

rate=1000
rounds=3
duration=20
warmup=3
pairs=100
while [ "$#" -gt 0 ]; do
  case "$1" in
    --rate) rate="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --warmup) warmup="$2"; shift 2 ;;
    --pairs) pairs="$2"; shift 2 ;;
    *) echo "usage: bench/cluster.sh [--rate N] [--rounds N] [--duration S] [--warmup S] [--pairs N]" >&2; exit 2 ;;
  esac
done

if [ -n "${SOUK_BIN:-}" ]; then
  souk="$(cd "$(dirname "$SOUK_BIN")" && pwd)/$(basename "$SOUK_BIN")"
else
  echo "== building souk (release)" >&2
  cargo build --release -p souk-api
  souk="$root/target/release/souk"
fi
echo "== building the load generator (release)" >&2
cargo build --release --manifest-path bench/Cargo.toml
load="$root/bench/target/release/souk-bench"

work="$(mktemp -d "${TMPDIR:-/tmp}/souk-bench-cluster.XXXXXX")"
out="$work/results"
mkdir -p "$out" "$work/pg"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  scripts/pg.sh stop "$work/pg" >/dev/null 2>&1 || true
  rm -rf "$work/pg" "$work"/node-*
}
trap cleanup EXIT

secret="$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')"
export SOUK_JWT_SECRET="$secret"
export SOUK_LOG=warn

# start_node NAME [serve flags...]: starts `souk serve` on free ports and
# sets $pid, $http and $socket from its "listening" line.
start_node() {
  local name="$1"
  shift
  local dir="$work/node-$name"
  rm -rf "$dir"
  mkdir -p "$dir"
  "$souk" serve --data-dir "$dir" --http-addr 127.0.0.1:0 --socket-addr 127.0.0.1:0 \
    --rest-rate-per-user 100000 "$@" >"$dir/stdout" 2>"$dir/log" &
  pid=$!
  pids+=("$pid")
  local deadline=$((SECONDS + 60)) line=""
  until line="$(grep -m1 '"event":"listening"' "$dir/stdout" 2>/dev/null)"; do
    if ! kill -0 "$pid" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
      echo "node $name did not start:" >&2
      tail -n 20 "$dir/log" >&2
      exit 1
    fi
    sleep 0.1
  done
  http="http://$(sed -E 's/.*"http":"([^"]+)".*/\1/' <<<"$line")"
  socket="http://$(sed -E 's/.*"socket":"([^"]+)".*/\1/' <<<"$line")"
}

stop_pid() {
  kill -TERM "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

echo "== PostgreSQL and two nodes sharing it" >&2
pg_url="$(scripts/pg.sh start "$work/pg")"
log_url="$(node -e 'const u = new URL(process.argv[1]); u.pathname = "/souk_bench"; console.log(u.toString())' "$pg_url")"
psql "$pg_url" -qAtX -v ON_ERROR_STOP=1 -c "CREATE DATABASE souk_bench" >/dev/null
start_node A --log-url "$log_url"
a_pid=$pid a_http=$http a_socket=$socket
start_node B --log-url "$log_url"
b_socket=$socket

# run_load KIND ROUND: one load, its JSON in $out/KIND-ROUND.json.
run_load() {
  local kind="$1" round="$2" http_url socket_url server_pid extra=()
  case "$kind" in
    single)
      start_node single
      http_url=$http socket_url=$socket server_pid=$pid
      ;;
    one-node)
      http_url=$a_http socket_url=$a_socket server_pid=$a_pid
      ;;
    cross-node)
      http_url=$a_http socket_url=$a_socket server_pid=$a_pid
      extra=(--vendor-socket-url "$b_socket")
      ;;
  esac
  echo "== round $round: $kind at $rate/s (load before: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
  "$load" load --server-url "$http_url" --socket-url "$socket_url" "${extra[@]}" \
    --pairs "$pairs" --rate "$rate" --duration "$duration" --warmup "$warmup" \
    --via socket --secret "$secret" --server-pid "$server_pid" \
    --run-id "r$round-$kind" --out "$out/$kind-$round.json"
  if [ "$kind" = single ]; then
    stop_pid "$server_pid"
  fi
}

kinds=(single one-node cross-node)
for round in $(seq 1 "$rounds"); do
  for k in 0 1 2; do
    run_load "${kinds[$(((k + round - 1) % 3))]}" "$round"
  done
done

# The table: one line per load, then the ratios per round.
node - "$out" "$rounds" <<'EOF'
const fs = require('node:fs');
const path = require('node:path');
const [dir, rounds] = [process.argv[2], Number(process.argv[3])];
const read = (kind, r) => JSON.parse(fs.readFileSync(path.join(dir, `${kind}-${r}.json`), 'utf8'));
const f = (x) => x.toFixed(2);
console.log('| round | load | offered/s | delivered | lost | dup | p50 ms | p99 ms | p99.9 ms | max ms | other cores |');
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (let r = 1; r <= rounds; r++) {
  for (const kind of ['single', 'one-node', 'cross-node']) {
    const j = read(kind, r);
    const l = j.latencyMs;
    console.log(`| ${r} | ${kind} | ${j.offeredRate} | ${j.delivered}/${j.sent} | ${j.lost} | ${j.duplicates} | ${f(l.p50)} | ${f(l.p99)} | ${f(l.p999)} | ${f(l.max)} | ${f(j.othersCores)} |`);
  }
}
console.log('');
console.log('| round | p99 cross-node / single | p99 cross-node / one-node | p50 cross-node - single (ms) |');
console.log('| --- | --- | --- | --- |');
for (let r = 1; r <= rounds; r++) {
  const [s, o, c] = ['single', 'one-node', 'cross-node'].map((k) => read(k, r).latencyMs);
  console.log(`| ${r} | ${f(c.p99 / s.p99)}x | ${f(c.p99 / o.p99)}x | ${f(c.p50 - s.p50)} |`);
}
EOF
echo >&2
echo "the JSON of every load: $out" >&2

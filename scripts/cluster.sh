#!/usr/bin/env bash
# Runs souk in cluster mode on this machine, for trying it: a private
# PostgreSQL (scripts/pg.sh, Debian's binaries) and three nodes that share it
# as their event log, each with its own data directory (read models), all
# with one signing secret. Ctrl-C stops the nodes (drained), then PostgreSQL,
# and removes the temporary directory.
#
#   scripts/cluster.sh                   # nodes on 8080/8081, 8090/8091, 8100/8101
#   scripts/cluster.sh 9000 9010 9020    # HTTP on these ports, Socket.IO on each + 1
#
# The nodes run in demo mode (the web app's sign-in page mints tokens for
# the demo users; the seed is idempotent, so every node may run it). Set
# SOUK_CLUSTER_DEMO=0 for plain nodes, SOUK_CLUSTER_DIR to keep everything in
# a directory of your choice (kept at exit), SOUK_BIN to run a binary you
# built instead of building one, and any other SOUK_* setting as for
# `souk serve` (it applies to every node).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$#" -eq 0 ]; then
  set -- 8080 8090 8100
fi
for port in "$@"; do
  case "$port" in
    '' | *[!0-9]*) echo "usage: scripts/cluster.sh [HTTP_PORT ...] (Socket.IO listens on each + 1)" >&2; exit 2 ;;
  esac
done
names=(A B C D E F G H)
if [ "$#" -gt "${#names[@]}" ]; then
  echo "at most ${#names[@]} nodes" >&2
  exit 2
fi

if [ -n "${SOUK_BIN:-}" ]; then
  souk="$(cd "$(dirname "$SOUK_BIN")" && pwd)/$(basename "$SOUK_BIN")"
else
  echo "== building souk (release)" >&2
  cargo build --release -p souk-api
  souk="$PWD/target/release/souk"
fi
if [ ! -f web/dist/index.html ]; then
  echo "== building the web app" >&2
  npm ci --prefix web --no-audit --no-fund --loglevel=error
  npm run --prefix web build
fi

keep=0
if [ -n "${SOUK_CLUSTER_DIR:-}" ]; then
  work="$SOUK_CLUSTER_DIR"
  mkdir -p "$work"
  keep=1
else
  work="$(mktemp -d "${TMPDIR:-/tmp}/souk-cluster.XXXXXX")"
fi
mkdir -p "$work/pg"

pids=()
stopping=0
cleanup() {
  [ "$stopping" = 1 ] && return
  stopping=1
  trap - INT TERM
  echo >&2
  echo "== stopping the nodes" >&2
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  echo "== stopping PostgreSQL" >&2
  scripts/pg.sh stop "$work/pg" >/dev/null 2>&1 || true
  if [ "$keep" = 0 ]; then
    rm -rf "$work"
  else
    echo "kept $work" >&2
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== starting PostgreSQL in $work/pg" >&2
log_url="$(scripts/pg.sh start "$work/pg")"

# One secret for every node, so that a token is good on all of them.
secret="${SOUK_JWT_SECRET:-$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')}"
demo=()
[ "${SOUK_CLUSTER_DEMO:-1}" = 1 ] && demo=(--demo)

i=0
for port in "$@"; do
  name="${names[$i]}"
  dir="$work/node-$name"
  mkdir -p "$dir"
  echo "== starting node $name" >&2
  SOUK_JWT_SECRET="$secret" SOUK_LOG_URL="$log_url" "$souk" serve "${demo[@]}" \
    --data-dir "$dir" \
    --http-addr "127.0.0.1:$port" \
    --socket-addr "127.0.0.1:$((port + 1))" \
    >"$dir/stdout" 2>"$dir/log" &
  pids+=("$!")
  # Wait for its "listening" line (the first node also creates the log's
  # tables, so they start one after the other).
  deadline=$((SECONDS + 60))
  until grep -q '"event":"listening"' "$dir/stdout" 2>/dev/null; do
    if ! kill -0 "${pids[$i]}" 2>/dev/null; then
      echo "node $name exited; its log ($dir/log):" >&2
      tail -n 20 "$dir/log" >&2
      exit 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "node $name did not start within 60 s; its log ($dir/log):" >&2
      tail -n 20 "$dir/log" >&2
      exit 1
    fi
    sleep 0.1
  done
  i=$((i + 1))
done

echo
echo "souk cluster: ${#pids[@]} nodes sharing one PostgreSQL log ($log_url)"
echo
i=0
for port in "$@"; do
  name="${names[$i]}"
  printf '  node %s  http://127.0.0.1:%s/  (REST, web app)  Socket.IO 127.0.0.1:%s  log %s\n' \
    "$name" "$port" "$((port + 1))" "$work/node-$name/log"
  i=$((i + 1))
done
echo
echo "A token good on every node:"
echo "  SOUK_JWT_SECRET=$secret $souk token --data-dir $work/node-A --user c-1 --role customer --name Alice"
echo "Health of each node: curl -s http://127.0.0.1:$1/healthz"
echo "Ctrl-C stops everything."

# Runs until Ctrl-C, or until a node exits by itself.
set +e
wait -n "${pids[@]}"
status=$?
if [ "$stopping" = 0 ]; then
  echo "a node exited by itself (status $status); stopping the others" >&2
fi
exit "$status"

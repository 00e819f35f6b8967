#!/usr/bin/env bash
# A private PostgreSQL server for tests and local clusters, from the
# binaries already installed (Debian's /usr/lib/postgresql/<version>/bin);
# installs nothing.
#
#   scripts/pg.sh start DIR   creates a cluster in DIR (first time), starts it
#                             on a free port of 127.0.0.1 (again: on the port it
#                             had, when still free) and prints its URL,
#                             postgres://souk@127.0.0.1:PORT/postgres, on stdout
#   scripts/pg.sh stop DIR    stops it (DIR is kept; delete it to start afresh)
#   scripts/pg.sh url DIR     prints the URL of the running server
#
# The server listens on 127.0.0.1 only (no Unix socket in a shared folder),
# trusts every local connection (a test server: no passwords), has a
# superuser `souk` and max_connections=300 (each souk node holds a pool, a
# writer and a LISTEN connection; tests start many nodes). Durability
# settings stay the defaults (fsync, synchronous_commit on), so what is
# measured against it is what production would pay.
#
# PostgreSQL refuses to run as root: run as root, the script runs the
# server as the `postgres` user if there is one, else `nobody`, and gives
# that user DIR. Messages go to stderr; the server's log is DIR/server.log.
set -euo pipefail

die() {
  echo "pg.sh: $*" >&2
  exit 1
}

usage() {
  echo "usage: scripts/pg.sh start|stop|url DIR" >&2
  exit 2
}

[ $# -eq 2 ] || usage
command=$1
dir=$2
[ -n "$dir" ] || usage

bin=""
for candidate in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
  if [ -x "$candidate/initdb" ] && [ -x "$candidate/pg_ctl" ]; then
    bin=$candidate
    break
  fi
done
[ -n "$bin" ] || die "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin (install the postgresql package)"

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
data="$dir/data"
log="$dir/server.log"

# Who runs the server, and how to run a command as them.
as_owner=()
if [ "$(id -u)" -eq 0 ]; then
  if id postgres >/dev/null 2>&1; then
    owner=postgres
  else
    owner=nobody
  fi
  if command -v runuser >/dev/null 2>&1; then
    as_owner=(runuser -u "$owner" --)
  elif command -v setpriv >/dev/null 2>&1; then
    as_owner=(setpriv --reuid="$owner" --regid="$(id -g "$owner")" --init-groups --)
  else
    die "running as root, but neither runuser nor setpriv is available to drop to $owner"
  fi
  chown "$owner" "$dir"
  chmod 700 "$dir"
  # Every folder above DIR must be searchable by the owner.
  parent=$(dirname "$dir")
  while [ "$parent" != "/" ]; do
    chmod o+x "$parent" 2>/dev/null || true
    parent=$(dirname "$parent")
  done
fi
run() { "${as_owner[@]}" "$@"; }

port_of() {
  sed -n 's/^port *= *\([0-9][0-9]*\).*/\1/p' "$data/postgresql.auto.conf" "$data/souk.conf" 2>/dev/null | tail -1
}

url() {
  echo "postgres://souk@127.0.0.1:$1/postgres"
}

running() {
  run "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()' 2>/dev/null ||
    echo $((20000 + RANDOM % 20000))
}

case "$command" in
  start)
    if [ ! -f "$data/PG_VERSION" ]; then
      rm -rf "$data"
      mkdir -p "$data"
      [ "${#as_owner[@]}" -eq 0 ] || chown "$owner" "$data"
      chmod 700 "$data"
      run "$bin/initdb" -D "$data" -U souk --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
        run "$bin/initdb" -D "$data" -U souk --auth=trust --encoding=UTF8 --no-locale >"$dir/initdb.log" 2>&1 ||
        die "initdb failed, see $dir/initdb.log"
      {
        echo "listen_addresses = '127.0.0.1'"
        echo "unix_socket_directories = ''"
        echo "max_connections = 300"
        echo "shared_buffers = 128MB"
      } >"$data/souk.conf"
      echo "include 'souk.conf'" >>"$data/postgresql.conf"
      {
        echo "host all all 127.0.0.1/32 trust"
      } >"$data/pg_hba.conf"
      [ "${#as_owner[@]}" -eq 0 ] || chown "$owner" "$data/souk.conf" "$data/pg_hba.conf"
    fi
    if running; then
      port=$(port_of)
      [ -n "$port" ] || die "a server runs in $data but its port is unknown"
      echo "pg.sh: already running in $dir" >&2
      url "$port"
      exit 0
    fi
    # A restart keeps the port it had (clients hold the URL); a first start,
    # or a restart whose port was taken meanwhile, takes a free one. A port
    # chosen now could be taken before the server binds it: try a few.
    previous=$(port_of)
    for attempt in 1 2 3 4 5; do
      if [ "$attempt" -eq 1 ] && [ -n "$previous" ]; then
        port=$previous
      else
        port=$(free_port)
        [ -z "$previous" ] || echo "pg.sh: port $previous is taken, now on $port" >&2
      fi
      sed -i '/^port *=/d' "$data/souk.conf"
      echo "port = $port" >>"$data/souk.conf"
      : >"$log"
      [ "${#as_owner[@]}" -eq 0 ] || chown "$owner" "$log"
      if run "$bin/pg_ctl" -D "$data" -l "$log" -w -t 60 start >/dev/null 2>&1; then
        break
      fi
      if ! grep -qi "could not bind\|address already in use" "$log"; then
        die "the server did not start, see $log: $(tail -3 "$log" | tr '\n' ' ')"
      fi
      [ "$attempt" -lt 5 ] || die "no free port after 5 attempts, see $log"
    done
    for _ in $(seq 100); do
      if "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -U souk; then
        url "$port"
        exit 0
      fi
      sleep 0.1
    done
    die "the server started but does not accept connections on port $port, see $log"
    ;;
  stop)
    if [ ! -f "$data/PG_VERSION" ]; then
      echo "pg.sh: no cluster in $dir" >&2
      exit 0
    fi
    if running; then
      run "$bin/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null || die "could not stop the server in $data, see $log"
      echo "pg.sh: stopped the server in $dir" >&2
    else
      echo "pg.sh: no server running in $dir" >&2
    fi
    ;;
  url)
    running || die "no server running in $dir"
    url "$(port_of)"
    ;;
  *)
    usage
    ;;
esac

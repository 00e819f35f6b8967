#!/usr/bin/env bash
# Runs Schemathesis (property-based tests generated from the OpenAPI
# document) against the release binary: souk serves its own document at
# /api/openapi.json, and every generated request must get a documented
# status, a documented content type and a body that matches its schema,
# and never a 5xx.
#
# The server runs on free ports over a temporary data directory with a
# customer (c-1) and a vendor (v-1) token and one conversation between them
# holding one message, so that generated requests also reach existing ids.
# The per-user rate limit is raised so the requests reach the routes (429 is
# still documented).
#
#   SOUK_BIN                 the binary (default target/release/souk)
#   SCHEMATHESIS_VENV        where Schemathesis is installed (default
#                            target/schemathesis-venv; made when missing)
#   SCHEMATHESIS_EXAMPLES    examples per operation (default 30)
set -euo pipefail
cd "$(dirname "$0")/.."

version=4.32.5
bin="${SOUK_BIN:-target/release/souk}"
venv="${SCHEMATHESIS_VENV:-target/schemathesis-venv}"
examples="${SCHEMATHESIS_EXAMPLES:-30}"

if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -qF "$version"; then
  echo "installing schemathesis $version into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version"
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/souk-schemathesis.XXXXXX")"
pid=""
cleanup() {
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

read -r http_port socket_port < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
')
base="http://127.0.0.1:$http_port"

SOUK_REST_RATE=100000 "$bin" serve --data-dir "$work/data" \
  --http-addr "127.0.0.1:$http_port" --socket-addr "127.0.0.1:$socket_port" \
  >"$work/souk.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  if curl -fsS "$base/healthz" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$pid" 2>/dev/null; then cat "$work/souk.log"; exit 1; fi
  sleep 0.1
done
curl -fsS "$base/healthz" >/dev/null

customer="$("$bin" token --data-dir "$work/data" --user c-1 --role customer)"
vendor="$("$bin" token --data-dir "$work/data" --user v-1 --role vendor)"

json() { python3 -c "import json, sys; print(json.load(sys.stdin)$1)"; }
conversation="$(curl -fsS -X POST "$base/api/chat/conversation" \
  -H "Authorization: Bearer $customer" -H 'Content-Type: application/json' \
  -d '{"vendorId":"v-1","vendorName":"Vendor One","product":{"id":"p-1","name":"Red bike"}}' |
  json '["id"]')"
message="$(curl -fsS -X POST "$base/api/chat/send" \
  -H "Authorization: Bearer $customer" -H 'Content-Type: application/json' \
  -d "{\"conversationId\":\"$conversation\",\"text\":\"Is it still available?\"}" |
  json '["message"]["id"]')"

# Every check runs (a 5xx, an undocumented status or content type, a body
# that does not match its schema, an invalid request accepted, auth ignored,
# a method that is not 405, ...) but positive_data_acceptance ("every
# request the schema allows gets a 2xx"): some of souk's rules are not JSON
# Schema's to say: a `cursor` is opaque (only the server's own are
# accepted), `send` needs text or a product, the analytics window must run
# forwards and span at most 366 days, and a JSON integer is written without
# a fraction (JSON Schema's `integer` admits `5.0`). Those requests get a
# documented 400, which the other checks verify.
#
# The customer's token everywhere, the vendor's on the vendor routes; the
# ids in paths are the existing conversation and message.
cat >"$work/schemathesis.toml" <<EOF
[parameters]
"path.conversationId" = "$conversation"
"path.messageId" = "$message"
"body.conversationId" = "$conversation"

[[operations]]
include-path-regex = "^/api/vendor/"
headers = { Authorization = "Bearer $vendor" }
EOF

# From the temporary directory: Schemathesis keeps its cache in the current one.
st="$(cd "$venv/bin" && pwd)/schemathesis"
(cd "$work" && "$st" --config-file "$work/schemathesis.toml" run "$base/api/openapi.json" \
  --checks all --exclude-checks positive_data_acceptance \
  --header "Authorization: Bearer $customer" \
  --max-examples "$examples" \
  --phases examples,coverage,fuzzing \
  --request-timeout 10 \
  --seed 1 \
  --no-color) || { status=$?; echo "souk's log:"; tail -n 50 "$work/souk.log"; exit "$status"; }

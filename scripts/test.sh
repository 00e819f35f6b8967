#!/usr/bin/env bash
# Runs every test of souk on a fresh machine: installs what the tests need
# (npm packages, Debian's Chromium and PostgreSQL), starts a private
# PostgreSQL for the tests that need one (stopped at exit), then checks that
# no link leaves the repository and runs the Rust suites, the client kit's
# and the web app's unit tests, Schemathesis against the OpenAPI document,
# the webhook receiver example, the Socket.IO
# suite with the official socket.io-client, the cluster suite (three nodes
# sharing one PostgreSQL log) and the browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "installing test dependencies"
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# Debian's PostgreSQL keeps its server binaries out of PATH, by major version.
if ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || ! command -v psql >/dev/null 2>&1; then
  missing+=(postgresql)
fi
if [ "${#missing[@]}" -gt 0 ]; then
  sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
npm ci --prefix tests/socket --no-audit --no-fund --loglevel=error
npm ci --prefix tests/cluster --no-audit --no-fund --loglevel=error
npm ci --prefix web --no-audit --no-fund --loglevel=error
npm ci --prefix clients/js --no-audit --no-fund --loglevel=error
npm ci --prefix bench/reference --no-audit --no-fund --loglevel=error
npm ci --prefix bench/reference-pg --no-audit --no-fund --loglevel=error

step "a private PostgreSQL for the tests"
# Its own cluster in a temporary directory on a free port, run as an
# unprivileged user; every PostgreSQL test (Rust and Node) makes its own
# databases in it. Stopped and removed however this script ends.
pg_dir="$(mktemp -d "${TMPDIR:-/tmp}/souk-test-pg.XXXXXX")"
stop_pg() {
  scripts/pg.sh stop "$pg_dir" >/dev/null 2>&1 || true
  rm -rf "$pg_dir"
}
trap stop_pg EXIT
SOUK_TEST_PG_URL="$(scripts/pg.sh start "$pg_dir")"
export SOUK_TEST_PG_URL
echo "PostgreSQL for the tests: $SOUK_TEST_PG_URL"

step "no link leaves the repository"
bash scripts/check-links.sh

step "format and lints (the workspace, and bench/, a workspace of its own)"
cargo fmt --all --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo fmt --manifest-path bench/Cargo.toml --all --check
cargo clippy --manifest-path bench/Cargo.toml --all-targets --quiet -- -D warnings

step "Rust tests (domain, store, actors, projections, api, black-box REST; bench/'s own)"
cargo test --workspace
cargo test --manifest-path bench/Cargo.toml

step "bench's Node peers against the contract (in memory; durable, on the test PostgreSQL)"
npm test --prefix bench/reference
npm test --prefix bench/reference-pg

step "client kit (tsc and Vitest) and the web app's unit tests"
npm test --prefix clients/js
npm run --prefix web test:unit

step "release build and web app"
cargo build --release -p souk-api
npm run --prefix web build

step "the client kit's OpenAPI snapshot matches what the release binary serves"
SOUK_BIN="$PWD/target/release/souk" npm run --prefix clients/js test:openapi

step "Schemathesis: the release binary against its own OpenAPI document"
SOUK_BIN="$PWD/target/release/souk" scripts/schemathesis.sh

step "example: a marketplace backend receiving webhooks"
SOUK_BIN="$PWD/target/release/souk" node --test examples/marketplace-backend/test.mjs

step "Socket.IO tests (socket.io-client v4 against the release binary)"
SOUK_BIN="$PWD/target/release/souk" npm test --prefix tests/socket

step "cluster tests (three release nodes sharing one PostgreSQL log, socket.io-client v4)"
SOUK_BIN="$PWD/target/release/souk" npm test --prefix tests/cluster

step "browser tests (Playwright + Chromium against the release binary)"
SOUK_BIN="$PWD/target/release/souk" npm run --prefix web test:e2e

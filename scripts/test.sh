#!/usr/bin/env bash
# Runs every test of souk on a fresh machine: installs what the tests need
# (npm packages, Debian's Chromium), then the Rust suites, the Socket.IO suite
# with the official socket.io-client, and the browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "installing test dependencies"
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
fi
npm ci --prefix tests/socket --no-audit --no-fund --loglevel=error
npm ci --prefix web --no-audit --no-fund --loglevel=error

step "format and lints"
cargo fmt --all --check
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "Rust tests (domain, store, actors, projections, api, black-box REST)"
cargo test --workspace

step "release build and web app"
cargo build --release -p souk-api
npm run --prefix web build

step "Socket.IO tests (socket.io-client v4 against the release binary)"
SOUK_BIN="$PWD/target/release/souk" npm test --prefix tests/socket

step "browser tests (Playwright + Chromium against the release binary)"
SOUK_BIN="$PWD/target/release/souk" npm run --prefix web test:e2e

#!/usr/bin/env bash
# Builds the web app and the release binary, then runs souk in demo mode on
# the embedded log (no other service needed). Open http://127.0.0.1:8080/.
set -euo pipefail
cd "$(dirname "$0")/.."
npm ci --prefix web --no-audit --no-fund --loglevel=error
npm run --prefix web build
cargo build --release -p souk-api
echo
echo "souk: open http://${SOUK_HTTP_ADDR:-127.0.0.1:8080}/ and pick a demo customer or vendor (Ctrl-C stops it)"
exec ./target/release/souk serve --demo --data-dir "${SOUK_DATA_DIR:-./data}" "$@"

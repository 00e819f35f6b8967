#!/usr/bin/env bash
# REST send benchmark: wrk at a fixed concurrency against the release build,
# many conversations, every send durable and projected as in production.
# Prints sends per second, latency percentiles and the server's CPU time per
# 1,000 sends. Settings: CONNS (64), THREADS (2), DURATION (20s), PAIRS (200).
set -euo pipefail
cd "$(dirname "$0")/.."
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
DURATION=${DURATION:-20s}
PAIRS=${PAIRS:-200}

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release -q -p souk-api
souk=./target/release/souk
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT

SOUK_LOG=warn $souk serve --data-dir "$work/data" --http-addr 127.0.0.1:0 --socket-addr 127.0.0.1:0 >"$work/out" &
pid=$!
for _ in $(seq 100); do grep -q listening "$work/out" 2>/dev/null && break; sleep 0.1; done
http=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["http"])' "$work/out")

echo "opening $PAIRS conversations on http://$http ..."
{
  echo "local pairs = {"
  for i in $(seq 0 $((PAIRS - 1))); do
    token=$($souk token --data-dir "$work/data" --user "c-$i" --role customer --name "Customer $i")
    conv=$(curl -sf -X POST "http://$http/api/chat/conversation" -H "authorization: Bearer $token" \
      -H 'content-type: application/json' -d "{\"vendorId\":\"v-$((i % 10))\"}" |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
    echo "  {\"$token\", \"$conv\"},"
  done
  echo "}"
  cat <<'LUA'
local n = 0
request = function()
  n = n + 1
  local p = pairs[(n % #pairs) + 1]
  local body = '{"conversationId":"' .. p[2] .. '","text":"load message ' .. n .. '"}'
  return wrk.format("POST", "/api/chat/send",
    { ["Authorization"] = "Bearer " .. p[1], ["Content-Type"] = "application/json" }, body)
end
done = function(summary, latency, requests)
  local secs = summary.duration / 1e6
  io.write(string.format(
    "RESULT sends=%d errors=%d non2xx=%d rate=%.0f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f\n",
    summary.requests, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
LUA
} >"$work/send.lua"

ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
before=$(cpu)
wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" -s "$work/send.lua" "http://$http" | tee "$work/wrk.out"
after=$(cpu)
sends=$(sed -n 's/.*RESULT sends=\([0-9]*\).*/\1/p' "$work/wrk.out")
python3 - "$before" "$after" "$ticks" "$sends" <<'PY'
import sys
before, after, ticks, sends = map(float, sys.argv[1:])
print(f"server CPU: {(after - before) / ticks:.2f} s for {sends:.0f} sends = {(after - before) / ticks * 1000 / max(sends, 1) * 1000:.1f} ms per 1,000 sends")
PY
# Every acknowledged send is in the log and the read models agree.
kill -TERM $pid; wait $pid || true
$souk projections --data-dir "$work/data" verify | tail -1
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load average $(cut -d' ' -f1-3 /proc/loadavg)"

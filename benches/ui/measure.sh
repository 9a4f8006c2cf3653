#!/usr/bin/env bash
# Page times with many stored models: starts twinhub (release build unless TWINHUB_BIN is set)
# on a fresh SQLite database, pushes 20,000 synthetic models, then requests each page 20 times
# and prints the median and worst time (curl's time_total on loopback, so server time plus a
# little transfer). Usage: bash benches/ui/measure.sh [COUNT]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
count=${1:-20000}
bin=${TWINHUB_BIN:-${CARGO_TARGET_DIR:-target}/release/twinhub}
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
token=measure-admin-token-0123456789
TWINHUB_LOG=warn "$bin" serve --bind "127.0.0.1:$port" --database-url "${DATABASE_URL:-sqlite://$work/twinhub.db}" \
    --admin-token "$token" --max-body-bytes 67108864 &
server=$!
trap 'kill $server; rm -rf "$work"' EXIT
base="http://127.0.0.1:$port"
until curl -sf "$base/readyz" >/dev/null; do sleep 0.1; done
node benches/ui/generate.mjs "$base" "$token" "$count"
pages=(
    "/"
    "/search"
    "/search?q=device+123"
    "/search?capability=Command&unit=watt"
    "/search?namespace=dtmi%3Acom%3Avendor3%3Aline2&page=5"
    "/namespaces"
    "/namespaces/dtmi:com:vendor3"
    "/namespaces/dtmi:com:vendor3:line2"
    "/models/dtmi:com:vendor3:line4:Device19%3B1"
    "/models/dtmi:com:vendor0:line3:Device8%3B1/diff/dtmi:com:vendor1:line4:Device9%3B1"
)
printf '%-80s %8s %8s\n' page median_ms max_ms
for page in "${pages[@]}"; do
    curl -sf -o /dev/null "$base$page"   # warm up
    times=$(for _ in $(seq 20); do curl -s -o /dev/null -w '%{time_total}\n' "$base$page"; done | sort -n)
    median=$(echo "$times" | sed -n 10p)
    worst=$(echo "$times" | tail -1)
    printf '%-80s %8.1f %8.1f\n' "$page" "$(echo "$median*1000" | bc -l)" "$(echo "$worst*1000" | bc -l)"
done

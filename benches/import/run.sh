#!/usr/bin/env bash
# Import and push benchmarks of the twinhub CLI (release binary):
#   1. `twinhub import` of a generated corpus (default 20,000 interfaces, one of them legacy
#      content like the public repository's `dtmi:MeshSystems:txs:modbus;1`, so the import runs
#      with --allow-legacy) with full validation into SQLite, then into PostgreSQL (when
#      127.0.0.1:5432 answers): wall time, peak RSS;
#   2. `twinhub push ../shared/models-sample` over HTTP to a release server on SQLite.
# Usage: bash benches/import/run.sh   (COUNT=… for another corpus size, LEGACY=0…10 legacy models;
#        the public repository's tree is COUNT=19255 LEGACY=1)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

target=${CARGO_TARGET_DIR:-$PWD/target}
bin=${TWINHUB_BIN:-$target/release/twinhub}
count=${COUNT:-20000}
legacy=${LEGACY:-1}
import_flags=()
if (( legacy > 0 )); then
    import_flags=(--allow-legacy)
fi
postgres=${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432}
if [[ ! -x "$bin" ]]; then
    echo "+ cargo build --release --bin twinhub"
    cargo build --release --bin twinhub
fi
work=$(mktemp -d)
server_pid=
cleanup() {
    [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# Runs a command under /usr/bin/time -v and prints its wall time and peak resident memory.
measure() {
    local label=$1
    shift
    /usr/bin/time -v "$@" > "$work/out.txt" 2> "$work/time.txt" || {
        cat "$work/out.txt" "$work/time.txt" >&2
        exit 1
    }
    tail -n 1 "$work/out.txt"
    local wall rss
    wall=$(grep 'Elapsed (wall clock)' "$work/time.txt" | awk '{print $NF}')
    rss=$(grep 'Maximum resident set size' "$work/time.txt" | awk '{print $NF}')
    printf '%-28s wall %s   peak RSS %d MiB\n' "$label" "$wall" "$((rss / 1024))"
}

echo "== generating $count interfaces"
python3 benches/import/generate.py "$work/corpus" --count "$count" --legacy "$legacy"

echo "== import into SQLite"
measure "import (SQLite)" "$bin" import "$work/corpus" --database-url "sqlite://$work/bench.db" "${import_flags[@]}"

if pg_isready -q -h 127.0.0.1 -p 5432; then
    echo "== import into PostgreSQL"
    db="twinhub_bench_$$"
    psql -q "$postgres/postgres" -c "CREATE DATABASE $db"
    measure "import (PostgreSQL)" "$bin" import "$work/corpus" --database-url "$postgres/$db" "${import_flags[@]}"
    psql -q "$postgres/postgres" -c "DROP DATABASE $db WITH (FORCE)"
else
    echo "NOTICE: PostgreSQL is not running on 127.0.0.1:5432: skipping its import"
fi

sample=${TWINHUB_MODELS_SAMPLE:-../shared/models-sample}
if [[ -d "$sample/dtmi" ]]; then
    echo "== push $sample over HTTP"
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    token=bench-token-0123456789
    TWINHUB_LOG=warn "$bin" serve --bind "127.0.0.1:$port" --database-url "sqlite://$work/push.db" \
        --admin-token "$token" &
    server_pid=$!
    for _ in $(seq 1 100); do
        curl -fsS "http://127.0.0.1:$port/readyz" > /dev/null 2>&1 && break
        sleep 0.1
    done
    measure "push sample (first)" "$bin" push "$sample" --repo "http://127.0.0.1:$port" --token "$token"
    measure "push sample (rerun)" "$bin" push "$sample" --repo "http://127.0.0.1:$port" --token "$token"
else
    echo "NOTICE: $sample is absent: skipping the push benchmark"
fi

#!/usr/bin/env bash
# Resolution throughput of twinhub against nginx serving the same files, batch import
# speed on SQLite and PostgreSQL, and twinhub's resident memory. Loopback only, bounded.
#
#   bash benches/resolution/run.sh
#
# Environment (all optional):
#   TWINHUB_BIN            binary to measure (default: cargo build --release, target/release/twinhub)
#   TWINHUB_MODELS_SAMPLE  models in DMR layout (default ../shared/models-sample)
#   BENCH_DURATION         wrk duration per measurement (default 15s)
#   BENCH_IMPORT_RUNS      fresh-database imports per backend (default 3)
#   BENCH_KEEP=1           keep the temp dir (logs, nginx root) for a look afterwards
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

here=benches/resolution
duration=${BENCH_DURATION:-15s}
threads=2
connections=64
import_runs=${BENCH_IMPORT_RUNS:-3}
sample_dir=${TWINHUB_MODELS_SAMPLE:-../shared/models-sample}
pg_host=127.0.0.1
pg_port=5432
paths=(/dtmi/com/example/thermostat-1.json /dtmi/com/example/temperaturecontroller-1.expanded.json)
export PYTHONDONTWRITEBYTECODE=1

say() { printf '\n==> %s\n' "$*"; }
run() { echo "+ $*"; "$@"; }

# ---- tools ----
install_tools() {
    if command -v wrk >/dev/null && command -v nginx >/dev/null; then
        echo "wrk and nginx present"
        return
    fi
    local guard=""
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        # keep the Debian nginx package from starting a system nginx on port 80
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        guard=yes
    fi
    run apt-get update
    DEBIAN_FRONTEND=noninteractive run apt-get install -y wrk nginx
    if [[ -n "$guard" ]]; then rm -f /usr/sbin/policy-rc.d; fi
}

say "tools"
install_tools
if [[ -z "${TWINHUB_BIN:-}" ]]; then
    run cargo build --release --bin twinhub
    TWINHUB_BIN=$PWD/target/release/twinhub
fi
echo "twinhub: $TWINHUB_BIN"
wrk --version 2>&1 | head -n 1 || true
nginx -v 2>&1

tmp=$(mktemp -d /tmp/twinhub-bench.XXXXXX)
chmod 755 "$tmp" # nginx workers (www-data) read the exported files under it
token=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
twinhub_pid=""
nginx_pid=""
pg_database=""

cleanup() {
    set +e
    [[ -n "$twinhub_pid" ]] && kill -TERM "$twinhub_pid" 2>/dev/null && wait "$twinhub_pid" 2>/dev/null
    [[ -n "$nginx_pid" ]] && kill -QUIT "$nginx_pid" 2>/dev/null && wait "$nginx_pid" 2>/dev/null
    [[ -n "$pg_database" ]] && drop_database "$pg_database"
    if [[ "${BENCH_KEEP:-}" == "1" ]]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ---- twinhub ----
twinhub_url=""
start_twinhub() { # DATABASE_URL
    local port
    port=$(free_port)
    twinhub_url="http://127.0.0.1:$port"
    echo "+ $TWINHUB_BIN serve --bind 127.0.0.1:$port --database-url $1 --admin-token ***"
    NO_COLOR=1 "$TWINHUB_BIN" serve --bind "127.0.0.1:$port" --database-url "$1" --admin-token "$token" \
        >"$tmp/twinhub-$port.log" 2>&1 &
    twinhub_pid=$!
    local deadline=$((SECONDS + 60))
    until curl -fsS -o /dev/null "$twinhub_url/readyz" 2>/dev/null; do
        if ! kill -0 "$twinhub_pid" 2>/dev/null || ((SECONDS > deadline)); then
            echo "twinhub did not become ready; log:" >&2
            tail -n 40 "$tmp/twinhub-$port.log" >&2
            exit 1
        fi
        sleep 0.05
    done
}

stop_twinhub() {
    kill -TERM "$twinhub_pid"
    wait "$twinhub_pid" || echo "twinhub exited with $? on SIGTERM" >&2
    twinhub_pid=""
}

push_status() { # BODY_FILE -> prints "HTTP_CODE SECONDS"; the body goes to push-response.json
    curl -sS -o "$tmp/push-response.json" -w '%{http_code} %{time_total}' \
        -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
        --data-binary "@$1" "$twinhub_url/api/v1/models"
}

push() { # BODY_FILE -> prints seconds; exits on refusal
    local out code seconds
    out=$(push_status "$1")
    read -r code seconds <<<"$out"
    if [[ "$code" != 201 && "$code" != 200 ]]; then
        echo "push of $1 failed: HTTP $code" >&2
        head -c 2000 "$tmp/push-response.json" >&2
        echo >&2
        exit 1
    fi
    echo "$seconds"
}

rss_kib() { awk -v k="$2" '$1 == k":" { print $2 }' "/proc/$1/status"; }

# ---- PostgreSQL ----
psql_admin() { psql -h "$pg_host" -p "$pg_port" -U postgres -d postgres -v ON_ERROR_STOP=1 -qAtc "$1"; }
drop_database() { psql_admin "DROP DATABASE IF EXISTS $1 WITH (FORCE)" && echo "dropped database $1"; }
ensure_postgres() {
    if pg_isready -q -h "$pg_host" -p "$pg_port"; then return; fi
    run pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n 1)" main start
    for _ in $(seq 1 120); do pg_isready -q -h "$pg_host" -p "$pg_port" && return; sleep 0.5; done
    echo "PostgreSQL did not start" >&2
    exit 1
}

# ---- data ----
say "data"
python3 "$here/bench_data.py" body "$sample_dir" "$tmp/sample.json"
python3 "$here/bench_data.py" extras "$sample_dir" "$tmp/extras.json"
sample_count=$(python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))))' "$tmp/sample.json")
if ((sample_count == 0)); then
    echo "NOTICE: no models sample at $sample_dir: import measurements skipped, resolution uses the thermostat set only"
fi

declare -a import_rows=()
import_once() { # LABEL DATABASE_URL RUN -> leaves twinhub running
    start_twinhub "$2"
    local out code seconds mode rate rss
    out=$(push_status "$tmp/sample.json")
    read -r code seconds <<<"$out"
    mode=batch
    if [[ "$code" != 201 ]]; then
        # twinhub refused the one-batch push: say why, then measure one push per model
        echo "one-batch push refused: HTTP $code $(head -c 600 "$tmp/push-response.json")" >&2
        echo "falling back to $sample_count single-model pushes in dependency order" >&2
        mode=per-model
        seconds=$(python3 "$here/bench_data.py" push-each "$twinhub_url" "$token" "$sample_dir")
    fi
    rate=$(python3 -c "print(f'{$sample_count / $seconds:.0f}')")
    rss=$(rss_kib "$twinhub_pid" VmRSS)
    import_rows+=("$(printf '%-10s %3s %-9s %8s %10.3f %10s %12s' "$1" "$3" "$mode" "$sample_count" "$seconds" "$rate" "$((rss / 1024)) MiB")")
    echo "$1 run $3 ($mode): $sample_count models in ${seconds}s = $rate models/s; VmRSS $((rss / 1024)) MiB"
}

# ---- import: PostgreSQL ----
if ((sample_count > 0)); then
    say "batch import over HTTP: PostgreSQL ($import_runs runs, a fresh database each)"
    ensure_postgres
    for i in $(seq 1 "$import_runs"); do
        pg_database="twinhub_bench_$(python3 -c 'import secrets; print(secrets.token_hex(6))')"
        psql_admin "CREATE DATABASE $pg_database" && echo "created database $pg_database"
        import_once postgres "postgres://postgres@$pg_host:$pg_port/$pg_database" "$i"
        stop_twinhub
        drop_database "$pg_database"
        pg_database=""
    done
fi

# ---- import: SQLite (the last server stays up for the resolution benchmark) ----
say "batch import over HTTP: SQLite ($import_runs runs, a fresh file each)"
runs=$import_runs
((sample_count > 0)) || runs=1
for i in $(seq 1 "$runs"); do
    [[ -n "$twinhub_pid" ]] && stop_twinhub
    if ((sample_count > 0)); then
        import_once sqlite "sqlite://$tmp/bench-$i.db" "$i"
    else
        start_twinhub "sqlite://$tmp/bench-$i.db"
    fi
done
rss_after_import=$(rss_kib "$twinhub_pid" VmRSS)
push "$tmp/extras.json" >/dev/null
echo "pushed the thermostat set"

# ---- the same files for nginx ----
say "export the DMR files from twinhub into an nginx root"
python3 "$here/bench_data.py" export "$twinhub_url" "$sample_dir" "$tmp/www"
rss_after_resolve=$(rss_kib "$twinhub_pid" VmRSS)
nginx_port=$(free_port)
nginx_url="http://127.0.0.1:$nginx_port"
mkdir -p "$tmp/nginx"
cat >"$tmp/nginx/nginx.conf" <<EOF
worker_processes 2;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    types { application/json json; }
    default_type application/octet-stream;
    client_body_temp_path $tmp/nginx/body;
    proxy_temp_path $tmp/nginx/proxy;
    fastcgi_temp_path $tmp/nginx/fastcgi;
    uwsgi_temp_path $tmp/nginx/uwsgi;
    scgi_temp_path $tmp/nginx/scgi;
    server {
        listen 127.0.0.1:$nginx_port;
        root $tmp/www;
    }
}
EOF
echo "+ nginx -p $tmp/nginx -c $tmp/nginx/nginx.conf -g 'daemon off;'"
nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -g 'daemon off;' &
nginx_pid=$!
deadline=$((SECONDS + 30))
until curl -fsS -o /dev/null "$nginx_url${paths[0]}" 2>/dev/null; do
    if ! kill -0 "$nginx_pid" 2>/dev/null || ((SECONDS > deadline)); then
        echo "nginx did not start" >&2
        tail -n 20 "$tmp/nginx/error.log" >&2 || true
        exit 1
    fi
    sleep 0.05
done
for path in "${paths[@]}"; do
    if ! cmp -s <(curl -fsS "$twinhub_url$path") <(curl -fsS "$nginx_url$path"); then
        echo "twinhub and nginx serve different bytes for $path" >&2
        exit 1
    fi
    echo "same bytes from both: $path ($(curl -fsS "$nginx_url$path" | wc -c) bytes)"
done

# ---- resolution throughput ----
say "resolution: wrk -t$threads -c$connections -d$duration --latency (warm-up 3s each; wrk shares the 2 cores)"
load_before_wrk=$(cut -d' ' -f1-3 /proc/loadavg)
declare -a wrk_rows=()
measure() { # NAME URL PATH
    wrk -t"$threads" -c"$connections" -d3s "$2$3" >/dev/null
    local out
    out=$(wrk -t"$threads" -c"$connections" -d"$duration" --latency "$2$3")
    echo "$out" >"$tmp/wrk-$1-$(basename "$3").txt"
    local rps avg p50 p99 max bad
    rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
    read -r avg max < <(awk '$1 == "Latency" && NF >= 4 { print $2, $4; exit }' <<<"$out")
    p50=$(awk '$1 == "50%" { print $2 }' <<<"$out")
    p99=$(awk '$1 == "99%" { print $2 }' <<<"$out")
    bad=$(awk -F': *' '/Non-2xx or 3xx responses/ { print $2 }' <<<"$out")
    errors=$(awk '/Socket errors/ { sub(/^ *Socket errors: */, ""); print }' <<<"$out")
    wrk_rows+=("$(printf '%-55s %-8s %10s %9s %9s %9s %9s %7s %s' "$3" "$1" "$rps" "$avg" "$p50" "$p99" "$max" "${bad:-0}" "${errors:-}")")
    echo "$1 $3: $rps req/s, avg $avg, p99 $p99${bad:+, non-2xx $bad}${errors:+, socket errors: $errors}"
}
for path in "${paths[@]}"; do
    measure twinhub "$twinhub_url" "$path"
    measure nginx "$nginx_url" "$path"
done
rss_after_wrk=$(rss_kib "$twinhub_pid" VmRSS)
rss_peak=$(rss_kib "$twinhub_pid" VmHWM)

# ---- report ----
say "results"
echo "machine: $(nproc) cores; $(git rev-parse --short HEAD 2>/dev/null || echo '?'); $(date -u +%FT%TZ)"
echo "load average before wrk: $load_before_wrk; after: $(cut -d' ' -f1-3 /proc/loadavg) (anything above ~2 means other work shared the cores)"
echo
echo "Resolution (wrk -t$threads -c$connections -d$duration, loopback; client and server share the cores)"
printf '%-55s %-8s %10s %9s %9s %9s %9s %7s\n' path server 'req/s' avg p50 p99 max non2xx
printf '%s\n' "${wrk_rows[@]}"
if ((sample_count > 0)); then
    echo
    echo "Import of the sample over HTTP, fresh database each run (batch: one POST /api/v1/models;"
    echo "per-model: one POST per model, used only where twinhub refused the batch)"
    printf '%-10s %3s %-9s %8s %10s %10s %12s\n' backend run mode models seconds 'models/s' 'VmRSS after'
    printf '%s\n' "${import_rows[@]}"
fi
echo
echo "twinhub resident memory (SQLite, $sample_count sample models + thermostat set):"
echo "  after import:                       $((rss_after_import / 1024)) MiB"
echo "  after resolving every .json/.expanded.json once: $((rss_after_resolve / 1024)) MiB"
echo "  after the wrk runs:                 $((rss_after_wrk / 1024)) MiB (peak VmHWM $((rss_peak / 1024)) MiB)"

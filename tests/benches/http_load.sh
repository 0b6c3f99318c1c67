#!/usr/bin/env bash
# The HTTP load benchmark: `tools/call` throughput and p50/p99 latency of `get_customer_details`
# at 1, 16 and 64 connections, with wrk, against `support-desk serve --http` (token, role,
# validation, projection, audit log in SQLite) and against rmcp's own Streamable HTTP server
# serving the same tool from the same database with no checks (`bare_mcp_server`), the two
# alternating in one run.
#
# bash tests/benches/http_load.sh [SECONDS_PER_RUN] [ROUNDS]     (defaults: 10 and 2)
# Needs wrk (Debian: apt-get install wrk).
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds="${1:-10}"
rounds="${2:-2}"
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
cargo build --release -q -p support-desk -p tool-tests --bin support-desk --bin bare_mcp_server
bin="$PWD/target/release"
lua="$PWD/tests/benches/http_load.lua"
work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.1; done; echo "port $1 did not open" >&2; exit 1; }

"$bin/support-desk" init --db "$work/desk.db" --data-dir "$work/data" 2>/dev/null
"$bin/support-desk" keys --dir "$work/keys" 2>/dev/null
framework_port="$(free_port)"
bare_port="$(free_port)"
# One user, 64 connections: the per-user limit of calls at once is raised to match, so that
# every call is served rather than refused as `rate_limited` (checked at the end).
"$bin/support-desk" serve --http "127.0.0.1:$framework_port" --jwks "$work/keys/jwks.json" \
    --db "$work/desk.db" --data-dir "$work/data" --max-calls-per-user 64 2>"$work/serve.log" &
framework_pid=$!
pids+=("$framework_pid")
"$bin/bare_mcp_server" "127.0.0.1:$bare_port" "$work/desk.db" 2>"$work/bare.log" &
pids+=($!)
wait_for "$framework_port"
wait_for "$bare_port"
token="$("$bin/support-desk" token --keys "$work/keys" --user carol --ttl 3600 \
    --audience "http://127.0.0.1:$framework_port/mcp")"

# run NAME PORT TOKEN CONNECTIONS: appends "requests seconds p50 p99 failed" to $work/NAME-CONNECTIONS
run() {
    local threads=$(( $4 < 2 ? 1 : 2 ))
    TOKEN="$3" wrk -t"$threads" -c"$4" -d"${seconds}s" -s "$lua" "http://127.0.0.1:$2/mcp" \
        | awk '/^RESULT/ { print $2, $3, $4, $5, $6 }' >>"$work/$1-$4"
}
# Warm both up (connections, caches, the SQLite page cache).
run warm "$bare_port" "" 16 >/dev/null
run warm "$framework_port" "$token" 16 >/dev/null
for connections in 1 16 64; do
    for round in $(seq "$rounds"); do
        run bare "$bare_port" "" "$connections"
        run framework "$framework_port" "$token" "$connections"
    done
done

# Throughput over all rounds; latency as the median of the rounds' percentiles.
summary() {
    awk '{ n += $1; t += $2; p50[NR] = $3; p99[NR] = $4; failed += $5 }
         END { asort(p50); asort(p99); m = int((NR + 1) / 2);
               printf "%.0f %.2f %.2f %d\n", n / t, p50[m], p99[m], failed }' "$work/$1"
}
echo
echo "| connections | rmcp alone: calls/s | p50 | p99 | support-desk: calls/s | p50 | p99 | throughput ratio | p99 ratio |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for connections in 1 16 64; do
    read -r b_rps b_p50 b_p99 b_failed <<<"$(summary "bare-$connections")"
    read -r f_rps f_p50 f_p99 f_failed <<<"$(summary "framework-$connections")"
    [ "$b_failed" = 0 ] && [ "$f_failed" = 0 ] || echo "failed requests: bare $b_failed, framework $f_failed" >&2
    awk -v c="$connections" -v br="$b_rps" -v b50="$b_p50" -v b99="$b_p99" \
        -v fr="$f_rps" -v f50="$f_p50" -v f99="$f_p99" 'BEGIN {
        printf "| %d | %d | %.2f ms | %.2f ms | %d | %.2f ms | %.2f ms | %.2f | %.2f |\n",
            c, br, b50, b99, fr, f50, f99, fr / br, f99 / b99 }'
done

# Every call the framework served was a real answer, each with its audit record.
kill -TERM "$framework_pid"
wait "$framework_pid" || true
"$bin/support-desk" audit --db "$work/desk.db" \
    | python3 -c 'import json, sys, collections
outcomes = collections.Counter(json.loads(l)["outcome"] for l in sys.stdin)
print("\nsupport-desk audit records by outcome:", dict(outcomes))'

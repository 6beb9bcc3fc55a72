#!/usr/bin/env bash
# Compares lsprobe's lean load path with wrk on the loopback endpoint of
# ../shared/performance.md: nginx (one worker, access_log off) serving a 4 KiB object
# path-style at http://127.0.0.1:18080/bkt/obj4k. Alternates wrk (1 thread, 16 connections,
# 5 s) and examples/load_get (signed S3 GETs, 16 workers, 5 s, histograms and timeline on),
# two rounds, and prints the req/s of each and the ratio. Target: >= 0.8x wrk.
#
# Needs: nginx, wrk (Debian: apt-get install nginx-light wrk). Builds the example in release.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${PORT:-18080}
ROUNDS=${ROUNDS:-2}
DUR=${DUR:-5}
CONNS=${CONNS:-16}
for tool in nginx wrk; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install -y nginx-light wrk" >&2; exit 2; }
done
work=$(mktemp -d)
mkdir -p "$work/www/bkt"
head -c 4096 /dev/urandom > "$work/www/bkt/obj4k"
cat > "$work/nginx.conf" <<CONF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/error.log;
events { worker_connections 1024; }
http { access_log off;
  client_body_temp_path $work/tmp; proxy_temp_path $work/tmp; fastcgi_temp_path $work/tmp;
  uwsgi_temp_path $work/tmp; scgi_temp_path $work/tmp;
  server { listen 127.0.0.1:$PORT; root $work/www; location / { } } }
CONF
mkdir -p "$work/tmp"
chmod -R a+rX "$work"
nginx -c "$work/nginx.conf" -p "$work"
trap 'kill "$(cat "$work/nginx.pid")" 2>/dev/null || true; rm -rf "$work"' EXIT
sleep 0.3
curl -fsS -o /dev/null "http://127.0.0.1:$PORT/bkt/obj4k"

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
cargo build --release --example load_get >/dev/null 2>&1
bin="$CARGO_TARGET_DIR/release/examples/load_get"

for round in $(seq 1 "$ROUNDS"); do
  w=$(wrk -t1 -c"$CONNS" -d"${DUR}s" "http://127.0.0.1:$PORT/bkt/obj4k" | awk '/Requests\/sec/ {print $2}')
  l=$("$bin" --endpoint "http://127.0.0.1:$PORT" --bucket bkt --key obj4k \
        --concurrency "$CONNS" --duration "${DUR}s" | sed -E 's/^req\/s=([0-9.]+).*/\1/')
  ratio=$(awk -v l="$l" -v w="$w" 'BEGIN { printf "%.2f", l / w }')
  printf 'round %s: wrk %8.0f req/s   lsprobe %8.0f req/s   ratio %sx\n' "$round" "$w" "$l" "$ratio"
done

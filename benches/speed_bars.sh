#!/usr/bin/env bash
# The speed bars of `lsprobe load`, in one run, on the real command line (release build)
# against a loopback nginx (../shared/performance.md): nginx ignores authentication, so one
# endpoint serves every provider's path shape, and static listings answer the LIST that
# `--existing-prefix` sends first (nothing is written).
#
#   1. signed 4 KiB GETs, CONNS connections, DUR s, ROUNDS runs of lsprobe between ROUNDS + 1
#      runs of wrk sending the same request (captured from lsprobe first): S3 (SigV4), Azure
#      (SharedKey), Azure (SAS), GCS (bearer token from a service-account key whose token_uri is
#      the same nginx); bar: the median of the ratios of each lsprobe run to the mean of the wrk
#      runs beside it >= 0.95.
#      A mode this build of lsprobe does not support yet (exit 2) is reported as SKIP.
#   2. 64 MiB GETs (S3), BIG_CONNS connections, ROUNDS rounds of wrk, curl and lsprobe back to
#      back: the median of lsprobe's bytes/s over the better of wrk and curl in its round
#      >= 1.0 (curl --parallel with BIG_CONNS transfers at a time).
#   3. open loop (S3) at RATE req/s for DUR s: successful GETs per second within 1 % of RATE,
#      best of ROUNDS runs, each beside wrk's closed-loop rate at RATE_CONNS (the capacity).
#
# Both clients get the same number of threads (THREADS, default 1: wrk -t"$THREADS" and lsprobe load
# --threads 1), so the other core serves; nginx caches its open files and sends the 64 MiB
# object with sendfile, so the server is not the ceiling and the bars measure the clients.
#
# Prints a table of the figures, PASS/FAIL (or SKIP) per bar and the machine's load (uptime):
# on a shared machine the figures are noisy, quote them with the load. Exits 1 when a bar
# fails. Environment: PORT, CAPTURE_PORT (PORT + 1), WRK_REQUEST (same, or bare), CONNS (16),
# DUR (5), ROUNDS (9), BIG_CONNS (4), BIG_DUR (5), RATE (50000), RATE_CONNS (64), THREADS (1),
# LSPROBE (a built binary; default: cargo build --release), BARS (which bars: "get big open"),
# MODES (which GET bars: "s3 azure-key azure-sas gcs").
# Needs: nginx, wrk, curl, openssl, jq (Debian: apt-get install nginx-light wrk curl openssl jq).
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${PORT:-18080}
CAPTURE_PORT=${CAPTURE_PORT:-$((PORT + 1))}
CONNS=${CONNS:-16}
DUR=${DUR:-5}
ROUNDS=${ROUNDS:-9}
BIG_CONNS=${BIG_CONNS:-4}
BIG_DUR=${BIG_DUR:-5}
RATE=${RATE:-50000}
RATE_CONNS=${RATE_CONNS:-64}
THREADS=${THREADS:-1}
BARS=${BARS:-get big open}
MODES=${MODES:-s3 azure-key azure-sas gcs}
for tool in nginx wrk curl openssl jq; do
  command -v "$tool" >/dev/null || {
    echo "missing $tool: apt-get install -y nginx-light wrk curl openssl jq" >&2
    exit 2
  }
done
if [ -z "${LSPROBE:-}" ]; then
  export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
  cargo build --release --bin lsprobe >/dev/null 2>&1
  LSPROBE="$CARGO_TARGET_DIR/release/lsprobe"
fi
base="http://127.0.0.1:$PORT"

work=$(mktemp -d)
www="$work/www"
mkdir -p "$www/objs" "$www/lists" "$work/tmp"
head -c 4096 /dev/urandom >"$www/objs/obj4k"
head -c $((64 << 20)) /dev/urandom >"$www/objs/obj64m"

s3_list() { # KEY SIZE: a ListObjectsV2 answer naming one object
  printf '<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>%s</Prefix><KeyCount>1</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated><Contents><Key>%s</Key><Size>%s</Size><LastModified>2026-01-01T00:00:00.000Z</LastModified><ETag>"e"</ETag><StorageClass>STANDARD</StorageClass></Contents></ListBucketResult>' "$1" "$1" "$2"
}
s3_list obj4k 4096 >"$www/lists/s3-small.xml"
s3_list obj64m $((64 << 20)) >"$www/lists/s3-big.xml"
printf '<?xml version="1.0" encoding="utf-8"?><EnumerationResults ServiceEndpoint="%s/acct" ContainerName="small"><Prefix>obj4k</Prefix><Blobs><Blob><Name>obj4k</Name><Properties><Content-Length>4096</Content-Length><BlobType>BlockBlob</BlobType></Properties></Blob></Blobs><NextMarker /></EnumerationResults>' "$base" >"$www/lists/azure-small.xml"
printf '{"kind":"storage#objects","items":[{"kind":"storage#object","name":"obj4k","bucket":"small","size":"4096"}]}' >"$www/lists/gcs-small.json"

# A service-account key whose token_uri is this nginx (a fixed bearer token, an hour long).
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/sa.pem" 2>/dev/null
jq -n --rawfile key "$work/sa.pem" --arg uri "$base/token" '{type: "service_account",
  project_id: "bench", private_key_id: "k1", private_key: $key,
  client_email: "bench@bench.iam.gserviceaccount.com", client_id: "1", token_uri: $uri}' \
  >"$work/sa.json"

# What every server block serves.
cat >"$work/locations.conf" <<CONF
    root $www;
    # S3, path-style: /small/obj4k, /big/obj64m; LIST is GET /small?list-type=2...
    location = /small { default_type application/xml; try_files /lists/s3-small.xml =404; }
    location = /big { default_type application/xml; try_files /lists/s3-big.xml =404; }
    location /small/ { alias $www/objs/; }
    # sendfile for the 64 MiB object only: one copy on the server side, so the clients are
    # what is measured (it would slow the 4 KiB answers down).
    location /big/ { alias $www/objs/; sendfile on; }
    # Azure, the account in the path as on Azurite: /acct/small/obj4k (?sas... ignored).
    location = /acct/small { default_type application/xml; try_files /lists/azure-small.xml =404; }
    location /acct/small/ { alias $www/objs/; }
    # GCS JSON API: media download, object list, and the OAuth token endpoint.
    location /download/storage/v1/b/small/o/ { alias $www/objs/; }
    location = /storage/v1/b/small/o { default_type application/json; try_files /lists/gcs-small.json =404; }
    location = /token { default_type application/json;
      return 200 '{"access_token":"ya29.bench","expires_in":3600,"token_type":"Bearer"}'; }
    location / { return 404; }
CONF
# PORT serves the bars; CAPTURE_PORT serves the same and logs each request's target and
# authentication headers: the GET bars' wrk sends what lsprobe sent there.
cat >"$work/nginx.conf" <<CONF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/error.log;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000; open_file_cache max=64 inactive=60s;
  client_body_temp_path $work/tmp; proxy_temp_path $work/tmp; fastcgi_temp_path $work/tmp;
  uwsgi_temp_path $work/tmp; scgi_temp_path $work/tmp;
  log_format request '\$request_method|\$request_uri|\$http_authorization|\$http_x_amz_date|\$http_x_amz_content_sha256|\$http_date|\$http_x_ms_version';
  server { listen 127.0.0.1:$PORT; include $work/locations.conf; }
  server { listen 127.0.0.1:$CAPTURE_PORT; access_log $work/requests.log request;
    include $work/locations.conf; }
}
CONF
chmod -R a+rX "$work"
nginx -c "$work/nginx.conf" -p "$work"
trap 'kill "$(cat "$work/nginx.pid")" 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
sleep 0.3
curl -fsS -o /dev/null "$base/small/obj4k"

# Label Studio's configuration per mode (env.list files).
cat >"$work/s3.env" <<ENV
STORAGE_TYPE=s3
STORAGE_AWS_ACCESS_KEY_ID=AKIDEXAMPLE
STORAGE_AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
STORAGE_AWS_BUCKET_NAME=small
STORAGE_AWS_REGION_NAME=us-east-1
STORAGE_AWS_ENDPOINT_URL=$base
ENV
sed 's/^STORAGE_AWS_BUCKET_NAME=.*/STORAGE_AWS_BUCKET_NAME=big/' "$work/s3.env" >"$work/s3-big.env"
cat >"$work/azure-key.env" <<ENV
STORAGE_TYPE=azure
STORAGE_AZURE_ACCOUNT_NAME=acct
STORAGE_AZURE_ACCOUNT_KEY=$(head -c 64 /dev/urandom | base64 -w0)
STORAGE_AZURE_CONTAINER_NAME=small
ENV
cat >"$work/azure-sas.env" <<ENV
STORAGE_TYPE=azure
STORAGE_AZURE_ACCOUNT_NAME=acct
LSPROBE_AZURE_SAS_TOKEN=sv=2022-11-02&ss=b&srt=sco&sp=rl&se=2099-01-01T00:00:00Z&st=2020-01-01T00:00:00Z&spr=https,http&sig=YmVuY2g%3D
STORAGE_AZURE_CONTAINER_NAME=small
ENV
cat >"$work/gcs.env" <<ENV
STORAGE_TYPE=gcs
STORAGE_GCS_BUCKET_NAME=small
STORAGE_GCS_PROJECT_ID=bench
STORAGE_GCS_ENDPOINT=$base
GOOGLE_APPLICATION_CREDENTIALS=$work/sa.json
ENV

# lsprobe load ENVFILE ARGS... -> the JSON report in $work/out.json; returns lsprobe's exit
# code (0 or 1: measured; 2: refused).
lsprobe_load() {
  local env=$1
  shift
  local rc=0
  env -i PATH="$PATH" "$LSPROBE" load --threads "$THREADS" --env-file "$env" --format json --warmup 1s "$@" \
    >"$work/out.json" 2>"$work/err.txt" || rc=$?
  if [ "$rc" -gt 1 ] || ! jq -e .load "$work/out.json" >/dev/null 2>&1; then
    [ "$rc" -eq 2 ] || echo "lsprobe load $* (exit $rc): $(head -c 600 "$work/err.txt")" >&2
    [ "$rc" -gt 1 ] || rc=3
  fi
  return "$rc"
}
# JQ_FILTER: a figure of the last report.
figure() { jq -r "$1" "$work/out.json"; }

rows=()
failed=0
row() { # NAME FIGURES RESULT
  rows+=("$(printf '%-34s %-58s %s' "$1" "$2" "$3")")
  [ "$3" != FAIL ] || failed=1
}
best() { printf '%s\n' "$@" | sort -g | tail -1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
at_least() { awk -v r="$1" -v t="$2" 'BEGIN { exit !(r >= t) }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { printf "%.2f", (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
slashed() { printf '%s/' "$@" | sed 's#/$##'; }

# 1. Signed 4 KiB GETs against wrk sending the same request: lsprobe's GET is captured first
#    (its target and authentication headers, as nginx on CAPTURE_PORT logged them), and wrk
#    sends those bytes every time (a frozen signature: nginx checks none). The server's work on
#    a signed request (11 % more than on a bare GET for S3's headers here) is then the same on
#    both sides, and the ratio measures the clients. WRK_REQUEST=bare sends wrk's bare GET
#    instead.
#    wrk and lsprobe take turns, wrk first and last (w0 l1 w1 l2 w2 ...), each lsprobe run is
#    compared with the mean of the wrk runs on either side of it, and the bar is the median of
#    those ratios. The machine's speed drifts by +-15 % within a minute here: neighbours on
#    both sides cancel a drift that one neighbour carries into the ratio, and the median is not
#    carried by one lucky run of either tool.
WRK_REQUEST=${WRK_REQUEST:-same}
wrk_small() { wrk -t"$THREADS" -c"$CONNS" -d"${DUR}s" "${wrk_request[@]}" | awk '/Requests\/sec/ {print $2}'; }
# capture_get MODE ENDPOINT_PATH: sets wrk_request to the GET lsprobe sends in MODE.
capture_get() {
  wrk_request=("$base/small/obj4k")
  [ "$WRK_REQUEST" = same ] || return 0
  : >"$work/requests.log"
  lsprobe_load "$work/$1.env" --endpoint "http://127.0.0.1:$CAPTURE_PORT$2" \
    --existing-prefix obj4k --mix get=100 --concurrency 1 --duration 1s || return $?
  local method uri auth amz_date amz_sha date ms_version
  IFS='|' read -r method uri auth amz_date amz_sha date ms_version \
    < <(grep '^GET|[^|]*obj4k' "$work/requests.log" | tail -1)
  [ -n "${uri:-}" ] || { echo "$1: no GET captured" >&2; return 3; }
  wrk_request=("$base$uri")
  for h in "authorization: $auth" "x-amz-date: $amz_date" "x-amz-content-sha256: $amz_sha" \
    "date: $date" "x-ms-version: $ms_version"; do
    [ "${h#*: }" = - ] || wrk_request+=(-H "$h")
  done
}
declare -A endpoint_of=([s3]="" [azure-key]="/acct" [azure-sas]="/acct" [gcs]="")
declare -A label_of=([s3]="S3 SigV4" [azure-key]="Azure SharedKey" [azure-sas]="Azure SAS" [gcs]="GCS bearer")
for mode in $MODES; do
  [[ " $BARS " == *" get "* ]] || break
  l_all=()
  r_all=()
  skip=""
  if capture_get "$mode" "${endpoint_of[$mode]}"; then :; elif [ $? -eq 2 ]; then
    row "GET 4 KiB ${label_of[$mode]} vs wrk" "not supported by this lsprobe: $(grep -m1 '^error:' "$work/err.txt" | cut -c8-160)" SKIP
    continue
  else
    row "GET 4 KiB ${label_of[$mode]} vs wrk" "lsprobe's GET could not be captured" FAIL
    continue
  fi
  w_all=("$(wrk_small)")
  for i in $(seq 1 "$ROUNDS"); do
    if lsprobe_load "$work/$mode.env" --endpoint "$base${endpoint_of[$mode]}" \
      --existing-prefix obj4k --mix get=100 --concurrency "$CONNS" --duration "${DUR}s"; then :
    elif [ $? -eq 2 ]; then
      skip=$(grep -m1 '^error:' "$work/err.txt" | cut -c8-160)
      break
    fi
    l=$(figure '.load.ops.get.ops_per_s // 0')
    errors=$(figure '.load.ops.get.errors // 0')
    if [ "$errors" != 0 ]; then
      echo "$mode: $errors GETs failed: $(figure '.load.ops.get.errors_by_class')" >&2
      l=0
    fi
    w_all+=("$(wrk_small)")
    l_all+=("$l")
    r_all+=("$(ratio "$l" "$(awk -v a="${w_all[$((i - 1))]}" -v b="${w_all[$i]}" 'BEGIN { print (a + b) / 2 }')")")
  done
  name="GET 4 KiB ${label_of[$mode]} vs wrk ($WRK_REQUEST)"
  if [ -n "$skip" ]; then
    row "$name" "not supported by this lsprobe: $skip" SKIP
    continue
  fi
  r=$(median "${r_all[@]}")
  figs=$(printf 'lsprobe %s req/s, wrk %s req/s: ratios %s, median %sx (>= 0.95)' \
    "$(slashed "${l_all[@]%.*}")" "$(slashed "${w_all[@]%.*}")" "$(slashed "${r_all[@]}")" "$r")
  if at_least "$r" 0.95; then row "$name" "$figs" PASS; else row "$name" "$figs" FAIL; fi
done

if [[ " $BARS " == *" big "* ]]; then
  # 2. 64 MiB GETs: bytes/s against the better of wrk and curl, round by round; the median.
  mib() { awk -v b="$1" 'BEGIN { printf "%.0f", b / 1048576 }'; }
  # curl: BIG_CONNS transfers at a time, as many as fit in BIG_DUR seconds at its pace.
  n=$((BIG_CONNS * 8))
  urls=()
  for _ in $(seq 1 "$n"); do urls+=(-o /dev/null "$base/big/obj64m"); done
  w_bigs=()
  c_bigs=()
  l_bigs=()
  for _ in $(seq 1 "$ROUNDS"); do
    w_bigs+=("$(wrk -t"$THREADS" -c"$BIG_CONNS" -d"${BIG_DUR}s" "$base/big/obj64m" |
      awk '/Transfer\/sec/ { v = $2; u = substr(v, length(v) - 1); n = v + 0;
        m = (u == "GB") ? 1073741824 : (u == "MB") ? 1048576 : (u == "KB") ? 1024 : 1; printf "%.0f", n * m }')")
    t0=$(date +%s.%N)
    curl -fsS --no-progress-meter --parallel --parallel-max "$BIG_CONNS" "${urls[@]}"
    t1=$(date +%s.%N)
    c_bigs+=("$(awk -v n="$n" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n * 67108864 / (b - a) }')")
    lsprobe_load "$work/s3-big.env" --existing-prefix obj64m --mix get=100 \
      --concurrency "$BIG_CONNS" --duration "${BIG_DUR}s" || true
    l_bigs+=("$(figure '(.load.ops.get.bytes_per_s // 0) | floor')")
  done
  r_bigs=()
  for i in "${!l_bigs[@]}"; do
    r_bigs+=("$(ratio "${l_bigs[$i]}" "$(best "${w_bigs[$i]}" "${c_bigs[$i]}")")")
  done
  r=$(median "${r_bigs[@]}")
  mibs() { for b in "$@"; do mib "$b"; echo; done | paste -sd/; }
  figs="MiB/s lsprobe $(mibs "${l_bigs[@]}"), wrk $(mibs "${w_bigs[@]}"), curl $(mibs "${c_bigs[@]}"): ratios $(slashed "${r_bigs[@]}"), median ${r}x (>= 1.0)"
  if at_least "$r" 1.0; then row "GET 64 MiB S3 vs best(wrk, curl)" "$figs" PASS; else
    row "GET 64 MiB S3 vs best(wrk, curl)" "$figs" FAIL; fi
fi

if [[ " $BARS " == *" open "* ]]; then
  # 3. Open loop: the rate held, best of ROUNDS runs (the machine's capacity, wrk with as many
  #    connections, is measured beside each: under RATE, no client can hold the rate).
  best_off=""
  figs=""
  for _ in $(seq 1 "$ROUNDS"); do
    cap=$(wrk -t"$THREADS" -c"$RATE_CONNS" -d"${DUR}s" "$base/small/obj4k" | awk '/Requests\/sec/ {printf "%.0f", $2}')
    lsprobe_load "$work/s3.env" --existing-prefix obj4k --mix get=100 --rate "$RATE" \
      --concurrency "$RATE_CONNS" --duration "${DUR}s" || true
    got=$(figure '.load.ops.get.ops_per_s // 0')
    dropped=$(figure '.load.dropped')
    off=$(awk -v g="$got" -v r="$RATE" 'BEGIN { d = (g - r) / r * 100; printf "%.2f", (d < 0 ? -d : d) }')
    if [ -z "$best_off" ] || awk -v a="$off" -v b="$best_off" 'BEGIN { exit !(a < b) }'; then
      best_off=$off
      figs=$(printf '%.0f req/s of %s asked: %s %% off (<= 1), %s dropped; wrk -c%s %s req/s' \
        "$got" "$RATE" "$off" "$dropped" "$RATE_CONNS" "$cap")
    fi
  done
  if awk -v o="$best_off" 'BEGIN { exit !(o <= 1.0) }'; then row "open loop at $RATE req/s (S3)" "$figs" PASS; else
    row "open loop at $RATE req/s (S3)" "$figs" FAIL; fi
fi

echo
printf '%-34s %-58s %s\n' "bar" "figures" "result"
printf '%s\n' "${rows[@]}"
echo
echo "$("$LSPROBE" --version 2>/dev/null | head -1); $(nproc) cores; uptime: $(uptime)"
exit "$failed"

#!/usr/bin/env bash
# B4-style CPU per request over HTTP/2: Fulcrum's L7 proxy vs nginx as a
# proxy, both with one worker, cleartext HTTP/2 with prior knowledge
# downstream (h2load -c16 -m16), HTTP/1.1 keep-alive upstream to the same
# nginx "return 200" backends (two ports, round robin). CPU time
# (utime+stime from /proc/PID/stat) of each proxy process is read before
# and after each run and divided by the requests h2load completed.
# Contenders alternate; medians and the median of the per-pair ratios are
# printed at the end. Proxies are pinned to CPU 1, backend and h2load to
# CPU 0.
#
#   dataplane/l7/bench/b4.sh [RUNS] [REQUESTS]     (defaults: 5, 300000)
#   FULCRUM=/path/to/fulcrum dataplane/l7/bench/b4.sh   (a prebuilt binary)
#   PIN=0 ... runs nothing pinned (more noise, same method)
set -euo pipefail
PIN=${PIN:-1}
on() { if [ "$PIN" = 1 ]; then echo "taskset -c $1"; fi; }
RUNS=${1:-5}
REQS=${2:-300000}
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
W=$(mktemp -d /tmp/fulcrum-b4.XXXXXX)
BE1=18381 BE2=18382 FUL=18390 NGX=18391
TICK=$(getconf CLK_TCK)
cleanup() { kill $(cat "$W"/*.pid 2>/dev/null) 2>/dev/null || true; kill "${FPID:-}" 2>/dev/null || true; }
trap cleanup EXIT

mkdir -p "$W/be" "$W/px"
cat >"$W/be/nginx.conf" <<CONF
worker_processes 1; daemon on; pid $W/be.pid; error_log $W/be/error.log;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  server { listen 127.0.0.1:$BE1; listen 127.0.0.1:$BE2; location / { return 200 "ok"; } } }
CONF
cat >"$W/px/nginx.conf" <<CONF
worker_processes 1; daemon on; pid $W/px.pid; error_log $W/px/error.log;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  upstream be { server 127.0.0.1:$BE1; server 127.0.0.1:$BE2; keepalive 128; }
  server { listen 127.0.0.1:$NGX http2;
    location / { proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection ""; } } }
CONF
cat >"$W/fulcrum.yaml" <<CONF
apiVersion: fulcrum/v1
kind: Pool
metadata: {name: be}
spec:
  frontend: {port: $FUL, protocol: http, limits: {maxRequestsPerConnection: 1000000000}}
  members: [{address: "127.0.0.1:$BE1"}, {address: "127.0.0.1:$BE2"}]
  healthCheck: {type: none}
  upstream: {maxIdleConnections: 128}
CONF
$(on 0) nginx -c "$W/be/nginx.conf" -p "$W/be"
$(on 1) nginx -c "$W/px/nginx.conf" -p "$W/px"
if [ -n "${FULCRUM:-}" ]; then cp "$FULCRUM" "$W/fulcrum"; else (cd "$ROOT" && go build -o "$W/fulcrum" ./cmd/fulcrum); fi
# The admin listener serves /debug/pprof/ for profiles during a run.
GOMAXPROCS=1 $(on 1) "$W/fulcrum" proxy -f "$W/fulcrum.yaml" --admin 127.0.0.1:18199 --watch-interval 0 --log-level warn >"$W/fulcrum.log" 2>&1 &
FPID=$!
sleep 1
NPID=$(pgrep -P "$(cat "$W/px.pid")" nginx || cat "$W/px.pid")

cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
one() { # name pid port
  local before after out reqs
  before=$(cpu "$2")
  out=$($(on 0) h2load -n"$REQS" -c16 -m16 "http://127.0.0.1:$3/")
  after=$(cpu "$2")
  reqs=$(echo "$out" | awk '/^requests:/ {print $8}')
  rps=$(echo "$out" | awk '/^finished in/ {print $4}')
  lat=$(echo "$out" | awk '/^time for request:/ {print $6}')
  awk -v n="$1" -v a="$after" -v b="$before" -v r="$reqs" -v t="$TICK" -v rps="$rps" -v lat="$lat" \
    'BEGIN { printf "%-8s cpu_us_per_req=%.2f req_per_s=%s avg_latency=%s requests=%d\n", n, (a-b)/t*1e6/r, rps, lat, r }'
}
h2load -n20000 -c16 -m16 "http://127.0.0.1:$FUL/" >/dev/null
h2load -n20000 -c16 -m16 "http://127.0.0.1:$NGX/" >/dev/null
for i in $(seq "$RUNS"); do
  one fulcrum "$FPID" "$FUL" | tee -a "$W/results"
  one nginx "$NPID" "$NGX" | tee -a "$W/results"
done
for n in fulcrum nginx; do
  grep "^$n " "$W/results" | sed 's/.*cpu_us_per_req=\([0-9.]*\).*/\1/' | sort -n | awk -v n="$n" '{a[NR]=$1} END {printf "median %-8s %.2f us/request over %d runs\n", n, a[int((NR+1)/2)], NR}'
done
sed 's/.*cpu_us_per_req=\([0-9.]*\).*/\1/' "$W/results" | paste - - | awk '{print $1/$2}' | sort -n |
  awk '{a[NR]=$1} END {printf "median ratio fulcrum/nginx %.2f over %d pairs\n", a[int((NR+1)/2)], NR}'


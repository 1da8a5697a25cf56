#!/usr/bin/env bash
# B1-style CPU per request: Fulcrum's L7 proxy vs nginx as a proxy, both
# with one worker, in front of the same nginx "return 200" keep-alive
# backends (two ports, round robin), driven by wrk -t1 -c64. CPU time
# (utime+stime from /proc/PID/stat) of each proxy process is read before
# and after each run and divided by the requests wrk completed. Contenders
# alternate (A B A B ...); medians and the median of the per-pair ratios
# are printed at the end. Both proxies are pinned to CPU 1, the backend and
# wrk to CPU 0 (taskset), which removes most of the run-to-run noise of
# this 2-core VM without favouring either contender.
#
#   dataplane/l7/bench/b1.sh [RUNS] [DURATION]     (defaults: 5, 10s)
#   FULCRUM=/path/to/fulcrum dataplane/l7/bench/b1.sh   (a prebuilt binary)
#   PIN=0 ... runs nothing pinned (more noise, same method)
set -euo pipefail
PIN=${PIN:-1}
on() { if [ "$PIN" = 1 ]; then echo "taskset -c $1"; fi; }
RUNS=${1:-5}
DUR=${2:-10s}
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
W=$(mktemp -d /tmp/fulcrum-b1.XXXXXX)
BE1=18181 BE2=18182 FUL=18190 NGX=18191
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
  server { listen 127.0.0.1:$NGX;
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
  out=$($(on 0) wrk -t1 -c64 -d"$DUR" "http://127.0.0.1:$3/")
  after=$(cpu "$2")
  reqs=$(echo "$out" | awk '/requests in/ {print $1}')
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  lat=$(echo "$out" | awk '/Latency/ {print $2}')
  awk -v n="$1" -v a="$after" -v b="$before" -v r="$reqs" -v t="$TICK" -v rps="$rps" -v lat="$lat" \
    'BEGIN { printf "%-8s cpu_us_per_req=%.2f req_per_s=%s avg_latency=%s requests=%d\n", n, (a-b)/t*1e6/r, rps, lat, r }'
}
wrk -t1 -c64 -d2s "http://127.0.0.1:$FUL/" >/dev/null
wrk -t1 -c64 -d2s "http://127.0.0.1:$NGX/" >/dev/null
for i in $(seq "$RUNS"); do
  one fulcrum "$FPID" "$FUL" | tee -a "$W/results"
  one nginx "$NPID" "$NGX" | tee -a "$W/results"
done
for n in fulcrum nginx; do
  grep "^$n " "$W/results" | sed 's/.*cpu_us_per_req=\([0-9.]*\).*/\1/' | sort -n | awk -v n="$n" '{a[NR]=$1} END {printf "median %-8s %.2f us/request over %d runs\n", n, a[int((NR+1)/2)], NR}'
done
sed 's/.*cpu_us_per_req=\([0-9.]*\).*/\1/' "$W/results" | paste - - | awk '{print $1/$2}' | sort -n |
  awk '{a[NR]=$1} END {printf "median ratio fulcrum/nginx %.2f over %d pairs\n", a[int((NR+1)/2)], NR}'


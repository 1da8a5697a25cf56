#!/bin/bash
# profile-h1.sh: where Fulcrum's HTTP/1.1 time goes, next to nginx, set up
# as B1 sets them up (docs/benchmarks.md, "Where the HTTP/1.1 time goes").
# The proxy under test runs on CPU 1 with one worker; wrk and the nginx
# member run on CPU 0. For each of ROUNDS rounds and each proxy it runs
# `wrk -t1 -c64 -d8s` under `perf stat` on the proxy's worker and prints
# the proxy's CPU and syscalls per request and each CPU's busy time per
# request (user+system+irq+softirq from /proc/stat, steal excluded). Then
# it takes an 8 s CPU profile of Fulcrum under the same load through its
# admin endpoint and prints `go tool pprof -top`.
#
# Needs nginx, wrk, perf and taskset; run from the repository root, as root
# (perf attaches to other processes). Everything listens on 127.0.0.1.
set -euo pipefail
ROUNDS=${ROUNDS:-3}
dir=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	nginx -p "$dir" -c "$dir/member.conf" -s stop 2>/dev/null || true
	nginx -p "$dir" -c "$dir/proxy.conf" -s stop 2>/dev/null || true
	sleep 0.5
	rm -rf "$dir"
}
trap cleanup EXIT

go build -o "$dir/fulcrum" ./cmd/fulcrum
common='worker_processes 1; daemon off; master_process on; events { worker_connections 8192; }'
cat > "$dir/member.conf" <<CONF
$common pid $dir/member.pid; error_log $dir/member.log warn;
http { access_log off; keepalive_requests 1000000; keepalive_timeout 300s;
  server { listen 127.0.0.1:18081; listen 127.0.0.1:18082; location / { return 200 "ok"; } } }
CONF
cat > "$dir/proxy.conf" <<CONF
$common pid $dir/proxy.pid; error_log $dir/proxy.log warn;
http { access_log off; keepalive_requests 1000000;
  upstream be { server 127.0.0.1:18081; server 127.0.0.1:18082; keepalive 128; }
  server { listen 127.0.0.1:18090; location / { proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection ""; } } }
CONF
cat > "$dir/fulcrum.yaml" <<CONF
apiVersion: fulcrum/v1
kind: Pool
metadata: {name: be}
spec:
  frontend: {address: 127.0.0.1, port: 18080, protocol: http, limits: {maxRequestsPerConnection: 1000000000}}
  members: [{address: "127.0.0.1:18081"}, {address: "127.0.0.1:18082"}]
  healthCheck: {type: none}
  upstream: {maxIdleConnections: 128}
CONF
taskset -c 0 nginx -p "$dir" -c "$dir/member.conf" & pids+=($!)
taskset -c 1 nginx -p "$dir" -c "$dir/proxy.conf" & pids+=($!)
GOMAXPROCS=1 taskset -c 1 "$dir/fulcrum" proxy -f "$dir/fulcrum.yaml" --admin 127.0.0.1:19901 >"$dir/fulcrum.log" 2>&1 & pids+=($!)
fulcrum=$!
sleep 2
worker=$(pgrep -P "$(cat "$dir/proxy.pid")")

busy() { awk -v c="cpu$1" '$1 == c {print $2+$3+$4+$7+$8}' /proc/stat; }
for round in $(seq "$ROUNDS"); do
	for name in fulcrum nginx; do
		if [ $name = fulcrum ]; then pid=$fulcrum port=18080; else pid=$worker port=18090; fi
		perf stat -x, -o "$dir/perf.txt" -p "$pid" -e task-clock,syscalls:sys_enter_read,syscalls:sys_enter_write,raw_syscalls:sys_enter &
		perfpid=$!
		sleep 0.2
		a0=$(busy 0) a1=$(busy 1)
		reqs=$(taskset -c 0 wrk -t1 -c64 -d8s "http://127.0.0.1:$port/" | awk '/requests in/ {print $1}')
		b0=$(busy 0) b1=$(busy 1)
		kill -INT $perfpid; wait $perfpid || true
		# /proc/stat counts in 10 ms ticks: ticks × 10,000 µs ÷ requests.
		awk -F, -v n="$reqs" -v name=$name -v r="$round" -v c0=$((b0 - a0)) -v c1=$((b1 - a1)) '
			BEGIN { printf "round %d %-7s %6d req/s  CPU0 %5.2f µs/req  CPU1 %5.2f µs/req", r, name, n / 8, c0 * 10000 / n, c1 * 10000 / n }
			/task-clock/ { printf "  proxy %5.2f µs/req", $1 * 1000 / n }
			/sys_enter/ { split($3, e, ":"); sub("sys_enter_", "", e[2]); sub("sys_enter", "all", e[2]); printf "  %s %.2f", e[2], $1 / n }
			END { print " syscalls/req" }' "$dir/perf.txt"
	done
done

echo
echo "CPU profile of Fulcrum, 8 s under wrk -t1 -c64:"
taskset -c 0 wrk -t1 -c64 -d10s http://127.0.0.1:18080/ >/dev/null &
pids+=($!)
sleep 1
curl -s -o "$dir/cpu.prof" "http://127.0.0.1:19901/debug/pprof/profile?seconds=8"
go tool pprof -top -nodecount=30 "$dir/fulcrum" "$dir/cpu.prof" 2>/dev/null

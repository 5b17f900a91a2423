#!/usr/bin/env bash
# bench/ab.sh: A/B of bench/server builds (two commits, say) on one load,
# alternating, so that both see the same machine: each run starts a fresh
# server on CPU 0 (GOMAXPROCS=1), warms it with h2load on CPU 1 for 1 s,
# then measures 3 s and prints the server's CPU ticks (utime+stime, 1/100
# s) per 100,000 responses and h2load's mean request time. Compare
# medians over several REPS: on a shared machine the same binary spreads
# by a factor of two between runs.
#
# usage: [TLS=1] bash bench/ab.sh REPS "h2load args" PATH BIN...
#   go build -o /tmp/a ./bench/server   (at one commit, then the other)
#   bash bench/ab.sh 6 "-c100 -m10" /hello /tmp/a /tmp/b
# Only 127.0.0.1 is used; each server is killed by PID after its run.
set -euo pipefail
(($# >= 4)) || { sed -n '2,13p' "$0" >&2; exit 2; }
reps=$1 args=$2 path=$3
shift 3
command -v h2load >/dev/null || { echo "ab.sh: h2load is missing (apt-get install nghttp2-client)" >&2; exit 1; }
port=${PORT:-9500}
# TLS=1: HTTP/2 over TLS 1.3 (bench/server -tls makes a certificate).
scheme=http tlsflag=() h2tls=()
if [[ ${TLS:-0} == 1 ]]; then
	scheme=https tlsflag=(-tls) h2tls=(--tls13-ciphers=TLS_AES_128_GCM_SHA256)
fi
for ((r = 1; r <= reps; r++)); do
	for b in "$@"; do
		port=$((port + 1))
		GOMAXPROCS=1 taskset -c 0 "$b" -addr "127.0.0.1:$port" "${tlsflag[@]}" -quiet >/dev/null 2>&1 &
		pid=$!
		for _ in $(seq 100); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
		# shellcheck disable=SC2086 # args is a list of h2load flags
		taskset -c 1 h2load -D 1 "${h2tls[@]}" $args "$scheme://127.0.0.1:$port$path" >/dev/null 2>&1
		t0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
		# shellcheck disable=SC2086
		out=$(taskset -c 1 h2load -D 3 "${h2tls[@]}" $args "$scheme://127.0.0.1:$port$path" 2>&1)
		t1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
		kill "$pid"
		wait "$pid" 2>/dev/null || true
		reqs=$(awk '/^requests:/ {print $8}' <<<"$out")
		mean=$(awk '/time for request:/ {print $6}' <<<"$out")
		if [[ -z $reqs || $reqs == 0 ]]; then
			echo "$(basename "$b") run $r: no responses" >&2
			continue
		fi
		awk -v n="$(basename "$b")" -v r="$r" -v t="$((t1 - t0))" -v q="$reqs" -v m="$mean" \
			'BEGIN {printf "%s run %d: %.1f ticks/100k responses, mean request %s\n", n, r, t * 100000 / q, m}'
	done
done

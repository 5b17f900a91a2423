#!/usr/bin/env bash
# bench/run.sh: h2server against net/http's own HTTP/2 server, under h2load,
# on loopback. Run from anywhere as `bash bench/run.sh`; the result is a
# markdown table of medians on stdout (also saved as $OUT/results.md).
#
# Both servers are bench/server (same handlers, -impl h2server|nethttp).
# Every run starts a fresh server pinned to CPU $SERVER_CPU (so Go sees one
# CPU, GOMAXPROCS=1; SERVER_CPU=0-2 would give it three), warms it up for
# $WARMUP, then measures for $DURATION with h2load pinned to $CLIENT_CPU.
# Server CPU time is utime+stime from /proc/PID/stat around the measured
# h2load run (it includes setting up and closing h2load's connections). Repetitions are interleaved
# (h2server, net/http, h2server, ...) so that drift in the machine hits
# both alike; the table shows the median of the $REPS runs.
#
# Memory: bench/idleconns holds 2,000 idle connections (SETTINGS exchange
# done), then 20 connections x 100 open streams (POST /sink, HEADERS
# without END_STREAM, no DATA), each against a fresh server; the table
# shows the growth of VmRSS divided by the count.
#
# Environment (defaults in brackets):
#   DURATION   measured seconds per run [5]      WARMUP  warm-up seconds, 0 for none [1]
#   REPS       runs per implementation [3]       TLS     1: HTTP/2 over TLS instead of h2c [0]
#   HELLO_HIGH "conns streams" of the first /hello load [100 10]
#   HELLO_DEEP "conns streams" of the second /hello load [10 100]
#   BULK       "conns streams" of /1m, /sink, /echo [4 4]
#   IDLE_CONNS idle connections [2000]           STREAM_CONNS x STREAMS: [20] x [100]
#   MAXSTREAMS SETTINGS_MAX_CONCURRENT_STREAMS of both servers [100]
#   WORKLOADS  which to run, a subset of "hello_high hello_deep hello_1 get1m sink echo idle streams"
#   SERVER_CPU / CLIENT_CPU   CPU lists for taskset -c [0] / [1]
#   OUT        directory for logs and results, kept afterwards [a new /tmp/h2bench.*]
#   PROFILE    1: each load run writes a CPU profile, $OUT/WORKLOAD.IMPL.REP.cpu.prof [0]
#              (go tool pprof $OUT/server FILE; profiling costs a little CPU)
#
# Only 127.0.0.1 is used. Every process the script starts is killed, by
# PID, when it exits; every run is bounded by `timeout`.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
[[ -x /usr/local/go/bin/go ]] && export PATH=$PATH:/usr/local/go/bin

seconds() { # "5", "5s" -> 5
	local v=${1%s}
	[[ $v =~ ^[0-9]+$ ]] || { echo "run.sh: $2 must be whole seconds, got '$1'" >&2; exit 2; }
	echo "$v"
}
DURATION=$(seconds "${DURATION:-5}" DURATION)
WARMUP=$(seconds "${WARMUP:-1}" WARMUP)
REPS=${REPS:-3}
TLS=${TLS:-0}
read -r HIGH_C HIGH_M <<<"${HELLO_HIGH:-100 10}"
read -r DEEP_C DEEP_M <<<"${HELLO_DEEP:-10 100}"
read -r BULK_C BULK_M <<<"${BULK:-4 4}"
IDLE_CONNS=${IDLE_CONNS:-2000}
STREAM_CONNS=${STREAM_CONNS:-20}
STREAMS=${STREAMS:-100}
MAXSTREAMS=${MAXSTREAMS:-100}
WORKLOADS=${WORKLOADS:-hello_high hello_deep hello_1 get1m sink echo idle streams}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
IMPLS=(h2server nethttp)

if ((STREAMS > MAXSTREAMS)); then
	echo "run.sh: STREAMS=$STREAMS exceeds MAXSTREAMS=$MAXSTREAMS; the servers would refuse streams" >&2
	exit 2
fi

# ---------------------------------------------------------------- processes

PIDS=()
cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		kill -KILL "$pid" 2>/dev/null || true
	done
	# Logs stay in $OUT; only the large inputs go (the server binary stays
	# when there are profiles to read with it).
	if [[ -n ${OUT:-} ]]; then
		rm -f "$OUT/body1m" "$OUT/idleconns"
		[[ ${PROFILE:-0} == 1 ]] || rm -f "$OUT/server"
	fi
}
trap cleanup EXIT
trap 'echo "run.sh: interrupted" >&2; exit 130' INT TERM

forget() { # forget PID: drop it from the kill list
	local keep=() p
	for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
	PIDS=("${keep[@]}")
}

# stop PID: SIGTERM, then SIGKILL if it is still there after 10s.
stop() {
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "run.sh: PID $pid ignored SIGTERM for 10s; killing it" >&2
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
	forget "$pid"
}

PIN_SERVER=() PIN_CLIENT=()
if command -v taskset >/dev/null && (($(nproc) >= 2)); then
	PIN_SERVER=(taskset -c "$SERVER_CPU")
	PIN_CLIENT=(taskset -c "$CLIENT_CPU")
else
	echo "run.sh: WARNING: no taskset or fewer than 2 CPUs; server and client are NOT pinned" >&2
fi

# ---------------------------------------------------------------- set-up

if ! command -v h2load >/dev/null; then
	if ((EUID == 0)) && command -v apt-get >/dev/null; then
		echo "run.sh: installing nghttp2-client for h2load" >&2
		DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nghttp2-client >&2
	else
		echo "run.sh: h2load is missing; install nghttp2-client (apt-get install nghttp2-client)" >&2
		exit 1
	fi
fi

if [[ -n ${OUT:-} ]]; then
	mkdir -p "$OUT"
	OUT=$(cd "$OUT" && pwd)
else
	OUT=$(mktemp -d /tmp/h2bench.XXXXXX)
fi
echo "run.sh: building bench/server and bench/idleconns" >&2
go build -o "$OUT/server" ./bench/server
go build -o "$OUT/idleconns" ./bench/idleconns
head -c $((1 << 20)) /dev/urandom >"$OUT/body1m"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if (($(ulimit -n) < IDLE_CONNS + 100)); then
	echo "run.sh: open-file limit $(ulimit -n) is below IDLE_CONNS+100; lower IDLE_CONNS" >&2
	exit 1
fi
CLK_TCK=$(getconf CLK_TCK)
SCHEME=http SERVER_TLS=() IDLE_TLS=()
if [[ $TLS == 1 ]]; then
	SCHEME=https SERVER_TLS=(-tls) IDLE_TLS=(-tls)
fi

# Expected time: each load run is warm-up + duration + about 1s of start
# and stop; each memory run about 4s.
nload=0 nmem=0
for w in $WORKLOADS; do
	case $w in
	hello_high | hello_deep | hello_1 | get1m | sink | echo) nload=$((nload + 1)) ;;
	idle | streams) nmem=$((nmem + 1)) ;;
	*) echo "run.sh: unknown workload '$w'" >&2; exit 2 ;;
	esac
done
expected=$((nload * 2 * REPS * (WARMUP + DURATION + 1) + nmem * 2 * REPS * 4))
echo "run.sh: $nload load workloads and $nmem memory measurements, 2 servers x $REPS runs, ${DURATION}s each (+${WARMUP}s warm-up): expected about ${expected}s ($((expected / 60))m$((expected % 60))s); logs in $OUT" >&2

RESULTS=$OUT/results.txt # lines: workload impl metric value
: >"$RESULTS"
ANOMALIES=$OUT/anomalies.txt
: >"$ANOMALIES"
record() { echo "$1 $2 $3 $4" >>"$RESULTS"; }
anomaly() { echo "- $*" >>"$ANOMALIES"; echo "run.sh: ANOMALY: $*" >&2; }

cpu_ticks() { # utime+stime of PID, in clock ticks
	local stat
	stat=$(<"/proc/$1/stat")
	stat=${stat##*) } # fields after "pid (comm) "; utime and stime are 12 and 13 here
	awk '{print $12 + $13}' <<<"$stat"
}
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

SERVER_PID='' SERVER_ADDR='' SERVER_PROCS=''
# start_server IMPL TAG: starts a fresh server and waits until it listens.
start_server() {
	local impl=$1 tag=$2 i
	local prof=()
	if [[ ${PROFILE:-0} == 1 ]]; then
		prof=(-cpuprofile "$OUT/$tag.cpu.prof")
	fi
	: >"$OUT/$tag.server.out" # before the background shell opens it: the poll below reads it at once
	"${PIN_SERVER[@]}" "$OUT/server" -impl "$impl" -addr 127.0.0.1:0 \
		-maxstreams "$MAXSTREAMS" "${SERVER_TLS[@]}" "${prof[@]}" >"$OUT/$tag.server.out" 2>"$OUT/$tag.server.err" &
	SERVER_PID=$!
	PIDS+=("$SERVER_PID")
	for ((i = 0; i < 100; i++)); do
		SERVER_ADDR=$(sed -n 's/^listening on //p' "$OUT/$tag.server.out")
		if [[ -n $SERVER_ADDR ]]; then
			# CPU and RSS are read from /proc/PID: PID must be the server
			# itself (taskset execs it), not a shell around it.
			if [[ $(readlink "/proc/$SERVER_PID/exe") != "$OUT/server" ]]; then
				echo "run.sh: PID $SERVER_PID is $(readlink "/proc/$SERVER_PID/exe"), not $OUT/server" >&2
				exit 1
			fi
			SERVER_PROCS=$(sed -n 's/.*GOMAXPROCS=\([0-9]*\).*/\1/p' "$OUT/$tag.server.err")
			return 0
		fi
		kill -0 "$SERVER_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "run.sh: server $impl did not start; its log:" >&2
	cat "$OUT/$tag.server.err" >&2
	exit 1
}

# stop_server TAG: graceful stop; anything the server logged beyond its
# start-up line is an anomaly.
stop_server() {
	local tag=$1
	stop "$SERVER_PID"
	if [[ $(grep -vc '^server: \(h2server\|nethttp\), ' "$OUT/$tag.server.err") != 0 ]]; then
		anomaly "$tag: the server logged: $(grep -v '^server: \(h2server\|nethttp\), ' "$OUT/$tag.server.err" | head -3 | tr '\n' ' ')(see $OUT/$tag.server.err)"
	fi
}

# h2load_run SECONDS LOGFILE ARGS...: one bounded h2load run against the server.
h2load_run() {
	local secs=$1 log=$2
	shift 2
	timeout -k 5 $((secs + 30)) "${PIN_CLIENT[@]}" h2load -D "$secs" "$@" >"$log" 2>&1
}

# load WORKLOAD IMPL REP PATH CONNS STREAMS KIND [h2load args...]
# KIND is "req" (requests/s, CPU per 100k requests) or "bulk" (MiB/s, CPU
# per GiB of 1 MiB bodies).
load() {
	local w=$1 impl=$2 rep=$3 path=$4 c=$5 m=$6 kind=$7
	shift 7
	local tag=$w.$impl.$rep url args
	args=(-c "$c" -m "$m" "$@")
	start_server "$impl" "$tag"
	url=$SCHEME://$SERVER_ADDR$path
	if ((WARMUP > 0)); then
		h2load_run "$WARMUP" "$OUT/$tag.warmup.log" "${args[@]}" "$url" || true
	fi
	local t0 t1 rc=0
	t0=$(cpu_ticks "$SERVER_PID")
	if [[ $w == hello_1 ]]; then
		args+=(--log-file "$OUT/$tag.requests.log")
	fi
	h2load_run "$DURATION" "$OUT/$tag.h2load.log" "${args[@]}" "$url" || rc=$?
	t1=$(cpu_ticks "$SERVER_PID")
	stop_server "$tag"

	local log=$OUT/$tag.h2load.log secs ok failed errored timedout non2xx
	if ((rc != 0)); then
		anomaly "$tag: h2load exited with status $rc (see $log)"
	fi
	secs=$(sed -n 's/^finished in \([0-9.]*\)s,.*/\1/p' "$log")
	read -r ok failed errored timedout < <(sed -n 's/^requests: .* \([0-9]*\) succeeded, \([0-9]*\) failed, \([0-9]*\) errored, \([0-9]*\) timeout.*/\1 \2 \3 \4/p' "$log") || true
	non2xx=$(sed -n 's/^status codes: [0-9]* 2xx, \([0-9]*\) 3xx, \([0-9]*\) 4xx, \([0-9]*\) 5xx.*/\1 \2 \3/p' "$log" | awk '{print $1 + $2 + $3}')
	if [[ -z $secs || -z $ok ]]; then
		anomaly "$tag: no h2load summary (see $log)"
		return
	fi
	if ((failed + errored + timedout + non2xx > 0)); then
		anomaly "$tag: $failed failed, $errored errored, $timedout timed out, $non2xx non-2xx of $((ok + failed)) requests (see $log)"
	fi
	if ((ok == 0)); then
		anomaly "$tag: no request succeeded"
		return
	fi
	local cpu
	cpu=$(awk -v a="$t0" -v b="$t1" -v hz="$CLK_TCK" 'BEGIN {printf "%.4f", (b - a) / hz}')
	record "$w" "$impl" cpu_total "$cpu"
	if [[ $kind == req ]]; then
		record "$w" "$impl" rps "$(awk -v n="$ok" -v s="$secs" 'BEGIN {printf "%.0f", n / s}')"
		record "$w" "$impl" cpu_per_100k "$(awk -v c="$cpu" -v n="$ok" 'BEGIN {printf "%.3f", c / n * 100000}')"
	else
		record "$w" "$impl" mibps "$(awk -v n="$ok" -v s="$secs" 'BEGIN {printf "%.1f", n / s}')"
		record "$w" "$impl" cpu_per_gib "$(awk -v c="$cpu" -v n="$ok" 'BEGIN {printf "%.3f", c / (n / 1024)}')"
	fi
	if [[ $w == hello_1 ]]; then
		# Column 3 of h2load's per-request log: microseconds to the end of
		# the response.
		local lat
		lat=$(cut -f3 "$OUT/$tag.requests.log" | sort -n | awk '{v[NR] = $1} END {
			if (NR == 0) exit
			i50 = int((NR + 1) / 2); i99 = int(NR * 0.99); if (i99 < 1) i99 = 1
			print v[i50], v[i99]}')
		if [[ -n $lat ]]; then
			record "$w" "$impl" p50_us "${lat% *}"
			record "$w" "$impl" p99_us "${lat#* }"
		fi
		record "$w" "$impl" mean_us "$(sed -n 's/^time for request: *[0-9.]*[mu]*s *[0-9.]*[mu]*s *\([0-9.]*[mu]*s\) .*/\1/p' "$log" |
			awk '/ms$/ {printf "%.0f", $1 * 1000; next} /us$/ {printf "%.0f", $1 + 0; next} {printf "%.0f", $1 * 1e6}')"
		rm -f "$OUT/$tag.requests.log"
	fi
}

# memory WORKLOAD IMPL REP CONNS STREAMS: RSS growth per connection or stream.
memory() {
	local w=$1 impl=$2 rep=$3 conns=$4 streams=$5 tag=$1.$2.$3 i
	start_server "$impl" "$tag"
	sleep 0.3
	local before after
	before=$(rss_kib "$SERVER_PID")
	: >"$OUT/$tag.idleconns.out"
	"${PIN_CLIENT[@]}" "$OUT/idleconns" -addr "$SERVER_ADDR" -conns "$conns" -streams "$streams" "${IDLE_TLS[@]}" \
		>"$OUT/$tag.idleconns.out" 2>"$OUT/$tag.idleconns.err" &
	local ic=$!
	PIDS+=("$ic")
	for ((i = 0; i < 300; i++)); do
		grep -q '^ready' "$OUT/$tag.idleconns.out" && break
		kill -0 "$ic" 2>/dev/null || break
		sleep 0.1
	done
	if ! grep -q '^ready' "$OUT/$tag.idleconns.out"; then
		anomaly "$tag: idleconns did not get ready: $(tr '\n' ' ' <"$OUT/$tag.idleconns.err")"
		stop "$ic"
		stop_server "$tag"
		return
	fi
	sleep 1 # let handlers start and the server settle
	after=$(rss_kib "$SERVER_PID")
	stop "$ic"
	if grep -q 'while held: [1-9]\|[1-9][0-9]* connections closed\|[1-9][0-9]* GOAWAY\|capped' "$OUT/$tag.idleconns.err"; then
		anomaly "$tag: $(tr '\n' ' ' <"$OUT/$tag.idleconns.err")"
	fi
	stop_server "$tag"
	local n=$conns
	[[ $w == streams ]] && n=$((conns * streams))
	record "$w" "$impl" rss_delta_kib $((after - before))
	record "$w" "$impl" bytes_per $(((after - before) * 1024 / n))
}

# ---------------------------------------------------------------- runs

t_start=$SECONDS
for w in $WORKLOADS; do
	for ((rep = 1; rep <= REPS; rep++)); do
		for impl in "${IMPLS[@]}"; do
			echo "run.sh: [$((SECONDS - t_start))s] $w $impl run $rep/$REPS" >&2
			case $w in
			hello_high) load "$w" "$impl" "$rep" /hello "$HIGH_C" "$HIGH_M" req ;;
			hello_deep) load "$w" "$impl" "$rep" /hello "$DEEP_C" "$DEEP_M" req ;;
			hello_1) load "$w" "$impl" "$rep" /hello 1 1 req ;;
			get1m) load "$w" "$impl" "$rep" /1m "$BULK_C" "$BULK_M" bulk ;;
			sink) load "$w" "$impl" "$rep" /sink "$BULK_C" "$BULK_M" bulk -d "$OUT/body1m" ;;
			echo) load "$w" "$impl" "$rep" /echo "$BULK_C" "$BULK_M" bulk -d "$OUT/body1m" ;;
			idle) memory "$w" "$impl" "$rep" "$IDLE_CONNS" 0 ;;
			streams) memory "$w" "$impl" "$rep" "$STREAM_CONNS" "$STREAMS" ;;
			esac
		done
	done
done

# ---------------------------------------------------------------- table

median() { # median WORKLOAD IMPL METRIC
	awk -v w="$1" -v i="$2" -v m="$3" '$1 == w && $2 == i && $3 == m {print $4}' "$RESULTS" | sort -g |
		awk '{v[NR] = $1} END {
			if (NR == 0) { print "-"; exit }
			if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
row() { # row WORKLOAD METRIC LABEL
	local a b ratio
	a=$(median "$1" h2server "$2")
	b=$(median "$1" nethttp "$2")
	ratio=$(awk -v a="$a" -v b="$b" 'BEGIN {if (a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.2f", a / b}')
	printf '| %s | %s | %s | %s |\n' "$3" "$a" "$b" "$ratio"
}

proto=h2c
[[ $TLS == 1 ]] && proto="h2 over TLS"
{
	echo "h2server vs net/http HTTP/2 server ($proto, loopback, server on CPU $SERVER_CPU (GOMAXPROCS=${SERVER_PROCS:-?}), h2load on CPU $CLIENT_CPU;"
	echo "median of $REPS runs of ${DURATION}s after ${WARMUP}s warm-up; $(go version | cut -d' ' -f3), $(h2load --version | head -1); $(date -u +%Y-%m-%dT%H:%MZ))"
	echo
	echo "| workload | h2server | net/http | h2server / net/http |"
	echo "| --- | ---: | ---: | ---: |"
	for w in $WORKLOADS; do
		case $w in
		hello_high | hello_deep | hello_1)
			case $w in
			hello_high) cm="-c $HIGH_C -m $HIGH_M" ;;
			hello_deep) cm="-c $DEEP_C -m $DEEP_M" ;;
			hello_1) cm="-c 1 -m 1" ;;
			esac
			row "$w" rps "GET /hello $cm: requests/s"
			row "$w" cpu_per_100k "GET /hello $cm: server CPU-s per 100k requests"
			if [[ $w == hello_1 ]]; then
				row "$w" p50_us "GET /hello $cm: p50 latency (µs)"
				row "$w" p99_us "GET /hello $cm: p99 latency (µs)"
				row "$w" mean_us "GET /hello $cm: mean latency (µs, h2load)"
			fi
			;;
		get1m | sink | echo)
			case $w in
			get1m) what="GET /1m" ;;
			sink) what="POST /sink 1 MiB" ;;
			echo) what="POST /echo 1 MiB (each way)" ;;
			esac
			row "$w" mibps "$what -c $BULK_C -m $BULK_M: MiB/s"
			row "$w" cpu_per_gib "$what -c $BULK_C -m $BULK_M: server CPU-s per GiB"
			;;
		idle) row "$w" bytes_per "RSS per idle connection (bytes; $IDLE_CONNS connections)" ;;
		streams) row "$w" bytes_per "RSS per open stream (bytes; $STREAM_CONNS conns x $STREAMS streams, incl. the conns)" ;;
		esac
	done
	echo
	if [[ -s $ANOMALIES ]]; then
		echo "Anomalies (failed requests, server log lines, refused streams):"
		echo
		cat "$ANOMALIES"
	else
		echo "No anomalies: every request succeeded with 2xx and neither server logged anything."
	fi
} | tee "$OUT/results.md"
echo "run.sh: done in $((SECONDS - t_start))s" >&2

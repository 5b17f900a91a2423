#!/usr/bin/env bash
# bench/wan.sh: bulk uploads and downloads over a long fat network, made on
# loopback by bench/latproxy (a user-space delay proxy: this kernel has no
# netem). Run from anywhere as `bash bench/wan.sh`; the result is a markdown
# table on stdout (also $OUT/results.md), raw numbers in $OUT/raw.tsv, and
# "target" lines for issue 12.
#
# For each cap, each RTT and each server, a fresh bench/server behind a
# fresh latproxy (-rtt RTT -rate CAP); bench/wanclient then moves $SIZE
# bytes on one HTTP/2 connection (Go's client, h2c): uploads (POST /sink)
# and downloads (GET /bytes), on 1 and on 8 concurrent streams ($SIZE is
# the total, split evenly over the streams). MiB/s is total bytes over the
# wall time from the first request to the last byte of the last response;
# the table shows the median of $REPS runs.
#
# Servers:
#   h2server     h2server with its default windows (256 KiB per stream, 2 MiB per connection)
#   nethttp      net/http's HTTP/2 server with its defaults (1 MiB per stream and per connection)
#   h2server16m  h2server with fixed $BIG_WINDOW windows (stream and connection): today's upper reference
#
# Percentages: on capped rows, of the link (1gbit = 119.2 MiB/s); the
# "ceiling" column is what a perfect sender reaches there, since one
# request per stream costs a round trip beyond SIZE/rate. On uncapped rows,
# of window/RTT, the most a fixed window lets through: for uploads the
# server's windows, for downloads the client's (-stream-window, -conn-window
# of wanclient), min(streams x stream window, connection window) / RTT;
# "-" at 0 ms or when the window is not known (dynamic windows).
#
# Environment (defaults in brackets):
#   RTTS      round-trip times in ms [0 10 50 100]
#   CAPS      bandwidth caps per direction: none, or Ngbit / Nmbit [none 1gbit]
#   SERVERS   a subset of "h2server nethttp h2server16m" [all three]
#   DIRS      a subset of "up down" [up down]
#   STREAMS   stream counts [1 8]
#   SIZE      bytes per transfer, all streams together [67108864]
#   REPS      runs per cell, the median is shown [1]
#   BIG_WINDOW  the windows of h2server16m, bytes [16777216]
#   CLIENT_STREAM_WINDOW / CLIENT_CONN_WINDOW  the client's receive windows
#             for downloads [16777216] / [67108864]
#   H2SERVER_FLAGS  extra bench/server flags for the h2server row, to try a
#             setting (e.g. "-conn-window 2097152") [none]
#   QUEUE     latproxy -queue [auto: 64 MiB, or one BDP at the cap + 4 MiB if more]
#   RUN_TIMEOUT  seconds allowed per transfer [300]
#   TARGETS   strict: exit 1 when an h2server target fails [report only]
#   OUT       directory for logs and results, kept afterwards [a new /tmp/h2wan.*]
#
# Processes are not pinned: server, proxy and client share the machine's
# CPUs (the proxy copies every byte twice through user space; see
# bench/README.md for its own ceiling). A default run takes about 5 minutes.
#
# Only 127.0.0.1 is used. Every process the script starts is killed, by
# PID, when it exits; every transfer is bounded by `timeout`.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
[[ -x /usr/local/go/bin/go ]] && export PATH=$PATH:/usr/local/go/bin

RTTS=${RTTS:-0 10 50 100}
CAPS=${CAPS:-none 1gbit}
SERVERS=${SERVERS:-h2server nethttp h2server16m}
DIRS=${DIRS:-up down}
STREAMS=${STREAMS:-1 8}
SIZE=${SIZE:-67108864}
REPS=${REPS:-1}
BIG_WINDOW=${BIG_WINDOW:-16777216}
CLIENT_STREAM_WINDOW=${CLIENT_STREAM_WINDOW:-16777216}
CLIENT_CONN_WINDOW=${CLIENT_CONN_WINDOW:-67108864}
QUEUE=${QUEUE:-auto}
RUN_TIMEOUT=${RUN_TIMEOUT:-300}
TARGETS=${TARGETS:-report}
H2SERVER_FLAGS=${H2SERVER_FLAGS:-}

die() { echo "wan.sh: $*" >&2; exit 2; }
for v in $RTTS; do [[ $v =~ ^[0-9]+$ ]] || die "RTTS: '$v' is not whole milliseconds"; done
for v in $STREAMS; do [[ $v =~ ^[1-9][0-9]*$ ]] || die "STREAMS: '$v' is not a positive count"; done
for v in $DIRS; do [[ $v == up || $v == down ]] || die "DIRS: '$v' is not up or down"; done
for v in $SERVERS; do [[ $v =~ ^(h2server|nethttp|h2server16m|h2serverfixed)$ ]] || die "SERVERS: unknown server '$v'"; done
[[ $SIZE =~ ^[1-9][0-9]*$ && $REPS =~ ^[1-9][0-9]*$ && $RUN_TIMEOUT =~ ^[1-9][0-9]*$ ]] || die "SIZE, REPS and RUN_TIMEOUT must be positive integers"

# cap_bps CAP: bytes per second, 0 for none.
cap_bps() {
	case $1 in
	none | 0) echo 0 ;;
	*gbit) awk -v v="${1%gbit}" 'BEGIN {printf "%.0f", v * 1e9 / 8}' ;;
	*mbit) awk -v v="${1%mbit}" 'BEGIN {printf "%.0f", v * 1e6 / 8}' ;;
	*) die "CAPS: '$1' is not none, Ngbit or Nmbit" ;;
	esac
}
for c in $CAPS; do cap_bps "$c" >/dev/null; done

# server_args NAME: bench/server flags.
server_args() {
	case $1 in
	h2server) echo "-impl h2server $H2SERVER_FLAGS" ;;
	nethttp) echo "-impl nethttp" ;;
	h2server16m) echo "-impl h2server -stream-window $BIG_WINDOW -conn-window $BIG_WINDOW -max-stream-window -1" ;;
	h2serverfixed) echo "-impl h2server -max-stream-window -1" ;;
	esac
}
# server_windows NAME: "stream conn" receive windows the server advertises
# and keeps, or "- -" when they are not fixed (h2server grows its own).
server_windows() {
	case $1 in
	h2server) echo "- -" ;;
	h2serverfixed) echo "262144 2097152" ;;
	nethttp) echo "1048576 1048576" ;;
	h2server16m) echo "$BIG_WINDOW $BIG_WINDOW" ;;
	esac
}
server_label() {
	case $1 in
	h2server) echo "h2server" ;;
	nethttp) echo "net/http" ;;
	h2server16m) echo "h2server $((BIG_WINDOW >> 20)) MiB windows" ;;
	h2serverfixed) echo "h2server fixed 256 KiB" ;;
	esac
}

# ---------------------------------------------------------------- processes

PIDS=()
cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		kill -KILL "$pid" 2>/dev/null || true
	done
	[[ -n ${OUT:-} ]] && rm -f "$OUT/server" "$OUT/latproxy" "$OUT/wanclient"
}
trap cleanup EXIT
trap 'echo "wan.sh: interrupted" >&2; exit 130' INT TERM

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
		echo "wan.sh: PID $pid ignored SIGTERM for 10s; killing it" >&2
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
	forget "$pid"
}

# start BIN TAG ARGS...: starts $OUT/BIN in the background, waits for its
# "listening on ADDR" line; sets STARTED_PID and STARTED_ADDR.
STARTED_PID='' STARTED_ADDR=''
start() {
	local bin=$1 tag=$2 i
	shift 2
	: >"$OUT/$tag.out" # before the background shell opens it: the poll below reads it at once
	"$OUT/$bin" "$@" >"$OUT/$tag.out" 2>"$OUT/$tag.err" &
	STARTED_PID=$!
	PIDS+=("$STARTED_PID")
	for ((i = 0; i < 200; i++)); do
		STARTED_ADDR=$(sed -n 's/^listening on //p' "$OUT/$tag.out")
		[[ -n $STARTED_ADDR ]] && return 0
		kill -0 "$STARTED_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "wan.sh: $bin did not start; its log:" >&2
	cat "$OUT/$tag.err" >&2
	exit 1
}

# ---------------------------------------------------------------- set-up

if [[ -n ${OUT:-} ]]; then
	mkdir -p "$OUT"
	OUT=$(cd "$OUT" && pwd)
else
	OUT=$(mktemp -d /tmp/h2wan.XXXXXX)
fi
echo "wan.sh: building bench/server, bench/latproxy and bench/wanclient; logs in $OUT" >&2
go build -o "$OUT/server" ./bench/server
go build -o "$OUT/latproxy" ./bench/latproxy
go build -o "$OUT/wanclient" ./bench/wanclient

RAW=$OUT/raw.tsv
printf 'server\trtt_ms\tcap\tdir\tstreams\trep\tbytes\tseconds\tmibps\n' >"$RAW"
ANOMALIES=$OUT/anomalies.txt
: >"$ANOMALIES"
anomaly() { echo "- $*" >>"$ANOMALIES"; echo "wan.sh: ANOMALY: $*" >&2; }

# transfer SERVER RTT CAP DIR STREAMS REP ADDR: one wanclient run, recorded.
transfer() {
	local srv=$1 rtt=$2 cap=$3 dir=$4 s=$5 rep=$6 addr=$7
	local tag=$srv.$rtt.$cap.$dir$s.$rep line rc=0
	timeout -k 5 "$RUN_TIMEOUT" "$OUT/wanclient" -addr "$addr" -dir "$dir" -streams "$s" -size "$SIZE" \
		-stream-window "$CLIENT_STREAM_WINDOW" -conn-window "$CLIENT_CONN_WINDOW" -timeout "${RUN_TIMEOUT}s" \
		>"$OUT/$tag.client.out" 2>"$OUT/$tag.client.err" || rc=$?
	line=$(grep '^dir=' "$OUT/$tag.client.out" || true)
	if ((rc != 0)) || [[ -z $line ]]; then
		anomaly "$tag: wanclient exited with status $rc: $(head -c 300 "$OUT/$tag.client.err" | tr '\n' ' ')"
		return
	fi
	local bytes secs mibps
	bytes=$(sed -n 's/.* bytes=\([0-9]*\).*/\1/p' <<<"$line")
	secs=$(sed -n 's/.* seconds=\([0-9.]*\).*/\1/p' <<<"$line")
	mibps=$(sed -n 's/.* mibps=\([0-9.]*\).*/\1/p' <<<"$line")
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$srv" "$rtt" "$cap" "$dir" "$s" "$rep" "$bytes" "$secs" "$mibps" >>"$RAW"
	echo "wan.sh:   $dir x$s: $mibps MiB/s (${secs}s)" >&2
}

# ---------------------------------------------------------------- runs

ncells=0
for cap in $CAPS; do for rtt in $RTTS; do for srv in $SERVERS; do ncells=$((ncells + 1)); done; done; done
cell=0 t_start=$SECONDS
for cap in $CAPS; do
	bps=$(cap_bps "$cap")
	for rtt in $RTTS; do
		for srv in $SERVERS; do
			cell=$((cell + 1))
			echo "wan.sh: [$((SECONDS - t_start))s] cell $cell/$ncells: $srv, rtt ${rtt}ms, cap $cap" >&2
			tag=$srv.$rtt.$cap
			# shellcheck disable=SC2046 # server_args is a list of flags
			start server "$tag.server" $(server_args "$srv") -addr 127.0.0.1:0 -quiet
			server_pid=$STARTED_PID server_addr=$STARTED_ADDR
			start latproxy "$tag.proxy" -listen 127.0.0.1:0 -target "$server_addr" -rtt "${rtt}ms" -rate "$bps" -queue "$QUEUE" -quiet
			proxy_pid=$STARTED_PID proxy_addr=$STARTED_ADDR
			for ((rep = 1; rep <= REPS; rep++)); do
				for dir in $DIRS; do
					for s in $STREAMS; do
						transfer "$srv" "$rtt" "$cap" "$dir" "$s" "$rep" "$proxy_addr"
					done
				done
			done
			stop "$proxy_pid"
			stop "$server_pid"
			for f in "$OUT/$tag.server.err" "$OUT/$tag.proxy.err"; do
				if grep -qv '^\(server: \(h2server\|nethttp\), \|latproxy: rtt \)' "$f"; then
					anomaly "$tag: $(basename "$f"): $(grep -v '^\(server: \(h2server\|nethttp\), \|latproxy: rtt \)' "$f" | head -3 | tr '\n' ' ')"
				fi
			done
		done
	done
done

# ---------------------------------------------------------------- table

median() { # median SERVER RTT CAP DIR STREAMS
	awk -F'\t' -v s="$1" -v r="$2" -v c="$3" -v d="$4" -v n="$5" \
		'$1 == s && $2 == r && $3 == c && $4 == d && $5 == n {print $9}' "$RAW" | sort -g |
		awk '{v[NR] = $1} END {
			if (NR == 0) { print "-"; exit }
			if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# percent SERVER RTT CAP DIR STREAMS MIBPS: of the link when capped, of
# window/RTT otherwise.
percent() {
	local srv=$1 rtt=$2 cap=$3 dir=$4 s=$5 v=$6 bps sw cw
	[[ $v == - ]] && { echo -; return; }
	bps=$(cap_bps "$cap")
	if ((bps > 0)); then
		awk -v v="$v" -v b="$bps" 'BEGIN {printf "%.1f%%", v * 1048576 / b * 100}'
		return
	fi
	if ((rtt == 0)); then
		echo -
		return
	fi
	if [[ $dir == up ]]; then
		read -r sw cw <<<"$(server_windows "$srv")"
	else
		sw=$CLIENT_STREAM_WINDOW cw=$CLIENT_CONN_WINDOW
	fi
	[[ $sw == - ]] && { echo -; return; }
	awk -v v="$v" -v s="$s" -v sw="$sw" -v cw="$cw" -v rtt="$rtt" 'BEGIN {
		w = s * sw; if (cw < w) w = cw
		printf "%.0f%% of %.0f", v * 1048576 / (w / (rtt / 1000)) * 100, w / (rtt / 1000) / 1048576 }'
}

# ceiling CAP RTT STREAMS: the best percentage of the link for $SIZE bytes
# in one request per stream: SIZE/rate of data plus one round trip.
ceiling() {
	local bps
	bps=$(cap_bps "$1")
	((bps > 0)) || { echo -; return; }
	awk -v n="$SIZE" -v b="$bps" -v rtt="$2" 'BEGIN {t = n / b; printf "%.1f%%", t / (t + rtt / 1000) * 100}'
}

{
	echo "h2server and net/http over bench/latproxy (loopback + user-space delay), Go's client, one connection,"
	echo "$SIZE bytes per transfer split over the streams; median of $REPS run(s); $(go version | cut -d' ' -f3), $(nproc) CPUs, $(date -u +%Y-%m-%dT%H:%MZ)"
	echo
	header="| RTT | cap | transfer | ceiling |"
	rule="| ---: | --- | --- | ---: |"
	for srv in $SERVERS; do
		header+=" $(server_label "$srv") MiB/s | % |"
		rule+=" ---: | ---: |"
	done
	echo "$header"
	echo "$rule"
	for cap in $CAPS; do
		for rtt in $RTTS; do
			for dir in $DIRS; do
				for s in $STREAMS; do
					what=upload
					[[ $dir == down ]] && what=download
					row="| $rtt ms | $cap | $what x$s | $(ceiling "$cap" "$rtt") |"
					for srv in $SERVERS; do
						v=$(median "$srv" "$rtt" "$cap" "$dir" "$s")
						row+=" $v | $(percent "$srv" "$rtt" "$cap" "$dir" "$s" "$v") |"
					done
					echo "$row"
				done
			done
		done
	done
	echo
	echo "%: capped rows, of the link ($(awk -v b="$(cap_bps 1gbit)" 'BEGIN {printf "%.1f", b / 1048576}') MiB/s at 1gbit); uncapped rows, of window/RTT"
	echo "(\"P% of B\": B MiB/s is min(streams x stream window, connection window) / RTT; uploads: the server's windows,"
	echo "downloads: the client's, $((CLIENT_STREAM_WINDOW >> 20)) MiB per stream and $((CLIENT_CONN_WINDOW >> 20)) MiB per connection)."
	echo "ceiling: the best a perfect sender reaches on the capped link: SIZE/rate of data plus one round trip."
	if [[ -s $ANOMALIES ]]; then
		echo
		echo "Anomalies:"
		cat "$ANOMALIES"
	fi
} | tee "$OUT/results.md"

# ---------------------------------------------------------------- targets

# Issue 12, item 5: ratios against the link measured in the same run.
failed=0
echo
for srv in $SERVERS; do
	for t in "up 1 50 80" "up 8 50 85" "up 1 10 90" "up 8 10 90"; do
		read -r dir s rtt want <<<"$t"
		label="target $(server_label "$srv"): upload x$s at $rtt ms, 1gbit >= $want% of the link:"
		v=$(median "$srv" "$rtt" 1gbit "$dir" "$s")
		if [[ $v == - ]]; then
			echo "$label SKIP (not run)"
			continue
		fi
		pct=$(awk -v v="$v" -v b="$(cap_bps 1gbit)" 'BEGIN {printf "%.1f", v * 1048576 / b * 100}')
		if awk -v p="$pct" -v w="$want" 'BEGIN {exit !(p >= w)}'; then
			echo "$label $pct% PASS"
		else
			echo "$label $pct% FAIL"
		fi
	done
done | tee -a "$OUT/results.md" | tee "$OUT/targets.txt"
grep -q '^target h2server: .* FAIL$' "$OUT/targets.txt" && failed=1 || true

echo "wan.sh: done in $((SECONDS - t_start))s; results in $OUT/results.md, raw numbers in $RAW" >&2
if [[ $TARGETS == strict && $failed == 1 ]]; then
	echo "wan.sh: an h2server target failed (TARGETS=strict)" >&2
	exit 1
fi

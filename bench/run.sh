#!/usr/bin/env bash
# bench/run.sh: h2server against net/http's own HTTP/2 server and two C
# servers, h2o and nghttpd, under h2load on loopback, side by side in one
# run. Run from anywhere as `bash bench/run.sh`; the result is a markdown
# table of medians on stdout (also saved as $OUT/results.md).
#
# The servers ($SERVERS):
#   h2server, nethttp  bench/server -impl h2server|nethttp (same handlers)
#   h2o                Debian package h2o, a config written to $OUT/*.h2o.conf
#   nghttpd            Debian package nghttp2-server
# When h2o or nghttpd is missing, the script installs it with apt-get if it
# runs as root; otherwise it says what to install and skips that server,
# loudly, in the log and in the table.
#
# The same endpoints everywhere, checked before measuring (the script stops
# if a body differs):
#   GET /hello  the 12 bytes "hello world\n"; h2o and nghttpd serve the file
#               $OUT/htdocs/hello
#   GET /1m     1 MiB of "abc...z" repeated; h2o and nghttpd serve
#               $OUT/htdocs/1m
#   POST /sink  the server reads and discards the body, answers small:
#               bench/server answers the length; h2o runs an mruby handler
#               that reads env["rack.input"] in 64 KiB pieces and answers
#               the length; nghttpd reads the body and then serves the
#               3-byte file $OUT/htdocs/sink ("ok\n")
#   POST /echo  full-duplex echo: bench/server only (h2o's file and mruby
#               handlers cannot stream a body back; nghttpd's --echo-upload
#               stores the body in a temporary file and sends it after)
#
# Fairness: every server runs on CPU $SERVER_CPU only (taskset; Go sees one
# CPU, GOMAXPROCS=1; h2o num-threads: 1; nghttpd -n 1), logs nothing per
# request, and advertises SETTINGS_MAX_CONCURRENT_STREAMS $MAXSTREAMS. What
# stays different: each server's own response header fields (h2o adds
# server, date, last-modified, etag, accept-ranges; nghttpd server, date,
# cache-control, last-modified; bench/server only content-type and
# content-length), its flow-control windows and frame sizes, and h2o's
# process tree (the server process, num-threads: 1, and a perl child that
# annotates crash backtraces; CPU and RSS are summed over the tree).
#
# Every run starts a fresh server, warms it up for $WARMUP, then measures
# for $DURATION with h2load pinned to $CLIENT_CPU. Server CPU time is
# utime+stime from /proc/PID/stat (summed over the server's process tree)
# around the measured h2load run (it includes setting up and closing
# h2load's connections). Repetitions are interleaved (h2server, net/http,
# h2o, nghttpd, h2server, ...) so that drift in the machine hits all alike;
# the table shows the median of the $REPS runs and ratios of those medians.
#
# Memory: bench/idleconns holds 2,000 idle connections (SETTINGS exchange
# done), 2,000 idle connections that each carried one GET /hello first
# (with a browser's header fields, which fill both HPACK tables: an idle
# connection as a server sees it between a client's requests), then 20
# connections x 100 open streams (POST /sink, HEADERS without END_STREAM,
# no DATA), each against a fresh server, in two batches of that shape
# held one after the other: the table shows the growth of VmRSS over the
# second batch divided by its count, what one more connection or stream
# costs, and (rows marked "fresh server") the growth over the first, which
# adds what a process sets up once whatever the count (for the Go servers
# 1-3 MB: the runtime's first heap arenas and GC metadata, the first
# handshakes' stacks and garbage). streams_later opens the same streams on
# POST /sink?later=1, whose handler in bench/server waits for the body
# with Stream.WhenReadable instead of a blocked Read: h2server only (the
# others' handlers wait as under streams, and the table takes their
# streams figures for the ratios).
#
# TLS=1 runs everything over TLS 1.3 with ALPN h2: one self-signed ECDSA
# P-256 certificate ($OUT/tls.crt, made with openssl) for all servers, and
# h2load offers only TLS_AES_128_GCM_SHA256 and the P-256 group (nghttpd
# offers no X25519); each run's h2load log is checked for that.
# bench/idleconns (Go) offers P-256 too but cannot restrict TLS 1.3 suites:
# the server picks, and the table says which.
# Suggested: TLS=1 WORKLOADS="hello_high hello_1 idle".
#
# Environment (defaults in brackets):
#   DURATION   measured seconds per run [5]      WARMUP  warm-up seconds, 0 for none [1]
#   REPS       runs per server [3]               TLS     1: HTTP/2 over TLS instead of h2c [0]
#   SERVERS    which servers, a subset of "h2server nethttp h2o nghttpd" [all four]
#   HELLO_HIGH "conns streams" of the first /hello load [100 10]
#   HELLO_DEEP "conns streams" of the second /hello load [10 100]
#   BULK       "conns streams" of get1m, sink, echo [4 4]
#   BULK1      "conns streams" of get1m_c10m1, sink_c10m1 [10 1]
#   IDLE_CONNS idle connections [2000]           STREAM_CONNS x STREAMS: [20] x [100]
#   MAXSTREAMS SETTINGS_MAX_CONCURRENT_STREAMS of every server [100]
#   WORKLOADS  which to run, a subset of
#              "hello_high hello_deep hello_1 get1m sink get1m_c10m1 sink_c10m1 echo idle idle_served streams streams_later"
#   SERVER_CPU / CLIENT_CPU   CPU lists for taskset -c [0] / [1]
#   OUT        directory for logs and results, kept afterwards [a new /tmp/h2bench.*]
#   DETAIL     1: the table adds, per load, the user share of the server's
#              CPU and its read and write system calls (/proc/PID/io) [0]
#   PROFILE    1: each load run of the Go servers writes a CPU profile,
#              $OUT/WORKLOAD.IMPL.REP.cpu.prof [0]
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
DETAIL=${DETAIL:-0}
read -r HIGH_C HIGH_M <<<"${HELLO_HIGH:-100 10}"
read -r DEEP_C DEEP_M <<<"${HELLO_DEEP:-10 100}"
read -r BULK_C BULK_M <<<"${BULK:-4 4}"
read -r BULK1_C BULK1_M <<<"${BULK1:-10 1}"
IDLE_CONNS=${IDLE_CONNS:-2000}
STREAM_CONNS=${STREAM_CONNS:-20}
STREAMS=${STREAMS:-100}
MAXSTREAMS=${MAXSTREAMS:-100}
WORKLOADS=${WORKLOADS:-hello_high hello_deep hello_1 get1m sink get1m_c10m1 sink_c10m1 echo idle idle_served streams streams_later}
SERVERS=${SERVERS:-h2server nethttp h2o nghttpd}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}

if ((STREAMS > MAXSTREAMS)); then
	echo "run.sh: STREAMS=$STREAMS exceeds MAXSTREAMS=$MAXSTREAMS; the servers would refuse streams" >&2
	exit 2
fi
IMPLS=()
for s in $SERVERS; do
	case $s in
	h2server | nethttp | h2o | nghttpd) IMPLS+=("$s") ;;
	*) echo "run.sh: unknown server '$s' in SERVERS (want h2server nethttp h2o nghttpd)" >&2; exit 2 ;;
	esac
done
((${#IMPLS[@]} > 0)) || { echo "run.sh: SERVERS is empty" >&2; exit 2; }
for w in $WORKLOADS; do
	case $w in
	hello_high | hello_deep | hello_1 | get1m | sink | get1m_c10m1 | sink_c10m1 | echo | idle | idle_served | streams | streams_later) ;;
	*) echo "run.sh: unknown workload '$w'" >&2; exit 2 ;;
	esac
done

label() { # label IMPL: the name in the table
	case $1 in
	nethttp) echo net/http ;;
	*) echo "$1" ;;
	esac
}

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
		rm -f "$OUT/body1m" "$OUT/idleconns" "$OUT/htdocs/1m" "$OUT"/verify.*.got
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

# tree PID: PID and all its descendants (h2o has a child process).
tree() {
	ps -e -o pid=,ppid= | awk -v root="$1" '
		{ kids[$2] = kids[$2] " " $1 }
		END {
			q[1] = root; n = 1
			for (i = 1; i <= n; i++) {
				print q[i]
				m = split(kids[q[i]], k, " ")
				for (j = 1; j <= m; j++) q[++n] = k[j]
			}
		}'
}

PIN_SERVER=() PIN_CLIENT=()
if command -v taskset >/dev/null && (($(nproc) >= 2)); then
	PIN_SERVER=(taskset -c "$SERVER_CPU")
	PIN_CLIENT=(taskset -c "$CLIENT_CPU")
else
	echo "run.sh: WARNING: no taskset or fewer than 2 CPUs; server and client are NOT pinned" >&2
fi

# ---------------------------------------------------------------- set-up

APT_UPDATED=0
# need COMMAND PACKAGE: 0 if COMMAND is there or was just installed.
need() {
	command -v "$1" >/dev/null && return 0
	if ((EUID == 0)) && command -v apt-get >/dev/null; then
		echo "run.sh: installing $2 for $1" >&2
		if ((APT_UPDATED == 0)); then
			DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || true
			APT_UPDATED=1
		fi
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >&2 || true
		command -v "$1" >/dev/null && return 0
	fi
	return 1
}
need h2load nghttp2-client || { echo "run.sh: h2load is missing; install nghttp2-client (apt-get install nghttp2-client)" >&2; exit 1; }
need curl curl || { echo "run.sh: curl is missing; install curl (apt-get install curl)" >&2; exit 1; }
curl --version | grep -qw HTTP2 || { echo "run.sh: this curl has no HTTP/2; the endpoint check needs it" >&2; exit 1; }
if [[ $TLS == 1 ]]; then
	need openssl openssl || { echo "run.sh: openssl is missing; install openssl (apt-get install openssl)" >&2; exit 1; }
fi

SKIPPED=() # "server: why" lines, shown under the table
skip() { # skip IMPL WHY
	local keep=() i
	for i in "${IMPLS[@]}"; do [[ $i == "$1" ]] || keep+=("$i"); done
	IMPLS=("${keep[@]}")
	SKIPPED+=("$1: $2")
	echo "run.sh: WARNING: SKIPPING $1: $2" >&2
}
has() { # has IMPL: is IMPL among the servers measured
	local i
	for i in "${IMPLS[@]}"; do [[ $i == "$1" ]] && return 0; done
	return 1
}
VERSIONS=()
if has h2o; then
	if ! need h2o h2o; then
		skip h2o "not installed and not root; install it with: apt-get install h2o"
	elif ! h2o --version 2>&1 | grep -q 'mruby: YES'; then
		skip h2o "this h2o build has no mruby, which POST /sink needs ($(h2o --version 2>&1 | tr '\n' ' '))"
	else
		VERSIONS+=("$(h2o --version 2>&1 | head -1 | sed 's/ version / /') (mruby)")
	fi
fi
if has nghttpd; then
	if ! need nghttpd nghttp2-server; then
		skip nghttpd "not installed and not root; install it with: apt-get install nghttp2-server"
	else
		VERSIONS+=("$(nghttpd --version 2>&1 | head -1)")
	fi
fi
((${#IMPLS[@]} > 0)) || { echo "run.sh: no server left to measure" >&2; exit 1; }
VERSIONS+=("$(go version | cut -d' ' -f3)" "$(h2load --version | head -1)")
echo "run.sh: versions: ${VERSIONS[*]}" >&2

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
# The bodies of bench/server (handlers.go), as files for h2o and nghttpd.
mkdir -p "$OUT/htdocs"
printf 'hello world\n' >"$OUT/htdocs/hello"
yes abcdefghijklmnopqrstuvwxyz | tr -d '\n' | head -c $((1 << 20)) >"$OUT/htdocs/1m" || true
printf 'ok\n' >"$OUT/htdocs/sink"
[[ $(wc -c <"$OUT/htdocs/1m") == $((1 << 20)) ]] || { echo "run.sh: could not write $OUT/htdocs/1m" >&2; exit 1; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if (($(ulimit -n) < 2 * IDLE_CONNS + 100)); then
	echo "run.sh: open-file limit $(ulimit -n) is below 2*IDLE_CONNS+100 (two batches are held); lower IDLE_CONNS" >&2
	exit 1
fi
CLK_TCK=$(getconf CLK_TCK)
SCHEME=http IDLE_TLS=() H2LOAD_TLS=() CURL_PROTO=(--http2-prior-knowledge)
if [[ $TLS == 1 ]]; then
	SCHEME=https IDLE_TLS=(-tls)
	H2LOAD_TLS=(--tls13-ciphers=TLS_AES_128_GCM_SHA256 --groups=P-256)
	CURL_PROTO=(--http2 --tlsv1.3 --cacert "$OUT/tls.crt")
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj "/O=h2server benchmark/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
		-keyout "$OUT/tls.key" -out "$OUT/tls.crt" 2>"$OUT/openssl.err" ||
		{ echo "run.sh: openssl could not make the certificate:" >&2; cat "$OUT/openssl.err" >&2; exit 1; }
fi

go_impl() { [[ $1 == h2server || $1 == nethttp ]]; }
# runs WORKLOAD IMPL: 0 if IMPL can serve WORKLOAD.
runs() { # runs WORKLOAD IMPL: whether IMPL runs WORKLOAD
	case $1 in
	echo) go_impl "$2" ;;
	streams_later) [[ $2 == h2server ]] ;; # the others' handlers wait as in streams
	esac
}

# Expected time: each load run is warm-up + duration + about 1s of start
# and stop; each memory run about 4s.
expected=0 nload=0 nmem=0
for w in $WORKLOADS; do
	for impl in "${IMPLS[@]}"; do
		runs "$w" "$impl" || continue
		case $w in
		idle | idle_served | streams | streams_later) expected=$((expected + REPS * 4)) nmem=$((nmem + REPS)) ;;
		*) expected=$((expected + REPS * (WARMUP + DURATION + 1))) nload=$((nload + REPS)) ;;
		esac
	done
done
echo "run.sh: servers ${IMPLS[*]}: $nload load runs of ${DURATION}s (+${WARMUP}s warm-up) and $nmem memory runs: expected about ${expected}s ($((expected / 60))m$((expected % 60))s); logs in $OUT" >&2

RESULTS=$OUT/results.txt # lines: workload impl metric value
: >"$RESULTS"
ANOMALIES=$OUT/anomalies.txt
: >"$ANOMALIES"
NOTES=$OUT/notes.txt # facts for under the table, one a line, deduplicated
: >"$NOTES"
record() { echo "$1 $2 $3 $4" >>"$RESULTS"; }
anomaly() { echo "- $*" >>"$ANOMALIES"; echo "run.sh: ANOMALY: $*" >&2; }
note() { grep -qxF -- "- $*" "$NOTES" || echo "- $*" >>"$NOTES"; }

cpu_ticks() { # utime+stime of PID and its descendants, in clock ticks
	local user sys r w
	read -r user sys r w < <(usage "$1")
	echo $((user + sys))
}
usage() { # "utime stime syscr syscw" of PID and its descendants (ticks, calls)
	local p stat user=0 sys=0 r=0 w=0 u s
	for p in $(tree "$1"); do
		stat=$(<"/proc/$p/stat") || continue
		stat=${stat##*) } # fields after "pid (comm) "; utime and stime are 12 and 13 here
		read -r u s < <(awk '{print $12, $13}' <<<"$stat")
		user=$((user + u)) sys=$((sys + s))
		# /proc/PID/io counts read-like and write-like system calls
		# (read, readv, recvmsg...; write, writev, sendmsg...).
		read -r u s < <(awk '/^syscr:/ {r = $2} /^syscw:/ {w = $2} END {print r + 0, w + 0}' "/proc/$p/io" 2>/dev/null) || true
		r=$((r + ${u:-0})) w=$((w + ${s:-0}))
	done
	echo "$user $sys $r $w"
}
rss_kib() { # VmRSS of PID and its descendants
	local p sum=0 v
	for p in $(tree "$1"); do
		v=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null) || continue
		sum=$((sum + ${v:-0}))
	done
	echo "$sum"
}

# free_port: a TCP port on 127.0.0.1 that nothing listens on, below the
# usual ephemeral range (32768-60999) so that no client socket holds it.
free_port() {
	local p i
	for ((i = 0; i < 200; i++)); do
		p=$((20000 + RANDOM % 12000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	echo "run.sh: no free port found" >&2
	exit 1
}

# h2o_conf TAG PORT: writes h2o's configuration for one run.
h2o_conf() {
	local tag=$1 port=$2 conf=$OUT/$1.h2o.conf
	{
		echo "# written by bench/run.sh for one run"
		echo "listen:"
		echo "  host: 127.0.0.1"
		echo "  port: $port"
		if [[ $TLS == 1 ]]; then
			echo "  ssl:"
			echo "    certificate-file: $OUT/tls.crt"
			echo "    key-file: $OUT/tls.key"
			echo "    minimum-version: TLSv1.3"
			echo "    ocsp-update-interval: 0" # no OCSP fetcher process
		fi
		# As root, h2o switches to user nobody, who cannot read $OUT (0700).
		((EUID == 0)) && echo "user: root"
		cat <<-CONF
			num-threads: 1
			max-connections: $((2 * IDLE_CONNS + 1000))
			http2-max-concurrent-requests-per-connection: $MAXSTREAMS
			http2-idle-timeout: 600
			error-log: $OUT/$tag.server.err
			hosts:
			  default:
			    paths:
			      /sink:
			        mruby.handler: |
			          Proc.new do |env|
			            n = 0
			            input = env["rack.input"]
			            if input
			              while chunk = input.read(65536)
			                n += chunk.bytesize
			              end
			            end
			            [200, {"content-type" => "text/plain", "content-length" => n.to_s.bytesize.to_s}, [n.to_s]]
			          end
			      /:
			        file.dir: $OUT/htdocs
		CONF
	} >"$conf"
	echo "$conf"
}

SERVER_PID='' SERVER_ADDR='' SERVER_PROCS='' SERVER_IMPL=''
# start_server IMPL TAG: starts a fresh server and waits until it listens.
start_server() {
	local impl=$1 tag=$2 i exe port=''
	SERVER_ADDR=
	local prof=() tlsargs=() cmd=()
	: >"$OUT/$tag.server.out" # before the background shell opens it: the poll below reads it at once
	: >"$OUT/$tag.server.err"
	case $impl in
	h2server | nethttp)
		if [[ ${PROFILE:-0} == 1 ]]; then
			prof=(-cpuprofile "$OUT/$tag.cpu.prof")
		fi
		[[ $TLS == 1 ]] && tlsargs=(-tls -cert "$OUT/tls.crt" -key "$OUT/tls.key")
		exe=$OUT/server
		cmd=("$exe" -impl "$impl" -addr 127.0.0.1:0 -maxstreams "$MAXSTREAMS" "${tlsargs[@]}" "${prof[@]}")
		;;
	h2o)
		port=$(free_port)
		exe=$(readlink -f "$(command -v h2o)")
		cmd=(h2o -c "$(h2o_conf "$tag" "$port")")
		;;
	nghttpd)
		port=$(free_port)
		exe=$(readlink -f "$(command -v nghttpd)")
		cmd=(nghttpd -n 1 -m "$MAXSTREAMS" -d "$OUT/htdocs" -a 127.0.0.1)
		if [[ $TLS == 1 ]]; then
			cmd+=("$port" "$OUT/tls.key" "$OUT/tls.crt")
		else
			cmd+=(--no-tls "$port")
		fi
		;;
	esac
	"${PIN_SERVER[@]}" "${cmd[@]}" >"$OUT/$tag.server.out" 2>>"$OUT/$tag.server.err" &
	SERVER_PID=$!
	SERVER_IMPL=$impl
	PIDS+=("$SERVER_PID")
	for ((i = 0; i < 200; i++)); do
		if [[ -n $port ]]; then
			(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && SERVER_ADDR=127.0.0.1:$port
		else
			SERVER_ADDR=$(sed -n 's/^listening on //p' "$OUT/$tag.server.out")
		fi
		if [[ -n $SERVER_ADDR ]]; then
			# CPU and RSS are read from /proc/PID: PID must be the server
			# itself (taskset execs it), not a shell around it.
			if [[ $(readlink "/proc/$SERVER_PID/exe") != "$exe" ]]; then
				echo "run.sh: PID $SERVER_PID is $(readlink "/proc/$SERVER_PID/exe"), not $exe" >&2
				exit 1
			fi
			if go_impl "$impl"; then
				SERVER_PROCS=$(sed -n 's/.*GOMAXPROCS=\([0-9]*\).*/\1/p' "$OUT/$tag.server.err")
			fi
			return 0
		fi
		kill -0 "$SERVER_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "run.sh: server $impl did not start (${cmd[*]}); its log:" >&2
	cat "$OUT/$tag.server.out" "$OUT/$tag.server.err" >&2
	exit 1
}

# What each server logs by itself at start and stop; anything else it
# logs is an anomaly.
expected_log() {
	case $1 in
	h2server | nethttp) echo '^server: \(h2server\|nethttp\), ' ;;
	h2o) echo '^\[INFO\] raised RLIMIT_NOFILE\|^h2o server (pid:[0-9]*) is ready to serve requests\|^received SIGTERM\|^killing\|^\[INFO\] \|^$' ;;
	nghttpd) echo '^$' ;;
	esac
}

# stop_server TAG: graceful stop of the server and its child processes;
# anything the server logged beyond its start-up lines is an anomaly.
stop_server() {
	local tag=$1 kids p re
	kids=$(tree "$SERVER_PID" | tail -n +2)
	stop "$SERVER_PID"
	for p in $kids; do
		kill -0 "$p" 2>/dev/null || continue
		sleep 0.5
		kill -KILL "$p" 2>/dev/null || true
	done
	re=$(expected_log "$SERVER_IMPL")
	if [[ $(cat "$OUT/$tag.server.out" "$OUT/$tag.server.err" | grep -v "^listening on " | grep -vc "$re") != 0 ]]; then
		anomaly "$tag: the server logged: $(cat "$OUT/$tag.server.out" "$OUT/$tag.server.err" | grep -v "^listening on " | grep -v "$re" | head -3 | tr '\n' ' ')(see $OUT/$tag.server.*)"
	fi
}

# h2load_run SECONDS LOGFILE ARGS...: one bounded h2load run against the server.
h2load_run() {
	local secs=$1 log=$2
	shift 2
	timeout -k 5 $((secs + 30)) "${PIN_CLIENT[@]}" h2load -D "$secs" "${H2LOAD_TLS[@]}" "$@" >"$log" 2>&1
}

describe() { # describe FILE: its size and the start of its SHA-256
	if [[ -f $1 ]]; then
		echo "$(wc -c <"$1") bytes, sha256 $(sha256sum <"$1" | cut -c1-16)"
	else
		echo "nothing"
	fi
}

# verify IMPL: the server answers GET /hello and GET /1m with exactly the
# bytes of $OUT/htdocs, over HTTP/2, and POST /sink with 200; the script
# stops if not.
verify() {
	local impl=$1 tag=verify.$1 path got bad=''
	start_server "$impl" "$tag"
	for path in hello 1m; do
		got=$(timeout 20 curl -sS "${CURL_PROTO[@]}" -o "$OUT/$tag.$path.got" -D "$OUT/$tag.$path.head" \
			-w '%{http_code} %{http_version}' "$SCHEME://$SERVER_ADDR/$path" 2>&1) || true
		if [[ $got != "200 2" ]] || ! cmp -s "$OUT/$tag.$path.got" "$OUT/htdocs/$path"; then
			bad+=" GET /$path: curl says '$got', got $(describe "$OUT/$tag.$path.got") (want $(describe "$OUT/htdocs/$path"));"
		fi
		rm -f "$OUT/$tag.$path.got"
	done
	got=$(timeout 20 curl -sS "${CURL_PROTO[@]}" --data-binary "@$OUT/body1m" -H 'content-type: application/octet-stream' \
		-o "$OUT/$tag.sink.got" -w '%{http_code} %{http_version}' "$SCHEME://$SERVER_ADDR/sink" 2>&1) || true
	touch "$OUT/$tag.sink.got" "$OUT/$tag.hello.head"
	if [[ $got != "200 2" ]] || (($(wc -c <"$OUT/$tag.sink.got") > 64)); then
		bad+=" POST /sink: curl says '$got', answer '$(head -c 64 "$OUT/$tag.sink.got")';"
	fi
	echo "run.sh: $(label "$impl") answers /sink with '$(tr -d '\n' <"$OUT/$tag.sink.got")'; /hello head: $(grep -v '^HTTP/2' "$OUT/$tag.hello.head" | tr -d '\r' | tr '\n' ' ')" >&2
	rm -f "$OUT/$tag.sink.got"
	stop_server "$tag"
	if [[ -n $bad ]]; then
		echo "run.sh: FAILED: $(label "$impl") does not serve the benchmark's bytes:$bad" >&2
		exit 1
	fi
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
	local t0 t1 u0 u1 rc=0
	u0=$(usage "$SERVER_PID")
	t0=$(awk '{print $1 + $2}' <<<"$u0")
	if [[ $w == hello_1 ]]; then
		args+=(--log-file "$OUT/$tag.requests.log")
	fi
	h2load_run "$DURATION" "$OUT/$tag.h2load.log" "${args[@]}" "$url" || rc=$?
	u1=$(usage "$SERVER_PID")
	t1=$(awk '{print $1 + $2}' <<<"$u1")
	stop_server "$tag"

	local log=$OUT/$tag.h2load.log secs ok failed errored timedout non2xx
	if ((rc != 0)); then
		anomaly "$tag: h2load exited with status $rc (see $log)"
	fi
	if [[ $TLS == 1 ]]; then
		local proto cipher key
		proto=$(sed -n 's/^TLS Protocol: //p' "$log")
		cipher=$(sed -n 's/^Cipher: //p' "$log")
		key=$(sed -n 's/^Server Temp Key: //p' "$log")
		if [[ $proto != TLSv1.3 || $cipher != TLS_AES_128_GCM_SHA256 ]]; then
			anomaly "$tag: h2load negotiated '$proto' '$cipher', not TLSv1.3 TLS_AES_128_GCM_SHA256 (see $log)"
		fi
		note "h2load with $(label "$impl"): $proto, $cipher, $key"
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
	# Where the CPU went (DETAIL=1 shows it): the user share, and system
	# calls per 100 requests (small) or per 1 MiB body (bulk).
	local per=100
	[[ $kind == bulk ]] && per=1
	read -r a b c d e f g h <<<"$u0 $u1"
	record "$w" "$impl" user_pct "$(awk -v u=$((e - a)) -v s=$((f - b)) 'BEGIN {if (u + s > 0) printf "%.0f", 100 * u / (u + s); else print "-"}')"
	record "$w" "$impl" reads_per "$(awk -v x=$((g - c)) -v n="$ok" -v p=$per 'BEGIN {printf "%.1f", x / n * p}')"
	record "$w" "$impl" writes_per "$(awk -v x=$((h - d)) -v n="$ok" -v p=$per 'BEGIN {printf "%.1f", x / n * p}')"
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

# hold TAG CONNS STREAMS SERVED PATH: start bench/idleconns against the
# server and wait until its connections are set up; HELD_PID is its PID,
# empty (after an anomaly) when it did not get ready.
hold() {
	local tag=$1 conns=$2 streams=$3 served=$4 path=$5 i
	: >"$OUT/$tag.idleconns.out"
	"${PIN_CLIENT[@]}" "$OUT/idleconns" -addr "$SERVER_ADDR" -conns "$conns" -streams "$streams" -served "$served" -path "$path" "${IDLE_TLS[@]}" \
		>"$OUT/$tag.idleconns.out" 2>"$OUT/$tag.idleconns.err" &
	HELD_PID=$!
	PIDS+=("$HELD_PID")
	for ((i = 0; i < 300; i++)); do
		grep -q '^ready' "$OUT/$tag.idleconns.out" && break
		kill -0 "$HELD_PID" 2>/dev/null || break
		sleep 0.1
	done
	if ! grep -q '^ready' "$OUT/$tag.idleconns.out"; then
		anomaly "$tag: idleconns did not get ready: $(tr '\n' ' ' <"$OUT/$tag.idleconns.err")"
		stop "$HELD_PID"
		HELD_PID=
		return
	fi
	sleep 1 # let handlers start and the server settle
}

# held_ok TAG: note what idleconns saw; an anomaly if the server closed
# or refused anything while it was held.
held_ok() {
	if grep -q 'while held: [1-9]\|[1-9][0-9]* connections closed\|[1-9][0-9]* GOAWAY\|capped' "$OUT/$1.idleconns.err"; then
		anomaly "$1: $(tr '\n' ' ' <"$OUT/$1.idleconns.err")"
	fi
}

# memory WORKLOAD IMPL REP CONNS STREAMS [SERVED [PATH]]: RSS per
# connection or stream; SERVED GETs of /hello complete on each connection
# first; the streams are POSTs of PATH [/sink]. Two batches of the same
# shape are held one after the other on one fresh server: bytes_per is
# the growth of RSS over the second batch divided by its count (what one
# more connection costs), first_per the growth over the first batch from
# the fresh server (which adds what the process sets up once: the
# runtime's first heap arenas and GC metadata, the first handshakes'
# stacks; a Go server's fixed cost here is 1-3 MB).
memory() {
	local w=$1 impl=$2 rep=$3 conns=$4 streams=$5 served=${6:-0} path=${7:-/sink} tag=$1.$2.$3
	start_server "$impl" "$tag"
	sleep 0.3
	local before mid after first second
	before=$(rss_kib "$SERVER_PID")
	hold "$tag.1" "$conns" "$streams" "$served" "$path"
	first=$HELD_PID
	if [[ -z $first ]]; then
		stop_server "$tag"
		return
	fi
	mid=$(rss_kib "$SERVER_PID")
	hold "$tag.2" "$conns" "$streams" "$served" "$path"
	second=$HELD_PID
	if [[ -z $second ]]; then
		stop "$first"
		stop_server "$tag"
		return
	fi
	after=$(rss_kib "$SERVER_PID")
	stop "$second"
	stop "$first"
	held_ok "$tag.1"
	held_ok "$tag.2"
	if [[ $TLS == 1 ]]; then
		note "idleconns with $(label "$impl"): $(sed -n 's/^idleconns: \(TLS .*\)/\1/p' "$OUT/$tag.1.idleconns.err")"
	fi
	stop_server "$tag"
	local n=$conns
	[[ $w == streams* ]] && n=$((conns * streams))
	record "$w" "$impl" rss_delta_kib $((after - mid))
	record "$w" "$impl" bytes_per $(((after - mid) * 1024 / n))
	record "$w" "$impl" first_per $(((mid - before) * 1024 / n))
}

# ---------------------------------------------------------------- runs

t_start=$SECONDS
for impl in "${IMPLS[@]}"; do
	verify "$impl"
done
echo "run.sh: every server serves the same /hello and /1m bytes and answers POST /sink" >&2
for w in $WORKLOADS; do
	for ((rep = 1; rep <= REPS; rep++)); do
		for impl in "${IMPLS[@]}"; do
			runs "$w" "$impl" || continue
			echo "run.sh: [$((SECONDS - t_start))s] $w $impl run $rep/$REPS" >&2
			case $w in
			hello_high) load "$w" "$impl" "$rep" /hello "$HIGH_C" "$HIGH_M" req ;;
			hello_deep) load "$w" "$impl" "$rep" /hello "$DEEP_C" "$DEEP_M" req ;;
			hello_1) load "$w" "$impl" "$rep" /hello 1 1 req ;;
			get1m) load "$w" "$impl" "$rep" /1m "$BULK_C" "$BULK_M" bulk ;;
			sink) load "$w" "$impl" "$rep" /sink "$BULK_C" "$BULK_M" bulk -d "$OUT/body1m" ;;
			get1m_c10m1) load "$w" "$impl" "$rep" /1m "$BULK1_C" "$BULK1_M" bulk ;;
			sink_c10m1) load "$w" "$impl" "$rep" /sink "$BULK1_C" "$BULK1_M" bulk -d "$OUT/body1m" ;;
			echo) load "$w" "$impl" "$rep" /echo "$BULK_C" "$BULK_M" bulk -d "$OUT/body1m" ;;
			idle) memory "$w" "$impl" "$rep" "$IDLE_CONNS" 0 ;;
			idle_served) memory "$w" "$impl" "$rep" "$IDLE_CONNS" 0 1 ;;
			streams) memory "$w" "$impl" "$rep" "$STREAM_CONNS" "$STREAMS" ;;
			streams_later) memory "$w" "$impl" "$rep" "$STREAM_CONNS" "$STREAMS" 0 "/sink?later=1" ;;
			esac
		done
	done
done

# ---------------------------------------------------------------- table

median() { # median WORKLOAD IMPL METRIC
	if ! runs "$1" "$2"; then
		echo n/a
		return
	fi
	awk -v w="$1" -v i="$2" -v m="$3" '$1 == w && $2 == i && $3 == m {print $4}' "$RESULTS" | sort -g |
		awk '{v[NR] = $1} END {
			if (NR == 0) { print "-"; exit }
			if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# Ratio columns: h2server to each other server measured.
RATIO_TO=()
if has h2server; then
	for impl in nethttp h2o nghttpd; do
		has "$impl" && RATIO_TO+=("$impl")
	done
fi
row() { # row WORKLOAD METRIC LABEL [OTHERS]: the other servers' figures from workload OTHERS
	local impl line=("$3") a b others=${4:-$1}
	for impl in "${IMPLS[@]}"; do
		if [[ $impl == h2server ]]; then
			line+=("$(median "$1" "$impl" "$2")")
		else
			line+=("$(median "$others" "$impl" "$2")")
		fi
	done
	for impl in "${RATIO_TO[@]}"; do
		a=$(median "$1" h2server "$2")
		b=$(median "$others" "$impl" "$2")
		line+=("$(awk -v a="$a" -v b="$b" 'BEGIN {if (a !~ /^[0-9.]+$/ || b !~ /^[0-9.]+$/ || b + 0 == 0) print "-"; else printf "%.2f", a / b}')")
	done
	local out="|" cell
	for cell in "${line[@]}"; do out+=" $cell |"; done
	echo "$out"
}

proto=h2c
[[ $TLS == 1 ]] && proto="h2 over TLS 1.3, TLS_AES_128_GCM_SHA256 and P-256 for h2load, one ECDSA P-256 certificate"
{
	names=() header="| workload |" rule="| --- |"
	for impl in "${IMPLS[@]}"; do
		names+=("$(label "$impl")")
		header+=" $(label "$impl") |"
		rule+=" ---: |"
	done
	for impl in "${RATIO_TO[@]}"; do
		header+=" h2server / $(label "$impl") |"
		rule+=" ---: |"
	done
	echo "${names[*]} ($proto, loopback, each server on CPU $SERVER_CPU (Go: GOMAXPROCS=${SERVER_PROCS:-?}; h2o num-threads 1; nghttpd -n 1), h2load on CPU $CLIENT_CPU;"
	vs=$(printf '%s, ' "${VERSIONS[@]}")
	echo "median of $REPS interleaved runs of ${DURATION}s after ${WARMUP}s warm-up; ${vs%, }; $(date -u +%Y-%m-%dT%H:%MZ))"
	echo
	echo "$header"
	echo "$rule"
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
			fi
			if [[ $DETAIL == 1 ]]; then
				row "$w" user_pct "GET /hello $cm: user share of CPU (%)"
				row "$w" reads_per "GET /hello $cm: read calls per 100 requests"
				row "$w" writes_per "GET /hello $cm: write calls per 100 requests"
			fi
			;;
		get1m | sink | get1m_c10m1 | sink_c10m1 | echo)
			case $w in
			get1m | get1m_c10m1) what="GET /1m" ;;
			sink | sink_c10m1) what="POST /sink 1 MiB" ;;
			echo) what="POST /echo 1 MiB (each way)" ;;
			esac
			case $w in
			*_c10m1) cm="-c $BULK1_C -m $BULK1_M" ;;
			*) cm="-c $BULK_C -m $BULK_M" ;;
			esac
			row "$w" mibps "$what $cm: MiB/s"
			row "$w" cpu_per_gib "$what $cm: server CPU-s per GiB"
			if [[ $DETAIL == 1 ]]; then
				row "$w" user_pct "$what $cm: user share of CPU (%)"
				row "$w" reads_per "$what $cm: read calls per 1 MiB body"
				row "$w" writes_per "$what $cm: write calls per 1 MiB body"
			fi
			;;
		idle)
			row "$w" bytes_per "RSS per idle connection (bytes; $IDLE_CONNS connections after $IDLE_CONNS others)"
			row "$w" first_per "RSS per idle connection, the first $IDLE_CONNS on a fresh server (bytes; with the process's one-time costs)"
			;;
		idle_served)
			row "$w" bytes_per "RSS per idle connection after one GET (bytes; $IDLE_CONNS connections after $IDLE_CONNS others)"
			row "$w" first_per "RSS per idle connection after one GET, the first $IDLE_CONNS on a fresh server (bytes)"
			;;
		streams)
			row "$w" bytes_per "RSS per open stream (bytes; $STREAM_CONNS conns x $STREAMS streams after as many others, incl. the conns)"
			row "$w" first_per "RSS per open stream, the first $STREAM_CONNS x $STREAMS on a fresh server (bytes)"
			;;
		streams_later) row "$w" bytes_per "RSS per open stream, h2server's handlers waiting with Stream.WhenReadable (others: their streams figure)" streams ;;
		esac
	done
	echo
	if [[ " $WORKLOADS " == *" echo "* ]] && { has h2o || has nghttpd; }; then
		echo "n/a: POST /echo needs a full-duplex handler; h2o's file and mruby handlers and nghttpd (its --echo-upload stores the body in a file first) have none."
		echo
	fi
	if ((${#SKIPPED[@]} > 0)); then
		echo "SKIPPED servers:"
		echo
		printf -- '- %s\n' "${SKIPPED[@]}"
		echo
	fi
	if [[ -s $NOTES ]]; then
		echo "Negotiated:"
		echo
		cat "$NOTES"
		echo
	fi
	if [[ -s $ANOMALIES ]]; then
		echo "Anomalies (failed requests, server log lines, refused streams):"
		echo
		cat "$ANOMALIES"
	else
		echo "No anomalies: every request succeeded with 2xx and no server logged anything unexpected."
	fi
} | tee "$OUT/results.md"
echo "run.sh: done in $((SECONDS - t_start))s" >&2

#!/usr/bin/env bash
# .ci/h2spec.sh: build the pinned h2spec (tools/h2spec) and run it once
# against an HTTP/2 server, optionally starting and stopping that server.
#
# usage:
#   .ci/h2spec.sh [options] HOST:PORT [-- SERVER_CMD [ARGS...]]
#   .ci/h2spec.sh --build-only
#
# options:
#   -t, --tls              connect over TLS (ALPN h2); default is h2c (prior knowledge)
#   -k, --insecure         don't verify the server's certificate (TLS)
#   -S, --strict           also run h2spec's strict cases
#   -o, --timeout SECS     h2spec's per-case timeout (default 2)
#   -n, --name NAME        label for the reports (default: h2c, h2c-strict, tls, tls-strict)
#   --expect-total N       fail unless h2spec ran exactly N cases
#   --ready-timeout SECS   how long a started server gets to open its port (default 30)
#   --run-timeout SECS     hard limit for one h2spec run (default 180)
#   --build-only           build h2spec into bin/ and print its path
#
# With "-- SERVER_CMD ...": checks that HOST:PORT is free, starts the command in
# its own process group, polls (bounded) until HOST:PORT accepts TCP, runs
# h2spec, then kills the server by its PID/process group (trap, also on error).
# The server's output goes to $H2SPEC_OUT/NAME.server.log. The run fails if the
# server exits early or logs a data race, a panic or a fatal error. Give it a
# built binary rather than `go run` (the process-group kill covers go run's
# child, but compiling would eat into the ready timeout).
#
# Output: h2spec's own failure report, the skipped cases, and then exactly one
# closing line:  h2spec: P passed, F failed, S skipped
# (or "h2spec: ERROR ..." when h2spec could not produce a result).
# The counts come from h2spec's summary line and are cross-checked against its
# JUnit report. (h2spec's JUnit writer files every failure as <error>, never
# <failure>, so both are counted.)
# Exit status: 0 only if cases ran and none failed or was skipped (and the
# total matches --expect-total); 1 on failed/skipped cases or a server problem;
# 2 on usage or infrastructure errors.
#
# env: H2SPEC_BIN  use this h2spec binary instead of building one
#      H2SPEC_OUT  report directory (default: bin/h2spec-reports)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

usage() {
	sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
	exit 2
}

# die prints the error and the closing line, and exits 2.
die() {
	echo "h2spec: ERROR $*"
	exit 2
}

build_h2spec() {
	mkdir -p "$repo/bin"
	# CGO_ENABLED=0 and -trimpath: the binary depends only on the Go toolchain
	# and the modules pinned in tools/h2spec/go.sum.
	(cd "$repo/tools/h2spec" &&
		GOWORK=off GOFLAGS=-mod=readonly CGO_ENABLED=0 \
			go build -trimpath -buildvcs=false \
			-ldflags "-X main.VERSION=2.2.1 -X main.COMMIT=v2.2.1+incompatible" \
			-o "$repo/bin/h2spec" github.com/summerwind/h2spec/cmd/h2spec) >&2
	echo "$repo/bin/h2spec"
}

tls=0 insecure=0 strict=0 case_timeout=2 name="" expect_total="" ready_timeout=30 run_timeout=180
addr=""
while (($#)); do
	case $1 in
	-t | --tls) tls=1 ;;
	-k | --insecure) insecure=1 ;;
	-S | --strict) strict=1 ;;
	-o | --timeout) case_timeout=${2:?}; shift ;;
	-n | --name) name=${2:?}; shift ;;
	--expect-total) expect_total=${2:?}; shift ;;
	--ready-timeout) ready_timeout=${2:?}; shift ;;
	--run-timeout) run_timeout=${2:?}; shift ;;
	--build-only) build_h2spec; exit 0 ;;
	-h | --help) usage ;;
	--) shift; break ;;
	-*) echo "h2spec.sh: unknown option $1" >&2; usage ;;
	*) [[ -z $addr ]] || { echo "h2spec.sh: unexpected argument $1" >&2; usage; }; addr=$1 ;;
	esac
	shift
done
server_cmd=("$@")

[[ $addr =~ ^(.+):([0-9]+)$ ]] || { echo "h2spec.sh: want HOST:PORT, got '${addr}'" >&2; usage; }
host=${BASH_REMATCH[1]} port=${BASH_REMATCH[2]}
for v in case_timeout ready_timeout run_timeout ${expect_total:+expect_total}; do
	[[ ${!v} =~ ^[0-9]+$ ]] || { echo "h2spec.sh: --${v//_/-} wants a number" >&2; usage; }
done
if [[ -z $name ]]; then
	name=$([[ $tls == 1 ]] && echo tls || echo h2c)$([[ $strict == 1 ]] && echo -strict || true)
fi

out=${H2SPEC_OUT:-$repo/bin/h2spec-reports}
mkdir -p "$out"
log=$out/$name.log xml=$out/$name.xml srvlog=$out/$name.server.log
rm -f "$log" "$xml" "$srvlog"

if [[ -n ${H2SPEC_BIN:-} ]]; then
	bin=$H2SPEC_BIN
	[[ -x $bin ]] || die "H2SPEC_BIN=$bin is not an executable"
else
	bin=$(build_h2spec) || die "could not build h2spec from tools/h2spec"
fi

# can_connect succeeds if something accepts TCP connections on host:port.
can_connect() {
	timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$host" "$port" 2>/dev/null
}

srv_pid=""
stop_server() {
	[[ -n $srv_pid ]] || return 0
	local pid=$srv_pid
	srv_pid=""
	if kill -0 "$pid" 2>/dev/null; then
		# The server leads its own process group (setsid); kill the group so a
		# wrapper's children (go run) go too, else fall back to the PID.
		kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
}
trap stop_server EXIT
trap 'exit 130' INT TERM

server_tail() {
	echo "---- last lines of the server's output ($srvlog) ----"
	tail -n 40 "$srvlog" || true
	echo "----"
}

mode="$([[ $tls == 1 ]] && echo "TLS" || echo "h2c")$([[ $strict == 1 ]] && echo ", strict" || true)"
echo "h2spec 2.2.1, $mode, against $host:$port (per-case timeout ${case_timeout}s, reports named $name)"

if ((${#server_cmd[@]})); then
	can_connect && die "$host:$port is already in use; refusing to test a server this script did not start"
	echo "starting server: ${server_cmd[*]}"
	setsid "${server_cmd[@]}" >"$srvlog" 2>&1 </dev/null &
	srv_pid=$!
	deadline=$((SECONDS + ready_timeout))
	until can_connect; do
		if ! kill -0 "$srv_pid" 2>/dev/null; then
			server_tail
			die "server exited before opening $host:$port"
		fi
		((SECONDS < deadline)) || { server_tail; die "server did not open $host:$port within ${ready_timeout}s"; }
		sleep 0.1
	done
	echo "server is up (pid $srv_pid)"
fi

args=(-h "$host" -p "$port" -o "$case_timeout" -j "$xml")
[[ $tls == 1 ]] && args+=(-t)
[[ $insecure == 1 ]] && args+=(-k)
[[ $strict == 1 ]] && args+=(-S)

rc=0
timeout --kill-after=10 "$run_timeout" "$bin" "${args[@]}" >"$log" 2>&1 </dev/null || rc=$?

# Plain text of the log: no colour codes, progress lines split at \r.
plain=$(sed 's/\x1b\[[0-9;]*[A-Za-z]//g' "$log" | tr '\r' '\n')

server_problem=""
if [[ -n $srv_pid ]]; then
	if ! kill -0 "$srv_pid" 2>/dev/null; then
		server_problem="the server exited during the run"
	fi
	stop_server
	if grep -qE 'WARNING: DATA RACE|^panic: |^fatal error: ' "$srvlog"; then
		server_problem="${server_problem:+$server_problem; }the server logged a data race, panic or fatal error"
	fi
	[[ -z $server_problem ]] || server_tail
fi

if ((rc == 124 || rc == 137)); then
	echo "$plain" | tail -n 20
	die "h2spec did not finish within ${run_timeout}s (full log: $log)"
fi

summary_re='^([0-9]+) tests, ([0-9]+) passed, ([0-9]+) skipped, ([0-9]+) failed$'
summary=$(grep -E "$summary_re" <<<"$plain" | tail -n 1 || true)
if [[ ! $summary =~ $summary_re ]]; then
	echo "$plain" | tail -n 20
	[[ -z $server_problem ]] || echo "h2spec.sh: $server_problem" >&2
	die "h2spec (exit $rc) ended without its summary line (full log: $log)"
fi
total=${BASH_REMATCH[1]} passed=${BASH_REMATCH[2]} skipped=${BASH_REMATCH[3]} failed=${BASH_REMATCH[4]}

# Cross-check against the JUnit report, case by case.
[[ -s $xml ]] || die "h2spec printed a summary but wrote no JUnit report ($xml)"
count() { { grep -oE "$1" "$xml" || true; } | wc -l; }
j_total=$(count '<testcase ')
j_failed=$(($(count '<failure[ >/]') + $(count '<error[ >/]')))
j_skipped=$(count '<skipped[ >/]')
if ((j_total != total || j_failed != failed || j_skipped != skipped)); then
	die "counts disagree: summary '$summary', JUnit $j_total cases, $j_failed failed, $j_skipped skipped ($xml)"
fi
if ((passed + failed + skipped != total)); then
	die "summary does not add up: '$summary'"
fi

# h2spec exits 1 when a case failed, 0 otherwise (skips included).
if ((failed > 0 && rc != 1)) || ((failed == 0 && rc != 0)); then
	echo "$plain" | tail -n 20
	die "h2spec exited $rc with $failed failed cases (full log: $log)"
fi

status=0
if ((failed > 0)); then
	# h2spec's own report: each failed case with what it expected and got.
	sed -n '/^Failures:/,/^Finished in/p' <<<"$plain" | sed '$d'
	status=1
fi
if ((skipped > 0)); then
	echo "Skipped (counted as a failure here):"
	awk '/<testcase /{ match($0, /package="[^"]*"/); p = substr($0, RSTART + 9, RLENGTH - 10)
	                   match($0, /classname="[^"]*"/); c = substr($0, RSTART + 11, RLENGTH - 12) }
	     /<skipped/ { print "  " p ": " c }' "$xml"
	echo "  (h2spec skips the flow-control cases when GET / returns an empty body or"
	echo "   one shorter than 5 bytes, and 5.1.2 when SETTINGS lacks MAX_CONCURRENT_STREAMS.)"
	status=1
fi
if ((total == 0)); then
	echo "h2spec.sh: h2spec ran no case" >&2
	status=1
fi
if [[ -n $expect_total ]] && ((total != expect_total)); then
	echo "h2spec.sh: expected $expect_total cases in this mode, h2spec ran $total" >&2
	status=1
fi
if [[ -n $server_problem ]]; then
	echo "h2spec.sh: $server_problem (see $srvlog)" >&2
	status=1
fi
echo "reports: $log, $xml"
echo "h2spec: $passed passed, $failed failed, $skipped skipped"
exit "$status"

#!/usr/bin/env bash
# bench/idlefloor.sh: RSS per idle h2c connection of h2server (bench/server)
# beside the Go runtime's floor (bench/idlefloor: the *net.TCPConn alone,
# no goroutine, no HTTP/2 state), measured as bench/run.sh's idle workload
# measures it: bench/idleconns holds $CONNS connections whose SETTINGS
# exchange is done, then $CONNS more; the figure is the VmRSS growth over
# the second batch per connection (what one more costs, without what a
# process sets up once), and "fresh" the growth over the first. Runs
# alternate, REPS of each; medians. The difference is what h2server's
# state costs per idle connection.
#
# Environment: CONNS [2000], REPS [5], PORT [9911], OUT [a new /tmp/h2floor.*].
# Servers on CPU 0 with GOMAXPROCS=1, the client on CPU 1, as in run.sh.
# Only 127.0.0.1 is used; every process is killed by PID on exit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[[ -x /usr/local/go/bin/go ]] && export PATH=$PATH:/usr/local/go/bin
CONNS=${CONNS:-2000}
REPS=${REPS:-5}
PORT=${PORT:-9911}
OUT=${OUT:-$(mktemp -d /tmp/h2floor.XXXXXX)}
mkdir -p "$OUT"
go build -o "$OUT/server" ./bench/server
go build -o "$OUT/idlefloor" ./bench/idlefloor
go build -o "$OUT/idleconns" ./bench/idleconns

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

rss() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# hold NAME: bench/idleconns holds $CONNS connections; prints its PID once
# they are set up (run in a subshell: the caller records the PID).
hold() {
	local name=$1 i
	taskset -c 1 "$OUT/idleconns" -addr "127.0.0.1:$PORT" -conns "$CONNS" >"$OUT/$name.idleconns.out" 2>"$OUT/$name.idleconns.err" &
	local ic=$!
	PIDS+=("$ic")
	for ((i = 0; i < 300; i++)); do
		grep -q '^ready' "$OUT/$name.idleconns.out" && break
		kill -0 "$ic" 2>/dev/null || break
		sleep 0.1
	done
	if ! grep -q '^ready' "$OUT/$name.idleconns.out"; then
		echo "idlefloor.sh: $name: idleconns did not get ready: $(cat "$OUT/$name.idleconns.err")" >&2
		exit 1
	fi
	sleep 1
	echo "$ic"
}

# measure NAME CMD...: one run; prints the RSS growth per connection over
# the second batch, then over the first.
measure() {
	local name=$1
	shift
	GOMAXPROCS=1 taskset -c 0 "$@" >"$OUT/$name.log" 2>&1 &
	local sp=$! i
	PIDS+=("$sp")
	for ((i = 0; i < 100; i++)); do
		grep -q '^listening on' "$OUT/$name.log" && break
		sleep 0.05
	done
	sleep 0.3
	local before mid after ic1 ic2
	before=$(rss "$sp")
	ic1=$(hold "$name.1") || exit 1
	PIDS+=("$ic1")
	mid=$(rss "$sp")
	ic2=$(hold "$name.2") || exit 1
	PIDS+=("$ic2")
	after=$(rss "$sp")
	kill "$ic2" "$ic1" "$sp"
	wait "$ic2" "$ic1" "$sp" 2>/dev/null || true
	echo $(((after - mid) * 1024 / CONNS)) $(((mid - before) * 1024 / CONNS))
}

median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

: >"$OUT/floor" && : >"$OUT/h2server"
for ((r = 1; r <= REPS; r++)); do
	measure floor "$OUT/idlefloor" -addr "127.0.0.1:$PORT" >>"$OUT/floor"
	measure h2server "$OUT/server" -addr "127.0.0.1:$PORT" -quiet >>"$OUT/h2server"
	echo "idlefloor.sh: run $r/$REPS: floor $(tail -1 "$OUT/floor") B, h2server $(tail -1 "$OUT/h2server") B (second batch, fresh)" >&2
done
f=$(cut -d' ' -f1 "$OUT/floor" | median)
h=$(cut -d' ' -f1 "$OUT/h2server" | median)
f1=$(cut -d' ' -f2 "$OUT/floor" | median)
h1=$(cut -d' ' -f2 "$OUT/h2server" | median)
echo "RSS per idle h2c connection ($CONNS connections after $CONNS others, medians of $REPS): Go runtime floor $f B, h2server $h B, h2server's own state $((h - f)) B"
echo "(the first $CONNS on a fresh server: floor $f1 B, h2server $h1 B, difference $((h1 - f1)) B)"

#!/usr/bin/env bash
# bench/idleheap.sh: live heap and goroutine stacks per idle h2c
# connection of bench/server -impl h2server, exact where bench/run.sh's
# idle workload is not: the heap is read from the runtime's statistics
# after a forced GC (net/http/pprof's heap?gc=1) before and after
# bench/idleconns opens $CONNS connections and completes their SETTINGS
# exchange (and, with STREAMS, opens that many streams on each, whose
# handlers wait for a body). Goroutine stacks are counted apart (the
# runtime's stack in use: each waiting handler's). RSS is not: bench/run.sh
# measures RSS. The heap profile is kept as $OUT/heap.prof for
# `go tool pprof -sample_index=inuse_space $OUT/server $OUT/heap.prof`;
# MEMPROFILERATE=1 makes it record every allocation, but then every
# allocating goroutine unwinds its stack into the profile, which grows
# waiting handlers' stacks from 2 KiB to 4 KiB: take the stack figure from
# a run at Go's default rate.
#
# Environment: CONNS [2000], STREAMS streams per connection [0], PORT [9711],
# TLS [0; 1: HTTP/2 over TLS 1.3, a fresh self-signed certificate],
# MEMPROFILERATE [0: Go's default, one sample per 512 KiB],
# OUT [a new /tmp/h2idleheap.*]. Only 127.0.0.1 is used; both processes are
# killed by PID when the script exits.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[[ -x /usr/local/go/bin/go ]] && export PATH=$PATH:/usr/local/go/bin
CONNS=${CONNS:-2000}
STREAMS=${STREAMS:-0}
SERVED=${SERVED:-0}
TLS=${TLS:-0}
TLSARGS=()
[[ $TLS == 1 ]] && TLSARGS=(-tls)
PORT=${PORT:-9711}
MEMPROFILERATE=${MEMPROFILERATE:-0}
OUT=${OUT:-$(mktemp -d /tmp/h2idleheap.XXXXXX)}
mkdir -p "$OUT"
need() { command -v "$1" >/dev/null || { echo "idleheap.sh: $1 is missing" >&2; exit 1; }; }
need curl
go build -o "$OUT/server" ./bench/server
go build -o "$OUT/idleconns" ./bench/idleconns

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

PPROF=127.0.0.1:$((PORT + 1))
GOMAXPROCS=1 "$OUT/server" -addr "127.0.0.1:$PORT" "${TLSARGS[@]}" -quiet -pprof "$PPROF" -memprofilerate "$MEMPROFILERATE" >"$OUT/server.log" 2>&1 &
SP=$!
PIDS+=("$SP")
for _ in $(seq 100); do curl -fs "http://$PPROF/debug/pprof/" >/dev/null && break; sleep 0.05; done
memstat() { curl -fs "http://$PPROF/debug/pprof/heap?gc=1&debug=1" | awk -v k="$1" '$2 == k {print $4}'; }
h0=$(memstat HeapAlloc)
s0=$(memstat Stack)
timeout 120 "$OUT/idleconns" -addr "127.0.0.1:$PORT" "${TLSARGS[@]}" -conns "$CONNS" -streams "$STREAMS" -served "$SERVED" >"$OUT/idleconns.log" 2>&1 &
PIDS+=("$!")
for _ in $(seq 240); do grep -q '^ready' "$OUT/idleconns.log" && break; sleep 0.5; done
grep -q '^ready' "$OUT/idleconns.log" || { echo "idleheap.sh: idleconns did not get ready:" >&2; cat "$OUT/idleconns.log" >&2; exit 1; }
sleep 1 # writers linger 100 ms, then retire
h1=$(memstat HeapAlloc)
s1=$(memstat Stack)
curl -fs "http://$PPROF/debug/pprof/heap?gc=1" -o "$OUT/heap.prof"
n=$((CONNS * (STREAMS > 0 ? STREAMS : 1)))
unit=$([[ $STREAMS -gt 0 ]] && echo stream || echo connection)
[[ $TLS == 1 ]] && unit="$unit (TLS)"
echo "per $unit: live heap $(((h1 - h0) / n)) bytes, goroutine stacks $(((s1 - s0) / n)) bytes ($CONNS connections, $STREAMS streams each; $OUT)"

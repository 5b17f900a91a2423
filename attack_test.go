package h2server

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"maps"
	"math/rand"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/h2server/h2server/internal/heavytest"
)

// TestAttack runs denial-of-service scenarios against a Server on a real
// loopback socket. In each, raw-frame attackers (attackclient_test.go)
// abuse the protocol for a bounded number of frames and seconds while a
// well-behaved probe client, on its own connection, keeps sending GET /.
// Each scenario logs one line (go test -v) and asserts that:
//
//   - the probe was served: at least 99% of its requests succeeded, their
//     p99 latency stayed under a second (eight under -race, see atkScale),
//     and it used one connection;
//   - the live heap plus goroutine stacks grew by less than 64 MiB at
//     their sampled peak (see attackclient_test.go for the method);
//   - where the RFC lets the server end the abuse (RFC 9113 section 10.5:
//     "An endpoint MAY treat activity that is suspicious as a connection
//     error of type ENHANCE_YOUR_CALM"), it did: GOAWAY with the expected
//     code and the connection closed, within a bound;
//   - once the server is closed, its goroutines exit (no leak, no
//     deadlock).
//
// The assertions describe the server we want, not the one we have: a
// scenario the server does not defend against fails, saying why.
func TestAttack(t *testing.T) {
	if testing.Short() {
		t.Skip("attack suite: skipped in -short mode")
	}
	heavytest.Lock(t)
	for _, sc := range atkScenarios {
		t.Run(sc.name, func(t *testing.T) { runAtkScenario(t, sc) })
	}
}

// atkScenario is one attack and what the server must do about it.
type atkScenario struct {
	name      string
	budget    time.Duration // the attack's time budget
	maxFrames int64         // the attack's frame budget (all connections together)
	config    func(*Server) // changes to the default Server, if any

	// closeWithin, when set, requires the server to close every attacking
	// connection within this long of its start; wantGoAway requires a
	// GOAWAY before the close, with one of codes, from a server that could
	// deliver it (the attacker read its socket).
	closeWithin time.Duration
	wantGoAway  bool
	codes       []http2.ErrCode

	// timed marks a closeWithin that follows from a configured timeout:
	// it is not scaled for the race detector (see atkScale).
	timed bool

	attack func(e *atkEnv)
	check  func(t *testing.T, e *atkEnv) // extra assertions, if any
	note   string                        // what the line's numbers mean, if not obvious
}

var atkCalm = []http2.ErrCode{http2.ErrCodeEnhanceYourCalm}

// atkMinWindow is the shortest time the probe and the monitor watch a
// scenario, even when the server ends the attack at once.
const atkMinWindow = 500 * time.Millisecond

var atkScenarios = []atkScenario{
	{
		name: "rapid_reset", budget: 2 * time.Second, maxFrames: 400_000,
		closeWithin: time.Second, wantGoAway: true, codes: atkCalm,
		attack: func(e *atkEnv) { atkRapidReset(e, "/work") },
		note:   "GET /work: handlers that ignore the reset for 10ms",
	},
	{
		name: "rapid_reset_fast_handler", budget: 2 * time.Second, maxFrames: 400_000,
		closeWithin: time.Second, wantGoAway: true, codes: atkCalm,
		attack: func(e *atkEnv) { atkRapidReset(e, "/") },
		note:   "GET /: handlers done in microseconds",
	},
	{
		name: "made_you_reset", budget: 2 * time.Second, maxFrames: 400_000,
		closeWithin: time.Second, wantGoAway: true, codes: atkCalm,
		attack: atkMadeYouReset,
	},
	{
		name: "continuation_flood_large", budget: 2 * time.Second, maxFrames: 20_000,
		closeWithin: time.Second, wantGoAway: true,
		codes:  []http2.ErrCode{http2.ErrCodeEnhanceYourCalm, http2.ErrCodeProtocol},
		attack: func(e *atkEnv) { atkContinuationFlood(e, 16384) },
	},
	{
		name: "continuation_flood_empty", budget: 2 * time.Second, maxFrames: 1_000_000,
		closeWithin: time.Second, wantGoAway: true,
		codes:  []http2.ErrCode{http2.ErrCodeEnhanceYourCalm, http2.ErrCodeProtocol},
		attack: func(e *atkEnv) { atkContinuationFlood(e, 0) },
	},
	{
		name: "hpack_bomb", budget: 2 * time.Second, maxFrames: 100_000,
		closeWithin: time.Second, wantGoAway: true,
		codes:  []http2.ErrCode{http2.ErrCodeEnhanceYourCalm, http2.ErrCodeCompression},
		attack: atkHPACKBomb,
	},
	{
		name: "large_header_lists", budget: 2 * time.Second, maxFrames: 100_000,
		closeWithin: time.Second, wantGoAway: true, codes: atkCalm,
		attack: atkLargeHeaderLists,
	},
	{
		name: "zero_length_fields", budget: 2 * time.Second, maxFrames: 100_000,
		closeWithin: time.Second, wantGoAway: true, codes: atkCalm,
		attack: atkZeroLengthFields,
	},
	{
		name: "ping_flood_unread", budget: 3 * time.Second, maxFrames: 2_000_000,
		closeWithin: 2 * time.Second, codes: atkCalm,
		attack: func(e *atkEnv) { atkControlFlood(e, false) },
		note: "attacker never reads; GOAWAY looked for after the attack; the third PING within MinPingInterval " +
			"gets GOAWAY too_many_pings, then the connection lingers 1 s so that a real client (grpc-go backs off on it) sees it",
	},
	{
		name: "settings_flood_unread", budget: 2 * time.Second, maxFrames: 2_000_000,
		closeWithin: 1500 * time.Millisecond, codes: atkCalm,
		attack: func(e *atkEnv) { atkControlFlood(e, true) },
		note: "attacker never reads; GOAWAY looked for after the attack; SETTINGS beyond the preface's are glitches, " +
			"so the budget ends it after 1,000, then the 1 s linger a peer that keeps sending gets",
	},
	{
		name: "empty_data_flood", budget: 2 * time.Second, maxFrames: 2_000_000,
		closeWithin: time.Second, wantGoAway: true, codes: atkCalm,
		attack: atkEmptyDataFlood,
	},
	{
		name: "padding_flood", budget: 2 * time.Second, maxFrames: 1_000_000,
		closeWithin: time.Second, wantGoAway: true, codes: atkCalm,
		attack: atkPaddingFlood,
	},
	{
		name: "zero_window_stall", budget: 2500 * time.Millisecond, maxFrames: 60 * 110,
		attack: atkZeroWindowStall,
		note:   "60 conns x 100 streams of GET /1m, INITIAL_WINDOW_SIZE 0; closing not required",
	},
	{
		name: "conn_window_stall", budget: 2500 * time.Millisecond, maxFrames: 60 * 110,
		attack: atkConnWindowStall,
		note:   "60 conns x 100 streams of GET /1m, INITIAL_WINDOW_SIZE 16 MiB, no connection WINDOW_UPDATE; closing not required",
	},
	{
		name: "slow_upload_budget", budget: 2500 * time.Millisecond, maxFrames: 100_000,
		config: func(s *Server) { s.ReceiveBudget = atkUploadBudget },
		attack: atkSlowUploads, check: atkCheckSlowUploads,
		note: "ReceiveBudget 16 MiB; 20 conns x 50 uploads to handlers reading 1 KiB per 100 ms, each sent its whole window",
	},
	{
		name: "slow_read", budget: 4 * time.Second, maxFrames: 1000,
		config:      func(s *Server) { s.WriteTimeout = time.Second },
		closeWithin: 3 * time.Second, timed: true,
		attack: atkSlowRead,
		note:   "WriteTimeout 1s; 4 conns x 100 x GET /1m, never read",
	},
	{
		name: "max_concurrent_streams", budget: 2 * time.Second, maxFrames: 400_000,
		closeWithin: time.Second, wantGoAway: true,
		codes:  []http2.ErrCode{http2.ErrCodeEnhanceYourCalm, http2.ErrCodeProtocol},
		attack: atkBeyondMaxStreams,
	},
	{
		name: "legit_burst", budget: time.Second, maxFrames: 1 << 30,
		attack: atkLegitBurst, check: atkCheckLegitBurst,
		note: "control, not an attack: x/net client, 100 workers at MAX_CONCURRENT_STREAMS; frames = requests",
	},
	{
		name: "legit_idle_then_large", budget: 2 * time.Second, maxFrames: 1 << 30,
		config: func(s *Server) { s.WriteTimeout = 300 * time.Millisecond },
		attack: atkLegitIdleThenLarge, check: atkCheckLegitIdleThenLarge,
		note: "control, not an attack: WriteTimeout 300ms; a client idle for 500ms, then GET /1m",
	},
	{
		name: "slowloris_preface", budget: 2500 * time.Millisecond, maxFrames: 1 << 30,
		config:      func(s *Server) { s.PrefaceTimeout = time.Second },
		closeWithin: 1500 * time.Millisecond, timed: true,
		attack: atkSlowloris,
		note:   "PrefaceTimeout 1s; 300 conns send 12 of the 24 preface bytes",
	},
	{
		name: "malformed_frames", budget: 3 * time.Second, maxFrames: 50_000,
		attack: atkMalformed, check: atkCheckMalformed,
		note: fmt.Sprintf("math/rand seed %d, up to %d frames per conn", atkSeed, atkFramesPerConn),
	},
}

// atkScale stretches, under the race detector, the bounds that depend on
// the server's speed: the probe's latency bound, and the time a glitch
// budget or a full socket takes to end an attack (with the attack's time
// budget, so that the attacker keeps going that long). The race detector
// makes the server's per-frame work 5 to 30 times slower, and CI machines
// are busy: timing is checked as stated without -race, while with -race
// the suite mostly looks for races, panics and leaks. Bounds that follow
// from a configured timeout are never stretched.
var atkScale = func() time.Duration {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "-race" && s.Value == "true" {
				return 8
			}
		}
	}
	return 1
}()

// atkStackScale is how much larger goroutine stacks are in this build: 2
// under the race detector.
var atkStackScale = max(int64(atkScale/4), 1)

// atkProbeP99 is the probe's latency bound.
const atkProbeP99 = time.Second

func runAtkScenario(t *testing.T, sc atkScenario) {
	if sc.closeWithin > 0 && !sc.timed {
		sc.budget *= atkScale
		sc.closeWithin *= atkScale
	}
	before, _ := atkGoroutines(nil)
	e := newAtkEnv(t, sc.config)
	probe := startAtkProbe(t, e.addr)
	mon := startAtkMonitor(e)
	e.maxFrames = sc.maxFrames
	e.start = time.Now()
	e.deadline = e.start.Add(sc.budget)
	probe.reset()

	sc.attack(e)
	attackTime := time.Since(e.start)
	conns := e.allConns()
	// Give the server until its bound to close what is still open.
	if sc.closeWithin > 0 {
		for _, c := range conns {
			select {
			case <-c.gone:
			case <-time.After(time.Until(c.start.Add(sc.closeWithin))):
			}
		}
	}
	// The probe watches for at least atkMinWindow, however soon the
	// server ended the attack.
	time.Sleep(time.Until(e.start.Add(atkMinWindow)))
	mon.finish()
	ps := probe.finish()
	for _, c := range conns {
		if c.closed.Load() {
			c.drain(500 * time.Millisecond)
		}
		c.close()
	}

	// What the server sent, and how it let go.
	goaways := make(map[http2.ErrCode]int)
	rst := make(map[http2.ErrCode]int)
	var closed, noGoAway int
	var slowest time.Duration
	var failures []string
	for _, c := range conns {
		gs, rs, _, readErr := c.counts()
		for _, g := range gs {
			goaways[g]++
		}
		for k, v := range rs {
			rst[k] += v
		}
		if readErr != nil {
			failures = append(failures, fmt.Sprintf("attacker could not parse the server's frames: %v", readErr))
		}
		if !c.closed.Load() {
			continue
		}
		closed++
		at := time.Duration(c.closedAt.Load())
		slowest = max(slowest, at)
		if len(gs) == 0 {
			noGoAway++
		}
		if sc.closeWithin > 0 && at > sc.closeWithin {
			failures = append(failures, fmt.Sprintf("the server closed an attacking connection after %v, want within %v", at.Round(time.Millisecond), sc.closeWithin))
		}
		if sc.codes != nil {
			for _, g := range gs {
				if !slices.Contains(sc.codes, g) {
					failures = append(failures, fmt.Sprintf("GOAWAY %v, want %v", g, sc.codes))
				}
			}
		}
	}
	if sc.closeWithin > 0 && closed < len(conns) {
		failures = append(failures, fmt.Sprintf(
			"the server did not end the abuse: %d of %d attacking connections still open %v after the attack started (want closed within %v%s)",
			len(conns)-closed, len(conns), time.Since(e.start).Round(10*time.Millisecond), sc.closeWithin, atkGoAwayWanted(sc)))
	}
	if sc.wantGoAway {
		for _, c := range conns {
			if gs, _, _, _ := c.counts(); c.closed.Load() && len(gs) == 0 {
				failures = append(failures, "the server closed a reading attacker's connection without GOAWAY")
				break
			}
		}
	}

	closing := "n/a"
	switch {
	case len(conns) == 1 && closed == 1:
		closing = "closed at " + atkDur(slowest)
	case len(conns) == 1:
		closing = "not closed (by " + atkDur(time.Since(e.start)) + ")"
	case len(conns) > 1:
		closing = fmt.Sprintf("closed %d/%d conns", closed, len(conns))
		if closed > 0 {
			closing += ", slowest at " + atkDur(slowest)
		}
	}
	if closed > 0 && noGoAway > 0 && !sc.wantGoAway {
		closing += fmt.Sprintf(" (%d without a GOAWAY seen)", noGoAway)
	}
	pct := 0.0
	if ps.n > 0 {
		pct = 100 * float64(ps.ok) / float64(ps.n)
	}
	aborted := ""
	if e.memAbort.Load() {
		aborted = fmt.Sprintf(" ATTACK ABORTED at +%d MiB", atkMemAbort>>20)
	}
	e.mu.Lock()
	reasons := atkTopReasons(e.reasons, 4)
	e.mu.Unlock()
	// The race detector doubles every goroutine's stack: the cap is on
	// what the server holds in a normal build.
	grown := mon.peakLive + mon.peakStack/atkStackScale
	line := fmt.Sprintf("%s: sent %d frames in %s over %d conn(s) | probe %d/%d ok (%.1f%%) p99 %s max %s dials %d | mem live heap+stacks %+.1f MiB (live %+.1f, stacks %+.1f; HeapInuse %+.1f, Sys-released %+.1f) peak goroutines %d%s | server sent: GOAWAY %s; RST %s; %s | server reasons: %s",
		sc.name, e.frames.Load(), atkDur(attackTime), len(conns),
		ps.ok, ps.n, pct, atkDur(ps.p99), atkDur(ps.max), ps.dials,
		atkMiBs(grown), atkMiBs(mon.peakLive), atkMiBs(mon.peakStack), atkMiBs(mon.peakHeap), atkMiBs(mon.peakFoot), mon.peakG, aborted,
		atkCodes(goaways), atkCodes(rst), closing, reasons)
	if sc.closeWithin > 0 {
		line += fmt.Sprintf(" | must close within %v", sc.closeWithin)
	}
	if sc.note != "" {
		line += " | " + sc.note
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		// Timing bounds assume a machine that is not overloaded.
		if f := strings.Fields(string(b)); len(f) >= 3 {
			line += " | loadavg " + strings.Join(f[:3], " ")
		}
	}
	t.Log(line)

	// The probe, on its own connection, must not notice the attack.
	switch {
	case ps.n < 5:
		t.Errorf("probe: only %d requests completed during the attack (starved)", ps.n)
	case pct < 99:
		t.Errorf("probe: %d of %d requests failed (%.1f%% ok, want >= 99%%); first error: %v", ps.n-ps.ok, ps.n, pct, ps.firstErr)
	}
	if ps.p99 >= atkProbeP99*atkScale {
		t.Errorf("probe: p99 latency %v, want < %v", ps.p99, atkProbeP99*atkScale)
	}
	if ps.dials != 1 {
		t.Errorf("probe: dialed %d connections, want 1 (its connection was affected by the attack)", ps.dials)
	}
	if grown >= atkMemCap || e.memAbort.Load() {
		t.Errorf("memory: the live heap and goroutine stacks grew by %.1f MiB at peak (HeapInuse by %.1f), want < %d MiB%s",
			atkMiBs(grown), atkMiBs(mon.peakHeap), atkMemCap>>20, aborted)
	}
	for _, f := range slices.Compact(failures) {
		t.Error(f)
	}
	if sc.check != nil {
		sc.check(t, e)
	}

	// Teardown: the server's goroutines must all exit.
	e.srv.Close()
	select {
	case <-e.served:
	case <-time.After(5 * time.Second):
		t.Errorf("DEADLOCK? Serve did not return within 5s of Close")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, left := atkGoroutines(before)
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("LEAK/DEADLOCK: %d goroutine(s) of the package still alive 5s after Server.Close:\n\n%s",
				len(left), strings.Join(left[:min(len(left), 5)], "\n\n"))
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func atkGoAwayWanted(sc atkScenario) string {
	if sc.codes == nil {
		return ""
	}
	return fmt.Sprintf(", with GOAWAY %v", sc.codes)
}

func atkDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%dµs", d.Microseconds())
}

func atkMiBs(n int64) float64 { return float64(n) / (1 << 20) }

func atkCodes(m map[http2.ErrCode]int) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%v×%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}

func atkTopReasons(m map[string]int, n int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := slices.SortedFunc(maps.Keys(m), func(a, b string) int {
		return cmp.Or(cmp.Compare(m[b], m[a]), cmp.Compare(a, b))
	})
	var parts []string
	for _, k := range keys[:min(n, len(keys))] {
		parts = append(parts, fmt.Sprintf("%s×%d", k, m[k]))
	}
	if len(keys) > n {
		parts = append(parts, fmt.Sprintf("+%d more", len(keys)-n))
	}
	return strings.Join(parts, " ")
}

// The scenarios. Each attacker stops when e.running says so: the time or
// frame budget is spent, memory passed the abort line, or the server
// closed the connection.

// atkRapidReset: HEADERS then RST_STREAM CANCEL, on fresh streams, as fast
// as the socket takes them (CVE-2023-44487). Every stream starts a
// handler, and a reset stream no longer counts against
// MAX_CONCURRENT_STREAMS.
func atkRapidReset(e *atkEnv, path string) {
	c := e.dial(true)
	if c == nil {
		return
	}
	blk := atkRequest("GET", path, -1)
	for id := uint32(1); id < 1<<31 && e.running(c); id += 2 {
		c.headers(id, true, true, blk)
		c.rstStream(id, http2.ErrCodeCancel)
	}
	c.flush()
}

// atkMadeYouReset: the client makes the server reset streams
// (CVE-2025-8671), each provocation on a fresh stream whose handler has
// started: WINDOW_UPDATE 0, DATA after END_STREAM, a stream window pushed
// past 2^31-1, more DATA than content-length, PRIORITY on itself.
func atkMadeYouReset(e *atkEnv) {
	c := e.dial(true)
	if c == nil {
		return
	}
	open := atkRequest("POST", "/work", -1)
	openCL1 := atkRequest("POST", "/work", 1)
	x, xx := []byte("x"), []byte("xx")
	for i, id := 0, uint32(1); id < 1<<31 && e.running(c); i, id = i+1, id+2 {
		switch i % 5 {
		case 0:
			c.headers(id, false, true, open)
			c.windowUpdate(id, 0) // section 6.9: a stream error PROTOCOL_ERROR
		case 1:
			c.headers(id, false, true, open)
			c.data(id, true, x)
			c.data(id, false, x) // section 5.1: half-closed (remote), STREAM_CLOSED
		case 2:
			c.headers(id, false, true, open)
			c.windowUpdate(id, 1<<31-1) // section 6.9.1: FLOW_CONTROL_ERROR
		case 3:
			c.headers(id, false, true, openCL1)
			c.data(id, true, xx) // section 8.1.1: malformed, PROTOCOL_ERROR
		case 4:
			c.headers(id, false, true, open)
			c.sent(c.fr.WritePriority(id, http2.PriorityParam{StreamDep: id, Weight: 15})) // section 5.3.1
		}
	}
	c.flush()
}

// atkContinuationFlood: a HEADERS frame without END_HEADERS, then
// CONTINUATION frames of size bytes that never end the block. The large
// ones carry valid HPACK (literal fields), so only a cap stops them.
func atkContinuationFlood(e *atkEnv, size int) {
	c := e.dial(true)
	if c == nil {
		return
	}
	frag := atkHPFill(nil, size)
	c.headers(1, false, false, atkRequest("GET", "/", -1))
	for e.running(c) {
		c.sent(c.fr.WriteContinuation(1, false, frag))
	}
	c.flush()
}

// atkHPACKBomb: a 4 KiB field enters the dynamic table once; then every
// request is 128 KiB of one-byte references to it (HEADERS and 7
// CONTINUATION frames), each block decoding to about 530 MB of fields
// against a 64 KiB SETTINGS_MAX_HEADER_LIST_SIZE.
func atkHPACKBomb(e *atkEnv) {
	c := e.dial(true)
	if c == nil {
		return
	}
	req := atkRequest("GET", "/", -1)
	const size = 128 << 10
	ref := []byte{0x80 | 62}
	first := atkHPInsert(slices.Clone(req), "x-bomb", strings.Repeat("b", 4096-32-len("x-bomb")))
	firstBlk := append(first, bytes.Repeat(ref, size-len(first))...)
	blk := append(slices.Clone(req), bytes.Repeat(ref, size-len(req))...)
	for id := uint32(1); id < 1<<31 && e.running(c); id += 2 {
		if id == 1 {
			c.block(id, true, firstBlk)
		} else {
			c.block(id, true, blk)
		}
	}
	c.flush()
}

// atkLargeHeaderLists: requests whose header lists are 100 KiB of literal
// fields (over the 64 KiB limit but under the block-size cap), in a loop.
func atkLargeHeaderLists(e *atkEnv) {
	c := e.dial(true)
	if c == nil {
		return
	}
	blk := atkRequest("GET", "/", -1)
	for i := 0; len(blk) < 100<<10; i++ {
		blk = atkHPLiteralNew(blk, fmt.Sprintf("x-large-%d", i), strings.Repeat("v", 1000))
	}
	for id := uint32(1); id < 1<<31 && e.running(c); id += 2 {
		c.block(id, true, blk)
	}
	c.flush()
}

// atkZeroLengthFields: requests carrying 2000 header fields with an empty
// name and value (one-byte references to such an entry in the dynamic
// table). By RFC 9113 section 6.5.2 accounting (32 bytes each) the list
// stays under 64 KiB, so the server keeps and validates every field.
func atkZeroLengthFields(e *atkEnv) {
	c := e.dial(true)
	if c == nil {
		return
	}
	req := atkRequest("GET", "/", -1)
	refs := bytes.Repeat([]byte{0x80 | 62}, 2000)
	first := append(atkHPInsert(slices.Clone(req), "", ""), refs...)
	blk := append(slices.Clone(req), refs...)
	for id := uint32(1); id < 1<<31 && e.running(c); id += 2 {
		if id == 1 {
			c.block(id, true, first)
		} else {
			c.block(id, true, blk)
		}
	}
	c.flush()
}

// atkControlFlood: PING (or SETTINGS) frames as fast as the socket takes
// them, from a peer that never reads the ACKs it provokes.
func atkControlFlood(e *atkEnv, settings bool) {
	c := e.dial(false)
	if c == nil {
		return
	}
	data := [8]byte{'f', 'l', 'o', 'o', 'd'}
	for e.running(c) {
		if settings {
			c.sent(c.fr.WriteSettings(
				http2.Setting{ID: http2.SettingInitialWindowSize, Val: 65535},
				http2.Setting{ID: http2.SettingMaxFrameSize, Val: 16384}))
		} else {
			c.sent(c.fr.WritePing(false, data))
		}
	}
	c.flush()
}

// atkEmptyDataFlood: a POST /sink stream, then DATA frames with no payload
// and no END_STREAM (CVE-2019-9518): free for the attacker, work for the
// server, and no flow-control cost.
func atkEmptyDataFlood(e *atkEnv) {
	c := e.dial(true)
	if c == nil {
		return
	}
	c.headers(1, false, true, atkRequest("POST", "/sink", -1))
	for e.running(c) {
		c.data(1, false, nil)
	}
	c.flush()
}

// atkPaddingFlood: a POST /sink stream, then DATA frames that are all
// padding (255 bytes, no payload). The attacker respects flow control:
// the server returns padding to the windows at once, so it can go on
// forever without a byte reaching the handler.
func atkPaddingFlood(e *atkEnv) {
	c := e.dial(true)
	if c == nil {
		return
	}
	c.headers(1, false, true, atkRequest("POST", "/sink", -1))
	pad := make([]byte, 255)
	const n = 256 // the pad-length byte and the padding count against windows
	for e.running(c) {
		if c.connCredit.Load() < n || c.streamCredit.Load() < n {
			c.flush()
			time.Sleep(50 * time.Microsecond)
			continue
		}
		c.connCredit.Add(-n)
		c.streamCredit.Add(-n)
		c.sent(c.fr.WriteDataPadded(1, false, nil, pad))
	}
	c.flush()
}

// atkZeroWindowStall: 60 connections each open MAX_CONCURRENT_STREAMS
// (100) streams of GET /1m with SETTINGS_INITIAL_WINDOW_SIZE 0 and never
// send WINDOW_UPDATE: 6000 handlers block in Write, holding whatever the
// server buffers for a stream it may not send on.
func atkZeroWindowStall(e *atkEnv) { atkWindowStall(e, 0) }

// atkConnWindowStall: as atkZeroWindowStall, but the streams get 16 MiB
// windows and the connection none beyond its first 65,535 bytes: the
// handlers block in Write, and what they buffer is bounded by the
// connection's window (plus the writer's slack), not by 100 x 64 KiB.
func atkConnWindowStall(e *atkEnv) { atkWindowStall(e, 16<<20) }

// atkWindowStall opens 60 connections of 100 GET /1m streams each, with
// SETTINGS_INITIAL_WINDOW_SIZE streamWindow and no WINDOW_UPDATE ever.
func atkWindowStall(e *atkEnv, streamWindow uint32) {
	e.wbuf = 4 << 10
	blk := atkRequest("GET", "/1m", -1)
	for range 60 {
		if !e.running(nil) {
			break
		}
		c := e.dial(true, http2.Setting{ID: http2.SettingInitialWindowSize, Val: streamWindow})
		if c == nil {
			return
		}
		for id := uint32(1); id <= 199; id += 2 {
			c.headers(id, true, true, blk)
		}
		c.flush()
	}
	for e.running(nil) {
		e.sleep(50 * time.Millisecond)
	}
}

// atkUploadBudget is slow_upload_budget's Server.ReceiveBudget.
const atkUploadBudget = 16 << 20

// atkSlowUploads: 20 connections each open 50 uploads to a handler that
// reads 1 KiB per 100 ms, and send on every stream as much as its
// initial window (256 KiB) and the connection window allow: 250 MiB if
// the server buffered every window. The receive budget must hold it to
// the budget plus a connection window per connection.
func atkSlowUploads(e *atkEnv) {
	const conns, streams, frame = 20, 50, 16 << 10
	blk := atkRequest("POST", "/slowsink", -1)
	payload := make([]byte, frame)
	var cs []*atkConn
	sent := make([][]int, 0, conns)
	for range conns {
		c := e.dial(true)
		if c == nil {
			return
		}
		for i := range uint32(streams) {
			c.headers(2*i+1, false, true, blk)
		}
		c.flush()
		cs = append(cs, c)
		sent = append(sent, make([]int, streams))
	}
	for e.running(nil) {
		progress := false
		for ci, c := range cs {
			for i := range streams {
				if sent[ci][i]+frame > 256<<10 || c.connCredit.Load() < frame {
					continue
				}
				c.connCredit.Add(-frame)
				sent[ci][i] += frame
				c.data(uint32(2*i+1), false, payload)
				progress = true
			}
			c.flush()
		}
		e.peakHeld = max(e.peakHeld, e.srv.recv.used.Load())
		if !progress {
			e.sleep(10 * time.Millisecond)
		}
	}
}

// atkCheckSlowUploads: what the server held for the slow handlers stayed
// within the budget plus each connection's window (2 MiB).
func atkCheckSlowUploads(t *testing.T, e *atkEnv) {
	limit := int64(atkUploadBudget + 20*(2<<20))
	t.Logf("slow_upload_budget: peak held for handlers %.1f MiB (budget %d MiB, bound %d MiB)", atkMiBs(e.peakHeld), atkUploadBudget>>20, limit>>20)
	if e.peakHeld > limit {
		t.Errorf("the server held %.1f MiB for slow handlers, want at most the budget plus a connection window each (%d MiB)", atkMiBs(e.peakHeld), limit>>20)
	}
	if e.peakHeld < atkUploadBudget/2 {
		t.Errorf("the attack made the server hold only %.1f MiB: it did not test the budget", atkMiBs(e.peakHeld))
	}
}

// atkSlowRead: 4 peers each grant huge windows, open MAX_CONCURRENT_STREAMS
// streams of GET /1m (100 MiB, far more than an unread loopback socket
// buffers, about 4 MiB), and never read their sockets. The preface,
// SETTINGS and all the requests leave in one write, so that the server's
// handlers may have response data ready before its writer first runs out
// of work. Whether that happens is a matter of scheduling (about half of
// the connections, today), hence several connections: each must be
// closed.
func atkSlowRead(e *atkEnv) {
	blk := atkRequest("GET", "/1m", -1)
	for range 4 {
		c := e.dialRaw(false)
		if c == nil {
			return
		}
		io.WriteString(c.bw, clientPreface)
		c.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1<<31 - 1})
		c.fr.WriteSettingsAck()
		c.windowUpdate(0, 1<<31-1-65535)
		for i := range uint32(100) {
			c.headers(2*i+1, true, true, blk)
		}
		c.flush()
	}
	for _, c := range e.allConns() {
		for e.running(c) {
			e.sleep(10 * time.Millisecond)
		}
	}
}

// atkBeyondMaxStreams: 100 streams held open (POST /sink, body never
// ends), then HEADERS for ever more streams beyond the limit, each
// refused.
func atkBeyondMaxStreams(e *atkEnv) {
	c := e.dial(true)
	if c == nil {
		return
	}
	hold := atkRequest("POST", "/sink", -1)
	id := uint32(1)
	for ; id <= 199; id += 2 {
		c.headers(id, false, true, hold)
	}
	blk := atkRequest("GET", "/", -1)
	for ; id < 1<<31 && e.running(c); id += 2 {
		c.headers(id, true, true, blk)
	}
	c.flush()
}

// atkSlowloris: 300 connections send half of the client preface, then
// stall.
func atkSlowloris(e *atkEnv) {
	e.wbuf = 64
	for range 300 {
		c := e.dialRaw(true)
		if c == nil {
			return
		}
		c.bw.WriteString(clientPreface[:12])
		c.flush()
	}
	for _, c := range e.allConns() {
		select {
		case <-c.gone:
		case <-time.After(time.Until(e.deadline)):
		}
	}
}

// The malformed-frames scenario: a seeded generator of frames of every
// type, some well formed, most not, each connection up to
// atkFramesPerConn frames or until the server closes it.
const (
	atkSeed          = 20250814
	atkFramesPerConn = 64
)

func atkMalformed(e *atkEnv) {
	e.wbuf = 4 << 10
	rng := rand.New(rand.NewSource(atkSeed))
	payload := make([]byte, 0, 20000)
	req := atkRequest("GET", "/", -1)
	for e.running(nil) {
		c := e.dial(true)
		if c == nil {
			return
		}
		next := uint32(1)
		var last []http2.FrameHeader // the last frames sent, for conns that end oddly
		for i := 0; i < atkFramesPerConn && e.running(c); i++ {
			typ := http2.FrameType(rng.Intn(11)) // 10 is unknown: ignored
			if rng.Intn(20) == 0 {
				typ = http2.FrameType(rng.Intn(256))
			}
			flags := http2.Flags(rng.Intn(256))
			if rng.Intn(2) == 0 {
				flags &= 0x2d // END_STREAM/ACK, END_HEADERS, PADDED, PRIORITY
			}
			var id uint32
			switch rng.Intn(6) {
			case 0:
				id = 0
			case 1, 2:
				id = next
				next += 2
			case 3:
				id = next - 2 // the last stream, or 2^32-1 before any
			case 4:
				id = uint32(rng.Intn(8))
			case 5:
				id = rng.Uint32()
			}
			payload = payload[:0]
			switch rng.Intn(8) {
			case 0, 1, 2: // the type's usual length, random contents
				n := map[http2.FrameType]int{
					http2.FramePriority: 5, http2.FrameRSTStream: 4, http2.FramePing: 8,
					http2.FrameWindowUpdate: 4, http2.FrameSettings: 6 * rng.Intn(4),
					http2.FrameGoAway: 8 + rng.Intn(8),
				}[typ]
				if n == 0 {
					n = rng.Intn(32)
				}
				for range n {
					payload = append(payload, byte(rng.Intn(256)))
				}
			case 3: // a real request block, whatever the frame
				payload = append(payload, req...)
			case 4: // a request block with garbage after it
				payload = append(payload, req...)
				for range rng.Intn(16) {
					payload = append(payload, byte(rng.Intn(256)))
				}
			case 5: // empty
			case 6: // longer than SETTINGS_MAX_FRAME_SIZE, rarely
				if rng.Intn(4) == 0 {
					payload = payload[:16385+rng.Intn(2000)]
				}
			case 7: // random length and bytes
				for range rng.Intn(300) {
					payload = append(payload, byte(rng.Intn(256)))
				}
			}
			c.sent(c.fr.WriteRawFrame(typ, flags, id, payload))
			if len(last) == 3 {
				last = append(last[:0], last[1:]...)
			}
			last = append(last, http2.FrameHeader{Type: typ, Flags: flags, StreamID: id, Length: uint32(len(payload))})
			if rng.Intn(8) == 0 {
				c.flush()
			}
		}
		c.flush()
		// A GOAWAY with an error must be followed by the close, within
		// the server's linger (stretched under -race, see atkScale).
		if gs, _, _, _ := c.counts(); len(gs) > 0 && gs[len(gs)-1] != http2.ErrCodeNo {
			select {
			case <-c.gone:
			case <-time.After(lingerTimeout * (1 + atkScale)):
				e.noteStuck(c)
			}
		} else {
			// Let a pending GOAWAY arrive before we hang up.
			select {
			case <-c.gone:
			case <-time.After(20 * time.Millisecond):
			}
		}
		if gs, _, _, _ := c.counts(); len(gs) == 0 && c.closed.Load() {
			e.mu.Lock()
			c.mu.Lock()
			var frames []string
			for _, h := range last {
				frames = append(frames, fmt.Sprintf("%v flags=%#x stream=%d len=%d", h.Type, uint8(h.Flags), h.StreamID, h.Length))
			}
			e.odd = append(e.odd, fmt.Sprintf("%s; server: %s; reader saw: %s", strings.Join(frames, ", "), c.lastReason, c.closeHow))
			c.mu.Unlock()
			e.mu.Unlock()
		}
		// A GOAWAY may still be on its way, the close behind it: hang
		// up by half-closing, so that our reader still sees both.
		c.hangUp(lingerTimeout * (1 + atkScale))
	}
}

func atkCheckMalformed(t *testing.T, e *atkEnv) {
	var withErr, closedAfter, silentClose int
	for _, c := range e.allConns() {
		gs, _, _, _ := c.counts()
		for _, g := range gs {
			if g > http2.ErrCodeHTTP11Required {
				t.Errorf("GOAWAY with undefined error code %v", g)
			}
		}
		switch {
		case len(gs) > 0 && gs[len(gs)-1] != http2.ErrCodeNo:
			// The attacker waited for the close of each of these
			// (noteStuck, hangUp): our reader saw it or never will.
			withErr++
			if c.closed.Load() && !c.stuck.Load() {
				closedAfter++
			}
		case c.closed.Load():
			silentClose++
		}
	}
	t.Logf("malformed_frames: %d conns; %d got GOAWAY with an error code, %d of them then closed within the linger; %d closed without an error GOAWAY (by the server, or as we hung up)",
		len(e.allConns()), withErr, closedAfter, silentClose)
	if closedAfter != withErr {
		t.Errorf("%d connections got GOAWAY with an error code but were not closed within the linger", withErr-closedAfter)
		e.mu.Lock()
		for _, d := range e.stuck {
			t.Log(d)
		}
		e.mu.Unlock()
	}
	e.mu.Lock()
	for i, o := range e.odd[:min(len(e.odd), 5)] {
		t.Logf("malformed_frames: closed without any GOAWAY (%d/%d), last frames sent: %s", i+1, len(e.odd), o)
	}
	if len(e.odd) > 0 {
		// RFC 9113 section 5.4.1: "An endpoint that encounters a
		// connection error SHOULD first send a GOAWAY frame".
		t.Errorf("the server closed %d connections without a GOAWAY (see the frames above; a frame too short for its PADDED, PRIORITY or promised-stream fields is a connection error FRAME_SIZE_ERROR, RFC 9113 section 4.2, not a transport failure)", len(e.odd))
	}
	t.Logf("malformed_frames: all server reasons: %s", atkTopReasons(e.reasons, 100))
	e.mu.Unlock()
	if withErr == 0 {
		t.Errorf("no connection got a GOAWAY with an error code: the generator found no protocol error, or the server ignored them all")
	}
}

// atkLegitBurst is the control: a well-behaved client (x/net's Transport,
// h2c) keeping MAX_CONCURRENT_STREAMS requests in flight. No limit may
// trip for it.
func atkLegitBurst(e *atkEnv) {
	var dials atomic.Int32
	tr := &http2.Transport{
		AllowHTTP:                  true,
		StrictMaxConcurrentStreams: true, // wait for a slot, do not dial more
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			dials.Add(1)
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
	defer tr.CloseIdleConnections()
	var wg sync.WaitGroup
	var mu sync.Mutex
	for range 100 {
		wg.Go(func() {
			for e.running(nil) {
				ctx, cancel := context.WithTimeout(context.Background(), atkProbeTimeout)
				req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+e.addr+"/", nil)
				resp, err := tr.RoundTrip(req)
				if err == nil {
					var body []byte
					body, err = io.ReadAll(resp.Body)
					resp.Body.Close()
					if err == nil && (resp.StatusCode != 200 || string(body) != atkBody) {
						err = fmt.Errorf("status %d, body %q", resp.StatusCode, body)
					}
				}
				cancel()
				e.frames.Add(1)
				if err != nil {
					mu.Lock()
					e.legit.fails++
					if e.legit.firstErr == nil {
						e.legit.firstErr = err
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	e.legit.dials = int(dials.Load())
}

func atkCheckLegitBurst(t *testing.T, e *atkEnv) {
	n := e.frames.Load()
	t.Logf("legit_burst: %d requests, %d failed, %d dials", n, e.legit.fails, e.legit.dials)
	if e.legit.fails > 0 || e.legit.dials != 1 {
		t.Errorf("a well-behaved client was hurt by the limits: %d of %d requests failed (first: %v), %d connections dialed (want 1)",
			e.legit.fails, n, e.legit.firstErr, e.legit.dials)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.reasons) > 0 {
		t.Errorf("limits tripped for a well-behaved client: %s", atkTopReasons(e.reasons, 10))
	}
}

// atkLegitIdleThenLarge is a control for WriteTimeout: a well-behaved
// client rests longer than WriteTimeout between two requests, which
// must not cost it its connection.
func atkLegitIdleThenLarge(e *atkEnv) {
	var dials atomic.Int32
	tr := &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			dials.Add(1)
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
	defer tr.CloseIdleConnections()
	get := func(path string) (int, error) {
		ctx, cancel := context.WithTimeout(context.Background(), atkProbeTimeout)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+e.addr+path, nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		n, err := io.Copy(io.Discard, resp.Body)
		return int(n), err
	}
	for _, step := range []struct {
		path string
		want int
		rest time.Duration
	}{{"/", len(atkBody), 500 * time.Millisecond}, {"/1m", len(atkMiB), 0}, {"/1m", len(atkMiB), 0}} {
		n, err := get(step.path)
		e.frames.Add(1)
		if err == nil && n != step.want {
			err = fmt.Errorf("GET %s: %d bytes, want %d", step.path, n, step.want)
		}
		if err != nil {
			e.legit.fails++
			if e.legit.firstErr == nil {
				e.legit.firstErr = fmt.Errorf("GET %s: %w", step.path, err)
			}
		}
		time.Sleep(step.rest)
	}
	e.legit.dials = int(dials.Load())
}

func atkCheckLegitIdleThenLarge(t *testing.T, e *atkEnv) {
	if e.legit.fails > 0 || e.legit.dials != 1 {
		t.Errorf("a client idle for longer than WriteTimeout lost its connection on the next large response: %d of 3 requests failed (first: %v), %d connections dialed (want 1); the write deadline must be set before every socket write, not only when the writer runs out of work",
			e.legit.fails, e.legit.firstErr, e.legit.dials)
	}
}

// noteStuck records, for the log, what the server holds of a connection
// it sent an error GOAWAY on and had not closed when its linger was over:
// its state and the stacks of the package's goroutines, taken at once
// (the connection ends when we hang up).
func (e *atkEnv) noteStuck(ac *atkConn) {
	ac.stuck.Store(true)
	d := fmt.Sprintf("stuck connection from port %d: the server no longer tracks it (its transport should be closed)", ac.port)
	for _, c := range e.srv.liveConns() {
		a, ok := c.info.RemoteAddr.(*net.TCPAddr)
		if !ok || a.Port != ac.port {
			continue
		}
		c.mu.Lock()
		life := c.life
		streams, handlers := len(c.streams), c.handlers
		c.mu.Unlock()
		c.wq.mu.Lock()
		running, stopped, queued := c.wq.running, c.wq.stopped, len(c.wq.items)
		c.wq.mu.Unlock()
		d = fmt.Sprintf("stuck connection from port %d: failed %v closeQueued %v closed %v goingAway %v; ended %v noPark %v failing %v; %d streams, %d handlers; writer running %v stopped %v, %d items queued",
			ac.port, life.failed, life.closeQueued, life.closed, life.goingAway,
			c.ended.Load(), c.noPark.Load(), c.failing.Load(), streams, handlers, running, stopped, queued)
	}
	d += "\ngoroutines of the package:\n\n" + strings.Join(packageGoroutines(nil), "\n\n")
	e.mu.Lock()
	e.stuck = append(e.stuck, d)
	e.mu.Unlock()
}

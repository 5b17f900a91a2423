package h2server

// Randomized invariants. One connection per run, inside a testing/synctest
// bubble, driven by a sequence of steps: frames of a legal client
// (HEADERS, DATA, trailers, WINDOW_UPDATE, SETTINGS with
// INITIAL_WINDOW_SIZE going up and down, RST_STREAM, PING, GOAWAY), the
// client stalling and resuming its reads, fake time passing, and handler
// actions (Read, CancelRead, WriteHeaders, Write, Flush, Close,
// WriteTrailers, Reset, return, panic). Each handler runs a tiny script:
// its own goroutine takes the send-side actions, a second one the
// receive-side actions, so that an action that blocks (Write beyond the
// window, Read with no data) never blocks the driver; synctest.Wait then
// says that everything is idle. After every step the frames the server
// wrote are checked against a model of the client (invariant_wire_test.go);
// at the end, every window is opened (every response the handler ended
// must then end on the wire), the client hangs up, the handlers are told
// to return, and nothing may be left: ServeConn returned, no goroutine,
// no armed timer, no pooled buffer held, no server activity an hour later.
//
// The client takes in what the server sent (resets, END_STREAM, window
// credits, GOAWAY) only at "sync" steps, so it sends frames that cross the
// server's in flight, as a real client over a real network does.
//
// TestInvariants runs fixed seeds (go test -run TestInvariants; more with
// -invariants.seeds N, one with -invariants.seed S); FuzzInvariants lets the
// fuzzer's bytes make the choices (.ci/fuzz.sh runs it). A failure prints
// the seed or input, the configuration, and the trace: every step and every
// frame the server wrote. -invariants.skip kind,kind (or the environment's
// INVARIANTS_SKIP, for .ci/fuzz.sh) ignores violations of those kinds, to
// look past a known fault. The kinds:
//
//	per stream, from the wire (RFC 9113 sections 5.1, 6.9, 8.1):
//	  end_stream_twice, rst_twice, frame_after_rst, frame_after_end_stream,
//	  closed_stream (a frame after END_STREAM both ways),
//	  frame_after_peer_rst (after the server read the client's RST_STREAM),
//	  stream_window, conn_window, frame_size, headers (order of heads and
//	  trailers), body (length against the handler's writes and
//	  content-length, none for HEAD/204/304), content (the bytes), idle_stream
//	per connection: conn_error (GOAWAY with an error), goaway, ping,
//	  settings, frame, unparseable
//	the handler API: read (Read's bytes and io.EOF), liveness (with every
//	  window open, a response the handler ended has ended on the wire, a
//	  Write does not wait), handler_stuck
//	after the end: serve_conn, leak_goroutine, leak_timer, leak_buffer_reader,
//	  leak_buffer_writer, leak_buffer_stream, after_end (hooks, logs or
//	  writer items an hour later), hooks (StreamStarted/StreamEnded pairs)
//	script (a fixed script's step is not legal)

import (
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

var (
	invSeeds = flag.Int("invariants.seeds", 0, "TestInvariants: seeds to run (default 1000, or 100 with -short)")
	invSeed  = flag.Uint64("invariants.seed", 0, "TestInvariants: run this seed only")
	invSteps = flag.Int("invariants.steps", 0, "TestInvariants: steps per seed (default 150, or 80 with -short)")
	invSkip  = flag.String("invariants.skip", "", "violation kinds to ignore, comma-separated")
	invTrace = flag.Bool("invariants.trace", false, "log the trace of passing runs too")
)

func TestInvariants(t *testing.T) {
	seeds, steps := 1000, 150
	if testing.Short() {
		seeds, steps = 100, 80
	}
	if *invSeeds > 0 {
		seeds = *invSeeds
	}
	if *invSteps > 0 {
		steps = *invSteps
	}
	first := uint64(1)
	if *invSeed != 0 {
		first, seeds = *invSeed, 1
	}
	found := map[string][]string{} // violation kind: seed (steps)
	traces := 3                    // failures logged with their trace; the others, briefly
	for seed := first; seed < first+uint64(seeds); seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			ch := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
			synctest.Test(t, func(t *testing.T) {
				o := invOpts{ch: ch, steps: steps, brief: traces <= 0, rerun: fmt.Sprintf("-invariants.seed=%d", seed)}
				// Recorded here: a failed bubble ends its test.
				if r := runInvariants(t, o); len(r.viol) > 0 {
					traces--
					v := r.viol[0]
					found[v.kind] = append(found[v.kind], fmt.Sprintf("%d (step %d)", seed, v.step))
				}
			})
		})
	}
	for _, kind := range slices.Sorted(maps.Keys(found)) {
		seeds := found[kind]
		t.Logf("%s: %d seeds, the first %s", kind, len(seeds), strings.Join(seeds[:min(len(seeds), 5)], ", "))
	}
}

func FuzzInvariants(f *testing.F) {
	for seed := uint64(1); seed <= 4; seed++ {
		rng := rand.New(rand.NewPCG(seed, 1))
		b := make([]byte, 300*int(seed))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		synctest.Test(t, func(t *testing.T) { runInvariants(t, invOpts{ch: &invBytes{b: data}, steps: 500}) })
	})
}

// runScript runs fixed steps (see parseInvStep) under cfg, ignoring
// violations of the kinds in ignore.
func runScript(t *testing.T, cfg invConfig, ignore []string, script ...string) {
	t.Helper()
	var steps []invStep
	for _, s := range script {
		st, err := parseInvStep(s)
		if err != nil {
			t.Fatal(err)
		}
		steps = append(steps, st)
	}
	synctest.Test(t, func(t *testing.T) {
		runInvariants(t, invOpts{steps: len(steps), script: steps, cfg: &cfg, ignore: ignore})
	})
}

// invOpts says what runInvariants runs.
type invOpts struct {
	ch     invChooser // makes the choices of a generated run
	steps  int
	script []invStep  // or these steps
	cfg    *invConfig // nil: chosen by ch
	ignore []string   // violation kinds to ignore
	brief  bool       // on failure, log the violations but not the trace
	rerun  string     // the flag that runs this again
}

// runInvariants runs one connection: the script if given, else steps
// generated by ch, then the end checks. It runs inside synctest.Test.
func runInvariants(t *testing.T, o invOpts) *invRun {
	ch, script, cfg := o.ch, o.script, o.cfg
	if cfg == nil {
		c := chooseConfig(ch)
		cfg = &c
	}
	r := newInvRun(t, *cfg)
	for _, k := range o.ignore {
		r.skip[k] = true
	}
	if script == nil {
		r.generated = true
		r.swarm = chooseSwarm(ch)
	}
	// A generated run stops at its first violation, a script runs to its end.
	for i := 0; i < o.steps && (script != nil || len(r.viol) == 0) && !r.srvClosed && !r.hungUp; i++ {
		var s invStep
		if script != nil {
			s = script[i]
			if why := r.why(s); why != "" {
				r.violate("script", "step %d %v: %s", i, s, why)
				break
			}
		} else {
			var ok bool
			if s, ok = r.generate(ch); !ok {
				break
			}
			if b, ok := ch.(*invBytes); ok && b.out {
				break
			}
		}
		r.step = i
		r.tracef("#%d %v", i, s)
		r.exec(s)
		r.settle()
	}
	if r.generated && !r.hungUp && ch.IntN(4) == 1 { // not when the fuzzer's bytes ran out
		r.step++
		r.tracef("#%d hangup", r.step)
		r.exec(invStep{kind: kHangup})
	}
	// Handlers that return before the client hangs up, or after.
	r.finish(!r.generated || ch.IntN(2) == 0, r.generated && ch.IntN(3) == 1)
	if len(r.viol) > 0 || *invTrace {
		log := t.Logf
		if len(r.viol) > 0 {
			log = t.Errorf
		}
		swarm := ""
		if r.generated {
			swarm = fmt.Sprintf(", swarm %v", r.swarm)
		}
		var vs []string
		for _, v := range r.viol {
			vs = append(vs, fmt.Sprintf("step %d: %s: %s", v.step, v.kind, v.msg))
		}
		trace := "trace:\n" + strings.Join(r.trace, "\n")
		if o.brief {
			trace = "trace: run with " + o.rerun
		}
		log("config %+v%s\nviolations:\n\t%s\n%s", *cfg, swarm, strings.Join(vs, "\n\t"), trace)
	}
	return r
}

// settle lets the server run until everything is idle, then takes in the
// handlers' reports and checks the frames the server wrote.
func (r *invRun) settle() {
	synctest.Wait()
	for len(r.reg) > 0 {
		h := <-r.reg
		r.streams[h.st.ID()].h = h // a resumed stream's replaces the one that waited
		r.handlers = append(r.handlers, h)
	}
	for len(r.results) > 0 {
		r.onResult(<-r.results)
	}
	r.mu.Lock()
	for _, s := range r.rejected {
		r.tracef("\t\trejected %s", s)
	}
	r.rejected = r.rejected[:0]
	r.mu.Unlock()
	r.readFrames()
	r.decided = r.step + 1
}

// finish ends the run: liveness with every window open (and the
// handlers returned, if returnFirst), a GOAWAY if goAway, then the client
// hangs up, the handlers return, and nothing of the connection may remain.
func (r *invRun) finish(returnFirst, goAway bool) {
	r.step++
	r.tracef("#%d finish", r.step)
	if r.stalled && !r.hungUp {
		r.exec(invStep{kind: kUnstall})
		r.settle()
	}
	if !r.srvClosed && !r.connFailed && !r.hungUp {
		r.takeIn()
		for _, id := range r.order {
			if st := r.streams[id]; !st.closedForClient() && st.win < 1<<20 {
				r.exec(invStep{kind: kWindow, id: id, n: int(1<<20 - st.win)})
			}
		}
		if r.connWin < 1<<30 { // enough for every stream's send buffer
			r.exec(invStep{kind: kWindow, n: int(1<<30 - r.connWin)})
		}
		r.settle()
		if returnFirst {
			r.returnHandlers()
		}
		r.checkLiveness()
		if goAway && !r.sentGoAway && !r.srvClosed {
			r.exec(invStep{kind: kGoAway}) // the server closes once nothing remains
			r.settle()
		}
	}
	r.cc.Close()
	r.settle()
	select {
	case <-r.served:
	default:
		r.violate("serve_conn", "ServeConn did not return after the client closed the connection")
	}
	r.returnHandlers()
	r.returnHandlers() // those whose action the end of the connection released
	for _, h := range r.handlers {
		if h.wbusy != "" || h.rbusy != "" || !h.wdone || !h.rdone {
			r.violate("handler_stuck", "stream %d: the handler is still in %q %q after the connection ended", h.st.ID(), h.wbusy, h.rbusy)
		}
	}
	r.checkGone()
}

// returnHandlers has every idle handler return.
func (r *invRun) returnHandlers() {
	for _, id := range r.order {
		if h := r.streams[id].h; h != nil && !h.returned {
			h.closeReads()
			if h.wbusy == "" {
				r.exec(invStep{kind: kReturn, id: id})
			}
		}
	}
	r.settle()
}

// checkLiveness runs with every window open: a response the handler ended
// must have ended on the wire, and no Write may still wait.
func (r *invRun) checkLiveness() {
	for _, id := range r.order {
		st := r.streams[id]
		h := st.h
		if h == nil || st.sRST || st.cRST || st.sEnd {
			continue
		}
		switch {
		case h.sendEnded:
			r.violate("liveness", "stream %d: the handler ended the response, every window is open, and no END_STREAM came", id)
		case h.normal:
			r.violate("liveness", "stream %d: the handler returned, every window is open, and the stream neither ended nor was reset", id)
		case strings.HasPrefix(h.wbusy, "h.write"):
			r.violate("liveness", "stream %d: %s still blocks with every window open", id, h.wbusy)
		}
	}
}

// checkGone checks, after the end, that the connection left nothing: no
// goroutine, no armed timer, no pooled buffer, no activity later on.
func (r *invRun) checkGone() {
	c := r.c
	if c != nil {
		// Before the hour passes, which would fire them.
		c.mu.Lock()
		rare := c.life.rare
		if rare == nil {
			rare = new(lifeRare)
		}
		for _, tm := range []struct {
			name string
			t    *time.Timer
		}{{"settings", c.life.settingsTimer}, {"keepalive", c.life.keepalive},
			{"shutdown", rare.shutdownTimer}, {"age", rare.ageTimer}, {"sweep", c.life.sweep}} {
			if tm.t != nil && tm.t.Stop() {
				r.violate("leak_timer", "the %s timer is armed after the connection ended", tm.name)
			}
		}
		r.srv.idle.mu.Lock()
		if c.idleIdx != 0 {
			r.violate("leak_timer", "the connection is in the Server's idle queue after it ended")
		}
		r.srv.idle.mu.Unlock()
		// Every handler returned: no worker counts as busy, and no
		// stream waits in the run queue (handler.go).
		if c.workers.busy != 0 || c.workers.queued.Load() {
			r.violate("leak_worker", "%d workers busy, run queue not empty: %v, after every handler returned", c.workers.busy, c.workers.queued.Load())
		}
		c.mu.Unlock()
		// Every byte held for a handler and every window's growth left
		// the receive budget (recvwin.go).
		if u := r.srv.recv.used.Load(); u != 0 {
			r.violate("leak_budget", "%d bytes of the receive budget still used after the connection ended", u)
		}
	}
	r.mu.Lock()
	before := r.activity
	r.mu.Unlock()
	logs := len(r.logs.String())
	queued := 0
	if c != nil {
		queued = len(c.wq.swap(nil))
	}
	time.Sleep(time.Hour)
	synctest.Wait()
	r.mu.Lock()
	after := r.activity
	r.mu.Unlock()
	if after != before || len(r.logs.String()) != logs {
		r.violate("after_end", "the server was active an hour after the connection ended: %d hook calls, log:\n%s", after-before, r.logs.String()[logs:])
	}
	if c != nil {
		if items := c.wq.swap(nil); len(items) > 0 {
			r.violate("after_end", "%d item(s) pushed to the writer's queue after the connection ended (%d before), the first of kind %d", len(items), queued, items[0].kind)
		}
	}
	if r.cfg.Hooks && (r.started != r.ended || r.connClosed != 1) {
		r.violate("hooks", "StreamStarted %d times, StreamEnded %d, ConnClosed %d", r.started, r.ended, r.connClosed)
	}
	if c == nil {
		return
	}
	if w := c.w; w != nil {
		if w.fr != nil {
			r.violate("leak_buffer_writer", "the writer holds a running goroutine's part (its batch buffer, body chunks, Framer) after the connection ended")
		}
	}
	if c.rd.br != nil && (c.rd.br.pool != nil || c.rd.br.mid != nil) {
		r.violate("leak_buffer_reader", "the reader holds a pooled read buffer after the connection ended")
	}
	for _, id := range r.order {
		if h := r.streams[id].h; h != nil {
			st := h.st
			if len(st.send.buf.chunks) > 0 || len(st.recv.buf.chunks) > 0 || st.send.headArr != nil {
				r.violate("leak_buffer_stream", "stream %d holds buffers after the connection ended: send %d chunks (%d bytes), receive %d, head %v (queued %v, blocked %v, window %d, %v)",
					id, len(st.send.buf.chunks), st.send.buf.Len(), len(st.recv.buf.chunks), st.send.headArr != nil, st.send.queued, st.out.blocked, st.out.window, st.send.err)
			}
		}
	}
	if left := packageGoroutines(r.goroutines); len(left) > 0 {
		r.violate("leak_goroutine", "%d goroutine(s) left after the connection ended; the first:\n%s", len(left), left[0])
	}
}

// The faults the checker found, each as a fixed script that fails until
// it is fixed. A script's steps must stay legal: "sync" is where the client
// takes in what the server sent, so a frame sent before it may cross the
// server's.

var invDefault = invConfig{MaxStreams: 100, StreamWin: 65535, ConnWin: 1 << 20, ClientIWS: 65535, ClientMFS: 16384, MaxBusy: 1}

// A stream blocked by a lowered INITIAL_WINDOW_SIZE, whose handler's Close
// and the client's WINDOW_UPDATE reach the writer in one batch, enters
// the writer's ring twice and is ended twice.
func TestInvariant_EndStreamOnce_LoweredWindow(t *testing.T) {
	runScript(t, invDefault, nil,
		"open 1 GET es",
		"h.write 1 1000",     // buffered, under a frame: not yet handed to the writer
		"settings 0 0 16384", // stream 1's window: 65535 -> 0
		"h.flush 1",          // HEADERS; the 1000 bytes wait: the stream is parked
		"stall",              // the client stops reading,
		"ping",               // so the writer blocks writing the PING ACK
		"h.close 1",          // the stream is queued (the handler's push)
		"window 1 1000",      // and the WINDOW_UPDATE, which pushes it again
		"unstall",            // one batch: DATA 1000 END_STREAM, then DATA 0 END_STREAM
	)
}

// The same through the connection window: a parked stream that a
// WINDOW_UPDATE or a raised INITIAL_WINDOW_SIZE releases while the
// connection's window is spent waits in the ring, where the handler's
// Close or WriteTrailers (or Flush) puts it again. FuzzInvariants found the
// SETTINGS form (testdata/fuzz/FuzzInvariants).
func TestInvariant_EndStreamOnce_ConnWindow(t *testing.T) {
	for _, release := range []string{"window 1 1000", "settings 0 65535 16384"} {
		for _, end := range []string{"h.close 1", "h.trailers 1"} {
			t.Run(strings.Fields(release)[0]+"/"+strings.Fields(end)[0], func(t *testing.T) {
				runScript(t, invDefault, nil,
					"open 1 GET es",
					"open 3 GET es",
					"h.write 3 65535", // spends the connection's window
					"h.write 1 1000",
					"settings 0 0 16384", // stream 1's window: 0
					"h.flush 1",          // parked
					release,              // released, into the ring, to wait for the connection
					end,                  // pushed again
					"window 0 65535",     // END_STREAM twice (DATA, or the trailers)
					"h.close 3",
				)
			})
		}
	}
}

// Frames the client sent before it learnt of the server's RST_STREAM each
// get another RST_STREAM (STREAM_CLOSED); RFC 9113 section 5.1 has the
// server ignore them ("closed": frames in flight after RST_STREAM).
func TestInvariant_RSTStreamOnce_InFlight(t *testing.T) {
	for _, reset := range []string{"h.return 1", "h.reset 1 CANCEL"} {
		t.Run(strings.Fields(reset)[0], func(t *testing.T) {
			runScript(t, invDefault, nil,
				"open 1 POST",
				reset,        // RST_STREAM (NO_ERROR after the response, or CANCEL)
				"data 1 100", // in flight: the client has not read it yet
				"trailers 1", // so is this
				"sync",
			)
		})
	}
}

// A client that hangs up while a request is open leaves the reader's pooled
// read buffer with the dead connection, which any handler still running
// keeps reachable.
func TestInvariant_NoBufferAfterEnd_Reader(t *testing.T) {
	runScript(t, invDefault, []string{"leak_timer"},
		"open 1 POST",
		"data 1 100",
		"hangup",
	)
}

// A client that hangs up while the server's writes wait: the failed write
// keeps the writer's pooled batch buffer.
func TestInvariant_NoBufferAfterEnd_Writer(t *testing.T) {
	runScript(t, invDefault, []string{"leak_buffer_reader", "leak_timer"},
		"open 1 GET es",
		"stall",
		"h.write 1 1000",
		"h.close 1", // the writer blocks writing the response
		"hangup",
	)
}

// A client that resets a stream while the server's writes wait, then hangs
// up: the writer, its write failed, never drops the stream's buffered body,
// and teardown resets only the streams still in the table.
func TestInvariant_NoBufferAfterEnd_ResetStream(t *testing.T) {
	runScript(t, invDefault, []string{"leak_buffer_reader", "leak_buffer_writer", "leak_timer"},
		"stall",
		"open 1 GET es",
		"open 3 GET es",
		"h.write 3 70000", // the writer blocks in the middle of stream 3's frames
		"h.write 1 20000", // stream 1 waits for the writer with 20000 bytes
		"rst 1 CANCEL",    // and leaves the table
		"hangup",
	)
}

// A handler that returns after the connection ended (the client hung up)
// re-arms the idle timer: handlerDone calls maybeCloseLocked, which arms
// it when no stream is left, after teardown stopped it. It fires five
// minutes later and queues a GOAWAY for a writer that is gone.
func TestInvariant_NoTimerAfterEnd_LateHandler(t *testing.T) {
	runScript(t, invDefault, []string{"leak_buffer_reader"},
		"open 1 GET es",
		"hangup", // then the handler returns
	)
}

// A stream admitted as the handler queue overflows (GOAWAY
// ENHANCE_YOUR_CALM) gets StreamStarted and never StreamEnded: its
// handler's reference is never released.
func TestInvariant_HooksPaired_HandlerQueueFull(t *testing.T) {
	cfg := invDefault
	cfg.MaxStreams, cfg.Hooks = 2, true
	runScript(t, cfg, []string{"conn_error"},
		"open 1 GET es", "open 3 GET es", // two handlers run, and keep running
		"rst 1 CANCEL", "rst 3 CANCEL",
		"open 5 GET es", "open 7 GET es", // two wait for a handler slot
		"rst 5 CANCEL", "rst 7 CANCEL",
		"open 9 GET es", // the queue is full: GOAWAY ENHANCE_YOUR_CALM
	)
}

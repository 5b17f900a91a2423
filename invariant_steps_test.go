package h2server

// The steps of the invariant test (invariant_test.go): what they are, how
// a run chooses them, when they are legal, and how they are carried out,
// the handlers' included.

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing/synctest"
	"time"
)

// invChooser makes the run's choices: a PCG for fixed seeds, the fuzzer's
// bytes for FuzzInvariants.
type invChooser interface{ IntN(n int) int }

// invBytes takes choices from bytes; when they run out, the run ends.
type invBytes struct {
	b   []byte
	out bool
}

func (c *invBytes) IntN(n int) int {
	if n <= 1 {
		return 0
	}
	v := 0
	for k := 0; k < 2 && (k == 0 || n > 256); k++ {
		if len(c.b) == 0 {
			c.out = true
			return 0
		}
		v = v<<8 | int(c.b[0])
		c.b = c.b[1:]
	}
	return v % n
}

// invKind is what a step does.
type invKind uint8

const (
	kSync     invKind = iota // the client takes in what the server sent
	kOpen                    // HEADERS opening stream id; n: method; end: END_STREAM
	kData                    // DATA of n bytes; end: END_STREAM
	kTrailers                // request trailers (END_STREAM)
	kWindow                  // WINDOW_UPDATE +n on id (0: the connection)
	kSettings                // SETTINGS INITIAL_WINDOW_SIZE n, MAX_FRAME_SIZE m
	kRST                     // RST_STREAM code n
	kPing
	kGoAway
	kGrant   // WINDOW_UPDATE +n on the connection and every open stream, at once
	kHangup  // the client closes the connection now: the run ends without opening windows
	kStall   // the client stops reading: the server's writes wait
	kUnstall // and resumes
	kSleep   // fake time passes: n ms
	// Handler actions on stream id.
	kRead          // Read into n bytes
	kCancelRead    // CancelRead(code n)
	kHeaders       // WriteHeaders(status n), Content-Length m if m >= 0
	kWrite         // Write n bytes
	kFlush         // Flush
	kClose         // Close
	kWriteTrailers // WriteTrailers
	kReset         // Reset(code n), from the driver's goroutine
	kReturn        // the handler returns
	kPanic         // the handler panics (n == 1: with errAbortStream)
	kAwait         // the handler calls WhenReadable and returns; its continuation serves on
)

var invKindNames = [...]string{"sync", "open", "data", "trailers", "window", "settings", "rst", "ping", "goaway",
	"grant", "hangup", "stall", "unstall", "sleep", "h.read", "h.cancelread", "h.headers", "h.write", "h.flush", "h.close",
	"h.trailers", "h.reset", "h.return", "h.panic", "h.await"}

var invMethods = []string{"GET", "POST", "HEAD"}

type invStep struct {
	kind invKind
	id   uint32
	n, m int
	end  bool
}

func (k invKind) handler() bool  { return k >= kRead }
func (k invKind) readSide() bool { return k == kRead || k == kCancelRead }

func (s invStep) String() string {
	b := []string{invKindNames[s.kind]}
	switch s.kind {
	case kSync, kPing, kGoAway, kHangup, kStall, kUnstall:
		return b[0]
	case kSleep:
		return b[0] + " " + (time.Duration(s.n) * time.Millisecond).String()
	case kGrant:
		return b[0] + " " + strconv.Itoa(s.n)
	}
	b = append(b, itoa(s.id))
	switch s.kind {
	case kOpen:
		b = append(b, invMethods[s.n])
	case kRST, kCancelRead, kReset:
		b = append(b, ErrCode(s.n).String())
	case kData, kWindow, kRead, kWrite, kPanic:
		b = append(b, strconv.Itoa(s.n))
	case kSettings, kHeaders:
		b = append(b, strconv.Itoa(s.n), strconv.Itoa(s.m))
	}
	if s.end {
		b = append(b, "es")
	}
	return strings.Join(b, " ")
}

// parseInvStep reads a step as String writes it, e.g. "open 1 POST",
// "data 1 100 es", "settings 0 0 16384", "h.write 1 5000", "sleep 1s".
func parseInvStep(s string) (invStep, error) {
	f := strings.Fields(s)
	k := slices.Index(invKindNames[:], f[0])
	if k < 0 {
		return invStep{}, fmt.Errorf("step %q: unknown kind", s)
	}
	st := invStep{kind: invKind(k), m: -1}
	var nums []int
	for _, a := range f[1:] {
		if a == "es" {
			st.end = true
		} else if i := slices.Index(invMethods, a); i >= 0 {
			nums = append(nums, i)
		} else if d, err := time.ParseDuration(a); err == nil && st.kind == kSleep {
			nums = append(nums, int(d/time.Millisecond))
		} else if n, err := strconv.Atoi(a); err == nil {
			nums = append(nums, n)
		} else {
			code := -1
			for i := range 14 {
				if ErrCode(i).String() == a {
					code = i
				}
			}
			if code < 0 {
				return invStep{}, fmt.Errorf("step %q: bad argument %q", s, a)
			}
			nums = append(nums, code)
		}
	}
	if st.kind == kSleep || st.kind == kGrant {
		nums = append([]int{0}, nums...)
	}
	for i, n := range nums {
		switch i {
		case 0:
			st.id = uint32(n)
		case 1:
			st.n = n
		case 2:
			st.m = n
		}
	}
	return st, nil
}

// invConfig is one run's server and client configuration.
type invConfig struct {
	MaxStreams uint32 // the server's MaxConcurrentStreams
	StreamWin  int32  // the server's InitialStreamWindowSize
	ConnWin    int32  // the server's InitialConnWindowSize
	ClientIWS  uint32 // the client's first SETTINGS_INITIAL_WINDOW_SIZE
	ClientMFS  uint32 // and SETTINGS_MAX_FRAME_SIZE
	Hooks      bool   // set every hook (streams then always have rare)
	MaxBusy    int32  // workers busy before streams queue (the run queue), whatever GOMAXPROCS is
}

func chooseConfig(ch invChooser) invConfig {
	pick := func(vs ...int) int { return vs[ch.IntN(len(vs))] }
	return invConfig{
		MaxStreams: uint32(pick(2, 4, 100)),
		StreamWin:  int32(pick(100, 16384, 65535, 256<<10)),
		ConnWin:    int32(pick(65535, 1<<20)),
		ClientIWS:  uint32(pick(0, 100, 16384, 65535, 65535)),
		ClientMFS:  uint32(pick(16384, 16384, 32768)),
		Hooks:      ch.IntN(2) == 0,
		MaxBusy:    int32(pick(1, 1, 2, 8)),
	}
}

// invWeights are the steps' odds (per stream, for those of a stream); each
// run multiplies them by its swarm factors (swarm testing: a run that never
// sends, or only stalls, goes where an average mix seldom does).
var invWeights = [...]int{kSync: 14, kOpen: 6, kData: 10, kTrailers: 1, kWindow: 6, kSettings: 8, kRST: 2,
	kPing: 3, kGoAway: 1, kGrant: 3, kStall: 4, kUnstall: 6, kSleep: 2, kRead: 8, kCancelRead: 1, kHeaders: 3,
	kWrite: 10, kFlush: 4, kClose: 4, kWriteTrailers: 2, kReset: 1, kReturn: 3, kPanic: 1, kAwait: 2}

func chooseSwarm(ch invChooser) (f [len(invWeights)]int) {
	for k := range f {
		f[k] = []int{0, 1, 1, 3}[ch.IntN(4)]
	}
	f[kSync], f[kOpen], f[kUnstall] = max(f[kSync], 1), max(f[kOpen], 1), 1
	return f
}

// generate picks the next step among the legal ones, by weight; ok is
// false when there is nothing left to do.
func (r *invRun) generate(ch invChooser) (invStep, bool) {
	type cand struct {
		w int
		s invStep
	}
	var cs []cand
	add := func(s invStep) {
		if s.kind == kWindow || s.kind == kData && !s.end {
			s.n = 1 // the least that may be legal; the size is chosen below
		}
		if w := invWeights[s.kind] * r.swarm[s.kind]; w > 0 && r.why(s) == "" {
			if s.kind == kData && s.end {
				w /= 4
			}
			cs = append(cs, cand{w, s})
		}
	}
	for _, s := range []invStep{{kind: kSync}, {kind: kOpen, id: r.nextID}, {kind: kPing}, {kind: kSettings},
		{kind: kWindow}, {kind: kGoAway}, {kind: kGrant}, {kind: kStall}, {kind: kUnstall}, {kind: kSleep}} {
		add(s)
	}
	for _, id := range r.order {
		for k := kData; k <= kAwait; k++ {
			if k != kSettings && (k < kPing || k > kSleep) {
				add(invStep{kind: k, id: id})
			}
		}
		add(invStep{kind: kData, id: id, end: true})
	}
	total := 0
	for _, c := range cs {
		total += c.w
	}
	if total == 0 {
		return invStep{}, false
	}
	x := ch.IntN(total)
	var s invStep
	for _, c := range cs {
		if x < c.w {
			s = c.s
			break
		}
		x -= c.w
	}
	pick := func(vs ...int) int { return vs[ch.IntN(len(vs))] }
	st := r.streams[s.id]
	switch s.kind {
	case kOpen:
		s.n = pick(0, 0, 1, 1, 1, 2)
		s.end = s.n != 1
		if ch.IntN(8) == 0 {
			s.end = !s.end
		}
	case kData:
		room := int(min(st.cWin, r.kConnWin, int64(r.srvMaxFrame)))
		if s.end {
			s.n = pick(0, room)
		} else {
			s.n = min(room, pick(1, 100, 1000, 16384, room))
		}
	case kWindow:
		win := r.connWin
		if st != nil {
			win = st.win
		}
		s.n = pick(1, 100, 1000, 16384, 65535, int(max(1, 65535-win)))
		if r.swarm[kWindow] == 1 { // a stingy client
			s.n = pick(1, 100, 1000, 1000, 16384)
		}
	case kSettings:
		s.n = pick(0, 0, 1, 100, 1000, 16384, 65535, 65535, 256<<10)
		if r.lastIWS < 1000 && ch.IntN(2) == 0 {
			s.n = pick(65535, 256<<10) // and up again
		}
		s.m = pick(16384, 16384, 16384, 32768)
	case kGrant:
		s.n = pick(1, 100, 1000, 16384, 65535)
	case kRST, kReset, kCancelRead:
		s.n = pick(int(ErrCodeCancel), int(ErrCodeNo), int(ErrCodeInternal))
	case kSleep:
		s.n = pick(10, 150, 1000, 31000, 6*60000)
	case kRead:
		s.n = pick(1, 100, 16384, 65536)
	case kWrite:
		s.n = pick(1, 1000, 16384, 70000)
	case kHeaders:
		s.n, s.m = pick(103, 200, 200, 200, 204, 500), -1
		if s.n == 200 && ch.IntN(3) == 0 {
			s.m = pick(0, 10, 20000)
		}
	case kPanic:
		s.n = ch.IntN(2)
	}
	return s, true
}

// invHandler is a stream's handler as the driver sees it: two goroutines
// taking actions from w (send side, return, panic, await) and r (receive
// side). After h.await, the continuation that WhenReadable runs registers
// a handler of its own for the stream, which carries on from the counts
// of the one before.
type invHandler struct {
	st                *Stream
	w, r              chan invStep
	wbusy, rbusy      string // the action running; "" when idle
	returned          bool   // return or panic sent
	rclosed           bool   // r is closed: the receive side's goroutine exits
	wdone, rdone      bool   // the goroutine exited
	written, read     int64  // body bytes Write accepted, Read returned
	sendEnded, normal bool   // Close or WriteTrailers succeeded, or a normal return
}

func (h *invHandler) closeReads() {
	if !h.rclosed {
		h.rclosed = true
		close(h.r)
	}
}

// invResult reports one handler action, or a goroutine's exit.
type invResult struct {
	h      *invHandler
	id     uint32
	s      invStep
	n      int
	err    error
	exited bool
	read   bool   // from the receive-side goroutine
	bad    string // what the goroutine found wrong
}

// respByte and reqByte are the bytes of response and request bodies, so
// that each side can check the other's bytes in place and order.
func respByte(id uint32, off int64) byte { return byte(int64(id)*31 + off*7 + off>>8) }
func reqByte(id uint32, off int64) byte  { return byte(int64(id)*17 + off*5 + off>>9 + 1) }

func (r *invRun) serveStream(st *Stream) { r.serveFrom(st, invCarry{}, false) }

// invCarry is what a resumed handler takes over from the one that called
// WhenReadable.
type invCarry struct {
	read, written int64
	sendEnded     bool
}

// serveFrom serves st as serveStream, carrying on from c; blocked says
// the stream was resumed while a Read would block.
func (r *invRun) serveFrom(st *Stream, c invCarry, blocked bool) {
	h := &invHandler{st: st, w: make(chan invStep), r: make(chan invStep), read: c.read, written: c.written, sendEnded: c.sendEnded}
	id := st.ID()
	go func() {
		off := c.read
		for s := range h.r {
			res := invResult{h: h, id: id, s: s, read: true}
			if s.kind == kCancelRead {
				st.CancelRead(ErrCode(s.n))
			} else {
				p := make([]byte, s.n)
				res.n, res.err = st.Read(p)
				for i, b := range p[:res.n] {
					if b != reqByte(id, off+int64(i)) {
						res.bad = fmt.Sprintf("Read: byte %d of the body is %#x, the client sent %#x", off+int64(i), b, reqByte(id, off+int64(i)))
						break
					}
				}
				off += int64(res.n)
			}
			r.results <- res
		}
		r.results <- invResult{h: h, id: id, read: true, exited: true}
	}()
	r.reg <- h
	if blocked {
		r.results <- invResult{h: h, id: id, s: invStep{kind: kAwait, id: id}, bad: "WhenReadable resumed the stream while a Read would block"}
	}
	defer func() { r.results <- invResult{h: h, id: id, exited: true} }()
	off := c.written
	for s := range h.w {
		res := invResult{h: h, id: id, s: s}
		switch s.kind {
		case kHeaders:
			hdr := http.Header{}
			if s.m >= 0 {
				hdr.Set("Content-Length", strconv.Itoa(s.m))
			}
			res.err = st.WriteHeaders(s.n, hdr)
		case kWrite:
			p := make([]byte, s.n)
			for i := range p {
				p[i] = respByte(id, off+int64(i))
			}
			res.n, res.err = st.Write(p)
			off += int64(res.n)
		case kFlush:
			res.err = st.Flush()
		case kClose:
			res.err = st.Close()
		case kWriteTrailers:
			res.err = st.WriteTrailers(http.Header{"X-Trailer": {"done"}})
		case kReturn:
			r.results <- res
			return
		case kAwait:
			// The driver took in every result before sending this: h's
			// counts are final, and the receive side's goroutine is idle.
			c := invCarry{read: h.read, written: h.written, sendEnded: h.sendEnded}
			st.WhenReadable(func(st *Stream) {
				st.recv.mu.Lock()
				ok := st.readableLocked()
				st.recv.mu.Unlock()
				r.serveFrom(st, c, !ok)
			})
			r.results <- res
			return
		case kPanic:
			r.results <- res
			if s.n == 1 {
				panic(errAbortStream)
			}
			panic("invariant test: handler panics")
		}
		r.results <- res
	}
}

// onResult takes in a handler's report.
func (r *invRun) onResult(res invResult) {
	s := r.streams[res.id]
	h := res.h // s.h may be the handler that a continuation started since
	switch {
	case res.exited && res.read:
		h.rdone = true
		return
	case res.exited:
		h.wdone = true
		return
	case res.read:
		h.rbusy = ""
	default:
		h.wbusy = ""
	}
	if res.err != nil || res.n > 0 || res.s.kind == kReturn {
		r.tracef("\t\th%d %v -> %d %v", res.id, res.s, res.n, res.err)
	}
	if res.bad != "" {
		r.violate("read", "stream %d: %s", res.id, res.bad)
	}
	switch res.s.kind {
	case kRead:
		h.read += int64(res.n)
		if res.err == io.EOF && (!s.cEnd || h.read != s.cSent) {
			r.violate("read", "stream %d: Read returned io.EOF after %d bytes; the client sent %d, end_stream=%v", res.id, h.read, s.cSent, s.cEnd)
		}
	case kWrite:
		h.written += int64(res.n)
	case kClose, kWriteTrailers:
		h.sendEnded = h.sendEnded || res.err == nil
	case kReturn:
		h.normal = true
	}
}

// why says why step s is not legal now, or "".
func (r *invRun) why(s invStep) string {
	st := r.streams[s.id]
	if s.kind.handler() {
		switch {
		case st == nil || st.h == nil:
			return "no handler runs for the stream"
		case st.h.returned:
			return "the handler returned"
		case s.kind == kReset:
			return ""
		case (s.kind.readSide() || s.kind == kAwait) && st.h.rbusy != "":
			return "the handler's reader is busy with " + st.h.rbusy
		case !s.kind.readSide() && st.h.wbusy != "":
			return "the handler is busy with " + st.h.wbusy
		}
		return ""
	}
	if r.srvClosed && s.kind != kSync && s.kind != kSleep {
		return "the server closed the connection"
	}
	switch s.kind {
	case kOpen:
		switch {
		case s.id != r.nextID:
			return fmt.Sprintf("the next stream is %d", r.nextID)
		case r.kGoAway || r.sentGoAway:
			return "GOAWAY was sent or received"
		case r.nextID > 60:
			return "enough streams"
		case r.openStreams() >= int(r.srvMaxStreams):
			return "MAX_CONCURRENT_STREAMS streams are open"
		case r.generated && r.handlerQueueFull():
			return "the server's handler queue is full"
		}
	case kData, kTrailers:
		switch {
		case st == nil:
			return "no such stream"
		case st.cEnd || st.cRST || st.kRST:
			return "the stream is closed for sending"
		case s.kind == kData && s.n == 0 && !s.end:
			return "an empty DATA frame"
		case s.kind == kData && (int64(s.n) > st.cWin || int64(s.n) > r.kConnWin || s.n > int(r.srvMaxFrame)):
			return "beyond the window or the frame size"
		}
	case kWindow:
		win := r.connWin
		if s.id != 0 {
			if st == nil || st.closedForClient() {
				return "the stream is closed"
			}
			win = st.win + max(0, int64(r.lastIWS)-int64(r.iws))
		}
		if s.n < 1 || win+int64(s.n) > 1<<30 {
			return "a bad increment"
		}
	case kRST:
		if st == nil || st.closedForClient() {
			return "the stream is closed"
		}
	case kGrant:
		if s.n < 1 || s.n > 1<<20 || r.connWin > 1<<29 {
			return "a bad increment"
		}
	case kGoAway:
		if r.sentGoAway {
			return "GOAWAY was sent"
		}
	case kStall:
		if r.stalled {
			return "stalled already"
		}
	case kUnstall:
		if !r.stalled {
			return "not stalled"
		}
	}
	return ""
}

// handlerQueueFull peeks at the server, as no client can: handlers
// outlive the streams a client resets, and the server ends a connection
// whose streams wait for handler slots in numbers (limits.go), a limit this
// test is not about.
func (r *invRun) handlerQueueFull() bool {
	if r.c == nil {
		return false
	}
	r.c.mu.Lock()
	defer r.c.mu.Unlock()
	pending := 0
	if q := r.c.queues; q != nil {
		pending = len(q.pending)
	}
	return int(r.c.handlers)+pending >= 2*int(r.c.cfg.maxConcurrentStreams)-1
}

// exec carries out step s, which why found legal.
func (r *invRun) exec(s invStep) {
	st := r.streams[s.id]
	switch s.kind {
	case kSync:
		r.takeIn()
	case kOpen:
		st = &invStream{id: s.id, method: invMethods[s.n], cWin: r.srvIWS, win: int64(r.lastIWS), openSeq: r.sentSeq, declared: -1}
		r.streams[s.id] = st
		r.order = append(r.order, s.id)
		r.nextID += 2
		r.fr.WriteHeaders(r.headersParam(s.id, s.end, reqFields(st.method, "/inv")...))
		r.clientEnd(st, s.end)
	case kData:
		p := make([]byte, s.n)
		for i := range p {
			p[i] = reqByte(s.id, st.cSent+int64(i))
		}
		r.fr.WriteData(s.id, s.end, p)
		st.cSent += int64(s.n)
		st.cWin -= int64(s.n)
		r.kConnWin -= int64(s.n)
		r.clientEnd(st, s.end)
	case kTrailers:
		r.fr.WriteHeaders(r.headersParam(s.id, true, "x-request-trailer", "1"))
		r.clientEnd(st, true)
	case kWindow:
		r.fr.WriteWindowUpdate(s.id, uint32(s.n))
		if st == nil {
			r.connWin += int64(s.n)
		} else {
			st.win += int64(s.n)
		}
	case kSettings:
		r.sendSettings(uint32(s.n), uint32(s.m))
	case kGrant:
		for _, id := range r.order {
			if st := r.streams[id]; !st.closedForClient() && st.win < 1<<29 {
				r.exec(invStep{kind: kWindow, id: id, n: s.n})
			}
		}
		r.exec(invStep{kind: kWindow, n: s.n})
	case kRST:
		r.fr.WriteRSTStream(s.id, http2ErrCode(s.n))
		st.cRST, st.cRSTStep = true, r.step
	case kPing:
		r.fr.WritePing(false, [8]byte{'i', 'n', 'v'})
		r.pings++
	case kGoAway:
		r.fr.WriteGoAway(0, http2ErrCode(0), nil)
		r.sentGoAway = true
	case kHangup:
		r.hungUp = true
	case kStall:
		r.sc.stallWrites(true)
		r.stalled, r.stallStep = true, r.step
	case kUnstall:
		r.sc.stallWrites(false)
		r.stalled = false
		r.decided = r.stallStep // frames decided during the stall come out now
	case kSleep:
		time.Sleep(time.Duration(s.n) * time.Millisecond)
		if !r.stalled {
			// Time passes for the client too: what the server sent has
			// arrived. (The server remembers the streams it reset for a
			// while, not for ever, reset.go: a client that learns of a
			// reset only minutes later may see a second RST_STREAM.)
			synctest.Wait()
			r.takeIn()
		}
	case kReset:
		st.h.st.Reset(ErrCode(s.n))
	case kRead, kCancelRead:
		st.h.rbusy = s.String()
		st.h.r <- s
	case kReturn, kPanic, kAwait:
		st.h.returned = true
		st.h.closeReads()
		fallthrough
	default:
		st.h.wbusy = s.String()
		st.h.w <- s
	}
}

func (r *invRun) clientEnd(st *invStream, end bool) {
	if end {
		st.cEnd, st.cEndStep = true, r.step
	}
}

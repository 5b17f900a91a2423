package h2server

import (
	"bytes"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// The life of a response
//
// A handler's WriteHeaders and Write fill the stream's send side (heads
// and send.buf) under the stream's send.mu, and Flush, a full frame of body, or the
// end of the response hands the stream to the writer by pushing one
// itemStream onto the connection's writeQueue; a stream already with the
// writer is not pushed again, so a handler writing in a loop costs no
// channel operation per Write. The writer drains the queue: control frames
// are written at once, streams join a ready ring per RFC 9218 urgency
// (priority.go). It then serves the most urgent ring, round-robin, one
// DATA frame per stream per turn, each frame bounded by
// the stream's window, the connection's window and the peer's
// MAX_FRAME_SIZE. A stream out of stream window is parked until the peer's
// WINDOW_UPDATE; when the connection window is spent the ring waits whole.
// Frames accumulate in a bufio.Writer that is flushed once, when the writer
// runs out of work: one syscall for many frames.

// itemKind says what a writeItem asks of the writer.
type itemKind uint8

const (
	itemNone         itemKind = iota // nothing: wakes the writer (writeQueue.open)
	itemStream                       // st has heads, data, an end, or a failure to act on
	itemSettings                     // our SETTINGS (and connection WINDOW_UPDATE) at the start
	itemPeerSettings                 // apply the peer's SETTINGS, then ACK them
	itemPing                         // PING with data
	itemPingAck                      // PING ACK with data
	itemWindowUpdate                 // WINDOW_UPDATE n for stream id (0: connection; st, the stream, if known): window we give back
	itemPeerWindow                   // the peer's WINDOW_UPDATE n for st (nil: connection)
	itemReset                        // RST_STREAM code on stream id (st when it is still known)
	itemGoAway                       // GOAWAY id, code, debug
	itemClose                        // flush, then half-close the transport
	itemPriority                     // st's priority becomes decodePriority(n) (RFC 9218)
	itemStallCheck                   // StallTimeout passed for the oldest stalled stream
)

// writeItem is one instruction to the writer. It is passed by value so
// that queueing costs no allocation once the queue's slice has grown.
type writeItem struct {
	kind     itemKind
	st       *Stream
	id       uint32
	n        uint32
	code     ErrCode
	data     [8]byte
	debug    string
	settings []http2.Setting
	streams  []*Stream // with itemPeerSettings: open streams when INITIAL_WINDOW_SIZE changed
	always   bool      // with itemReset: write it even if the stream closed meanwhile
}

// writeQueue is the writer's inbox: a mutex-guarded slice and a one-slot
// wake-up channel. Any goroutine may push; only the writer drains.
type writeQueue struct {
	mu    sync.Mutex
	items []writeItem  // guarded by mu
	ctrl  atomic.Int32 // queued items other than itemStream; written under mu
	// wake has one slot: items were pushed. Made, under mu, as a writer
	// goroutine starts and dropped as it retires, so an idle connection
	// keeps no channel; the running writer reads it without mu, as only
	// it may drop it.
	wake  chan struct{}
	space chan struct{} // guarded by mu: one slot, the writer drained the queue (see conn.throttle); made by its first wait
	n     atomic.Int32  // len(items), readable without mu
	// The writer goroutine runs only while there is work, and a little
	// after: an idle connection has no writer goroutine.
	running bool // guarded by mu: a writer goroutine runs or is starting
	stopped bool // guarded by mu: no writer may start again
	// retireNow: the reader parked, so an idle writer exits at once
	// instead of lingering.
	retireNow atomic.Bool
	w         *writer // guarded by mu: the writer whose goroutines the queue starts; set by open
	wg        sync.WaitGroup
}

// open makes the queue start writers, with first (our SETTINGS) ahead of
// anything queued before: RFC 9113 section 3.4 has the server's preface
// be its first frame, whatever else raced to be sent.
func (q *writeQueue) open(w *writer, first writeItem) {
	q.mu.Lock()
	q.w = w
	q.items = append(q.items, writeItem{})
	copy(q.items[1:], q.items)
	q.items[0] = first
	q.ctrl.Add(1)
	q.mu.Unlock()
	q.push(writeItem{kind: itemNone})
}

func (q *writeQueue) push(it writeItem) {
	q.mu.Lock()
	if it.kind != itemNone {
		q.items = append(q.items, it)
		if it.kind != itemStream {
			q.ctrl.Add(1)
		}
	}
	q.n.Store(int32(len(q.items)))
	spawn := !q.running && !q.stopped && q.w != nil && len(q.items) > 0
	if spawn {
		q.running = true
		q.wake = make(chan struct{}, 1)
		q.wg.Add(1) // under mu, so that it precedes stop and the Wait after it
	}
	ch, w := q.wake, q.w
	q.mu.Unlock()
	if spawn {
		go w.goroutine()
	} else {
		wake(ch)
	}
}

// wakeWriter wakes the writer goroutine, if one runs.
func (q *writeQueue) wakeWriter() {
	q.mu.Lock()
	ch := q.wake
	q.mu.Unlock()
	wake(ch)
}

// retire lets the writer goroutine exit, unless work arrived meanwhile.
// The queue's array goes too: an idle connection holds none.
func (q *writeQueue) retire() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) > 0 {
		return false
	}
	q.running = false
	q.items = nil
	q.wake = nil
	return true
}

// retireSoon tells a lingering writer to exit now; the reader calls it as
// it parks.
func (q *writeQueue) retireSoon() {
	q.retireNow.Store(true)
	q.wakeWriter()
}

// isRunning reports whether a writer goroutine runs or is starting.
func (q *writeQueue) isRunning() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.running
}

// stop keeps any further writer goroutine from starting.
func (q *writeQueue) stop() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.stopped = true
}

// controlQueued returns how many control items wait; the reader checks it
// after every frame, without a lock, to stop feeding a writer that cannot
// keep up.
func (q *writeQueue) controlQueued() int { return int(q.ctrl.Load()) }

// swap hands the queued items to the writer in exchange for an empty
// slice, so the writer processes them without holding mu.
func (q *writeQueue) swap(spare []writeItem) []writeItem {
	q.mu.Lock()
	items := q.items
	q.items = spare[:0]
	q.ctrl.Store(0)
	q.n.Store(0)
	space := q.space
	q.mu.Unlock()
	wake(space) // nil unless the reader ever waited for room
	return items
}

// spaceChan returns the channel swap wakes, making it: only a reader
// that must wait for the writer (conn.throttle) needs one.
func (q *writeQueue) spaceChan() chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.space == nil {
		q.space = make(chan struct{}, 1)
	}
	return q.space
}

// writer is the connection's only socket writer. Every field is owned by
// the writer goroutine (and, between its goroutines, by whichever runs:
// writeQueue.running hands the writer from one to the next).
type writer struct {
	c *conn
	// fr is the part only a running writer goroutine needs: its Framer,
	// batch buffer, header block buffer and scratch slices, pooled while
	// no goroutine runs (writeFramer).
	fr   *writeFramer
	henc *hpack.Encoder // writes into fr.hbuf (encSink)
	sock *net.TCPConn   // the socket, when chunks may be sent by reference

	maxFrameSize  uint32  // the peer's SETTINGS_MAX_FRAME_SIZE
	peerTableSize uint32  // the peer's SETTINGS_HEADER_TABLE_SIZE, for the encoder
	window        outflow // the connection's send window
	closing       bool    // itemClose seen
	stallArmed    bool    // stallTimer is set
	ready         readyRings
	err           error // the first write error; after it, nothing is written

	// Streams that cannot send for want of a window (see stall).
	stalls     []*Stream
	stallTimer *time.Timer
}

// outStream is the writer's own part of a Stream, kept apart from the
// handler-facing state as grpc-go's loopy writer keeps its outStream
// apart from the transport's Stream. The reader fills it in before the
// stream is shared; from then on only the writer goroutine touches it, so
// it needs no lock.
type outStream struct {
	window  outflow  // what the peer lets us send on this stream
	prio    priority // RFC 9218
	inRing  bool     // in a ready ring (or writeRound's waiting list): at most once
	blocked bool     // out of stream window: out of the rings until a WINDOW_UPDATE
	ended   bool     // END_STREAM is written: no more HEADERS or DATA
	reset   bool     // RST_STREAM is written: nothing more at all
	listed  bool     // in writer.stalls
	stalled bool     // waiting for a window since stalledAt
	// stalledAt is when the stream last became unable to send, as a
	// duration since processStart.
	stalledAt time.Duration
}

func newWriter(c *conn) *writer {
	w := &writer{c: c, maxFrameSize: 16384, peerTableSize: 4096, window: 65535}
	if tc, ok := c.nc.(*net.TCPConn); ok {
		w.sock = tc
	}
	return w
}

// writeFramer is the part of a writer that only a running writer
// goroutine needs: the Framer it writes control frames and header blocks
// with, the sink that Framer writes through, the batch buffer, the header
// block buffer and the cache of encoded blocks, the write deadline's
// state, and scratch slices. Each
// writer goroutine takes one from writeFramerPool as it starts and gives
// it back as it retires: an idle connection keeps none (its writer is
// half the size it was with these in it), and one that opens, or wakes
// for a request, makes none. Nothing in it outlives a goroutine but
// buffers' capacity: the block cache, which belongs to the connection's
// encoder, and the scratch slices go at retire. A Framer's write buffer,
// and the header block buffer, grow to the largest frame or block
// written: big marks one past keepReadBuf, which is not pooled.
type writeFramer struct {
	*http2.Framer
	sink    frameSink
	bw      outBuf
	dw      deadlineWriter // bw.out with a WriteTimeout
	hbuf    bytes.Buffer
	blocks  *blockCache // made on first use
	waiting []*Stream   // scratch for writeRound
	spare   []writeItem // the queue's other array (writeQueue.swap)
	big     bool
}

var writeFramerPool sync.Pool

func (w *writer) takeFramer() *writeFramer {
	wf, _ := writeFramerPool.Get().(*writeFramer)
	if wf == nil {
		wf = new(writeFramer)
		wf.Framer = http2.NewFramer(&wf.sink, nil)
	}
	// A goroutine's first write sets the write deadline (dw.until is 0):
	// one set before the last goroutine retired may have passed since.
	if d := w.c.cfg.writeTimeout; d > 0 {
		wf.dw = deadlineWriter{nc: w.c.nc, d: d}
		wf.bw.out = &wf.dw
	} else {
		wf.bw.out = w.c.nc
	}
	wf.bw.sock = w.sock
	wf.sink = frameSink{bw: &wf.bw, c: &w.c.info, hook: w.c.cfg.hooks.FrameWritten}
	return wf
}

// putFramer gives back a goroutine's writeFramer, its batch released.
func putFramer(wf *writeFramer) {
	if wf.big {
		return
	}
	wf.bw, wf.dw = outBuf{}, deadlineWriter{}
	wf.sink = frameSink{}
	wf.hbuf.Reset()
	wf.blocks, wf.waiting, wf.spare = nil, nil, nil
	writeFramerPool.Put(wf)
}

// encSink is the writer as the HPACK encoder's output: it writes into
// the running goroutine's header block buffer (fr.hbuf).
type encSink writer

func (s *encSink) Write(p []byte) (int, error) { return s.fr.hbuf.Write(p) }

// goroutine is a writer goroutine, started by writeQueue.push (a method,
// not a closure: an idle connection keeps no starter).
func (w *writer) goroutine() {
	defer w.c.wq.wg.Done()
	w.run()
}

func (w *writer) run() {
	if w.fr == nil {
		w.fr = w.takeFramer()
	}
	q := &w.c.wq
	yielded := false
	for {
		if q.n.Load() > 0 {
			items := q.swap(w.fr.spare)
			for i := range items {
				w.handle(&items[i])
				items[i] = writeItem{}
			}
			w.fr.spare = items
			if w.closing {
				q.stop()
				return
			}
			continue
		}
		if w.writeRound() {
			continue
		}
		if !yielded && w.fr.bw.partial() {
			// Out of work with a partial batch: let handlers that are
			// about to queue a response run first, so that many small
			// responses share one write.
			yielded = true
			runtime.Gosched()
			continue
		}
		yielded = false
		w.flush()
		// Idle. The goroutine exits when the reader parks (retireNow),
		// or when the connection's sweep finds it had nothing to write
		// for workerLinger (writerRetire); the next frame to send
		// starts a new one. It waits with no timer of its own: arming
		// one each time it runs out of work cost more than the wait.
		flags := &w.c.workers.flags
		if (q.retireNow.Load() || flags.Load()&writerRetire != 0) && w.ready.n == 0 && w.retire() {
			return
		}
		if flags.Load()&sweepArmed == 0 {
			w.c.armSweep()
		}
		// Teardown sets ended, then wakes the writer that runs then. One
		// started later (a handler's last frames) has a wake channel of
		// its own, which nobody will wake: it looks at ended first.
		if w.c.ended.Load() {
			return
		}
		<-q.wake
		if w.c.ended.Load() {
			return
		}
		if flags.Load()&writerUsed == 0 {
			flags.Or(writerUsed)
		}
	}
}

// abandon drops what the writer still holds once its goroutine is gone
// for good (conn.teardown): its batch buffer, and the response bodies of
// the streams in its rings, stall list and queue, which may have left the
// stream table already (reset by the client) with bodies it never sent.
func (w *writer) abandon() {
	stopTimer(w.stallTimer)
	if fr := w.fr; fr != nil {
		fr.bw.release()
		w.fr = nil
		putFramer(fr)
	}
	drop := func(st *Stream) {
		st.send.mu.Lock()
		st.send.buf.reset()
		st.send.mu.Unlock()
	}
	for st := w.ready.next(); st != nil; st = w.ready.next() {
		drop(st)
	}
	for _, st := range w.stalls {
		drop(st)
	}
	w.stalls = nil
	for _, it := range w.c.wq.swap(nil) {
		if it.st != nil {
			drop(it.st)
		}
	}
}

// retire ends the writer goroutine if no work arrived meanwhile, and
// drops what only a running writer needs.
func (w *writer) retire() bool {
	// First, since the next writer goroutine may start the moment the
	// queue lets this one go.
	fr := w.fr
	fr.spare = nil
	fr.bw.release() // flushed: nothing but the scratch slices
	w.c.workers.flags.And(^uint32(writerRetire))
	w.fr = nil
	if w.ready.n == 0 {
		w.ready.rings = nil
	}
	if w.c.wq.retire() {
		putFramer(fr) // ours alone: the next writer goroutine takes its own
		return true
	}
	w.fr = fr // work arrived: the writer goes on
	return false
}

func (w *writer) flush() {
	if w.err != nil {
		return
	}
	w.check(w.fr.bw.flush())
}

// check records a write error; the first one closes the transport so that
// the reader stops too.
func (w *writer) check(err error) {
	if err != nil && w.err == nil {
		w.err = err
		w.c.closeTransport()
	}
}

func (w *writer) handle(it *writeItem) {
	switch it.kind {
	case itemStream:
		w.ready.push(it.st)
	case itemSettings:
		w.check(w.fr.WriteSettings(it.settings...))
		if it.n > 0 {
			w.check(w.fr.WriteWindowUpdate(0, it.n))
		}
	case itemPeerSettings:
		w.applySettings(it)
	case itemPing:
		w.check(w.fr.WritePing(false, it.data))
	case itemPingAck:
		w.check(w.fr.WritePing(true, it.data))
	case itemWindowUpdate:
		if it.st != nil && it.st.out.reset {
			// Our RST_STREAM is out: nothing more goes on the stream
			// (RFC 9113 section 5.1), credit included.
			break
		}
		w.check(w.fr.WriteWindowUpdate(it.id, it.n))
	case itemPeerWindow:
		w.peerWindowUpdate(it.st, it.n)
	case itemReset:
		w.writeReset(it)
	case itemStallCheck:
		w.checkStalls()
	case itemGoAway:
		w.check(w.fr.WriteGoAway(it.id, http2.ErrCode(it.code), []byte(it.debug)))
	case itemPriority:
		it.st.out.prio = decodePriority(uint8(it.n))
	case itemClose:
		w.closing = true
		w.flush()
		w.c.closeWrite()
	}
}

// applySettings applies the peer's SETTINGS in order, as RFC 9113 section
// 6.5.3 requires, then acknowledges them.
func (w *writer) applySettings(it *writeItem) {
	for _, s := range it.settings {
		switch s.ID {
		case http2.SettingHeaderTableSize:
			w.setPeerTableSize(s.Val)
		case http2.SettingMaxFrameSize:
			w.maxFrameSize = s.Val
		case http2.SettingInitialWindowSize:
			// Section 6.9.2: the change applies to every open stream's
			// window, which may go negative; a window pushed past 2^31-1
			// is a connection FLOW_CONTROL_ERROR. it.n carries the
			// previous value.
			delta := int64(s.Val) - int64(it.n)
			it.n = s.Val
			for _, st := range it.streams {
				if !st.out.window.add(delta) {
					w.c.connFailed(connError{ErrCodeFlowControl, "initial_window_overflow"})
					return
				}
				st.publishWindow()
				if delta > 0 {
					w.unblock(st)
				}
			}
		}
	}
	w.check(w.fr.WriteSettingsAck())
}

// setPeerTableSize applies the peer's SETTINGS_HEADER_TABLE_SIZE.
func (w *writer) setPeerTableSize(n uint32) {
	w.peerTableSize = n
	if w.henc != nil {
		w.henc.SetMaxDynamicTableSizeLimit(n)
		w.fr.blocks.clear() // the next block may have to begin with a size update
	}
}

// encoder returns the HPACK encoder, made with the first header block: a
// connection that never answers (opened ahead of need, say) keeps none.
func (w *writer) encoder() *hpack.Encoder {
	if w.henc == nil {
		w.henc = hpack.NewEncoder((*encSink)(w))
		if w.peerTableSize != 4096 { // RFC 7541's default, the encoder's
			w.henc.SetMaxDynamicTableSizeLimit(w.peerTableSize)
		}
	}
	return w.henc
}

func (w *writer) peerWindowUpdate(st *Stream, n uint32) {
	if st == nil {
		if !w.window.add(int64(n)) {
			w.c.connFailed(connError{ErrCodeFlowControl, "conn_window_overflow"})
			return
		}
		w.c.credit.give(int64(n))
		return
	}
	if !st.out.window.add(int64(n)) {
		// Section 6.9.1: a stream window past 2^31-1 is a stream error.
		if st.fail(&StreamError{StreamID: st.id, Code: ErrCodeFlowControl}) {
			w.c.logStreamError(st.id, ErrCodeFlowControl, "stream_window_overflow")
			w.writeReset(&writeItem{kind: itemReset, st: st, id: st.id, code: ErrCodeFlowControl})
		}
		return
	}
	st.publishWindow()
	w.unblock(st)
}

// unblock returns a stream parked for want of stream window to the rings.
func (w *writer) unblock(st *Stream) {
	if st.out.blocked {
		st.out.blocked = false
		w.ready.push(st)
	}
}

// writeReset writes RST_STREAM, at most once per stream (RFC 9113 section
// 5.4.2), and nothing on the stream after it.
func (w *writer) writeReset(it *writeItem) {
	if st := it.st; st != nil {
		if st.out.reset {
			return
		}
		// A reset the reader ordered answers a frame the peer sent, and
		// goes out even if our END_STREAM closed the stream meanwhile.
		if !w.c.streamReset(st) && !it.always {
			return
		}
		st.out.reset = true
	}
	w.check(w.fr.WriteRSTStream(it.id, http2.ErrCode(it.code)))
}

// publishWindow shows the stream's window to Write's quota, waking a
// handler that waits for it. Writer only.
func (st *Stream) publishWindow() {
	if old := st.window.Swap(int32(st.out.window)); int32(st.out.window) > old {
		st.send.mu.Lock()
		wake(st.send.wake)
		st.send.mu.Unlock()
	}
}

// writeRound gives every ready stream one turn and reports whether any
// frame was written.
func (w *writer) writeRound() bool {
	progress := false
	n := w.ready.n
	for i := 0; i < n && w.err == nil; i++ {
		st := w.ready.next()
		wrote, again := w.writeStream(st)
		progress = progress || wrote
		switch {
		case again && wrote:
			w.ready.requeue(st)
		case again:
			// Waiting for the connection window: out of this round, so
			// that less urgent streams still get their heads out.
			w.fr.waiting = append(w.fr.waiting, st)
		}
		if w.c.wq.n.Load() > 0 {
			break // control frames go first
		}
	}
	// Those that waited for the connection window go first next time,
	// in the order they came: pushed behind the streams that just
	// wrote, they would lose every race for the next WINDOW_UPDATE.
	waiting := w.fr.waiting
	for i := len(waiting) - 1; i >= 0; i-- {
		w.ready.pushFront(waiting[i])
		waiting[i] = nil
	}
	w.fr.waiting = waiting[:0]
	if progress {
		w.c.sentResponse.Store(true) // see conn.judgePing
	}
	return progress
}

// writeStream writes what one stream has ready: its header blocks and at
// most one DATA frame. It reports whether it wrote a frame and whether the
// stream should stay in the ring.
func (w *writer) writeStream(st *Stream) (wrote, again bool) {
	st.send.mu.Lock()
	if st.out.ended || st.out.reset {
		// A late turn (the handler's Reset after the end, say): the
		// stream's last frame is out already; drop what it still holds.
		if w.droppedLocked(st) {
			return false, false
		}
		st.send.queued = false
		st.send.mu.Unlock()
		return false, false
	}
	if w.droppedLocked(st) {
		return false, false
	}
	for st.hasHeadsLocked() {
		var fields []hpack.HeaderField
		var arr *[headArrLen]hpack.HeaderField
		if r := st.extras; r != nil && len(r.infoHeads) > 0 {
			fields = r.infoHeads[0]
			r.infoHeads[0] = nil
			r.infoHeads = r.infoHeads[1:]
		} else {
			fields, arr = st.send.final, st.send.headArr
			st.send.final, st.send.headArr = nil, nil
		}
		end := !st.hasHeadsLocked() && st.send.closed && st.send.buf.Len() == 0 && st.trailersOutLocked() == nil && isFinal(fields)
		st.send.mu.Unlock()
		w.writeHeaders(st.id, fields, end)
		if arr != nil {
			putHeadArr(arr)
		}
		st.send.mu.Lock()
		wrote = true
		if end {
			w.endedLocked(st)
			return true, false
		}
		if w.droppedLocked(st) {
			return true, false
		}
	}
	if n := st.send.buf.Len(); n > 0 {
		allowed := min(int64(n), int64(st.out.window), int64(w.window), int64(w.maxFrameSize))
		if allowed <= 0 {
			w.stall(st)
			if st.out.window <= 0 {
				st.out.blocked = true
				st.send.queued = false
				st.send.mu.Unlock()
				return wrote, false
			}
			st.send.mu.Unlock()
			return wrote, true // the connection window is spent: wait in the ring
		}
		p := st.send.buf.peek(int(allowed))
		end := st.send.closed && st.trailersOutLocked() == nil && len(p) == n
		var whole *[chunkSize]byte
		if len(p) == chunkSize && w.sock != nil {
			whole = st.send.buf.takeChunk() // the batch owns it now
		}
		st.send.mu.Unlock()
		// p stays valid unlocked: only this goroutine consumes send.buf.
		w.writeData(st.id, end, p, whole)
		if w.c.cfg.hooks.StreamEnded != nil {
			st.extras.sent.Add(int64(len(p)))
		}
		st.out.stalled = false
		st.out.window -= outflow(len(p))
		st.window.Store(int32(st.out.window))
		w.window -= outflow(len(p))
		st.send.mu.Lock()
		if whole == nil {
			st.send.buf.advance(len(p))
		}
		wake(st.send.wake)
		if end {
			w.endedLocked(st)
			return true, false
		}
		if w.droppedLocked(st) {
			return true, false
		}
		if st.send.buf.Len() > 0 {
			st.send.mu.Unlock()
			return true, true
		}
		wrote = true
	}
	if st.send.closed {
		if fields := st.trailersOutLocked(); fields != nil {
			st.send.mu.Unlock()
			w.writeHeaders(st.id, fields, true)
			st.send.mu.Lock()
		} else {
			st.send.mu.Unlock()
			w.check(w.fr.WriteData(st.id, true, nil))
			st.send.mu.Lock()
		}
		w.endedLocked(st)
		return true, false
	}
	st.out.stalled = false
	if st.send.waitWindow {
		// Write waits for a window with nothing buffered: a stall all
		// the same. The peer's WINDOW_UPDATE brings the stream back,
		// to the rings for its stream window, through Write (which
		// then notifies us) for the connection's.
		if st.out.window <= 0 {
			w.stall(st)
			st.out.blocked = true
		} else if w.c.credit.empty() {
			w.stall(st)
		}
	}
	st.send.queued = false
	st.send.mu.Unlock()
	return wrote, false
}

// droppedLocked drops what a failed stream (reset, or its connection gone)
// still buffers, releasing send.mu, and reports whether it did. It is checked
// again each time the writer retakes send.mu, since the handler may reset the
// stream while a frame is being written.
func (w *writer) droppedLocked(st *Stream) bool {
	if st.send.err == nil {
		return false
	}
	unsent := st.send.buf.Len() // bought by Write, never to be sent
	st.send.buf.reset()
	st.send.queued = false
	st.send.mu.Unlock()
	w.c.credit.forget(st)
	if unsent > 0 {
		w.c.credit.give(int64(unsent))
	}
	return true
}

// endedLocked runs after END_STREAM is written, with st.send.mu held, which it
// releases.
func (w *writer) endedLocked(st *Stream) {
	st.out.ended, st.out.stalled = true, false
	st.send.ended = true
	st.send.queued = false
	rst, code := st.send.rstAfterEnd, st.send.rstCode
	st.send.mu.Unlock()
	w.c.credit.forget(st)
	w.c.streamEnded(st)
	if rst {
		w.writeReset(&writeItem{kind: itemReset, st: st, id: st.id, code: code})
	}
}

// stall notes that st has something to send (or a Write waiting) and no
// window to send it in, and makes sure the stalls are checked once
// StallTimeout has passed. Whichever window is closed, the stream's or
// the connection's, a stream that stays unable to send that long is
// reset: a client that grants no window would otherwise pin its handler
// and the body it buffered for ever, since nothing being written, no
// write deadline ever passes.
func (w *writer) stall(st *Stream) {
	d := w.c.cfg.stallTimeout
	if d <= 0 || st.out.stalled {
		return
	}
	st.out.stalled = true
	st.out.stalledAt = time.Since(processStart)
	if !st.out.listed {
		st.out.listed = true
		w.stalls = append(w.stalls, st)
	}
	if !w.stallArmed {
		w.armStallCheck(d)
	}
}

func (w *writer) armStallCheck(d time.Duration) {
	w.stallArmed = true
	if w.stallTimer == nil {
		q := &w.c.wq
		w.stallTimer = time.AfterFunc(d, func() { q.push(writeItem{kind: itemStallCheck}) })
	} else {
		w.stallTimer.Reset(d)
	}
}

// checkStalls resets the streams that have been unable to send for
// StallTimeout, forgets those that moved on, and re-arms the check for
// the next one due.
func (w *writer) checkStalls() {
	w.stallArmed = false
	d := w.c.cfg.stallTimeout
	now := time.Since(processStart)
	next := time.Duration(-1)
	kept := w.stalls[:0]
	for _, st := range w.stalls {
		switch {
		case !st.out.stalled || st.out.ended || st.out.reset:
			st.out.listed = false
		case now-st.out.stalledAt >= d:
			st.out.listed, st.out.stalled = false, false
			if st.fail(&StreamError{StreamID: st.id, Code: ErrCodeCancel, Cause: errStalled}) {
				w.c.logStreamError(st.id, ErrCodeCancel, "flow_control_stall")
				w.writeReset(&writeItem{kind: itemReset, st: st, id: st.id, code: ErrCodeCancel})
			}
		default:
			kept = append(kept, st)
			if due := st.out.stalledAt + d - now; next < 0 || due < next {
				next = due
			}
		}
	}
	clear(w.stalls[len(kept):])
	w.stalls = kept
	if len(kept) == 0 {
		w.stalls = nil
	}
	if next >= 0 {
		w.armStallCheck(next)
	}
}

// writeData writes a DATA frame with payload p, without padding. Its
// header is ours, not the Framer's, which would copy p into its own
// buffer before handing it to bw: p is copied into the batch, or, when p
// is the whole chunk c, which the caller took from the stream's buffer,
// spliced into it by reference.
func (w *writer) writeData(id uint32, end bool, p []byte, c *[chunkSize]byte) {
	if w.err != nil {
		if c != nil {
			chunkPool.Put(c)
		}
		return
	}
	var flags http2.Flags
	if end {
		flags = http2.FlagDataEndStream
	}
	if h := w.c.cfg.hooks.FrameWritten; h != nil {
		h(&w.c.info, http2.FrameHeader{Type: http2.FrameData, Flags: flags, Length: uint32(len(p)), StreamID: id})
	}
	n := len(p)
	hdr := [frameHeaderLen]byte{byte(n >> 16), byte(n >> 8), byte(n), byte(http2.FrameData), byte(flags),
		byte(id >> 24), byte(id >> 16), byte(id >> 8), byte(id)}
	var err error
	if c != nil {
		err = w.fr.bw.addRef(hdr[:], c)
	} else {
		if len(p) == chunkSize {
			// A full frame copied: bulk from the batch's first frame.
			w.fr.bw.bulk()
		}
		if _, err = w.fr.bw.Write(hdr[:]); err == nil {
			_, err = w.fr.bw.Write(p)
		}
	}
	w.check(err)
}

func isFinal(fields []hpack.HeaderField) bool {
	s := fields[0].Value
	return len(s) != 3 || s[0] != '1'
}

// writeHeaders encodes a header block, in wire order as HPACK requires,
// and writes it as HEADERS plus as many CONTINUATION frames as the peer's
// MAX_FRAME_SIZE demands.
func (w *writer) writeHeaders(id uint32, fields []hpack.HeaderField, endStream bool) {
	block := w.encodeBlock(fields)
	max := int(w.maxFrameSize)
	first := block
	if len(first) > max {
		first = first[:max]
	}
	block = block[len(first):]
	if len(first) > keepReadBuf {
		w.fr.big = true // its write buffer grows to the frame: not pooled
	}
	w.check(w.fr.WriteHeaders(http2.HeadersFrameParam{
		StreamID:      id,
		BlockFragment: first,
		EndStream:     endStream,
		EndHeaders:    len(block) == 0,
	}))
	for len(block) > 0 {
		frag := block
		if len(frag) > max {
			frag = frag[:max]
		}
		block = block[len(frag):]
		w.check(w.fr.WriteContinuation(id, len(block) == 0, frag))
	}
}

// encodeBlock encodes fields as one header block. The result is valid
// until the next call.
func (w *writer) encodeBlock(fields []hpack.HeaderField) []byte {
	fr := w.fr
	if block := fr.blocks.lookup(fields); block != nil {
		return block
	}
	fr.hbuf.Reset()
	enc := w.encoder()
	for _, f := range fields {
		enc.WriteField(f)
	}
	block := fr.hbuf.Bytes()
	if onlyIndexed(block) {
		if fr.blocks == nil {
			fr.blocks = new(blockCache)
		}
		fr.blocks.add(fields, block)
	} else {
		fr.blocks.clear() // the dynamic table may have changed
	}
	return block
}

// blockCache keeps header blocks that HPACK encoded as indexed fields
// only, with the fields they encode. Encoding such a block changed
// nothing in the encoder's dynamic table, so the same fields encode to
// the same bytes until the table next changes: until a block with a
// literal field (which may add an entry, moving every index) or a table
// size update, which clear the cache. Responses that repeat their head
// exactly (a fixed-size file, 204 and 304 answers, gRPC's heads and
// trailers, which alternate) then cost a comparison of their fields
// instead of two hash lookups per field in the encoder's tables.
type blockCache struct {
	n       int
	next    int // the entry add replaces once all are used
	entries [blockCacheLen]struct {
		fields []hpack.HeaderField
		block  []byte
	}
}

const blockCacheLen = 4

// lookup returns the cached block that encodes fields, or nil.
func (bc *blockCache) lookup(fields []hpack.HeaderField) []byte {
	if bc == nil {
		return nil
	}
	for i := range bc.n {
		if e := &bc.entries[i]; sameFields(e.fields, fields) {
			return e.block
		}
	}
	return nil
}

func (bc *blockCache) add(fields []hpack.HeaderField, block []byte) {
	i := bc.n
	if i == blockCacheLen {
		i = bc.next
		bc.next = (bc.next + 1) % blockCacheLen
	} else {
		bc.n++
	}
	e := &bc.entries[i]
	e.fields = append(e.fields[:0], fields...)
	e.block = append(e.block[:0], block...)
}

// clear forgets every block (their arrays stay for reuse).
func (bc *blockCache) clear() {
	if bc != nil {
		bc.n, bc.next = 0, 0
	}
}

func sameFields(a, b []hpack.HeaderField) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// onlyIndexed reports whether an HPACK header block holds nothing but
// indexed fields (RFC 7541 section 6.1): a 1 bit, then the index as an
// integer with a 7-bit prefix (section 5.1).
func onlyIndexed(block []byte) bool {
	for i := 0; i < len(block); {
		b := block[i]
		i++
		if b&0x80 == 0 {
			return false
		}
		if b&0x7f == 0x7f { // the index continues: 7 bits a byte, the last without its top bit
			for i < len(block) && block[i]&0x80 != 0 {
				i++
			}
			i++
		}
	}
	return true
}

// streamRing is the writer's FIFO of streams with something to send.
type streamRing struct {
	buf  []*Stream
	head int
	n    int
}

func (r *streamRing) push(st *Stream) {
	if r.n == len(r.buf) {
		grown := make([]*Stream, max(8, 2*len(r.buf)))
		for i := range r.n {
			grown[i] = r.buf[(r.head+i)%len(r.buf)]
		}
		r.buf, r.head = grown, 0
	}
	r.buf[(r.head+r.n)%len(r.buf)] = st
	r.n++
}

func (r *streamRing) pushFront(st *Stream) {
	if r.n == len(r.buf) {
		r.push(st) // grow; then move it to the front
		r.n--
		r.buf[(r.head+r.n)%len(r.buf)] = nil
	}
	r.head = (r.head - 1 + len(r.buf)) % len(r.buf)
	r.buf[r.head] = st
	r.n++
}

func (r *streamRing) pop() *Stream {
	st := r.buf[r.head]
	r.buf[r.head] = nil
	r.head = (r.head + 1) % len(r.buf)
	r.n--
	return st
}

// deadlineWriter gives every write to the socket a deadline of its own
// (at least 15/16 of WriteTimeout: see arm), whether it is an explicit
// flush or the buffer filling mid-batch, so a long busy stretch never
// runs into a deadline set long before.
type deadlineWriter struct {
	nc    net.Conn
	d     time.Duration
	until time.Duration // the deadline set last, since processStart; 0: none yet
}

func (dw *deadlineWriter) Write(p []byte) (int, error) {
	dw.arm()
	return dw.nc.Write(p)
}

// arm moves the write deadline to WriteTimeout from now, unless the one
// set last was set no more than a sixteenth of WriteTimeout ago: a busy
// connection then sets it at most 16 times per WriteTimeout (every 1.9 s
// by default), not before every write (each setting takes the
// descriptor's lock and moves a runtime timer: 2% of the CPU of small
// requests at -c 100 -m 10). A write so gets between 15/16 of
// WriteTimeout and all of it.
func (dw *deadlineWriter) arm() {
	now := time.Now()
	at := now.Sub(processStart)
	if dw.until != 0 && dw.until-at >= dw.d-dw.d/16 {
		return
	}
	dw.until = at + dw.d
	dw.nc.SetWriteDeadline(now.Add(dw.d))
}

// writeBufferSize is the size of the pooled buffer a busy batch of frames
// collects in. A batch starts in a buffer of smallWriteBufferSize and
// moves to the big one only when it outgrows it: the SETTINGS, PING and
// WINDOW_UPDATE frames of an idle connection, or one small response,
// never touch 32 KiB.
// A batch that fills the big buffer is bulk data: it goes on in a huge
// one, so that a large response leaves in writes of hugeWriteBufferSize,
// a quarter of the system calls. 112 KiB is seven TLS records, whose
// bytes stay under 128 KiB (see maxRefBatch and recordConn).
const (
	writeBufferSize      = 32 << 10
	smallWriteBufferSize = 4 << 10
	hugeWriteBufferSize  = 112 << 10
	// maxRecordPlaintext is the most a TLS record carries.
	maxRecordPlaintext = 16 << 10
)

var (
	writeBufPool      = sync.Pool{New: func() any { return new([writeBufferSize]byte) }}
	smallWriteBufPool = sync.Pool{New: func() any { return new([smallWriteBufferSize]byte) }}
	hugeWriteBufPool  = sync.Pool{New: func() any { return new([hugeWriteBufferSize]byte) }}
)

// outBuf batches frames for the socket in a pooled buffer, held from a
// batch's first frame to its flush: an idle connection holds none. The
// buffer's capacity tells which of the three pools it came from. The
// Framer hands it one whole frame per Write. Writer goroutine only.
//
// On a plain TCP socket (sock set), whole body chunks taken from a
// stream's buffer join the batch by reference (addRef): the batch is then
// the buffer's bytes with the chunks spliced in, written with one writev,
// and each payload is copied once, from the handler's Write into its
// chunk, instead of twice more (into the Framer's buffer and into this
// one). Over TLS, where every Write is a record, all of it is copied into
// the buffer as before.
type outBuf struct {
	out io.Writer
	buf []byte // the batch, at the start of a pooled array; nil between batches

	sock *net.TCPConn // the socket, when chunks may be sent by reference
	vec  *outVec      // the batch's chunks; allocated by the first, freed at release
}

// outVec is what a batch with chunks needs beside its buffer: kept out of
// line, as only bulk responses use it.
type outVec struct {
	refs []outRef // chunks in the batch, in order
	iov  [][]byte // scratch for writeVec's writev
}

// outRef is a chunk spliced into the batch after buf[:at].
type outRef struct {
	at int
	c  *[chunkSize]byte
}

// maxRefBatch bounds a batch that holds chunks: it goes out when the
// next whole DATA frame would take it past this size, so that a bulk
// response leaves in writes of at most 128 KiB (seven frames). Going past
// it by the frame headers alone cost dearly: a write of 131,144 bytes
// (eight frames) is two 64 KiB segments on loopback and a 72-byte third,
// and the server's CPU per GiB of GET /1m at -c 10 -m 1 was 2.2 times
// what it is with writes of seven frames (bench/ab.sh, medians of 4;
// 64 KiB + 36 bytes cost 1.7 times; 256 KiB + 144 bytes 1.3 times).
// (256 KiB changed nothing measurable while streams buffered at most 64
// KiB: the writer ran out of work, and flushed, at about 128 KiB anyway.)
const maxRefBatch = 128 << 10

// addRef appends a DATA frame whose payload is a whole chunk: its header
// hdr is copied, the chunk joins by reference, and the batch owns it from
// now on and gives it back to chunkPool once written or dropped.
func (o *outBuf) addRef(hdr []byte, c *[chunkSize]byte) error {
	if !o.roomForFrame() {
		// Bytes copied in (since the last frame, or before the first)
		// took the room.
		if err := o.writeOut(); err != nil {
			chunkPool.Put(c)
			return err
		}
	}
	if _, err := o.Write(hdr); err != nil {
		chunkPool.Put(c)
		return err
	}
	if o.vec == nil {
		o.vec = &outVec{}
	}
	o.vec.refs = append(o.vec.refs, outRef{at: len(o.buf), c: c})
	if !o.roomForFrame() {
		return o.writeOut()
	}
	return nil
}

// frameHeaderLen is the size of an HTTP/2 frame header (RFC 9113 section 4.1).
const frameHeaderLen = 9

// roomForFrame reports whether a whole DATA frame still fits the batch.
func (o *outBuf) roomForFrame() bool {
	return len(o.buf)+o.refBytes()+frameHeaderLen+chunkSize <= maxRefBatch
}

// refBytes is the bytes of the chunks in the batch.
func (o *outBuf) refBytes() int {
	if o.vec == nil {
		return 0
	}
	return len(o.vec.refs) * chunkSize
}

func (o *outBuf) Write(p []byte) (int, error) {
	total := len(p)
	if n := o.refBytes(); n > 0 && len(o.buf)+n+len(p) > maxRefBatch {
		// A batch with chunks stays within maxRefBatch (see there).
		if err := o.writeOut(); err != nil {
			return 0, err
		}
	}
	if len(o.buf)+len(p) > cap(o.buf) && cap(o.buf) < writeBufferSize {
		if o.buf == nil && len(p) <= smallWriteBufferSize {
			o.buf = smallWriteBufPool.Get().(*[smallWriteBufferSize]byte)[:0]
		} else {
			// The batch outgrew the small buffer, or starts too big
			// for it: on to the big one.
			old := o.buf
			o.buf = append(writeBufPool.Get().(*[writeBufferSize]byte)[:0], old...)
			putWriteBuf(old)
		}
	}
	// Like bufio: a full buffer goes out whole, so that a stream of
	// DATA frames leaves in writes of the buffer's size.
	for len(o.buf)+len(p) > cap(o.buf) {
		k := copy(o.buf[len(o.buf):cap(o.buf)], p)
		o.buf = o.buf[:cap(o.buf)]
		p = p[k:]
		if err := o.writeOut(); err != nil {
			return 0, err // the writer gives up on the connection
		}
		if cap(o.buf) == writeBufferSize {
			// Bulk: on in the huge buffer.
			old := o.buf
			o.buf = hugeWriteBufPool.Get().(*[hugeWriteBufferSize]byte)[:0]
			putWriteBuf(old)
		}
	}
	o.buf = append(o.buf, p...)
	return total, nil
}

// bulk moves the batch to the huge buffer, where a stream of DATA frames
// goes on without first filling (and writing out) the small and big ones.
func (o *outBuf) bulk() {
	if cap(o.buf) == hugeWriteBufferSize {
		return
	}
	old := o.buf
	o.buf = append(hugeWriteBufPool.Get().(*[hugeWriteBufferSize]byte)[:0], old...)
	putWriteBuf(old)
}

// putWriteBuf gives a batch buffer back to its pool, told by its size.
func putWriteBuf(b []byte) {
	switch cap(b) {
	case smallWriteBufferSize:
		smallWriteBufPool.Put((*[smallWriteBufferSize]byte)(b[:smallWriteBufferSize]))
	case writeBufferSize:
		writeBufPool.Put((*[writeBufferSize]byte)(b[:writeBufferSize]))
	case hugeWriteBufferSize:
		hugeWriteBufPool.Put((*[hugeWriteBufferSize]byte)(b[:hugeWriteBufferSize]))
	}
}

// writeOut writes the batch so far and keeps its buffer for more.
func (o *outBuf) writeOut() error {
	if o.refBytes() > 0 {
		return o.writeVec()
	}
	if len(o.buf) == 0 {
		return nil
	}
	var rc *recordConn
	if len(o.buf) > maxRecordPlaintext && o.sock == nil {
		// Over TLS from ServeTLS: the batch's records leave in one
		// write (tlsbatch.go).
		if rc = recordConnOf(o.out); rc != nil {
			rc.holdRecords()
		}
	}
	_, err := o.out.Write(o.buf)
	if rc != nil {
		if rerr := rc.releaseRecords(); err == nil {
			err = rerr
		}
	}
	o.buf = o.buf[:0]
	return err
}

// writeVec writes a batch holding chunks with one writev (net.Buffers
// loops on a short write) and gives the chunks back, even on an error.
func (o *outBuf) writeVec() error {
	ov := o.vec
	v, at := ov.iov[:0], 0
	for _, r := range ov.refs {
		if r.at > at {
			v = append(v, o.buf[at:r.at])
			at = r.at
		}
		v = append(v, r.c[:])
	}
	if at < len(o.buf) {
		v = append(v, o.buf[at:])
	}
	if dw, ok := o.out.(*deadlineWriter); ok {
		dw.arm()
	}
	bufs := net.Buffers(v)
	_, err := bufs.WriteTo(o.sock)
	clear(v)
	ov.iov = v[:0]
	o.dropRefs()
	o.buf = o.buf[:0]
	return err
}

// dropRefs gives the batch's chunks back to the pool.
func (o *outBuf) dropRefs() {
	if o.vec == nil {
		return
	}
	for i, r := range o.vec.refs {
		chunkPool.Put(r.c)
		o.vec.refs[i] = outRef{}
	}
	o.vec.refs = o.vec.refs[:0]
}

// partial reports a batch that has begun and has room for more.
func (o *outBuf) partial() bool {
	if o.refBytes() > 0 {
		return o.roomForFrame()
	}
	return len(o.buf) > 0 && len(o.buf) < cap(o.buf)
}

// flush writes the batch out and gives the buffer back, even when the
// write failed.
func (o *outBuf) flush() error {
	err := o.writeOut()
	o.drop()
	return err
}

// drop gives the buffer and any chunks back, dropping what they hold.
func (o *outBuf) drop() {
	putWriteBuf(o.buf)
	o.buf = nil
	o.dropRefs()
}

// release drops the batch and the scratch slices, for a writer that
// retires: an idle connection holds none.
func (o *outBuf) release() {
	o.drop()
	o.vec = nil
}

package h2server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/net/http2/hpack"
)

// Handler serves the requests of one HTTP/2 connection, one call per
// stream, each on its own goroutine.
type Handler interface {
	ServeStream(st *Stream)
}

// HandlerFunc adapts a function to the Handler interface.
type HandlerFunc func(st *Stream)

// ServeStream calls f(st).
func (f HandlerFunc) ServeStream(st *Stream) { f(st) }

const (
	// sendBufferSize is the per-stream write quota (shared when more than
	// two streams are open: sendQuota): Write blocks while this
	// much response body waits for the writer, so a handler that outruns
	// its client holds a bounded amount of memory. 128 KiB rather than
	// 64: with one stream per connection the writer drains the stream's
	// buffer and flushes before the handler refills it, so the quota is
	// the batch; doubling it took 12% off the server's CPU per GiB of
	// GET /1m at -c 10 -m 1 (medians of 5, A/B).
	sendBufferSize = 128 << 10
	// sharedQuota is a stream's quota when more than two streams are
	// open on its connection: two full DATA frames (see sendQuota).
	sharedQuota = 2 * chunkSize
	// writeThreshold is how much Write buffers before it hands the stream
	// to the writer without an explicit Flush: one full DATA frame.
	writeThreshold = chunkSize
)

// sendQuota is how much response body a stream may buffer while open
// streams share its connection: sendBufferSize with one other stream at
// most (the writer serves one and has the next one's batch ready when it
// ends), sharedQuota with more. A connection's bodies in flight grew by
// sendBufferSize with every stream (100 streams of a browser, whose
// connection window lets them all run ahead, could hold 12.8 MiB; now
// 3.2 MiB); with four connections of four 1 MiB responses each, 2 MiB of
// chunks on one CPU missed its cache in the handlers' copies into them
// and the kernel's out of them: sharedQuota took 4.6-7.5% off the
// server's CPU per GiB there (bench/ab.sh 5 "-c4 -m4" /1m, four A/Bs),
// 3.7% at -c1 -m32, and left -c1 -m8, -c2 -m2, -c3 -m3, -c10 -m1 and
// bench/wan.sh's downloads as they were. One frame (16 KiB) took 14% off
// at -c1 -m32 but 13% off the throughput of bench/wan.sh's CPU-bound
// downloads on eight streams: a handler then wakes for every frame.
func sendQuota(open int32) int {
	if open <= 2 {
		return sendBufferSize
	}
	return sharedQuota
}

// Stream is one request and its response. A handler reads the request
// body with Read and writes the response with WriteHeaders, Write and
// Close or WriteTrailers. The receive and send sides are independent: a
// handler may read and write at the same time, from one goroutine or two,
// and either side may finish first.
//
// Reads may not be called concurrently with other reads, nor writes with
// other writes; a read and a write may run at the same time.
//
// For a CONNECT request (RFC 9113 section 8.5), and an extended CONNECT
// (RFC 8441, such as a WebSocket), the Stream is a byte tunnel both ways.
// The handler accepts it with WriteHeaders(200, nil) and Flush (the head
// is otherwise held until body bytes fill a frame); then Read returns the
// client's bytes and io.EOF at its half-close (END_STREAM, a TCP FIN for
// a proxy), Write and Flush send bytes to it, Close half-closes our side
// while Read goes on, and Reset(ErrCodeConnect) reports a refused or
// broken upstream (RST_STREAM CONNECT_ERROR, which a proxy also sends
// for a TCP reset; RFC 8441 section 5 has a WebSocket's abnormal close
// use Reset(ErrCodeCancel)). A tunnel is flow controlled like any stream: its
// handler holds at most a window of the client's bytes, and waits on the
// client's window to send.
type Stream struct {
	c      *conn
	id     uint32
	state  streamState // guarded by c.mu
	reject int16       // immutable: answer with this status instead of running the handler
	req    Request

	// What few streams use is made on first use: the context (most
	// handlers of small requests never ask for it, and it costs two
	// allocations), informational heads, trailers, deadlines. The pointer
	// is set with both send.mu and recv.mu held (or before the stream is
	// shared), so either lock guards reading it; its fields say which
	// lock guards them.
	extras *streamExtras

	recv recvHalf // the request body: the reader appends, the handler consumes
	send sendHalf // the response: the handler fills, the writer drains

	// window mirrors out.window for Write's quota; the writer stores it
	// and wakes send.wake when it grows.
	window atomic.Int32

	// refs counts the releases made of what keeps the stream alive: its
	// place in the table and its handler (running or queued). The second
	// release, which takes it to -2, ends it. (Counting down from zero
	// spares newStream an atomic store: 1% of a small request.)
	refs atomic.Int32

	// Inline storage for the regular fields of a small request (curl,
	// h2load and most API clients send one or two). Larger sets are
	// copied out exactly sized. A stream waiting for its body holds
	// nothing else, so this array is kept short.
	fieldBuf [2]hpack.HeaderField

	// out is the writer's own part: set up by the reader before the
	// stream is shared, then read and written by the writer goroutine
	// alone (writer.go).
	out outStream
}

// recvHalf is a Stream's receive side, guarded by its mu: the reader
// appends DATA, the handler's Read consumes it.
type recvHalf struct {
	mu    sync.Mutex
	buf   dataBuffer
	flow  inflow        // our window for this stream
	err   error         // io.EOF after END_STREAM, or why reading stopped
	win   int32         // the window's size, which grows (recvwin.go)
	updAt uint32        // when credit last went back: µs since processStart
	n     int64         // DATA payload bytes received
	wake  chan struct{} // made when first needed; one slot: data or an error arrived, or the deadline passed
	// The buffer of a Read waiting for data, as a pointer and a length
	// (not a slice, whose capacity we never use: the Stream stays in its
	// size class).
	dst  *byte
	dstN int32
	got  int32 // bytes the reader copied into dst
	// openedFill is the reader's own (no lock): connReader.fills when
	// the stream opened. Here, it fills what would be padding, as does
	// await, the stream's part in WhenReadable (readable.go).
	openedFill uint16
	await      awaitState
}

// sendHalf is a Stream's send side, guarded by its mu: the handler's
// WriteHeaders, Write and Close fill it, the writer drains it (buf is
// consumed or reset by the writer alone).
type sendHalf struct {
	mu  sync.Mutex
	buf dataBuffer
	// Header blocks not yet written: informational heads (in extras) go
	// before the final head. headArr is the pooled array behind a final
	// head made by WriteHeaders; the writer returns it once the head is
	// encoded.
	final       []hpack.HeaderField
	headArr     *[headArrLen]hpack.HeaderField
	err         error         // why writes fail (reset, connection gone)
	declared    int64         // the response's content-length, -1 if none
	written     int64         // body bytes accepted by Write
	wake        chan struct{} // made when first needed; one slot: the writer drained data, window opened, or the stream failed
	rstCode     ErrCode       // the code for rstAfterEnd
	status      int16         // the final status produced
	sentFinal   bool          // the final response head was produced
	closed      bool          // the handler ended the send side
	ended       bool          // the writer wrote END_STREAM
	queued      bool          // the writer holds or will receive this stream
	rstAfterEnd bool          // reset once END_STREAM is out (unread request body)
	noBody      bool          // HEAD, 204 or 304: no body may follow
	waitWindow  bool          // Write waits for a window with nothing buffered
	returned    bool          // the handler returned before the stream failed (causeLocked)
}

// streamExtras is the part of a Stream that few streams use; send.mu
// guards its fields but dl and the deadlines in it.
type streamExtras struct {
	// dl holds the Read and Write deadlines, made by the first
	// Set*Deadline with both recv.mu and send.mu held: either lock guards
	// reading the pointer; dl.r is guarded by recv.mu, dl.w by send.mu.
	dl          *streamDeadlines
	ctx         context.Context
	cancel      context.CancelCauseFunc
	infoHeads   [][]hpack.HeaderField // 1xx heads not yet written
	trailersOut []hpack.HeaderField   // response trailers not yet written
	trailersIn  http.Header           // request trailers, set before recv.err becomes io.EOF
	next        func(*Stream)         // guarded by recv.mu: the continuation WhenReadable set
	// Kept only when hooks want them, extras then made before the stream
	// is shared: when the stream opened (since processStart), and the
	// response body bytes written (the writer's).
	started time.Duration
	sent    atomic.Int64
}

// extrasLocked returns st.extras, making it; send.mu is held, and
// recv.mu is not.
func (st *Stream) extrasLocked() *streamExtras {
	if st.extras == nil {
		st.recv.mu.Lock()
		st.extras = new(streamExtras)
		st.recv.mu.Unlock()
	}
	return st.extras
}

// deadlinesLocked returns the deadlines, nil if none was ever set; send.mu
// or recv.mu is held.
func (st *Stream) deadlinesLocked() *streamDeadlines {
	if st.extras == nil {
		return nil
	}
	return st.extras.dl
}

// trailersOutLocked returns the response trailers waiting for the writer.
func (st *Stream) trailersOutLocked() []hpack.HeaderField {
	if st.extras == nil {
		return nil
	}
	return st.extras.trailersOut
}

// ID returns the stream identifier.
func (st *Stream) ID() uint32 { return st.id }

// Request returns the request head.
func (st *Stream) Request() *Request { return &st.req }

// Conn describes the connection the stream rides on: its ID, addresses,
// TLS state, and the net.Conn itself. Every stream of a connection gets
// the same *ConnInfo; it does not change.
func (st *Stream) Conn() *ConnInfo { return &st.c.info }

// Context returns a context cancelled when the stream is reset by either
// side, when the connection is lost or excludes the stream with GOAWAY,
// and when the handler returns (the last continuation, for a handler that
// waited with WhenReadable). context.Cause tells which.
func (st *Stream) Context() context.Context {
	parent := st.c.connContext() // c.mu, which comes before send.mu
	st.send.mu.Lock()
	defer st.send.mu.Unlock()
	r := st.extrasLocked()
	if r.ctx == nil {
		r.ctx, r.cancel = context.WithCancelCause(parent)
		if cause := st.causeLocked(); cause != nil {
			r.cancel(cause)
		}
	}
	return r.ctx
}

// causeLocked is why the stream's context ends, nil while it lives: the
// first of its failure (send.err) and its handler's return.
func (st *Stream) causeLocked() error {
	if st.send.returned {
		return ErrHandlerReturned
	}
	return st.send.err
}

// cancelLocked cancels the context made so far, if any; the cause
// (causeLocked) was recorded by the caller.
func (st *Stream) cancelLocked() {
	if st.extras != nil && st.extras.cancel != nil {
		st.extras.cancel(st.causeLocked())
	}
}

// done reports whether the stream failed or its handler finished.
func (st *Stream) done() bool {
	st.send.mu.Lock()
	defer st.send.mu.Unlock()
	return st.causeLocked() != nil
}

// rwaitLocked returns the receive side's wake-up channel, making it.
func (st *Stream) rwaitLocked() chan struct{} {
	if st.recv.wake == nil {
		st.recv.wake = make(chan struct{}, 1)
	}
	return st.recv.wake
}

// swaitLocked returns the send side's wake-up channel, making it.
func (st *Stream) swaitLocked() chan struct{} {
	if st.send.wake == nil {
		st.send.wake = make(chan struct{}, 1)
	}
	return st.send.wake
}

// Read reads the request body. It returns io.EOF once the client ended
// the stream and every byte was read, and a *StreamError if the stream
// was reset.
func (st *Stream) Read(p []byte) (int, error) {
	// Read is on the stack of every handler waiting for its body: its
	// frame stays small, the work is in tryRead.
	for {
		n, wait, err := st.tryRead(p)
		if wait == nil {
			return n, err
		}
		<-wait
	}
}

// tryRead reads what has arrived, or returns the channel to wait on.
func (st *Stream) tryRead(p []byte) (int, chan struct{}, error) {
	st.recv.mu.Lock()
	st.recv.dst = nil
	if n := int(st.recv.got); n > 0 || st.recv.buf.Len() > 0 {
		fromDst := n > 0
		if fromDst {
			st.recv.got = 0 // the reader copied straight into p
		} else {
			n = st.recv.buf.Read(p)
		}
		if !fromDst {
			st.c.srv.recv.used.Add(-int64(n)) // the budget holds buffered bytes only
		}
		var incr, connIncr uint32
		if st.recv.err == nil {
			incr, connIncr = st.creditLocked(n)
		}
		st.recv.mu.Unlock()
		st.c.sendCredit(st, incr, connIncr)
		return n, nil, nil
	}
	err := st.recv.err
	if err == nil && len(p) == 0 {
		st.recv.mu.Unlock()
		return 0, nil, nil
	}
	if dl := st.deadlinesLocked(); err == nil && dl != nil && dl.r.expired() {
		err = os.ErrDeadlineExceeded
	}
	if err != nil {
		st.recv.mu.Unlock()
		return 0, nil, err
	}
	ch := st.rwaitLocked()
	// Let the reader copy the next DATA straight in (p is not empty).
	st.recv.dst, st.recv.dstN = unsafe.SliceData(p), int32(min(len(p), math.MaxInt32))
	st.recv.mu.Unlock()
	return 0, ch, nil
}

// Trailers returns the request trailers, once Read has returned io.EOF;
// nil if the client sent none.
func (st *Stream) Trailers() http.Header {
	st.recv.mu.Lock()
	eof := st.recv.err == io.EOF
	st.recv.mu.Unlock()
	if !eof {
		return nil
	}
	st.send.mu.Lock()
	defer st.send.mu.Unlock()
	if st.extras == nil {
		return nil
	}
	return st.extras.trailersIn
}

// WriteHeaders sends a response head. Informational (1xx) heads may be
// sent any number of times and go out at once; the final head is sent
// once, and is held, like the body, until Flush, a full frame of body, or
// the end of the response, so that small responses leave in one write.
// WriteHeaders reads header only while it runs: a handler may reuse one
// header for many responses (a constant head built once costs no
// allocation per request) or change it after the call. Reuse is also the
// fastest way: the Server remembers the head it last built from such a
// header, and while the header holds the same keys and values, the next
// response takes that head instead of building it.
func (st *Stream) WriteHeaders(status int, header http.Header) error {
	return st.writeHeaders(status, header, true)
}

// writeHeaders is WriteHeaders; memo says whether the head may come from,
// or go to, the Server's memo of heads (headmemo.go).
func (st *Stream) writeHeaders(status int, header http.Header, memo bool) error {
	// The handler's goroutine runs this with whatever stack the handler
	// left: its frame, and what it calls, stay small (the 1xx path and
	// the errors apart), so that a small response does not grow the
	// stack, which costs a copy of it.
	if status < 100 || status > 999 || status == http.StatusSwitchingProtocols {
		return invalidStatus(status)
	}
	st.send.mu.Lock()
	defer st.send.mu.Unlock()
	if err := st.sendErrLocked(); err != nil {
		return err
	}
	if st.send.sentFinal {
		return errFinalHeadSent
	}
	if status < 200 {
		return st.writeInfoLocked(status, header)
	}
	if st.req.Method == http.MethodConnect && status/100 == 2 {
		// RFC 9110 section 9.3.6: "A server MUST NOT send any
		// Transfer-Encoding or Content-Length header fields in a 2xx
		// (Successful) response to CONNECT": the bytes that follow are
		// the tunnel's (or the WebSocket's, for an extended CONNECT), not
		// a body. (Transfer-Encoding never goes out.)
		header = withoutContentLength(header)
	}
	var fields []hpack.HeaderField
	var declared int64
	var m *headMemo
	if memo {
		m = st.c.cfg.heads.lookup(status, header)
	}
	if m != nil {
		fields, declared = m.fields, m.declared
	} else {
		arr := headArrPool.Get().(*[headArrLen]hpack.HeaderField)
		var err error
		fields, declared, err = appendResponseHead(arr[:0], status, header)
		if err != nil {
			putHeadArr(arr)
			return err
		}
		if cap(fields) == headArrLen {
			st.send.headArr = arr
		} else {
			putHeadArr(arr) // the fields outgrew it
		}
		if memo {
			st.c.cfg.heads.remember(status, header, fields, declared)
		}
	}
	st.send.final = fields
	st.send.sentFinal = true
	st.send.status = int16(status)
	st.send.declared = declared // whatever the case of its key
	st.send.noBody = st.req.Method == "HEAD" || status == http.StatusNoContent || status == http.StatusNotModified
	return nil
}

var errFinalHeadSent = errors.New("h2server: WriteHeaders called after the final response head")

//go:noinline
func invalidStatus(status int) error {
	return fmt.Errorf("h2server: invalid response status %d", status)
}

// writeInfoLocked queues an informational (1xx) head; send.mu held.
//
//go:noinline
func (st *Stream) writeInfoLocked(status int, header http.Header) error {
	fields, err := appendResponseFields(nil, status, header)
	if err != nil {
		return err
	}
	r := st.extrasLocked()
	r.infoHeads = append(r.infoHeads, fields)
	st.notifyLocked()
	return nil
}

// sendErrLocked reports why the send side cannot take more.
func (st *Stream) sendErrLocked() error {
	if st.send.err != nil {
		return st.send.err
	}
	if st.send.closed {
		return errSendClosed
	}
	return nil
}

// status200 is the default response head; shared, and never modified.
var status200 = []hpack.HeaderField{{Name: ":status", Value: "200"}}

// headArrLen fields fit the final head of most responses: :status,
// content-type, content-length and a few more.
const headArrLen = 8

var headArrPool = sync.Pool{New: func() any { return new([headArrLen]hpack.HeaderField) }}

func putHeadArr(arr *[headArrLen]hpack.HeaderField) {
	clear(arr[:])
	headArrPool.Put(arr)
}

// hasHeadsLocked reports whether header blocks wait for the writer.
func (st *Stream) hasHeadsLocked() bool {
	return st.send.final != nil || st.extras != nil && len(st.extras.infoHeads) > 0
}

// ensureHeadLocked supplies the default 200 head when the handler writes
// or ends the response without one.
func (st *Stream) ensureHeadLocked() {
	if !st.send.sentFinal {
		st.send.sentFinal = true
		st.send.status = 200
		st.send.declared = -1
		st.send.noBody = st.req.Method == "HEAD"
		st.send.final = status200
	}
}

// Write writes response body bytes, sending a 200 head first if none was
// written. It copies p and returns once the bytes are queued. A stream
// buffers no more than the client's flow-control window allows (and at
// most 128 KiB, 32 KiB while more than two streams share the connection):
// past that, Write blocks until the client reads
// (backpressure), so a client that opens its window slowly, or not at
// all, cannot make the server hold response bodies for it. A Write that
// waits for a closed window longer than the Server's StallTimeout resets
// the stream.
func (st *Stream) Write(p []byte) (int, error) {
	st.send.mu.Lock()
	if err := st.sendErrLocked(); err != nil {
		st.send.mu.Unlock()
		return 0, err
	}
	st.ensureHeadLocked()
	if st.send.noBody {
		st.send.mu.Unlock()
		if st.req.Method == "HEAD" {
			return len(p), nil // RFC 9110 section 9.3.2: no content; net/http eats it too
		}
		return 0, ErrBodyNotAllowed
	}
	if st.send.declared >= 0 && st.send.written+int64(len(p)) > st.send.declared {
		st.send.mu.Unlock()
		return 0, ErrContentLength
	}
	st.send.written += int64(len(p))
	total := 0
	for len(p) > 0 {
		if err := st.sendErrLocked(); err != nil {
			st.send.mu.Unlock()
			return total, err
		}
		window := int(st.window.Load())
		space := min(window, sendQuota(st.c.nstreams.Load())) - st.send.buf.Len()
		if space > 0 {
			// Credit for the connection window (sendCredit).
			space = st.c.credit.take(st, min(space, len(p)))
		}
		if space > 0 {
			if st.send.waitWindow {
				// The writer saw us stall; show it we moved on.
				st.send.waitWindow = false
				st.notifyLocked()
			}
			st.send.buf.Write(p[:space])
			p = p[space:]
			total += space
			continue
		}
		if dl := st.deadlinesLocked(); dl != nil && dl.w.expired() {
			st.send.mu.Unlock()
			return total, os.ErrDeadlineExceeded
		}
		// Wait for the writer to drain the buffer or for the window to
		// open. The writer resets a stream that cannot send for
		// StallTimeout (writer.stall), which wakes us with the error.
		st.send.waitWindow = st.send.buf.Len() == 0
		if st.hasHeadsLocked() || st.send.buf.Len() > 0 || st.send.waitWindow {
			st.notifyLocked()
		}
		ch := st.swaitLocked()
		st.send.mu.Unlock()
		<-ch
		st.send.mu.Lock()
	}
	if st.send.buf.Len() >= writeThreshold {
		st.notifyLocked()
	}
	st.send.mu.Unlock()
	return total, nil
}

// Flush hands the response head and buffered body to the connection's
// writer now, rather than when a frame's worth has accumulated.
func (st *Stream) Flush() error {
	st.send.mu.Lock()
	defer st.send.mu.Unlock()
	if st.send.err != nil {
		return st.send.err
	}
	if st.hasHeadsLocked() || st.send.buf.Len() > 0 {
		st.notifyLocked()
	}
	return nil
}

// WriteTrailers ends the response with a trailer block. It sends the
// default 200 head first if none was written.
func (st *Stream) WriteTrailers(trailers http.Header) error {
	fields, err := appendFields(nil, trailers)
	if err != nil {
		return err
	}
	st.send.mu.Lock()
	if err := st.sendErrLocked(); err != nil {
		st.send.mu.Unlock()
		return err
	}
	if len(fields) == 0 {
		fields = nil // nothing to send: END_STREAM on DATA
	} else if st.req.isTunnel() && (!st.send.sentFinal || st.send.status/100 == 2) {
		// RFC 9113 section 8.5: only DATA and stream management frames
		// travel on a connected stream.
		st.send.mu.Unlock()
		return errTunnelTrailers
	}
	return st.endLocked(fields)
}

// withoutContentLength returns h, or a copy of it without its
// content-length keys (in any case) when it has some.
func withoutContentLength(h http.Header) http.Header {
	var out http.Header
	for k := range h {
		if isContentLengthKey(k) {
			if out == nil {
				out = h.Clone()
			}
			delete(out, k)
		}
	}
	if out == nil {
		return h
	}
	return out
}

// Close ends the response (END_STREAM) once the buffered body is sent.
// Only the send side closes: the request body can still be read. Close
// after the response ended is a no-op.
func (st *Stream) Close() error {
	st.send.mu.Lock()
	if st.send.err != nil || st.send.closed {
		err := st.send.err
		st.send.mu.Unlock()
		return err
	}
	return st.endLocked(nil)
}

// endLocked ends the send side, with trailers if any, and releases send.mu.
// A response shorter than the content-length it declared cannot end
// well: it is reset with INTERNAL_ERROR instead (RFC 9113 section 8.1.1).
func (st *Stream) endLocked(trailers []hpack.HeaderField) error {
	if !st.closeSendLocked(trailers) {
		st.send.mu.Unlock()
		st.Reset(ErrCodeInternal)
		return ErrContentLength
	}
	st.send.mu.Unlock()
	return nil
}

// closeSendLocked ends the send side, with trailers if any, keeping
// send.mu; false, with nothing done, when the body is shorter than the
// content-length it declared.
func (st *Stream) closeSendLocked(trailers []hpack.HeaderField) bool {
	st.ensureHeadLocked()
	if st.send.declared >= 0 && st.send.written < st.send.declared && !st.send.noBody {
		return false
	}
	if trailers != nil {
		st.extrasLocked().trailersOut = trailers
	}
	st.send.closed = true
	st.notifyLocked()
	return true
}

// CancelRead tells the server the handler will read no more of the
// request body. Buffered and later DATA is discarded and Read fails.
// HTTP/2 cannot stop only the client's half, so once the response is
// complete the stream is reset with code (RFC 9113 section 8.1 suggests
// ErrCodeNo for a complete response).
func (st *Stream) CancelRead(code ErrCode) {
	st.send.mu.Lock()
	stopped, resume := st.stopReading(errReadCanceled)
	if stopped {
		st.resetAfterEndLocked(code)
	}
	st.send.mu.Unlock()
	if resume {
		st.c.resume(st)
	}
}

// stopReading ends the receive side locally; stopped is false when the
// client had already finished or the stream failed. resume says the
// stream waits with no goroutine (WhenReadable): the caller resumes it
// once it holds no lock.
func (st *Stream) stopReading(why error) (stopped, resume bool) {
	st.recv.mu.Lock()
	defer st.recv.mu.Unlock()
	if st.recv.err != nil {
		return false, false
	}
	st.recv.err = why
	st.dropBodyLocked()
	return true, st.wakeRecvLocked()
}

// resetAfterEndLocked arranges RST_STREAM code once END_STREAM is written,
// or at once if it already was.
func (st *Stream) resetAfterEndLocked(code ErrCode) {
	if st.send.err != nil {
		return
	}
	if st.send.ended {
		st.c.wq.push(writeItem{kind: itemReset, st: st, id: st.id, code: code})
		return
	}
	st.send.rstAfterEnd, st.send.rstCode = true, code
	st.notifyLocked()
}

// Reset abandons the stream in both directions with RST_STREAM code. The
// handler's context is cancelled, and Read and Write fail.
func (st *Stream) Reset(code ErrCode) {
	err := &StreamError{StreamID: st.id, Code: code}
	if st.fail(err) {
		st.c.wq.push(writeItem{kind: itemReset, st: st, id: st.id, code: code})
	}
}

// fail ends both sides of the stream with err: buffered request body is
// dropped, blocked reads and writes return, the context is cancelled. It
// reports false if the stream had already failed. The writer is told so
// that it drops the buffered response body.
func (st *Stream) fail(err error) bool {
	st.send.mu.Lock()
	if st.send.err != nil {
		st.send.mu.Unlock()
		return false
	}
	st.send.err = err
	st.send.final = nil
	if st.extras != nil {
		st.extras.infoHeads, st.extras.trailersOut = nil, nil
	}
	if st.send.headArr != nil { // the writer did not take the head
		putHeadArr(st.send.headArr)
		st.send.headArr = nil
	}
	wake(st.send.wake)
	st.notifyLocked()
	st.recv.mu.Lock()
	st.recv.err = err
	st.dropBodyLocked()
	resume := st.wakeRecvLocked()
	st.recv.mu.Unlock()
	st.cancelLocked()
	st.send.mu.Unlock()
	if resume {
		st.c.resume(st)
	}
	return true
}

// SetReadDeadline sets when a blocked Read gives up with
// os.ErrDeadlineExceeded. A zero time means no deadline.
func (st *Stream) SetReadDeadline(t time.Time) error {
	dl := st.deadlines()
	st.recv.mu.Lock()
	resume := dl.r.set(t, st.readDeadlinePassed) && st.wakeRecvLocked()
	st.recv.mu.Unlock()
	if resume {
		st.c.resume(st)
	}
	return nil
}

// readDeadlinePassed runs when the read deadline's timer fires.
func (st *Stream) readDeadlinePassed() {
	st.recv.mu.Lock()
	// A timer stopped too late may fire after the deadline moved: a
	// waiting Read looks again, but a stream waiting with no goroutine
	// resumes only when Read would not block.
	resume := st.wakeRecvLocked()
	if resume && !st.readableLocked() {
		st.recv.await, resume = awaitArmed, false
	}
	st.recv.mu.Unlock()
	if resume {
		st.c.resume(st)
	}
}

// SetWriteDeadline sets when a Write blocked on the client's flow control
// gives up with os.ErrDeadlineExceeded. A zero time means no deadline.
func (st *Stream) SetWriteDeadline(t time.Time) error {
	dl := st.deadlines()
	st.send.mu.Lock()
	defer st.send.mu.Unlock()
	if dl.w.set(t, st.writeDeadlinePassed) {
		wake(st.send.wake)
	}
	return nil
}

// writeDeadlinePassed runs when the write deadline's timer fires.
func (st *Stream) writeDeadlinePassed() {
	st.send.mu.Lock()
	wake(st.send.wake)
	st.send.mu.Unlock()
}

// notifyLocked hands the stream to the writer unless it already has it.
func (st *Stream) notifyLocked() {
	if !st.send.queued {
		st.send.queued = true
		st.c.wq.push(writeItem{kind: itemStream, st: st})
	}
}

// finish runs when the handler returns: it ends a response the handler
// left open, stops reading a body nobody will read (RST_STREAM NO_ERROR
// after the response, RFC 9113 section 8.1), and cancels the context.
//
// It takes each half's lock once (send.mu, then recv.mu inside it, as
// fail does): it runs for every request.
func (st *Stream) finish() {
	st.send.mu.Lock()
	if st.send.err == nil && !st.send.closed && !st.closeSendLocked(nil) {
		st.send.mu.Unlock()
		st.Reset(ErrCodeInternal) // shorter than its content-length
		st.send.mu.Lock()
	}
	st.recv.mu.Lock()
	// Stop reading a body nobody will read (stopReading, inline).
	stopped := st.send.err == nil && st.recv.err == nil
	if stopped {
		st.recv.err = ErrHandlerReturned
		wake(st.recv.wake)
	}
	st.dropBodyLocked() // a body the handler left unread
	// Drop deadline timers so an abandoned deadline cannot outlive us.
	if dl := st.deadlinesLocked(); dl != nil {
		dl.r.stop()
		dl.w.stop()
	}
	st.recv.mu.Unlock()
	if stopped {
		st.resetAfterEndLocked(ErrCodeNo)
	}
	if st.send.err == nil {
		st.send.returned = true
	}
	st.cancelLocked()
	st.send.mu.Unlock()
}

// release drops one of the stream's two references (its table entry, its
// handler); the last one reports the stream's end to the hooks.
func (st *Stream) release() {
	if st.refs.Add(-1) != -2 {
		return
	}
	st.recv.mu.Lock()
	st.endWindowLocked()
	st.recv.mu.Unlock()
	if h := st.c.cfg.hooks.StreamEnded; h != nil {
		info := st.info()
		st.send.mu.Lock()
		info.Status, info.Err = int(st.send.status), st.send.err
		st.send.mu.Unlock()
		st.recv.mu.Lock()
		info.BytesIn = st.recv.n
		st.recv.mu.Unlock()
		info.BytesOut = st.extras.sent.Load()
		info.Duration = time.Since(processStart) - st.extras.started
		h(info)
	}
	st.c.drop()
}

// info describes the stream to the hooks; only called when hooks are set,
// so st.extras was made before the stream was shared.
func (st *Stream) info() *StreamInfo {
	return &StreamInfo{Conn: &st.c.info, StreamID: st.id, Request: &st.req, Started: processStart.Add(st.extras.started)}
}

// appendData adds request body bytes from the reader, which checked flow
// control; once reading stopped they are dropped.
func (st *Stream) appendData(p []byte) (held int) {
	st.recv.mu.Lock()
	resume := false
	if st.recv.err == nil {
		if st.recv.dst != nil && st.recv.got == 0 && st.recv.buf.Len() == 0 {
			// A Read is waiting: one copy, into its buffer, while the
			// bytes are still in cache.
			st.recv.got = int32(copy(unsafe.Slice(st.recv.dst, st.recv.dstN), p))
			st.recv.dst = nil
			p = p[int(st.recv.got):]
		}
		if len(p) > 0 {
			st.recv.buf.Write(p)
			held = len(p)
			st.c.srv.recv.used.Add(int64(held))
		}
		resume = st.wakeRecvLocked()
	}
	st.recv.mu.Unlock()
	if resume {
		st.c.resume(st)
	}
	return held
}

// endBody records the end of the request body (END_STREAM), with its
// trailers if any, unless reading already stopped.
func (st *Stream) endBody(trailers http.Header) {
	if trailers != nil {
		// Kept with the rare fields; Trailers reads them once recv.err
		// is io.EOF, which is set after.
		st.send.mu.Lock()
		st.extrasLocked().trailersIn = trailers
		st.send.mu.Unlock()
	}
	st.recv.mu.Lock()
	if st.recv.err != nil {
		st.recv.mu.Unlock()
		return // reading stopped already
	}
	st.recv.err = io.EOF
	resume := st.wakeRecvLocked()
	st.recv.mu.Unlock()
	if resume {
		st.c.resume(st)
	}
}

// wake fills a one-slot wake-up channel without blocking.
func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// processStart anchors Stream.started: a Duration since it keeps the
// monotonic clock reading in 8 bytes instead of a time.Time's 24.
var processStart = time.Now()

// streamDeadlines are a stream's Read and Write deadlines (see streamExtras.dl).
type streamDeadlines struct{ r, w deadline }

// deadlines returns the stream's deadlines, making them.
func (st *Stream) deadlines() *streamDeadlines {
	st.send.mu.Lock()
	defer st.send.mu.Unlock()
	st.recv.mu.Lock()
	defer st.recv.mu.Unlock()
	if st.extras == nil {
		st.extras = new(streamExtras) // both locks are held
	}
	if st.extras.dl == nil {
		st.extras.dl = new(streamDeadlines)
	}
	return st.extras.dl
}

// deadline is a Read or Write deadline: a time and a timer that wakes the
// blocked side when it passes. Its owner's mutex guards it.
type deadline struct {
	at    int64 // Unix nanoseconds; 0: none
	timer *time.Timer
}

func (d *deadline) expired() bool { return d.at != 0 && time.Now().UnixNano() >= d.at }

// set moves the deadline to t (zero: none), with a timer that calls
// fire when it passes; true if t has passed already, and the caller
// wakes the side itself.
func (d *deadline) set(t time.Time, fire func()) (passed bool) {
	d.stop()
	if t.IsZero() {
		return false
	}
	d.at = max(t.UnixNano(), 1)
	if dur := time.Until(t); dur > 0 {
		d.timer = time.AfterFunc(dur, fire)
		return false
	}
	return true
}

// stop drops the deadline and its timer.
func (d *deadline) stop() {
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	d.at = 0
}

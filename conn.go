package h2server

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// conn is one HTTP/2 connection. It runs three kinds of goroutine: the
// reader (serve and everything it calls), the writer (writer.go), and one
// handler goroutine per stream. Fields say who owns them.
type conn struct {
	srv  *Server
	nc   net.Conn
	cfg  *config // immutable
	log  *slog.Logger
	tls  *tls.ConnectionState // immutable after the handshake
	addr net.Addr

	ctx    context.Context // parent of every stream's context; cancelled at teardown
	cancel context.CancelCauseFunc

	wq         writeQueue
	w          *writer
	done       chan struct{} // closed at teardown: the writer stops
	writerDone chan struct{} // closed when the writer returns

	streamUpdateThreshold int32 // immutable: batch size of stream WINDOW_UPDATEs

	// Owned by the reader.
	br                *bufio.Reader
	fr                *http2.Framer
	hdec              *hpack.Decoder
	hdr               headerBlock
	inflow            inflow // the connection window we advertised
	peerInitialWindow uint32 // the peer's SETTINGS_INITIAL_WINDOW_SIZE
	logged            map[string]bool
	gotSettings       bool

	mu            sync.Mutex
	streams       map[uint32]*Stream // guarded by mu: open and half-closed streams
	lastStreamID  uint32             // guarded by mu: highest client stream ID seen
	handlers      int                // guarded by mu: handler goroutines running
	goAwayID      uint32             // guarded by mu: when goingAway, the last stream we serve
	goingAway     bool               // guarded by mu: our final GOAWAY is queued; no new streams
	shutdownSent  bool               // guarded by mu: the first, 2^31-1 GOAWAY is queued
	closeQueued   bool               // guarded by mu: itemClose is queued
	idleTimer     *time.Timer        // guarded by mu
	settingsTimer *time.Timer        // guarded by mu
	shutdownTimer *time.Timer        // guarded by mu
	failed        bool               // guarded by mu: a connection error is being sent
	failing       atomic.Bool        // failed, readable without mu: the reader stops
}

// headerBlock is the header block being received: a HEADERS frame and its
// CONTINUATION frames, decoded as they arrive. Owned by the reader.
type headerBlock struct {
	id        uint32
	endStream bool
	priority  http2.PriorityParam
	trailerOf *Stream // set when the block is trailers of an open stream
	fields    []hpack.HeaderField
	size      uint32 // RFC 9113 section 6.5.2 size of the decoded fields
	tooLarge  bool   // the list passed MaxHeaderListSize; fields stopped being kept
	frames    int    // CONTINUATION frames so far
	bytes     int    // encoded bytes so far
}

func newConn(srv *Server, nc net.Conn, cfg *config) *conn {
	c := &conn{
		srv:        srv,
		nc:         nc,
		cfg:        cfg,
		addr:       nc.RemoteAddr(),
		done:       make(chan struct{}),
		writerDone: make(chan struct{}),
		streams:    make(map[uint32]*Stream),
		inflow:     inflow{avail: cfg.initialConnWindow},
		// The peer's default until its SETTINGS say otherwise.
		peerInitialWindow:     65535,
		streamUpdateThreshold: max(cfg.initialStreamWindow/4, 1),
	}
	c.wq.wake = make(chan struct{}, 1)
	c.log = cfg.logger.With("remote", c.addr.String())
	c.ctx, c.cancel = context.WithCancelCause(context.Background())
	return c
}

// serve runs the connection on the calling goroutine, which becomes its
// reader, and returns when the connection is closed.
func (c *conn) serve() error {
	defer c.teardown()
	if tc, ok := c.nc.(*tls.Conn); ok {
		if err := c.handshake(tc); err != nil {
			return err
		}
	}
	bad, err := c.readPreface()
	if err == errHTTP1 {
		c.drain()
	}
	if err != nil {
		return err
	}
	c.startWriter()
	if bad {
		// RFC 9113 section 3.4: an invalid preface is a connection error
		// of type PROTOCOL_ERROR; our SETTINGS still go first.
		c.connFailed(connError{ErrCodeProtocol, "invalid_preface"})
		c.drain()
		return nil
	}
	err = c.readLoop()
	var ce connError
	if errors.As(err, &ce) {
		c.connFailed(ce)
		c.drain()
		return nil
	}
	c.mu.Lock()
	closing := c.closeQueued
	c.mu.Unlock()
	if closing || errors.Is(err, io.EOF) {
		return nil // we hung up, or the client did: a normal end
	}
	return err
}

func (c *conn) handshake(tc *tls.Conn) error {
	if d := c.cfg.prefaceTimeout; d > 0 {
		tc.SetDeadline(time.Now().Add(d))
	}
	if err := tc.HandshakeContext(c.ctx); err != nil {
		c.log.Info("h2server: TLS handshake failed", "err", err)
		return err
	}
	tc.SetDeadline(time.Time{})
	st := tc.ConnectionState()
	if st.NegotiatedProtocol != "h2" {
		c.log.Info("h2server: TLS client did not negotiate h2 with ALPN; closing", "alpn", st.NegotiatedProtocol)
		return fmt.Errorf("h2server: TLS client negotiated ALPN %q, not h2", st.NegotiatedProtocol)
	}
	c.tls = &st
	return nil
}

func (c *conn) startWriter() {
	c.mu.Lock()
	c.w = newWriter(c)
	c.mu.Unlock()
	c.fr = http2.NewFramer(nil, c.br)
	c.fr.SetMaxReadFrameSize(c.cfg.maxReadFrameSize)
	c.hdec = hpack.NewDecoder(4096, c.onField)
	c.hdec.SetMaxStringLength(int(c.cfg.maxHeaderListSize))
	go c.w.run()

	settings := []http2.Setting{
		{ID: http2.SettingMaxConcurrentStreams, Val: c.cfg.maxConcurrentStreams},
		{ID: http2.SettingInitialWindowSize, Val: uint32(c.cfg.initialStreamWindow)},
		{ID: http2.SettingMaxFrameSize, Val: c.cfg.maxReadFrameSize},
		{ID: http2.SettingMaxHeaderListSize, Val: c.cfg.maxHeaderListSize},
	}
	c.wq.push(writeItem{kind: itemSettings, settings: settings, n: uint32(c.cfg.initialConnWindow - 65535)})
	c.mu.Lock()
	if d := c.cfg.settingsAckTimeout; d > 0 {
		c.settingsTimer = time.AfterFunc(d, func() {
			c.connFailed(connError{ErrCodeSettingsTimeout, "settings_ack_timeout"})
		})
	}
	c.armIdleLocked()
	c.mu.Unlock()
}

// drain keeps reading, and discarding, for a moment after a connection
// error, so that the GOAWAY reaches a peer that is still sending instead
// of being lost to a TCP reset.
func (c *conn) drain() {
	c.nc.SetReadDeadline(time.Now().Add(lingerTimeout))
	io.Copy(io.Discard, c.nc)
}

// lingerTimeout bounds how long a closing connection waits for its peer.
const lingerTimeout = time.Second

// closeWrite ends our direction of the transport after the last frame, and
// gives the peer lingerTimeout to close its own.
func closeWrite(nc net.Conn) {
	type closeWriter interface{ CloseWrite() error }
	if cw, ok := nc.(closeWriter); ok && cw.CloseWrite() == nil {
		nc.SetReadDeadline(time.Now().Add(lingerTimeout))
		return
	}
	nc.Close()
}

// teardown runs when the reader stops: every stream fails, timers stop,
// the writer exits, and the transport closes.
func (c *conn) teardown() {
	c.cancel(errConnClosed)
	close(c.done)
	c.nc.Close()
	if c.w != nil {
		<-c.writerDone
	}
	c.mu.Lock()
	streams := make([]*Stream, 0, len(c.streams))
	for _, st := range c.streams {
		streams = append(streams, st)
	}
	clear(c.streams)
	for _, t := range []*time.Timer{c.idleTimer, c.settingsTimer, c.shutdownTimer} {
		if t != nil {
			t.Stop()
		}
	}
	c.mu.Unlock()
	for _, st := range streams {
		st.fail(errConnClosed)
		st.smu.Lock()
		st.sbuf.reset() // the writer is gone: nobody else touches sbuf
		st.smu.Unlock()
	}
	c.srv.forget(c)
}

// readLoop reads frames until the connection ends. A connection error
// comes back as a connError.
func (c *conn) readLoop() error {
	for !c.failing.Load() {
		fh, err := c.fr.ReadFrameHeader()
		if err != nil {
			return c.readError(err, "frame_header")
		}
		if c.hdr.id != 0 && fh.Type == http2.FrameContinuation {
			// Check the caps before the payload is read into memory.
			if err := c.checkContinuation(fh); err != nil {
				return err
			}
		}
		f, err := c.fr.ReadFrameForHeader(fh)
		if err != nil {
			var se http2.StreamError
			if errors.As(err, &se) && fh.Type != http2.FrameHeaders && fh.Type != http2.FrameContinuation {
				c.streamFailed(streamError{se.StreamID, ErrCode(se.Code), "invalid_" + typeToken(fh.Type)})
				continue
			}
			return c.readError(err, typeToken(fh.Type))
		}
		if err := c.processFrame(f); err != nil {
			return err
		}
	}
	c.drain()
	return nil
}

// readError classifies a read failure: codec violations become connection
// errors, transport failures end the connection quietly.
func (c *conn) readError(err error, what string) error {
	var ce http2.ConnectionError
	switch {
	case errors.Is(err, http2.ErrFrameTooLarge):
		return connError{ErrCodeFrameSize, "frame_too_large"}
	case errors.As(err, &ce):
		return connError{ErrCode(ce), "invalid_" + what}
	case errors.As(err, new(http2.StreamError)):
		// A field block we could not parse leaves HPACK state unknown.
		return connError{ErrCodeProtocol, "invalid_" + what}
	case errors.Is(err, os.ErrDeadlineExceeded):
		return err
	}
	return err
}

func typeToken(t http2.FrameType) string {
	switch t {
	case http2.FrameData:
		return "data"
	case http2.FrameHeaders:
		return "headers"
	case http2.FramePriority:
		return "priority"
	case http2.FrameRSTStream:
		return "rst_stream"
	case http2.FrameSettings:
		return "settings"
	case http2.FramePushPromise:
		return "push_promise"
	case http2.FramePing:
		return "ping"
	case http2.FrameGoAway:
		return "goaway"
	case http2.FrameWindowUpdate:
		return "window_update"
	case http2.FrameContinuation:
		return "continuation"
	}
	return "frame"
}

func (c *conn) processFrame(f http2.Frame) error {
	if !c.gotSettings {
		// RFC 9113 section 3.4: the client preface ends with a SETTINGS frame.
		if _, ok := f.(*http2.SettingsFrame); !ok {
			return connError{ErrCodeProtocol, "preface_not_settings"}
		}
		c.gotSettings = true
	}
	switch f := f.(type) {
	case *http2.DataFrame:
		return c.onData(f)
	case *http2.HeadersFrame:
		return c.onHeaders(f)
	case *http2.ContinuationFrame:
		return c.onContinuation(f)
	case *http2.PriorityFrame:
		return c.onPriority(f)
	case *http2.RSTStreamFrame:
		return c.onRSTStream(f)
	case *http2.SettingsFrame:
		return c.onSettings(f)
	case *http2.PingFrame:
		return c.onPing(f)
	case *http2.GoAwayFrame:
		return c.onGoAway(f)
	case *http2.WindowUpdateFrame:
		return c.onWindowUpdate(f)
	case *http2.PushPromiseFrame:
		// Section 8.4: a client cannot push.
		return connError{ErrCodeProtocol, "push_promise_from_client"}
	}
	// Section 5.5: unknown frame types are ignored.
	return nil
}

// lookup returns the stream for id, or nil when it is idle or closed;
// idle reports whether the client never opened it.
func (c *conn) lookup(id uint32) (st *Stream, idle bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.streams[id], id > c.lastStreamID
}

func (c *conn) onSettings(f *http2.SettingsFrame) error {
	if f.IsAck() {
		c.mu.Lock()
		if c.settingsTimer != nil {
			c.settingsTimer.Stop()
			c.settingsTimer = nil
		}
		c.mu.Unlock()
		return nil
	}
	if f.NumSettings() > maxSettingsPerFrame {
		return connError{ErrCodeEnhanceYourCalm, "too_many_settings"}
	}
	it := writeItem{kind: itemPeerSettings, n: c.peerInitialWindow}
	windowChanged := false
	err := f.ForeachSetting(func(s http2.Setting) error {
		if err := s.Valid(); err != nil {
			var ce http2.ConnectionError
			errors.As(err, &ce)
			return connError{ErrCode(ce), "invalid_setting_" + s.ID.String()}
		}
		if s.ID == http2.SettingInitialWindowSize && s.Val != c.peerInitialWindow {
			c.peerInitialWindow = s.Val
			windowChanged = true
		}
		it.settings = append(it.settings, s)
		return nil
	})
	if err != nil {
		return err
	}
	if windowChanged {
		// The writer adjusts the windows of streams open now; streams
		// opened later start from the new value (newStream).
		c.mu.Lock()
		for _, st := range c.streams {
			it.streams = append(it.streams, st)
		}
		c.mu.Unlock()
	}
	c.wq.push(it)
	return nil
}

// maxSettingsPerFrame caps the entries of one SETTINGS frame; a peer has
// at most a handful of parameters worth sending.
const maxSettingsPerFrame = 32

func (c *conn) onPing(f *http2.PingFrame) error {
	if f.IsAck() {
		if f.Data == shutdownPingData {
			c.finishShutdown()
		}
		return nil
	}
	c.wq.push(writeItem{kind: itemPingAck, data: f.Data})
	return nil
}

func (c *conn) onGoAway(f *http2.GoAwayFrame) error {
	if f.ErrCode != http2.ErrCodeNo {
		c.log.Info("h2server: peer sent GOAWAY", "code", ErrCode(f.ErrCode), "debug", string(f.DebugData()))
	}
	// The client opens no more streams; the ones it has finish, then we close.
	c.mu.Lock()
	c.goAwayLocked()
	c.mu.Unlock()
	return nil
}

func (c *conn) onWindowUpdate(f *http2.WindowUpdateFrame) error {
	if f.StreamID == 0 {
		c.wq.push(writeItem{kind: itemPeerWindow, n: f.Increment})
		return nil
	}
	st, idle := c.lookup(f.StreamID)
	if idle {
		return connError{ErrCodeProtocol, "window_update_on_idle_stream"}
	}
	if st != nil {
		c.wq.push(writeItem{kind: itemPeerWindow, st: st, n: f.Increment})
	}
	// On a closed stream WINDOW_UPDATE is ignored (section 6.9).
	return nil
}

func (c *conn) onRSTStream(f *http2.RSTStreamFrame) error {
	st, idle := c.lookup(f.StreamID)
	if idle {
		return connError{ErrCodeProtocol, "rst_stream_on_idle_stream"}
	}
	if st == nil {
		return nil
	}
	c.mu.Lock()
	c.transitionLocked(st, evReset)
	c.mu.Unlock()
	st.fail(&StreamError{StreamID: st.id, Code: ErrCode(f.ErrCode), Remote: true})
	return nil
}

func (c *conn) onPriority(f *http2.PriorityFrame) error {
	// Section 5.3.1: a stream cannot depend on itself. Priorities are
	// otherwise ignored, as RFC 9113 deprecates this scheme.
	if f.StreamDep == f.StreamID {
		c.streamFailed(streamError{f.StreamID, ErrCodeProtocol, "priority_self_dependency"})
	}
	return nil
}

func (c *conn) onData(f *http2.DataFrame) error {
	id := f.StreamID
	n := f.Length // payload and padding both count (section 6.9.1)
	if !c.inflow.take(n) {
		return connError{ErrCodeFlowControl, "conn_window_exceeded"}
	}
	// Credit the connection window at once: a stream's own window bounds
	// what it buffers, and a slow reader must not stall its neighbours.
	if incr := c.inflow.give(int(n), c.cfg.initialConnWindow/4); incr > 0 {
		c.wq.push(writeItem{kind: itemWindowUpdate, id: 0, n: incr})
	}
	st, idle := c.lookup(id)
	if idle {
		return connError{ErrCodeProtocol, "data_on_idle_stream"}
	}
	if st == nil {
		c.streamFailed(streamError{id, ErrCodeStreamClosed, "data_on_closed_stream"})
		return nil
	}
	c.mu.Lock()
	canRecv := st.state.canRecv()
	c.mu.Unlock()
	if !canRecv {
		c.streamFailed(streamError{id, ErrCodeStreamClosed, "data_after_end_stream"})
		return nil
	}
	data := f.Data()
	st.rmu.Lock()
	if !st.rflow.take(n) {
		st.rmu.Unlock()
		c.streamFailed(streamError{id, ErrCodeFlowControl, "stream_window_exceeded"})
		return nil
	}
	st.recvd += int64(len(data))
	cl := st.req.ContentLength
	overrun := cl >= 0 && st.recvd > cl
	short := f.StreamEnded() && cl >= 0 && st.recvd != cl
	// Padding, and DATA nobody will read, go back to the peer now.
	give := int(n) - len(data)
	if st.readCanceled {
		give = int(n)
	}
	var incr uint32
	if give > 0 && st.rerr == nil {
		incr = st.rflow.give(give, c.streamUpdateThreshold)
	}
	st.rmu.Unlock()
	if incr > 0 {
		c.wq.push(writeItem{kind: itemWindowUpdate, id: id, n: incr})
	}
	if overrun || short {
		// Section 8.1.1: content-length must match the DATA received.
		c.streamFailed(streamError{id, ErrCodeProtocol, "content_length_mismatch"})
		return nil
	}
	st.deliver(data, f.StreamEnded(), nil)
	if f.StreamEnded() {
		c.mu.Lock()
		c.transitionLocked(st, evRecvEndStream)
		c.mu.Unlock()
	}
	return nil
}

// onHeaders starts a header block: a new request, or trailers.
func (c *conn) onHeaders(f *http2.HeadersFrame) error {
	id := f.StreamID
	if id%2 == 0 {
		return connError{ErrCodeProtocol, "even_stream_id"}
	}
	c.hdr = headerBlock{id: id, endStream: f.StreamEnded(), fields: c.hdr.fields[:0]}
	if f.HasPriority() {
		c.hdr.priority = f.Priority
	}
	st, idle := c.lookup(id)
	if !idle {
		if st == nil {
			// Section 5.1.1: stream IDs only grow; a HEADERS frame for a
			// lower ID cannot open a stream.
			return connError{ErrCodeProtocol, "stream_id_not_increasing"}
		}
		c.mu.Lock()
		canRecv := st.state.canRecv()
		c.mu.Unlock()
		if !canRecv {
			return connError{ErrCodeStreamClosed, "headers_after_end_stream"}
		}
		c.hdr.trailerOf = st
	}
	return c.headerFragment(f.HeaderBlockFragment(), f.HeadersEnded())
}

func (c *conn) onContinuation(f *http2.ContinuationFrame) error {
	return c.headerFragment(f.HeaderBlockFragment(), f.HeadersEnded())
}

// checkContinuation bounds a header block by frame count and encoded
// size before the next CONTINUATION payload is even read.
func (c *conn) checkContinuation(fh http2.FrameHeader) error {
	c.hdr.frames++
	if c.hdr.frames > c.cfg.maxContinuationFrames {
		return connError{ErrCodeEnhanceYourCalm, "too_many_continuation_frames"}
	}
	if c.hdr.bytes+int(fh.Length) > c.cfg.maxHeaderBlockBytes {
		return connError{ErrCodeEnhanceYourCalm, "header_block_too_large"}
	}
	return nil
}

func (c *conn) headerFragment(frag []byte, end bool) error {
	c.hdr.bytes += len(frag)
	if c.hdr.bytes > c.cfg.maxHeaderBlockBytes {
		return connError{ErrCodeEnhanceYourCalm, "header_block_too_large"}
	}
	if _, err := c.hdec.Write(frag); err != nil {
		return connError{ErrCodeCompression, "hpack_decode"}
	}
	if !end {
		return nil
	}
	if err := c.hdec.Close(); err != nil {
		return connError{ErrCodeCompression, "hpack_truncated"}
	}
	c.hdec.SetEmitEnabled(true)
	hdr := &c.hdr
	defer func() { c.hdr.id = 0 }()
	if hdr.trailerOf != nil {
		return c.onTrailers(hdr)
	}
	return c.openStream(hdr)
}

// onField receives each decoded field. Past MaxHeaderListSize, fields are
// still decoded, to keep the HPACK table in step with the peer's, but no
// longer kept.
func (c *conn) onField(f hpack.HeaderField) {
	c.hdr.size += f.Size()
	if c.hdr.size > c.cfg.maxHeaderListSize {
		c.hdr.tooLarge = true
		c.hdec.SetEmitEnabled(false)
		return
	}
	c.hdr.fields = append(c.hdr.fields, f)
}

func (c *conn) onTrailers(hdr *headerBlock) error {
	st := hdr.trailerOf
	if !hdr.endStream {
		// Section 8.1: trailers end the stream.
		c.streamFailed(streamError{st.id, ErrCodeProtocol, "trailers_without_end_stream"})
		return nil
	}
	if hdr.tooLarge {
		c.streamFailed(streamError{st.id, ErrCodeProtocol, "trailers_too_large"})
		return nil
	}
	trailers, reason := parseTrailers(hdr.fields)
	if reason != "" {
		c.streamFailed(streamError{st.id, ErrCodeProtocol, reason})
		return nil
	}
	st.rmu.Lock()
	cl, recvd := st.req.ContentLength, st.recvd
	st.rmu.Unlock()
	if cl >= 0 && cl != recvd {
		c.streamFailed(streamError{st.id, ErrCodeProtocol, "content_length_mismatch"})
		return nil
	}
	st.deliver(nil, true, trailers)
	c.mu.Lock()
	c.transitionLocked(st, evRecvEndStream)
	c.mu.Unlock()
	return nil
}

// openStream admits a new request stream and starts its handler.
func (c *conn) openStream(hdr *headerBlock) error {
	id := hdr.id
	c.mu.Lock()
	c.lastStreamID = id
	refused := c.goingAway && id > c.goAwayID
	full := uint32(len(c.streams)) >= c.cfg.maxConcurrentStreams
	c.mu.Unlock()
	if refused {
		// Section 6.8: the client may retry this stream on a new connection.
		c.wq.push(writeItem{kind: itemReset, id: id, code: ErrCodeRefusedStream})
		return nil
	}
	if hdr.priority.StreamDep == id {
		c.streamFailed(streamError{id, ErrCodeProtocol, "priority_self_dependency"})
		return nil
	}
	if full {
		c.streamFailed(streamError{id, ErrCodeRefusedStream, "max_concurrent_streams"})
		return nil
	}
	if hdr.tooLarge {
		c.countError("header_list_too_large")
		c.wq.push(writeItem{kind: itemReset, id: id, code: ErrCodeRefusedStream})
		return nil
	}
	req, reason := parseRequest(hdr.fields)
	if reason != "" {
		// Section 8.1.1: a malformed request is a stream error.
		c.streamFailed(streamError{id, ErrCodeProtocol, reason})
		return nil
	}
	if hdr.endStream && req.ContentLength > 0 {
		c.streamFailed(streamError{id, ErrCodeProtocol, "content_length_mismatch"})
		return nil
	}
	// The request keeps the fields; the next block gets a fresh slice.
	c.hdr.fields = nil
	req.RemoteAddr = c.addr
	req.TLS = c.tls
	st := c.newStream(id, req, hdr.endStream)
	go c.runHandler(st)
	return nil
}

func (c *conn) newStream(id uint32, req Request, endStream bool) *Stream {
	st := &Stream{
		c:          c,
		id:         id,
		req:        req,
		state:      stateOpen,
		rflow:      inflow{avail: c.cfg.initialStreamWindow},
		rwake:      make(chan struct{}, 1),
		swake:      make(chan struct{}, 1),
		sendWindow: outflow(c.peerInitialWindow),
	}
	st.ctx, st.cancel = context.WithCancelCause(c.ctx)
	if endStream {
		st.rerr = io.EOF
		st.state = stateHalfClosedRemote
	}
	c.mu.Lock()
	c.streams[id] = st
	c.handlers++
	if c.idleTimer != nil {
		c.idleTimer.Stop()
		c.idleTimer = nil
	}
	c.mu.Unlock()
	return st
}

func (c *conn) runHandler(st *Stream) {
	defer func() {
		if r := recover(); r != nil {
			if r != errAbortStream {
				c.log.Error("h2server: handler panic; resetting its stream",
					"stream", st.id, "panic", r, "stack", string(debug.Stack()))
			}
			st.Reset(ErrCodeInternal)
		}
		st.finish()
		c.mu.Lock()
		c.handlers--
		c.maybeCloseLocked()
		c.mu.Unlock()
	}()
	c.cfg.handler.ServeStream(st)
}

// errAbortStream, panicked by a handler, resets its stream without a log line.
var errAbortStream = errors.New("h2server: abort stream")

// transitionLocked moves st through the state machine; a stream that
// reaches closed leaves the table.
func (c *conn) transitionLocked(st *Stream, ev streamEvent) bool {
	next, ok := st.state.next(ev)
	if !ok {
		return false
	}
	st.state = next
	if next == stateClosed {
		delete(c.streams, st.id)
		c.maybeCloseLocked()
	}
	return true
}

// streamEnded is called by the writer after it wrote END_STREAM.
func (c *conn) streamEnded(st *Stream) {
	c.mu.Lock()
	c.transitionLocked(st, evSendEndStream)
	c.mu.Unlock()
}

// streamReset is called by the writer before it writes RST_STREAM for st;
// it reports whether the frame should go out (not for a closed stream).
func (c *conn) streamReset(st *Stream) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.transitionLocked(st, evReset)
}

// streamFailed answers a stream error with RST_STREAM (section 5.4.2).
func (c *conn) streamFailed(se streamError) {
	c.logStreamError(se.StreamID, se.Code, se.Reason)
	st, _ := c.lookup(se.StreamID)
	if st == nil {
		c.wq.push(writeItem{kind: itemReset, id: se.StreamID, code: se.Code})
		return
	}
	st.fail(&StreamError{StreamID: se.StreamID, Code: se.Code, Cause: errors.New(se.Reason)})
	c.wq.push(writeItem{kind: itemReset, st: st, id: se.StreamID, code: se.Code, always: true})
}

func (c *conn) logStreamError(id uint32, code ErrCode, reason string) {
	c.countError(reason)
	if c.logOnce(reason) {
		c.log.Info("h2server: stream error", "stream", id, "code", code, "reason", reason)
	}
}

// connFailed answers a connection error (section 5.4.1): GOAWAY with the
// code, then the connection closes. Safe from any goroutine.
func (c *conn) connFailed(ce connError) {
	c.mu.Lock()
	if c.failed {
		c.mu.Unlock()
		return
	}
	c.failed = true
	c.failing.Store(true)
	c.goingAway = true
	c.goAwayID = c.lastStreamID
	c.closeQueued = true
	c.mu.Unlock()
	c.countError(ce.Reason)
	c.log.Info("h2server: connection error", "code", ce.Code, "reason", ce.Reason)
	c.wq.push(writeItem{kind: itemGoAway, id: c.goAwayID, code: ce.Code, debug: ce.Reason})
	c.wq.push(writeItem{kind: itemClose})
	c.cancel(&ConnectionError{Code: ce.Code, Reason: ce.Reason})
}

// countError is the one place every rejection passes through.
func (c *conn) countError(reason string) {
	if h := c.srv.countErrorHook; h != nil {
		h(reason)
	}
}

// logOnce reports whether reason is new on this connection, so a peer
// that repeats a fault costs one log line. Reader only.
func (c *conn) logOnce(reason string) bool {
	if c.logged[reason] {
		return false
	}
	if c.logged == nil {
		c.logged = make(map[string]bool)
	}
	c.logged[reason] = true
	return true
}

// armIdleLocked starts the idle timer when no stream is open.
func (c *conn) armIdleLocked() {
	d := c.cfg.idleTimeout
	if d <= 0 || c.idleTimer != nil || len(c.streams) > 0 || c.handlers > 0 {
		return
	}
	c.idleTimer = time.AfterFunc(d, c.onIdle)
}

func (c *conn) onIdle() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.idleTimer = nil
	if len(c.streams) > 0 || c.handlers > 0 || c.goingAway {
		return
	}
	c.goAwayLocked()
}

// goAwayLocked queues our final GOAWAY NO_ERROR naming the last stream we
// will serve; the connection closes once those streams are done.
func (c *conn) goAwayLocked() {
	if c.goingAway {
		return
	}
	c.goingAway = true
	c.goAwayID = c.lastStreamID
	c.wq.push(writeItem{kind: itemGoAway, id: c.goAwayID, code: ErrCodeNo})
	c.maybeCloseLocked()
}

// maybeCloseLocked closes a connection that is going away once nothing
// remains to serve, and re-arms the idle timer of one that is not.
func (c *conn) maybeCloseLocked() {
	if len(c.streams) > 0 || c.handlers > 0 {
		return
	}
	if !c.goingAway {
		c.armIdleLocked()
		return
	}
	if !c.closeQueued {
		c.closeQueued = true
		c.wq.push(writeItem{kind: itemClose})
	}
}

// shutdownPingData marks the PING of a graceful shutdown.
var shutdownPingData = [8]byte{'h', '2', 's', 'h', 'u', 't', 'd', 'n'}

// shutdown starts a graceful shutdown (RFC 9113 section 6.8): a GOAWAY
// with the largest stream ID and a PING; when the PING returns, every
// stream the client opened before it is known, and the final GOAWAY
// names the last of them.
func (c *conn) shutdown() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.w == nil {
		// Still in the handshake or preface: nothing was admitted.
		c.nc.Close()
		return
	}
	if c.shutdownSent || c.goingAway {
		return
	}
	if len(c.streams) == 0 && c.handlers == 0 {
		c.goAwayLocked()
		return
	}
	c.shutdownSent = true
	c.wq.push(writeItem{kind: itemGoAway, id: 1<<31 - 1, code: ErrCodeNo})
	c.wq.push(writeItem{kind: itemPing, data: shutdownPingData})
	c.shutdownTimer = time.AfterFunc(c.cfg.shutdownPingTimeout, c.finishShutdown)
}

func (c *conn) finishShutdown() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.shutdownSent {
		return
	}
	if c.shutdownTimer != nil {
		c.shutdownTimer.Stop()
	}
	c.goAwayLocked()
}

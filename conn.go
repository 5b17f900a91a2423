package h2server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
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
	cfg  *config                     // immutable
	logp atomic.Pointer[slog.Logger] // made on first use: most connections never log
	tls  *tls.ConnectionState        // immutable after the handshake
	addr net.Addr
	info ConnInfo // for hooks; immutable once opened
	// opened is set, before the writer starts, once the preface passed.
	opened bool
	// handedOff is set when the connection went to Server.HTTP1.
	handedOff bool

	ctx    context.Context // parent of every stream's context; cancelled at teardown
	cancel context.CancelCauseFunc

	wq   writeQueue
	work chan *Stream // hands a stream to an idle worker (see worker)
	w    *writer
	done chan struct{} // closed at teardown: the writer stops

	streamUpdateThreshold int32 // immutable: batch size of stream WINDOW_UPDATEs

	// Parking (park.go): raw is the socket of a connection that may park
	// (immutable once serving), parkTok its registration while parked
	// (guarded by srv.poller.mu), noPark set once it closes.
	raw        syscall.RawConn
	parkTok    uint64
	noPark     atomic.Bool
	carried    bool // reader's: a stream opened since the reader last parked
	parkFailed bool // reader's: park refused once; do not ask again
	// The park deadline: a read deadline parkDelay away, armed by the
	// reader or by the stream that leaves the connection idle, cleared by
	// the reader when it passes. Closing paths set their own deadline
	// under parkMu, after noPark, so that the reader never clears theirs.
	parkMu    sync.Mutex
	parkArmed bool // guarded by parkMu

	// Owned by the reader.
	br                *connReader
	fr                *http2.Framer
	hdec              *hpack.Decoder
	hdr               headerBlock
	inflow            inflow    // the connection window we advertised
	peerInitialWindow uint32    // the peer's SETTINGS_INITIAL_WINDOW_SIZE
	fresh             bool      // from Serve: the reader may move to a fresh goroutine (shouldHop) or park
	hopAt             time.Time // when the reader last moved
	glitches          float64   // tokens left in the glitch budget
	glitchAt          time.Time // when glitches was last refilled
	gotSettings       bool

	mu            sync.Mutex
	streams       map[uint32]*Stream // guarded by mu: open and half-closed streams
	nstreams      atomic.Int32       // len(streams), readable without mu
	lastStreamID  uint32             // guarded by mu: highest client stream ID seen
	handlers      int                // guarded by mu: handler goroutines running
	pending       []*Stream          // guarded by mu: streams waiting for a handler slot
	logged        map[string]bool    // guarded by mu: reasons already logged
	goAwayID      uint32             // guarded by mu: when goingAway, the last stream we serve
	goingAway     bool               // guarded by mu: our final GOAWAY is queued; no new streams
	shutdownSent  bool               // guarded by mu: the first, 2^31-1 GOAWAY is queued
	closeQueued   bool               // guarded by mu: itemClose is queued
	idleTimer     *time.Timer        // guarded by mu: made once, re-armed with Reset
	idleArmed     bool               // guarded by mu
	idleAt        time.Time          // guarded by mu: when the armed idle timer is due
	idleWorkers   atomic.Int32       // handler goroutines waiting on work for another stream
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
	afterEnd  bool    // trailerOf's client side had already ended: a stream error once decoded
	closed    bool    // the stream is closed: the block is judged once decoded (onClosedHeaders)
	fields    []hpack.HeaderField
	size      uint32 // RFC 9113 section 6.5.2 size of the decoded fields
	tooLarge  bool   // the list passed MaxHeaderListSize; fields stopped being kept
	frames    int    // CONTINUATION frames so far
	bytes     int    // encoded bytes so far
}

func newConn(srv *Server, nc net.Conn, cfg *config) *conn {
	c := &conn{
		srv:     srv,
		nc:      nc,
		cfg:     cfg,
		addr:    nc.RemoteAddr(),
		done:    make(chan struct{}),
		streams: make(map[uint32]*Stream),
		inflow:  inflow{avail: cfg.initialConnWindow},
		// The peer's default until its SETTINGS say otherwise.
		peerInitialWindow:     65535,
		streamUpdateThreshold: max(cfg.initialStreamWindow/4, 1),
	}
	c.wq.wake = make(chan struct{}, 1)
	c.wq.space = make(chan struct{}, 1)
	c.work = make(chan *Stream)
	c.info = ConnInfo{RemoteAddr: c.addr, LocalAddr: nc.LocalAddr()}
	c.ctx, c.cancel = context.WithCancelCause(context.Background())
	return c
}

// logger returns the connection's logger, which names the peer.
func (c *conn) logger() *slog.Logger {
	if l := c.logp.Load(); l != nil {
		return l
	}
	c.logp.CompareAndSwap(nil, c.cfg.logger.With("remote", c.addr.String()))
	return c.logp.Load()
}

// serve runs the connection on the calling goroutine, which becomes its
// reader, and returns when the connection is closed.
func (c *conn) serve() error { return c.serveTLS(false) }

// serveTLS does the TLS handshake, if any, then serves HTTP/2. With fresh
// set (connections from Serve), the rest runs on a new goroutine: the
// handshake grows its goroutine's stack to tens of kilobytes, which the
// long-lived reader would otherwise keep for the connection's life.
func (c *conn) serveTLS(fresh bool) error {
	c.fresh = fresh
	if tc, ok := c.nc.(*tls.Conn); ok {
		if err := c.handshake(tc); err != nil || c.handedOff {
			c.teardown()
			return err
		}
		if fresh {
			go c.serveH2()
			return nil
		}
	}
	return c.serveH2()
}

// serveH2 reads the preface and runs the connection until it ends.
func (c *conn) serveH2() error {
	bad, err := c.readPreface()
	if c.handedOff {
		c.teardown()
		return nil
	}
	if err == errHTTP1 {
		c.drain()
	}
	if err != nil {
		c.teardown()
		return err
	}
	c.info.TLS, c.info.Opened = c.tls, time.Now()
	if !bad {
		c.opened = true
		if h := c.cfg.hooks.ConnOpened; h != nil {
			h(&c.info)
		}
	}
	c.startWriter()
	if bad {
		// RFC 9113 section 3.4: an invalid preface is a connection error
		// of type PROTOCOL_ERROR; our SETTINGS still go first.
		c.connFailed(connError{ErrCodeProtocol, "invalid_preface"})
		c.drain()
		c.teardown()
		return nil
	}
	return c.readAndEnd()
}

// readAndEnd runs the read loop until the connection ends, answers how it
// ended, and tears the connection down. When the loop hands the
// connection on to a fresh goroutine (errHop), it returns at once.
func (c *conn) readAndEnd() error {
	c.wq.hurry.Store(false) // a resumed reader: let the writer linger again
	err := c.readLoop()
	for err == errPark {
		c.carried = false
		if c.srv.poller.park(c) {
			c.wq.retireSoon()
			return nil
		}
		// Closing, epoll unavailable, or the socket gone: read on here.
		c.parkFailed = true
		err = c.readLoop()
	}
	if err == errHop {
		go c.readAndEnd()
		return nil
	}
	defer c.teardown()
	var ce connError
	if errors.As(err, &ce) {
		c.connFailed(ce)
		if ce.lingers() {
			c.drain()
		}
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

// armPark sets the park deadline unless it is set: the reader, waiting
// for a frame, then checks whether it may park.
func (c *conn) armPark() {
	if c.raw == nil || c.noPark.Load() {
		return
	}
	c.parkMu.Lock()
	defer c.parkMu.Unlock()
	if !c.parkArmed && !c.noPark.Load() {
		c.parkArmed = true
		c.nc.SetReadDeadline(time.Now().Add(parkDelay))
	}
}

// mayPark says whether and when the reader may park while waiting for the
// next frame (see parkMode). Reader only.
func (c *conn) mayPark() parkMode {
	if c.raw == nil || c.parkFailed || !c.gotSettings || c.hdr.id != 0 || c.br.r != c.br.w ||
		c.nstreams.Load() != 0 || c.failing.Load() || c.noPark.Load() {
		return parkNever
	}
	if c.carried {
		return parkLater
	}
	return parkNow
}

// errHop asks readAndEnd to go on reading on a fresh goroutine.
var errHop = errors.New("h2server: continue on a fresh goroutine")

// hopInterval is how often, at most, an idle connection's reader moves to
// a fresh goroutine (see readLoop).
const hopInterval = time.Second

// shouldHop reports whether the reader, about to wait on an idle
// connection, should move to a fresh goroutine first. Processing frames
// grows the reader's stack; an idle connection waits for as long as the
// client likes, and a fresh goroutine waits with a small stack. Only
// connections from Serve hop (ServeConn serves on its caller's
// goroutine), and at most once per hopInterval. Reader only.
func (c *conn) shouldHop() bool {
	if !c.fresh || c.raw != nil || !c.gotSettings || c.hdr.id != 0 || c.br.r != c.br.w || c.nstreams.Load() != 0 {
		return false
	}
	now := time.Now()
	if now.Sub(c.hopAt) < hopInterval {
		return false
	}
	c.hopAt = now
	return true
}

func (c *conn) handshake(tc *tls.Conn) error {
	if d := c.cfg.prefaceTimeout; d > 0 {
		tc.SetDeadline(time.Now().Add(d))
	}
	if err := tc.HandshakeContext(c.ctx); err != nil {
		level := slog.LevelInfo
		if errors.Is(err, io.EOF) {
			// Browsers open spare connections and drop them unused.
			level = slog.LevelDebug
		}
		c.logger().Log(c.ctx, level, "h2server: TLS handshake failed", "err", err)
		return err
	}
	tc.SetDeadline(time.Time{})
	st := tc.ConnectionState()
	if st.NegotiatedProtocol != "h2" {
		if c.srv.HTTP1 != nil {
			return c.handOff(c.nc)
		}
		c.logger().Info("h2server: TLS client did not negotiate h2 with ALPN; closing", "alpn", st.NegotiatedProtocol)
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
	c.wq.start = func() {
		go func() {
			defer c.wq.wg.Done()
			c.w.run()
		}()
	}

	settings := []http2.Setting{
		{ID: http2.SettingMaxConcurrentStreams, Val: c.cfg.maxConcurrentStreams},
		{ID: http2.SettingInitialWindowSize, Val: uint32(c.cfg.initialStreamWindow)},
		{ID: http2.SettingMaxFrameSize, Val: c.cfg.maxReadFrameSize},
		{ID: http2.SettingMaxHeaderListSize, Val: c.cfg.maxHeaderListSize},
		// RFC 9218 section 2.1: we use extensible priorities, not RFC 7540's.
		{ID: http2.SettingNoRFC7540Priorities, Val: 1},
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

// teardown runs when the reader stops: every stream fails, timers stop,
// the writer exits, and the transport closes.
func (c *conn) teardown() {
	c.cancel(errConnClosed)
	close(c.done)
	if c.handedOff {
		c.srv.forget(c)
		return
	}
	c.nc.Close()
	if c.w != nil {
		c.wq.stop()
		c.wq.wg.Wait()
		if c.w.linger != nil {
			c.w.linger.Stop() // the writer is gone: its timer is ours
		}
	}
	c.mu.Lock()
	streams := make([]*Stream, 0, len(c.streams))
	for _, st := range c.streams {
		st.state = stateClosed
		streams = append(streams, st)
	}
	clear(c.streams)
	c.nstreams.Store(0)
	pending := c.pending
	c.pending = nil
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
		st.release()
	}
	for _, st := range pending {
		st.finish() // never ran
		st.release()
	}
	if h := c.cfg.hooks.ConnClosed; h != nil && c.opened {
		h(&c.info)
	}
	c.srv.forget(c)
}

// readLoop reads frames until the connection ends. A connection error
// comes back as a connError.
func (c *conn) readLoop() error {
	for !c.failing.Load() {
		if c.shouldHop() {
			return errHop
		}
		c.br.boundary = true
		fh, err := c.fr.ReadFrameHeader()
		if h := c.cfg.hooks.FrameRead; h != nil && err == nil {
			h(&c.info, fh)
		}
		if err != nil {
			if err == errPark {
				return err
			}
			return c.readError(err, "frame_header")
		}
		if fh.Type == http2.FrameData {
			if err := c.readData(fh); err != nil {
				return c.readError(err, "data")
			}
			if err := c.throttle(); err != nil {
				return err
			}
			continue
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
				if _, idle := c.lookup(se.StreamID); idle {
					// Section 5.1: on an idle stream, a frame other than
					// HEADERS or PRIORITY is a connection error (and
					// RST_STREAM may not name an idle stream, section 6.4).
					return connError{ErrCodeProtocol, typeToken(fh.Type) + "_on_idle_stream"}
				}
				if err := c.streamFailed(streamError{se.StreamID, ErrCode(se.Code), "invalid_" + typeToken(fh.Type)}); err != nil {
					return err
				}
				continue
			}
			if fh.Type == http2.FramePriority && fh.StreamID != 0 && fh.Length != 5 && c.gotSettings {
				// Section 6.3: "A PRIORITY frame with a length other than 5
				// octets MUST be treated as a stream error". The Framer calls
				// it a connection error, but it has consumed the payload.
				if err := c.streamFailed(streamError{fh.StreamID, ErrCodeFrameSize, "invalid_priority"}); err != nil {
					return err
				}
				continue
			}
			return c.readError(err, typeToken(fh.Type))
		}
		if err := c.processFrame(f); err != nil {
			return err
		}
		if err := c.throttle(); err != nil {
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
	case errors.Is(err, io.ErrUnexpectedEOF) && what != "frame_header":
		// The Framer says so of a payload too short for the fields its
		// flags announce (padding, priority): RFC 9113 section 4.2's
		// FRAME_SIZE_ERROR. If instead the transport ended mid-frame,
		// the GOAWAY goes nowhere, harmlessly.
		return connError{ErrCodeFrameSize, "short_" + what}
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
	case *http2.PriorityUpdateFrame:
		return c.onPriorityUpdate(f)
	case *http2.PushPromiseFrame:
		// Section 8.4: a client cannot push.
		return connError{ErrCodeProtocol, "push_promise_from_client"}
	}
	// Section 5.5: unknown frame types are ignored, but not for free.
	return c.glitch("unknown_frame")
}

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
		c.nstreams.Store(int32(len(c.streams)))
		c.maybeCloseLocked()
		st.release()
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

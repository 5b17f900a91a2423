package h2server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// conn is one HTTP/2 connection. It runs three kinds of goroutine: the
// reader (serve and everything it calls), the writer (writer.go), and one
// handler goroutine per stream. Each owner's state is a part of its own:
// the reader's in rd, the writer's in w (and each Stream's out), the
// connection's life in life (under mu), the stream table under mu.
type conn struct {
	srv  *Server
	nc   net.Conn
	cfg  *config                     // immutable
	logp atomic.Pointer[slog.Logger] // made on first use: most connections never log
	// info describes the connection to hooks and handlers (Stream.Conn):
	// its TLS state is set by the handshake, the rest by newConn, and
	// none of it changes once the preface passed.
	info ConnInfo
	// opened is set, before the writer starts, once the preface passed.
	opened bool
	// handedOff is set when the connection went to Server.HTTP1.
	handedOff bool
	// parkArmed: the park deadline is set; guarded by parkMu (below).
	parkArmed bool
	// sentResponse is set by the writer when it writes HEADERS or DATA,
	// and taken by the reader as it judges a client's PING (pings.go).
	sentResponse atomic.Bool

	// parent is the context the connection's context derives from
	// (Server.ConnContext's, or Serve's). cctx holds that context, made
	// under mu on first use (connContext) and never changed after; why
	// the connection ended is life.rare.cause.
	parent context.Context
	cctx   atomic.Pointer[connCtx]

	wq     writeQueue
	credit sendCredit // the connection send window, as Write sees it (flow.go)
	// w is the writer, published under mu once it is complete and our
	// SETTINGS are its first item: whoever finds it nil under mu must not
	// queue anything (the connection is still in its handshake or
	// preface).
	w       *writer
	workers workers     // idle handler goroutines (handler.go)
	ended   atomic.Bool // set at teardown: the writer and idle workers stop

	// srtt is the round trip to the client, in microseconds, from our
	// SETTINGS to its acknowledgement; 0: not measured (recvwin.go).
	srtt atomic.Uint32
	// lastRead is when the reader last read from the socket, for the
	// keepalive timer (keepalive.go).
	lastRead atomic.Uint32
	// idleIdx is the connection's place in srv.idle (1-based; 0: not
	// queued) and idleKey when it is due there; guarded by srv.idle.mu
	// (idleq.go).
	idleIdx int32
	idleKey time.Duration

	// Parking (park.go): raw is the socket of a connection that may park,
	// set before its reader starts (over TLS, after the handshake, while
	// closing paths may already run: they never read it) and read by the
	// reader, and by the poller for the connection the reader parked;
	// parkTok its registration while parked (guarded by srv.poller.mu),
	// noPark set once it closes.
	raw     syscall.RawConn
	parkTok uint64
	noPark  atomic.Bool
	// The park deadline: a read deadline parkDelay away, armed by the
	// reader or by the stream that leaves the connection idle, cleared by
	// the reader when it passes. Closing paths set their own deadline
	// under parkMu, after noPark, so that the reader never clears theirs.
	parkMu sync.Mutex
	// settingsAt is when our SETTINGS were queued, in µs since
	// processStart: the reader's, for srtt (recvwin.go). (Here, it
	// fills what parkMu leaves of eight bytes.)
	settingsAt uint32
	// lingerUntil is the read deadline a closing path set (Unix
	// nanoseconds; 0: none), guarded by parkMu: a timeout before it came
	// from an older park deadline, and the reader reads on.
	lingerUntil int64

	rd reader // the reader goroutine's alone

	// connOwed is credit of the connection window not yet given back:
	// positive, owed for bytes held under budget pressure, returned as
	// handlers read; negative, a surplus the window keeps from streams
	// whose windows shrank or ended, withheld from the next credit
	// (recvwin.go).
	connOwed atomic.Int64

	// lingerFrom is when closeWrite half-closed the transport, as a
	// duration since processStart; 0 before (see lingerOn).
	lingerFrom atomic.Int64

	mu           sync.Mutex
	life         connLife           // guarded by mu
	streams      map[uint32]*Stream // guarded by mu: open and half-closed streams
	nstreams     atomic.Int32       // len(streams), readable without mu
	lastStreamID uint32             // highest client stream ID seen: written by the reader under mu, read by it without
	handlers     int32              // guarded by mu: handler goroutines running
	failing      atomic.Bool        // life.failed, readable without mu: the reader stops
	queues       *streamQueues      // guarded by mu: made on first use
	resets       resetStreams       // guarded by mu: streams we reset lately (reset.go)

	// live counts what keeps the connection from being finished: one
	// for the connection until teardown, one per stream made until its
	// last release (Stream.release: its handler returned, its end
	// reported to Hooks.StreamEnded). Whoever takes it to zero finishes
	// the connection (drop): ConnClosed runs, and the Server forgets it,
	// so Shutdown returns only after every handler returned. A
	// handler returns, and a stream is reported, on its own goroutine,
	// which may come after the transport closed.
	live atomic.Int32
}

// reader is the state only the reader goroutine touches: nothing else may
// reach it, so it needs no lock.
type reader struct {
	br                *connReader
	fr                *http2.Framer
	hdec              *decoder   // made at the first header block
	inflow            connInflow // the connection window we advertised
	peerInitialWindow uint32     // the peer's SETTINGS_INITIAL_WINDOW_SIZE
	// settingsAcked is set once the client acknowledged our SETTINGS:
	// until then it may use the default windows of RFC 9113 section
	// 6.9.2, whatever smaller ones we announced.
	settingsAcked   bool
	gotSettings     bool
	streamSincePark bool // a stream opened since the reader last parked
	parkFailed      bool // park refused in this idle spell; do not ask again until a stream opens
	// fromServe: the connection came from Serve, so the reader may move
	// to a new goroutine (shouldHop) or park.
	fromServe   bool
	pingStrikes uint8 // client PINGs that came too soon (pings.go)
	// readAt is when the reader last read from the socket, in µs since
	// processStart like nowMicros: what the frames of that read take as
	// now, for one clock reading per read instead of one per stream.
	readAt   uint32
	lastPing uint32        // when the client last sent a PING: ms since processStart, 0: never
	hopAt    uint32        // when the reader last moved: ms since processStart, 0: never
	glitches float64       // tokens left in the glitch budget
	glitchAt time.Duration // when glitches was last refilled, since processStart; 0: never
}

// connLife is the connection's way to its end, guarded by conn.mu: going
// away, closing, failed, closed, and the timers that lead there. Its
// methods are in shutdown.go; closed is the one fact every late caller
// checks, so that nothing is armed or queued once the connection is torn
// down.
type connLife struct {
	goingAway     bool          // our final GOAWAY is queued; no new streams
	shutdownSent  bool          // the first, 2^31-1 GOAWAY is queued
	closeQueued   bool          // itemClose is queued
	failed        bool          // a connection error is being sent
	closed        bool          // torn down: nothing may be armed or queued
	idleArmed     bool          // no stream is open: IdleTimeout runs to idleAt
	pingOut       bool          // our keepalive PING awaits its ACK (keepalive.go)
	draining      bool          // drained for its age or by ConnInfo.Drain (age.go)
	drainAsked    bool          // ConnInfo.Drain came before the writer started
	goAwayID      uint32        // when goingAway, the last stream we serve
	idleAt        time.Duration // when IdleTimeout passes, if idleArmed, since processStart (srv.idle waits for it)
	settingsTimer *time.Timer
	keepalive     *time.Timer // keepalive.go
	sweep         *time.Timer // retires idle workers and writer (handler.go); made on first use
	rare          *lifeRare   // made on first use: most connections never need it
}

// lifeRare is the part of connLife that most connections never use, kept
// apart so that every idle connection does not pay for it.
type lifeRare struct {
	shutdownTimer *time.Timer
	ageTimer      *time.Timer      // MaxConnectionAge, then MaxConnectionAgeGrace (age.go)
	peerErr       *ConnectionError // the peer's GOAWAY, if it named an error
	cause         error            // why the connection ended: the first cancel's
	logged        map[string]bool  // reasons already logged (logOnce)
}

// rareLocked returns life.rare, making it; mu held.
func (c *conn) rareLocked() *lifeRare {
	if c.life.rare == nil {
		c.life.rare = new(lifeRare)
	}
	return c.life.rare
}

func stopTimer(t *time.Timer) {
	if t != nil {
		t.Stop()
	}
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

// newConn makes the connection's state; serveAccepted makes its context,
// on the connection's own goroutine.
func newConn(srv *Server, nc net.Conn, cfg *config) *conn {
	c := &conn{
		srv: srv,
		nc:  nc,
		cfg: cfg,
		rd: reader{
			// The peer's default until its SETTINGS say otherwise.
			peerInitialWindow: 65535,
		},
	}
	c.workers.maxBusy = int32(runtime.GOMAXPROCS(0))
	c.live.Store(1) // the connection's own, dropped by teardown
	c.rd.inflow.avail.Store(cfg.initialConnWindow)
	c.credit.avail = defaultWindow + sendCreditSlack // the writer's window before any WINDOW_UPDATE, and the slack
	c.info = ConnInfo{ID: srv.connIDs.Add(1), RemoteAddr: nc.RemoteAddr(), LocalAddr: nc.LocalAddr(), NetConn: nc, c: c}
	return c
}

// logger returns the connection's logger, which names the peer.
func (c *conn) logger() *slog.Logger {
	if l := c.logp.Load(); l != nil {
		return l
	}
	c.logp.CompareAndSwap(nil, c.cfg.logger.With("remote", c.info.RemoteAddr.String(), "conn", c.info.ID))
	return c.logp.Load()
}

// serveAccepted does the TLS handshake, if the connection is TLS, then
// serves HTTP/2 (over TLS, or h2c). With fromServe set (connections from
// Serve), the rest runs on a new goroutine: the handshake grows its
// goroutine's stack to tens of kilobytes, which the long-lived reader
// would otherwise keep for the connection's life.
func (c *conn) serveAccepted(fromServe bool, base context.Context) error {
	c.rd.fromServe = fromServe
	err := c.acceptProxied()
	ctx := base
	if err == nil && c.srv.ConnContext != nil {
		if ctx = c.srv.ConnContext(base, c.info.NetConn); ctx == nil {
			c.logger().Error(errNilConnContext.Error() + "; closing the connection")
			ctx, err = base, errNilConnContext
		}
	}
	// Nothing outside this goroutine touches the context before the
	// connection opens.
	c.parent = ctx
	if err != nil {
		c.teardown()
		return err
	}
	if tc, ok := c.nc.(*tls.Conn); ok {
		if err := c.handshake(tc, ctx); err != nil || c.handedOff {
			c.teardown()
			return err
		}
		if fromServe {
			// A TLS connection parks too, on its TCP socket: it parks
			// only after a read of the TLS layer found nothing, not even
			// a record it had buffered (see readDirect).
			c.raw = rawConnOf(tc.NetConn())
			go c.serveH2()
			return nil
		}
	}
	return c.serveH2()
}

// acceptProxied reads the PROXY header of a connection from a load
// balancer (Server.ProxyProtocol) and takes the client's addresses from
// it; the server goes on with the connection as accepted, whose next
// byte is the client's first. A missing or malformed header is logged.
func (c *conn) acceptProxied() error {
	p := c.cfg.proxy
	if p == nil || !p.fromBalancer(c.nc.RemoteAddr()) {
		return nil
	}
	under := c.nc
	tc, isTLS := c.nc.(*tls.Conn)
	if isTLS {
		under = tc.NetConn() // the header comes before the TLS handshake
	}
	pc, err := readProxyHeader(under, c.cfg.prefaceTimeout)
	if err != nil {
		level := slog.LevelInfo
		if errors.Is(err, io.EOF) {
			// A balancer's TCP health check: connect, then hang up.
			level = slog.LevelDebug
		}
		c.countError(0, ErrCodeProtocol, "proxy_header")
		c.logger().Log(context.Background(), level, "h2server: no valid PROXY protocol header from a balancer; closing the connection", "err", err)
		return fmt.Errorf("h2server: PROXY protocol header: %w", err)
	}
	c.info.RemoteAddr, c.info.LocalAddr = pc.RemoteAddr(), pc.LocalAddr()
	if !isTLS {
		// A *tls.Conn cannot take other addresses: it keeps the
		// balancer's, and ConnInfo has the client's.
		c.info.NetConn = pc
	}
	return nil
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
	c.info.Opened = time.Now()
	// RFC 9113 section 9.2: TLS 1.2 or later, without the cipher suites
	// of its block list, whoever made the listener.
	insecure := tlsInadequate(c.info.TLS)
	if !bad && insecure == "" {
		c.opened = true
		if h := c.cfg.hooks.ConnOpened; h != nil {
			h(&c.info)
		}
	}
	c.startWriter()
	if bad || insecure != "" {
		// RFC 9113 section 3.4: an invalid preface is a connection error
		// of type PROTOCOL_ERROR; section 9.2.1, inadequate TLS, one of
		// type INADEQUATE_SECURITY. Our SETTINGS still go first.
		ce := connError{ErrCodeProtocol, "invalid_preface"}
		if !bad {
			ce = connError{ErrCodeInadequateSecurity, insecure}
		}
		c.connFailed(ce)
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
	c.wq.retireNow.Store(false) // a resumed reader: let the writer linger again
	err := c.readLoop()
	for err == errPark {
		c.rd.streamSincePark = false
		// The Framer keeps nothing between frames that parking must
		// keep; it goes with the connection reader. Before park: once
		// parked, another goroutine may resume the reader.
		c.rd.fr = nil
		if c.rd.hdec != nil {
			c.rd.hdec.parking()
		}
		// The streams map is made again by the next stream (and the
		// field array the header blocks are decoded into goes with the
		// connection reader, below).
		c.mu.Lock()
		if len(c.streams) == 0 {
			c.streams = nil
		}
		c.mu.Unlock()
		// The connection reader goes too (its buffers are back in their
		// pools already): a parked connection keeps none.
		br := c.rd.br
		c.rd.br = nil
		if c.srv.poller.park(c) {
			recycleReader(br) // no longer the connection's: it keeps none while parked
			c.wq.retireSoon()
			return nil
		}
		// Closing, epoll unavailable, or the socket gone: read on here.
		c.rd.br, c.rd.fr = br, br.fr
		br.gotInput = false // the reader reads what is there before it may probe (readDirect)
		c.rd.parkFailed = true
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
	closing := c.life.closeQueued
	c.mu.Unlock()
	if closing || errors.Is(err, io.EOF) {
		return nil // we hung up, or the client did: a normal end
	}
	return err
}

// armPark sets the park deadline, parkDelay away, unless it is set: the
// reader, waiting for a frame, then checks whether it may park.
func (c *conn) armPark() { c.armParkIn(parkDelay) }

// armParkIn sets the park deadline d away, unless it is set.
func (c *conn) armParkIn(d time.Duration) {
	if c.raw == nil || c.noPark.Load() {
		return
	}
	c.parkMu.Lock()
	defer c.parkMu.Unlock()
	if !c.parkArmed && !c.noPark.Load() {
		c.parkArmed = true
		c.nc.SetReadDeadline(time.Now().Add(d))
	}
}

// mayPark says whether and when the reader may park while waiting for the
// next frame (see parkMode). Reader only.
func (c *conn) mayPark() parkMode {
	if c.raw == nil || c.rd.parkFailed || !c.rd.gotSettings || c.rd.br.hdr.id != 0 || c.rd.br.r != c.rd.br.w ||
		c.nstreams.Load() != 0 || c.failing.Load() || c.noPark.Load() {
		return parkNever
	}
	if c.rd.streamSincePark {
		return parkLater
	}
	return parkNow
}

// parkDue says, as the park deadline passes, whether the reader parks
// now. A connection that carried a stream parks after parkDelay of
// silence; its deadline was set when the reader first waited (armPark)
// and not moved by the reads since, which would cost a deadline per
// read, so a busy connection may find it passed between two rounds of
// requests: then it is set again for what is left of parkDelay after the
// last read. Reader only.
func (c *conn) parkDue() bool {
	switch c.mayPark() {
	case parkNever:
		return false
	case parkLater:
		if s := c.silence(); s < parkDelay {
			c.armParkIn(parkDelay - s)
			return false
		}
	}
	return true
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
	if !c.rd.fromServe || c.raw != nil && !c.rd.parkFailed || !c.rd.gotSettings || c.rd.br.hdr.id != 0 || c.rd.br.r != c.rd.br.w || c.nstreams.Load() != 0 {
		return false
	}
	now := uint32(time.Since(processStart) / time.Millisecond)
	if c.rd.hopAt != 0 && time.Duration(now-c.rd.hopAt)*time.Millisecond < hopInterval {
		return false
	}
	c.rd.hopAt = now
	return true
}

// handshake runs the TLS handshake under ctx, the connection's parent
// context: the connection context's values, but not that context itself,
// which would keep the record of the handshake's child context (a map,
// and its Done channel) for the connection's life; nothing cancels the
// connection's context before the connection opens.
func (c *conn) handshake(tc *tls.Conn, ctx context.Context) error {
	if d := c.cfg.prefaceTimeout; d > 0 {
		tc.SetDeadline(time.Now().Add(d))
	}
	if err := tc.HandshakeContext(ctx); err != nil {
		level := slog.LevelInfo
		if errors.Is(err, io.EOF) {
			// Browsers open spare connections and drop them unused.
			level = slog.LevelDebug
		}
		c.logger().Log(ctx, level, "h2server: TLS handshake failed", "err", err)
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
	c.info.TLS = &st
	return nil
}

// startWriter makes the writer, with our SETTINGS as its first frame, and
// only then publishes it (conn.w): whoever queues a frame from outside the
// reader (Shutdown, a timer) checks conn.w under mu first.
func (c *conn) startWriter() {
	c.rd.fr = c.rd.br.fr

	w := newWriter(c)
	c.settingsAt = nowMicros()
	c.wq.open(w, writeItem{kind: itemSettings, settings: c.cfg.settings, n: uint32(c.cfg.initialConnWindow - 65535)})

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.life.closed {
		return
	}
	c.w = w
	if d := c.cfg.settingsAckTimeout; d > 0 {
		c.life.settingsTimer = time.AfterFunc(d, func() {
			c.connFailed(connError{ErrCodeSettingsTimeout, "settings_ack_timeout"})
		})
	}
	c.armIdleLocked()
	c.startAgeLocked()
}

// teardown runs when the reader stops: every stream fails, timers stop,
// the writer exits, and the transport closes.
func (c *conn) teardown() {
	c.mu.Lock()
	c.life.closed = true // from now on nothing is armed (see connLife)
	var peerErr *ConnectionError
	if c.life.rare != nil {
		peerErr = c.life.rare.peerErr
	}
	c.mu.Unlock()
	if peerErr != nil {
		c.cancel(peerErr)
	}
	c.cancel(&ConnectionError{Code: ErrCodeNo, Reason: "connection closed"})
	// Streams still open fail with what ended the connection: a
	// *ConnectionError, ours, the peer's, or the transport's end.
	cause := c.endCause()
	c.ended.Store(true)
	c.wq.wakeWriter()     // after ended: an idle writer wakes to see it
	c.runQueued(false)    // queued streams get their handlers, which see the end
	c.workers.retireAll() // after ended: a worker going idle from now on sees it
	if c.handedOff {
		c.drop()
		return
	}
	c.nc.Close()
	if c.w != nil {
		c.wq.stop()
		c.wq.wg.Wait()
		c.w.abandon() // the writer goroutine is gone: what it held is ours
	}
	c.credit.drop()
	if br := c.rd.br; br != nil {
		// Teardown runs on the reader: the buffers are ours.
		br.drop()
		c.rd.br, c.rd.fr = nil, nil
		recycleReader(br)
	}
	c.mu.Lock()
	streams := make([]*Stream, 0, len(c.streams))
	for _, st := range c.streams {
		st.state = stateClosed
		streams = append(streams, st)
	}
	clear(c.streams)
	c.nstreams.Store(0)
	var pending []*Stream
	if c.queues != nil {
		pending = c.queues.pending
		c.queues.pending = nil
	}
	c.srv.idle.remove(c)
	stopTimer(c.life.settingsTimer)
	stopTimer(c.life.keepalive)
	stopTimer(c.life.sweep)
	if r := c.life.rare; r != nil {
		stopTimer(r.shutdownTimer)
		stopTimer(r.ageTimer)
	}
	c.mu.Unlock()
	for _, st := range streams {
		st.fail(cause)
		st.send.mu.Lock()
		st.send.buf.reset() // the writer is gone: nobody else touches sbuf
		st.send.mu.Unlock()
		st.release()
	}
	for _, st := range pending {
		st.finish() // never ran
		st.release()
	}
	c.drop()
}

// drop releases one of the references counted in live; the last one
// finishes the connection: its ConnClosed, then the Server forgets it.
func (c *conn) drop() {
	if c.live.Add(-1) != 0 {
		return
	}
	if h := c.cfg.hooks.ConnClosed; h != nil && c.opened && !c.handedOff {
		h(&c.info)
	}
	c.srv.forget(c)
}

// readLoop reads frames until the connection ends. A connection error
// comes back as a connError.
func (c *conn) readLoop() error {
	if c.rd.br == nil {
		c.rd.br = c.newConnReader() // the connection was parked
		c.rd.fr = c.rd.br.fr
	}
	for !c.failing.Load() {
		if c.shouldHop() {
			return errHop
		}
		c.rd.br.boundary = true
		fh, err := c.rd.fr.ReadFrameHeader()
		if err == nil {
			c.rd.br.frameHeaderRead(fh)
			if h := c.cfg.hooks.FrameRead; h != nil {
				h(&c.info, fh)
			}
		}
		if err != nil {
			if err == errPark {
				return err
			}
			return c.readError(err, "frame_header")
		}
		if err := c.readFrame(fh); err != nil {
			return err
		}
		c.lingerOn()
		if err := c.throttle(); err != nil {
			return err
		}
	}
	c.drain()
	return nil
}

// readFrame reads and handles the frame whose header readLoop read: DATA
// and HEADERS straight from the read buffer, the rest through the Framer.
func (c *conn) readFrame(fh http2.FrameHeader) error {
	switch fh.Type {
	case http2.FrameData:
		if err := c.readData(fh); err != nil {
			return c.readError(err, "data")
		}
		return nil
	case http2.FrameHeaders:
		if err := c.readHeaders(fh); err != nil {
			return c.readError(err, "headers")
		}
		return nil
	}
	if c.rd.br.hdr.id != 0 && fh.Type == http2.FrameContinuation {
		// Check the caps before the payload is read into memory.
		if err := c.checkContinuation(fh); err != nil {
			return err
		}
	}
	if fh.Length > keepReadBuf {
		c.rd.br.bigFrame = true // the Framer's read buffer grows to it: not pooled
	}
	f, err := c.rd.fr.ReadFrameForHeader(fh)
	if err != nil {
		var se http2.StreamError
		if errors.As(err, &se) && fh.Type != http2.FrameContinuation {
			if _, idle := c.lookup(se.StreamID); idle {
				// Section 5.1: on an idle stream, a frame other than
				// HEADERS or PRIORITY is a connection error (and
				// RST_STREAM may not name an idle stream, section 6.4).
				return connError{ErrCodeProtocol, typeToken(fh.Type) + "_on_idle_stream"}
			}
			return c.streamFailed(streamError{se.StreamID, ErrCode(se.Code), "invalid_" + typeToken(fh.Type)})
		}
		if fh.Type == http2.FramePriority && fh.StreamID != 0 && fh.Length != 5 && c.rd.gotSettings {
			// Section 6.3: "A PRIORITY frame with a length other than 5
			// octets MUST be treated as a stream error". The Framer calls
			// it a connection error, but it has consumed the payload.
			return c.streamFailed(streamError{fh.StreamID, ErrCodeFrameSize, "invalid_priority"})
		}
		return c.readError(err, typeToken(fh.Type))
	}
	return c.processFrame(f)
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
	if !c.rd.gotSettings {
		// RFC 9113 section 3.4: the client preface ends with a SETTINGS frame.
		if _, ok := f.(*http2.SettingsFrame); !ok {
			return connError{ErrCodeProtocol, "preface_not_settings"}
		}
		c.rd.gotSettings = true
	} else if sf, ok := f.(*http2.SettingsFrame); ok && !sf.IsAck() {
		// Beyond the preface's, a client sends a few SETTINGS frames
		// over a connection's life; each costs an ACK and the work of
		// applying it (a SETTINGS flood, CVE-2019-9515).
		if err := c.glitch("settings"); err != nil {
			return err
		}
	}
	switch f := f.(type) {
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

// transition moves st through the state machine and reports whether the
// event was allowed. A stream that reaches closed leaves the table, and
// its table reference is released outside mu, so that Hooks.StreamEnded
// never runs under the connection's lock.
func (c *conn) transition(st *Stream, ev streamEvent) bool {
	c.mu.Lock()
	ok, closed := c.transitionLocked(st, ev)
	c.mu.Unlock()
	if closed {
		st.release()
	}
	return ok
}

// transitionLocked moves st through the state machine; it reports whether
// the event was allowed and whether the stream closed, in which case it
// left the table and the caller releases it once mu is unlocked.
func (c *conn) transitionLocked(st *Stream, ev streamEvent) (ok, closed bool) {
	next, ok := st.state.next(ev)
	if !ok {
		return false, false
	}
	st.state = next
	if next != stateClosed {
		return true, false
	}
	delete(c.streams, st.id)
	c.nstreams.Store(int32(len(c.streams)))
	c.maybeCloseLocked()
	return true, true
}

// streamEnded is called by the writer after it wrote END_STREAM.
func (c *conn) streamEnded(st *Stream) {
	c.transition(st, evSendEndStream)
}

// streamReset is called by the writer before it writes RST_STREAM for st;
// it reports whether the frame should go out (not for a closed stream).
func (c *conn) streamReset(st *Stream) bool {
	c.mu.Lock()
	ok, closed := c.transitionLocked(st, evReset)
	if ok {
		// Frames the client sent before our RST_STREAM reaches it are
		// still on their way: up to the window it had (reset.go).
		st.recv.mu.Lock()
		credit := st.recv.flow.avail
		st.recv.mu.Unlock()
		c.resets.add(st.id, credit, c.cfg.maxResetStreams())
	}
	c.mu.Unlock()
	if closed {
		st.release()
	}
	return ok
}

// connCtx is a connection's context, made when a stream first asks for
// it (most connections' streams never do): an idle connection keeps none,
// which saves it 96 bytes.
type connCtx struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
}

// connContext returns the connection's context, the parent of every
// stream's, cancelled with the cause of the connection's end. The first
// call takes mu.
func (c *conn) connContext() context.Context {
	if x := c.cctx.Load(); x != nil {
		return x.ctx
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if x := c.cctx.Load(); x != nil {
		return x.ctx
	}
	x := new(connCtx)
	x.ctx, x.cancel = context.WithCancelCause(c.parent)
	if r := c.life.rare; r != nil && r.cause != nil {
		x.cancel(r.cause)
	}
	c.cctx.Store(x)
	return x.ctx
}

// cancel records why the connection ends, unless a cause was recorded
// already, and cancels its context if one was made. mu not held.
func (c *conn) cancel(cause error) {
	c.mu.Lock()
	r := c.rareLocked()
	if r.cause == nil {
		r.cause = cause
	}
	cause = r.cause // the first, whichever call cancels the context first
	x := c.cctx.Load()
	c.mu.Unlock()
	if x != nil {
		x.cancel(cause) // outside mu: it runs the cancels of the streams' contexts
	}
}

// endCause is the first cause cancel recorded; nil while the connection lives.
func (c *conn) endCause() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r := c.life.rare; r != nil {
		return r.cause
	}
	return nil
}

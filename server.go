package h2server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/http2"
)

// Server serves HTTP/2 on connections it accepts: TLS connections that
// negotiated "h2" with ALPN, and cleartext connections whose clients use
// prior knowledge (h2c). The zero value, with a Handler, is ready to use;
// every limit has a safe default. Fields must not change once serving
// has started.
type Server struct {
	// Handler serves each request stream. Required.
	Handler Handler

	// TLSConfig is used by ListenAndServeTLS. Its NextProtos gets "h2" if
	// missing. Default: a config with MinVersion TLS 1.2.
	TLSConfig *tls.Config

	// MaxConcurrentStreams is the SETTINGS_MAX_CONCURRENT_STREAMS we
	// advertise and enforce per connection; a stream beyond it is refused
	// with RST_STREAM REFUSED_STREAM. Default: 100.
	MaxConcurrentStreams uint32

	// MaxHeaderListSize caps a request's decoded header list (and its
	// trailers), counted as RFC 9113 section 6.5.2 does; it is advertised
	// as SETTINGS_MAX_HEADER_LIST_SIZE. Default: 64 KiB.
	MaxHeaderListSize uint32

	// MaxReadFrameSize is the SETTINGS_MAX_FRAME_SIZE we advertise and
	// enforce, between 16384 and 16777215. Default: 16384.
	MaxReadFrameSize uint32

	// InitialStreamWindowSize is the flow-control window of each stream's
	// request body: the most a stream buffers before its handler reads.
	// Between 1 and 2^31-1. Default: 256 KiB.
	InitialStreamWindowSize int32

	// InitialConnWindowSize is the connection's flow-control window to
	// start with, between 65535 and 2^31-1. Default: 2 MiB, eight streams'
	// default windows, so that eight uploads starting together are not
	// held back by the connection in their first round trip. A connection
	// whose handlers stop reading can make the server hold this much
	// beyond ReceiveBudget.
	InitialConnWindowSize int32

	// IdleTimeout closes, with GOAWAY NO_ERROR, a connection that has had
	// no open stream for this long. Default: 5 minutes; negative disables.
	IdleTimeout time.Duration

	// PrefaceTimeout bounds the TLS handshake and the arrival of the
	// client preface. Default: 10 seconds; negative disables.
	PrefaceTimeout time.Duration

	// SettingsAckTimeout bounds how long the client may take to
	// acknowledge our SETTINGS before GOAWAY SETTINGS_TIMEOUT. Default:
	// 10 seconds; negative disables.
	SettingsAckTimeout time.Duration

	// WriteTimeout bounds each flush of frames to the socket; a peer that
	// stops reading for this long loses its connection. A busy connection
	// moves its write deadline at most 16 times per WriteTimeout, so a
	// flush gets between 15/16 of it and all of it. Default: 30 seconds;
	// negative disables.
	WriteTimeout time.Duration

	// MaxGlitchesPerMinute is each connection's budget of "glitches":
	// frames that cost the server work but move no request forward, such
	// as streams the client resets right after opening them (rapid
	// reset), frames that make us reset a stream (MadeYouReset), empty
	// DATA or CONTINUATION frames, PRIORITY and unknown frames. It is a
	// token bucket that holds and refills this many per minute; a
	// connection that empties it gets GOAWAY ENHANCE_YOUR_CALM. Default:
	// 1000.
	MaxGlitchesPerMinute int

	// MaxQueuedControlFrames bounds the frames that answer the peer (PING
	// and SETTINGS acknowledgements, resets) waiting to be written. Past
	// it the connection stops reading until the peer reads what it was
	// sent. Default: 1000.
	MaxQueuedControlFrames int

	// MaxContinuationFrames caps the CONTINUATION frames of one header
	// block; their total size is capped at twice MaxHeaderListSize plus
	// 16 KiB. Past either, GOAWAY ENHANCE_YOUR_CALM. Default: 32.
	MaxContinuationFrames int

	// MaxSettingsPerFrame caps the parameters in one SETTINGS frame;
	// more is GOAWAY ENHANCE_YOUR_CALM. Default: 32.
	MaxSettingsPerFrame int

	// MaxStreamWindowSize is the most a stream's receive window grows to.
	// A stream's window starts at InitialStreamWindowSize and doubles
	// while its handler reads faster than the window lets the client
	// send over the connection's round trip, so that an upload over a
	// long or fast path is not held to window / round trip; the
	// connection window grows with its streams'. A window that goes
	// quiet shrinks back when it wakes, and a stream's growth is freed
	// when it ends. Negative: windows stay at their initial sizes.
	// Default: 16 MiB.
	MaxStreamWindowSize int32

	// ReceiveBudget caps, server-wide, the request body bytes held for
	// handlers that have not read them yet plus the growth of receive
	// windows beyond their initial sizes. Windows grow only within it;
	// past it, a connection's window is credited only as its handlers
	// read, so the bytes held stay below ReceiveBudget plus each
	// connection's window. Negative: no cap. Default: 256 MiB.
	ReceiveBudget int64

	// StallTimeout resets a stream (RST_STREAM CANCEL) whose handler has
	// waited this long to write while the client's flow-control window
	// stays closed. A stream with a closed window holds no response
	// body in memory meanwhile. Default: 30 seconds; negative disables.
	StallTimeout time.Duration

	// ReadIdleTimeout: while a stream is open, a connection that has read
	// nothing for this long gets a PING, to find a peer that vanished
	// without closing (keepalive.go). Default: 2 hours (grpc-go's
	// keepalive Time); behind load balancers that drop idle flows, use
	// less (30 seconds, say). Negative disables.
	ReadIdleTimeout time.Duration

	// PingTimeout closes the connection when the ACK of that PING, or
	// anything else, has not arrived within it; its streams fail with a
	// *ConnectionError that says so. Default: 20 seconds (grpc-go's
	// keepalive Timeout). Negative disables keepalive altogether.
	PingTimeout time.Duration

	// MinPingInterval is the shortest spacing of the client's PINGs the
	// server takes without complaint (less a tenth, for jitter) while it
	// sends the client nothing;
	// three closer ones in a row end the connection with GOAWAY
	// ENHANCE_YOUR_CALM "too_many_pings" (pings.go). Default: 10 seconds,
	// the shortest keepalive interval grpc-go's client allows, so no
	// keepalive client at its own limits is cut off. Negative disables.
	MinPingInterval time.Duration

	// RejectPingsWithoutStream counts a client's PING on a connection with
	// no stream open as a strike too, as grpc-go's EnforcementPolicy does
	// unless PermitWithoutStream. Default: false (Go's client, with
	// ReadIdleTimeout set, pings idle connections).
	RejectPingsWithoutStream bool

	// MaxConnectionAge, when positive, drains each connection once it is
	// about this old (each connection draws its age within 10% either
	// side, so that connections opened together do not all end
	// together): the graceful two-phase GOAWAY of Shutdown, after which
	// its client reconnects and a load balancer in front of several
	// instances can place it afresh. See ConnInfo.Drain for the same on
	// demand. Default: 0, no limit.
	MaxConnectionAge time.Duration

	// MaxConnectionAgeGrace, when positive, bounds how long a drained
	// connection (MaxConnectionAge, ConnInfo.Drain) may keep serving the
	// streams it admitted: when it runs out, the connection closes and
	// their contexts end with a *ConnectionError saying so. Default: 0,
	// no bound (streams run to completion; Shutdown's context bounds
	// them when the server stops).
	MaxConnectionAgeGrace time.Duration

	// ProxyProtocol, when set, reads the PROXY protocol header (versions 1
	// and 2) that L4 load balancers such as HAProxy (send-proxy,
	// send-proxy-v2) put before a client's bytes, on connections from
	// the networks it lists: ConnInfo.RemoteAddr, Request.RemoteAddr and
	// LocalAddr are then the client's and the address it dialled, not
	// the balancer's. A connection from a listed network without a valid
	// header is closed, with one log line. Such connections keep
	// everything a plain TCP connection has, parking included (see
	// SocketConn). Default: nil, no PROXY protocol.
	ProxyProtocol *ProxyProtocol

	// EnableConnectProtocol turns on extended CONNECT (RFC 8441): the
	// server advertises SETTINGS_ENABLE_CONNECT_PROTOCOL=1 and accepts a
	// CONNECT request that carries :protocol (with :scheme, :path and
	// :authority, as other requests do), whose Request.Protocol the
	// handler then sees, as "websocket" for WebSockets over HTTP/2;
	// HTTPHandler shows it as r.Header[":protocol"], as net/http does.
	// Without it, a request with :protocol is malformed. Default: false,
	// because browsers take the setting as a promise that WebSockets work
	// over HTTP/2 on this server and stop falling back to HTTP/1.1, so a
	// handler that cannot answer an extended CONNECT breaks WebSockets
	// that used to work (golang/go#71128, where Go's own server turned it
	// off by default). Turn it on when the handlers serve WebSockets (or
	// the protocols they accept) through extended CONNECT.
	EnableConnectProtocol bool

	// Logger receives one line per rejected peer, connection error and
	// handler panic. Default: slog.Default().
	Logger *slog.Logger

	// HTTP1, when set, serves the connections that speak HTTP/1.x, so that
	// one port serves both: TLS connections that negotiated "http/1.1" (or
	// nothing) with ALPN, and cleartext connections that open with an
	// HTTP/1.x request line instead of the HTTP/2 preface. They are handed
	// over whole; HTTP1's own handler, timeouts and limits apply, and
	// Shutdown and Close reach it too. Default: nil, which closes such TLS
	// connections and answers cleartext ones with 505.
	HTTP1 *http.Server

	// Hooks, when set, receive connection, stream, frame and rejection
	// events for metrics. Default: none.
	Hooks *Hooks

	// BaseContext, when set, returns the context every connection
	// accepted by Serve(l) derives from: its values reach every
	// Stream's Context (and, through HTTPHandler, every request's). For
	// ServeConn, l is nil. It must not return nil. Default:
	// context.Background().
	BaseContext func(l net.Listener) context.Context

	// ConnContext, when set, derives a connection's context from the
	// base context and the accepted connection, as net/http's field of
	// the same name does: a place for per-connection values. It runs on
	// the connection's own goroutine, before the TLS handshake and after
	// the PROXY header (whose addresses the connection then reports). It
	// must not return nil (the connection is then closed and the fault
	// logged). Default: the base context as it is.
	ConnContext func(ctx context.Context, c net.Conn) context.Context

	connIDs    atomic.Uint64 // the last ConnInfo.ID given
	onShutdown []func()      // guarded by mu: see RegisterOnShutdown

	mu        sync.Mutex
	cfg       *config                   // guarded by mu: built by the first Serve or ServeConn
	listeners map[net.Listener]struct{} // guarded by mu
	conns     map[*conn]struct{}        // guarded by mu
	closing   bool                      // guarded by mu: Shutdown or Close was called
	done      chan struct{}             // guarded by mu: closed with closing set; made on first use
	drained   chan struct{}             // guarded by mu: closed when conns empties during shutdown
	handoff   *handoffListener          // guarded by mu: feeds HTTP1, started on first use
	poller    poller                    // parks idle connections (park.go)
	idle      idleQueue                 // connections waiting for IdleTimeout (idleq.go)
	recv      recvBudget                // bytes held for handlers, and window growth (recvwin.go)
}

// http1Listener returns the listener that feeds HTTP1, starting HTTP1's
// Serve loop on first use.
func (s *Server) http1Listener() *handoffListener {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.handoff == nil {
		s.handoff = &handoffListener{conns: make(chan net.Conn), done: make(chan struct{}), addr: handoffAddr{}}
		if s.closing {
			s.handoff.Close()
		} else {
			go s.HTTP1.Serve(s.handoff)
		}
	}
	return s.handoff
}

// config is the validated, defaulted form of a Server's fields, fixed for
// the server's life.
type config struct {
	heads                    *headMemos // not configuration: the Server's memo of response heads (headmemo.go)
	handler                  Handler
	logger                   *slog.Logger
	maxConcurrentStreams     uint32
	maxHeaderListSize        uint32
	maxReadFrameSize         uint32
	initialStreamWindow      int32
	initialConnWindow        int32
	idleTimeout              time.Duration
	prefaceTimeout           time.Duration
	settingsAckTimeout       time.Duration
	writeTimeout             time.Duration
	shutdownPingTimeout      time.Duration
	maxContinuationFrames    int
	maxHeaderBlockBytes      int
	maxGlitchesPerMinute     int
	maxQueuedControlFrames   int
	maxSettingsPerFrame      int
	maxPendingHandlers       int
	stallTimeout             time.Duration
	readIdleTimeout          time.Duration
	pingTimeout              time.Duration
	minPingInterval          time.Duration
	rejectPingsWithoutStream bool
	maxConnAge               time.Duration
	maxConnAgeGrace          time.Duration
	maxStreamWindow          int32
	receiveBudget            int64
	proxy                    *ProxyProtocol // a copy: immutable
	hooks                    Hooks
	enableConnectProtocol    bool
	settings                 []http2.Setting // our SETTINGS (ourSettings), shared by every connection: read only
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// timeout maps a configured duration to its effective value: zero takes
// the default, negative disables (0).
func timeout(d, def time.Duration) time.Duration {
	switch {
	case d == 0:
		return def
	case d < 0:
		return 0
	}
	return d
}

func (s *Server) buildConfig() (*config, error) {
	if s.Handler == nil {
		return nil, errors.New("h2server: Server.Handler is nil")
	}
	c := &config{
		heads:                    new(headMemos),
		handler:                  s.Handler,
		logger:                   orDefault(s.Logger, slog.Default()),
		maxConcurrentStreams:     orDefault(s.MaxConcurrentStreams, 100),
		maxHeaderListSize:        orDefault(s.MaxHeaderListSize, 64<<10),
		maxReadFrameSize:         orDefault(s.MaxReadFrameSize, 16384),
		initialStreamWindow:      orDefault(s.InitialStreamWindowSize, 256<<10),
		initialConnWindow:        orDefault(s.InitialConnWindowSize, 2<<20),
		idleTimeout:              timeout(s.IdleTimeout, 5*time.Minute),
		prefaceTimeout:           timeout(s.PrefaceTimeout, 10*time.Second),
		settingsAckTimeout:       timeout(s.SettingsAckTimeout, 10*time.Second),
		writeTimeout:             timeout(s.WriteTimeout, 30*time.Second),
		shutdownPingTimeout:      time.Second,
		maxGlitchesPerMinute:     orDefault(s.MaxGlitchesPerMinute, 1000),
		maxQueuedControlFrames:   orDefault(s.MaxQueuedControlFrames, 1000),
		maxContinuationFrames:    orDefault(s.MaxContinuationFrames, 32),
		maxSettingsPerFrame:      orDefault(s.MaxSettingsPerFrame, 32),
		stallTimeout:             timeout(s.StallTimeout, 30*time.Second),
		readIdleTimeout:          timeout(s.ReadIdleTimeout, 2*time.Hour),
		pingTimeout:              timeout(s.PingTimeout, 20*time.Second),
		minPingInterval:          timeout(s.MinPingInterval, 10*time.Second),
		rejectPingsWithoutStream: s.RejectPingsWithoutStream,
		maxStreamWindow:          orDefault(s.MaxStreamWindowSize, defaultMaxStreamWindow),
		receiveBudget:            orDefault(s.ReceiveBudget, defaultReceiveBudget),
		maxConnAge:               max(s.MaxConnectionAge, 0),
		maxConnAgeGrace:          max(s.MaxConnectionAgeGrace, 0),
		enableConnectProtocol:    s.EnableConnectProtocol,
	}
	if s.Hooks != nil {
		c.hooks = *s.Hooks
	}
	if s.ProxyProtocol != nil {
		if err := s.ProxyProtocol.check(); err != nil {
			return nil, err
		}
		p := *s.ProxyProtocol
		p.From = slices.Clone(p.From)
		c.proxy = &p
	}
	for name, v := range map[string]int{
		"MaxGlitchesPerMinute": c.maxGlitchesPerMinute, "MaxQueuedControlFrames": c.maxQueuedControlFrames,
		"MaxContinuationFrames": c.maxContinuationFrames, "MaxSettingsPerFrame": c.maxSettingsPerFrame,
	} {
		if v < 1 {
			return nil, fmt.Errorf("h2server: %s is %d, want at least 1 (zero means the default)", name, v)
		}
	}
	// Handlers of streams that closed (or that the client reset) may still
	// be finishing; as many new streams again may wait for their slots
	// before the client is told to calm down.
	c.maxPendingHandlers = int(c.maxConcurrentStreams)
	if c.maxReadFrameSize < 16384 || c.maxReadFrameSize > 1<<24-1 {
		return nil, fmt.Errorf("h2server: MaxReadFrameSize %d is outside [16384, 16777215] (RFC 9113 section 6.5.2)", c.maxReadFrameSize)
	}
	if c.initialStreamWindow < 1 {
		return nil, fmt.Errorf("h2server: InitialStreamWindowSize %d must be between 1 and 2^31-1", c.initialStreamWindow)
	}
	if c.maxStreamWindow < 0 {
		c.maxStreamWindow = c.initialStreamWindow // fixed windows
	}
	if c.maxStreamWindow < c.initialStreamWindow {
		return nil, fmt.Errorf("h2server: MaxStreamWindowSize %d is below InitialStreamWindowSize %d (negative fixes windows at their initial size)", c.maxStreamWindow, c.initialStreamWindow)
	}
	if c.receiveBudget < 0 {
		c.receiveBudget = math.MaxInt64 // no budget
	}
	if c.initialConnWindow < 65535 {
		return nil, fmt.Errorf("h2server: InitialConnWindowSize %d must be between 65535 and 2^31-1 (a connection window can only grow)", c.initialConnWindow)
	}
	if c.maxHeaderListSize < 1024 {
		return nil, fmt.Errorf("h2server: MaxHeaderListSize %d is below 1024, too small for ordinary requests", c.maxHeaderListSize)
	}
	// A header block's encoded size stays near its decoded size, and a
	// legitimate client needs only a few CONTINUATION frames for it.
	c.maxHeaderBlockBytes = 2*int(c.maxHeaderListSize) + 16<<10
	c.settings = c.ourSettings()
	return c, nil
}

// ourSettings is the SETTINGS frame every connection starts with.
func (c *config) ourSettings() []http2.Setting {
	settings := []http2.Setting{
		{ID: http2.SettingMaxConcurrentStreams, Val: c.maxConcurrentStreams},
		{ID: http2.SettingInitialWindowSize, Val: uint32(c.initialStreamWindow)},
		{ID: http2.SettingMaxFrameSize, Val: c.maxReadFrameSize},
		{ID: http2.SettingMaxHeaderListSize, Val: c.maxHeaderListSize},
		// RFC 9218 section 2.1: we use extensible priorities, not RFC 7540's.
		{ID: http2.SettingNoRFC7540Priorities, Val: 1},
	}
	if c.enableConnectProtocol {
		// RFC 8441 section 3: extended CONNECT is accepted.
		settings = append(settings, http2.Setting{ID: http2.SettingEnableConnectProtocol, Val: 1})
	}
	return settings
}

// config validates the fields once; later calls return the same result.
func (s *Server) config() (*config, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg != nil {
		return s.cfg, nil
	}
	cfg, err := s.buildConfig()
	if err != nil {
		return nil, err
	}
	s.cfg = cfg
	return cfg, nil
}

// Serve accepts connections on l and serves each on its own goroutine. A
// listener that yields *tls.Conn (such as one from tls.NewListener, whose
// config lists "h2" in NextProtos) serves HTTP/2 over TLS and closes
// connections that did not negotiate h2; any other listener serves h2c
// with prior knowledge. Serve returns ErrServerClosed after Shutdown or
// Close, and the configuration error, if any, at once.
//
// A temporary accept error, such as running out of file descriptors, is
// logged and retried after a back-off of 5 ms doubling to 1 s; any other
// ends Serve with that error. Serve closes l when it returns, except on a
// configuration error, which leaves l to the caller.
func (s *Server) Serve(l net.Listener) error {
	cfg, err := s.config()
	if err != nil {
		return err
	}
	// Shutdown and Close close the listeners they know; the wrapper
	// keeps l from being closed twice.
	l = &onceCloseListener{Listener: l}
	defer l.Close()
	base := context.Background()
	if s.BaseContext != nil {
		if base = s.BaseContext(l.(*onceCloseListener).Listener); base == nil {
			return errors.New("h2server: Server.BaseContext returned a nil context")
		}
	}
	if !s.trackListener(l, true) {
		return ErrServerClosed
	}
	defer s.trackListener(l, false)
	done := s.doneChan()
	var delay time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if s.isClosing() {
				return ErrServerClosed
			}
			if !temporaryAcceptError(err) {
				return err
			}
			// Back off, as net/http does, while the process or the
			// system is short of descriptors or memory, so that the
			// connections already open can finish and free some.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			cfg.logger.Warn("h2server: accept failed; retrying", "err", err, "delay", delay)
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-done:
				t.Stop()
				return ErrServerClosed
			}
			continue
		}
		delay = 0
		c := newConn(s, nc, cfg)
		// Only connections from Serve park (ServeConn serves on its
		// caller's goroutine); a TLS one's socket is set after its
		// handshake (rawConnOf says nil for the *tls.Conn).
		c.raw = rawConnOf(nc)
		if !s.track(c) {
			nc.Close()
			continue
		}
		go c.serveAccepted(true, base)
	}
}

// temporaryAcceptErrors are the accept errors that say "not now" rather
// than "never": the process (EMFILE) or the system (ENFILE) is out of
// descriptors, the kernel out of buffers or memory, or a connection died
// in the accept queue.
var temporaryAcceptErrors = []error{
	syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM,
	syscall.ECONNABORTED, syscall.ECONNRESET, syscall.EINTR,
}

// temporaryAcceptError says whether Serve should retry after Accept
// failed with err. Besides the errors above, a timeout (a listener with
// a deadline) is retried, and so is an error that calls itself
// temporary, as net/http's Serve does for listeners that wrap others. A
// closed listener (net.ErrClosed) is not: Serve returns.
func temporaryAcceptError(err error) bool {
	for _, e := range temporaryAcceptErrors {
		if errors.Is(err, e) {
			return true
		}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	var te interface{ Temporary() bool }
	return errors.As(err, &te) && te.Temporary()
}

// onceCloseListener closes its listener at most once: Serve's deferred
// Close and Shutdown's may both come.
type onceCloseListener struct {
	net.Listener
	once sync.Once
	err  error
}

func (l *onceCloseListener) Close() error {
	l.once.Do(func() { l.err = l.Listener.Close() })
	return l.err
}

// ServeConn serves one already accepted connection on the calling
// goroutine and returns when it closes. A *tls.Conn must negotiate h2;
// anything else is served as h2c with prior knowledge.
func (s *Server) ServeConn(nc net.Conn) error {
	cfg, err := s.config()
	if err != nil {
		return err
	}
	base := context.Background()
	if s.BaseContext != nil {
		if base = s.BaseContext(nil); base == nil {
			nc.Close()
			return errors.New("h2server: Server.BaseContext returned a nil context")
		}
	}
	c := newConn(s, nc, cfg)
	if !s.track(c) {
		nc.Close()
		return ErrServerClosed
	}
	return c.serveAccepted(false, base)
}

// ListenAndServe listens on the TCP address addr and serves h2c (HTTP/2
// over cleartext TCP, prior knowledge).
func (s *Server) ListenAndServe(addr string) error {
	if _, err := s.config(); err != nil {
		return err
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return s.Serve(l)
}

// ListenAndServeTLS listens on the TCP address addr and serves HTTP/2
// over TLS, as ServeTLS does.
func (s *Server) ListenAndServeTLS(addr, certFile, keyFile string) error {
	tc, err := s.tlsConfig(certFile, keyFile)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return s.Serve(&tlsListener{Listener: l, config: tc})
}

// ServeTLS serves HTTP/2 over TLS on the connections l accepts, with a
// copy of TLSConfig (a TLS 1.2 minimum if nil) that offers "h2" by ALPN
// and, with HTTP1 set, "http/1.1". certFile and keyFile may be empty when
// TLSConfig already holds certificates. Like Serve, it closes l when it
// returns, except on a configuration error, which it returns at once.
//
// Serve with a tls.NewListener works too; ServeTLS makes the TLS
// connections itself and sends the records of a large batch of frames in
// one system call, where crypto/tls makes one for each 16 KiB record (a
// 1 MiB response: about 10 writes instead of 68). The NetConn of such a
// *tls.Conn (ConnInfo.NetConn) is not the *net.TCPConn itself but a
// SocketConn: its TCPSocket method returns it.
func (s *Server) ServeTLS(l net.Listener, certFile, keyFile string) error {
	tc, err := s.tlsConfig(certFile, keyFile)
	if err != nil {
		return err
	}
	return s.Serve(&tlsListener{Listener: l, config: tc})
}

// tlsConfig is the TLS configuration of ServeTLS and ListenAndServeTLS.
func (s *Server) tlsConfig(certFile, keyFile string) (*tls.Config, error) {
	if _, err := s.config(); err != nil {
		return nil, err
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.TLSConfig != nil {
		tc = s.TLSConfig.Clone()
	}
	if certFile != "" || keyFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("h2server: loading TLS key pair: %w", err)
		}
		tc.Certificates = append(tc.Certificates, cert)
	}
	if len(tc.Certificates) == 0 && tc.GetCertificate == nil && tc.GetConfigForClient == nil {
		return nil, errors.New("h2server: ServeTLS and ListenAndServeTLS need certFile and keyFile, or certificates in TLSConfig")
	}
	if !slices.Contains(tc.NextProtos, "h2") {
		tc.NextProtos = append([]string{"h2"}, tc.NextProtos...)
	}
	if s.HTTP1 != nil && !slices.Contains(tc.NextProtos, "http/1.1") {
		tc.NextProtos = append(tc.NextProtos, "http/1.1")
	}
	return tc, nil
}

// Shutdown stops the server gracefully: listeners close, every connection
// gets GOAWAY (RFC 9113 section 6.8: first with stream ID 2^31-1 and a
// PING, then with the last stream the client opened), streams already
// admitted run to completion, and connections close as they become idle.
// It returns once every connection is finished: its transport closed and
// every handler of it returned, including one that goes on after its
// client hung up (Hooks.ConnClosed has run for each). If ctx ends first,
// the remaining connections are closed and ctx's error is returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.closing {
		for _, f := range s.onShutdown {
			go f()
		}
	}
	s.startClosingLocked()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	if s.drained == nil {
		s.drained = make(chan struct{})
		if len(s.conns) == 0 {
			close(s.drained)
		}
	}
	drained := s.drained
	s.mu.Unlock()
	for _, c := range conns {
		c.shutdown()
	}
	var http1Err error
	if s.HTTP1 != nil {
		s.closeHandoff()
		http1Err = s.HTTP1.Shutdown(ctx)
	}
	select {
	case <-drained:
		return http1Err
	case <-ctx.Done():
		s.Close()
		return ctx.Err()
	}
}

var errNilConnContext = errors.New("h2server: Server.ConnContext returned a nil context")

// RegisterOnShutdown registers a function to call, on a goroutine of its
// own, when Shutdown is first called: a place to tell long-lived streams
// (WebSockets, tunnels, server-sent events) to wind down, since graceful
// shutdown waits for them.
func (s *Server) RegisterOnShutdown(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onShutdown = append(s.onShutdown, f)
}

// Close closes the listeners and every connection at once, without
// GOAWAY. Handlers see their streams fail; Close does not wait for them
// to return (a Shutdown after it does).
func (s *Server) Close() error {
	s.mu.Lock()
	s.startClosingLocked()
	for c := range s.conns {
		c.closeTransport()
	}
	s.mu.Unlock()
	if s.HTTP1 != nil {
		s.closeHandoff()
		return s.HTTP1.Close()
	}
	return nil
}

func (s *Server) closeHandoff() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.handoff != nil {
		s.handoff.Close()
	}
}

// liveConns returns the live connections, for tests.
func (s *Server) liveConns() []*conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		cs = append(cs, c)
	}
	return cs
}

// startClosingLocked marks the server closing, ends accept loops waiting
// out a back-off, and closes the listeners.
func (s *Server) startClosingLocked() {
	if !s.closing {
		s.closing = true
		close(s.doneLocked())
	}
	for l := range s.listeners {
		l.Close()
	}
}

// doneChan returns a channel closed once Shutdown or Close is called.
func (s *Server) doneChan() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.doneLocked()
}

func (s *Server) doneLocked() chan struct{} {
	if s.done == nil {
		s.done = make(chan struct{})
	}
	return s.done
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

func (s *Server) trackListener(l net.Listener, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !add {
		delete(s.listeners, l)
		return true
	}
	if s.closing {
		return false
	}
	if s.listeners == nil {
		s.listeners = make(map[net.Listener]struct{})
	}
	s.listeners[l] = struct{}{}
	return true
}

func (s *Server) track(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	if s.conns == nil {
		s.conns = make(map[*conn]struct{})
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) forget(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	if len(s.conns) == 0 && s.drained != nil {
		select {
		case <-s.drained:
		default:
			close(s.drained)
		}
	}
}

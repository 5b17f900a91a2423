package interop

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/h2server/h2server"
)

// Keepalive with grpc-go (issue 11): the default client-PING policy
// (MinPingInterval 10 s) must not cut off grpc-go's keepalive at its most
// eager setting, and the server's own keepalive (ReadIdleTimeout,
// PingTimeout) must find a grpc-go client that vanished. Go's own client
// at its most eager health check is TestPingPolicyGoClientKeepalive in
// the root package.
//
// These tests wait for real keepalive time, on grpc-go's clock: it
// cannot be faked from outside the process's real timers.

// grpcKeepalive is grpc-go's most eager client keepalive: it raises any
// Time below 10 s to 10 s.
var grpcKeepalive = grpc.WithKeepaliveParams(keepalive.ClientParameters{
	Time:                10 * time.Second,
	Timeout:             2 * time.Second,
	PermitWithoutStream: true,
})

// pingsToTrip is how many client PINGs the policy needs to see before it
// can end a connection: the first PING is never a strike, and the third
// strike in a row is the one that ends it.
const pingsToTrip = 4

// connWatch follows, through a server's hooks, what the keepalive tests
// assert on.
type connWatch struct {
	opened, closed atomic.Int32
	pings          atomic.Int32 // the client's PINGs
	acks           atomic.Int32 // our ACKs of them
	ours           atomic.Int32 // our own (keepalive) PINGs
	goaways        atomic.Int32 // GOAWAYs we sent
	// The client's PINGs read and our ACKs written when we wrote the
	// first GOAWAY.
	pingsAtGoAway, acksAtGoAway atomic.Int32
	changed                     chan struct{}

	mu       sync.Mutex
	rejected []string // reason tokens, in order
}

func newConnWatch() *connWatch { return &connWatch{changed: make(chan struct{}, 1)} }

func (w *connWatch) poke() {
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

// install sets the server's hooks.
func (w *connWatch) install(s *h2server.Server) {
	s.Hooks = &h2server.Hooks{
		ConnOpened: func(*h2server.ConnInfo) { w.opened.Add(1); w.poke() },
		ConnClosed: func(*h2server.ConnInfo) { w.closed.Add(1); w.poke() },
		FrameRead: func(_ *h2server.ConnInfo, h http2.FrameHeader) {
			if h.Type == http2.FramePing && h.Flags&http2.FlagPingAck == 0 {
				w.pings.Add(1)
				w.poke()
			}
		},
		FrameWritten: func(_ *h2server.ConnInfo, h http2.FrameHeader) {
			switch {
			case h.Type == http2.FramePing && h.Flags&http2.FlagPingAck != 0:
				w.acks.Add(1)
			case h.Type == http2.FramePing:
				w.ours.Add(1)
			case h.Type == http2.FrameGoAway:
				if w.goaways.Add(1) == 1 {
					w.pingsAtGoAway.Store(w.pings.Load())
					w.acksAtGoAway.Store(w.acks.Load())
				}
			default:
				return
			}
			w.poke()
		},
		Rejected: func(r *h2server.Rejection) {
			w.mu.Lock()
			w.rejected = append(w.rejected, r.Reason)
			w.mu.Unlock()
			w.poke()
		},
	}
}

func (w *connWatch) rejections() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.rejected...)
}

func (w *connWatch) rejectedFor(reason string) bool {
	for _, r := range w.rejections() {
		if r == reason {
			return true
		}
	}
	return false
}

func (w *connWatch) String() string {
	return fmt.Sprintf("connections opened %d, closed %d; client PINGs %d, our ACKs %d, our PINGs %d, GOAWAYs %d; rejections %q",
		w.opened.Load(), w.closed.Load(), w.pings.Load(), w.acks.Load(), w.ours.Load(), w.goaways.Load(), w.rejections())
}

// until waits for cond, looking again at every hook event.
func (w *connWatch) until(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(within)
	for !cond() {
		select {
		case <-w.changed:
		case <-deadline:
			t.Fatalf("timed out after %v waiting for %s: %v", within, what, w)
		}
	}
}

// readyWithin connects cc and waits until it is ready.
func readyWithin(t *testing.T, cc *grpc.ClientConn, within time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	cc.Connect()
	for s := cc.GetState(); s != connectivity.Ready; s = cc.GetState() {
		if !cc.WaitForStateChange(ctx, s) {
			t.Fatalf("client not ready within %v: %v", within, s)
		}
	}
}

func unaryCall(t *testing.T, cc *grpc.ClientConn) {
	t.Helper()
	out := new(wrapperspb.BytesValue)
	if err := cc.Invoke(callCtx(t), "/"+echoService+"/Unary", wrapperspb.Bytes([]byte("still here")), out); err != nil {
		t.Fatalf("unary call: %v", err)
	}
	if string(out.Value) != "STILL HERE" {
		t.Fatalf("unary reply %q, want STILL HERE", out.Value)
	}
}

// TestGRPCKeepalivePolicy: grpc-go's most eager keepalive (a PING per
// 10 s of silence, also without a call) against the default PING policy
// keeps its connection through enough PINGs to trip the policy if it
// were too strict, with an idle streaming call open and with no call at
// all; against a server that wants PINGs 30 s apart, it is told GOAWAY
// too_many_pings.
//
// The cases start together, each on a server of its own, so that their
// real keepalive time overlaps: ~40 s in all. (Parallel subtests would
// overlap only as far as -parallel, GOMAXPROCS by default, allows; these
// wait rather than compute.)
func TestGRPCKeepalivePolicy(t *testing.T) {
	if testing.Short() {
		t.Skip("waits ~40 s of real keepalive time")
	}
	t.Parallel()
	idleStream := startKeepaliveCase(t, nil, true)
	noCall := startKeepaliveCase(t, nil, false)
	strict := startKeepaliveCase(t, func(s *h2server.Server) { s.MinPingInterval = 30 * time.Second }, false)
	strict.s.checkLogs = func(logs string) error {
		if !strings.Contains(logs, "too_many_pings") {
			return errors.New("no log line about too_many_pings")
		}
		return nil
	}
	t.Run("IdleStream", idleStream.wantKept)
	t.Run("NoCall", noCall.wantKept)
	t.Run("TooManyPings", strict.wantTooManyPings)
}

// keepaliveCase is a server with a watch on it, and a grpc-go client
// with keepalive on, connected.
type keepaliveCase struct {
	w  *connWatch
	s  *grpcServer
	cc *grpc.ClientConn
	cs grpc.ClientStream // the idle streaming call, if any
}

// startKeepaliveCase starts a server, configured further by configure if
// not nil, and connects a client; withStream, it opens a streaming call
// that stays idle until the test ends.
func startKeepaliveCase(t *testing.T, configure func(*h2server.Server), withStream bool) *keepaliveCase {
	t.Helper()
	k := &keepaliveCase{w: newConnWatch()}
	k.s = serveGRPC(t, false, func(s *h2server.Server) {
		k.w.install(s)
		if configure != nil {
			configure(s)
		}
	})
	k.cc = k.s.dial(t, k.s.addr, grpcKeepalive)
	if !withStream {
		readyWithin(t, k.cc, waitLimit)
		return k
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var err error
	k.cs, err = k.cc.NewStream(ctx, &echoDesc.Streams[3], "/"+echoService+"/Hold")
	if err != nil {
		t.Fatal(err)
	}
	wait(t, k.s.echo.holding, "the Hold call to start")
	return k
}

// keepaliveWait bounds the wait for the PINGs that could trip the policy,
// about 10 s apart.
const keepaliveWait = pingsToTrip*10*time.Second + 15*time.Second

// wantKept: the connection, and its idle call if any, live through the
// PINGs that could trip the policy, and a new call takes the same
// connection.
func (k *keepaliveCase) wantKept(t *testing.T) {
	w := k.w
	// The wait is the behaviour under test: real keepalive time. Each
	// PING answered, not met with GOAWAY, is one the policy let through.
	w.until(t, keepaliveWait, "the server to answer the client's keepalive PINGs",
		func() bool { return w.acks.Load() >= pingsToTrip })
	if n := w.pings.Load(); n < pingsToTrip {
		t.Errorf("the server read %d client PINGs, want at least %d", n, pingsToTrip)
	}
	if w.goaways.Load() != 0 || w.closed.Load() != 0 || len(w.rejections()) != 0 {
		t.Fatalf("the policy charged grpc-go's keepalive: %v", w)
	}
	if k.cs != nil {
		select {
		case err := <-k.s.echo.held:
			t.Fatalf("the idle streaming call ended: %v", err)
		default:
		}
		if err := k.cs.Context().Err(); err != nil {
			t.Fatalf("the idle streaming call ended on the client: %v", err)
		}
	}
	unaryCall(t, k.cc)
	if o, c := w.opened.Load(), w.closed.Load(); o != 1 || c != 0 {
		t.Errorf("connections opened %d, closed %d; want the client's one connection, still open", o, c)
	}
}

// wantTooManyPings: GOAWAY ENHANCE_YOUR_CALM "too_many_pings" at the
// fourth PING (the third strike); grpc-go, which then doubles its
// keepalive Time, reconnects for the next call.
func (k *keepaliveCase) wantTooManyPings(t *testing.T) {
	w := k.w
	// Real keepalive time, the behaviour under test.
	w.until(t, keepaliveWait, "GOAWAY too_many_pings",
		func() bool { return w.rejectedFor("too_many_pings") && w.goaways.Load() > 0 })
	if n := w.pingsAtGoAway.Load(); n != pingsToTrip {
		t.Errorf("GOAWAY after client PING %d, want %d (the third strike)", n, pingsToTrip)
	}
	if n := w.acksAtGoAway.Load(); n != pingsToTrip-1 {
		t.Errorf("%d PINGs answered before GOAWAY, want %d: all but the one that tripped the policy", n, pingsToTrip-1)
	}
	w.until(t, waitLimit, "the connection to close", func() bool { return w.closed.Load() >= 1 })
	unaryCall(t, k.cc)
	if o := w.opened.Load(); o != 2 {
		t.Errorf("connections opened %d, want 2: the client reconnects after GOAWAY", o)
	}
}

// TestGRPCKeepaliveFindsVanishedClient: the server's keepalive
// (ReadIdleTimeout 1 s, PingTimeout 1 s) ends a streaming call whose
// grpc-go client vanished (its packets are dropped, its connection never
// closed) within a few seconds, and the handler's context says why.
func TestGRPCKeepaliveFindsVanishedClient(t *testing.T) {
	t.Parallel()
	const readIdle, pingTimeout = time.Second, time.Second
	w := newConnWatch()
	s := serveGRPC(t, false, func(srv *h2server.Server) {
		w.install(srv)
		srv.ReadIdleTimeout, srv.PingTimeout = readIdle, pingTimeout
	})
	s.checkLogs = func(logs string) error {
		if !strings.Contains(logs, "did not answer a keepalive PING") {
			return errors.New("no log line about the unanswered keepalive PING")
		}
		return nil
	}
	p := startBlackholeProxy(t, s.addr)
	cc := s.dial(t, p.addr())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := cc.NewStream(ctx, &echoDesc.Streams[3], "/"+echoService+"/Hold"); err != nil {
		t.Fatal(err)
	}
	wait(t, s.echo.holding, "the Hold call to start")

	p.blackhole()
	start := time.Now()
	// ReadIdleTimeout + PingTimeout is 2 s; the bound only guards
	// against a hang.
	const bound = 10 * time.Second
	var cause error
	select {
	case cause = <-s.echo.held:
	case <-time.After(bound):
		t.Fatalf("the handler's context still open %v after the client vanished: %v", bound, w)
	}
	t.Logf("the handler's context ended %v after the client vanished", time.Since(start))
	var ce *h2server.ConnectionError
	if !errors.As(cause, &ce) || !strings.Contains(ce.Reason, "keepalive") {
		t.Errorf("context cause %v, want a *h2server.ConnectionError about the keepalive PING", cause)
	}
	if w.ours.Load() == 0 || !w.rejectedFor("keepalive_timeout") {
		t.Errorf("want our keepalive PING, then keepalive_timeout: %v", w)
	}
}

// blackholeProxy forwards TCP connections to a target until blackhole is
// called; from then on it forwards nothing, either way, and closes
// nothing: a peer whose host or network path vanished without a FIN.
type blackholeProxy struct {
	ln       net.Listener
	target   string
	dropping atomic.Bool
	wg       sync.WaitGroup

	mu     sync.Mutex
	closed bool
	conns  []net.Conn
}

// startBlackholeProxy listens on loopback; cleanup closes everything and
// waits for its goroutines.
func startBlackholeProxy(t *testing.T, target string) *blackholeProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &blackholeProxy{ln: ln, target: target}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		p.closed = true
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *blackholeProxy) addr() string { return p.ln.Addr().String() }

func (p *blackholeProxy) blackhole() { p.dropping.Store(true) }

// track remembers c for cleanup; false, and c closed, if cleanup has
// begun.
func (p *blackholeProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.conns = append(p.conns, c)
	return true
}

func (p *blackholeProxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			client.Close()
			continue
		}
		if !p.track(client) || !p.track(server) {
			server.Close()
			return
		}
		p.wg.Add(2)
		go p.pipe(server, client)
		go p.pipe(client, server)
	}
}

// pipe copies src to dst until an error; once dropping, it reads and
// discards, and an end of src is not passed on.
func (p *blackholeProxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.dropping.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				err = werr
			}
		}
		if err != nil {
			if !p.dropping.Load() {
				dst.Close()
			}
			return
		}
	}
}

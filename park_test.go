//go:build linux

package h2server

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Parking (park.go) seen from a real TCP client: an idle connection has no
// reader goroutine, wakes up for its next frame, and every path that ends
// a connection still ends a parked one.

// watchParking records the parking events of the test's servers. Call it
// before startServer, so that the hook is removed after the server stops.
func watchParking(t *testing.T) <-chan string {
	ch := make(chan string, 4096)
	f := func(_ *conn, ev string) {
		select {
		case ch <- ev:
		default:
		}
	}
	parkHook.Store(&f)
	t.Cleanup(func() { parkHook.Store(nil) })
	return ch
}

// parkedConns returns how many of srv's connections are parked.
func parkedConns(srv *Server) int {
	srv.poller.mu.Lock()
	defer srv.poller.mu.Unlock()
	return len(srv.poller.parked)
}

// waitParked waits, event by event, until n of srv's connections are
// parked.
func waitParked(t *testing.T, srv *Server, events <-chan string, n int) {
	t.Helper()
	timeout := time.After(testTimeout)
	for parkedConns(srv) != n {
		select {
		case <-events:
		case <-timeout:
			t.Fatalf("%d connections parked, want %d", parkedConns(srv), n)
		}
	}
}

// waitEvent waits for the parking event want.
func waitEvent(t *testing.T, events <-chan string, want string) {
	t.Helper()
	timeout := time.After(testTimeout)
	for {
		select {
		case ev := <-events:
			if ev == want {
				return
			}
		case <-timeout:
			t.Fatalf("no %q parking event", want)
		}
	}
}

// readerGoroutines counts the goroutines running a connection's read loop,
// in the whole process: a connection of an earlier test may still be
// closing when a test starts, so a test compares with the count it took
// before it dialled, and a parked connection must add none (the earlier
// reader may end meanwhile: fewer is no fault).
func readerGoroutines() int {
	n := 0
	for _, g := range goroutineStacks() {
		if strings.Contains(g.stack, "(*conn).readLoop") {
			n++
		}
	}
	return n
}

// parkHandler answers GET with "hello" and echoes POST bodies.
func parkHandler(st *Stream) {
	if st.Request().Method == "POST" {
		body, err := io.ReadAll(st)
		if err != nil {
			return
		}
		st.Write(body)
		return
	}
	io.WriteString(st, "hello")
}

// dialParkable connects with dialRaw and sends two PINGs, waiting for
// each ACK. The first ACK comes after the server's SETTINGS, which next
// acknowledges; the second says that the server has processed everything
// the client sent, its SETTINGS ACK included.
func dialParkable(t *testing.T, addr string) *rawClient {
	t.Helper()
	c := dialRaw(t, addr)
	c.ping()
	c.ping()
	return c
}

// ping sends a PING and reads up to its ACK.
func (c *rawClient) ping() {
	c.t.Helper()
	data := [8]byte{'p', 'a', 'r', 'k'}
	if err := c.fr.WritePing(false, data); err != nil {
		c.t.Fatal(err)
	}
	for {
		if pf, ok := c.mustNext().(*http2.PingFrame); ok && pf.IsAck() && pf.Data == data {
			return
		}
	}
}

// response reads stream id's response and returns its status and body.
func (c *rawClient) response(id uint32) (status string, body string) {
	c.t.Helper()
	var b strings.Builder
	for {
		f := c.mustNext()
		if f.Header().StreamID != id {
			continue
		}
		switch f := f.(type) {
		case *http2.MetaHeadersFrame:
			if s := f.PseudoValue("status"); s != "" {
				status = s
			}
			if f.StreamEnded() {
				return status, b.String()
			}
		case *http2.DataFrame:
			b.Write(f.Data())
			if f.StreamEnded() {
				return status, b.String()
			}
		case *http2.RSTStreamFrame:
			c.t.Fatalf("stream %d reset: %v", id, f.ErrCode)
		}
	}
}

// getHello sends GET on stream id and checks parkHandler's answer.
func (c *rawClient) getHello(id uint32) {
	c.t.Helper()
	c.get(id, "/")
	if status, body := c.response(id); status != "200" || body != "hello" {
		c.t.Fatalf("stream %d: status %q body %q, want 200 hello", id, status, body)
	}
}

func TestParkIdleConnection(t *testing.T) {
	events := watchParking(t)
	ls := startServer(t, &Server{Handler: HandlerFunc(parkHandler)}, false)
	readersBefore := readerGoroutines()

	c := dialParkable(t, ls.addr)
	waitParked(t, ls.srv, events, 1)
	if n := readerGoroutines(); n > readersBefore {
		t.Errorf("%d read loops while the connection is parked, want at most the %d there were before it", n, readersBefore)
	}

	// The next request wakes it; once it carried a stream, it parks again
	// after parkDelay without input.
	c.getHello(1)
	waitParked(t, ls.srv, events, 1)
	c.getHello(3)
	c.ping()
	waitParked(t, ls.srv, events, 1)

	// A second connection parks beside it.
	c2 := dialParkable(t, ls.addr)
	waitParked(t, ls.srv, events, 2)
	c2.getHello(1)
	c.getHello(5)
}

// TestParkAfterSilence: a connection that carried a stream parks only
// after parkDelay without input, even when its park deadline, set as it
// first waited, passes while the client keeps it busy.
func TestParkAfterSilence(t *testing.T) {
	type parked struct{ silence time.Duration }
	parks := make(chan parked, 16)
	timeouts := make(chan struct{}, 16)
	f := func(c *conn, ev string) {
		switch ev {
		case "park":
			// The reader's own clock of its last read, read as it parks.
			parks <- parked{c.silence()}
		case "timeout":
			select {
			case timeouts <- struct{}{}:
			default:
			}
		}
	}
	parkHook.Store(&f)
	t.Cleanup(func() { parkHook.Store(nil) })
	ls := startServer(t, &Server{Handler: HandlerFunc(parkHandler)}, false)
	c := dialParkable(t, ls.addr)
	// With no stream yet it parks at once, maybe more than once (a PING
	// wakes it): wait until it is parked, then drop those events.
	for parkedConns(ls.srv) != 1 {
		<-parks
	}
	for len(parks) > 0 {
		<-parks
	}
	// Requests one after another (PINGs this often would be a flood),
	// until the park deadline passes while they flow.
	id := uint32(1)
	for busy := true; busy; id += 2 {
		c.getHello(id)
		select {
		case <-timeouts:
			busy = false
		case p := <-parks:
			// Parked between two requests: only right if this
			// client stalled for parkDelay (a loaded machine).
			if p.silence < parkDelay-time.Millisecond {
				t.Fatalf("parked after %v without input, want %v", p.silence, parkDelay)
			}
			t.Skipf("the client stalled for %v between requests; the deadline did not pass while busy", p.silence)
		default:
		}
	}
	// Now silent: it parks once parkDelay passed since the last request.
	select {
	case p := <-parks:
		if p.silence < parkDelay-time.Millisecond {
			t.Fatalf("parked after %v without input, want %v", p.silence, parkDelay)
		}
	case <-time.After(testTimeout):
		t.Fatal("the silent connection did not park")
	}
	c.getHello(id)
}

func TestParkDeadlineMidFrame(t *testing.T) {
	events := watchParking(t)
	ls := startServer(t, &Server{Handler: HandlerFunc(parkHandler)}, false)
	c := dialParkable(t, ls.addr)
	c.getHello(1)
	// The PING makes the reader wait with no stream open on a connection
	// that carried one: it arms its park deadline.
	c.ping()

	// A stream opens and a DATA frame arrives in two parts; the deadline
	// passes in between, and the reader must go on reading the frame.
	c.request(3, "POST", "/", false)
	var frame bytes.Buffer
	http2.NewFramer(&frame, nil).WriteData(3, true, []byte("split frame"))
	if _, err := c.nc.Write(frame.Bytes()[:4]); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, events, "timeout")
	if _, err := c.nc.Write(frame.Bytes()[4:]); err != nil {
		t.Fatal(err)
	}
	if status, body := c.response(3); status != "200" || body != "split frame" {
		t.Fatalf("status %q body %q, want 200 and the echo", status, body)
	}
}

func TestParkedConnectionEnds(t *testing.T) {
	t.Run("ServerClose", func(t *testing.T) {
		events := watchParking(t)
		ls := startServer(t, &Server{Handler: HandlerFunc(parkHandler)}, false)
		var cs []*rawClient
		for range 3 {
			cs = append(cs, dialParkable(t, ls.addr))
		}
		waitParked(t, ls.srv, events, 3)
		ls.srv.Close()
		for _, c := range cs {
			c.goAwaysUntilEOF()
		}
		if n := parkedConns(ls.srv); n != 0 {
			t.Errorf("%d connections still parked after Close", n)
		}
	})

	t.Run("Shutdown", func(t *testing.T) {
		events := watchParking(t)
		ls := startServer(t, &Server{Handler: HandlerFunc(parkHandler)}, false)
		c := dialParkable(t, ls.addr)
		waitParked(t, ls.srv, events, 1)
		done := make(chan error, 1)
		go func() { done <- ls.srv.Shutdown(context.Background()) }()
		codes := c.goAwaysUntilEOF()
		if len(codes) == 0 || codes[len(codes)-1] != http2.ErrCodeNo {
			t.Errorf("GOAWAY codes %v, want NO_ERROR last", codes)
		}
		if err := <-done; err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})

	t.Run("IdleTimeout", func(t *testing.T) {
		events := watchParking(t)
		ls := startServer(t, &Server{Handler: HandlerFunc(parkHandler), IdleTimeout: 200 * time.Millisecond}, false)
		c := dialParkable(t, ls.addr)
		waitParked(t, ls.srv, events, 1)
		if codes := c.goAwaysUntilEOF(); len(codes) != 1 || codes[0] != http2.ErrCodeNo {
			t.Errorf("GOAWAY codes %v, want one NO_ERROR", codes)
		}
	})

	t.Run("PeerCloses", func(t *testing.T) {
		events := watchParking(t)
		closed := make(chan struct{})
		ls := startServer(t, &Server{
			Handler: HandlerFunc(parkHandler),
			Hooks:   &Hooks{ConnClosed: func(*ConnInfo) { close(closed) }},
		}, false)
		c := dialParkable(t, ls.addr)
		waitParked(t, ls.srv, events, 1)
		c.nc.Close()
		select {
		case <-closed:
		case <-time.After(testTimeout):
			t.Fatal("ConnClosed did not run after the client closed a parked connection")
		}
		if n := parkedConns(ls.srv); n != 0 {
			t.Errorf("%d connections parked after the client closed", n)
		}
	})
}

// TestParkGoClient: Go's clients keep a pooled connection between
// requests; each request after the connection parked wakes it, on the
// same connection, over TLS as in cleartext.
func TestParkGoClient(t *testing.T) {
	events := watchParking(t)
	for _, gc := range goClients {
		t.Run(gc.name, func(t *testing.T) {
			ls := startServer(t, &Server{Handler: HandlerFunc(parkHandler)}, gc.tls)
			testParkGoClient(t, ls, &http.Client{Transport: gc.pooled(t, ls)}, events)
		})
	}
}

func testParkGoClient(t *testing.T, ls *liveServer, c *http.Client, events <-chan string) {
	for i := range 3 {
		resp, err := c.Post(ls.url+"/", "text/plain", strings.NewReader("echo"))
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(body) != "echo" {
			t.Fatalf("request %d: body %q, err %v", i, body, err)
		}
		waitParked(t, ls.srv, events, 1)
	}
	if n := len(ls.srv.liveConns()); n != 1 {
		t.Errorf("%d connections, want the one pooled connection", n)
	}
}

// TestParkChurn: many connections park, wake and close at once, some
// closed by their client and the rest by Server.Close while parked or
// not; under -race this checks the hand-offs between readers, the
// poller and the closing paths.
func TestParkChurn(t *testing.T) {
	ls := startServer(t, &Server{Handler: HandlerFunc(parkHandler)}, false)
	const conns, rounds = 16, 10
	errs := make(chan error, conns)
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nc, err := net.Dial("tcp", ls.addr)
			if err != nil {
				errs <- err
				return
			}
			defer nc.Close()
			tr := &http2.Transport{AllowHTTP: true, DialTLSContext: func(context.Context, string, string, *tls.Config) (net.Conn, error) {
				return nc, nil
			}}
			cc, err := tr.NewClientConn(nc)
			if err != nil {
				errs <- err
				return
			}
			for r := range rounds {
				req, _ := http.NewRequest("POST", ls.url+"/", strings.NewReader("churn"))
				resp, err := cc.RoundTrip(req)
				if err != nil {
					errs <- err
					return
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || string(body) != "churn" {
					errs <- fmt.Errorf("conn %d round %d: body %q, err %v", i, r, body, err)
					return
				}
				if r%3 == 0 {
					cc.Ping(t.Context()) // wakes the connection for a control frame only
				}
			}
			if i%2 == 0 {
				cc.Close()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// The odd connections stay open, parked or about to: Close ends them.
	ls.srv.Close()
	if n := parkedConns(ls.srv); n != 0 {
		t.Errorf("%d connections parked after Close", n)
	}
}

// TestParkProxiedConnection: a connection from a balancer, whose PROXY
// header the server read (Server.ProxyProtocol), parks and wakes like any
// other TCP connection.
func TestParkProxiedConnection(t *testing.T) {
	events := watchParking(t)
	ls := startServer(t, &Server{Handler: HandlerFunc(addrHandler), ProxyProtocol: &ProxyProtocol{}}, false)
	c := dialRawAfter(t, ls.addr, proxyHeader(t, 2))
	c.ping()
	c.ping()
	waitParked(t, ls.srv, events, 1)
	wantAddrs(t, c, 1)
	waitParked(t, ls.srv, events, 1)
	wantAddrs(t, c, 3)
}

// socketConn is a listener wrapper's connection that declares itself
// transparent (SocketConn); opaqueConn one that does not.
type (
	socketConn struct{ *net.TCPConn }
	opaqueConn struct{ net.Conn }
)

func (c socketConn) TCPSocket() *net.TCPConn { return c.TCPConn }

// wrapListener wraps each accepted connection with wrap.
type wrapListener struct {
	net.Listener
	wrap func(net.Conn) net.Conn
}

func (l wrapListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return l.wrap(nc), nil
}

// TestParkThroughListenerWrapper: the connections of a wrapping listener
// park when they implement SocketConn, and are read through their own
// Read, never parked, when they do not.
func TestParkThroughListenerWrapper(t *testing.T) {
	for _, tc := range []struct {
		name  string
		wrap  func(net.Conn) net.Conn
		parks bool
	}{
		{"SocketConn", func(nc net.Conn) net.Conn { return socketConn{nc.(*net.TCPConn)} }, true},
		{"opaque", func(nc net.Conn) net.Conn { return opaqueConn{nc} }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			events := watchParking(t)
			srv := &Server{Handler: HandlerFunc(parkHandler)}
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			served := make(chan error, 1)
			go func() { served <- srv.Serve(wrapListener{l, tc.wrap}) }()
			defer func() {
				srv.Close()
				<-served
			}()
			c := dialParkable(t, l.Addr().String())
			if tc.parks {
				waitParked(t, srv, events, 1)
				c.getHello(1)
				waitParked(t, srv, events, 1)
				return
			}
			c.getHello(1)
			cs := srv.liveConns()
			if len(cs) != 1 || cs[0].raw != nil {
				t.Fatalf("an opaque wrapper's connection may park (raw socket %v), want it read through its Read", cs[0].raw)
			}
		})
	}
}

// batchConn holds what the client writes, while hold is set, until flush
// sends it in one write: TLS records that reach the server's socket
// together.
type batchConn struct {
	net.Conn
	mu   sync.Mutex
	hold bool
	buf  bytes.Buffer
}

func (b *batchConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.hold {
		return b.buf.Write(p)
	}
	return b.Conn.Write(p)
}

func (b *batchConn) flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.hold = false
	_, err := b.Conn.Write(b.buf.Bytes())
	b.buf.Reset()
	return err
}

// dialParkableTLS is dialParkable over TLS, through a batchConn.
func dialParkableTLS(t *testing.T, ls *liveServer) (*rawClient, *batchConn) {
	t.Helper()
	nc, err := net.Dial("tcp", ls.addr)
	if err != nil {
		t.Fatal(err)
	}
	bc := &batchConn{Conn: nc}
	tc := tls.Client(bc, &tls.Config{RootCAs: ls.pool, ServerName: "127.0.0.1", NextProtos: []string{"h2"}})
	tc.SetDeadline(time.Now().Add(testTimeout))
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	c := rawClientOver(t, tc)
	c.ping()
	c.ping()
	return c, bc
}

// TestParkTLS: an idle TLS connection parks (its reader goroutine ends)
// and wakes for its next frames. The second part is the case only TLS
// has: two TLS records reach the socket together, so the TLS layer reads
// both from the socket and hands over the first (a PING) alone. The
// socket is then empty, but the connection is not idle: the request in
// the second record, held by the TLS layer, must be served. A reader
// that parked on an empty socket would leave it there for good.
func TestParkTLS(t *testing.T) {
	t.Run("ServeTLS", func(t *testing.T) {
		testParkTLS(t, startServer(t, &Server{Handler: HandlerFunc(parkHandler)}, true))
	})
	t.Run("tls.NewListener", func(t *testing.T) {
		testParkTLS(t, startServerTLSListener(t, &Server{Handler: HandlerFunc(parkHandler)}))
	})
}

func testParkTLS(t *testing.T, ls *liveServer) {
	events := watchParking(t)
	readersBefore := readerGoroutines()
	c, bc := dialParkableTLS(t, ls)
	waitParked(t, ls.srv, events, 1)
	if n := readerGoroutines(); n > readersBefore {
		t.Errorf("%d read loops while the TLS connection is parked, want at most the %d there were before it", n, readersBefore)
	}
	c.getHello(1)
	waitParked(t, ls.srv, events, 1)
	c.ping() // woken by a control frame alone: parks again at once
	waitParked(t, ls.srv, events, 1)

	bc.mu.Lock()
	bc.hold = true
	bc.mu.Unlock()
	if err := c.fr.WritePing(false, [8]byte{'t', 'l', 's'}); err != nil {
		t.Fatal(err)
	}
	c.get(3, "/")
	if err := bc.flush(); err != nil {
		t.Fatal(err)
	}
	if status, body := c.response(3); status != "200" || body != "hello" {
		t.Fatalf("status %q body %q, want 200 hello", status, body)
	}
	waitParked(t, ls.srv, events, 1)
}

// TestRunQueueRawRead: on the raw read path (a TCP connection from
// Serve) too, a stream queued behind a busy handler gets a goroutine of
// its own before the reader waits for the socket. Stream 1's handler
// waits for a body the client sends only once stream 3, queued behind
// it, is answered.
func TestRunQueueRawRead(t *testing.T) {
	started := make(chan struct{}, 1)
	ls := startServer(t, &Server{Handler: HandlerFunc(func(st *Stream) {
		if st.Request().Method == "POST" {
			started <- struct{}{}
		}
		body, err := io.ReadAll(st)
		if err != nil {
			return
		}
		st.WriteHeaders(200, nil)
		st.Write(append([]byte("got "), body...))
	})}, false)
	c := dialParkable(t, ls.addr)
	cs := ls.srv.liveConns()
	if len(cs) != 1 || cs[0].raw == nil {
		t.Skip("no raw read path here")
	}
	cs[0].mu.Lock()
	cs[0].workers.maxBusy = 1 // queue as with GOMAXPROCS 1
	cs[0].mu.Unlock()
	c.request(1, "POST", "/upload", false)
	<-started // stream 1's worker is busy in Read
	c.get(3, "/")
	if status, body := c.response(3); status != "200" || body != "got " {
		t.Fatalf("stream 3: status %q body %q, want 200 and %q", status, body, "got ")
	}
	if err := c.fr.WriteData(1, true, []byte("body")); err != nil {
		t.Fatal(err)
	}
	if status, body := c.response(1); status != "200" || body != "got body" {
		t.Fatalf("stream 1: status %q body %q, want 200 and %q", status, body, "got body")
	}
}

// TestParkedConnectionLetsGo: a parked connection keeps what it must
// (its HPACK tables) and lets go of what streams need: its streams map,
// the array header blocks are decoded into, its last read buffer, which
// x/net's HPACK decoder would keep alive (it keeps an empty slice of the
// last block it decoded, which holds the block's whole array:
// decoder.unpin), and the decoder's buffer for fields split between
// pieces of a block (headerFragment gives it whole blocks).
func TestParkedConnectionLetsGo(t *testing.T) {
	events := watchParking(t)
	ls := startServer(t, &Server{Handler: HandlerFunc(parkHandler)}, false)
	c := dialParkable(t, ls.addr)
	waitParked(t, ls.srv, events, 1)

	// With stream 1 open the reader reads into a pooled buffer, and the
	// GET's header block is decoded from there.
	c.request(1, "POST", "/", false)
	body := bytes.Repeat([]byte("b"), 1000)
	if err := c.fr.WriteData(1, false, body); err != nil {
		t.Fatal(err)
	}
	c.getHello(3)
	if err := c.fr.WriteData(1, true, nil); err != nil {
		t.Fatal(err)
	}
	if _, got := c.response(1); got != string(body) {
		t.Fatalf("POST echoed %d bytes, want %d", len(got), len(body))
	}
	// Blocks whose fields straddle reads (a 6 KB cookie, read through
	// buffers of 128 bytes and 4 KiB) and frames (a 30 KB one, split by
	// a CONTINUATION frame): x/net's decoder, fed the pieces, would keep
	// a buffer as large as the straddling field (headerFragment).
	for i, n := range []int{6000, 30000} {
		id := uint32(5 + 2*i)
		c.buf.Reset()
		for _, f := range []hpack.HeaderField{{Name: ":method", Value: "GET"}, {Name: ":scheme", Value: "http"},
			{Name: ":authority", Value: "test"}, {Name: ":path", Value: "/"}, {Name: "cookie", Value: strings.Repeat("c", n)}} {
			c.enc.WriteField(f)
		}
		block := c.buf.Bytes()
		split := len(block)
		if n > 16000 {
			split = len(block) / 2
		}
		if err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block[:split],
			EndStream: true, EndHeaders: split == len(block)}); err != nil {
			t.Fatal(err)
		}
		if split < len(block) {
			if err := c.fr.WriteContinuation(id, true, block[split:]); err != nil {
				t.Fatal(err)
			}
		}
		if status, got := c.response(id); status != "200" || got != "hello" {
			t.Fatalf("GET with a %d-byte cookie: status %q body %q", n, status, got)
		}
	}
	waitParked(t, ls.srv, events, 1)

	ls.srv.poller.mu.Lock()
	defer ls.srv.poller.mu.Unlock()
	for _, pc := range ls.srv.poller.parked {
		// The decoder's unexported input slice: where it points is
		// what it keeps alive.
		buf := reflect.ValueOf(pc.rd.hdec.hd).Elem().FieldByName("buf")
		if !buf.IsValid() || buf.Kind() != reflect.Slice {
			t.Fatal("hpack.Decoder has no buf slice any more: see whether decoder.unpin is still needed")
		}
		if p := buf.Pointer(); p != 0 && p != uintptr(unsafe.Pointer(&unpinBlock[0])) {
			t.Errorf("the parked connection's HPACK decoder still points at %#x, its last block's array", p)
		}
		save := reflect.ValueOf(pc.rd.hdec.hd).Elem().FieldByName("saveBuf").FieldByName("buf")
		if !save.IsValid() {
			t.Fatal("hpack.Decoder has no saveBuf.buf any more: see whether headerFragment still needs to assemble blocks")
		}
		if save.Cap() != 0 || pc.rd.hdec.scratch != nil {
			t.Errorf("the parked connection's HPACK decoder keeps %d bytes of a split field, and %d bytes of assembly", save.Cap(), cap(pc.rd.hdec.scratch))
		}
		if pc.streams != nil || pc.rd.br != nil {
			t.Errorf("the parked connection keeps its streams map (%v) or its connection reader, with the header block's field array (%v)", pc.streams != nil, pc.rd.br != nil)
		}
	}
}

package h2server

// Graceful shutdown and idle connections, over real loopback sockets.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// goAwayTap wraps a client's connection and decodes the frames the server
// sends, reporting each GOAWAY: a test can wait for "the client has seen
// the final GOAWAY" instead of guessing.
type goAwayTap struct {
	net.Conn
	pw      *io.PipeWriter
	goAways chan http2.GoAwayFrame // DebugData is not kept
	done    chan struct{}          // closed when the decoder has exited
}

func newGoAwayTap(nc net.Conn) *goAwayTap {
	pr, pw := io.Pipe()
	c := &goAwayTap{Conn: nc, pw: pw, goAways: make(chan http2.GoAwayFrame, 16), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		fr := http2.NewFramer(nil, pr)
		fr.SetMaxReadFrameSize(1<<24 - 1)
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				// Keep draining so that the client's reads never block.
				io.Copy(io.Discard, pr)
				return
			}
			if ga, ok := f.(*http2.GoAwayFrame); ok {
				select {
				case c.goAways <- http2.GoAwayFrame{FrameHeader: ga.FrameHeader, LastStreamID: ga.LastStreamID, ErrCode: ga.ErrCode}:
				default:
				}
			}
		}
	}()
	return c
}

func (c *goAwayTap) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.pw.Write(p[:n])
	}
	if err != nil {
		c.pw.CloseWithError(err)
	}
	return n, err
}

func (c *goAwayTap) Close() error {
	err := c.Conn.Close()
	c.pw.CloseWithError(net.ErrClosed)
	return err
}

// nextGoAway waits for the next GOAWAY the server sent on c.
func (c *goAwayTap) nextGoAway(t *testing.T) http2.GoAwayFrame {
	t.Helper()
	select {
	case ga := <-c.goAways:
		return ga
	case <-time.After(testTimeout):
		t.Fatalf("no GOAWAY from the server")
	}
	panic("unreachable")
}

// TestShutdownUnderLoad shuts the server down while 4 connections have
// 300 requests in flight. Every admitted request must complete with its
// whole response, no request may start after the final GOAWAY, and
// Shutdown must wait for all of it.
func TestShutdownUnderLoad(t *testing.T) {
	const (
		conns   = 4
		perConn = 75
		total   = conns * perConn
	)
	var (
		release = make(chan struct{})
		started = make(chan struct{}, 2*total)
		mu      sync.Mutex
		starts  = make(map[string][]uint32) // client address -> IDs of streams whose handler ran
	)
	body := func(path string) string { return strings.Repeat(path+";", 300) }
	srv := &Server{Handler: HandlerFunc(func(st *Stream) {
		mu.Lock()
		addr := st.Request().RemoteAddr.String()
		starts[addr] = append(starts[addr], st.ID())
		mu.Unlock()
		started <- struct{}{}
		select {
		case <-release:
		case <-st.Context().Done():
			return
		}
		st.WriteHeaders(http.StatusOK, nil)
		io.WriteString(st, body(st.Request().Path))
	})}
	ls := startServer(t, srv, false)

	taps := make([]*goAwayTap, conns)
	ccs := make([]*http2.ClientConn, conns)
	for i := range conns {
		nc, err := net.Dial("tcp", ls.addr)
		if err != nil {
			t.Fatal(err)
		}
		taps[i] = newGoAwayTap(nc)
		ccs[i], err = xnetTransport(t, ls).NewClientConn(taps[i])
		if err != nil {
			t.Fatal(err)
		}
		cc := ccs[i]
		t.Cleanup(func() { cc.Close() })
	}
	get := func(cc *http2.ClientConn, path string) error {
		resp, err := cc.RoundTrip(mustRequest(t, "GET", ls.url+path, nil))
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		defer resp.Body.Close()
		got, err := io.ReadAll(resp.Body)
		if err != nil {
			return fmt.Errorf("%s: reading the body after %d bytes: %w", path, len(got), err)
		}
		if resp.StatusCode != 200 || string(got) != body(path) {
			return fmt.Errorf("%s: got %d with %d bytes, want 200 with %d bytes", path, resp.StatusCode, len(got), len(body(path)))
		}
		return nil
	}
	results := make(chan error, total)
	for i, cc := range ccs {
		for j := range perConn {
			go func() { results <- get(cc, fmt.Sprintf("/c%d/r%d", i, j)) }()
		}
	}
	for n := range total {
		select {
		case <-started:
		case <-time.After(testTimeout):
			t.Fatalf("only %d of %d handlers started", n, total)
		}
	}

	shutdownDone := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		shutdownDone <- srv.Shutdown(ctx)
	}()

	// RFC 9113 section 6.8: first a GOAWAY that excludes nothing, then,
	// after a round trip, the one that names the last stream served.
	lastIDs := make(map[string]uint32)
	for i, tap := range taps {
		first := tap.nextGoAway(t)
		if first.LastStreamID != math.MaxInt32 || first.ErrCode != http2.ErrCodeNo {
			t.Errorf("conn %d: first GOAWAY last=%d code=%v, want last=2^31-1 NO_ERROR", i, first.LastStreamID, first.ErrCode)
		}
		final := tap.nextGoAway(t)
		if want := uint32(2*perConn - 1); final.LastStreamID != want || final.ErrCode != http2.ErrCodeNo {
			t.Errorf("conn %d: final GOAWAY last=%d code=%v, want last=%d NO_ERROR", i, final.LastStreamID, final.ErrCode, want)
		}
		lastIDs[tap.LocalAddr().String()] = final.LastStreamID
	}
	select {
	case err := <-shutdownDone:
		t.Fatalf("Shutdown returned %v while %d handlers were still running", err, total)
	default:
	}

	// New requests are not served: not on the connections going away,
	// and not on new connections, which the closed listener refuses.
	for i, cc := range ccs {
		if err := get(cc, "/after-goaway"); err == nil {
			t.Errorf("conn %d: a request after the final GOAWAY succeeded", i)
		}
	}
	fresh := &http.Client{Transport: xnetTransport(t, ls)}
	if resp, err := fresh.Do(mustRequest(t, "GET", ls.url+"/new-conn", nil)); err == nil {
		resp.Body.Close()
		t.Errorf("a request on a new connection after Shutdown succeeded")
	}

	close(release)
	for range total {
		if err := <-results; err != nil {
			t.Error(err)
		}
	}
	select {
	case err := <-shutdownDone:
		if err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("Shutdown did not return after every stream completed")
	}
	if err := ls.serveResult(t); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve returned %v, want ErrServerClosed", err)
	}

	mu.Lock()
	defer mu.Unlock()
	n := 0
	for addr, ids := range starts {
		last, ok := lastIDs[addr]
		if !ok {
			t.Errorf("handlers ran for unknown connection %s", addr)
		}
		for _, id := range ids {
			if id > last {
				t.Errorf("%s: handler ran for stream %d, above the final GOAWAY's last stream %d", addr, id, last)
			}
		}
		n += len(ids)
	}
	if n != total {
		t.Errorf("%d handlers ran, want the %d admitted before Shutdown", n, total)
	}
}

// TestShutdownGoAwaySequence follows a graceful shutdown frame by frame:
// a stream the client opens before it acknowledges the shutdown PING is
// still served; one opened after the final GOAWAY is refused and never
// reaches a handler.
func TestShutdownGoAwaySequence(t *testing.T) {
	release := make(chan struct{})
	started := make(chan uint32, 10)
	srv := &Server{Handler: HandlerFunc(func(st *Stream) {
		started <- st.ID()
		select {
		case <-release:
		case <-st.Context().Done():
			return
		}
		io.WriteString(st, "served")
	})}
	// The test acknowledges the shutdown PING itself, after a step that
	// must not race with the server's fallback timer.
	cfg, err := srv.config()
	if err != nil {
		t.Fatal(err)
	}
	cfg.shutdownPingTimeout = testTimeout
	ls := startServer(t, srv, false)
	c := dialRaw(t, ls.addr)

	wantStarted := func(id uint32) {
		t.Helper()
		select {
		case got := <-started:
			if got != id {
				t.Fatalf("handler started for stream %d, want %d", got, id)
			}
		case <-time.After(testTimeout):
			t.Fatalf("handler for stream %d did not start", id)
		}
	}
	wantGoAway := func(last uint32) {
		t.Helper()
		f := c.mustNext()
		ga, ok := f.(*http2.GoAwayFrame)
		if !ok || ga.LastStreamID != last || ga.ErrCode != http2.ErrCodeNo {
			t.Fatalf("got %s, want GOAWAY last=%d NO_ERROR", describeFrame(f), last)
		}
	}

	c.get(1, "/one")
	wantStarted(1)
	shutdownDone := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		shutdownDone <- srv.Shutdown(ctx)
	}()

	wantGoAway(math.MaxInt32)
	f := c.mustNext()
	ping, ok := f.(*http2.PingFrame)
	if !ok || ping.IsAck() {
		t.Fatalf("got %s, want the shutdown PING", describeFrame(f))
	}
	// In flight before the client saw the GOAWAY: still admitted.
	c.get(3, "/three")
	wantStarted(3)
	if err := c.fr.WritePing(true, ping.Data); err != nil {
		t.Fatal(err)
	}
	wantGoAway(3)

	// Past the final GOAWAY: refused, so that the client may retry it
	// elsewhere, and no handler runs.
	c.get(5, "/five")
	f = c.mustNext()
	if rst, ok := f.(*http2.RSTStreamFrame); !ok || rst.StreamID != 5 || rst.ErrCode != http2.ErrCodeRefusedStream {
		t.Fatalf("got %s, want RST_STREAM 5 REFUSED_STREAM", describeFrame(f))
	}

	close(release)
	ended := map[uint32]bool{}
	bodies := map[uint32]string{}
	for len(ended) < 2 {
		switch f := c.mustNext().(type) {
		case *http2.MetaHeadersFrame:
			if f.PseudoValue("status") != "200" {
				t.Errorf("stream %d: status %q", f.StreamID, f.PseudoValue("status"))
			}
			if f.StreamEnded() {
				ended[f.StreamID] = true
			}
		case *http2.DataFrame:
			bodies[f.StreamID] += string(f.Data())
			if f.StreamEnded() {
				ended[f.StreamID] = true
			}
		default:
			t.Fatalf("got %s while waiting for the responses", describeFrame(f))
		}
	}
	if !ended[1] || !ended[3] || bodies[1] != "served" || bodies[3] != "served" {
		t.Errorf("responses ended %v with bodies %v, want streams 1 and 3 served", ended, bodies)
	}
	c.wantEOF()
	select {
	case err := <-shutdownDone:
		if err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("Shutdown did not return")
	}
	if len(started) != 0 {
		t.Errorf("a handler started for stream %d after the final GOAWAY", <-started)
	}
}

// TestShutdownContextExpires: a handler that never finishes cannot hold
// Shutdown past its context; the connection is closed and the handler's
// context cancelled.
func TestShutdownContextExpires(t *testing.T) {
	started := make(chan struct{})
	cause := make(chan error, 1)
	srv := &Server{Handler: HandlerFunc(func(st *Stream) {
		close(started)
		<-st.Context().Done() // stuck until the connection goes
		cause <- context.Cause(st.Context())
	})}
	ls := startServer(t, srv, false)
	c := &http.Client{Transport: xnetTransport(t, ls)}
	result := make(chan error, 1)
	go func() {
		resp, err := c.Do(mustRequest(t, "GET", ls.url+"/stuck", nil))
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		result <- err
	}()
	select {
	case <-started:
	case <-time.After(testTimeout):
		t.Fatal("handler did not start")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown returned %v, want context.DeadlineExceeded", err)
	}
	select {
	case err := <-cause:
		if err == nil || errors.Is(err, ErrHandlerReturned) {
			t.Errorf("handler context ended with %v, want the connection's closing", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("the stuck handler's context was not cancelled")
	}
	select {
	case err := <-result:
		if err == nil {
			t.Error("the stuck request succeeded although its connection was closed")
		}
	case <-time.After(testTimeout):
		t.Fatal("the client did not see its connection closed")
	}
	if err := ls.serveResult(t); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve returned %v, want ErrServerClosed", err)
	}
}

// TestIdleTimeoutClosesIdleConnection: a connection that never opens a
// stream gets GOAWAY NO_ERROR once IdleTimeout passes, and is closed.
func TestIdleTimeoutClosesIdleConnection(t *testing.T) {
	const idle = 200 * time.Millisecond
	ls := startServer(t, &Server{Handler: HandlerFunc(interopHandler), IdleTimeout: idle}, false)
	start := time.Now()
	c := dialRaw(t, ls.addr)
	f := c.mustNext()
	ga, ok := f.(*http2.GoAwayFrame)
	if !ok || ga.ErrCode != http2.ErrCodeNo || ga.LastStreamID != 0 {
		t.Fatalf("got %s, want GOAWAY last=0 NO_ERROR", describeFrame(f))
	}
	if d := time.Since(start); d < idle {
		t.Errorf("GOAWAY after %v, before IdleTimeout %v", d, idle)
	}
	c.wantEOF()
}

// TestIdleTimeoutSparesOpenStreams: a stream that outlasts IdleTimeout
// keeps its connection; the idle clock starts when it ends.
func TestIdleTimeoutSparesOpenStreams(t *testing.T) {
	const idle = 100 * time.Millisecond
	srv := &Server{IdleTimeout: idle, Handler: HandlerFunc(func(st *Stream) {
		// The scenario itself, not synchronisation: a response that takes
		// longer than the idle timeout.
		time.Sleep(3 * idle)
		io.WriteString(st, "slow")
	})}
	ls := startServer(t, srv, false)
	c := dialRaw(t, ls.addr)
	c.get(1, "/slow")
	var body string
	for done := false; !done; {
		switch f := c.mustNext().(type) {
		case *http2.MetaHeadersFrame:
			done = f.StreamEnded()
		case *http2.DataFrame:
			body += string(f.Data())
			done = f.StreamEnded()
		default:
			t.Fatalf("got %s before the response ended", describeFrame(f))
		}
	}
	if body != "slow" {
		t.Errorf("body %q, want \"slow\"", body)
	}
	ended := time.Now()
	f := c.mustNext()
	ga, ok := f.(*http2.GoAwayFrame)
	if !ok || ga.ErrCode != http2.ErrCodeNo || ga.LastStreamID != 1 {
		t.Fatalf("got %s, want GOAWAY last=1 NO_ERROR", describeFrame(f))
	}
	if d := time.Since(ended); d < idle/2 {
		// The timer starts when the stream closes on the server, a little
		// before the client has read the end of the response.
		t.Errorf("GOAWAY %v after the response ended, want about IdleTimeout %v", d, idle)
	}
	c.wantEOF()
}

// TestShutdownAfterStreamEnded: a graceful Shutdown returns, and a
// connection's ConnClosed runs, only after Hooks.StreamEnded ran for every
// stream of it, however long the hook takes. The hook runs on whichever
// goroutine drops the stream's last reference; here the handlers end
// their responses, wait until the test calls Shutdown, and return: the
// connection has nothing left to serve as each handler's slot goes back,
// before the handler's goroutine reports its stream. The hook's pause
// only widens that window: the order holds without it.
func TestShutdownAfterStreamEnded(t *testing.T) {
	const n = 8
	var returned atomic.Bool
	var ended, late, closedEarly atomic.Int32
	letGo := make(chan struct{})
	srv := &Server{
		Handler: HandlerFunc(func(st *Stream) {
			io.WriteString(st, "hello")
			st.Close()
			<-letGo
		}),
		Hooks: &Hooks{
			StreamEnded: func(*StreamInfo) {
				time.Sleep(20 * time.Millisecond)
				if returned.Load() {
					late.Add(1)
				}
				ended.Add(1)
			},
			ConnClosed: func(*ConnInfo) {
				if ended.Load() != n {
					closedEarly.Add(1)
				}
			},
		},
	}
	ls := startServer(t, srv, false)
	client := &http.Client{Transport: xnetTransport(t, ls)}
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Get(ls.url + "/")
			if err != nil {
				t.Errorf("GET: %v", err)
				return
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != "hello" || err != nil {
				t.Errorf("body %q, %v; want hello", b, err)
			}
		}()
	}
	wg.Wait() // every response is complete; every handler waits
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(context.Background()) }()
	close(letGo)
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	returned.Store(true)
	if e, l := ended.Load(), late.Load(); e != n || l != 0 {
		t.Errorf("when Shutdown returned, StreamEnded had run %d times of %d; %d ran after it", e, n, l)
	}
	if c := closedEarly.Load(); c != 0 {
		t.Errorf("ConnClosed ran %d times before every stream of its connection was reported", c)
	}
}

// TestShutdownReportsEveryStream: a graceful Shutdown at a random moment of
// a busy server (four client connections, handlers of five kinds, request
// bodies still arriving, WhenReadable continuations) returns only after
// every stream of every connection was reported, and each connection
// closes after its streams were. Fixed seeds; the clients' failures after
// the GOAWAY are expected and not judged.
func TestShutdownReportsEveryStream(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { shutdownReportsEveryStream(t, seed) })
	}
}

func shutdownReportsEveryStream(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 14))
	var wakes atomic.Int32
	later := laterSink(&wakes, nil, nil)
	var mu sync.Mutex
	started, ended := map[uint64]int{}, map[uint64]int{}
	var opened, closed int
	var returned bool
	var problems []string
	srv := &Server{
		Handler: HandlerFunc(func(st *Stream) {
			switch st.Request().Path {
			case "/plain":
				io.WriteString(st, "ok")
			case "/close-late":
				io.WriteString(st, "ok")
				st.Close()
				// Return once the writer most likely sent END_STREAM and
				// released the stream's table entry: the handler's release
				// comes last, after its slot went back.
				time.Sleep(2 * time.Millisecond)
			case "/echo":
				io.Copy(st, st)
			case "/later":
				later.ServeStream(st)
			case "/reset":
				st.Reset(ErrCodeCancel)
			}
		}),
		Hooks: &Hooks{
			ConnOpened: func(*ConnInfo) { mu.Lock(); opened++; mu.Unlock() },
			StreamStarted: func(s *StreamInfo) {
				mu.Lock()
				started[s.Conn.ID]++
				mu.Unlock()
			},
			StreamEnded: func(s *StreamInfo) {
				time.Sleep(time.Millisecond) // a slow hook widens the window a bad order needs
				mu.Lock()
				ended[s.Conn.ID]++
				if returned {
					problems = append(problems, fmt.Sprintf("stream %d of connection %d reported after Shutdown returned", s.StreamID, s.Conn.ID))
				}
				mu.Unlock()
			},
			ConnClosed: func(c *ConnInfo) {
				mu.Lock()
				closed++
				if ended[c.ID] != started[c.ID] {
					problems = append(problems, fmt.Sprintf("connection %d closed with %d of its %d streams reported", c.ID, ended[c.ID], started[c.ID]))
				}
				mu.Unlock()
			},
		},
	}
	ls := startServer(t, srv, false)
	shutdownAt := int32(5 + rng.IntN(40))
	var ok atomic.Int32
	enough := make(chan struct{})
	var once sync.Once
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 4 {
		client := &http.Client{Transport: xnetTransport(t, ls)}
		for range 3 {
			crng := rand.New(rand.NewPCG(rng.Uint64(), 0))
			wg.Add(1)
			go func() {
				defer wg.Done()
				for !stop.Load() {
					if shutdownMixRequest(client, ls.url, crng) {
						if ok.Add(1) == shutdownAt {
							once.Do(func() { close(enough) })
						}
					} else if ok.Load() >= shutdownAt {
						return // the server is going away
					}
				}
			}()
		}
	}
	<-enough
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	err := srv.Shutdown(ctx)
	mu.Lock()
	returned = true
	var s, e int
	for id, n := range started {
		s += n
		e += ended[id]
	}
	if err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if s != e || closed != opened {
		t.Errorf("when Shutdown returned: %d of %d streams reported, %d of %d connections closed", e, s, closed, opened)
	}
	mu.Unlock()
	stop.Store(true)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	for _, p := range problems {
		t.Error(p)
	}
}

// shutdownMixRequest makes one request of TestShutdownReportsEveryStream,
// with a body of up to two pieces for the paths that read one; it reports
// whether a response came back whole.
func shutdownMixRequest(client *http.Client, url string, rng *rand.Rand) bool {
	paths := []string{"/plain", "/close-late", "/echo", "/later", "/reset"}
	path := paths[rng.IntN(len(paths))]
	var body io.Reader
	if path == "/echo" || path == "/later" {
		pr, pw := io.Pipe()
		// A failed request may leave the body unread; a whole response
		// means it was read: either way the writer may go after this.
		defer pr.Close()
		n := rng.IntN(3)
		go func() {
			for range n {
				pw.Write([]byte("some bytes"))
				runtime.Gosched()
			}
			pw.Close()
		}()
		body = pr
	}
	req, _ := http.NewRequest("POST", url+path, body)
	resp, err := client.Do(req)
	if err != nil {
		return false // /reset, or a stream refused as the server goes away
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return err == nil
}

// TestShutdownWaitsForHandlerAfterHangup: a handler that goes on working
// after its response ended (it logs, it stores) still runs when the client
// hangs up; the connection is not finished until it returns: the Server
// still counts it, Shutdown returns only after the handler did, and
// ConnClosed runs after it.
func TestShutdownWaitsForHandlerAfterHangup(t *testing.T) {
	release := make(chan struct{})
	var releaseOnce sync.Once
	free := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(free) // a failure below must not leave the handler waiting
	var handlerDone, closedEarly atomic.Bool
	srv := &Server{
		Handler: HandlerFunc(func(st *Stream) {
			io.WriteString(st, "hello")
			st.Close()
			<-release
			handlerDone.Store(true)
		}),
		Hooks: &Hooks{ConnClosed: func(*ConnInfo) {
			if !handlerDone.Load() {
				closedEarly.Store(true)
			}
		}},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	served := make(chan error, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		served <- srv.ServeConn(nc)
	}()
	tr := &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
	resp, err := (&http.Client{Transport: tr}).Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "hello" || err != nil {
		t.Fatalf("body %q, %v; want hello", b, err)
	}
	tr.CloseIdleConnections() // the client hangs up
	if err := <-served; err != nil {
		t.Fatalf("ServeConn: %v", err)
	}
	// The transport is gone, the handler still runs.
	if n := len(srv.liveConns()); n != 1 {
		t.Fatalf("the Server counts %d connections while a handler of its one connection runs, want 1", n)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(context.Background()) }()
	free()
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if !handlerDone.Load() {
		t.Error("Shutdown returned before the handler did")
	}
	if closedEarly.Load() {
		t.Error("ConnClosed ran before the connection's handler returned")
	}
}

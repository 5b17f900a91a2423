package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/h2server/h2server"
	"github.com/h2server/h2server/internal/heavytest"
	"golang.org/x/net/http2"
)

// testTimeout bounds each wait on an event, so that a bug fails the test
// instead of hanging it; nothing waits for it to pass.
const testTimeout = 2 * time.Minute

// startProxy serves the proxy over h2c on 127.0.0.1, tunnelling to
// loopback (the default allow-list).
func startProxy(t *testing.T, opts ...func(*h2server.Server)) (string, *proxy) {
	t.Helper()
	al, err := parseAllowList(defaultAllow)
	if err != nil {
		t.Fatal(err)
	}
	p := newProxy(al, slog.New(slog.DiscardHandler))
	srv := &h2server.Server{Handler: p}
	for _, o := range opts {
		o(srv)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-served; !errors.Is(err, h2server.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String(), p
}

// dialProxy opens one HTTP/2 connection (h2c) to the proxy: every tunnel
// of a test shares it.
func dialProxy(t *testing.T, addr string) *http2.ClientConn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http2.Transport{AllowHTTP: true}
	cc, err := tr.NewClientConn(nc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// clientTunnel is a tunnel as Go's HTTP/2 client holds it: the response
// body reads the upstream's bytes, the pipe writes the client's.
type clientTunnel struct {
	resp *http.Response
	w    *io.PipeWriter
}

// connect sends CONNECT target on cc and waits for the 200.
func connect(ctx context.Context, cc *http2.ClientConn, target string) (*clientTunnel, error) {
	pr, pw := io.Pipe()
	req := (&http.Request{
		Method:        http.MethodConnect,
		URL:           &url.URL{Host: target},
		Host:          target,
		Header:        make(http.Header),
		Body:          pr,
		ContentLength: -1,
	}).WithContext(ctx)
	resp, err := cc.RoundTrip(req)
	if err != nil {
		pw.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		pw.Close()
		return nil, errors.New("CONNECT " + target + ": " + resp.Status)
	}
	return &clientTunnel{resp, pw}, nil
}

// listen starts a loopback TCP server that runs serve for each
// connection.
func listen(t *testing.T, serve func(c *net.TCPConn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				serve(c.(*net.TCPConn))
			})
		}
	}()
	return ln.Addr().String()
}

// echo sends back what it reads, and its FIN after the client's.
func echo(c *net.TCPConn) {
	io.Copy(c, c)
	c.CloseWrite()
}

// block is random bytes that the tunnels' patterns are cut from.
var block = func() []byte {
	b := make([]byte, 1<<20+1) // odd, so no chunk size divides it
	rand.NewChaCha8([32]byte{'t', 'u', 'n'}).Read(b)
	return b
}()

// patternReader is tunnel i's bytes: block read round and round from an
// offset of i's own, so the reader checks the echo without keeping what
// was sent, and bytes of another tunnel would not match. (Cheaper under
// -race than generating them: a copy, not a cipher.)
type patternReader struct{ off int }

func pattern(i int) *patternReader { return &patternReader{off: i * 10007 % len(block)} }

func (r *patternReader) Read(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := copy(p, block[r.off:])
		p = p[k:]
		r.off = (r.off + k) % len(block)
	}
	return n, nil
}

// TestConcurrentTunnels: 100 tunnels on one HTTP/2 connection, all open
// at once, each sending its own bytes through the proxy to an echo
// server and checking every byte that comes back, then the echo's FIN
// (END_STREAM) after the client's. 10 MiB each way per tunnel; 256 KiB
// with -short.
func TestConcurrentTunnels(t *testing.T) {
	const tunnels = 100
	size := 10 << 20
	if testing.Short() {
		size = 256 << 10
	} else {
		heavytest.Lock(t) // not at the same time as the attack suite
	}
	var conns, open, maxOpen atomic.Int32
	hooks := &h2server.Hooks{
		ConnOpened: func(*h2server.ConnInfo) { conns.Add(1) },
		StreamStarted: func(*h2server.StreamInfo) {
			n := open.Add(1)
			for m := maxOpen.Load(); n > m && !maxOpen.CompareAndSwap(m, n); m = maxOpen.Load() {
			}
		},
		StreamEnded: func(*h2server.StreamInfo) { open.Add(-1) },
	}
	addr, p := startProxy(t, func(s *h2server.Server) { s.Hooks = hooks })
	target := listen(t, echo)
	cc := dialProxy(t, addr)

	start := time.Now()
	// Every tunnel opens before any sends: all 100 are open at once.
	var opened sync.WaitGroup
	opened.Add(tunnels)
	allOpen := make(chan struct{})
	go func() { opened.Wait(); close(allOpen) }()
	var wg sync.WaitGroup
	for i := range tunnels {
		wg.Go(func() {
			tun, err := connect(t.Context(), cc, target)
			opened.Done()
			if err != nil {
				t.Errorf("tunnel %d: %v", i, err)
				return
			}
			defer tun.resp.Body.Close()
			go func() {
				<-allOpen
				src := pattern(i)
				buf := make([]byte, 32<<10)
				for sent := 0; sent < size; {
					n := min(len(buf), size-sent)
					src.Read(buf[:n])
					if _, err := tun.w.Write(buf[:n]); err != nil {
						return // the reader reports the failure
					}
					sent += n
				}
				tun.w.Close() // END_STREAM: the proxy's FIN to the echo
			}()
			want := pattern(i)
			got, exp := make([]byte, 32<<10), make([]byte, 32<<10)
			total := 0
			for {
				n, err := tun.resp.Body.Read(got)
				if n > 0 {
					want.Read(exp[:n])
					if !bytes.Equal(got[:n], exp[:n]) {
						t.Errorf("tunnel %d: bytes %d to %d differ from what was sent", i, total, total+n)
						tun.w.CloseWithError(errors.New("mismatch"))
						return
					}
					total += n
				}
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Errorf("tunnel %d: after %d bytes: %v", i, total, err)
					return
				}
			}
			if total != size {
				t.Errorf("tunnel %d: END_STREAM after %d bytes, want %d", i, total, size)
			}
		})
	}
	wg.Wait()
	d := time.Since(start)
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections, want the one", n)
	}
	if m := maxOpen.Load(); m != tunnels {
		t.Errorf("at most %d tunnels open at once, want %d", m, tunnels)
	}
	up, down := p.bytesUp.Load(), p.bytesDown.Load()
	if want := int64(tunnels * size); up != want || down != want {
		t.Errorf("proxy moved %d bytes up and %d down, want %d each way", up, down, want)
	}
	t.Logf("%d tunnels x %d KiB each way in %v: %.1f MiB/s through the proxy each way",
		tunnels, size>>10, d.Round(time.Millisecond), float64(up)/(1<<20)/d.Seconds())
}

// TestUpstreamHalfClose: the upstream's FIN reaches the client as
// END_STREAM, and the client's bytes keep flowing to the upstream after
// it, until the client's own END_STREAM (the upstream's EOF).
func TestUpstreamHalfClose(t *testing.T) {
	addr, _ := startProxy(t)
	got := make(chan string, 1)
	target := listen(t, func(c *net.TCPConn) {
		io.WriteString(c, "hello from upstream")
		c.CloseWrite()
		b, _ := io.ReadAll(c)
		got <- string(b)
	})
	tun, err := connect(t.Context(), dialProxy(t, addr), target)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(tun.resp.Body)
	if err != nil || string(b) != "hello from upstream" {
		t.Fatalf("read %q, %v; want the upstream's greeting, then END_STREAM", b, err)
	}
	for _, s := range []string{"the client ", "keeps ", "talking"} {
		if _, err := io.WriteString(tun.w, s); err != nil {
			t.Fatalf("writing after the upstream's FIN: %v", err)
		}
	}
	tun.w.Close()
	select {
	case s := <-got:
		if s != "the client keeps talking" {
			t.Errorf("upstream read %q after its FIN", s)
		}
	case <-time.After(testTimeout):
		t.Fatal("the upstream never saw the client's END_STREAM as EOF")
	}
}

// TestUpstreamResetIsConnectError: an upstream that resets its TCP
// connection makes the proxy reset the stream with CONNECT_ERROR.
func TestUpstreamResetIsConnectError(t *testing.T) {
	addr, _ := startProxy(t)
	target := listen(t, func(c *net.TCPConn) {
		io.ReadFull(c, make([]byte, 5))
		c.SetLinger(0) // Close sends RST
	})
	tun, err := connect(t.Context(), dialProxy(t, addr), target)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(tun.w, "hello")
	_, err = io.ReadAll(tun.resp.Body)
	var se http2.StreamError
	if !errors.As(err, &se) || se.Code != http2.ErrCodeConnect {
		t.Fatalf("reading the tunnel: %v, want RST_STREAM CONNECT_ERROR", err)
	}
}

// TestClientResetResetsUpstream: a client that resets its stream gets
// the upstream connection reset too (a TCP RST, RFC 9113 section 8.5),
// not left open.
func TestClientResetResetsUpstream(t *testing.T) {
	greeted := make(chan struct{})
	upErr := make(chan error, 1)
	target := listen(t, func(c *net.TCPConn) {
		io.ReadFull(c, make([]byte, 5))
		close(greeted)
		_, err := c.Read(make([]byte, 1))
		upErr <- err
	})
	var resets atomic.Int32
	addr, _ := startProxy(t, func(s *h2server.Server) {
		s.Hooks = &h2server.Hooks{FrameRead: func(_ *h2server.ConnInfo, h http2.FrameHeader) {
			if h.Type == http2.FrameRSTStream {
				resets.Add(1)
			}
		}}
	})
	tun, err := connect(t.Context(), dialProxy(t, addr), target)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(tun.w, "hello")
	<-greeted
	// Closing the response body before its end makes Go's client reset
	// the stream (RST_STREAM CANCEL). (Cancelling the request's context
	// does not, once the response head has arrived.)
	tun.resp.Body.Close()
	select {
	case err := <-upErr:
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("upstream read %v after the client's reset, want ECONNRESET", err)
		}
		if n := resets.Load(); n != 1 {
			t.Errorf("the server read %d RST_STREAM frames, want the client's one", n)
		}
	case <-time.After(testTimeout):
		t.Fatal("the upstream connection stayed open after the client's reset")
	}
}

// TestSlowUpstreamIsFlowControlled: an upstream that does not read makes
// the proxy stop reading from its stream, and the client stops at the
// stream window: what the server holds for the tunnel (DATA received
// less what the proxy took to write upstream) never passes the window
// plus the proxy's one copy buffer. Once the window is full, the
// upstream reads, and every byte arrives.
func TestSlowUpstreamIsFlowControlled(t *testing.T) {
	const (
		window = 64 << 10
		size   = 16 << 20 // far more than the kernel buffers between proxy and upstream (some MiB)
	)
	var (
		p        *proxy
		received atomic.Int64 // DATA payload read on tunnel streams
		maxHeld  atomic.Int64
		full     = make(chan struct{})
		fullOnce sync.Once
	)
	hooks := &h2server.Hooks{FrameRead: func(_ *h2server.ConnInfo, h http2.FrameHeader) {
		if h.Type != http2.FrameData || h.StreamID == 0 {
			return
		}
		held := received.Add(int64(h.Length)) - p.bytesUp.Load()
		for m := maxHeld.Load(); held > m && !maxHeld.CompareAndSwap(m, held); m = maxHeld.Load() {
		}
		if held >= window {
			fullOnce.Do(func() { close(full) })
		}
	}}
	addr, p := startProxy(t, func(s *h2server.Server) {
		s.Hooks = hooks
		// Windows grow while a handler keeps up (MaxStreamWindowSize),
		// as this one does until the upstream's socket buffers fill:
		// fixed here, so that the bound is one known window.
		s.InitialStreamWindowSize, s.MaxStreamWindowSize = window, -1
	})
	got := make(chan error, 1)
	target := listen(t, func(c *net.TCPConn) {
		select {
		case <-full:
		case <-time.After(testTimeout):
			got <- errors.New("the stream window never filled")
			return
		}
		want, b := pattern(7), make([]byte, 32<<10)
		exp := make([]byte, len(b))
		total := 0
		for {
			n, err := c.Read(b)
			want.Read(exp[:n])
			if !bytes.Equal(b[:n], exp[:n]) {
				got <- errors.New("bytes differ from what was sent")
				return
			}
			total += n
			if err == io.EOF {
				break
			}
			if err != nil {
				got <- err
				return
			}
		}
		if total != size {
			got <- errors.New("upstream got " + strconv.Itoa(total) + " bytes, want " + strconv.Itoa(size))
			return
		}
		got <- nil
	})
	tun, err := connect(t.Context(), dialProxy(t, addr), target)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		src, buf := pattern(7), make([]byte, 32<<10)
		for sent := 0; sent < size; sent += len(buf) {
			src.Read(buf)
			if _, err := tun.w.Write(buf); err != nil {
				return
			}
		}
		tun.w.Close()
	}()
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(testTimeout):
		t.Fatal("the upstream did not get the client's bytes")
	}
	if m := maxHeld.Load(); m > window+copyBufferSize {
		t.Errorf("the server held %d bytes of one tunnel, more than the window %d and a copy buffer %d", m, window, copyBufferSize)
	}
	t.Logf("most held for the tunnel: %d bytes (window %d, copy buffer %d)", maxHeld.Load(), window, copyBufferSize)
}

// TestAllowList: the default reaches loopback only, a target outside the
// list gets 403 before any dial, and the flag's forms parse.
func TestAllowList(t *testing.T) {
	al, err := parseAllowList(defaultAllow)
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]bool{
		"127.0.0.1:22": true, "127.1.2.3:65535": true, "[::1]:443": true, "[::ffff:127.0.0.1]:80": true,
		"10.0.0.1:80": false, "192.168.1.1:443": false, "[2001:db8::1]:443": false, "0.0.0.0:80": false,
	} {
		if got := al.allows(netip.MustParseAddrPort(addr)); got != want {
			t.Errorf("default allow-list allows %s: %v, want %v", addr, got, want)
		}
	}
	al, err = parseAllowList("10.0.0.0/8:8000-8999, [2001:db8::]/32:443")
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]bool{
		"10.1.1.1:8080": true, "10.1.1.1:9000": false, "[2001:db8::5]:443": true, "[2001:db8::5]:80": false, "127.0.0.1:8080": false,
	} {
		if got := al.allows(netip.MustParseAddrPort(addr)); got != want {
			t.Errorf("%s allows %s: %v, want %v", al, addr, got, want)
		}
	}
	for _, bad := range []string{"", "127.0.0.1", "127.0.0.1/8", "localhost:80", "127.0.0.0/8:0", "127.0.0.0/8:90-80", "127.0.0.0/8:http"} {
		if _, err := parseAllowList(bad); err == nil {
			t.Errorf("parseAllowList(%q) succeeded", bad)
		}
	}

	// Through the proxy: a target outside the list is refused with 403,
	// and no connection is attempted (the dialer's check runs before it).
	addr, _ := startProxy(t)
	cc := dialProxy(t, addr)
	for _, target := range []string{"192.0.2.1:80", "[2001:db8::1]:443"} {
		_, err := connect(t.Context(), cc, target)
		if err == nil || !bytes.Contains([]byte(err.Error()), []byte("403")) {
			t.Errorf("CONNECT %s: %v, want 403 Forbidden", target, err)
		}
	}
}

// TestConnectionLossEndsTunnel: a client that half-closed its side and
// then lost its connection, with the upstream silent, leaves no tunnel
// behind: its handler returns (the upstream is reset on the way, as
// TestClientResetResetsUpstream shows for a reset stream).
func TestConnectionLossEndsTunnel(t *testing.T) {
	ended := make(chan struct{})
	var once sync.Once
	addr, _ := startProxy(t, func(s *h2server.Server) {
		s.Hooks = &h2server.Hooks{StreamEnded: func(*h2server.StreamInfo) { once.Do(func() { close(ended) }) }}
	})
	gotFIN := make(chan struct{})
	release := make(chan struct{})
	target := listen(t, func(c *net.TCPConn) {
		io.ReadAll(c) // the client's bytes, then its FIN
		close(gotFIN)
		<-release // silent: nothing from here tells the proxy the client is gone
	})
	defer close(release)
	cc := dialProxy(t, addr)
	tun, err := connect(t.Context(), cc, target)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(tun.w, "hello")
	tun.w.Close()
	<-gotFIN
	cc.Close() // the client's connection goes away
	select {
	case <-ended:
	case <-time.After(testTimeout):
		t.Fatal("the tunnel's handler did not return after its connection was lost")
	}
}

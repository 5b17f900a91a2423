// Command tunnel is a CONNECT proxy over HTTP/2 (RFC 9113 section 8.5):
// each CONNECT stream becomes a TCP connection to the host and port it
// names, and the stream's DATA frames are that connection's bytes both
// ways. A half-close travels as one: the client's END_STREAM becomes a
// FIN to the upstream (CloseWrite), the upstream's FIN becomes
// END_STREAM, and the other direction goes on. A broken upstream (a TCP
// reset, a failed write) resets the stream with CONNECT_ERROR; a stream
// the client resets resets the upstream connection (a TCP RST, as
// section 8.5 asks).
//
//	go run ./examples/tunnel                          # h2c on 127.0.0.1:8480, tunnels to loopback only
//	go run ./examples/tunnel -tls                     # HTTP/2 over TLS, self-signed certificate
//	go run ./examples/tunnel -allow 127.0.0.1/32:22   # tunnels to 127.0.0.1 port 22 and nothing else
//
// The allow-list decides where tunnels may go: it is checked against the
// address actually dialled (after name resolution), so a name cannot
// smuggle a tunnel elsewhere. Its default, loopback addresses on any
// port, keeps the example from being an open proxy; widen it with care,
// and listen on a public address only with TLS and authentication in
// front. Each tunnel is flow controlled like any stream: a slow upstream
// makes the proxy stop reading from the client, which then stops at its
// window, so a tunnel holds at most a stream window plus one copy buffer.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/h2server/h2server"
	"github.com/h2server/h2server/examples/internal/excert"
)

// defaultAllow is loopback only: the example is never an open proxy.
const defaultAllow = "127.0.0.0/8:*,[::1]/128:*"

func main() {
	addr := flag.String("addr", "127.0.0.1:8480", "TCP `host:port` to listen on")
	useTLS := flag.Bool("tls", false, "serve HTTP/2 over TLS (ALPN h2) with a self-signed certificate instead of h2c")
	allow := flag.String("allow", defaultAllow, "comma-separated `NETWORK:PORTS` that tunnels may reach: NETWORK an address prefix (10.0.0.0/8, [::1]/128), PORTS a port, a range (8000-8999) or *")
	flag.Parse()
	al, err := parseAllowList(*allow)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tunnel: -allow:", err)
		os.Exit(2)
	}
	if err := run(*addr, *useTLS, al); err != nil {
		slog.Error("tunnel failed", "err", err)
		os.Exit(1)
	}
}

func run(addr string, useTLS bool, al allowList) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	proxyURL := "http://" + ln.Addr().String()
	if useTLS {
		cfg, err := excert.TLSConfig()
		if err != nil {
			ln.Close()
			return err
		}
		ln = tls.NewListener(ln, cfg)
		proxyURL = "https://" + ln.Addr().String()
	}
	p := newProxy(al, slog.Default())
	srv := &h2server.Server{Handler: p}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	// curl and most proxy clients send CONNECT over HTTP/1.1 only; an
	// HTTP/2 client (x/net/http2's Transport, nghttpx, Envoy) can tunnel
	// here. main_test.go does it with Go's.
	fmt.Printf("tunnel: HTTP/2 CONNECT proxy at %s, tunnels to %s\n", proxyURL, al)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}
	stop()
	// Tunnels are long-lived: Shutdown sends GOAWAY, lets them run for the
	// grace, then ends them (their upstream connections are reset).
	slog.Info("shutting down; waiting for open tunnels", "timeout", "10s")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		slog.Warn("tunnels still open at the end of the grace were cut", "err", err)
	}
	if err := <-serveErr; !errors.Is(err, h2server.ErrServerClosed) {
		return err
	}
	return nil
}

// proxy serves CONNECT streams.
type proxy struct {
	allow  allowList
	dialer net.Dialer
	log    *slog.Logger

	// Bytes moved by all tunnels, client to upstream (read from streams)
	// and upstream to client (written to streams).
	bytesUp, bytesDown atomic.Int64
}

func newProxy(al allowList, log *slog.Logger) *proxy {
	p := &proxy{allow: al, log: log}
	p.dialer = net.Dialer{
		Timeout: 10 * time.Second,
		// Checked on the address being connected to, after resolution.
		Control: func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil || !p.allow.allows(ap) {
				return &notAllowedError{address}
			}
			return nil
		},
	}
	return p
}

type notAllowedError struct{ addr string }

func (e *notAllowedError) Error() string { return "tunnel: " + e.addr + " is not in the allow-list" }

// copyBufferSize is the one buffer each direction of a tunnel holds.
const copyBufferSize = 32 << 10

func (p *proxy) ServeStream(st *h2server.Stream) {
	req := st.Request()
	if req.Method != http.MethodConnect || req.Protocol != "" {
		st.WriteHeaders(http.StatusMethodNotAllowed, http.Header{"Allow": {"CONNECT"}})
		return
	}
	// The server checked that the authority is host:port (section 8.5).
	up, err := p.dialer.DialContext(st.Context(), "tcp", req.Authority)
	if err != nil {
		status := http.StatusBadGateway
		if _, ok := errors.AsType[*notAllowedError](err); ok {
			status = http.StatusForbidden
		}
		p.log.Info("tunnel refused", "to", req.Authority, "status", status, "err", err)
		st.WriteHeaders(status, http.Header{"Content-Type": {"text/plain; charset=utf-8"}})
		io.WriteString(st, err.Error()+"\n")
		return
	}
	t := &tunnel{st: st, up: up.(*net.TCPConn), p: p}
	// The head goes out now: the client may wait for it before it sends.
	st.WriteHeaders(http.StatusOK, nil)
	st.Flush()
	t.run()
}

// tunnel pipes one stream and its upstream connection both ways.
type tunnel struct {
	st    *h2server.Stream
	up    *net.TCPConn
	p     *proxy
	abort sync.Once
}

func (t *tunnel) run() {
	// The stream's context ends when the client resets the stream or
	// its connection goes (Shutdown's grace ran out, the client
	// vanished): a direction blocked on a silent upstream must not keep
	// the tunnel, and its socket, for ever.
	stop := context.AfterFunc(t.st.Context(), func() { t.fail(context.Cause(t.st.Context())) })
	defer stop()
	var wg sync.WaitGroup
	wg.Go(t.toClient)
	t.toUpstream()
	wg.Wait()
	t.up.Close()
}

// toUpstream copies the client's bytes to the upstream; the client's
// half-close (io.EOF) becomes a FIN.
func (t *tunnel) toUpstream() {
	buf := make([]byte, copyBufferSize)
	for {
		n, err := t.st.Read(buf)
		if n > 0 {
			t.p.bytesUp.Add(int64(n))
			if _, werr := t.up.Write(buf[:n]); werr != nil {
				t.fail(werr)
				return
			}
		}
		if err == io.EOF {
			t.up.CloseWrite()
			return
		}
		if err != nil {
			t.fail(err) // the client reset the stream, or the connection went
			return
		}
	}
}

// toClient copies the upstream's bytes to the client; the upstream's FIN
// becomes END_STREAM.
func (t *tunnel) toClient() {
	buf := make([]byte, copyBufferSize)
	for {
		n, err := t.up.Read(buf)
		if n > 0 {
			if _, werr := t.st.Write(buf[:n]); werr != nil {
				t.fail(werr)
				return
			}
			// Send what the upstream sent now: a tunnel's bytes are often
			// an interactive protocol's, and nothing is coming to fill
			// the frame.
			t.st.Flush()
			t.p.bytesDown.Add(int64(n))
		}
		if err == io.EOF {
			t.st.Close()
			return
		}
		if err != nil {
			t.fail(err)
			return
		}
	}
}

// fail ends the tunnel both ways after an error on either side: the
// stream is reset with CONNECT_ERROR (a no-op when the client reset it
// first) and the upstream connection with a TCP RST, which unblocks the
// other direction.
func (t *tunnel) fail(err error) {
	t.abort.Do(func() {
		if _, ok := errors.AsType[*h2server.StreamError](err); !ok && !errors.Is(err, net.ErrClosed) {
			t.p.log.Info("tunnel broken", "to", t.st.Request().Authority, "err", err)
		}
		t.st.Reset(h2server.ErrCodeConnect)
		t.up.SetLinger(0) // Close sends RST, not FIN
		t.up.Close()
	})
}

// allowList is where tunnels may go: address prefixes, each with a port
// range.
type allowList []allowRule

type allowRule struct {
	prefix   netip.Prefix
	min, max uint16
}

func (al allowList) allows(ap netip.AddrPort) bool {
	a := ap.Addr().Unmap()
	for _, r := range al {
		if r.prefix.Contains(a) && r.min <= ap.Port() && ap.Port() <= r.max {
			return true
		}
	}
	return false
}

func (al allowList) String() string {
	var parts []string
	for _, r := range al {
		ports := "*"
		if r.min != 0 || r.max != 65535 {
			ports = strconv.Itoa(int(r.min))
			if r.max != r.min {
				ports += "-" + strconv.Itoa(int(r.max))
			}
		}
		host := r.prefix.String()
		if r.prefix.Addr().Is6() {
			host = "[" + r.prefix.Addr().String() + "]/" + strconv.Itoa(r.prefix.Bits())
		}
		parts = append(parts, host+":"+ports)
	}
	return strings.Join(parts, ",")
}

// parseAllowList parses "NETWORK:PORTS,..." (see the -allow flag). An
// IPv6 prefix is bracketed: [2001:db8::]/32:443.
func parseAllowList(s string) (allowList, error) {
	var al allowList
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		i := strings.LastIndexByte(item, ':')
		if i < 0 {
			return nil, fmt.Errorf("%q: want NETWORK:PORTS", item)
		}
		network, ports := item[:i], item[i+1:]
		network = strings.Replace(strings.TrimPrefix(network, "["), "]", "", 1)
		prefix, err := netip.ParsePrefix(network)
		if err != nil {
			return nil, fmt.Errorf("%q: %v", item, err)
		}
		r := allowRule{prefix: prefix.Masked(), min: 0, max: 65535}
		if ports != "*" {
			lo, hi, isRange := strings.Cut(ports, "-")
			if !isRange {
				hi = lo
			}
			a, err1 := strconv.ParseUint(lo, 10, 16)
			b, err2 := strconv.ParseUint(hi, 10, 16)
			if err1 != nil || err2 != nil || a > b || a == 0 {
				return nil, fmt.Errorf("%q: ports %q are not a port, a range or *", item, ports)
			}
			r.min, r.max = uint16(a), uint16(b)
		}
		al = append(al, r)
	}
	if len(al) == 0 {
		return nil, errors.New("empty allow-list: no tunnel could go anywhere")
	}
	return al, nil
}

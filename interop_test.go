package h2server

// Interoperability tests: the server on a real loopback socket, against
// real clients (Go's x/net/http2 and net/http clients, curl, nghttp).

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// testTimeout bounds every wait of these tests: a guard against a hang,
// never a way to let something happen.
const testTimeout = 20 * time.Second

// ---- Shared fixtures ----

// testCert is a self-signed certificate for 127.0.0.1 and localhost, and
// a pool that trusts it. It is generated once per test binary.
var testCert = sync.OnceValues(func() (tls.Certificate, *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "h2server test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		panic(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
})

// testCertPoolOnly returns the pool that trusts testCert.
func testCertPoolOnly() *x509.CertPool {
	_, pool := testCert()
	return pool
}

// logBuffer collects a server's log output across goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines returns the complete log lines written so far.
func (b *logBuffer) lines() []string {
	s := strings.TrimSuffix(b.String(), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// liveServer is a Server serving on a loopback listener.
type liveServer struct {
	srv  *Server
	addr string // host:port
	url  string // scheme://host:port, no trailing slash
	tls  bool
	// tlsListener: the server got TLS from tls.NewListener, not ServeTLS.
	tlsListener bool
	pool        *x509.CertPool // trusts the server's certificate
	logs        *logBuffer

	served    chan error // Serve's result
	serveOnce sync.Once
	serveErr  error
}

// startServer serves srv on 127.0.0.1:0, over TLS with ALPN h2 when
// useTLS (through ServeTLS), else h2c. A nil srv.Logger is replaced by
// one writing to ls.logs. Cleanup shuts the server down, checks that
// Shutdown returned nil and Serve ErrServerClosed, and then that no
// goroutine leaked.
func startServer(t *testing.T, srv *Server, useTLS bool) *liveServer {
	t.Helper()
	return startLive(t, srv, useTLS, false)
}

// startServerTLSListener is startServer over TLS made by the caller's
// listener: Serve(tls.NewListener(...)) rather than ServeTLS.
func startServerTLSListener(t *testing.T, srv *Server) *liveServer {
	t.Helper()
	return startLive(t, srv, true, true)
}

func startLive(t *testing.T, srv *Server, useTLS, tlsListener bool) *liveServer {
	t.Helper()
	t.Cleanup(checkNoLeaks(t)) // registered first, so it runs last
	ls := &liveServer{
		srv:         srv,
		tls:         useTLS,
		tlsListener: tlsListener,
		logs:        &logBuffer{},
		served:      make(chan error, 1),
	}
	if srv.Logger == nil {
		srv.Logger = slog.New(slog.NewTextHandler(ls.logs, nil))
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ls.addr = l.Addr().String()
	ls.url = "http://" + ls.addr
	serve := srv.Serve
	if useTLS {
		cert, pool := testCert()
		ls.pool = pool
		cfg := &tls.Config{
			Certificates: []tls.Certificate{cert},
			NextProtos:   []string{"h2"},
			MinVersion:   tls.VersionTLS12,
		}
		if ls.tlsListener {
			serve = func(l net.Listener) error { return srv.Serve(tls.NewListener(l, cfg)) }
		} else {
			srv.TLSConfig = cfg
			serve = func(l net.Listener) error { return srv.ServeTLS(l, "", "") }
		}
		ls.url = "https://" + ls.addr
	}
	go func() { ls.served <- serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := ls.serveResult(t); !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
		if t.Failed() {
			t.Logf("server log:\n%s", ls.logs)
		}
	})
	return ls
}

// serveResult waits for Serve to return and returns its error.
func (ls *liveServer) serveResult(t *testing.T) error {
	t.Helper()
	ls.serveOnce.Do(func() {
		select {
		case ls.serveErr = <-ls.served:
		case <-time.After(testTimeout):
			ls.serveErr = errors.New("test: Serve did not return")
		}
	})
	return ls.serveErr
}

// xnetTransport returns an x/net/http2 client Transport for ls: h2c with
// prior knowledge (AllowHTTP and a DialTLSContext dialing plain TCP) or
// TLS trusting the test certificate.
func xnetTransport(t *testing.T, ls *liveServer) *http2.Transport {
	tr := &http2.Transport{}
	if ls.tls {
		tr.TLSClientConfig = &tls.Config{RootCAs: ls.pool}
	} else {
		tr.AllowHTTP = true
		tr.DialTLSContext = func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		}
	}
	t.Cleanup(tr.CloseIdleConnections) // runs before the server's Shutdown
	return tr
}

// stdTransport returns a net/http Transport limited to HTTP/2: TLS with
// ALPN, or h2c with prior knowledge (http.Protocols.UnencryptedHTTP2).
func stdTransport(t *testing.T, ls *liveServer) *http.Transport {
	var p http.Protocols
	tr := &http.Transport{}
	if ls.tls {
		p.SetHTTP2(true)
		tr.TLSClientConfig = &tls.Config{RootCAs: ls.pool}
	} else {
		p.SetUnencryptedHTTP2(true)
	}
	tr.Protocols = &p
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

// goClient is one of Go's HTTP/2 clients in one mode.
type goClient struct {
	name string
	tls  bool
	// pooled returns a RoundTripper with a connection pool.
	pooled func(t *testing.T, ls *liveServer) http.RoundTripper
	// single returns a RoundTripper over one new connection, which waits
	// for a free stream when the server's MAX_CONCURRENT_STREAMS is reached.
	single func(t *testing.T, ls *liveServer) http.RoundTripper
}

var goClients = []goClient{
	{name: "xnet-h2c", pooled: xnetPooled, single: xnetSingle},
	{name: "xnet-tls", tls: true, pooled: xnetPooled, single: xnetSingle},
	{name: "nethttp-h2c", pooled: stdPooled, single: stdSingle},
	{name: "nethttp-tls", tls: true, pooled: stdPooled, single: stdSingle},
}

func xnetPooled(t *testing.T, ls *liveServer) http.RoundTripper { return xnetTransport(t, ls) }

func stdPooled(t *testing.T, ls *liveServer) http.RoundTripper { return stdTransport(t, ls) }

func xnetSingle(t *testing.T, ls *liveServer) http.RoundTripper {
	t.Helper()
	var nc net.Conn
	var err error
	if ls.tls {
		nc, err = tls.Dial("tcp", ls.addr, &tls.Config{RootCAs: ls.pool, NextProtos: []string{"h2"}})
	} else {
		nc, err = net.Dial("tcp", ls.addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	tr := xnetTransport(t, ls)
	// Without it, a ClientConn at the limit fails requests instead of
	// queueing them.
	tr.StrictMaxConcurrentStreams = true
	cc, err := tr.NewClientConn(nc)
	if err != nil {
		nc.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

func stdSingle(t *testing.T, ls *liveServer) http.RoundTripper {
	t.Helper()
	scheme := "http"
	if ls.tls {
		scheme = "https"
	}
	cc, err := stdTransport(t, ls).NewClientConn(testContext(t), scheme, ls.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// forEachGoClient runs f as a subtest per Go client and mode, each with
// its own server built by newServer, and a client with a connection pool.
func forEachGoClient(t *testing.T, newServer func() *Server, f func(t *testing.T, ls *liveServer, c *http.Client)) {
	for _, gc := range goClients {
		t.Run(gc.name, func(t *testing.T) {
			ls := startServer(t, newServer(), gc.tls)
			f(t, ls, &http.Client{Transport: gc.pooled(t, ls)})
		})
	}
}

// forEachGoConn is forEachGoClient with a client bound to one connection.
func forEachGoConn(t *testing.T, newServer func() *Server, f func(t *testing.T, ls *liveServer, c *http.Client)) {
	for _, gc := range goClients {
		t.Run(gc.name, func(t *testing.T) {
			ls := startServer(t, newServer(), gc.tls)
			f(t, ls, &http.Client{Transport: gc.single(t, ls)})
		})
	}
}

// testContext returns a context bounded by testTimeout and ended with t.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// mustRequest builds a request bound to a test context.
func mustRequest(t *testing.T, method, url string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(testContext(t), method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// wantHTTP2 fails t unless resp came over HTTP/2, with TLS when useTLS.
func wantHTTP2(t *testing.T, resp *http.Response, useTLS bool) {
	t.Helper()
	if resp.ProtoMajor != 2 {
		t.Errorf("response protocol %s, want HTTP/2", resp.Proto)
	}
	if useTLS && (resp.TLS == nil || resp.TLS.NegotiatedProtocol != "h2") {
		t.Errorf("response TLS state %+v, want ALPN h2", resp.TLS)
	}
}

// randomBytes returns n deterministic pseudo-random bytes.
func randomBytes(seed uint64, n int) []byte {
	var s [32]byte
	s[0], s[1] = byte(seed), byte(seed>>8)
	b := make([]byte, n)
	mrand.NewChaCha8(s).Read(b)
	return b
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// ---- The handler the interop tests share ----

const helloBody = "hello from h2server\n"

// bigSize is the size of /big's response body.
const bigSize = 3 << 20

var bigBody = sync.OnceValue(func() []byte { return randomBytes(1, bigSize) })

// interopHandler serves:
//
//	/hello      a short text body, with X-TLS saying whether the request came over TLS
//	/big        bigSize deterministic bytes
//	/echo       the request body back, and its SHA-256 as the trailer X-Body-Sha256
//	/trailers   headers, a body, then trailers
//	/reqtrailers  reads the body, answers with the request trailers as headers
//	/early      103 Early Hints, then 200
func interopHandler(st *Stream) {
	req := st.Request()
	switch req.Path {
	case "/hello":
		h := http.Header{"Content-Type": {"text/plain; charset=utf-8"}, "X-Tls": {strconv.FormatBool(req.TLS != nil)}}
		st.WriteHeaders(http.StatusOK, h)
		io.WriteString(st, helloBody)
	case "/big":
		st.WriteHeaders(http.StatusOK, http.Header{"Content-Length": {strconv.Itoa(bigSize)}})
		st.Write(bigBody())
	case "/echo":
		echoBody(st)
	case "/trailers":
		st.WriteHeaders(http.StatusOK, http.Header{"X-Head": {"h1"}, "Trailer": {"X-Trailer-One, X-Trailer-Two"}})
		io.WriteString(st, "body before trailers")
		st.WriteTrailers(http.Header{"X-Trailer-One": {"t1"}, "X-Trailer-Two": {"t2a", "t2b"}})
	case "/reqtrailers":
		body, err := io.ReadAll(st)
		if err != nil {
			st.Reset(ErrCodeInternal)
			return
		}
		h := http.Header{"X-Got-Body": {string(body)}}
		for k, vv := range st.Trailers() {
			h["X-Got-"+k] = vv
		}
		st.WriteHeaders(http.StatusOK, h)
	case "/early":
		st.WriteHeaders(http.StatusEarlyHints, http.Header{"Link": {"</style.css>; rel=preload; as=style"}})
		st.WriteHeaders(http.StatusOK, nil)
		io.WriteString(st, "after early hints")
	default:
		st.WriteHeaders(http.StatusNotFound, nil)
	}
}

// echoBody streams the request body back as it arrives and ends with its
// SHA-256 as a trailer.
func echoBody(st *Stream) {
	st.WriteHeaders(http.StatusOK, http.Header{"Content-Type": {"application/octet-stream"}})
	h := sha256.New()
	buf := make([]byte, 32<<10)
	for {
		n, err := st.Read(buf)
		if n > 0 {
			h.Write(buf[:n])
			if _, err := st.Write(buf[:n]); err != nil {
				return
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return
		}
	}
	st.WriteTrailers(http.Header{"X-Body-Sha256": {hex.EncodeToString(h.Sum(nil))}})
}

func newInteropServer() *Server { return &Server{Handler: HandlerFunc(interopHandler)} }

// ---- Go's clients ----

func TestGoClientGet(t *testing.T) {
	forEachGoClient(t, newInteropServer, func(t *testing.T, ls *liveServer, c *http.Client) {
		resp, err := c.Do(mustRequest(t, "GET", ls.url+"/hello", nil))
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		wantHTTP2(t, resp, ls.tls)
		if resp.StatusCode != 200 || string(body) != helloBody {
			t.Errorf("got %d %q, want 200 %q", resp.StatusCode, body, helloBody)
		}
		if got, want := resp.Header.Get("X-Tls"), strconv.FormatBool(ls.tls); got != want {
			t.Errorf("handler saw TLS %s, want %s", got, want)
		}
		if got := resp.Header.Get("Content-Type"); got != "text/plain; charset=utf-8" {
			t.Errorf("Content-Type %q", got)
		}

		// A body larger than every flow-control window.
		resp, err = c.Do(mustRequest(t, "GET", ls.url+"/big", nil))
		if err != nil {
			t.Fatal(err)
		}
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.ContentLength != bigSize || len(body) != bigSize || sha256Hex(body) != sha256Hex(bigBody()) {
			t.Errorf("/big: Content-Length %d, got %d bytes; want %d identical bytes", resp.ContentLength, len(body), bigSize)
		}
	})
}

func TestGoClientLargePostEcho(t *testing.T) {
	const size = 6<<20 + 12345
	forEachGoClient(t, newInteropServer, func(t *testing.T, ls *liveServer, c *http.Client) {
		data := randomBytes(2, size)
		req := mustRequest(t, "POST", ls.url+"/echo", bytes.NewReader(data))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		h := sha256.New()
		n, err := io.Copy(h, resp.Body)
		if err != nil {
			t.Fatalf("reading echo after %d bytes: %v", n, err)
		}
		want := sha256Hex(data)
		if got := hex.EncodeToString(h.Sum(nil)); n != size || got != want {
			t.Errorf("echo: %d bytes with SHA-256 %s, want %d bytes with %s", n, got, size, want)
		}
		if got := resp.Trailer.Get("X-Body-Sha256"); got != want {
			t.Errorf("server hashed the request body as %q, want %s", got, want)
		}
	})
}

func TestGoClientHeadersAndTrailers(t *testing.T) {
	forEachGoClient(t, newInteropServer, func(t *testing.T, ls *liveServer, c *http.Client) {
		resp, err := c.Do(mustRequest(t, "GET", ls.url+"/trailers", nil))
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if string(body) != "body before trailers" {
			t.Errorf("body %q", body)
		}
		if got := resp.Header.Get("X-Head"); got != "h1" {
			t.Errorf("header X-Head = %q, want h1", got)
		}
		if got := resp.Trailer.Get("X-Trailer-One"); got != "t1" {
			t.Errorf("trailer X-Trailer-One = %q, want t1 (trailers %v)", got, resp.Trailer)
		}
		if got := resp.Trailer.Values("X-Trailer-Two"); len(got) != 2 || got[0] != "t2a" || got[1] != "t2b" {
			t.Errorf("trailer X-Trailer-Two = %q, want [t2a t2b]", got)
		}
	})
}

func TestGoClientRequestTrailers(t *testing.T) {
	forEachGoClient(t, newInteropServer, func(t *testing.T, ls *liveServer, c *http.Client) {
		req := mustRequest(t, "POST", ls.url+"/reqtrailers", strings.NewReader("request body"))
		req.Trailer = http.Header{"X-Client-Trailer": {"v1"}, "X-Other": {"v2"}}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if got := resp.Header.Get("X-Got-Body"); got != "request body" {
			t.Errorf("handler read body %q", got)
		}
		if got := resp.Header.Get("X-Got-X-Client-Trailer"); got != "v1" {
			t.Errorf("handler saw trailer X-Client-Trailer = %q, want v1 (headers %v)", got, resp.Header)
		}
		if got := resp.Header.Get("X-Got-X-Other"); got != "v2" {
			t.Errorf("handler saw trailer X-Other = %q, want v2", got)
		}
	})
}

// TestGoClientManyConcurrentStreams sends 500 requests at once on one
// connection to a server allowing 100 concurrent streams. The client
// queues what the limit does not admit; every request must succeed, and
// the first 100 handlers wait for each other, so the server must admit
// exactly as many streams at once as it advertised.
//
// The clients are bound to one connection (x/net's ClientConn, net/http's
// Transport.NewClientConn): with a pool, StrictMaxConcurrentStreams
// (x/net) and StrictMaxConcurrentRequests (net/http) stall when many
// requests wait, because requests waiting for the connection reserve
// slots that count against the limit (a client bug, reproduced against
// x/net's own server), and without them the pool opens more connections.
func TestGoClientManyConcurrentStreams(t *testing.T) {
	const (
		limit    = 100
		requests = 500
	)
	var (
		mu          sync.Mutex
		started     int
		inFlight    int
		maxInFlight int
		remotes     map[string]bool
		full        chan struct{} // closed when limit handlers run at once
	)
	newServer := func() *Server {
		mu.Lock()
		started, inFlight, maxInFlight = 0, 0, 0
		remotes = make(map[string]bool)
		full = make(chan struct{})
		mu.Unlock()
		return &Server{
			MaxConcurrentStreams: limit,
			Handler: HandlerFunc(func(st *Stream) {
				mu.Lock()
				remotes[st.Request().RemoteAddr.String()] = true
				started++
				n := started
				inFlight++
				maxInFlight = max(maxInFlight, inFlight)
				if n == limit {
					close(full)
				}
				full := full
				mu.Unlock()
				if n <= limit {
					select {
					case <-full:
					case <-st.Context().Done():
					}
				}
				mu.Lock()
				inFlight--
				mu.Unlock()
				io.WriteString(st, st.Request().Path)
			}),
		}
	}
	forEachGoConn(t, newServer, func(t *testing.T, ls *liveServer, c *http.Client) {
		get := func(path string) error {
			resp, err := c.Do(mustRequest(t, "GET", ls.url+path, nil))
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				return err
			}
			if resp.StatusCode != 200 || string(body) != path {
				return fmt.Errorf("%s: got %d %q", path, resp.StatusCode, body)
			}
			return nil
		}
		errs := make(chan error, requests)
		for i := range requests {
			go func() { errs <- get("/r/" + strconv.Itoa(i)) }()
		}
		for range requests {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if started != requests {
			t.Errorf("%d handlers ran, want %d", started, requests)
		}
		if maxInFlight != limit {
			t.Errorf("at most %d handlers ran at once, want MaxConcurrentStreams = %d", maxInFlight, limit)
		}
		if len(remotes) != 1 {
			t.Errorf("requests came over %d connections, want 1", len(remotes))
		}
		if strings.Contains(ls.logs.String(), "max_concurrent_streams") {
			t.Errorf("server refused streams of a client that respects the limit:\n%s", ls.logs)
		}
	})
}

func TestGoClientHandlerPanicResetsOnlyItsStream(t *testing.T) {
	const others = 20
	var (
		othersStarted chan struct{} // one send per /wait handler
		panicked      chan struct{} // closed by the test once the /panic request failed
		panicCalls    atomic.Int32
	)
	newServer := func() *Server {
		othersStarted = make(chan struct{}, others)
		panicked = make(chan struct{})
		panicCalls.Store(0)
		return &Server{Handler: HandlerFunc(func(st *Stream) {
			switch st.Request().Path {
			case "/panic":
				panicCalls.Add(1)
				panic("test: handler panic")
			case "/wait":
				othersStarted <- struct{}{}
				select {
				case <-panicked:
				case <-st.Context().Done():
					return
				}
				io.WriteString(st, "still here")
			}
		})}
	}
	forEachGoClient(t, newServer, func(t *testing.T, ls *liveServer, c *http.Client) {
		errs := make(chan error, others)
		for range others {
			go func() {
				resp, err := c.Do(mustRequest(t, "GET", ls.url+"/wait", nil))
				if err != nil {
					errs <- err
					return
				}
				defer resp.Body.Close()
				body, err := io.ReadAll(resp.Body)
				if err == nil && string(body) != "still here" {
					err = fmt.Errorf("body %q", body)
				}
				errs <- err
			}()
		}
		for range others {
			select {
			case <-othersStarted:
			case <-time.After(testTimeout):
				t.Fatal("the concurrent handlers did not start")
			}
		}
		resp, err := c.Do(mustRequest(t, "GET", ls.url+"/panic", nil))
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		close(panicked)
		if err == nil {
			t.Errorf("request to a panicking handler succeeded (status %d)", resp.StatusCode)
		} else if !strings.Contains(err.Error(), "INTERNAL_ERROR") {
			t.Errorf("request to a panicking handler failed with %v, want a stream error INTERNAL_ERROR", err)
		}
		for range others {
			if err := <-errs; err != nil {
				t.Errorf("concurrent request failed: %v", err)
			}
		}
		if n := panicCalls.Load(); n != 1 {
			t.Errorf("panicking handler ran %d times, want 1", n)
		}
		if n := strings.Count(ls.logs.String(), `msg="h2server: handler panic`); n != 1 {
			t.Errorf("server logged %d handler panics, want 1:\n%s", n, ls.logs)
		}
	})
}

func TestGoClientEarlyHints(t *testing.T) {
	forEachGoClient(t, newInteropServer, func(t *testing.T, ls *liveServer, c *http.Client) {
		var mu sync.Mutex
		var got []int
		var link string
		trace := &httptrace.ClientTrace{
			Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
				mu.Lock()
				defer mu.Unlock()
				got = append(got, code)
				link = h.Get("Link")
				return nil
			},
		}
		req := mustRequest(t, "GET", ls.url+"/early", nil)
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || string(body) != "after early hints" {
			t.Errorf("final response %d %q", resp.StatusCode, body)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(got) != 1 || got[0] != http.StatusEarlyHints {
			t.Errorf("informational responses %v, want [103]", got)
		}
		if link != "</style.css>; rel=preload; as=style" {
			t.Errorf("103 Link header %q", link)
		}
	})
}

func TestGoClientCancelCancelsHandlerContext(t *testing.T) {
	var (
		started chan struct{}
		cause   chan error
	)
	newServer := func() *Server {
		started = make(chan struct{})
		cause = make(chan error, 1)
		return &Server{Handler: HandlerFunc(func(st *Stream) {
			// Send the head so that the client's request is under way.
			st.WriteHeaders(http.StatusOK, nil)
			st.Flush()
			close(started)
			<-st.Context().Done()
			cause <- context.Cause(st.Context())
		})}
	}
	forEachGoClient(t, newServer, func(t *testing.T, ls *liveServer, c *http.Client) {
		ctx, cancel := context.WithCancel(testContext(t))
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", ls.url+"/block", nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		select {
		case <-started:
		case <-time.After(testTimeout):
			t.Fatal("handler did not start")
		}
		cancel()
		if _, err := io.ReadAll(resp.Body); err == nil {
			t.Errorf("reading the body of a cancelled request succeeded")
		}
		select {
		case err := <-cause:
			var se *StreamError
			if !errors.As(err, &se) || se.Code != ErrCodeCancel || !se.Remote {
				t.Errorf("handler context ended with %v, want a *StreamError CANCEL from the peer", err)
			}
		case <-time.After(testTimeout):
			t.Fatal("the handler's context was not cancelled after the client cancelled")
		}
	})
}

// TestGoClientFullDuplexPingPong runs 20 streams on one connection, each
// exchanging 100 chunks with an echo handler in lock step: the client
// sends a chunk only after it has read the echo of the previous one, which
// works only if the server streams both directions at once.
func TestGoClientFullDuplexPingPong(t *testing.T) {
	const (
		streams = 20
		rounds  = 100
	)
	echo := HandlerFunc(func(st *Stream) {
		st.WriteHeaders(http.StatusOK, nil)
		st.Flush()
		buf := make([]byte, 16<<10)
		for {
			n, err := st.Read(buf)
			if n > 0 {
				if _, err := st.Write(buf[:n]); err != nil {
					return
				}
				if err := st.Flush(); err != nil {
					return
				}
			}
			if err != nil {
				return // io.EOF: the client is done
			}
		}
	})
	forEachGoConn(t, func() *Server { return &Server{Handler: echo} }, func(t *testing.T, ls *liveServer, c *http.Client) {
		errs := make(chan error, streams)
		for s := range streams {
			go func() { errs <- pingPong(t, c, ls.url, s, rounds) }()
		}
		for range streams {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
	})
}

// pingPong runs one full-duplex stream: rounds chunks, each sent only
// after the echo of the previous one was read back in full.
func pingPong(t *testing.T, c *http.Client, url string, s, rounds int) error {
	pr, pw := io.Pipe()
	defer pw.Close()
	req := mustRequest(t, "POST", url+"/duplex", pr)
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("stream %d: %v", s, err)
	}
	defer resp.Body.Close()
	rng := mrand.New(mrand.NewPCG(uint64(s), 7))
	echo := make([]byte, 8<<10)
	for i := range rounds {
		chunk := randomBytes(uint64(s*1000+i), 1+rng.IntN(8<<10))
		if _, err := pw.Write(chunk); err != nil {
			return fmt.Errorf("stream %d round %d: sending: %v", s, i, err)
		}
		got := echo[:len(chunk)]
		if _, err := io.ReadFull(resp.Body, got); err != nil {
			return fmt.Errorf("stream %d round %d: reading the echo: %v", s, i, err)
		}
		if !bytes.Equal(got, chunk) {
			return fmt.Errorf("stream %d round %d: echo differs from the %d bytes sent", s, i, len(chunk))
		}
	}
	pw.Close()
	if n, err := io.Copy(io.Discard, resp.Body); err != nil || n != 0 {
		return fmt.Errorf("stream %d: after the last round got %d more bytes, err %v; want a clean end", s, n, err)
	}
	return nil
}

// ---- curl and nghttp ----

// requireTool skips the test when the named program is missing, except in
// CI (CI=true), where a missing tool is a failure.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required in CI: %v", name, err)
		}
		t.Skipf("%s not installed: %v", name, err)
	}
	return path
}

// runTool runs a program under testTimeout and returns its stdout; a
// failure to run or a non-zero exit fails t.
func runTool(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

func TestCurl(t *testing.T) {
	curl := requireTool(t, "curl")
	for _, useTLS := range []bool{false, true} {
		t.Run(map[bool]string{false: "h2c", true: "tls"}[useTLS], func(t *testing.T) {
			ls := startServer(t, newInteropServer(), useTLS)
			mode := "--http2-prior-knowledge"
			if useTLS {
				mode = "--http2"
			}
			dir := t.TempDir()
			out := filepath.Join(dir, "out")

			version := runTool(t, curl, "-sS", "-k", mode, "-o", out, "-w", "%{http_version} %{http_code}", ls.url+"/hello")
			if version != "2 200" {
				t.Errorf("curl reported HTTP version and status %q, want \"2 200\"", version)
			}
			if got, _ := os.ReadFile(out); string(got) != helloBody {
				t.Errorf("curl received %q, want %q", got, helloBody)
			}

			in := filepath.Join(dir, "in")
			data := randomBytes(3, 2<<20+7)
			if err := os.WriteFile(in, data, 0o600); err != nil {
				t.Fatal(err)
			}
			version = runTool(t, curl, "-sS", "-k", mode, "--data-binary", "@"+in, "-o", out,
				"-w", "%{http_version} %{http_code}", ls.url+"/echo")
			if version != "2 200" {
				t.Errorf("curl POST: HTTP version and status %q, want \"2 200\"", version)
			}
			if got, _ := os.ReadFile(out); !bytes.Equal(got, data) {
				t.Errorf("curl POST: echo of %d bytes came back as %d different bytes", len(data), len(got))
			}
		})
	}
}

var (
	nghttpStatus200 = regexp.MustCompile(`(?m)recv \(stream_id=\d+\) :status: 200$`)
	nghttpData      = regexp.MustCompile(`recv DATA frame <length=(\d+), flags=0x0(\d), stream_id=(\d+)>`)
)

func TestNghttp(t *testing.T) {
	nghttp := requireTool(t, "nghttp")
	for _, useTLS := range []bool{false, true} {
		t.Run(map[bool]string{false: "h2c", true: "tls"}[useTLS], func(t *testing.T) {
			var helloCalls atomic.Int32
			var remotes sync.Map
			ls := startServer(t, &Server{Handler: HandlerFunc(func(st *Stream) {
				if st.Request().Path == "/hello" {
					helloCalls.Add(1)
					remotes.Store(st.Request().RemoteAddr.String(), true)
				}
				interopHandler(st)
			})}, useTLS)

			// Verbose: the frames show a 200 and the body's DATA.
			out := runTool(t, nghttp, "-nv", ls.url+"/hello")
			if n := len(nghttpStatus200.FindAllString(out, -1)); n != 1 {
				t.Errorf("nghttp -nv saw %d responses with status 200, want 1:\n%s", n, out)
			}
			total, ended := 0, false
			for _, m := range nghttpData.FindAllStringSubmatch(out, -1) {
				n, _ := strconv.Atoi(m[1])
				total += n
				ended = ended || m[2] == "1"
			}
			if total != len(helloBody) || !ended {
				t.Errorf("nghttp -nv received %d bytes of DATA (END_STREAM seen: %v), want %d and END_STREAM:\n%s", total, ended, len(helloBody), out)
			}

			// The body itself.
			if out := runTool(t, nghttp, ls.url+"/hello"); out != helloBody {
				t.Errorf("nghttp received %q, want %q", out, helloBody)
			}

			// An upload, echoed back exactly.
			in := filepath.Join(t.TempDir(), "in")
			data := randomBytes(4, 1<<20+3)
			if err := os.WriteFile(in, data, 0o600); err != nil {
				t.Fatal(err)
			}
			if out := runTool(t, nghttp, "-d", in, ls.url+"/echo"); out != string(data) {
				t.Errorf("nghttp -d: echo of %d bytes came back as %d different bytes", len(data), len(out))
			}

			// 50 concurrent requests for each of two URIs on one connection.
			helloCalls.Store(0)
			remotes.Clear()
			out = runTool(t, nghttp, "-nv", "-m", "50", ls.url+"/hello", ls.url+"/trailers")
			if n := len(nghttpStatus200.FindAllString(out, -1)); n != 100 {
				t.Errorf("nghttp -m 50 with 2 URIs saw %d responses with status 200, want 100", n)
			}
			if n := helloCalls.Load(); n != 50 {
				t.Errorf("/hello handler ran %d times, want 50", n)
			}
			n := 0
			remotes.Range(func(any, any) bool { n++; return true })
			if n != 1 {
				t.Errorf("nghttp's requests came over %d connections, want 1", n)
			}
		})
	}
}

// ---- Clients that do not speak HTTP/2 ----

func TestHTTP1OnH2CPortGets505(t *testing.T) {
	ls := startServer(t, newInteropServer(), false)
	nc, err := net.Dial("tcp", ls.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(testTimeout))
	if _, err := io.WriteString(nc, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	// ReadAll returns nil only at EOF: the server must close cleanly.
	got, err := io.ReadAll(nc)
	if err != nil {
		t.Fatalf("reading the answer: %v (got %q)", err, got)
	}
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(got)), nil)
	if err != nil {
		t.Fatalf("answer is not an HTTP/1.1 response: %v\n%q", err, got)
	}
	body, _ := io.ReadAll(resp.Body)
	if !bytes.HasPrefix(got, []byte("HTTP/1.1 505 ")) || resp.StatusCode != 505 {
		t.Errorf("got status line %q, want HTTP/1.1 505", strings.SplitN(string(got), "\r\n", 2)[0])
	}
	if !strings.Contains(string(body), "prior knowledge") {
		t.Errorf("505 body %q does not mention prior knowledge", body)
	}
}

func TestTLSClientWithoutH2IsClosed(t *testing.T) {
	ls := startServer(t, newInteropServer(), true)
	nc, err := net.Dial("tcp", ls.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(testTimeout))
	tc := tls.Client(nc, &tls.Config{RootCAs: ls.pool, ServerName: "127.0.0.1", NextProtos: []string{"http/1.1"}})
	if err := tc.Handshake(); err == nil {
		if p := tc.ConnectionState().NegotiatedProtocol; p == "h2" {
			t.Fatalf("negotiated %q although the client offered only http/1.1", p)
		}
		// The handshake may complete (ALPN has no overlap, the server
		// picks nothing); the server must then close.
		n, err := io.Copy(io.Discard, tc)
		if n != 0 {
			t.Errorf("server sent %d bytes to a client that did not negotiate h2", n)
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("server did not close the connection: %v", err)
		}
	}
	// The server has closed the connection, after logging why.
	lines := ls.logs.lines()
	if len(lines) != 1 || !strings.Contains(lines[0], "ALPN") {
		t.Errorf("server logged %d lines, want one that explains the missing h2:\n%s", len(lines), ls.logs)
	}
}

// ---- Configuration errors ----

func TestBadConfigFailsAtOnce(t *testing.T) {
	h := HandlerFunc(func(*Stream) {})
	tests := []struct {
		name string
		srv  *Server
		want string // in the error
	}{
		{"no handler", &Server{}, "Handler"},
		{"frame size too small", &Server{Handler: h, MaxReadFrameSize: 16383}, "MaxReadFrameSize"},
		{"frame size too large", &Server{Handler: h, MaxReadFrameSize: 1 << 24}, "MaxReadFrameSize"},
		{"stream window negative", &Server{Handler: h, InitialStreamWindowSize: -1}, "InitialStreamWindowSize"},
		{"conn window too small", &Server{Handler: h, InitialConnWindowSize: 65534}, "InitialConnWindowSize"},
		{"header list too small", &Server{Handler: h, MaxHeaderListSize: 100}, "MaxHeaderListSize"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer checkNoLeaks(t)()
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			serveErr := make(chan error, 1)
			go func() { serveErr <- tt.srv.Serve(l) }()
			select {
			case err := <-serveErr:
				if err == nil || errors.Is(err, ErrServerClosed) || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("Serve: %v, want an error naming %s", err, tt.want)
				}
			case <-time.After(testTimeout):
				l.Close()
				t.Fatal("Serve did not return at once")
			}
			// The listener was left alone: still accepting.
			if c, err := net.Dial("tcp", l.Addr().String()); err != nil {
				t.Errorf("listener unusable after a configuration error: %v", err)
			} else {
				c.Close()
			}

			sc, cc := net.Pipe()
			defer cc.Close()
			defer sc.Close()
			if err := tt.srv.ServeConn(sc); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ServeConn: %v, want an error naming %s", err, tt.want)
			}
			if err := tt.srv.ListenAndServe("127.0.0.1:0"); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ListenAndServe: %v, want an error naming %s", err, tt.want)
			}
		})
	}
}

// ---- A raw HTTP/2 client over TCP, for the tests that need frames ----

// rawClient speaks HTTP/2 frame by frame over a real socket, under a
// deadline so that a failing test cannot hang.
type rawClient struct {
	t   *testing.T
	nc  net.Conn
	fr  *http2.Framer
	enc *hpack.Encoder
	buf bytes.Buffer
}

// dialRaw connects to addr and sends the client preface and an empty
// SETTINGS frame.
func dialRaw(t *testing.T, addr string) *rawClient {
	t.Helper()
	return dialRawAfter(t, addr, nil)
}

// dialRawAfter is dialRaw with bytes to send before the preface (a PROXY
// header, say).
func dialRawAfter(t *testing.T, addr string, prefix []byte) *rawClient {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(testTimeout))
	if _, err := nc.Write(prefix); err != nil {
		t.Fatal(err)
	}
	return rawClientOver(t, nc)
}

// rawClientOver is dialRaw over a connection already made.
func rawClientOver(t *testing.T, nc net.Conn) *rawClient {
	t.Helper()
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(testTimeout))
	c := &rawClient{t: t, nc: nc}
	c.fr = http2.NewFramer(nc, nc)
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	c.enc = hpack.NewEncoder(&c.buf)
	if _, err := io.WriteString(nc, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	if err := c.fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	return c
}

// next returns the next frame other than SETTINGS and WINDOW_UPDATE,
// acknowledging the server's SETTINGS; at the end of the connection it
// returns nil and the read error.
func (c *rawClient) next() (http2.Frame, error) {
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			return nil, err
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				if err := c.fr.WriteSettingsAck(); err != nil {
					return nil, err
				}
			}
			continue
		case *http2.WindowUpdateFrame:
			continue
		}
		return f, nil
	}
}

// mustNext is next for a frame the test requires.
func (c *rawClient) mustNext() http2.Frame {
	c.t.Helper()
	f, err := c.next()
	if err != nil {
		c.t.Fatalf("reading a frame: %v", err)
	}
	return f
}

// get opens stream id with a GET for path.
func (c *rawClient) get(id uint32, path string) {
	c.t.Helper()
	c.request(id, "GET", path, true)
}

// request opens stream id with a request head; the body may follow
// unless endStream.
func (c *rawClient) request(id uint32, method, path string, endStream bool) {
	c.t.Helper()
	c.buf.Reset()
	for _, kv := range [][2]string{{":method", method}, {":scheme", "http"}, {":authority", "test"}, {":path", path}} {
		c.enc.WriteField(hpack.HeaderField{Name: kv[0], Value: kv[1]})
	}
	if err := c.fr.WriteHeaders(http2.HeadersFrameParam{
		StreamID: id, BlockFragment: c.buf.Bytes(), EndStream: endStream, EndHeaders: true,
	}); err != nil {
		c.t.Fatal(err)
	}
}

// goAwaysUntilEOF reads frames until the server closes the connection and
// returns the GOAWAY codes it sent, answering PINGs on the way.
func (c *rawClient) goAwaysUntilEOF() []http2.ErrCode {
	c.t.Helper()
	var codes []http2.ErrCode
	for {
		f, err := c.next()
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset by peer") {
				c.t.Fatalf("reading until the server closes: %v", err)
			}
			return codes
		}
		switch f := f.(type) {
		case *http2.GoAwayFrame:
			codes = append(codes, f.ErrCode)
		case *http2.PingFrame:
			if !f.IsAck() {
				if err := c.fr.WritePing(true, f.Data); err != nil {
					c.t.Fatal(err)
				}
			}
		}
	}
}

// wantEOF reads until the server closes the connection, which must come
// without any frame other than SETTINGS, WINDOW_UPDATE and PING, and then
// closes the client's end, as a client does.
func (c *rawClient) wantEOF() {
	c.t.Helper()
	for {
		f, err := c.next()
		if err == io.EOF {
			c.nc.Close()
			return
		}
		if err != nil {
			c.t.Fatalf("want EOF, got %v", err)
		}
		if _, ok := f.(*http2.PingFrame); !ok {
			c.t.Fatalf("want EOF, got %s", describeFrame(f))
		}
	}
}

func describeFrame(f http2.Frame) string {
	switch f := f.(type) {
	case *http2.GoAwayFrame:
		return fmt.Sprintf("GOAWAY last=%d code=%v debug=%q", f.LastStreamID, f.ErrCode, f.DebugData())
	case *http2.RSTStreamFrame:
		return fmt.Sprintf("RST_STREAM stream=%d code=%v", f.StreamID, f.ErrCode)
	case *http2.MetaHeadersFrame:
		return fmt.Sprintf("HEADERS stream=%d end=%v status=%s", f.StreamID, f.StreamEnded(), f.PseudoValue("status"))
	case *http2.DataFrame:
		return fmt.Sprintf("DATA stream=%d len=%d end=%v", f.StreamID, len(f.Data()), f.StreamEnded())
	case *http2.PingFrame:
		return fmt.Sprintf("PING ack=%v data=%q", f.IsAck(), f.Data[:])
	}
	return fmt.Sprint(f)
}

// Command server is the benchmark target of bench/run.sh: the same
// handlers (handlers.go) served either by h2server or by net/http's own
// HTTP/2 server, so that h2load can compare the two.
//
//	go run ./bench/server                       # h2server, h2c prior knowledge, 127.0.0.1:8443
//	go run ./bench/server -impl nethttp -tls    # net/http, TLS with ALPN h2
//
// Endpoints:
//
//	GET  / and /hello   200 "hello world\n" (12 bytes)
//	GET  /1m            1 MiB body, written in -chunk sized writes
//	POST /echo          the request body comes back as it arrives (full duplex)
//	POST /sink          reads the whole body, answers with its length in decimal
//	POST /sink?later=1  the same, waiting for the body with Stream.WhenReadable (h2server)
//	GET  /bytes?n=N     N bytes of bench/internal/pattern in 256 KiB writes (bench/wan.sh's downloads)
//
// It prints "listening on ADDR" once it accepts connections and shuts down
// gracefully on SIGTERM or SIGINT, writing the -cpuprofile and -memprofile
// files on the way out. -pprof serves net/http/pprof on a separate port.
//
// -stream-window and -conn-window set the receive windows (h2server's
// InitialStreamWindowSize and InitialConnWindowSize, net/http's
// MaxReceiveBufferPerStream and MaxReceiveBufferPerConnection): bench/wan.sh
// runs h2server with 16 MiB fixed windows as today's upper reference.
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"math"
	"math/big"
	"net"
	"net/http"
	_ "net/http/pprof" // on http.DefaultServeMux, served only by -pprof
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strconv"
	"syscall"
	"time"

	"github.com/h2server/h2server"
)

func main() {
	impl := flag.String("impl", "h2server", "server implementation: `h2server` or nethttp")
	addr := flag.String("addr", "127.0.0.1:8443", "TCP `host:port` to listen on")
	useTLS := flag.Bool("tls", false, "serve HTTP/2 over TLS (ALPN h2) instead of h2c prior knowledge; a fresh self-signed ECDSA certificate unless -cert and -key")
	certFile := flag.String("cert", "", "with -tls: PEM certificate `file` (bench/run.sh gives every server the same one)")
	keyFile := flag.String("key", "", "with -tls: PEM private key `file` of -cert")
	maxStreams := flag.Int("maxstreams", 100, "SETTINGS_MAX_CONCURRENT_STREAMS for either server (0: each server's own default, 100 for h2server and 250 for net/http)")
	chunk := flag.Int("chunk", 32<<10, "size of each Write of the GET /1m body, in bytes")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to `file`")
	memProfile := flag.String("memprofile", "", "write a heap profile to `file` at shutdown")
	pprofAddr := flag.String("pprof", "", "serve net/http/pprof on this `host:port` (separate from the benchmark port); its CPU profile is unavailable while -cpuprofile runs")
	quiet := flag.Bool("quiet", false, "log only warnings and errors")
	memRate := flag.Int("memprofilerate", 0, "set runtime.MemProfileRate (1 records every allocation; 0 keeps Go's default)")
	var win windows
	flag.IntVar(&win.stream, "stream-window", 0, "receive window per stream in bytes (0: each server's default, 256 KiB for h2server and 1 MiB for net/http)")
	flag.IntVar(&win.conn, "conn-window", 0, "receive window per connection in bytes (0: each server's default, 2 MiB for h2server and 1 MiB for net/http)")
	flag.Var(int32Flag{&win.maxStream}, "max-stream-window", "h2server's MaxStreamWindowSize in bytes (0: its default; negative: fixed windows)")
	flag.Int64Var(&win.budget, "receive-budget", 0, "h2server's ReceiveBudget in bytes (0: its default; negative: no cap)")
	flag.Parse()

	if *memRate > 0 {
		runtime.MemProfileRate = *memRate
	}

	if *chunk < 1 {
		log.Fatal("server: -chunk must be positive")
	}
	writeChunk = *chunk
	if *quiet {
		slog.SetLogLoggerLevel(slog.LevelWarn)
	}
	if win.stream < 0 || win.stream > math.MaxInt32 || win.conn < 0 || win.conn > math.MaxInt32 {
		log.Fatal("server: -stream-window and -conn-window must be between 0 and 2^31-1")
	}
	if (*certFile == "") != (*keyFile == "") || (*certFile != "" && !*useTLS) {
		log.Fatal("server: -cert and -key go together, and only with -tls")
	}
	if err := run(*impl, *addr, *useTLS, *certFile, *keyFile, *maxStreams, win, *cpuProfile, *memProfile, *pprofAddr); err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
}

// server is what main needs from either implementation.
type server interface {
	Serve(ln net.Listener) error
	Shutdown(ctx context.Context) error
	Close() error
}

// implementation is what *h2server.Server and *http.Server (net/http's
// bundled HTTP/2 server only: h2c prior knowledge with HTTP/1 off, or TLS
// with ALPN h2) both offer.
type implementation interface {
	server
	ServeTLS(ln net.Listener, certFile, keyFile string) error
}

// serving serves h2c, or TLS through the implementation's ServeTLS, as
// an application would.
type serving struct {
	implementation
	tls bool
}

func (s serving) Serve(ln net.Listener) error {
	if s.tls {
		return s.implementation.ServeTLS(ln, "", "") // certificates are in TLSConfig
	}
	return s.implementation.Serve(ln)
}

// windows are the receive-window flags; zero fields keep the server's
// default.
type windows struct {
	stream, conn int
	maxStream    int32
	budget       int64
}

type int32Flag struct{ p *int32 }

func (f int32Flag) String() string {
	if f.p == nil {
		return "0"
	}
	return strconv.Itoa(int(*f.p))
}
func (f int32Flag) Set(s string) error {
	v, err := strconv.ParseInt(s, 10, 32)
	*f.p = int32(v)
	return err
}

// h2server sets the windows on an h2server.Server.
func (w windows) h2server(s *h2server.Server) {
	s.InitialStreamWindowSize = int32(w.stream)
	s.InitialConnWindowSize = int32(w.conn)
	s.MaxStreamWindowSize = w.maxStream
	s.ReceiveBudget = w.budget
}

// nethttp sets the equivalent limits of net/http's HTTP/2 server: its
// receive buffers are its advertised windows.
func (w windows) nethttp(c *http.HTTP2Config) {
	c.MaxReceiveBufferPerStream = w.stream
	c.MaxReceiveBufferPerConnection = w.conn
}

func run(impl, addr string, useTLS bool, certFile, keyFile string, maxStreams int, win windows, cpuProfile, memProfile, pprofAddr string) error {
	if maxStreams < 0 {
		return errors.New("-maxstreams must not be negative")
	}
	var tlsConfig *tls.Config
	if useTLS {
		var cert tls.Certificate
		var err error
		if certFile != "" {
			cert, err = tls.LoadX509KeyPair(certFile, keyFile)
		} else {
			cert, err = selfSigned()
		}
		if err != nil {
			return err
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2"}, MinVersion: tls.VersionTLS12}
	}

	var srv server
	switch impl {
	case "h2server":
		hs := &h2server.Server{
			Handler:              h2serverHandler(),
			MaxConcurrentStreams: uint32(maxStreams),
		}
		win.h2server(hs)
		if useTLS {
			hs.TLSConfig = tlsConfig
		}
		srv = serving{hs, useTLS}
	case "nethttp":
		hs := &http.Server{
			Handler:   netHTTPHandler(),
			Protocols: new(http.Protocols),
			HTTP2:     &http.HTTP2Config{MaxConcurrentStreams: maxStreams},
			// IdleTimeout stays zero: net/http then never closes an idle
			// connection, which the idle-connection measurement needs.
			ErrorLog: log.New(os.Stderr, "nethttp: ", log.LstdFlags),
		}
		win.nethttp(hs.HTTP2)
		if useTLS {
			hs.Protocols.SetHTTP2(true)
			hs.TLSConfig = tlsConfig
		} else {
			hs.Protocols.SetUnencryptedHTTP2(true)
		}
		srv = serving{hs, useTLS}
	default:
		return fmt.Errorf("unknown -impl %q (want h2server or nethttp)", impl)
	}

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}

	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			ln.Close()
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			ln.Close()
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if pprofAddr != "" {
		pln, err := net.Listen("tcp", pprofAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("pprof: %w", err)
		}
		ps := &http.Server{Handler: http.DefaultServeMux}
		go ps.Serve(pln)
		defer ps.Close()
		fmt.Fprintf(os.Stderr, "pprof on http://%s/debug/pprof/\n", pln.Addr())
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	scheme := "h2c"
	if useTLS {
		scheme = "h2 over TLS"
	}
	fmt.Fprintf(os.Stderr, "server: %s, %s, GOMAXPROCS=%d, pid %d\n", impl, scheme, runtime.GOMAXPROCS(0), os.Getpid())
	fmt.Printf("listening on %s\n", ln.Addr())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}
	stop() // a second signal kills the process at once

	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		fmt.Fprintln(os.Stderr, "server: shutdown:", err)
		srv.Close()
	}
	if err := <-serveErr; err != nil && !errors.Is(err, h2server.ErrServerClosed) && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, "server: serve:", err)
	}
	if memProfile != "" {
		f, err := os.Create(memProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		runtime.GC() // up-to-date statistics
		if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
			return err
		}
	}
	return nil
}

// selfSigned makes a fresh ECDSA P-256 certificate for 127.0.0.1 and
// localhost, valid for a day.
func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"h2server benchmark"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

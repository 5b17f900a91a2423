// Command idleconns holds HTTP/2 connections and streams open and idle, so
// that bench/run.sh can measure what a server keeps in memory for each.
//
//	go run ./bench/idleconns -addr 127.0.0.1:8443 -conns 2000
//	go run ./bench/idleconns -addr 127.0.0.1:8443 -conns 20 -streams 100
//
// Each connection sends the client preface and SETTINGS, waits for the
// server's SETTINGS, acknowledges them and waits for the server's ACK of
// its own: the SETTINGS exchange is complete. With -streams N it then
// opens N streams with a HEADERS frame for "POST -path" without
// END_STREAM and sends no DATA, so each stream stays open with its
// handler waiting for the request body. N is capped to the server's
// SETTINGS_MAX_CONCURRENT_STREAMS. A PING after the HEADERS frames, and
// its ACK, show that the server has processed them.
//
// Once every connection is set up it prints "ready conns=C streams=S" and
// holds everything open until SIGTERM or SIGINT, answering PINGs and
// counting what the server sends (RST_STREAM, GOAWAY), which it prints
// when it exits. Anything unexpected during set-up is fatal (exit 1).
package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

var (
	addr     = flag.String("addr", "127.0.0.1:8443", "server `host:port`")
	nconns   = flag.Int("conns", 100, "connections to open")
	nstreams = flag.Int("streams", 0, "streams to open on each connection (capped to the server's MAX_CONCURRENT_STREAMS)")
	path     = flag.String("path", "/sink", "request path of the streams")
	served   = flag.Int("served", 0, "complete this many GET -served-path requests on each connection first, one after another")
	srvPath  = flag.String("served-path", "/hello", "request path of the -served requests")
	useTLS   = flag.Bool("tls", false, "connect with TLS 1.3 and P-256 (ALPN h2, certificate not verified)")
	parallel = flag.Int("parallel", 50, "connections set up at the same time")
	timeout  = flag.Duration("timeout", 30*time.Second, "bound on the whole set-up")
)

// counters of what the server sent while we held the connections.
var (
	rstStreams  atomic.Int64
	goAways     atomic.Int64
	closedConns atomic.Int64
	capped      atomic.Int64 // connections whose -streams was capped
)

func main() {
	flag.Parse()
	if *nconns < 1 || *nstreams < 0 || *parallel < 1 {
		fatalf("-conns and -parallel must be positive, -streams not negative")
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)

	start := time.Now()
	deadline := start.Add(*timeout)
	conns := make([]*clientConn, *nconns)
	opened := make([]int, *nconns)
	errs := make(chan error, *nconns)
	sem := make(chan struct{}, *parallel)
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			cc, n, err := setUp(deadline)
			if err != nil {
				errs <- fmt.Errorf("connection %d: %w", i, err)
				return
			}
			conns[i], opened[i] = cc, n
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		fatalf("%v", err)
	}
	total := 0
	for _, n := range opened {
		total += n
	}
	if c := capped.Load(); c > 0 {
		fmt.Fprintf(os.Stderr, "idleconns: -streams %d capped to the server's MAX_CONCURRENT_STREAMS on %d connections\n", *nstreams, c)
	}
	fmt.Printf("ready conns=%d streams=%d setup=%s\n", len(conns), total, time.Since(start).Round(time.Millisecond))

	for _, cc := range conns {
		go cc.hold()
	}
	<-sig
	fmt.Fprintf(os.Stderr, "idleconns: while held: %d RST_STREAM, %d GOAWAY, %d connections closed by the server\n",
		rstStreams.Load(), goAways.Load(), closedConns.Load())
	for _, cc := range conns {
		cc.nc.Close()
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "idleconns: "+format+"\n", args...)
	os.Exit(1)
}

// clientConn is one held connection. Its framer's reader keeps bytes
// buffered past the set-up, so hold must go on with the same one.
type clientConn struct {
	nc net.Conn
	bw *bufio.Writer
	fr *http2.Framer
}

// setUp opens one connection, completes the SETTINGS exchange and opens
// its streams. It returns the connection and the number of streams open.
func setUp(deadline time.Time) (*clientConn, int, error) {
	d := net.Dialer{Deadline: deadline}
	var nc net.Conn
	var err error
	if *useTLS {
		nc, err = (&tls.Dialer{NetDialer: &d, Config: &tls.Config{
			InsecureSkipVerify: true, NextProtos: []string{"h2"}, MinVersion: tls.VersionTLS13,
			// P-256 as in bench/run.sh's h2load runs: the one group that
			// every server there offers (nghttpd has no X25519).
			CurvePreferences: []tls.CurveID{tls.CurveP256},
		}}).Dial("tcp", *addr)
		if err == nil {
			tlsOnce.Do(func() {
				cs := nc.(*tls.Conn).ConnectionState()
				fmt.Fprintf(os.Stderr, "idleconns: %s %s %s\n", tls.VersionName(cs.Version), tls.CipherSuiteName(cs.CipherSuite), cs.CurveID)
			})
		}
	} else {
		nc, err = d.Dial("tcp", *addr)
	}
	if err != nil {
		return nil, 0, err
	}
	nc.SetDeadline(deadline)
	cc := &clientConn{nc: nc, bw: bufio.NewWriter(nc)}
	cc.fr = http2.NewFramer(cc.bw, bufio.NewReader(nc))
	n, err := cc.handshake()
	if err != nil {
		nc.Close()
		return nil, 0, err
	}
	nc.SetDeadline(time.Time{})
	return cc, n, nil
}

// tlsOnce reports the TLS version and cipher of the first connection:
// Go's client cannot restrict TLS 1.3 cipher suites, so the server picks.
var tlsOnce sync.Once

var pingData = [8]byte{'i', 'd', 'l', 'e', 'c', 'o', 'n', 'n'}

func (cc *clientConn) handshake() (int, error) {
	bw, fr := cc.bw, cc.fr
	if _, err := io.WriteString(bw, http2.ClientPreface); err != nil {
		return 0, err
	}
	if err := fr.WriteSettings(); err != nil {
		return 0, err
	}
	if err := bw.Flush(); err != nil {
		return 0, err
	}

	// The server's SETTINGS, and its ACK of ours, in either order.
	maxStreams := uint32(1<<32 - 1) // unlimited until the server says otherwise
	gotSettings, gotAck := false, false
	for !gotSettings || !gotAck {
		f, err := fr.ReadFrame()
		if err != nil {
			return 0, fmt.Errorf("SETTINGS exchange: %w", err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if f.IsAck() {
				gotAck = true
				continue
			}
			if v, ok := f.Value(http2.SettingMaxConcurrentStreams); ok {
				maxStreams = v
			}
			gotSettings = true
			if err := fr.WriteSettingsAck(); err != nil {
				return 0, err
			}
			if err := bw.Flush(); err != nil {
				return 0, err
			}
		case *http2.GoAwayFrame:
			return 0, fmt.Errorf("GOAWAY %v during the SETTINGS exchange", f.ErrCode)
		}
	}

	var hbuf bytes.Buffer
	enc := hpack.NewEncoder(&hbuf)
	scheme := "http"
	if *useTLS {
		scheme = "https"
	}
	id := uint32(1)
	for range *served {
		if err := cc.get(enc, &hbuf, id, scheme); err != nil {
			return 0, err
		}
		id += 2
	}

	n := *nstreams
	if uint32(n) > maxStreams {
		n = int(maxStreams)
		capped.Add(1)
	}
	if n == 0 {
		return 0, nil
	}
	for i := range n {
		hbuf.Reset()
		for _, f := range []hpack.HeaderField{
			{Name: ":method", Value: "POST"},
			{Name: ":scheme", Value: scheme},
			{Name: ":authority", Value: *addr},
			{Name: ":path", Value: *path},
			{Name: "content-type", Value: "application/octet-stream"},
		} {
			enc.WriteField(f)
		}
		err := fr.WriteHeaders(http2.HeadersFrameParam{
			StreamID:      id + uint32(2*i),
			BlockFragment: hbuf.Bytes(),
			EndHeaders:    true, // and no END_STREAM: the body never comes
		})
		if err != nil {
			return 0, err
		}
	}
	if err := fr.WritePing(false, pingData); err != nil {
		return 0, err
	}
	if err := bw.Flush(); err != nil {
		return 0, err
	}
	// The server reads frames in order: once the PING comes back, it has
	// seen every HEADERS frame. A refused stream is a failed set-up.
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return 0, fmt.Errorf("waiting for PING ACK: %w", err)
		}
		switch f := f.(type) {
		case *http2.PingFrame:
			if f.IsAck() && f.Data == pingData {
				return n, nil
			}
		case *http2.RSTStreamFrame:
			return 0, fmt.Errorf("stream %d reset with %v", f.StreamID, f.ErrCode)
		case *http2.GoAwayFrame:
			return 0, fmt.Errorf("GOAWAY %v after opening streams", f.ErrCode)
		}
	}
}

// get sends one GET on stream id, with the header fields a browser's
// request carries (most of them enter the HPACK tables of both sides), and
// reads its response to the end.
func (cc *clientConn) get(enc *hpack.Encoder, hbuf *bytes.Buffer, id uint32, scheme string) error {
	hbuf.Reset()
	for _, f := range []hpack.HeaderField{
		{Name: ":method", Value: "GET"},
		{Name: ":scheme", Value: scheme},
		{Name: ":authority", Value: *addr},
		{Name: ":path", Value: *srvPath},
		{Name: "user-agent", Value: "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"},
		{Name: "accept", Value: "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"},
		{Name: "accept-language", Value: "en-US,en;q=0.5"},
		{Name: "accept-encoding", Value: "gzip, deflate, br, zstd"},
	} {
		enc.WriteField(f)
	}
	err := cc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: hbuf.Bytes(), EndHeaders: true, EndStream: true})
	if err == nil {
		err = cc.bw.Flush()
	}
	if err != nil {
		return err
	}
	for {
		f, err := cc.fr.ReadFrame()
		if err != nil {
			return fmt.Errorf("GET %s: %w", *srvPath, err)
		}
		if f.Header().StreamID != id {
			continue
		}
		switch f := f.(type) {
		case *http2.RSTStreamFrame:
			return fmt.Errorf("GET %s: stream reset with %v", *srvPath, f.ErrCode)
		case *http2.DataFrame:
			if f.StreamEnded() {
				return nil
			}
		case *http2.HeadersFrame:
			if f.StreamEnded() {
				return nil
			}
		}
	}
}

// hold reads and discards what the server sends, answering PINGs, until
// the connection closes.
func (cc *clientConn) hold() {
	bw, fr := cc.bw, cc.fr
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				closedConns.Add(1)
			}
			return
		}
		switch f := f.(type) {
		case *http2.PingFrame:
			if !f.IsAck() {
				fr.WritePing(true, f.Data)
				bw.Flush()
			}
		case *http2.RSTStreamFrame:
			rstStreams.Add(1)
		case *http2.GoAwayFrame:
			goAways.Add(1)
		}
	}
}

package h2server

// Benchmarks of the hot paths. Run them with
//
//	go test -run '^$' -bench . -benchmem -count 10 | tee new.txt
//	benchstat old.txt new.txt
//
// The round-trip benchmarks use a real loopback TCP connection and
// benchClient, a minimal HTTP/2 client that does not allocate: its requests
// are prebuilt header blocks and it reads frames into one reused buffer.
// So allocs/op and B/op are the server's (BenchmarkRoundTripClientOnly,
// the same client against a canned responder, shows the client's own floor:
// 0 allocs/op). BenchmarkNetHTTP* run the same client and handler logic
// against net/http's HTTP/2 server, for the ratio.
//
// The encode and decode benchmarks call the package's internals (newConn,
// conn.onField, parseRequest, appendResponseFields, newWriter,
// writer.writeHeaders) as the reader and writer do; keep them in step when
// those change.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

var (
	benchHelloBody   = []byte("hello world\n")
	benchHelloHeader = http.Header{"Content-Type": {"text/plain"}, "Content-Length": {"12"}}
	benchBigBody     = bytes.Repeat([]byte("abcdefghijklmnopqrstuvwxyz012345"), 1<<20/32)
	benchBigHeader   = http.Header{"Content-Type": {"application/octet-stream"}, "Content-Length": {strconv.Itoa(1 << 20)}}
)

// benchWriteChunk is the size of each handler Write of the 1 MiB body.
const benchWriteChunk = 32 << 10

// The handlers, the same logic for both servers. The response header maps
// are shared and read-only, so a handler allocates nothing of its own: what
// is measured is the server.

func benchH2Hello(st *Stream) {
	st.WriteHeaders(http.StatusOK, benchHelloHeader)
	st.Write(benchHelloBody)
}

func benchH2Big(st *Stream) {
	st.WriteHeaders(http.StatusOK, benchBigHeader)
	for p := benchBigBody; len(p) > 0; p = p[benchWriteChunk:] {
		if _, err := st.Write(p[:benchWriteChunk]); err != nil {
			return
		}
	}
}

func benchNetHTTPHello(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h["Content-Type"] = benchHelloHeader["Content-Type"]
	h["Content-Length"] = benchHelloHeader["Content-Length"]
	h["Date"] = nil // h2server sends none; keep the wire bytes the same
	w.Write(benchHelloBody)
}

func benchNetHTTPBig(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h["Content-Type"] = benchBigHeader["Content-Type"]
	h["Content-Length"] = benchBigHeader["Content-Length"]
	h["Date"] = nil
	for p := benchBigBody; len(p) > 0; p = p[benchWriteChunk:] {
		if _, err := w.Write(p[:benchWriteChunk]); err != nil {
			return
		}
	}
}

// benchStartH2Server serves h on a loopback listener; the returned function
// shuts the server down (the clients must be closed first).
func benchStartH2Server(tb testing.TB, h HandlerFunc) (addr string, stop func()) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &Server{Handler: h}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	return ln.Addr().String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			tb.Errorf("h2server shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, ErrServerClosed) {
			tb.Errorf("h2server Serve: %v", err)
		}
	}
}

// benchStartNetHTTPServer serves h with net/http's HTTP/2 server, h2c with prior
// knowledge only, with the same MAX_CONCURRENT_STREAMS as h2server's default.
func benchStartNetHTTPServer(tb testing.TB, h http.HandlerFunc) (addr string, stop func()) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	hs := &http.Server{
		Handler:   h,
		Protocols: new(http.Protocols),
		HTTP2:     &http.HTTP2Config{MaxConcurrentStreams: 100},
	}
	hs.Protocols.SetUnencryptedHTTP2(true)
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	return ln.Addr().String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := hs.Shutdown(ctx); err != nil {
			tb.Errorf("net/http shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			tb.Errorf("net/http Serve: %v", err)
		}
	}
}

// benchRoundTripLoads are the request patterns of the round-trip benchmarks:
// one request at a time (latency-bound: every request pays the wake-ups
// of the server's goroutines), and 16 at a time on the connection (the
// server can batch).
var benchRoundTripLoads = []struct {
	name     string
	inflight int
}{
	{"serial", 1},
	{"inflight16", 16},
}

// BenchmarkRoundTrip measures one whole small request and response:
// GET /hello answered with 200 and 12 bytes, over loopback TCP.
func BenchmarkRoundTrip(b *testing.B) {
	for _, l := range benchRoundTripLoads {
		b.Run(l.name, func(b *testing.B) {
			addr, stop := benchStartH2Server(b, benchH2Hello)
			benchRoundTrips(b, addr, l.inflight, len(benchHelloBody))
			stop()
		})
	}
}

// BenchmarkNetHTTPRoundTrip is BenchmarkRoundTrip against net/http's
// HTTP/2 server.
func BenchmarkNetHTTPRoundTrip(b *testing.B) {
	for _, l := range benchRoundTripLoads {
		b.Run(l.name, func(b *testing.B) {
			addr, stop := benchStartNetHTTPServer(b, benchNetHTTPHello)
			benchRoundTrips(b, addr, l.inflight, len(benchHelloBody))
			stop()
		})
	}
}

// BenchmarkRoundTripClientOnly runs benchClient against a canned responder
// that answers every HEADERS frame with prebuilt frames: the cost of the
// client and of loopback TCP alone, the floor under the round trips above.
func BenchmarkRoundTripClientOnly(b *testing.B) {
	for _, l := range benchRoundTripLoads {
		b.Run(l.name, func(b *testing.B) {
			addr, stop := benchStartCannedResponder(b)
			benchRoundTrips(b, addr, l.inflight, len(benchHelloBody))
			stop()
		})
	}
}

// benchBurst is the number of requests BenchmarkServerWritesPerBurst
// sends in one client write.
const benchBurst = 10

// BenchmarkServerWritesPerBurst measures how many socket writes the server
// makes for a burst of small requests that arrive in one read: one op is
// benchBurst GET requests sent in one write, answered by benchH2Hello,
// over the in-memory pipe, whose server end counts its writes. It reports
// writes/op: 1 is every response of the burst in one write, benchBurst is
// no batching at all. The figure depends on how many responses are ready
// each time the writer wakes, that is on the scheduler (GOMAXPROCS, a busy
// machine), so it is a benchmark; TestServerWritesAreBatched checks the
// part that does not depend on it.
func BenchmarkServerWritesPerBurst(b *testing.B) {
	sc, cc := newPipe()
	srv := &Server{Handler: HandlerFunc(benchH2Hello)}
	served := make(chan error, 1)
	go func() { served <- srv.ServeConn(sc) }()
	c := newBenchClientConn(b, cc, "example.com", "/")
	for range 2 { // past the literal header fields, as benchRoundTrips
		if got := c.roundTrips(benchBurst); got != int64(benchBurst*len(benchHelloBody)) {
			b.Fatalf("warm-up: got %d bytes of response body, want %d", got, benchBurst*len(benchHelloBody))
		}
	}
	before := sc.writeCount()
	b.ResetTimer()
	for range b.N {
		c.roundTrips(benchBurst)
	}
	b.StopTimer()
	b.ReportMetric(float64(sc.writeCount()-before)/float64(b.N), "writes/op")
	c.close()
	<-served
}

// BenchmarkServerWritesPerMiB counts the socket writes of a 1 MiB
// response (benchH2Big) over the in-memory pipe, one request at a time:
// writes/op is the syscalls a real socket would take for it.
func BenchmarkServerWritesPerMiB(b *testing.B) {
	sc, cc := newPipe()
	srv := &Server{Handler: HandlerFunc(benchH2Big)}
	served := make(chan error, 1)
	go func() { served <- srv.ServeConn(sc) }()
	c := newBenchClientConn(b, cc, "example.com", "/")
	for range 2 {
		if got := c.roundTrips(1); got != 1<<20 {
			b.Fatalf("warm-up: got %d bytes of response body, want 1 MiB", got)
		}
	}
	before := sc.writeCount()
	b.SetBytes(1 << 20)
	b.ResetTimer()
	for range b.N {
		c.roundTrips(1)
	}
	b.StopTimer()
	b.ReportMetric(float64(sc.writeCount()-before)/float64(b.N), "writes/op")
	c.close()
	<-served
}

// BenchmarkDataWrite measures a 1 MiB response body written through
// Stream.Write in 32 KiB writes, to a client that reads and discards it
// (with windows large enough never to stall the server).
func BenchmarkDataWrite(b *testing.B) {
	for _, l := range []struct {
		name     string
		inflight int
	}{{"1stream", 1}, {"4streams", 4}} {
		b.Run(l.name, func(b *testing.B) {
			addr, stop := benchStartH2Server(b, benchH2Big)
			b.SetBytes(1 << 20)
			benchRoundTrips(b, addr, l.inflight, 1<<20)
			stop()
		})
	}
}

// BenchmarkNetHTTPDataWrite is BenchmarkDataWrite against net/http.
func BenchmarkNetHTTPDataWrite(b *testing.B) {
	for _, l := range []struct {
		name     string
		inflight int
	}{{"1stream", 1}, {"4streams", 4}} {
		b.Run(l.name, func(b *testing.B) {
			addr, stop := benchStartNetHTTPServer(b, benchNetHTTPBig)
			b.SetBytes(1 << 20)
			benchRoundTrips(b, addr, l.inflight, 1<<20)
			stop()
		})
	}
}

// benchRoundTrips runs b.N requests on one connection, inflight at a time,
// and checks that each response carried bodySize bytes of DATA.
func benchRoundTrips(b *testing.B, addr string, inflight, bodySize int) {
	c := newBenchClient(b, addr, "/")
	defer c.close()
	// The first request carries the literal header fields; from the
	// second on, every field comes from the HPACK dynamic table. Warm up
	// past both, then measure only the steady state.
	for range 2 {
		if got := c.roundTrips(inflight); got != int64(inflight*bodySize) {
			b.Fatalf("warm-up: got %d bytes of response body, want %d", got, inflight*bodySize)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	var body int64
	for n := b.N; n > 0; n -= inflight {
		body += c.roundTrips(min(n, inflight))
	}
	b.StopTimer()
	if want := int64(b.N) * int64(bodySize); body != want {
		b.Fatalf("got %d bytes of response body, want %d", body, want)
	}
}

// benchClient is an HTTP/2 client reduced to what the benchmarks need, so
// that its own cost stays small and it allocates nothing per request.
// Every request is "GET path" with END_STREAM; responses are counted, not
// decoded.
type benchClient struct {
	tb      testing.TB
	nc      net.Conn
	br      *bufio.Reader
	bw      *bufio.Writer
	hdr     [9]byte
	scratch [4]byte
	buf     []byte
	nextID  uint32
	first   []byte // header block of the first request: literal fields
	next    []byte // header block of every later one: all indexed
	unacked uint32 // DATA bytes received since our last connection WINDOW_UPDATE
}

// benchClientWindow is the stream window (SETTINGS_INITIAL_WINDOW_SIZE) and
// the extra connection window the client grants: large enough that a
// server never waits for a WINDOW_UPDATE.
const benchClientWindow = 1 << 30

func newBenchClient(tb testing.TB, addr, path string) *benchClient {
	tb.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	return newBenchClientConn(tb, nc, addr, path)
}

// newBenchClientConn is newBenchClient on a connection the caller made;
// authority is the request's :authority.
func newBenchClientConn(tb testing.TB, nc net.Conn, authority, path string) *benchClient {
	tb.Helper()
	c := &benchClient{
		tb:     tb,
		nc:     nc,
		br:     bufio.NewReaderSize(nc, 64<<10),
		bw:     bufio.NewWriterSize(nc, 64<<10),
		buf:    make([]byte, 16384),
		nextID: 1,
	}
	var hbuf bytes.Buffer
	enc := hpack.NewEncoder(&hbuf)
	fields := []hpack.HeaderField{
		{Name: ":method", Value: "GET"},
		{Name: ":scheme", Value: "http"},
		{Name: ":authority", Value: authority},
		{Name: ":path", Value: path},
		{Name: "user-agent", Value: "h2server-bench"},
		{Name: "accept", Value: "*/*"},
	}
	for _, f := range fields {
		enc.WriteField(f)
	}
	c.first = bytes.Clone(hbuf.Bytes())
	hbuf.Reset()
	for _, f := range fields {
		enc.WriteField(f)
	}
	c.next = bytes.Clone(hbuf.Bytes())

	c.bw.WriteString(http2.ClientPreface)
	var settings [12]byte
	binary.BigEndian.PutUint16(settings[0:], uint16(http2.SettingInitialWindowSize))
	binary.BigEndian.PutUint32(settings[2:], benchClientWindow)
	binary.BigEndian.PutUint16(settings[6:], uint16(http2.SettingEnablePush))
	binary.BigEndian.PutUint32(settings[8:], 0)
	c.writeFrame(http2.FrameSettings, 0, 0, settings[:])
	c.writeWindowUpdate(0, benchClientWindow)
	if err := c.bw.Flush(); err != nil {
		tb.Fatal(err)
	}
	return c
}

func (c *benchClient) close() { c.nc.Close() }

func (c *benchClient) writeFrame(t http2.FrameType, flags http2.Flags, id uint32, payload []byte) {
	h := &c.hdr
	h[0], h[1], h[2] = byte(len(payload)>>16), byte(len(payload)>>8), byte(len(payload))
	h[3], h[4] = byte(t), byte(flags)
	binary.BigEndian.PutUint32(h[5:], id)
	c.bw.Write(h[:])
	c.bw.Write(payload)
}

func (c *benchClient) writeWindowUpdate(id, n uint32) {
	binary.BigEndian.PutUint32(c.scratch[:], n)
	c.writeFrame(http2.FrameWindowUpdate, 0, id, c.scratch[:])
}

// readFrame reads one frame; the payload is valid until the next call.
func (c *benchClient) readFrame() (t http2.FrameType, flags http2.Flags, id uint32, payload []byte) {
	if _, err := io.ReadFull(c.br, c.hdr[:]); err != nil {
		c.tb.Fatalf("benchClient: reading a frame header: %v", err)
	}
	n := int(c.hdr[0])<<16 | int(c.hdr[1])<<8 | int(c.hdr[2])
	if n > len(c.buf) {
		c.buf = make([]byte, n)
	}
	t, flags = http2.FrameType(c.hdr[3]), http2.Flags(c.hdr[4])
	id = binary.BigEndian.Uint32(c.hdr[5:]) & (1<<31 - 1)
	if _, err := io.ReadFull(c.br, c.buf[:n]); err != nil {
		c.tb.Fatalf("benchClient: reading a %v frame: %v", t, err)
	}
	return t, flags, id, c.buf[:n]
}

// roundTrips sends n requests at once and reads until all n responses
// have ended. It returns the response body bytes received.
func (c *benchClient) roundTrips(n int) (body int64) {
	for range n {
		block := c.next
		if c.nextID == 1 {
			block = c.first
		}
		c.writeFrame(http2.FrameHeaders, http2.FlagHeadersEndHeaders|http2.FlagHeadersEndStream, c.nextID, block)
		c.nextID += 2
	}
	if err := c.bw.Flush(); err != nil {
		c.tb.Fatal(err)
	}
	for done := 0; done < n; {
		t, flags, id, p := c.readFrame()
		switch t {
		case http2.FrameData:
			data := len(p)
			if flags.Has(http2.FlagDataPadded) && len(p) > 0 {
				data -= 1 + int(p[0])
			}
			body += int64(data)
			c.unacked += uint32(len(p))
			if c.unacked >= benchClientWindow/2 {
				c.writeWindowUpdate(0, c.unacked)
				c.unacked = 0
				c.flush()
			}
			if flags.Has(http2.FlagDataEndStream) {
				done++
			}
		case http2.FrameHeaders:
			if flags.Has(http2.FlagHeadersEndStream) {
				done++
			}
		case http2.FrameSettings:
			if !flags.Has(http2.FlagSettingsAck) {
				c.writeFrame(http2.FrameSettings, http2.FlagSettingsAck, 0, nil)
				c.flush()
			}
		case http2.FramePing:
			if !flags.Has(http2.FlagPingAck) {
				c.writeFrame(http2.FramePing, http2.FlagPingAck, 0, p)
				c.flush()
			}
		case http2.FrameRSTStream:
			c.tb.Fatalf("benchClient: stream %d reset with %v", id, http2.ErrCode(binary.BigEndian.Uint32(p)))
		case http2.FrameGoAway:
			c.tb.Fatalf("benchClient: GOAWAY %v %q", http2.ErrCode(binary.BigEndian.Uint32(p[4:])), p[8:])
		}
	}
	return body
}

func (c *benchClient) flush() {
	if err := c.bw.Flush(); err != nil {
		c.tb.Fatal(err)
	}
}

// benchStartCannedResponder accepts one connection and answers each request
// HEADERS frame with a prebuilt 200 response carrying benchHelloBody,
// doing as little work as an HTTP/2 peer can.
func benchStartCannedResponder(tb testing.TB) (addr string, stop func()) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var wg sync.WaitGroup
	var conn net.Conn
	var mu sync.Mutex
	wg.Add(1)
	go func() {
		defer wg.Done()
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		mu.Lock()
		conn = nc
		mu.Unlock()
		benchCannedRespond(nc)
	}()
	return ln.Addr().String(), func() {
		ln.Close()
		mu.Lock()
		if conn != nil {
			conn.Close()
		}
		mu.Unlock()
		wg.Wait()
	}
}

func benchCannedRespond(nc net.Conn) {
	defer nc.Close()
	br := bufio.NewReaderSize(nc, 64<<10)
	bw := bufio.NewWriterSize(nc, 64<<10)
	var preface [len(http2.ClientPreface)]byte
	if _, err := io.ReadFull(br, preface[:]); err != nil {
		return
	}
	var h [9]byte // outside the closure, so it does not escape once per frame
	frame := func(t http2.FrameType, flags http2.Flags, id uint32, payload []byte) {
		h[0], h[1], h[2] = byte(len(payload)>>16), byte(len(payload)>>8), byte(len(payload))
		h[3], h[4] = byte(t), byte(flags)
		binary.BigEndian.PutUint32(h[5:], id)
		bw.Write(h[:])
		bw.Write(payload)
	}
	frame(http2.FrameSettings, 0, 0, nil)
	bw.Flush()
	status200 := []byte{0x88} // HPACK static table index 8: ":status: 200"
	buf := make([]byte, 16384)
	for {
		if _, err := io.ReadFull(br, h[:]); err != nil {
			return
		}
		n := int(h[0])<<16 | int(h[1])<<8 | int(h[2])
		if n > len(buf) {
			return
		}
		if _, err := io.ReadFull(br, buf[:n]); err != nil {
			return
		}
		t, flags, id := http2.FrameType(h[3]), http2.Flags(h[4]), binary.BigEndian.Uint32(h[5:])&(1<<31-1)
		switch {
		case t == http2.FrameSettings && !flags.Has(http2.FlagSettingsAck):
			frame(http2.FrameSettings, http2.FlagSettingsAck, 0, nil)
		case t == http2.FrameHeaders:
			frame(http2.FrameHeaders, http2.FlagHeadersEndHeaders, id, status200)
			frame(http2.FrameData, http2.FlagDataEndStream, id, benchHelloBody)
		}
		if br.Buffered() == 0 && bw.Flush() != nil {
			return
		}
	}
}

// benchRequestFields is a typical browser request for a subresource.
var benchRequestFields = []hpack.HeaderField{
	{Name: ":method", Value: "GET"},
	{Name: ":scheme", Value: "https"},
	{Name: ":authority", Value: "www.example.com"},
	{Name: ":path", Value: "/static/js/app.3f9a1c7e.js?v=2"},
	{Name: "sec-ch-ua", Value: `"Chromium";v="131", "Not_A Brand";v="24", "Google Chrome";v="131"`},
	{Name: "sec-ch-ua-mobile", Value: "?0"},
	{Name: "user-agent", Value: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"},
	{Name: "sec-ch-ua-platform", Value: `"Linux"`},
	{Name: "accept", Value: "*/*"},
	{Name: "sec-fetch-site", Value: "same-origin"},
	{Name: "sec-fetch-mode", Value: "no-cors"},
	{Name: "sec-fetch-dest", Value: "script"},
	{Name: "referer", Value: "https://www.example.com/"},
	{Name: "accept-encoding", Value: "gzip, deflate, br, zstd"},
	{Name: "accept-language", Value: "en-US,en;q=0.9,fr;q=0.8"},
	{Name: "cookie", Value: "session=8f14e45fceea167a5a36dedd4bea2543"},
	{Name: "cookie", Value: "theme=dark; consent=1"},
	{Name: "priority", Value: "u=1"},
}

// BenchmarkDecodeRequestHeaders measures what the reader does with a
// request's header block: HPACK decoding through conn.onField (the
// header-list limit) and parseRequest (RFC 9113 validation). "indexed" is
// a browser's second and later request on a connection, every field from
// the dynamic table; "literal" sends every field as a never-indexed
// literal, close to the cost of a first request.
func BenchmarkDecodeRequestHeaders(b *testing.B) {
	var hbuf bytes.Buffer
	enc := hpack.NewEncoder(&hbuf)
	for _, f := range benchRequestFields {
		enc.WriteField(f)
	}
	first := bytes.Clone(hbuf.Bytes())
	hbuf.Reset()
	for _, f := range benchRequestFields {
		enc.WriteField(f)
	}
	indexed := bytes.Clone(hbuf.Bytes())
	hbuf.Reset()
	lenc := hpack.NewEncoder(&hbuf)
	for _, f := range benchRequestFields {
		f.Sensitive = true // literal, never indexed: the table stays as it is
		lenc.WriteField(f)
	}
	literal := bytes.Clone(hbuf.Bytes())

	for _, tc := range []struct {
		name  string
		block []byte
	}{{"indexed", indexed}, {"literal", literal}} {
		b.Run(tc.name, func(b *testing.B) {
			c := newBenchConn(b)
			c.rd.hdec = c.newDecoder()
			c.rd.br = c.newConnReader()
			decode := func(block []byte) Request {
				// As onHeaders, headerFragment and openStream do: the
				// request keeps its fields, the next block a new slice.
				c.rd.br.hdr = headerBlock{id: 1, endStream: true, fields: c.rd.br.hdr.fields[:0]}
				if _, err := c.rd.hdec.hd.Write(block); err != nil {
					b.Fatal(err)
				}
				if err := c.rd.hdec.hd.Close(); err != nil {
					b.Fatal(err)
				}
				req, reason := parseRequest(c.rd.br.hdr.fields, false)
				if reason != "" || c.rd.br.hdr.tooLarge {
					b.Fatalf("request rejected: %q (too large: %v)", reason, c.rd.br.hdr.tooLarge)
				}
				c.rd.br.hdr.fields = nil
				return req
			}
			decode(first) // fills the dynamic table as a first request would
			if req := decode(tc.block); req.Path != "/static/js/app.3f9a1c7e.js?v=2" || len(req.Fields) != len(benchRequestFields)-4 {
				b.Fatalf("decoded %+v", req)
			}
			b.SetBytes(int64(len(tc.block)))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				decode(tc.block)
			}
		})
	}
}

// benchResponseHeader is a typical response head for a static asset.
var benchResponseHeader = http.Header{
	"Content-Type":              {"text/javascript; charset=utf-8"},
	"Content-Length":            {"48213"},
	"Content-Encoding":          {"br"},
	"Cache-Control":             {"public, max-age=31536000, immutable"},
	"Etag":                      {`"33a64df551425fcc55e4d42a148795d9f25f89d4"`},
	"Last-Modified":             {"Wed, 21 Oct 2025 07:28:00 GMT"},
	"Vary":                      {"Accept-Encoding"},
	"Strict-Transport-Security": {"max-age=63072000; includeSubDomains"},
	"X-Content-Type-Options":    {"nosniff"},
}

// BenchmarkEncodeResponseHeaders measures a response head from
// WriteHeaders to the wire: appendResponseFields, then the writer's HPACK
// encoding and HEADERS framing, into a connection that discards bytes. The
// encoder's dynamic table is warm, as on a connection past its first
// response.
func BenchmarkEncodeResponseHeaders(b *testing.B) {
	c := newBenchConn(b)
	w := newWriter(c)
	w.fr = w.takeFramer()
	encode := func() {
		fields, err := appendResponseFields(nil, http.StatusOK, benchResponseHeader)
		if err != nil {
			b.Fatal(err)
		}
		w.writeHeaders(1, fields, false)
	}
	encode()
	if w.err != nil {
		b.Fatal(w.err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		encode()
	}
}

// newBenchConn is a connection of a default Server over a transport that
// discards what is written, for benchmarks of the reader's and writer's
// parts.
func newBenchConn(tb testing.TB) *conn {
	tb.Helper()
	srv := &Server{Handler: HandlerFunc(func(*Stream) {})}
	cfg, err := srv.config()
	if err != nil {
		tb.Fatal(err)
	}
	c := newConn(srv, benchDiscardConn{}, cfg)
	c.parent = context.Background()
	return c
}

// benchDiscardConn is a net.Conn that accepts every write and never has data.
type benchDiscardConn struct{}

func (benchDiscardConn) Read([]byte) (int, error)         { return 0, io.EOF }
func (benchDiscardConn) Write(p []byte) (int, error)      { return len(p), nil }
func (benchDiscardConn) Close() error                     { return nil }
func (benchDiscardConn) LocalAddr() net.Addr              { return benchAddr }
func (benchDiscardConn) RemoteAddr() net.Addr             { return benchAddr }
func (benchDiscardConn) SetDeadline(time.Time) error      { return nil }
func (benchDiscardConn) SetReadDeadline(time.Time) error  { return nil }
func (benchDiscardConn) SetWriteDeadline(time.Time) error { return nil }

var benchAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 443}

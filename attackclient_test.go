package h2server

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// The machinery of the attack suite (attack_test.go): a Server on a real
// loopback socket, raw-frame attackers, a well-behaved probe client on its
// own connection, and a monitor that samples the process's memory. The
// server's Hooks tell which limits tripped (Rejected) and when the server
// let go of an attacking connection (ConnClosed).
//
// Memory method: the server runs in the test process, so the runtime sees
// the server, the attackers and the probe together. The attackers keep
// their own footprint small and flat: frames are prebuilt or built into
// reused buffers, writes go through one bufio.Writer per connection (4
// KiB when there are many), the readers reuse DATA frames and never
// decode header blocks, and a closed attacker lets its buffers go. What
// grows is the server's. The monitor samples every 10ms, after a GC at
// the start that returns freed memory to the OS, and asserts on the
// growth of the live heap (runtime/metrics /gc/heap/live:bytes, as of the
// latest GC; memory that stays reachable cannot grow by 64 MiB without
// several GCs measuring it) plus goroutine stacks (StackInuse). HeapInuse
// also counts garbage the GC has not caught up with, so its peak depends
// on GC pacing; it is logged, with Sys-HeapReleased, for information.

const (
	// atkMemCap is the growth the suite allows: HeapInuse+StackInuse at its
	// peak during the attack, minus the same before it.
	atkMemCap = 64 << 20
	// atkMemAbort stops an attack whose growth passed this much, to spare
	// the machine; the scenario fails on the cap anyway.
	atkMemAbort = 256 << 20
	// atkSamplePeriod is how often the monitor samples.
	atkSamplePeriod = 10 * time.Millisecond
)

// atkBody is what GET / returns.
const atkBody = "hello\n"

// atkMiB is the body of GET /1m, shared read-only by every handler.
var atkMiB = bytes.Repeat([]byte("0123456789abcdef"), 1<<16)

// atkHandler serves the suite's endpoints:
//
//	GET /      a small body
//	GET /1m    1 MiB, for the stall and slow-read scenarios
//	* /work    10ms of "backend work" that, like much real code, does not
//	           watch the context, then a small body; the request body is
//	           not read
//	POST /echo the request body back
//	POST /sink reads and discards the body, answers with its length
func atkHandler(st *Stream) {
	switch st.Request().Path {
	case "/":
		st.WriteHeaders(200, nil)
		io.WriteString(st, atkBody)
	case "/1m":
		st.WriteHeaders(200, http.Header{"Content-Length": {strconv.Itoa(len(atkMiB))}})
		for p := atkMiB; len(p) > 0; p = p[16<<10:] {
			if _, err := st.Write(p[:16<<10]); err != nil {
				return
			}
		}
	case "/work":
		time.Sleep(10 * time.Millisecond)
		st.WriteHeaders(200, nil)
		io.WriteString(st, "done\n")
	case "/echo":
		st.WriteHeaders(200, nil)
		io.Copy(st, st)
	case "/slowsink":
		// A handler that reads its upload slowly: 1 KiB per 100 ms.
		buf := make([]byte, 1<<10)
		for {
			if _, err := st.Read(buf); err != nil {
				return
			}
			select {
			case <-time.After(100 * time.Millisecond):
			case <-st.Context().Done():
				return
			}
		}
	case "/sink":
		n, err := io.Copy(io.Discard, st)
		if err != nil {
			return
		}
		st.WriteHeaders(200, nil)
		fmt.Fprintf(st, "%d\n", n)
	default:
		st.WriteHeaders(404, nil)
	}
}

// atkEnv is one scenario's world: the server, its attackers, the budget.
type atkEnv struct {
	t         *testing.T
	srv       *Server
	addr      string
	served    chan error
	deadline  time.Time // the attack's time budget ends
	maxFrames int64     // the attack's frame budget
	wbuf      int       // each attacking connection's write buffer; 32 KiB if 0
	frames    atomic.Int64
	memAbort  atomic.Bool
	start     time.Time

	mu      sync.Mutex
	conns   []*atkConn       // guarded by mu
	byPort  map[int]*atkConn // guarded by mu: by local port
	reasons map[string]int   // guarded by mu: the server's rejection reasons
	odd     []string         // guarded by mu: notes on connections that ended oddly
	stuck   []string         // guarded by mu: what the server held of connections it did not close (noteStuck)

	peakHeld int64 // slow_upload_budget: the most Server.recv held

	legit struct { // set by the legit_* controls before the attack returns
		fails, dials int
		firstErr     error
	}
}

func newAtkEnv(t *testing.T, config func(*Server)) *atkEnv {
	e := &atkEnv{t: t, served: make(chan error, 1), reasons: make(map[string]int), byPort: make(map[int]*atkConn)}
	e.srv = &Server{
		Handler: HandlerFunc(atkHandler),
		Logger:  slog.New(slog.DiscardHandler),
	}
	e.srv.Hooks = &Hooks{
		Rejected: func(r *Rejection) {
			reason, _, _ := strings.Cut(r.Reason, " ") // "too_many_glitches (last: x)"
			e.mu.Lock()
			e.reasons[reason]++
			var c *atkConn
			if r.Conn != nil {
				if a, ok := r.Conn.RemoteAddr.(*net.TCPAddr); ok {
					c = e.byPort[a.Port]
				}
			}
			e.mu.Unlock()
			if c != nil {
				c.mu.Lock()
				c.lastReason = fmt.Sprintf("%s (%v)", r.Reason, r.Code)
				c.mu.Unlock()
			}
		},
		// The server let go of a connection: an attacker that does not
		// read its socket learns it here. One that reads waits for its
		// EOF, which comes after any GOAWAY still in its socket.
		ConnClosed: func(ci *ConnInfo) {
			a, ok := ci.RemoteAddr.(*net.TCPAddr)
			if !ok {
				return
			}
			e.mu.Lock()
			c := e.byPort[a.Port]
			e.mu.Unlock()
			if c != nil && !c.reading {
				c.markClosed()
			}
		},
	}
	if config != nil {
		config(e.srv)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.addr = l.Addr().String()
	go func() { e.served <- e.srv.Serve(l) }()
	t.Cleanup(func() { e.srv.Close() }) // if the scenario stops early
	return e
}

// running reports whether an attacker should go on: the budgets hold, the
// memory is below the abort line, and the server has not closed c.
func (e *atkEnv) running(c *atkConn) bool {
	if c != nil && (c.closed.Load() || c.broken.Load()) {
		return false
	}
	return e.frames.Load() < e.maxFrames && !e.memAbort.Load() && time.Now().Before(e.deadline)
}

// sleep waits d, or less if the budget ends first.
func (e *atkEnv) sleep(d time.Duration) {
	if left := time.Until(e.deadline); left < d {
		d = left
	}
	if d > 0 {
		time.Sleep(d)
	}
}

func (e *atkEnv) allConns() []*atkConn {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.conns)
}

// atkConn is one raw-frame attacking connection.
type atkConn struct {
	e       *atkEnv
	nc      net.Conn
	bw      *bufio.Writer
	fr      *http2.Framer // write side only
	start   time.Time
	port    int           // our local port: the server's conn.addr
	reading bool          // immutable: a goroutine reads what the server sends
	done    chan struct{} // closed when the reader returns (at once if none)
	gone    chan struct{} // closed when the server is seen to close us

	closed    atomic.Bool  // the server closed the connection (as observed)
	closedAt  atomic.Int64 // when, in ns since start
	selfClose atomic.Bool  // we closed it: read errors are ours
	broken    atomic.Bool  // a write failed (deadline or reset)
	stuck     atomic.Bool  // open when the server's linger after its error GOAWAY was over

	// Credit the server granted, for attackers that respect flow
	// control: added by the reader, spent by the attacker.
	connCredit   atomic.Int64
	streamCredit atomic.Int64 // stream 1's

	mu         sync.Mutex
	goaways    []http2.ErrCode       // guarded by mu
	rst        map[http2.ErrCode]int // guarded by mu
	got        int                   // guarded by mu: frames received
	readErr    error                 // guarded by mu: a read error other than a close
	closeHow   string                // guarded by mu: how the reader saw the close
	lastReason string                // guarded by mu: the server's last rejection on this conn
}

// dial opens an attacking connection: the preface, SETTINGS, and an
// acknowledgement of the server's SETTINGS sent in advance, so that a
// settings-ACK timeout never ends a scenario. With read set, a goroutine
// reads and tallies what the server sends; otherwise nobody reads.
func (e *atkEnv) dial(read bool, settings ...http2.Setting) *atkConn {
	c := e.dialRaw(read)
	if c == nil {
		return nil
	}
	io.WriteString(c.bw, clientPreface)
	c.fr.WriteSettings(settings...)
	c.fr.WriteSettingsAck()
	c.flush()
	return c
}

// dialRaw connects without sending anything.
func (e *atkEnv) dialRaw(read bool) *atkConn {
	nc, err := net.DialTimeout("tcp", e.addr, 2*time.Second)
	if err != nil {
		e.t.Errorf("attacker dial: %v", err)
		return nil
	}
	nc.SetWriteDeadline(e.deadline)
	c := &atkConn{
		e:       e,
		nc:      nc,
		start:   time.Now(),
		port:    nc.LocalAddr().(*net.TCPAddr).Port,
		done:    make(chan struct{}),
		gone:    make(chan struct{}),
		rst:     make(map[http2.ErrCode]int),
		reading: read,
	}
	c.connCredit.Store(65535)
	c.streamCredit.Store(65535)
	c.bw = bufio.NewWriterSize(nc, cmp.Or(e.wbuf, 32<<10))
	c.fr = http2.NewFramer(c.bw, nil)
	c.fr.AllowIllegalWrites = true
	e.mu.Lock()
	e.conns = append(e.conns, c)
	e.byPort[c.port] = c
	e.mu.Unlock()
	if !read {
		close(c.done)
		return c
	}
	go func() {
		defer close(c.done)
		c.readFrames()
	}()
	return c
}

// readFrames reads and tallies the server's frames until the connection
// ends or the read deadline passes.
func (c *atkConn) readFrames() {
	fr := http2.NewFramer(nil, bufio.NewReaderSize(c.nc, 4<<10))
	fr.SetReuseFrames()
	fr.SetMaxReadFrameSize(1<<24 - 1)
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			switch {
			case c.selfClose.Load() || errors.Is(err, os.ErrDeadlineExceeded):
			case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), atkIsConnReset(err):
				c.mu.Lock()
				c.closeHow = err.Error()
				c.mu.Unlock()
				c.markClosed()
			default:
				c.mu.Lock()
				c.readErr = err
				c.mu.Unlock()
			}
			return
		}
		c.mu.Lock()
		c.got++
		switch f := f.(type) {
		case *http2.GoAwayFrame:
			c.goaways = append(c.goaways, f.ErrCode)
		case *http2.RSTStreamFrame:
			c.rst[f.ErrCode]++
		case *http2.SettingsFrame:
			if v, ok := f.Value(http2.SettingInitialWindowSize); ok {
				c.streamCredit.Add(int64(v) - 65535)
			}
		case *http2.WindowUpdateFrame:
			switch f.StreamID {
			case 0:
				c.connCredit.Add(int64(f.Increment))
			case 1:
				c.streamCredit.Add(int64(f.Increment))
			}
		}
		c.mu.Unlock()
	}
}

func atkIsConnReset(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && !oe.Timeout() && !errors.Is(err, net.ErrClosed)
}

func (c *atkConn) markClosed() {
	if c.selfClose.Load() || !c.closed.CompareAndSwap(false, true) {
		return
	}
	c.closedAt.Store(int64(time.Since(c.start)))
	close(c.gone)
}

// drain reads, for a connection nobody read during the attack, what the
// server left in the socket: its GOAWAY and the close, if they came.
func (c *atkConn) drain(d time.Duration) {
	if c.reading {
		return
	}
	c.nc.SetReadDeadline(time.Now().Add(d))
	c.readFrames()
}

// close hangs up and lets the buffers go; only the tallies stay.
func (c *atkConn) close() {
	c.selfClose.Store(true)
	c.nc.Close()
	<-c.done
	c.bw, c.fr = nil, nil
}

// hangUp ends a reading connection from our side without losing sight of
// the server's: it half-closes, waits up to d for the reader to see the
// server close (what the server sent before is read first), then closes.
// Closing at once would race the reader: a GOAWAY read just before it
// would be counted, and the close behind it never seen.
func (c *atkConn) hangUp(d time.Duration) {
	if tc, ok := c.nc.(*net.TCPConn); ok && c.reading && !c.closed.Load() && tc.CloseWrite() == nil {
		select {
		case <-c.gone:
		case <-time.After(d):
		}
	}
	c.close()
}

// noteWrite records a write failure: a reset or broken pipe means the
// server closed the connection; a deadline is the end of our budget. An
// attacker that reads waits for its reader to see the close, after any
// GOAWAY still in the socket.
func (c *atkConn) noteWrite(err error) {
	if err == nil {
		return
	}
	c.broken.Store(true)
	if !c.reading && !errors.Is(err, os.ErrDeadlineExceeded) && !c.selfClose.Load() {
		c.markClosed()
	}
}

func (c *atkConn) sent(err error) {
	c.e.frames.Add(1)
	c.noteWrite(err)
}

func (c *atkConn) flush() { c.noteWrite(c.bw.Flush()) }

func (c *atkConn) headers(id uint32, endStream, endHeaders bool, frag []byte) {
	c.sent(c.fr.WriteHeaders(http2.HeadersFrameParam{
		StreamID: id, BlockFragment: frag, EndStream: endStream, EndHeaders: endHeaders,
	}))
}

// block sends a header block as HEADERS and as many CONTINUATION frames as
// 16 KiB frames need.
func (c *atkConn) block(id uint32, endStream bool, blk []byte) {
	const max = 16384
	first := blk[:min(len(blk), max)]
	blk = blk[len(first):]
	c.headers(id, endStream, len(blk) == 0, first)
	for len(blk) > 0 {
		frag := blk[:min(len(blk), max)]
		blk = blk[len(frag):]
		c.sent(c.fr.WriteContinuation(id, len(blk) == 0, frag))
	}
}

func (c *atkConn) data(id uint32, endStream bool, p []byte) {
	c.sent(c.fr.WriteData(id, endStream, p))
}

func (c *atkConn) rstStream(id uint32, code http2.ErrCode) {
	c.sent(c.fr.WriteRSTStream(id, code))
}

func (c *atkConn) windowUpdate(id, incr uint32) {
	c.sent(c.fr.WriteWindowUpdate(id, incr))
}

// counts summarizes what the server sent this connection.
func (c *atkConn) counts() (goaways []http2.ErrCode, rst map[http2.ErrCode]int, got int, readErr error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.goaways), atkCloneCounts(c.rst), c.got, c.readErr
}

func atkCloneCounts(m map[http2.ErrCode]int) map[http2.ErrCode]int {
	out := make(map[http2.ErrCode]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// atkProbe is a well-behaved client on its own connection (x/net's
// Transport over h2c) that sends GET / in a loop and times each request.
type atkProbe struct {
	tr    *http2.Transport
	url   string
	dials atomic.Int32
	stop  chan struct{}
	done  chan struct{}

	mu       sync.Mutex
	lat      []time.Duration // guarded by mu
	fails    int             // guarded by mu
	firstErr error           // guarded by mu
}

// atkProbeTimeout bounds one probe request.
const atkProbeTimeout = 3 * time.Second

func startAtkProbe(t *testing.T, addr string) *atkProbe {
	p := &atkProbe{url: "http://" + addr + "/", stop: make(chan struct{}), done: make(chan struct{})}
	p.tr = &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			p.dials.Add(1)
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
	// The warm-up request opens the probe's one connection.
	if _, err := p.get(); err != nil {
		close(p.done)
		p.tr.CloseIdleConnections()
		t.Fatalf("probe warm-up: %v", err)
	}
	go p.loop()
	return p
}

func (p *atkProbe) get() (time.Duration, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), atkProbeTimeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", p.url, nil)
	resp, err := p.tr.RoundTrip(req)
	if err != nil {
		return time.Since(start), err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil && (resp.StatusCode != 200 || string(body) != atkBody) {
		err = fmt.Errorf("status %d, body %q", resp.StatusCode, body)
	}
	return time.Since(start), err
}

func (p *atkProbe) loop() {
	defer close(p.done)
	for {
		select {
		case <-p.stop:
			return
		default:
		}
		d, err := p.get()
		p.mu.Lock()
		p.lat = append(p.lat, d)
		if err != nil {
			p.fails++
			if p.firstErr == nil {
				p.firstErr = err
			}
		}
		p.mu.Unlock()
		select {
		case <-p.stop:
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// reset forgets the samples taken so far: the attack starts now.
func (p *atkProbe) reset() {
	p.mu.Lock()
	p.lat, p.fails, p.firstErr = nil, 0, nil
	p.mu.Unlock()
}

type atkProbeStats struct {
	n, ok    int
	p99, max time.Duration
	dials    int
	firstErr error
}

func (p *atkProbe) finish() atkProbeStats {
	close(p.stop)
	<-p.done
	p.tr.CloseIdleConnections()
	p.mu.Lock()
	defer p.mu.Unlock()
	s := atkProbeStats{n: len(p.lat), ok: len(p.lat) - p.fails, dials: int(p.dials.Load()), firstErr: p.firstErr}
	if len(p.lat) > 0 {
		lat := slices.Clone(p.lat)
		slices.Sort(lat)
		i := (99*len(lat)+99)/100 - 1 // the ceil(0.99n)-th smallest
		s.p99, s.max = lat[i], lat[len(lat)-1]
	}
	return s
}

// atkMonitor samples memory and goroutines every atkSamplePeriod.
type atkMonitor struct {
	e    *atkEnv
	base runtime.MemStats
	stop chan struct{}
	done chan struct{}

	baseLive int64

	// Owned by the monitor goroutine until done is closed.
	peakHeap, peakStack, peakFoot, peakLive int64 // growth over base
	peakG                                   int
	samples                                 int
}

// atkLiveHeap returns the heap's live bytes as of the latest GC.
func atkLiveHeap(s []metrics.Sample) int64 {
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int64(s[0].Value.Uint64())
}

// startAtkMonitor takes the baseline after a GC that also returns freed
// memory to the OS, so that earlier scenarios' garbage does not count.
func startAtkMonitor(e *atkEnv) *atkMonitor {
	m := &atkMonitor{e: e, stop: make(chan struct{}), done: make(chan struct{})}
	debug.FreeOSMemory()
	runtime.ReadMemStats(&m.base)
	m.baseLive = atkLiveHeap([]metrics.Sample{{Name: "/gc/heap/live:bytes"}})
	go m.run()
	return m
}

func (m *atkMonitor) run() {
	defer close(m.done)
	tick := time.NewTicker(atkSamplePeriod)
	defer tick.Stop()
	var ms runtime.MemStats
	live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	for {
		runtime.ReadMemStats(&ms)
		m.peakLive = max(m.peakLive, atkLiveHeap(live)-m.baseLive)
		m.samples++
		heap := int64(ms.HeapInuse) - int64(m.base.HeapInuse)
		stack := int64(ms.StackInuse) - int64(m.base.StackInuse)
		foot := int64(ms.Sys-ms.HeapReleased) - int64(m.base.Sys-m.base.HeapReleased)
		m.peakHeap = max(m.peakHeap, heap)
		m.peakStack = max(m.peakStack, stack)
		m.peakFoot = max(m.peakFoot, foot)
		m.peakG = max(m.peakG, runtime.NumGoroutine())
		if heap+stack > atkMemAbort {
			m.e.memAbort.Store(true)
		}
		select {
		case <-m.stop:
			// A last sample after a GC: what the server still holds
			// for the attackers, whose connections are open yet.
			runtime.GC()
			m.peakLive = max(m.peakLive, atkLiveHeap(live)-m.baseLive)
			return
		case <-tick.C:
		}
	}
}

func (m *atkMonitor) finish() {
	close(m.stop)
	<-m.done
}

// atkGoroutines returns the stacks of live goroutines running code of this
// package that are not in ignore (by goroutine ID).
func atkGoroutines(ignore map[string]bool) (ids map[string]bool, stacks []string) {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	ids = make(map[string]bool)
	for i, g := range strings.Split(string(buf), "\n\n") {
		id, _, _ := strings.Cut(strings.TrimPrefix(g, "goroutine "), " ")
		ids[id] = true
		if i == 0 || ignore[id] || !strings.Contains(g, "h2server.") {
			continue
		}
		stacks = append(stacks, g)
	}
	return ids, stacks
}

// Raw HPACK (RFC 7541) for attackers that craft header blocks byte by
// byte; no Huffman coding, and no dynamic-table entries unless asked.

// atkHPInt appends v as an HPACK integer with an n-bit prefix, first holding
// the pattern bits above the prefix.
func atkHPInt(dst []byte, n uint, first byte, v uint64) []byte {
	max := uint64(1)<<n - 1
	if v < max {
		return append(dst, first|byte(v))
	}
	dst = append(dst, first|byte(max))
	for v -= max; v >= 128; v >>= 7 {
		dst = append(dst, byte(v&0x7f)|0x80)
	}
	return append(dst, byte(v))
}

func atkHPStr(dst []byte, s string) []byte { return append(atkHPInt(dst, 7, 0, uint64(len(s))), s...) }

// atkHPIndexed appends an indexed field (section 6.1).
func atkHPIndexed(dst []byte, i uint64) []byte { return atkHPInt(dst, 7, 0x80, i) }

// atkHPLiteral appends a literal field without indexing whose name is the
// static table's entry i (section 6.2.2).
func atkHPLiteral(dst []byte, i uint64, value string) []byte {
	return atkHPStr(atkHPInt(dst, 4, 0, i), value)
}

// atkHPLiteralNew appends a literal field without indexing with a new name.
func atkHPLiteralNew(dst []byte, name, value string) []byte {
	return atkHPStr(atkHPStr(append(dst, 0), name), value)
}

// atkHPInsert appends a literal field with incremental indexing and a new
// name (section 6.2.1): the field enters the dynamic table at index 62.
func atkHPInsert(dst []byte, name, value string) []byte {
	return atkHPStr(atkHPStr(append(dst, 0x40), name), value)
}

// atkHPFill appends whole literal fields (x-flood: aaa...) that add up to
// exactly n bytes, so that blocks built of them can follow one another.
func atkHPFill(dst []byte, n int) []byte {
	end := len(dst) + n
	for end-len(dst) > 2000 {
		dst = atkHPLiteralNew(dst, "x-flood", strings.Repeat("a", 1000))
	}
	for v := end - len(dst); v >= 0; v-- {
		if f := atkHPLiteralNew(nil, "x-flood", strings.Repeat("a", v)); len(dst)+len(f) == end {
			return append(dst, f...)
		}
	}
	return dst // n too small for a field: send nothing
}

// atkRequest is the header block of a request to path, with only static
// table references and literals, so it leaves the decoder's dynamic table
// as it was.
func atkRequest(method, path string, contentLength int) []byte {
	var b []byte
	switch method {
	case "GET":
		b = atkHPIndexed(b, 2)
	case "POST":
		b = atkHPIndexed(b, 3)
	default:
		b = atkHPLiteral(b, 2, method)
	}
	b = atkHPIndexed(b, 6) // :scheme http
	if path == "/" {
		b = atkHPIndexed(b, 4)
	} else {
		b = atkHPLiteral(b, 4, path)
	}
	b = atkHPLiteral(b, 1, "attack.test") // :authority
	if contentLength >= 0 {
		b = atkHPLiteral(b, 28, strconv.Itoa(contentLength))
	}
	return b
}

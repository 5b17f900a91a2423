package h2server

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/http2"
)

// chunkSize is the size of the pooled chunks that hold request and response
// bodies. It matches the default SETTINGS_MAX_FRAME_SIZE, so a full DATA
// frame is one chunk.
const chunkSize = 16 << 10

var chunkPool = sync.Pool{New: func() any { return new([chunkSize]byte) }}

// dataBuffer is a FIFO of bytes kept in pooled fixed-size chunks. Small
// writes are packed into the tail chunk, so the memory it holds is bounded
// by its length plus one chunk, however the bytes arrived. It is not safe
// for concurrent use: its owner guards it with a mutex.
type dataBuffer struct {
	chunks  []*[chunkSize]byte
	chunks0 [2]*[chunkSize]byte // inline backing for chunks
	r       int32               // read offset in chunks[0]
	w       int32               // write offset in chunks[len(chunks)-1]
	n       int                 // bytes buffered
}

func (b *dataBuffer) Len() int { return b.n }

// Write appends p; it never fails.
func (b *dataBuffer) Write(p []byte) (int, error) {
	total := len(p)
	for len(p) > 0 {
		if len(b.chunks) == 0 || b.w == chunkSize {
			if b.chunks == nil {
				b.chunks = b.chunks0[:0]
			}
			b.chunks = append(b.chunks, chunkPool.Get().(*[chunkSize]byte))
			b.w = 0
		}
		n := copy(b.chunks[len(b.chunks)-1][b.w:], p)
		b.w += int32(n)
		b.n += n
		p = p[n:]
	}
	return total, nil
}

// Read copies up to len(p) buffered bytes into p.
func (b *dataBuffer) Read(p []byte) int {
	total := 0
	for len(p) > 0 && b.n > 0 {
		q := b.peek(len(p))
		n := copy(p, q)
		b.advance(n)
		p = p[n:]
		total += n
	}
	return total
}

// peek returns up to max contiguous bytes from the head without consuming
// them. The slice stays valid until the bytes are consumed by advance,
// whatever is written after it; the writer goroutine relies on this to
// frame bytes without holding the stream's lock.
func (b *dataBuffer) peek(max int) []byte {
	if b.n == 0 {
		return nil
	}
	r, end := int(b.r), chunkSize
	if len(b.chunks) == 1 {
		end = int(b.w)
	}
	if end-r > max {
		end = r + max
	}
	return b.chunks[0][r:end]
}

// advance consumes n bytes from the head.
func (b *dataBuffer) advance(n int) {
	b.n -= n
	b.r += int32(n)
	for len(b.chunks) > 0 {
		last := len(b.chunks) == 1
		if last && b.r == b.w {
			// Empty: keep nothing, so an idle stream holds no chunk.
			chunkPool.Put(b.chunks[0])
			b.chunks[0] = nil
			b.chunks = b.chunks[:0]
			b.r, b.w = 0, 0
			return
		}
		if last || b.r < chunkSize {
			return
		}
		chunkPool.Put(b.chunks[0])
		// Shift rather than reslice, so the slice keeps its capacity.
		n := copy(b.chunks, b.chunks[1:])
		b.chunks[n] = nil
		b.chunks = b.chunks[:n]
		b.r = 0
	}
}

// takeChunk removes the head chunk and hands it to the caller, if it is
// whole: full and not yet read from. The caller owns it from then on and
// gives it back to chunkPool. The writer sends such a chunk as a DATA
// frame's payload without copying it (outBuf.addRef).
func (b *dataBuffer) takeChunk() *[chunkSize]byte {
	if len(b.chunks) == 0 || b.r != 0 || (len(b.chunks) == 1 && b.w != chunkSize) {
		return nil
	}
	c := b.chunks[0]
	n := copy(b.chunks, b.chunks[1:])
	b.chunks[n] = nil
	b.chunks = b.chunks[:n]
	b.n -= chunkSize
	if n == 0 {
		b.w = 0
	}
	return c
}

// reset drops everything buffered and returns the chunks to the pool.
func (b *dataBuffer) reset() {
	for i, c := range b.chunks {
		chunkPool.Put(c)
		b.chunks[i] = nil
	}
	b.chunks = b.chunks[:0]
	b.r, b.w, b.n = 0, 0, 0
}

// readBufferSize is the size of a connection's pooled read buffer.
const readBufferSize = 32 << 10

var readBufPool = sync.Pool{New: func() any { return new([readBufferSize]byte) }}

// midBufferSize is the size of the buffer the raw path reads a burst into
// when the previous read was small: the requests of a busy connection,
// a burst of HEADERS frames. A connection moves to the full buffer once a
// read fills it, so bulk uploads read readBufferSize at a time, and many
// waiting connections do not each hold on to 32 KiB they never fill.
const midBufferSize = 4 << 10

var midBufPool = sync.Pool{New: func() any { return new([midBufferSize]byte) }}

// connReader is the reader's buffered view of the connection. Unlike a
// bufio.Reader it holds its buffer only while the connection is busy, and
// never while it waits:
//
//   - On a cleartext TCP connection from Serve on Linux (raw set), fill
//     reads the socket itself through syscall.RawConn: when the socket is
//     empty it gives the pooled buffer back before waiting, and takes one
//     again only when bytes are there. A connection with no stream open
//     reads into a small inline buffer, and its reader parks when input
//     runs out (see park.go for when).
//   - Otherwise (TLS, connections from ServeConn, other systems) a
//     connection with no open stream that runs out of input waits for the
//     peer reading straight into the caller's slice (the Framer's 9-byte
//     frame header), and reads the rest of what it gets while idle
//     (preface, SETTINGS, PING) through the small buffer. A TLS
//     connection from Serve parks from there (see readDirect).
//
// A busy connection reads many frames per system call. Reader goroutine
// only.
type connReader struct {
	nc   net.Conn
	buf  []byte                // what fill reads into: small, or *pooled
	pool *[readBufferSize]byte // the pooled buffer, while held
	// small serves the fills of a connection with no open stream (the
	// preface, SETTINGS, PINGs): they need no pooled buffer.
	small [128]byte
	r, w  int

	// The raw path (see above).
	raw      syscall.RawConn
	rawRead  func(fd uintptr) bool // cr.readSocket, bound once
	rn       int                   // readSocket's result
	lastN    int                   // readSocket's previous result: picks the buffer size
	mid      *[midBufferSize]byte  // the pooled mid-sized buffer, while held
	rerr     error                 // readSocket's result
	c        *conn                 // for parking and keepalive
	boundary bool                  // set by the read loop: the next Read starts a frame
	fills    uint16                // buffer fills so far, wrapping: frames of one fill arrived together
	parkNow  bool                  // readSocket may give up when the socket is empty
	parked   bool                  // readSocket gave up: the socket was empty and parkNow set
	gotInput bool                  // a read returned bytes since the reader last started (see readDirect)
	// heldQueue: streams waited in the run queue when the last raw read
	// returned bytes. The raw path reads what the socket holds before
	// it starts a goroutine for them (see fill).
	heldQueue bool

	// fr is the Framer that reads the frames through this reader: made
	// with it, and pooled with it (see newConnReader). bigFrame: fr read
	// a frame payload larger than keepReadBuf, so its read buffer is
	// that large. inBlock mirrors the one state fr keeps from one frame
	// header to the next: the last HEADERS or CONTINUATION it read left
	// a header block open, so the next frame must be its CONTINUATION.
	// A reader with either set is not pooled.
	fr       *http2.Framer
	bigFrame bool
	inBlock  bool

	// hdr is the header block being read, the reader's (conn.reader's)
	// alone. It lives here, not in the conn, because it is needed only
	// while a reader runs: a parked connection has no block open
	// (mayPark), and keeps neither it nor its field array.
	hdr headerBlock
}

// idle reports that no stream is open: the reader may give its buffer
// back while it waits.
func (cr *connReader) idle() bool { return cr.c.nstreams.Load() == 0 }

// newConnReader makes the reader's view of the connection: at the start,
// and again when a parked connection wakes (a parked one keeps none). It
// comes from readerPool when a parked or closed connection left one
// there, with its Framer: a connection that opens and goes idle wakes at
// least once (the peer's SETTINGS ACK), and making both again each time
// was a third of the garbage such a connection leaves, which the idle
// connection's RSS keeps as heap headroom.
func (c *conn) newConnReader() *connReader {
	cr, _ := readerPool.Get().(*connReader)
	if cr == nil {
		cr = new(connReader)
		cr.rawRead = cr.readSocket
		cr.fr = http2.NewFramer(nil, cr)
	}
	*cr = connReader{nc: c.nc, c: c, rawRead: cr.rawRead, fr: cr.fr}
	if c.raw != nil && c.info.TLS == nil {
		cr.raw = c.raw // cleartext: read the socket itself
	}
	cr.fr.SetMaxReadFrameSize(c.cfg.maxReadFrameSize)
	return cr
}

// readerPool holds the readers of parked and closed connections, with
// their Framers, for the next connection to start or wake.
var readerPool sync.Pool

// keepReadBuf is the largest frame payload a pooled reader's Framer may
// have read: the Framer keeps a buffer as large as the largest.
const keepReadBuf = 4 << 10

// frameHeaderRead follows fr's check of the order of frames
// (checkFrameOrder in x/net/http2) for a frame header it read without
// error, so that recycleReader knows whether fr is in a header block.
func (cr *connReader) frameHeaderRead(fh http2.FrameHeader) {
	if fh.Type == http2.FrameHeaders || fh.Type == http2.FrameContinuation {
		cr.inBlock = !fh.Flags.Has(http2.FlagHeadersEndHeaders) && fh.StreamID != 0
	}
}

// recycleReader gives a reader its connection is done with (parked, or
// torn down) to readerPool, if its Framer holds nothing another
// connection could see: no header block open and no large read buffer.
// Its pooled buffers must be back in their pools (connReader.drop).
func recycleReader(cr *connReader) {
	if cr.bigFrame || cr.inBlock || cr.pool != nil || cr.mid != nil {
		return
	}
	fr := cr.fr
	*cr = connReader{rawRead: cr.rawRead, fr: fr}
	readerPool.Put(cr)
}

func (cr *connReader) Read(p []byte) (int, error) {
	boundary := cr.boundary
	cr.boundary = false // only the first read of a frame may park
	if cr.r == cr.w {
		if len(p) >= readBufferSize {
			return cr.readDirect(p, false)
		}
		if cr.raw == nil && cr.idle() {
			cr.release()
			return cr.readDirect(p, boundary)
		}
		if err := cr.fill(boundary); err != nil {
			return 0, err
		}
	}
	n := copy(p, cr.buf[cr.r:cr.w])
	cr.r += n
	return n, nil
}

// readDirect reads into p without buffering.
//
// At a frame boundary, a TLS connection that may park parks when the
// park deadline passes with nothing read. Its reads go through the TLS
// layer, which may hold a record it read from the socket before, so an
// empty socket does not make it idle: only a read of the TLS layer that
// timed out does. One that may park now gets a deadline that has passed:
// the read returns what the TLS layer holds, or times out at once,
// without reading the socket (Go checks the deadline first). So it does
// so only once a read since the reader started returned bytes: a reader
// woken for bytes in the socket reads them first.
func (cr *connReader) readDirect(p []byte, boundary bool) (int, error) {
	if cr.c != nil {
		cr.c.runQueued(true) // the read may wait
	}
	if boundary && cr.c != nil {
		switch cr.c.mayPark() {
		case parkNow:
			if cr.gotInput {
				cr.c.armParkIn(0)
			} else {
				cr.c.armPark()
			}
		case parkLater:
			cr.c.armPark()
		}
	}
	for {
		n, err := cr.nc.Read(p)
		if n == 0 && err != nil && cr.parkTimedOut(err) {
			if boundary && cr.c.parkDue() {
				return 0, errPark
			}
			parkEvent(nil, "timeout")
			continue
		}
		if n > 0 {
			cr.gotInput = true
			cr.c.readNow()
		}
		return n, err
	}
}

// fill reads into an empty buffer, taking one from the pool if needed.
// At a frame boundary it may return errPark (see parkMode).
//
// Streams in the run queue (handler.go) get goroutines of their own
// before a read that may wait. A net.Conn read may always wait, so they
// get them first. A raw read learns that the socket is empty without
// waiting: it reads on first, and readSocket starts them once the socket
// is empty, before it waits. So the requests that arrived together are
// all read before their handlers run, and their responses leave in one
// write. A stream queued before the last read does not wait for another
// one.
func (cr *connReader) fill(boundary bool) error {
	if cr.c != nil && (cr.raw == nil || cr.heldQueue) {
		cr.c.runQueued(true) // the read may wait
	}
	var n int
	var err error
	if cr.raw != nil {
		n, err = cr.fillRaw(boundary)
		cr.heldQueue = n > 0 && cr.c.workers.queued.Load()
	} else {
		switch {
		case cr.pool != nil:
		case cr.idle():
			cr.buf = cr.small[:]
		default:
			cr.pool = readBufPool.Get().(*[readBufferSize]byte)
			cr.buf = cr.pool[:]
		}
		for {
			n, err = cr.nc.Read(cr.buf)
			if n > 0 || err == nil || !cr.parkTimedOut(err) {
				break
			}
			// The park deadline, armed as the last stream ended.
			if boundary && cr.c.parkDue() {
				cr.release()
				return errPark
			}
			parkEvent(nil, "timeout")
		}
	}
	cr.r, cr.w = 0, n
	cr.fills++
	if n == 0 {
		if err == nil {
			err = io.ErrNoProgress
		}
		return err
	}
	cr.gotInput = true
	cr.c.readNow()
	return nil
}

func (cr *connReader) fillRaw(boundary bool) (int, error) {
	mode := parkNever
	if boundary {
		mode = cr.c.mayPark()
	}
	if mode == parkLater {
		cr.c.armPark()
	}
	for {
		cr.rn, cr.rerr, cr.parked = 0, nil, false
		cr.parkNow = mode == parkNow
		err := cr.raw.Read(cr.rawRead)
		cr.parkNow = false
		if err != nil {
			if !cr.parkTimedOut(err) {
				return 0, err
			}
			// Streams may have closed while we waited: look again.
			if boundary && cr.c.parkDue() {
				return 0, errPark
			}
			parkEvent(nil, "timeout")
			continue
		}
		if cr.parked {
			return 0, errPark
		}
		if cr.rn == 0 && cr.rerr == nil {
			return 0, io.EOF
		}
		return cr.rn, cr.rerr
	}
}

// readSocket is fill's raw read, run by RawConn.Read with the socket's
// descriptor; it returns false to wait for readability.
func (cr *connReader) readSocket(fd uintptr) bool {
	if cr.mid != nil && cr.lastN >= midBufferSize {
		midBufPool.Put(cr.mid) // it filled: on to the full buffer
		cr.mid, cr.buf = nil, nil
	}
	switch {
	case cr.pool != nil || cr.mid != nil:
	case cr.idle():
		cr.buf = cr.small[:]
	case cr.lastN < midBufferSize:
		cr.mid = midBufPool.Get().(*[midBufferSize]byte)
		cr.buf = cr.mid[:]
	default:
		cr.pool = readBufPool.Get().(*[readBufferSize]byte)
		cr.buf = cr.pool[:]
	}
	n, wouldBlock, err := sockRead(fd, cr.buf)
	if wouldBlock {
		cr.release() // nothing to read: wait without the pooled buffer
		cr.parked = cr.parkNow
		if !cr.parked && cr.c != nil {
			// About to wait: queued streams go first (see fill). Bytes
			// that arrive meanwhile make RawConn's wait return at once.
			cr.c.runQueued(true)
		}
		return cr.parked
	}
	cr.lastN = n // an upload that filled 32 KiB before a wait gets 32 KiB after it
	if n == len(cr.buf) && cr.mid != nil {
		cr.lastN = midBufferSize // it filled: the next read gets the full buffer
	}
	cr.rn, cr.rerr = n, err
	return true
}

// parkTimedOut reports whether err is the park deadline passing (rather
// than a deadline set by a closing path), and if so clears it.
func (cr *connReader) parkTimedOut(err error) bool {
	c := cr.c
	if c == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
		return false
	}
	c.parkMu.Lock()
	defer c.parkMu.Unlock()
	if c.lingerUntil != 0 && time.Now().UnixNano() < c.lingerUntil {
		// A park deadline passed just before a closing path set its
		// own, later one: not the peer's time running out.
		return true
	}
	if !c.parkArmed || c.noPark.Load() {
		return false
	}
	c.parkArmed = false
	c.nc.SetReadDeadline(time.Time{})
	return true
}

// next returns up to n buffered bytes, reading more if none are, and
// consumes them. The slice is valid until the next call.
func (cr *connReader) next(n int) ([]byte, error) {
	if cr.r == cr.w {
		if err := cr.fill(false); err != nil {
			return nil, err
		}
	}
	k := min(n, cr.w-cr.r)
	p := cr.buf[cr.r : cr.r+k]
	cr.r += k
	return p, nil
}

// ReadByte and UnreadByte serve the preface check, which reads byte by
// byte; they always buffer.
func (cr *connReader) ReadByte() (byte, error) {
	if cr.r == cr.w {
		if err := cr.fill(false); err != nil {
			return 0, err
		}
	}
	b := cr.buf[cr.r]
	cr.r++
	return b, nil
}

func (cr *connReader) UnreadByte() error {
	if cr.r == 0 {
		return io.ErrNoProgress
	}
	cr.r--
	return nil
}

// release gives an empty buffer back to its pool.
func (cr *connReader) release() {
	if cr.r != cr.w {
		return
	}
	cr.drop()
}

// drop gives the pooled buffers back, whatever they hold: at teardown.
// The HPACK decoder lets go of them too (decoder.unpin), unless a header
// block is half read.
func (cr *connReader) drop() {
	switch {
	case cr.pool != nil:
		readBufPool.Put(cr.pool)
		cr.pool, cr.buf = nil, nil
	case cr.mid != nil:
		midBufPool.Put(cr.mid)
		cr.mid, cr.buf = nil, nil
	}
	cr.r, cr.w = 0, 0
	if c := cr.c; c != nil && c.rd.hdec != nil && c.rd.br.hdr.id == 0 {
		c.rd.hdec.unpin()
	}
}

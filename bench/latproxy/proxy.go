package main

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// config is one proxy's behaviour, the same for every connection.
type config struct {
	target string        // where each accepted connection is forwarded
	delay  time.Duration // one-way delay, added in each direction
	rate   float64       // bytes per second per direction; 0: no cap
	queue  int           // bytes held per direction before reading stops

	logf func(format string, args ...any) // nil: silent

	// onFull, for tests, runs on a reader's goroutine each time it finds
	// its queue full and stops reading.
	onFull func()
}

// readSize is the largest read. At 1 Gbit/s 64 KiB is half a millisecond
// on the link: pacing stays finer than the timers that deliver it.
const readSize = 64 << 10

// smallRead: a read shorter than this is copied out of the read buffer,
// so that a queue of small chunks does not pin a 64 KiB buffer each.
const smallRead = 4 << 10

var bufPool = sync.Pool{New: func() any { return new([readSize]byte) }}

// proxy accepts connections and pairs each with a fresh connection to the
// target.
type proxy struct {
	cfg config

	mu     sync.Mutex
	conns  map[net.Conn]struct{} // both ends of every live pair
	closed bool
	wg     sync.WaitGroup // one per pair

	maxQueued atomic.Int64 // the most bytes any one direction held, for tests
}

func newProxy(cfg config) *proxy {
	return &proxy{cfg: cfg, conns: make(map[net.Conn]struct{})}
}

// serve accepts until ln fails or is closed.
func (p *proxy) serve(ln net.Listener) error {
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		if !p.track(c) {
			c.Close()
			return net.ErrClosed
		}
		p.wg.Add(1)
		go p.handle(c)
	}
}

// close ends every pair and waits for their goroutines.
func (p *proxy) close() {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

func (p *proxy) logf(format string, args ...any) {
	if p.cfg.logf != nil {
		p.cfg.logf(format, args...)
	}
}

// handle runs one pair: two directions, each a reader and a writer. It
// returns when all four are done. The pair ends normally when both
// directions have forwarded their EOF, and at once, closing both
// connections, when any read or write fails.
func (p *proxy) handle(client net.Conn) {
	defer p.wg.Done()
	defer p.untrack(client)
	defer client.Close()
	server, err := net.Dial("tcp", p.cfg.target)
	if err != nil {
		p.logf("latproxy: %v: dial %s: %v", client.RemoteAddr(), p.cfg.target, err)
		return
	}
	if !p.track(server) {
		server.Close()
		return
	}
	defer p.untrack(server)
	defer server.Close()

	fail := make(chan struct{})
	var once sync.Once
	var firstErr error
	abort := func(err error) {
		once.Do(func() {
			firstErr = err
			close(fail)
			client.Close()
			server.Close()
		})
	}
	up := newPipe(p, client, server, fail)
	down := newPipe(p, server, client, fail)
	var wg sync.WaitGroup
	for _, d := range []*pipe{up, down} {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if err := d.read(); err != nil {
				abort(err)
			}
		}()
		go func() {
			defer wg.Done()
			if err := d.write(); err != nil {
				abort(err)
			}
		}()
	}
	wg.Wait()
	p.logf("latproxy: %v: up %d bytes, down %d bytes, end: %v", client.RemoteAddr(), up.delivered, down.delivered, orEOF(firstErr))
}

func orEOF(err error) error {
	if err == nil {
		return io.EOF
	}
	return err
}

// errAborted ends a reader or writer whose pair failed elsewhere.
var errAborted = errors.New("latproxy: pair aborted")

// chunk is bytes read at once, due for delivery at one time.
type chunk struct {
	data []byte
	buf  *[readSize]byte // to recycle; nil for a copied small read
	due  time.Time
}

// pipe is one direction of a pair: src is read into a FIFO of chunks, dst
// is written from it.
type pipe struct {
	p        *proxy
	src, dst net.Conn
	fail     <-chan struct{} // closed when the pair aborts

	data  chan struct{} // one slot: the reader added a chunk or hit EOF
	space chan struct{} // one slot: the writer freed queue space

	mu     sync.Mutex
	q      []chunk // guarded by mu: read, not yet written
	queued int     // guarded by mu: bytes in q and in the writer's hands
	eof    bool    // guarded by mu: the reader is done; q is all there is

	// Owned by the reader.
	linkFree time.Time // when the capped link finishes the last chunk

	// Owned by the writer; read by handle after both are done.
	delivered int64
}

func newPipe(p *proxy, src, dst net.Conn, fail <-chan struct{}) *pipe {
	return &pipe{p: p, src: src, dst: dst, fail: fail,
		data: make(chan struct{}, 1), space: make(chan struct{}, 1)}
}

func notify(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// read reads src into the queue until EOF (nil) or an error. It reads no
// more than the queue has room for, and nothing while it is full.
func (d *pipe) read() error {
	cfg := &d.p.cfg
	buf := bufPool.Get().(*[readSize]byte)
	defer func() {
		if buf != nil {
			bufPool.Put(buf)
		}
	}()
	for {
		d.mu.Lock()
		room := cfg.queue - d.queued
		d.mu.Unlock()
		if room <= 0 {
			if cfg.onFull != nil {
				cfg.onFull()
			}
			select {
			case <-d.space:
			case <-d.fail:
				return errAborted
			}
			continue
		}
		n, err := d.src.Read(buf[:min(room, readSize)])
		if n > 0 {
			now := time.Now()
			c := chunk{due: now.Add(cfg.delay)}
			if cfg.rate > 0 {
				// The link serialises this chunk after the previous one,
				// then the last byte travels for the delay.
				start := now
				if d.linkFree.After(start) {
					start = d.linkFree
				}
				d.linkFree = start.Add(time.Duration(float64(n) / cfg.rate * float64(time.Second)))
				c.due = d.linkFree.Add(cfg.delay)
			}
			if n < smallRead {
				c.data = append([]byte(nil), buf[:n]...)
			} else {
				c.data, c.buf = buf[:n], buf
				buf = bufPool.Get().(*[readSize]byte)
			}
			d.mu.Lock()
			d.q = append(d.q, c)
			d.queued += n
			q := d.queued
			d.mu.Unlock()
			d.p.noteQueued(q)
			notify(d.data)
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				d.mu.Lock()
				d.eof = true
				d.mu.Unlock()
				notify(d.data)
				return nil
			}
			return err
		}
	}
}

// write delivers each chunk at its due time, every chunk that is due in
// one write, and half-closes dst once the reader is done and the queue is
// empty.
func (d *pipe) write() error {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var batch []chunk
	var bufs net.Buffers
	for {
		d.mu.Lock()
		for len(d.q) == 0 && !d.eof {
			d.mu.Unlock()
			select {
			case <-d.data:
			case <-d.fail:
				return errAborted
			}
			d.mu.Lock()
		}
		if len(d.q) == 0 { // EOF, and everything before it delivered
			d.mu.Unlock()
			if cw, ok := d.dst.(interface{ CloseWrite() error }); ok {
				return cw.CloseWrite()
			}
			return nil
		}
		due := d.q[0].due
		d.mu.Unlock()

		if wait := time.Until(due); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-d.fail:
				timer.Stop()
				return errAborted
			}
		}

		now := time.Now()
		d.mu.Lock()
		k := 1 // the head is due: the timer said so
		for k < len(d.q) && !d.q[k].due.After(now) {
			k++
		}
		batch = append(batch[:0], d.q[:k]...)
		clear(d.q[:k]) // let the queue's array drop the buffers
		d.q = d.q[k:]
		d.mu.Unlock()

		n := 0
		bufs = bufs[:0]
		for _, c := range batch {
			bufs = append(bufs, c.data)
			n += len(c.data)
		}
		wb := bufs                        // WriteTo consumes its receiver; keep bufs' array
		written, err := wb.WriteTo(d.dst) // writev: one system call per batch
		d.delivered += written
		for i := range batch {
			if batch[i].buf != nil {
				bufPool.Put(batch[i].buf)
			}
			batch[i] = chunk{}
		}
		if err != nil {
			return err
		}
		d.mu.Lock()
		d.queued -= n
		d.mu.Unlock()
		notify(d.space)
	}
}

func (p *proxy) noteQueued(q int) {
	for {
		m := p.maxQueued.Load()
		if int64(q) <= m || p.maxQueued.CompareAndSwap(m, int64(q)) {
			return
		}
	}
}

package h2server

import (
	"bytes"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// pipeConn is one end of an in-memory, buffered, full-duplex connection
// for tests. Unlike net.Pipe, writes never wait for the peer to read, so
// a test can let the server run (synctest.Wait) and then assert on every
// byte it wrote, or that it wrote nothing. Blocking uses sync.Cond, which
// testing/synctest treats as durably blocking, and deadlines use timers,
// which synctest's fake clock drives.
type pipeConn struct {
	r, w          *pipeBuf
	local, remote net.Addr
	writes        *int // count of Write calls on this end (server: syscalls)
}

type pipeBuf struct {
	mu       sync.Mutex
	cond     sync.Cond
	buf      bytes.Buffer
	eof      bool // the writer closed: reads drain buf, then io.EOF
	broken   bool // the reader closed: writes fail
	stalled  bool // writes wait, as if the reader's window were full
	deadline time.Time
	timer    *time.Timer
}

func newPipeBuf() *pipeBuf {
	b := &pipeBuf{}
	b.cond.L = &b.mu
	return b
}

type pipeAddr string

func (a pipeAddr) Network() string { return "pipe" }
func (a pipeAddr) String() string  { return string(a) }

// newPipe returns the two ends: server and client.
func newPipe() (server, client *pipeConn) {
	a, b := newPipeBuf(), newPipeBuf()
	server = &pipeConn{r: a, w: b, local: pipeAddr("server:443"), remote: pipeAddr("client:5000"), writes: new(int)}
	client = &pipeConn{r: b, w: a, local: server.remote, remote: server.local, writes: new(int)}
	return server, client
}

func (c *pipeConn) Read(p []byte) (int, error) {
	b := c.r
	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		if b.broken {
			return 0, net.ErrClosed
		}
		if !b.deadline.IsZero() && !time.Now().Before(b.deadline) {
			return 0, os.ErrDeadlineExceeded
		}
		if b.buf.Len() > 0 {
			return b.buf.Read(p)
		}
		if b.eof {
			return 0, io.EOF
		}
		b.cond.Wait()
	}
}

func (c *pipeConn) Write(p []byte) (int, error) {
	b := c.w
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.stalled && !b.broken && !b.eof {
		b.cond.Wait()
	}
	if b.broken || b.eof {
		return 0, net.ErrClosed
	}
	*c.writes++
	b.buf.Write(p)
	b.cond.Broadcast()
	return len(p), nil
}

// stallWrites makes writes on this end wait (a peer that stops reading)
// until called again with false.
func (c *pipeConn) stallWrites(on bool) {
	c.w.mu.Lock()
	defer c.w.mu.Unlock()
	c.w.stalled = on
	c.w.cond.Broadcast()
}

// buffered reports how many bytes wait to be read on this end.
func (c *pipeConn) buffered() int {
	c.r.mu.Lock()
	defer c.r.mu.Unlock()
	return c.r.buf.Len()
}

// readClosed reports whether this end will read nothing more: the peer
// closed its write side and everything was read.
func (c *pipeConn) readClosed() bool {
	c.r.mu.Lock()
	defer c.r.mu.Unlock()
	return c.r.buf.Len() == 0 && (c.r.eof || c.r.broken)
}

func (c *pipeConn) writeCount() int {
	c.w.mu.Lock()
	defer c.w.mu.Unlock()
	return *c.writes
}

func (c *pipeConn) CloseWrite() error {
	b := c.w
	b.mu.Lock()
	defer b.mu.Unlock()
	b.eof = true
	b.cond.Broadcast()
	return nil
}

func (c *pipeConn) Close() error {
	c.CloseWrite()
	b := c.r
	b.mu.Lock()
	defer b.mu.Unlock()
	b.broken = true
	b.buf.Reset()
	if b.timer != nil {
		b.timer.Stop()
	}
	b.cond.Broadcast()
	return nil
}

func (c *pipeConn) LocalAddr() net.Addr  { return c.local }
func (c *pipeConn) RemoteAddr() net.Addr { return c.remote }

func (c *pipeConn) SetDeadline(t time.Time) error {
	c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

func (c *pipeConn) SetReadDeadline(t time.Time) error {
	b := c.r
	b.mu.Lock()
	defer b.mu.Unlock()
	b.deadline = t
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	if !t.IsZero() {
		b.timer = time.AfterFunc(time.Until(t), func() {
			b.mu.Lock()
			b.cond.Broadcast()
			b.mu.Unlock()
		})
	}
	b.cond.Broadcast()
	return nil
}

// SetWriteDeadline is accepted and ignored: writes never block.
func (c *pipeConn) SetWriteDeadline(t time.Time) error { return nil }

package h2server

import (
	"crypto/tls"
	"net"
	"sync"
	"sync/atomic"
)

// recordConn is the connection under a *tls.Conn that ServeTLS and
// ListenAndServeTLS make. crypto/tls writes each record, at most 16 KiB
// of plaintext, with a Write of its own: a 1 MiB response went out in 68
// system calls, against h2o's 13. While the writer hands crypto/tls a
// large batch (outBuf.writeOut), recordConn keeps the records and sends
// them in one write when the batch is done; at any other time, and for
// anything else crypto/tls writes (the handshake, alerts), it passes
// writes straight through.
//
// The batch's plaintext is at most seven records (hugeWriteBufferSize),
// so the records' bytes stay under 128 KiB (see maxRefBatch for why that
// bound matters).
type recordConn struct {
	net.Conn
	// hold is set by the writer around a batch; mu guards buf, which
	// the writer flushes while another goroutine may Write (an alert
	// from Close).
	hold atomic.Bool
	mu   sync.Mutex
	buf  []byte // the records kept, in a pooled array; nil when none
}

// recordBufSize holds the records of a batch of hugeWriteBufferSize
// plaintext bytes: seven records and their framing and tags (22 bytes
// each in TLS 1.3, at most 2 KiB in TLS 1.2 with padding).
const recordBufSize = 128 << 10

var recordBufPool = sync.Pool{New: func() any { return new([recordBufSize]byte) }}

func (rc *recordConn) Write(p []byte) (int, error) {
	if !rc.hold.Load() {
		return rc.Conn.Write(p)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if !rc.hold.Load() {
		return rc.Conn.Write(p) // released meanwhile
	}
	if rc.buf == nil {
		rc.buf = recordBufPool.Get().(*[recordBufSize]byte)[:0]
	}
	if len(rc.buf)+len(p) > cap(rc.buf) {
		if err := rc.flushLocked(); err != nil {
			return 0, err
		}
		if len(p) > cap(rc.buf) {
			return rc.Conn.Write(p)
		}
	}
	rc.buf = append(rc.buf, p...)
	return len(p), nil
}

// flushLocked writes the records kept; mu is held.
func (rc *recordConn) flushLocked() error {
	if len(rc.buf) == 0 {
		return nil
	}
	_, err := rc.Conn.Write(rc.buf)
	rc.buf = rc.buf[:0]
	return err
}

// holdRecords starts keeping what crypto/tls writes.
func (rc *recordConn) holdRecords() {
	rc.hold.Store(true)
}

// releaseRecords writes the records kept since holdRecords and gives the
// buffer back, even when the write fails.
func (rc *recordConn) releaseRecords() error {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.hold.Store(false)
	err := rc.flushLocked()
	if rc.buf != nil {
		recordBufPool.Put((*[recordBufSize]byte)(rc.buf[:recordBufSize]))
		rc.buf = nil
	}
	return err
}

// TCPSocket returns the TCP socket under the connection (SocketConn), so
// that a TLS connection parks on it.
func (rc *recordConn) TCPSocket() *net.TCPConn {
	switch nc := rc.Conn.(type) {
	case *net.TCPConn:
		return nc
	case SocketConn:
		return nc.TCPSocket()
	}
	return nil
}

// recordConnOf returns the recordConn under the writer's output, if the
// connection is a *tls.Conn that ServeTLS made.
func recordConnOf(out any) *recordConn {
	if dw, ok := out.(*deadlineWriter); ok {
		out = dw.nc
	}
	if tc, ok := out.(*tls.Conn); ok {
		rc, _ := tc.NetConn().(*recordConn)
		return rc
	}
	return nil
}

// tlsListener makes a TLS server connection of each accepted one, over a
// recordConn.
type tlsListener struct {
	net.Listener
	config *tls.Config
}

func (l *tlsListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return tls.Server(&recordConn{Conn: nc}, l.config), nil
}

package h2server

import (
	"crypto/tls"
	"encoding/binary"
	"net"
	"time"

	"golang.org/x/net/http2"
)

// Hooks are callbacks for metrics, logs and tracing. Every hook is
// optional; an unset hook costs one nil check. Hooks run on the server's
// own goroutines (a connection's reader or writer, or a handler's), so
// they must be quick and must not block: count, sample or hand off.
type Hooks struct {
	// ConnOpened runs when a connection has passed the client preface.
	ConnOpened func(c *ConnInfo)
	// ConnClosed runs when that connection is gone: its transport
	// closed, every handler of it returned and StreamEnded ran for each
	// of its streams, however it ended (a handler may go on after its
	// client hung up). Shutdown returns after it.
	ConnClosed func(c *ConnInfo)
	// StreamStarted runs when a request is admitted, before its handler.
	StreamStarted func(s *StreamInfo)
	// StreamEnded runs once the stream is closed and its handler returned,
	// exactly once for every stream StreamStarted saw (a request answered
	// 431 for its header list's size included).
	StreamEnded func(s *StreamInfo)
	// FrameRead runs for each frame header read, before the payload.
	FrameRead func(c *ConnInfo, h http2.FrameHeader)
	// FrameWritten runs for each frame as it is written to the
	// connection's buffer.
	FrameWritten func(c *ConnInfo, h http2.FrameHeader)
	// Rejected runs for every limit tripped and every protocol error,
	// ours or the peer's, with the reason token that is also logged.
	Rejected func(r *Rejection)
}

// ConnInfo describes one connection, to hooks and to handlers
// (Stream.Conn). It does not change once the client preface has passed.
type ConnInfo struct {
	// ID numbers the Server's connections from 1, in the order they were
	// accepted: a key for logs and metrics. The server's own log lines
	// about a connection carry it as "conn".
	ID         uint64
	RemoteAddr net.Addr
	LocalAddr  net.Addr
	TLS        *tls.ConnectionState // nil for h2c
	Opened     time.Time
	// NetConn is the connection as accepted (a *tls.Conn for TLS), for
	// those who need what only it offers. Reading from or writing to it
	// breaks the HTTP/2 connection; closing it ends the connection.
	NetConn net.Conn

	c *conn // for Drain; nil in a ConnInfo made elsewhere
}

// StreamInfo describes one stream to hooks. The counters are final in
// StreamEnded.
type StreamInfo struct {
	Conn     *ConnInfo
	StreamID uint32
	Request  *Request
	Started  time.Time
	// Status is the final response status sent, 0 if none was.
	Status int
	// BytesIn and BytesOut count request and response body bytes.
	BytesIn, BytesOut int64
	// Duration runs from admission to the end of both directions.
	Duration time.Duration
	// Err says why the stream ended abnormally (a *StreamError, or the
	// connection's failure); nil for a stream that completed.
	Err error
}

// Rejection is one limit or protocol error.
type Rejection struct {
	Conn *ConnInfo // nil before the connection passed its preface
	// StreamID is the stream concerned; 0 for the connection as a whole.
	StreamID uint32
	Code     ErrCode
	// Reason is a short stable token, such as "too_many_glitches",
	// "content_length_mismatch" or "preface_timeout".
	Reason string
}

// frameSink is where a writer's Framer writes: the writer's batch,
// through the FrameWritten hook when one is set. The Framer writes each
// frame with one Write call, so every call starts with a frame header.
type frameSink struct {
	bw   *outBuf
	c    *ConnInfo
	hook func(*ConnInfo, http2.FrameHeader)
}

func (s *frameSink) Write(p []byte) (int, error) {
	if s.hook != nil && len(p) >= 9 {
		s.hook(s.c, http2.FrameHeader{
			Length:   uint32(p[0])<<16 | uint32(p[1])<<8 | uint32(p[2]),
			Type:     http2.FrameType(p[3]),
			Flags:    http2.Flags(p[4]),
			StreamID: binary.BigEndian.Uint32(p[5:9]) & (1<<31 - 1),
		})
	}
	return s.bw.Write(p)
}

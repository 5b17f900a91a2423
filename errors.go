package h2server

import (
	"errors"
	"fmt"

	"golang.org/x/net/http2"
)

// ErrCode is an HTTP/2 error code (RFC 9113 section 7), carried by
// RST_STREAM and GOAWAY frames.
type ErrCode uint32

// The error codes of RFC 9113 section 7.
const (
	ErrCodeNo                 ErrCode = 0x0
	ErrCodeProtocol           ErrCode = 0x1
	ErrCodeInternal           ErrCode = 0x2
	ErrCodeFlowControl        ErrCode = 0x3
	ErrCodeSettingsTimeout    ErrCode = 0x4
	ErrCodeStreamClosed       ErrCode = 0x5
	ErrCodeFrameSize          ErrCode = 0x6
	ErrCodeRefusedStream      ErrCode = 0x7
	ErrCodeCancel             ErrCode = 0x8
	ErrCodeCompression        ErrCode = 0x9
	ErrCodeConnect            ErrCode = 0xa
	ErrCodeEnhanceYourCalm    ErrCode = 0xb
	ErrCodeInadequateSecurity ErrCode = 0xc
	ErrCodeHTTP11Required     ErrCode = 0xd
)

func (c ErrCode) String() string { return http2.ErrCode(c).String() }

// StreamError reports that one stream ended abnormally: the peer reset it,
// the server reset it for a protocol violation, or the handler reset it.
// A handler's Read and Write return a *StreamError once its stream is reset.
type StreamError struct {
	StreamID uint32
	Code     ErrCode
	// Remote is true when the peer sent the RST_STREAM.
	Remote bool
	// Cause, when set, says what the server saw that made it reset the stream.
	Cause error
}

func (e *StreamError) Error() string {
	who := "server"
	if e.Remote {
		who = "peer"
	}
	if e.Cause != nil {
		return fmt.Sprintf("h2server: stream %d reset by %s with %v: %v", e.StreamID, who, e.Code, e.Cause)
	}
	return fmt.Sprintf("h2server: stream %d reset by %s with %v", e.StreamID, who, e.Code)
}

func (e *StreamError) Unwrap() error { return e.Cause }

// ConnectionError reports that the whole connection ended: a GOAWAY was
// sent or received with a code other than NO_ERROR, or the transport
// closed (Code NO_ERROR, Reason "connection closed"). Once a connection
// ends, its streams' Read and Write return a *ConnectionError, and
// context.Cause of their contexts is one.
type ConnectionError struct {
	Code ErrCode
	// Remote is true when the peer sent the GOAWAY.
	Remote bool
	// Reason is the short token the server logged and sent as GOAWAY debug data.
	Reason string
}

func (e *ConnectionError) Error() string {
	if e.Code == ErrCodeNo && !e.Remote {
		return "h2server: " + e.Reason
	}
	who := "server"
	if e.Remote {
		who = "peer"
	}
	if e.Reason != "" {
		return fmt.Sprintf("h2server: connection closed by %s with %v (%s)", who, e.Code, e.Reason)
	}
	return fmt.Sprintf("h2server: connection closed by %s with %v", who, e.Code)
}

var (
	// ErrServerClosed is returned by Serve and ListenAndServe after Shutdown or Close.
	ErrServerClosed = errors.New("h2server: server closed")

	// ErrBodyNotAllowed is returned by Write when the response status
	// (204, 304) allows no body. Writes after a HEAD request are discarded.
	ErrBodyNotAllowed = errors.New("h2server: response status does not allow a body")

	// ErrContentLength is returned by Write past the response's declared
	// Content-Length, and by Close when the body fell short of it; the
	// stream is then reset.
	ErrContentLength = errors.New("h2server: response body length does not match its Content-Length")

	// errSendClosed is returned by writes after Close or WriteTrailers.
	errSendClosed = errors.New("h2server: write after the response ended")

	// errTunnelTrailers is returned by WriteTrailers with fields on a
	// CONNECT tunnel that was (or will be) answered with 2xx.
	errTunnelTrailers = errors.New("h2server: a CONNECT tunnel carries no trailers (RFC 9113 section 8.5): end it with Close")

	// errReadCanceled is returned by Read after CancelRead.
	errReadCanceled = errors.New("h2server: read after CancelRead")

	// ErrHandlerReturned is the cause (context.Cause) of a stream's
	// context once its handler has returned, and what Read returns then.
	ErrHandlerReturned = errors.New("h2server: handler returned")

	// errStalled is the cause of a stream reset because the client's
	// flow-control windows kept it from sending for StallTimeout.
	errStalled = errors.New("h2server: flow-control window closed for StallTimeout")
)

// connError is a connection error found by the reader: it becomes one
// GOAWAY with Code, Reason as debug data, and one log line.
type connError struct {
	Code   ErrCode
	Reason string // short token: logs, metrics, GOAWAY debug data
}

// lingers reports whether to keep reading for a moment after the GOAWAY,
// so that it reaches the peer. Not for a peer that reads nothing.
func (e connError) lingers() bool { return e.Reason != "control_queue_full" }

func (e connError) Error() string {
	return fmt.Sprintf("connection error %v: %s", e.Code, e.Reason)
}

// streamError is a stream error found by the reader: it becomes one
// RST_STREAM and the stream's handler sees a *StreamError.
type streamError struct {
	StreamID uint32
	Code     ErrCode
	Reason   string
}

func (e streamError) Error() string {
	return fmt.Sprintf("stream %d error %v: %s", e.StreamID, e.Code, e.Reason)
}

package main

import (
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"

	"github.com/h2server/h2server/bench/internal/pattern"
)

// exchange is the little the benchmark endpoints need from one request and
// its response. Both servers adapt to it (adapters.go), so that they run
// exactly the same handler logic and any difference in the figures comes
// from the server underneath.
type exchange interface {
	Method() string
	Path() string
	// Query is the request's query parameters.
	Query() url.Values
	// Read reads the request body; io.EOF at its end.
	Read(p []byte) (int, error)
	// WriteHead sends the final status with a content-type field and, when
	// contentLength >= 0, a content-length field. Nothing else is added:
	// both servers put the same fields on the wire.
	WriteHead(status int, contentType string, contentLength int) error
	Write(p []byte) (int, error)
	// Flush sends the head and the body written so far now.
	Flush() error
	// WhenReadable arranges for next to run once a Read would not block,
	// with no goroutine waiting meanwhile, and reports true; the caller
	// then returns at once. False where the server cannot (net/http), and
	// the caller reads on.
	WhenReadable(next func(exchange)) bool
}

var (
	helloBody = []byte("hello world\n")

	// bigBody is the 1 MiB body of GET /1m, allocated once.
	bigBody = func() []byte {
		b := make([]byte, 1<<20)
		for i := range b {
			b[i] = byte('a' + i%26)
		}
		return b
	}()

	// writeChunk is how much of bigBody one Write hands to the server.
	writeChunk = 32 << 10

	// bufPool holds the read buffers of /sink and /echo, so that neither
	// server pays for a fresh 32 KiB buffer per request.
	bufPool   = sync.Pool{New: func() any { return new([32 << 10]byte) }}
	smallPool = sync.Pool{New: func() any { return new([64]byte) }}
)

// serve is the benchmark's one handler.
func serve(ex exchange) {
	method, path := ex.Method(), ex.Path()
	switch {
	case (path == "/" || path == "/hello") && (method == http.MethodGet || method == http.MethodHead):
		ex.WriteHead(http.StatusOK, "text/plain", len(helloBody))
		if method == http.MethodGet {
			ex.Write(helloBody)
		}
	case path == "/1m" && method == http.MethodGet:
		ex.WriteHead(http.StatusOK, "application/octet-stream", len(bigBody))
		for p := bigBody; len(p) > 0; {
			n := min(writeChunk, len(p))
			if _, err := ex.Write(p[:n]); err != nil {
				return
			}
			p = p[n:]
		}
	case path == "/bytes" && method == http.MethodGet:
		bytesBody(ex)
	case path == "/sink" && method == http.MethodPost:
		if ex.Query().Get("later") == "1" {
			sinkLater(ex)
		} else {
			sink(ex)
		}
	case path == "/echo" && method == http.MethodPost:
		echo(ex)
	default:
		ex.WriteHead(http.StatusNotFound, "text/plain", 0)
	}
}

// bytesChunk is the size of each Write of GET /bytes: large, so that a
// download measures the server's sending and flow control rather than
// the handler's calls.
const bytesChunk = 256 << 10

// maxBytes bounds GET /bytes?n=.
const maxBytes = 1 << 36

// bytesBody answers GET /bytes?n=N with N bytes of the shared pattern
// (bench/internal/pattern), which the client checks.
func bytesBody(ex exchange) {
	n, err := strconv.ParseInt(ex.Query().Get("n"), 10, 64)
	if err != nil || n < 0 || n > maxBytes {
		ex.WriteHead(http.StatusBadRequest, "text/plain", 0)
		return
	}
	if ex.WriteHead(http.StatusOK, "application/octet-stream", int(n)) != nil {
		return
	}
	for off := int64(0); off < n; {
		p := pattern.At(off, int(min(bytesChunk, n-off)))
		if _, err := ex.Write(p); err != nil {
			return
		}
		off += int64(len(p))
	}
}

// sink reads the whole request body and answers with its length. It
// waits for the first bytes with a small buffer (64 bytes, from a pool),
// so that a stream whose body has not begun (bench/idleconns) holds
// little memory of ours and the figure per open stream is the server's
// own. The buffer counts the same for both servers.
func sink(ex exchange) {
	small := smallPool.Get().(*[64]byte)
	n, err := ex.Read(small[:])
	smallPool.Put(small)
	total := int64(n)
	if err == nil {
		buf := bufPool.Get().(*[32 << 10]byte)
		for err == nil {
			n, err = ex.Read(buf[:])
			total += int64(n)
		}
		bufPool.Put(buf)
	}
	if err != io.EOF {
		return
	}
	answerLength(ex, total)
}

// answerLength answers a sink with the body length it read.
func answerLength(ex exchange, total int64) {
	var num [20]byte
	body := strconv.AppendInt(num[:0], total, 10)
	ex.WriteHead(http.StatusOK, "text/plain", len(body))
	ex.Write(body)
}

// sinkLater is sink for POST /sink?later=1, written for a server that
// can wait for body bytes without a goroutine (h2server's
// Stream.WhenReadable): one Read per wake-up, into a pooled buffer taken
// only while bytes are there, and a wait in between. Elsewhere it is sink.
func sinkLater(ex exchange) {
	var total int64
	var step func(exchange)
	step = func(ex exchange) {
		buf := bufPool.Get().(*[32 << 10]byte)
		n, err := ex.Read(buf[:])
		bufPool.Put(buf)
		total += int64(n)
		switch {
		case err == nil:
			if !ex.WhenReadable(step) {
				sink(ex) // not reached: the server could wait once
			}
		case err == io.EOF:
			answerLength(ex, total)
		}
	}
	if !ex.WhenReadable(step) {
		sink(ex)
	}
}

// echo sends the request body back as it arrives: read a chunk, write it,
// flush, repeat (full duplex).
func echo(ex exchange) {
	if ex.WriteHead(http.StatusOK, "application/octet-stream", -1) != nil || ex.Flush() != nil {
		return
	}
	buf := bufPool.Get().(*[32 << 10]byte)
	defer bufPool.Put(buf)
	for {
		n, err := ex.Read(buf[:])
		if n > 0 {
			if _, werr := ex.Write(buf[:n]); werr != nil {
				return
			}
			if ex.Flush() != nil {
				return
			}
		}
		if err != nil {
			return // io.EOF: the whole body came back
		}
	}
}

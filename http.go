package h2server

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The Life of a Request through the adapter
//
// HTTPHandler's ServeStream runs on the stream's handler goroutine. It
// takes a responseState from a pool and builds an *http.Request from the
// stream's request head: the URL from :path (from :authority for
// CONNECT), Header from Request().Header() without Host, Trailer from the
// "trailer" field, Body reading the Stream (http.NoBody when HEADERS
// carried END_STREAM), and the Stream's context, which is cancelled when
// the stream is reset, the connection goes, or the handler returns.
//
// A CONNECT request (RFC 9113 section 8.5) looks as it does in net/http:
// Method "CONNECT", Host and URL.Host the :authority, RequestURI the
// authority, and Body the tunnel's bytes from the client; the handler
// answers with WriteHeader(200) and Flush, then writes the tunnel's
// bytes the other way, flushing as it goes. An extended CONNECT (RFC
// 8441, Server.EnableConnectProtocol) has its URL and RequestURI from
// :path, and its protocol as r.Header[":protocol"], as in net/http.
//
// The handler's ResponseWriter is a one-word responseWriter pointing at
// the pooled state. WriteHeader with a 1xx status sends an informational
// head at once; the final status only snapshots Header(). Body bytes
// collect in a 4 KiB buffer, so a small response that is complete when the
// handler returns goes out with Content-Length, and the first bytes can be
// sniffed for Content-Type. When the buffer overflows, or on Flush, the
// head is committed with Stream.WriteHeaders (Date, sniffed Content-Type)
// and the buffer, and everything later, goes straight to Stream.Write,
// whose quota gives backpressure. When the handler returns, the response
// ends with Stream.WriteTrailers, when it declared trailers (a "Trailer"
// header or http.TrailerPrefix keys), or Stream.Close; the writer is
// detached, and its state goes back to the pool.

// HTTPHandler returns a Handler that serves every stream with h, a
// net/http Handler, as net/http's own HTTP/2 server would: the request
// has Proto "HTTP/2.0", a streaming Body, and a Context cancelled when
// the client resets the stream or disconnects; the ResponseWriter sends
// 1xx responses, sniffs Content-Type, sets Content-Length on small
// complete responses and Date, supports trailers both ways net/http does
// (a "Trailer" header, and http.TrailerPrefix keys), and implements
// http.Flusher and, for http.ResponseController, FlushError,
// SetReadDeadline, SetWriteDeadline and EnableFullDuplex. Reading the
// request body and writing the response may overlap (full duplex is
// always on). A panic with http.ErrAbortHandler resets the stream
// without a log line; other panics are logged and reset the stream. Use
// StreamOf to reach the Stream beneath the ResponseWriter.
//
// What it does not do:
//   - No server push: the ResponseWriter does not implement http.Pusher.
//   - No Hijack: http.Hijacker is not implemented, ResponseController's
//     Hijack returns http.ErrNotSupported, and WriteHeader(101), which
//     HTTP/2 forbids (RFC 9113 section 8.6), resets the stream with a
//     log line.
//   - No http.CloseNotifier (deprecated): use the request's Context.
//   - The request context carries no http.ServerContextKey or
//     http.LocalAddrContextKey value.
//   - A "Connection: close" response header is dropped, not turned into
//     a GOAWAY.
//   - As in net/http, r.Trailer is filled only when the request declared
//     trailers in a "Trailer" header; without one, the trailers a client
//     sends are dropped (Stream.Trailers still has them).
//   - The write deadline bounds a Write blocked on the client's flow
//     control, and the read deadline a blocked Body.Read; neither resets
//     the stream when it passes while nothing is blocked.
//   - The request's Header map is the Stream's Request().Header() map:
//     the adapter removes Host and Trailer from it, and Expect when it
//     asks for 100-continue (the adapter sends the 100 Continue itself),
//     and adds ":protocol" to it for an extended CONNECT.
//   - r.TLS is the connection's TLS state on every request of a TLS
//     connection and nil on h2c, whatever the :scheme, as net/http's
//     HTTP/1 server does (its HTTP/2 server leaves r.TLS nil when
//     :scheme is not "https").
//   - A panic (http.ErrAbortHandler or another) resets the stream at
//     once: response bytes a Flush handed to the connection but that were
//     not yet written are dropped with it, where net/http's Flush waits
//     until they are written.
func HTTPHandler(h http.Handler) Handler {
	if h == nil {
		panic("h2server: HTTPHandler(nil)")
	}
	return &httpHandler{h: h}
}

type httpHandler struct {
	h http.Handler

	// lastAddr caches the string form of the last remote address seen:
	// streams of one connection share the address, and net.Addr.String
	// allocates.
	lastAddr atomic.Pointer[addrString]
}

type addrString struct {
	addr *net.TCPAddr
	s    string
}

// StreamOf returns the Stream under w, a ResponseWriter that HTTPHandler
// gave a handler, looking through wrappers that have an Unwrap method as
// http.ResponseController does. It reports false for any other writer.
//
// Reading, deadlines and Context through the Stream are safe at any
// time. The ResponseWriter buffers the head and the first 4 KiB of body:
// a handler that writes through the Stream should either not use w's
// Write and WriteHeader at all, or call w's Flush before it switches to
// the Stream and then keep to the Stream.
func StreamOf(w http.ResponseWriter) (*Stream, bool) {
	for {
		switch t := w.(type) {
		case interface{ Stream() *Stream }:
			st := t.Stream()
			return st, st != nil
		case interface{ Unwrap() http.ResponseWriter }:
			w = t.Unwrap()
		default:
			return nil, false
		}
	}
}

// firstChunkSize is the body the adapter buffers before it commits the
// response head, as net/http's HTTP/2 server does: a complete response
// this small gets a Content-Length.
const firstChunkSize = 4 << 10

// responseState is a response in progress. Pooled; the handler's
// goroutine (and goroutines it hands the writer to, one at a time, as
// net/http requires) owns it until ServeStream returns.
type responseState struct {
	st     *Stream
	isHead bool

	handlerHeader http.Header // what Header returns; made on first use, never reused
	snap          http.Header // pooled: the head as of WriteHeader, then scratch
	trailers      []string    // declared trailer keys, canonical
	trailerOut    http.Header // pooled: scratch for the trailer block
	buf           []byte      // pooled: the first chunk of body, cap firstChunkSize

	status      int   // the final status, once wroteHeader
	wroteHeader bool  // the final status is chosen
	sentHeader  bool  // the head went to the Stream
	declaredLen int64 // the handler's valid Content-Length, or -1
	written     int64 // body bytes the handler wrote
	err         error // a failure that ends the response (the Stream failed)
	oversized   bool  // snap or trailerOut grew past maxPooledFields

	// Backing arrays for the values the adapter adds to a head, so that
	// adding them does not allocate.
	ctype, clen, date [1]string

	tmpl http.Request // scratch: the request before WithContext copies it
}

var responseStatePool = sync.Pool{New: func() any {
	return &responseState{
		snap:        make(http.Header),
		trailerOut:  make(http.Header),
		buf:         make([]byte, 0, firstChunkSize),
		declaredLen: -1,
	}
}}

// requestExtras holds a request's URL and body in one allocation.
type requestExtras struct {
	url  url.URL
	body requestBody
}

func (a *httpHandler) ServeStream(st *Stream) {
	rws := responseStatePool.Get().(*responseState)
	rws.st = st
	r, ok := a.newRequest(st, rws)
	if !ok {
		rws.release()
		st.WriteHeaders(http.StatusBadRequest, nil)
		return
	}
	w := &responseWriter{rws: rws}
	done := false
	defer func() {
		if done {
			return
		}
		// The handler panicked (or called runtime.Goexit). Nothing
		// buffered is sent.
		w.rws = nil
		rws.release()
		p := recover()
		if p == nil {
			return // runtime.Goexit: let it go on
		}
		if p == http.ErrAbortHandler {
			st.Reset(ErrCodeInternal) // quietly, as net/http does
			return
		}
		panic(p) // runHandler logs it with the stack and resets the stream
	}()
	a.h.ServeHTTP(w, r)
	done = true
	rws.finish()
	w.rws = nil
	rws.release()
}

// release resets rws and returns it to the pool.
func (rws *responseState) release() {
	if rws.oversized || cap(rws.trailers) > maxPooledFields {
		return // maps do not shrink: an odd response's stay out of the pool
	}
	snap, trailerOut, buf, trailers := rws.snap, rws.trailerOut, rws.buf[:0], rws.trailers[:0]
	clear(snap)
	clear(trailerOut)
	*rws = responseState{snap: snap, trailerOut: trailerOut, buf: buf, trailers: trailers, declaredLen: -1}
	responseStatePool.Put(rws)
}

// maxPooledFields bounds the maps a pooled responseState keeps.
const maxPooledFields = 64

// newRequest builds the *http.Request for st; it reports false when the
// :path cannot be parsed.
func (a *httpHandler) newRequest(st *Stream, rws *responseState) (*http.Request, bool) {
	sr := st.Request()
	x := new(requestExtras)
	r := &rws.tmpl
	r.Method = sr.Method
	r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/2.0", 2, 0
	r.Host = sr.Authority
	r.RemoteAddr = a.remoteAddr(sr.RemoteAddr)
	r.TLS = sr.TLS
	if sr.isTunnel() {
		// As net/http: a CONNECT's URL has only the Host, and its
		// RequestURI is the authority, as an HTTP/1 CONNECT's is.
		x.url.Host = sr.Authority
		r.RequestURI = sr.Authority
	} else {
		// An extended CONNECT (RFC 8441) has a :path like other requests.
		if !parseRequestPath(&x.url, sr.Path) {
			rws.tmpl = http.Request{}
			return nil, false
		}
		r.RequestURI = sr.Path
	}
	r.URL = &x.url

	h := sr.Header()
	delete(h, "Host")
	if vv, ok := h["Trailer"]; ok {
		r.Trailer = declaredTrailers(vv)
		delete(h, "Trailer")
	}
	// The adapter answers 100-continue itself (requestBody.Read), so it
	// takes that expectation away; any other is the handler's to see and
	// to answer (417), as with net/http's HTTP/2 server.
	needsContinue := containsToken(h["Expect"], "100-continue")
	if needsContinue {
		delete(h, "Expect")
	}
	if sr.Protocol != "" {
		// net/http's convention (its HTTP/2 server with extended
		// CONNECT on, and golang/go#53208): the protocol is the
		// ":protocol" key of the request's Header.
		h[":protocol"] = []string{sr.Protocol}
	}
	r.Header = h

	st.recv.mu.Lock()
	endStream := st.recv.err == io.EOF && st.recv.n == 0 && st.recv.buf.Len() == 0
	st.recv.mu.Unlock()
	endStream = endStream && st.Trailers() == nil
	if endStream {
		// HEADERS carried END_STREAM: there is no body at all.
		r.ContentLength = 0
		r.Body = http.NoBody
	} else {
		r.ContentLength = sr.ContentLength
		x.body = requestBody{st: st, trailer: r.Trailer, needsContinue: needsContinue}
		r.Body = &x.body
	}
	rws.isHead = sr.Method == http.MethodHead
	req := r.WithContext(st.Context())
	rws.tmpl = http.Request{}
	return req, true
}

// declaredTrailers makes the request's Trailer map from its "Trailer"
// field, with the names net/http ignores left out.
func declaredTrailers(vv []string) http.Header {
	var t http.Header
	for _, v := range vv {
		for key := range strings.SplitSeq(v, ",") {
			key = http.CanonicalHeaderKey(strings.TrimSpace(key))
			switch key {
			case "", "Transfer-Encoding", "Trailer", "Content-Length":
				continue
			}
			if t == nil {
				t = make(http.Header)
			}
			t[key] = nil
		}
	}
	return t
}

func (a *httpHandler) remoteAddr(addr net.Addr) string {
	ta, ok := addr.(*net.TCPAddr)
	if !ok {
		if addr == nil {
			return ""
		}
		return addr.String()
	}
	if c := a.lastAddr.Load(); c != nil && c.addr == ta {
		return c.s
	}
	c := &addrString{addr: ta, s: ta.String()}
	a.lastAddr.Store(c)
	return c.s
}

// parseRequestPath sets u from an origin-form :path as url.ParseRequestURI
// would. Plain paths, which need no unescaping, take a path that does not
// allocate.
func parseRequestPath(u *url.URL, p string) bool {
	if plainPath(p) {
		u.Path, u.RawQuery, _ = strings.Cut(p, "?")
		return true
	}
	v, err := url.ParseRequestURI(p)
	if err != nil {
		return false
	}
	*u = *v
	return true
}

// plainPath reports whether p is "/path" or "/path?query" where path has
// only characters that url.URL keeps as they are (so RawPath stays
// empty), and the query is not empty and has no control character.
func plainPath(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '?' {
			if i == len(p)-1 {
				return false // url.URL.ForceQuery
			}
			for j := i + 1; j < len(p); j++ {
				if c := p[j]; c < 0x20 || c == 0x7f {
					return false
				}
			}
			return true
		}
		if !plainPathByte[c] {
			return false
		}
	}
	return true
}

var plainPathByte = byteSet("-._~/$&+,:;=@")

// requestBody is the request's Body: it reads the Stream.
type requestBody struct {
	st            *Stream
	trailer       http.Header // the request's Trailer map, filled at EOF
	closed        atomic.Bool
	needsContinue bool // owned by Read: send 100 Continue on the first Read
	sawEOF        bool // owned by Read
}

func (b *requestBody) Read(p []byte) (int, error) {
	if b.closed.Load() {
		return 0, http.ErrBodyReadAfterClose
	}
	if b.needsContinue {
		b.needsContinue = false
		// Fails harmlessly once the final head is out.
		b.st.WriteHeaders(http.StatusContinue, nil)
	}
	n, err := b.st.Read(p)
	switch {
	case err == io.EOF:
		if !b.sawEOF {
			b.sawEOF = true
			if b.trailer != nil {
				for k, vv := range b.st.Trailers() {
					b.trailer[k] = vv
				}
			}
		}
	case err == errReadCanceled || err == ErrHandlerReturned:
		err = http.ErrBodyReadAfterClose
	}
	return n, err
}

// Close stops reading: the rest of the body is discarded, and once the
// response is complete the stream is reset with NO_ERROR (RFC 9113
// section 8.1) so that the client stops sending it.
func (b *requestBody) Close() error {
	if !b.closed.Swap(true) {
		b.st.CancelRead(ErrCodeNo)
	}
	return nil
}

// responseWriter is the http.ResponseWriter handlers see. It is detached
// from its pooled state when the handler returns; using it after that
// panics, as net/http's does.
type responseWriter struct {
	rws *responseState
}

var (
	_ http.ResponseWriter = (*responseWriter)(nil)
	_ http.Flusher        = (*responseWriter)(nil)
	_ io.StringWriter     = (*responseWriter)(nil)
)

func (w *responseWriter) state(op string) *responseState {
	rws := w.rws
	if rws == nil {
		panic("h2server: ResponseWriter." + op + " called after the handler returned")
	}
	return rws
}

// Stream returns the stream the response is written to; see StreamOf.
func (w *responseWriter) Stream() *Stream {
	if w.rws == nil {
		return nil
	}
	return w.rws.st
}

func (w *responseWriter) Header() http.Header {
	rws := w.state("Header")
	if rws.handlerHeader == nil {
		rws.handlerHeader = make(http.Header)
	}
	return rws.handlerHeader
}

func (w *responseWriter) WriteHeader(code int) { w.state("WriteHeader").writeHeader(code) }

func (w *responseWriter) Write(p []byte) (int, error) {
	return w.state("Write").write(p, "")
}

func (w *responseWriter) WriteString(s string) (int, error) {
	return w.state("WriteString").write(nil, s)
}

// Flush sends the response head and the body written so far.
func (w *responseWriter) Flush() { w.FlushError() }

// FlushError is Flush, reporting a failure (for http.ResponseController).
func (w *responseWriter) FlushError() error { return w.state("Flush").flush() }

// SetReadDeadline sets when a blocked request Body.Read gives up with
// os.ErrDeadlineExceeded (for http.ResponseController).
func (w *responseWriter) SetReadDeadline(t time.Time) error {
	return w.state("SetReadDeadline").st.SetReadDeadline(t)
}

// SetWriteDeadline sets when a Write blocked on the client's flow control
// gives up with os.ErrDeadlineExceeded (for http.ResponseController).
func (w *responseWriter) SetWriteDeadline(t time.Time) error {
	return w.state("SetWriteDeadline").st.SetWriteDeadline(t)
}

// EnableFullDuplex returns nil: reading the request while writing the
// response always works on HTTP/2 (for http.ResponseController).
func (w *responseWriter) EnableFullDuplex() error {
	w.state("EnableFullDuplex")
	return nil
}

func (rws *responseState) writeHeader(code int) {
	// As net/http: an impossible status is a bug in the handler.
	if code < 100 || code > 999 {
		panic("h2server: invalid WriteHeader code " + strconv.Itoa(code))
	}
	if rws.wroteHeader {
		fn, file, line := relevantCaller()
		rws.st.c.logger().Warn("h2server: superfluous response.WriteHeader call",
			"stream", rws.st.id, "caller", fn, "file", file, "line", line)
		return
	}
	if code == http.StatusSwitchingProtocols {
		rws.wroteHeader, rws.status = true, code
		rws.st.c.logger().Error("h2server: handler wrote status 101 Switching Protocols, which HTTP/2 forbids (RFC 9113 section 8.6); resetting the stream",
			"stream", rws.st.id)
		rws.fail(&StreamError{StreamID: rws.st.id, Code: ErrCodeInternal})
		return
	}
	h := rws.snap
	clear(h)
	if len(rws.handlerHeader) > maxPooledFields {
		rws.oversized = true
	}
	if code < 200 {
		// An informational response goes out now, with the header as it
		// is (RFC 8297: 103 Early Hints carries Link fields), but without
		// the fields that describe a body.
		for k, vv := range rws.handlerHeader {
			if !isContentLengthKey(k) && k != "Transfer-Encoding" && !strings.HasPrefix(k, http.TrailerPrefix) {
				h[k] = vv
			}
		}
		rws.writeHead(code, h)
		clear(h)
		return
	}
	rws.wroteHeader, rws.status = true, code
	// Snapshot the header: changes after WriteHeader do not reach the
	// head (except as trailers).
	var otherCL []string // a content-length key set without Set
	for k, vv := range rws.handlerHeader {
		switch {
		case strings.HasPrefix(k, http.TrailerPrefix):
		case k != "Content-Length" && isContentLengthKey(k):
			otherCL = vv
		default:
			h[k] = vv
		}
	}
	if _, ok := h["Content-Length"]; !ok && otherCL != nil {
		// header["content-length"] declares a length all the same: it
		// goes out under the canonical key, checked like it.
		h["Content-Length"] = otherCL
	}
	if vv, ok := h["Content-Length"]; ok {
		// One valid length, or none: the Stream refuses a head whose
		// lengths do not parse or disagree.
		if n, err := strconv.ParseUint(firstValue(vv), 10, 63); err == nil {
			rws.declaredLen = int64(n)
			h["Content-Length"] = vv[:1]
		} else {
			delete(h, "Content-Length")
		}
	}
}

func firstValue(vv []string) string {
	if len(vv) == 0 {
		return ""
	}
	return vv[0]
}

// writeHead sends a head through the Stream. Fields the Stream refuses
// are dropped, as net/http drops them, rather than failing the response.
func (rws *responseState) writeHead(code int, h http.Header) error {
	// A new header per response: not worth the Server's memo of heads.
	err := rws.st.writeHeaders(code, h, false)
	var fe *fieldError
	if errors.As(err, &fe) {
		err = rws.st.writeHeaders(code, validFields(h), false)
	}
	return err
}

// validFields returns the fields of h the Stream can send. Slow path.
func validFields(h http.Header) http.Header {
	out := make(http.Header, len(h))
	for k, vv := range h {
		if !validFieldName(lowerName(k)) {
			continue
		}
		if isContentLengthKey(k) && declaredContentLength(h) < 0 {
			continue // lengths that do not parse or disagree
		}
		for _, v := range vv {
			if validResponseValue(v) {
				out[k] = append(out[k], v)
			}
		}
	}
	return out
}

// relevantCaller finds the handler code that called into the writer, for
// a log line, skipping net/http (ResponseController) and the adapter.
func relevantCaller() (fn, file string, line int) {
	var pc [16]uintptr
	n := runtime.Callers(2, pc[:])
	frames := runtime.CallersFrames(pc[:n])
	for {
		f, more := frames.Next()
		if !strings.HasPrefix(f.Function, "net/http.") &&
			!strings.Contains(f.Function, "h2server.(*responseWriter)") &&
			!strings.Contains(f.Function, "h2server.(*responseState)") {
			return f.Function, f.File, f.Line
		}
		if !more {
			return "", "", 0
		}
	}
}

func bodyAllowedForStatus(status int) bool {
	return status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}

// write appends p or s (one of them is empty) to the body.
func (rws *responseState) write(p []byte, s string) (int, error) {
	if rws.err != nil {
		return 0, rws.err
	}
	if !rws.wroteHeader {
		rws.writeHeader(http.StatusOK)
	}
	if !bodyAllowedForStatus(rws.status) {
		return 0, http.ErrBodyNotAllowed
	}
	n := len(p) + len(s)
	rws.written += int64(n)
	if rws.declaredLen >= 0 && rws.written > rws.declaredLen {
		return 0, http.ErrContentLength
	}
	done := 0
	if !rws.sentHeader {
		if room := cap(rws.buf) - len(rws.buf); n <= room {
			rws.buf = append(rws.buf, p...)
			rws.buf = append(rws.buf, s...)
			return n, nil
		} else if p != nil {
			rws.buf, p = append(rws.buf, p[:room]...), p[room:]
		} else {
			rws.buf, s = append(rws.buf, s[:room]...), s[room:]
		}
		// The first chunk is full: the head and it go out, the rest follows.
		if err := rws.commit(false); err != nil {
			return 0, err
		}
		done = n - len(p) - len(s)
	}
	if rws.isHead {
		return n, nil // HEAD: no body is sent
	}
	if p != nil {
		m, err := rws.st.Write(p)
		return done + m, err
	}
	// A string goes through the (now empty) buffer, without a []byte
	// conversion of the whole.
	for len(s) > 0 {
		k := copy(rws.buf[:cap(rws.buf)], s)
		m, err := rws.st.Write(rws.buf[:k])
		done += m
		if err != nil {
			return done, err
		}
		s = s[k:]
	}
	return done, nil
}

// commit sends the final head and the buffered first chunk. done says
// the handler has returned, so the chunk is the whole body.
func (rws *responseState) commit(done bool) error {
	rws.sentHeader = true
	h := rws.snap
	body := rws.buf
	allowed := bodyAllowedForStatus(rws.status)
	// RFC 9110 section 9.3.6: no Content-Length on a 2xx answer to CONNECT.
	tunnel := rws.st.req.Method == http.MethodConnect && rws.status/100 == 2
	if _, ok := h["Content-Length"]; !ok && done && allowed && !tunnel && (len(body) > 0 || !rws.isHead) {
		rws.clen[0] = strconv.Itoa(len(body))
		h["Content-Length"] = rws.clen[:]
	}
	if _, ok := h["Content-Type"]; !ok && allowed && len(body) > 0 && h.Get("Content-Encoding") == "" {
		rws.ctype[0] = http.DetectContentType(body)
		h["Content-Type"] = rws.ctype[:]
	}
	if _, ok := h["Date"]; !ok {
		rws.date[0] = httpDate()
		h["Date"] = rws.date[:]
	}
	for _, v := range h["Trailer"] {
		for key := range strings.SplitSeq(v, ",") {
			rws.declareTrailer(strings.TrimSpace(key))
		}
	}
	err := rws.writeHead(rws.status, h)
	clear(h)
	if err != nil {
		// The stream failed, or the handler wrote a head through it.
		rws.err = err
		return err
	}
	if rws.isHead {
		rws.buf = rws.buf[:0]
		return rws.st.Close()
	}
	if len(body) > 0 {
		_, err = rws.st.Write(body)
		rws.buf = rws.buf[:0]
	}
	return err
}

func (rws *responseState) declareTrailer(k string) {
	k = http.CanonicalHeaderKey(k)
	if k == "" || !validTrailerName(k) {
		return
	}
	for _, t := range rws.trailers {
		if t == k {
			return
		}
	}
	rws.trailers = append(rws.trailers, k)
}

func (rws *responseState) flush() error {
	if rws.err != nil {
		return rws.err
	}
	if !rws.wroteHeader {
		rws.writeHeader(http.StatusOK)
		if rws.err != nil {
			return rws.err
		}
	}
	if !rws.sentHeader {
		if err := rws.commit(false); err != nil {
			return err
		}
	}
	return rws.st.Flush()
}

// fail resets the stream; the response is over.
func (rws *responseState) fail(err *StreamError) {
	rws.err = err
	rws.st.Reset(err.Code)
}

// finish ends the response after the handler returned.
func (rws *responseState) finish() {
	if rws.err != nil {
		return
	}
	if !rws.wroteHeader {
		rws.writeHeader(http.StatusOK)
	}
	if !rws.sentHeader {
		if rws.commit(true) != nil {
			return
		}
	}
	if rws.isHead {
		return // the head ended the stream
	}
	if rws.declaredLen >= 0 && rws.written < rws.declaredLen && bodyAllowedForStatus(rws.status) {
		// The body is shorter than its Content-Length: a malformed
		// response (RFC 9113 section 8.1.1) the client must not take
		// for a complete one.
		rws.fail(&StreamError{StreamID: rws.st.id, Code: ErrCodeInternal})
		return
	}
	t := rws.trailerOut
	for _, k := range rws.trailers {
		if vv, ok := rws.handlerHeader[k]; ok {
			t[k] = vv
		}
	}
	for k, vv := range rws.handlerHeader {
		if tk, ok := strings.CutPrefix(k, http.TrailerPrefix); ok {
			if tk = http.CanonicalHeaderKey(tk); validTrailerName(tk) {
				t[tk] = vv
			}
		}
	}
	if len(t) == 0 {
		rws.st.Close()
		return
	}
	if len(t) > maxPooledFields {
		rws.oversized = true
	}
	err := rws.st.WriteTrailers(t)
	var fe *fieldError
	if errors.As(err, &fe) {
		rws.st.WriteTrailers(validFields(t))
	}
	clear(t)
}

// httpDate returns the current time in http.TimeFormat, formatted once a
// second.
func httpDate() string {
	now := time.Now()
	sec := now.Unix()
	if d := dateCache.Load(); d != nil && d.sec == sec {
		return d.s
	}
	d := &cachedDate{sec: sec, s: now.UTC().Format(http.TimeFormat)}
	dateCache.Store(d)
	return d.s
}

type cachedDate struct {
	sec int64
	s   string
}

var dateCache atomic.Pointer[cachedDate]

// containsToken reports whether a comma-separated list in vv holds token,
// compared without case (RFC 9110 section 5.6.1).
func containsToken(vv []string, token string) bool {
	for _, v := range vv {
		for part := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(part), token) {
				return true
			}
		}
	}
	return false
}

// validTrailerName reports whether a canonical key may be sent as a
// trailer: a valid field name that is not one of the fields RFC 9110
// section 6.5.1 keeps out of trailers (framing, routing, authentication,
// request modifiers, content handling).
func validTrailerName(k string) bool {
	if !validFieldName(lowerName(k)) {
		return false
	}
	switch k {
	case "Authorization", "Cache-Control", "Connection", "Content-Encoding", "Content-Length",
		"Content-Range", "Content-Type", "Expect", "Host", "Keep-Alive", "Max-Forwards", "Pragma",
		"Proxy-Authenticate", "Proxy-Authorization", "Proxy-Connection", "Range", "Realm", "Te",
		"Trailer", "Transfer-Encoding", "Www-Authenticate":
		return false
	}
	return true
}

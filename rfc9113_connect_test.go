package h2server

// RFC 9113 section 8.5, the CONNECT method: a request of :method and
// :authority (host:port) only, whose stream becomes a byte tunnel both
// ways once answered with 2xx. DATA frames carry the bytes, END_STREAM is
// a half-close (a TCP FIN for a proxy), RST_STREAM CONNECT_ERROR a failed
// or broken upstream; other frames may not travel on it. Extended CONNECT
// (RFC 8441) is in rfc8441_test.go; the limits that apply to tunnels
// (concurrency, idle, stall, shutdown) in connect_limits_test.go.

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"testing"
	"testing/synctest"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// openTunnel sends a CONNECT for authority on stream id and accepts it
// from the paused handler (200 and Flush), checking the head the client
// gets: :status 200, no END_STREAM, no content-length.
func openTunnel(tst *serverTester, id uint32, authority string) *handlerCall {
	tst.t.Helper()
	tst.writeHeaders(id, false, connectReq(authority)...)
	c := tst.call(id)
	if err := c.st.WriteHeaders(200, nil); err != nil {
		tst.t.Fatal(err)
	}
	if err := c.st.Flush(); err != nil {
		tst.t.Fatal(err)
	}
	h := tst.wantHeaders(id, false)
	if s := h.PseudoValue("status"); s != "200" {
		tst.t.Fatalf("CONNECT answered %q, want 200", s)
	}
	return c
}

// pausedAlive shows that a connection whose handlers pause still serves:
// PING is answered and a request on stream next runs and ends.
func pausedAlive(tst *serverTester, next uint32) {
	tst.t.Helper()
	confWantPing(tst)
	tst.get(next, "/next")
	close(tst.call(next).release)
	if r := tst.wantResponse(next); r.status != "200" {
		tst.t.Fatalf("stream %d: got %+v, want 200", next, r)
	}
}

// readTunnel reads n bytes of the tunnel on the test goroutine.
func readTunnel(t testing.TB, st *Stream, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := io.ReadFull(st, b); err != nil {
		t.Fatalf("reading the tunnel: %v", err)
	}
	return string(b)
}

func TestRFC9113_8_5_ConnectRequestHead(t *testing.T) {
	// "The :method pseudo-header field is set to CONNECT. The :scheme
	// and :path pseudo-header fields MUST be omitted. The :authority
	// pseudo-header field contains the host and port to connect to."
	run(t, func(t *testing.T) {
		tst := confStart(t, nil)
		c := openTunnel(tst, 1, "[2001:db8::1]:8443")
		r := c.st.Request()
		if r.Method != "CONNECT" || r.Authority != "[2001:db8::1]:8443" || r.Scheme != "" || r.Path != "" || r.Protocol != "" {
			t.Errorf("Request = %+v, want CONNECT to [2001:db8::1]:8443 with no scheme, path or protocol", r)
		}
		close(c.release)
		tst.wantData(1, true, "")
	})
}

func TestRFC9113_8_5_TunnelCarriesBytesBothWays(t *testing.T) {
	// "all subsequent DATA frames sent on that stream correspond to data
	// sent on the TCP connection": in both directions, in order.
	run(t, func(t *testing.T) {
		tst := confStart(t, nil)
		c := openTunnel(tst, 1, "example.com:443")
		for i, msg := range []string{"hello", "over", "the tunnel"} {
			tst.fr.WriteData(1, false, []byte(msg))
			if got := readTunnel(t, c.st, len(msg)); got != msg {
				t.Fatalf("message %d: handler read %q, want %q", i, got, msg)
			}
			reply := "echo " + msg
			io.WriteString(c.st, reply)
			c.st.Flush()
			tst.wantData(1, false, reply)
		}
		// The handler returns with the client's side still open: the
		// tunnel ends, and RST_STREAM NO_ERROR stops the client's bytes
		// (section 8.1).
		close(c.release)
		tst.wantData(1, true, "")
		tst.wantRSTStream(1, ErrCodeNo)
		tst.wantIdle()
	})
}

func TestRFC9113_8_5_ClientHalfCloseIsEOF(t *testing.T) {
	// "The TCP connection can be closed by either peer. The END_STREAM
	// flag on a DATA frame is treated as being equivalent to the TCP FIN
	// bit": the handler reads io.EOF, and its side goes on sending.
	run(t, func(t *testing.T) {
		tst := confStart(t, nil)
		c := openTunnel(tst, 1, "example.com:443")
		tst.fr.WriteData(1, true, []byte("last words"))
		if got := readAll(t, c.st); got != "last words" {
			t.Fatalf("handler read %q, want \"last words\" then EOF", got)
		}
		for _, msg := range []string{"still", "sending"} {
			io.WriteString(c.st, msg)
			c.st.Flush()
			tst.wantData(1, false, msg)
		}
		if err := c.st.Close(); err != nil {
			t.Fatal(err)
		}
		tst.wantData(1, true, "")
		// Both sides ended cleanly: no reset follows when the handler returns.
		close(c.release)
		tst.wantIdle()
	})
}

func TestRFC9113_8_5_ServerHalfCloseKeepsReading(t *testing.T) {
	// The upstream's FIN: the handler's Close sends END_STREAM, and the
	// client's bytes keep coming until it ends its side.
	run(t, func(t *testing.T) {
		tst := confStart(t, nil)
		c := openTunnel(tst, 1, "example.com:443")
		io.WriteString(c.st, "bye")
		c.st.Close()
		tst.wantData(1, true, "bye")
		tst.fr.WriteData(1, false, []byte("more"))
		tst.fr.WriteData(1, true, []byte(" and the end"))
		if got := readAll(t, c.st); got != "more and the end" {
			t.Fatalf("handler read %q after its half-close", got)
		}
		close(c.release)
		tst.wantIdle()
	})
}

func TestRFC9113_8_5_ConnectErrorReportsBrokenUpstream(t *testing.T) {
	// "A proxy treats any error in the TCP connection, which includes
	// receiving a TCP segment with the RST bit set, as a stream error of
	// type CONNECT_ERROR": Reset(ErrCodeConnect), mid-tunnel, and before
	// any answer (the upstream refused the connection).
	for _, accepted := range []bool{true, false} {
		name := map[bool]string{true: "after_200", false: "refused"}[accepted]
		t.Run(name, func(t *testing.T) {
			run(t, func(t *testing.T) {
				tst := confStart(t, nil)
				var c *handlerCall
				if accepted {
					c = openTunnel(tst, 1, "example.com:443")
				} else {
					tst.writeHeaders(1, false, connectReq("example.com:443")...)
					c = tst.call(1)
				}
				c.st.Reset(ErrCodeConnect)
				tst.wantRSTStream(1, ErrCodeConnect)
				if _, err := c.st.Read(make([]byte, 1)); err == nil {
					t.Error("Read after Reset succeeded")
				}
				close(c.release)
				tst.wantIdle()
				pausedAlive(tst, 3)
			})
		})
	}
}

func TestRFC9113_8_5_ClientResetEndsTunnel(t *testing.T) {
	// "a proxy MUST send a TCP segment with the RST bit set if it detects
	// an error with the stream": the handler learns of the client's
	// RST_STREAM from Read, Write and its context, to reset its upstream.
	run(t, func(t *testing.T) {
		tst := confStart(t, nil)
		c := openTunnel(tst, 1, "example.com:443")
		read := readInBackground(c.st)
		synctest.Wait()
		tst.fr.WriteRSTStream(1, http2.ErrCodeConnect)
		wantStreamError(t, <-read, ErrCodeConnect)
		select {
		case <-c.st.Context().Done():
		default:
			t.Fatal("the handler's context lives on after the client's reset")
		}
		var se *StreamError
		if cause := context.Cause(c.st.Context()); !errors.As(cause, &se) || se.Code != ErrCodeConnect {
			t.Errorf("context cause %v, want the client's CONNECT_ERROR", cause)
		}
		if _, err := c.st.Write([]byte("x")); err == nil {
			t.Error("Write after the client's reset succeeded")
		}
		close(c.release)
		tst.wantIdle()
	})
}

func TestRFC9113_8_5_NoContentLengthOn2xx(t *testing.T) {
	// RFC 9110 section 9.3.6: "A server MUST NOT send any
	// Transfer-Encoding or Content-Length header fields in a 2xx
	// (Successful) response to CONNECT." A refusal is an ordinary
	// response and keeps its length.
	run(t, func(t *testing.T) {
		tst := confStart(t, nil)
		tst.writeHeaders(1, false, connectReq("example.com:443")...)
		c := tst.call(1)
		if err := c.st.WriteHeaders(200, http.Header{"Content-Length": {"5"}, "X-Tunnel": {"yes"}}); err != nil {
			t.Fatal(err)
		}
		c.st.Flush()
		h := tst.wantHeaders(1, false)
		if slices.ContainsFunc(h.Fields, func(f hpack.HeaderField) bool { return f.Name == "content-length" }) {
			t.Errorf("2xx to CONNECT carries content-length: %s", fieldsString(h.Fields))
		}
		// Past the 5 bytes the handler had declared: a tunnel has no length.
		io.WriteString(c.st, "more than five bytes")
		c.st.Flush()
		tst.wantData(1, false, "more than five bytes")
		close(c.release)
		tst.wantData(1, true, "")
		tst.wantRSTStream(1, ErrCodeNo)

		tst.writeHeaders(3, true, connectReq("example.com:443")...)
		c = tst.call(3)
		c.st.WriteHeaders(http.StatusBadGateway, http.Header{"Content-Length": {"3"}})
		io.WriteString(c.st, "bad")
		close(c.release)
		r := tst.wantResponse(3)
		if r.status != "502" || !slices.Contains(r.header, hpack.HeaderField{Name: "content-length", Value: "3"}) {
			t.Errorf("refusal: got %+v, want 502 with content-length 3", r)
		}
	})
}

func TestRFC9113_8_5_NoTrailersOnTunnel(t *testing.T) {
	// "Frame types other than DATA or stream management frames
	// (RST_STREAM, WINDOW_UPDATE, and PRIORITY) MUST NOT be sent on a
	// connected stream": WriteTrailers with fields fails (and sends
	// nothing); without fields it is a plain half-close.
	run(t, func(t *testing.T) {
		tst := confStart(t, nil)
		c := openTunnel(tst, 1, "example.com:443")
		if err := c.st.WriteTrailers(http.Header{"X-Checksum": {"1"}}); err == nil {
			t.Error("WriteTrailers with fields on a tunnel succeeded")
		}
		tst.wantIdle()
		if err := c.st.WriteTrailers(nil); err != nil {
			t.Fatal(err)
		}
		tst.wantData(1, true, "")
		close(c.release)
	})
}

func TestRFC9113_8_5_HeadersOnConnectedStreamIsStreamError(t *testing.T) {
	// "... and MUST be treated as a stream error if received": a second
	// HEADERS frame (trailers, with or without END_STREAM) on a tunnel.
	for _, end := range []bool{true, false} {
		confStreamErrors(t, []confStreamCase{{
			name: map[bool]string{true: "end_stream", false: "no_end_stream"}[end],
			code: ErrCodeProtocol,
			provoke: func(tst *serverTester) {
				openTunnel(tst, 3, "example.com:443")
				tst.fr.WriteData(3, false, []byte("bytes"))
				tst.writeHeaders(3, end, "x-trailer", "no")
			},
		}})
	}
}

func TestRFC9113_8_5_MalformedConnect(t *testing.T) {
	// Section 8.5's request form, and section 8.1.1: a malformed request
	// is a stream error of type PROTOCOL_ERROR; no handler runs. (The
	// cases with :scheme, with :path and without :authority are in
	// TestRFC9113_8_3_1_RequestPseudoHeaderFields; authority forms in
	// headers_authority_test.go.)
	confStreamErrors(t, []confStreamCase{
		confMalformed("scheme_and_path", ":method", "CONNECT", ":scheme", "https", ":authority", "a:443", ":path", "/"),
		confMalformed("empty_authority", ":method", "CONNECT", ":authority", ""),
		// The Host field stands in for :authority in other requests only.
		confMalformed("host_field_only", ":method", "CONNECT", "host", "a:443"),
		confMalformed("no_port", connectReq("example.com")...),
		confMalformed("named_port", connectReq("example.com:https")...),
		confMalformed("no_host", connectReq(":443")...),
		confMalformed("userinfo", connectReq("user:pw@example.com:443")...),
		confMalformed("path_in_authority", connectReq("example.com:443/x")...),
		// RFC 8441 section 3: without our SETTINGS_ENABLE_CONNECT_PROTOCOL
		// (off by default), :protocol is unknown.
		confMalformed("protocol_without_setting", ":method", "CONNECT", ":protocol", "websocket", ":scheme", "https", ":authority", "a", ":path", "/"),
	})
}

func TestRFC9113_8_5_TunnelIsFlowControlled(t *testing.T) {
	// Section 6.9 applies to tunnels as to any stream: an upstream that
	// does not take the client's bytes (a handler that does not Read)
	// leaves them in our receive buffer, which never holds more than the
	// window we advertised, and we credit no window until the handler
	// reads. A byte past it is a flow-control error.
	const window = 16 << 10
	run(t, func(t *testing.T) {
		tst := confStart(t, nil, func(s *Server) { s.InitialStreamWindowSize = window })
		c := openTunnel(tst, 1, "example.com:443")
		chunk := make([]byte, 4<<10)
		for sent := 0; sent < window; sent += len(chunk) {
			tst.fr.WriteData(1, false, chunk)
		}
		synctest.Wait()
		for f := tst.readFrame(); f != nil; f = tst.readFrame() {
			if wu, ok := f.(*http2.WindowUpdateFrame); !ok || wu.StreamID == 1 {
				t.Fatalf("got %v while the handler reads nothing, want at most connection WINDOW_UPDATEs", summarize(f))
			}
		}
		c.st.recv.mu.Lock()
		buffered := c.st.recv.buf.Len()
		c.st.recv.mu.Unlock()
		if buffered != window {
			t.Fatalf("%d bytes buffered, want the window, %d", buffered, window)
		}
		// The handler reads half: a quarter window or more is credited back.
		readTunnel(t, c.st, window/2)
		tst.wantWindowUpdate(1, window/2)
		tst.fr.WriteData(1, false, make([]byte, window/2))
		tst.wantIdle()
		tst.fr.WriteData(1, false, []byte{0}) // one byte too many
		tst.wantRSTStream(1, ErrCodeFlowControl)
		close(c.release)
		pausedAlive(tst, 3)
	})
}

func TestRFC9113_8_5_HTTPHandlerPresentsConnectAsNetHTTP(t *testing.T) {
	// The adapter gives an http.Handler the request net/http's servers
	// give it (Method CONNECT, Host and URL.Host the authority,
	// RequestURI the authority, no path), and a proxy written for
	// net/http works unchanged: WriteHeader(200) and Flush accept the
	// tunnel, r.Body reads the client's bytes, Write and Flush send.
	run(t, func(t *testing.T) {
		type seen struct {
			method, host, urlHost, path, requestURI, proto string
			protocol                                       []string
		}
		got := make(chan seen, 1)
		tst := confStart(t, HTTPHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got <- seen{r.Method, r.Host, r.URL.Host, r.URL.Path, r.RequestURI, r.Proto, r.Header[":protocol"]}
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			buf := make([]byte, 64)
			for {
				n, err := r.Body.Read(buf)
				if n > 0 {
					w.Write(append([]byte("echo "), buf[:n]...))
					w.(http.Flusher).Flush()
				}
				if err != nil {
					return // io.EOF: the client's half-close ends ours
				}
			}
		})))
		tst.writeHeaders(1, false, connectReq("example.com:443")...)
		h := tst.wantHeaders(1, false)
		if s := h.PseudoValue("status"); s != "200" {
			t.Fatalf("status %q", s)
		}
		for _, f := range h.Fields {
			if f.Name == "content-length" {
				t.Errorf("2xx to CONNECT carries content-length %q", f.Value)
			}
		}
		want := seen{"CONNECT", "example.com:443", "example.com:443", "", "example.com:443", "HTTP/2.0", nil}
		if s := <-got; !slices.Equal(s.protocol, want.protocol) || s.method != want.method || s.host != want.host ||
			s.urlHost != want.urlHost || s.path != want.path || s.requestURI != want.requestURI || s.proto != want.proto {
			t.Errorf("handler saw %+v, want %+v", s, want)
		}
		tst.fr.WriteData(1, false, []byte("one"))
		tst.wantData(1, false, "echo one")
		tst.fr.WriteData(1, true, []byte("two"))
		tst.wantData(1, true, "echo two")
		tst.wantIdle()
	})
}

package h2server

// Conformance tests: one raw-frame test per h2spec v2.2.1 section, named
// after the section of RFC 9113 (HTTP/2) or RFC 7541 (HPACK) that states
// the rule, so that a regression names the rule it breaks. Each asserts
// the exact error code the RFC requires, whether the error is a stream
// error (RST_STREAM, and the rest of the connection carries on) or a
// connection error (GOAWAY, then the connection closes).
//
// The tests live in one file per section or topic:
//
//	rfc9113_preface_test.go      3.4        connection preface
//	rfc9113_frames_test.go       4.x, 5.5   frame format and size, field blocks, extension frames
//	rfc9113_states_test.go       5.1.x      stream states, identifiers, concurrency; streamState
//	rfc9113_errors_test.go       5.4, 7     connection errors, error codes
//	rfc9113_frame_types_test.go  6.x        DATA, HEADERS, PRIORITY (and 5.3.1), RST_STREAM, PING, CONTINUATION
//	rfc9113_settings_test.go     6.5.x      SETTINGS
//	rfc9113_goaway_test.go       6.8        GOAWAY
//	rfc9113_flow_test.go         6.9.x      WINDOW_UPDATE, flow-control windows
//	rfc9113_http_test.go         8.x        requests, content-length, fields, pseudo-headers, push
//	rfc7541_hpack_test.go        RFC 7541   HPACK decoding
//
// This file holds the helpers they share.
//
// h2spec numbers its sections after RFC 7540; RFC 9113 renumbered a few:
//
//	h2spec http2/3.5      RFC 9113 3.4    connection preface
//	h2spec http2/5.3.1    RFC 9113 5.3.1  (RFC 7540 priorities, kept as background)
//	h2spec http2/8.1.2    RFC 9113 8.2.1  field validity
//	h2spec http2/8.1.2.1  RFC 9113 8.3    pseudo-header fields
//	h2spec http2/8.1.2.2  RFC 9113 8.2.2  connection-specific fields
//	h2spec http2/8.1.2.3  RFC 9113 8.3.1  request pseudo-header fields
//	h2spec http2/8.1.2.6  RFC 9113 8.1.1  malformed messages (content-length)
//	h2spec http2/8.2      RFC 9113 8.4    server push
//	h2spec generic/1..5   RFC 9113 3.4, 5.1, 6, 8.1 and RFC 7541 6 (positive cases)
//	h2spec hpack/*        RFC 7541, same numbers
//
// The other sections keep their numbers. Where RFC 9113 changed what RFC
// 7540 (and so h2spec) asked for, the test follows RFC 9113 and says so.

import (
	"io"
	"testing"
	"testing/synctest"

	"golang.org/x/net/http2"
)

// confHandler reads the whole request body, then answers with a short
// body (more than 5 bytes, which the flow-control cases need).
func confHandler(st *Stream) {
	io.Copy(io.Discard, st)
	io.WriteString(st, "response to "+st.Request().Path)
}

// confStart returns a server connection past the preface in both
// directions. A nil handler pauses every request for the test (see
// serverTester.call). The client's Framer may write illegal frames.
func confStart(t *testing.T, h Handler, opts ...func(*Server)) *serverTester {
	t.Helper()
	tst := newServerTester(t, h, opts...)
	tst.fr.AllowIllegalWrites = true
	tst.greet()
	return tst
}

// confWantConnError expects a connection error: GOAWAY with code, then
// the server closes the connection (RFC 9113 section 5.4.1).
func confWantConnError(tst *serverTester, code ErrCode) *http2.GoAwayFrame {
	tst.t.Helper()
	f := tst.wantGoAway(code)
	tst.wantClosed()
	return f
}

// confWantPing sends a PING and expects its ACK with the same payload:
// the connection is alive and reading.
func confWantPing(tst *serverTester) {
	tst.t.Helper()
	data := [8]byte{'c', 'o', 'n', 'f', 'o', 'r', 'm', 0}
	tst.fr.WritePing(false, data)
	f := wantFrame[*http2.PingFrame](tst)
	if !f.IsAck() || f.Data != data {
		tst.t.Fatalf("got PING ack=%v data=%q, want PING ACK %q", f.IsAck(), f.Data, data)
	}
}

// confAlive shows that a connection with a running handler (not a paused
// one) still serves: PING is answered and a new request on stream next
// gets its response.
func confAlive(tst *serverTester, next uint32) {
	tst.t.Helper()
	confWantPing(tst)
	tst.get(next, "/next")
	if r := tst.wantResponse(next); r.status != "200" || r.body != "response to /next" {
		tst.t.Fatalf("stream %d: got %+v, want 200 \"response to /next\"", next, r)
	}
}

// confBystander opens stream 1 as a POST whose handler waits (testers
// with a nil handler only), for a test to show that a stream error on
// another stream left it alone.
func confBystander(tst *serverTester) *handlerCall {
	tst.t.Helper()
	tst.writeHeaders(1, false, reqFields("POST", "/bystander")...)
	return tst.call(1)
}

// confUnaffected shows that a stream error disturbed nothing else: the
// server sent nothing more, the bystander stream still receives its body
// and sends its response, PING is answered, and a new request on stream
// next is served.
func confUnaffected(tst *serverTester, by *handlerCall, next uint32) {
	tst.t.Helper()
	tst.wantIdle()
	id := by.st.ID()
	tst.fr.WriteData(id, true, []byte("bystander body"))
	if got := readAll(tst.t, by.st); got != "bystander body" {
		tst.t.Fatalf("bystander read %q", got)
	}
	io.WriteString(by.st, "bystander response")
	close(by.release)
	if r := tst.wantResponse(id); r.status != "200" || r.body != "bystander response" {
		tst.t.Fatalf("bystander: got %+v", r)
	}
	confWantPing(tst)
	tst.get(next, "/next")
	c := tst.call(next)
	close(c.release)
	if r := tst.wantResponse(next); r.status != "200" {
		tst.t.Fatalf("stream %d: got %+v", next, r)
	}
}

// confWantNoCall fails if a handler ran for stream id.
func confWantNoCall(tst *serverTester, id uint32) {
	tst.t.Helper()
	synctest.Wait()
	for {
		select {
		case c := <-tst.calls:
			tst.called[c.st.ID()] = c
			continue
		default:
		}
		break
	}
	if _, ok := tst.called[id]; ok {
		tst.t.Fatalf("a handler ran for stream %d, want none", id)
	}
}

// confConnCase is a connection error: send provokes it on a fresh,
// greeted connection whose handler pauses.
type confConnCase struct {
	name string
	send func(tst *serverTester)
	code ErrCode
}

func confConnErrors(t *testing.T, cases []confConnCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			run(t, func(t *testing.T) {
				tst := confStart(t, nil)
				tc.send(tst)
				confWantConnError(tst, tc.code)
			})
		})
	}
}

// confStreamCase is a stream error on stream 3: provoke causes it while
// stream 1 is open (the bystander); the server must answer with exactly
// RST_STREAM(3, code) and carry on.
type confStreamCase struct {
	name      string
	provoke   func(tst *serverTester)
	code      ErrCode
	noHandler bool // the request was rejected before a handler could run
	// more: provoke sends frames on stream 3 after the one in error.
	// RFC 9113 section 5.1 has us discard them, and lets us refuse them:
	// they may draw more RST_STREAM frames with the same code or
	// STREAM_CLOSED, depending on when the reset reached the writer.
	more bool
}

func confStreamErrors(t *testing.T, cases []confStreamCase, opts ...func(*Server)) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			run(t, func(t *testing.T) {
				tst := confStart(t, nil, opts...)
				by := confBystander(tst)
				tc.provoke(tst)
				tst.wantRSTStream(3, tc.code)
				for tc.more {
					synctest.Wait()
					if tst.cc.buffered() == 0 {
						break
					}
					f := wantFrame[*http2.RSTStreamFrame](tst)
					if c := ErrCode(f.ErrCode); f.StreamID != 3 || (c != tc.code && c != ErrCodeStreamClosed) {
						t.Fatalf("got %v after RST_STREAM(3, %v)", summarize(f), tc.code)
					}
				}
				if tc.noHandler {
					confWantNoCall(tst, 3)
				}
				confUnaffected(tst, by, 5)
			})
		})
	}
}

package h2server

// Conformance tests: one raw-frame test per h2spec v2.2.1 section, named
// after the section of RFC 9113 (HTTP/2) or RFC 7541 (HPACK) that states
// the rule, so that a regression names the rule it breaks. Each asserts
// the exact error code the RFC requires, whether the error is a stream
// error (RST_STREAM, and the rest of the connection carries on) or a
// connection error (GOAWAY, then the connection closes).
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
	"bytes"
	"context"
	"io"
	"strings"
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

// confMalformed sends a request with fields on stream 3.
func confMalformed(name string, fields ...string) confStreamCase {
	return confStreamCase{
		name:      name,
		provoke:   func(tst *serverTester) { tst.writeHeaders(3, true, fields...) },
		code:      ErrCodeProtocol,
		noHandler: true,
	}
}

// h2spec generic/1 and http2/3.5.

func TestRFC9113_3_4_ServerPrefaceIsSettings(t *testing.T) {
	// h2spec generic/1/1 and http2/3.5/1: the server's preface, its first
	// frame, is a SETTINGS frame (not an ACK).
	run(t, func(t *testing.T) {
		tst := newServerTester(t, HandlerFunc(confHandler))
		tst.writePreface()
		tst.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 65535})
		if f := wantFrame[*http2.SettingsFrame](tst); f.IsAck() {
			t.Fatal("first frame is a SETTINGS ACK")
		}
	})
}

func TestRFC9113_3_4_InvalidPrefaceIsGoAwayThenClose(t *testing.T) {
	// h2spec http2/3.5/2: an invalid preface is a connection error of
	// type PROTOCOL_ERROR: our SETTINGS, GOAWAY, then the connection
	// closes. (A client that speaks HTTP/1.1 gets a 505 instead; see
	// TestServerHTTP1Gets505.)
	for _, tc := range []struct {
		name   string
		client func(tst *serverTester)
	}{
		{"h2spec", func(tst *serverTester) { tst.cc.Write([]byte("INVALID CONNECTION PREFACE\r\n\r\n")) }},
		{"near_miss", func(tst *serverTester) { tst.cc.Write([]byte("PRI * HTTP/2.0\r\n\r\nSN\r\n\r\n")) }},
		{"preface_then_ping", func(tst *serverTester) {
			// The preface ends with a SETTINGS frame; anything else first is invalid.
			tst.writePreface()
			tst.fr.WritePing(false, [8]byte{})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run(t, func(t *testing.T) {
				tst := newServerTester(t, HandlerFunc(confHandler))
				tc.client(tst)
				if f := wantFrame[*http2.SettingsFrame](tst); f.IsAck() {
					t.Fatal("got a SETTINGS ACK, want the server's SETTINGS first")
				}
				wantFrame[*http2.WindowUpdateFrame](tst)
				confWantConnError(tst, ErrCodeProtocol)
				tst.wantNoCall()
			})
		})
	}
}

// h2spec http2/4.1.

func TestRFC9113_4_1_UnknownTypesFlagsAndReservedBitIgnored(t *testing.T) {
	// h2spec http2/4.1: unknown frame types are discarded, undefined
	// flags and the reserved bit of the stream identifier are ignored.
	ping := []byte{0, 0, 0, 0, 0, 0, 0, 0}
	for _, tc := range []struct {
		name string
		send func(tst *serverTester)
	}{
		{"unknown_type", func(tst *serverTester) {
			tst.fr.WriteRawFrame(0x16, 0, 0, ping)
			tst.fr.WritePing(false, [8]byte{})
		}},
		{"undefined_flags", func(tst *serverTester) { tst.fr.WriteRawFrame(http2.FramePing, 0x16, 0, ping) }},
		{"reserved_bit", func(tst *serverTester) { tst.fr.WriteRawFrame(http2.FramePing, 0x16, 1<<31, ping) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run(t, func(t *testing.T) {
				tst := confStart(t, HandlerFunc(confHandler))
				tc.send(tst)
				if f := wantFrame[*http2.PingFrame](tst); !f.IsAck() || f.Data != [8]byte{} {
					t.Fatalf("got PING ack=%v %v, want an ACK of zeros", f.IsAck(), f.Data)
				}
				tst.wantIdle()
				confAlive(tst, 1)
			})
		})
	}
	t.Run("undefined_flags_on_headers_and_data", func(t *testing.T) {
		run(t, func(t *testing.T) {
			tst := confStart(t, HandlerFunc(confHandler))
			block := tst.encode(reqFields("POST", "/flags")...)
			tst.fr.WriteRawFrame(http2.FrameHeaders, http2.FlagHeadersEndHeaders|0x40|0x10|0x02, 1, block)
			tst.fr.WriteRawFrame(http2.FrameData, http2.FlagDataEndStream|0x40|0x20|0x04, 1|1<<31, []byte("body"))
			if r := tst.wantResponse(1); r.body != "response to /flags" {
				t.Fatalf("got %+v", r)
			}
		})
	})
}

// h2spec http2/4.2.

func TestRFC9113_4_2_FrameSize(t *testing.T) {
	t.Run("data_of_max_frame_size_accepted", func(t *testing.T) {
		// h2spec http2/4.2/1: frames up to 2^14 octets must be processed.
		run(t, func(t *testing.T) {
			tst := confStart(t, HandlerFunc(confHandler))
			tst.writeHeaders(1, false, reqFields("POST", "/big")...)
			tst.fr.WriteData(1, true, bytes.Repeat([]byte("x"), 16384))
			if r := tst.wantResponse(1); r.body != "response to /big" {
				t.Fatalf("got %+v", r)
			}
		})
	})
	confConnErrors(t, []confConnCase{
		{"data_over_max_frame_size", func(tst *serverTester) {
			// h2spec http2/4.2/2. A DATA frame may be a stream error; we
			// close the connection, which the RFC allows.
			tst.writeHeaders(1, false, reqFields("POST", "/")...)
			tst.fr.WriteData(1, true, bytes.Repeat([]byte("x"), 16385))
		}, ErrCodeFrameSize},
		{"headers_over_max_frame_size", func(tst *serverTester) {
			// h2spec http2/4.2/3: a frame that carries a field block and
			// exceeds SETTINGS_MAX_FRAME_SIZE (16384 by default) is a
			// connection error, whatever its content.
			fields := reqFields("GET", "/")
			for i := range 5 {
				fields = append(fields, "x-dummy"+itoa(uint32(i)), strings.Repeat("x", 4000))
			}
			block := tst.encode(fields...)
			if len(block) <= 16384 {
				tst.t.Fatalf("block of %d bytes is too small for the test", len(block))
			}
			tst.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block, EndStream: true, EndHeaders: true})
		}, ErrCodeFrameSize},
		{"settings_over_max_frame_size", func(tst *serverTester) {
			tst.fr.WriteRawFrame(http2.FrameSettings, 0, 0, make([]byte, 16386))
		}, ErrCodeFrameSize},
		// "... or is too small to contain mandatory frame data": a frame
		// whose flags promise fields its payload lacks.
		{"headers_too_short_for_pad_length", func(tst *serverTester) {
			tst.fr.WriteRawFrame(http2.FrameHeaders, http2.FlagHeadersPadded|http2.FlagHeadersEndHeaders, 1, nil)
		}, ErrCodeFrameSize},
		{"headers_too_short_for_priority", func(tst *serverTester) {
			tst.fr.WriteRawFrame(http2.FrameHeaders, http2.FlagHeadersPriority|http2.FlagHeadersEndHeaders, 1, []byte{0, 0, 0})
		}, ErrCodeFrameSize},
		{"data_too_short_for_pad_length", func(tst *serverTester) {
			tst.writeHeaders(1, false, reqFields("POST", "/")...)
			tst.fr.WriteRawFrame(http2.FrameData, http2.FlagDataPadded, 1, nil)
		}, ErrCodeFrameSize},
	})
}

// h2spec http2/4.3.

func TestRFC9113_4_3_FieldBlockErrorsAreConnectionErrors(t *testing.T) {
	// A field block that cannot be decoded is a COMPRESSION_ERROR, and a
	// field block must be sent as one contiguous run of frames:
	// anything interleaved is a PROTOCOL_ERROR.
	confConnErrors(t, []confConnCase{
		{"invalid_field_block", func(tst *serverTester) {
			// h2spec http2/4.3/1: a literal with incremental indexing,
			// cut short.
			tst.fr.WriteRawFrame(http2.FrameHeaders, http2.FlagHeadersEndStream|http2.FlagHeadersEndHeaders, 1, []byte{0x40})
		}, ErrCodeCompression},
		{"priority_inside_field_block", func(tst *serverTester) {
			// h2spec http2/4.3/2.
			tst.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: tst.encode(reqFields("GET", "/")...)})
			tst.fr.WritePriority(1, http2.PriorityParam{Weight: 255})
			tst.fr.WriteContinuation(1, true, tst.encode("x-dummy0", "x"))
		}, ErrCodeProtocol},
		{"headers_for_another_stream_inside_field_block", func(tst *serverTester) {
			// h2spec http2/4.3/3.
			tst.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: tst.encode(reqFields("GET", "/")...)})
			tst.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: tst.encode(reqFields("GET", "/")...), EndStream: true, EndHeaders: true})
			tst.fr.WriteContinuation(1, true, tst.encode("x-dummy0", "x"))
		}, ErrCodeProtocol},
	})
}

// h2spec generic/2 and http2/5.1.

func TestRFC9113_5_1_IdleStreamFramesAreConnectionErrors(t *testing.T) {
	// h2spec http2/5.1/1-4: in the idle state only HEADERS and PRIORITY
	// may be received; anything else is a connection PROTOCOL_ERROR.
	confConnErrors(t, []confConnCase{
		{"data", func(tst *serverTester) { tst.fr.WriteData(1, true, []byte("test")) }, ErrCodeProtocol},
		{"rst_stream", func(tst *serverTester) { tst.fr.WriteRSTStream(1, http2.ErrCodeCancel) }, ErrCodeProtocol},
		{"window_update", func(tst *serverTester) { tst.fr.WriteWindowUpdate(1, 100) }, ErrCodeProtocol},
		{"window_update_zero_increment", func(tst *serverTester) {
			// Two faults; the idle stream's is the one that names no stream
			// to reset (RST_STREAM must not be sent for an idle stream,
			// section 6.4).
			tst.fr.WriteWindowUpdate(1, 0)
		}, ErrCodeProtocol},
		{"continuation", func(tst *serverTester) {
			tst.fr.WriteContinuation(1, true, tst.encode(reqFields("GET", "/")...))
		}, ErrCodeProtocol},
		{"data_above_an_open_stream", func(tst *serverTester) {
			// Stream 3 is idle although stream 1 is open.
			tst.writeHeaders(1, false, reqFields("POST", "/")...)
			tst.fr.WriteData(3, true, []byte("test"))
		}, ErrCodeProtocol},
	})
}

func TestRFC9113_5_1_IdleStreamDataIsConnectionError(t *testing.T) {
	// The case other servers get wrong most: DATA on a stream the client
	// never opened (h2spec http2/5.1/1), with GOAWAY naming no stream.
	run(t, func(t *testing.T) {
		tst := confStart(t, nil)
		tst.fr.WriteData(1, true, []byte("test"))
		if f := confWantConnError(tst, ErrCodeProtocol); f.LastStreamID != 0 {
			t.Fatalf("GOAWAY names stream %d, want 0", f.LastStreamID)
		}
	})
}

func TestRFC9113_5_1_HalfClosedRemote(t *testing.T) {
	// h2spec http2/5.1/5-7: once the client ended its side (END_STREAM),
	// DATA and HEADERS are a stream error of type STREAM_CLOSED; a
	// CONTINUATION without an open field block is a connection
	// PROTOCOL_ERROR (section 6.10).
	openHalfClosed := func(tst *serverTester) {
		tst.get(3, "/") // END_STREAM: half-closed (remote); the handler waits
		tst.call(3)
	}
	confStreamErrors(t, []confStreamCase{
		{name: "data", code: ErrCodeStreamClosed, provoke: func(tst *serverTester) {
			openHalfClosed(tst)
			tst.fr.WriteData(3, true, []byte("test"))
		}},
		{name: "headers", code: ErrCodeStreamClosed, provoke: func(tst *serverTester) {
			openHalfClosed(tst)
			tst.writeHeaders(3, true, "x-trailer", "late")
		}},
		{name: "headers_split_by_continuation", code: ErrCodeStreamClosed, provoke: func(tst *serverTester) {
			openHalfClosed(tst)
			block := tst.encode(reqFields("GET", "/again")...)
			tst.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: block[:3], EndStream: true})
			tst.fr.WriteContinuation(3, true, block[3:])
		}},
	})
	t.Run("continuation", func(t *testing.T) {
		run(t, func(t *testing.T) {
			tst := confStart(t, nil)
			openHalfClosed(tst)
			tst.fr.WriteContinuation(3, true, tst.encode("x-dummy0", "x"))
			confWantConnError(tst, ErrCodeProtocol)
		})
	})
	t.Run("handler_sees_the_reset", func(t *testing.T) {
		run(t, func(t *testing.T) {
			tst := confStart(t, nil)
			tst.get(1, "/")
			c := tst.call(1)
			tst.fr.WriteData(1, true, []byte("test"))
			tst.wantRSTStream(1, ErrCodeStreamClosed)
			if _, err := c.st.Write([]byte("x")); err == nil {
				t.Fatal("Write succeeded on a reset stream")
			} else {
				wantStreamError(t, err, ErrCodeStreamClosed)
			}
			if c.st.Context().Err() == nil {
				t.Fatal("context not cancelled")
			}
			close(c.release)
			tst.wantIdle()
		})
	})
}

func TestRFC9113_5_1_HalfClosedRemoteAllowsWindowUpdatePriorityRST(t *testing.T) {
	// h2spec generic/2/2-4: WINDOW_UPDATE, PRIORITY and RST_STREAM are
	// allowed in half-closed (remote).
	for _, tc := range []struct {
		name string
		send func(tst *serverTester)
	}{
		{"window_update", func(tst *serverTester) { tst.fr.WriteWindowUpdate(1, 1) }},
		{"priority_then_window_update", func(tst *serverTester) {
			tst.fr.WritePriority(1, http2.PriorityParam{Weight: 255})
			tst.fr.WriteWindowUpdate(1, 1)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run(t, func(t *testing.T) {
				tst := confStart(t, HandlerFunc(confHandler))
				tst.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
				tst.wantSettingsAck()
				tst.get(1, "/")
				tst.wantHeaders(1, false)
				tst.wantIdle() // no window, no DATA
				tc.send(tst)
				tst.wantData(1, false, "r")
			})
		})
	}
	t.Run("rst_stream", func(t *testing.T) {
		run(t, func(t *testing.T) {
			tst := confStart(t, nil)
			tst.get(1, "/")
			c := tst.call(1)
			tst.fr.WriteRSTStream(1, http2.ErrCodeCancel)
			confWantPing(tst)
			synctest.Wait()
			wantStreamError(t, context.Cause(c.st.Context()), ErrCodeCancel)
			close(c.release)
			tst.wantIdle()
		})
	})
}

func TestRFC9113_5_1_ClosedStream(t *testing.T) {
	// h2spec http2/5.1/8-13 and generic/2/5. RFC 9113 section 5.1: DATA
	// and trailers on a closed stream are answered with STREAM_CLOSED. A
	// request (HEADERS with pseudo-header fields) that would reopen a
	// closed stream is a connection PROTOCOL_ERROR (section 5.1.1: "The
	// identifier of a newly established stream MUST be numerically
	// greater than all streams that the initiating endpoint has opened";
	// RFC 7540, and so h2spec, named STREAM_CLOSED, and h2spec accepts
	// either as long as the connection closes). A CONTINUATION outside a
	// field block is a PROTOCOL_ERROR (6.10).
	resetByClient := func(tst *serverTester) {
		tst.writeHeaders(3, false, reqFields("POST", "/")...)
		tst.call(3)
		tst.fr.WriteRSTStream(3, http2.ErrCodeCancel)
	}
	endedBothWays := func(tst *serverTester) {
		tst.get(3, "/")
		close(tst.call(3).release)
		tst.wantResponse(3)
	}
	confStreamErrors(t, []confStreamCase{
		{name: "data_after_rst_stream", code: ErrCodeStreamClosed, provoke: func(tst *serverTester) {
			resetByClient(tst)
			tst.fr.WriteData(3, true, []byte("test"))
		}},
		{name: "data_after_end_stream", code: ErrCodeStreamClosed, provoke: func(tst *serverTester) {
			endedBothWays(tst)
			tst.fr.WriteData(3, true, []byte("test"))
		}},
		{name: "trailers_after_rst_stream", code: ErrCodeStreamClosed, provoke: func(tst *serverTester) {
			resetByClient(tst)
			tst.writeHeaders(3, true, "x-trailer", "late")
		}},
		{name: "trailers_after_end_stream", code: ErrCodeStreamClosed, provoke: func(tst *serverTester) {
			endedBothWays(tst)
			tst.writeHeaders(3, true, "x-trailer", "late")
		}},
	})
	confConnErrors(t, []confConnCase{
		{"headers_after_rst_stream", func(tst *serverTester) {
			resetByClient(tst)
			tst.get(3, "/")
		}, ErrCodeProtocol},
		{"continuation_after_rst_stream", func(tst *serverTester) {
			resetByClient(tst)
			tst.fr.WriteContinuation(3, true, tst.encode("x-dummy0", "x"))
		}, ErrCodeProtocol},
		{"headers_after_end_stream", func(tst *serverTester) {
			endedBothWays(tst)
			tst.get(3, "/")
		}, ErrCodeProtocol},
		{"continuation_after_end_stream", func(tst *serverTester) {
			endedBothWays(tst)
			tst.fr.WriteContinuation(3, true, tst.encode("x-dummy0", "x"))
		}, ErrCodeProtocol},
	})
	// WINDOW_UPDATE, RST_STREAM and PRIORITY may cross our END_STREAM or
	// RST_STREAM in flight: they are ignored.
	for _, tc := range []struct {
		name  string
		close func(tst *serverTester)
	}{
		{"after_rst_stream", resetByClient},
		{"after_end_stream", endedBothWays},
	} {
		t.Run("window_update_rst_priority_"+tc.name+"_ignored", func(t *testing.T) {
			run(t, func(t *testing.T) {
				tst := confStart(t, nil)
				by := confBystander(tst)
				tc.close(tst)
				tst.fr.WriteWindowUpdate(3, 100)
				tst.fr.WriteRSTStream(3, http2.ErrCodeCancel)
				tst.fr.WritePriority(3, http2.PriorityParam{Weight: 1})
				confUnaffected(tst, by, 5)
			})
		})
	}
	for _, tc := range []struct {
		name  string
		reset func(tst *serverTester, c *handlerCall)
		code  ErrCode // of our RST_STREAM
	}{
		{"handler_reset", func(tst *serverTester, c *handlerCall) { c.st.Reset(ErrCodeCancel) }, ErrCodeCancel},
		{"early_response_unread_body", func(tst *serverTester, c *handlerCall) {
			// Section 8.1: a complete response, then RST_STREAM NO_ERROR
			// for the body nobody reads.
			close(c.release)
			tst.wantHeaders(3, true)
		}, ErrCodeNo},
	} {
		t.Run("trailers_after_our_rst_stream_are_discarded/"+tc.name, func(t *testing.T) {
			// "An endpoint that sends a RST_STREAM frame on a stream that is
			// in the "open" or "half-closed (local)" state could receive any
			// type of frame. ... An endpoint MUST minimally process and then
			// discard any frames it receives in this state. This means
			// updating header compression state for HEADERS". Trailers the
			// client sent before it saw our RST_STREAM must not cost the
			// connection (x/net/http2 gets this wrong: golang/go#58286).
			run(t, func(t *testing.T) {
				tst := confStart(t, nil)
				by := confBystander(tst)
				tst.writeHeaders(3, false, reqFields("POST", "/upload", "x-indexed", "in the dynamic table")...)
				tc.reset(tst, tst.call(3))
				tst.wantRSTStream(3, tc.code)
				tst.fr.WriteData(3, false, []byte("in flight"))
				tst.writeHeaders(3, true, "x-trailer", "in flight", "x-indexed", "in the dynamic table")
				for {
					synctest.Wait()
					if tst.cc.buffered() == 0 {
						break
					}
					// Refusing them with STREAM_CLOSED is allowed too.
					if f := wantFrame[*http2.RSTStreamFrame](tst); f.StreamID != 3 || ErrCode(f.ErrCode) != ErrCodeStreamClosed {
						t.Fatalf("got %v", summarize(f))
					}
				}
				// The HPACK state followed the trailers: the next request
				// reuses their dynamic table entries.
				tst.writeHeaders(5, true, reqFields("GET", "/after", "x-trailer", "in flight", "x-indexed", "in the dynamic table")...)
				c5 := tst.call(5)
				if got := fieldsString(c5.st.Request().Fields); got != "x-trailer=in flight x-indexed=in the dynamic table" {
					t.Fatalf("fields after the discarded trailers: %s", got)
				}
				close(c5.release)
				tst.wantResponse(5)
				confUnaffected(tst, by, 7)
			})
		})
	}
	t.Run("data_after_our_rst_stream_is_discarded", func(t *testing.T) {
		// Frames the client sent before it saw our RST_STREAM must not
		// cost the connection; their DATA still counts toward the
		// connection window, which is credited back.
		run(t, func(t *testing.T) {
			tst := confStart(t, nil, func(s *Server) { s.InitialConnWindowSize = 65535 })
			by := confBystander(tst)
			tst.writeHeaders(3, false, reqFields("POST", "/")...)
			tst.call(3).st.Reset(ErrCodeCancel)
			tst.wantRSTStream(3, ErrCodeCancel)
			for range 4 {
				tst.fr.WriteData(3, false, make([]byte, 16384))
			}
			for {
				f := tst.readFrame()
				if f == nil {
					break
				}
				switch f := f.(type) {
				case *http2.RSTStreamFrame:
					if f.StreamID != 3 || ErrCode(f.ErrCode) != ErrCodeStreamClosed {
						t.Fatalf("got %v", summarize(f))
					}
				case *http2.WindowUpdateFrame:
					if f.StreamID != 0 {
						t.Fatalf("got WINDOW_UPDATE for stream %d", f.StreamID)
					}
				default:
					t.Fatalf("got %v", summarize(f))
				}
			}
			confUnaffected(tst, by, 5)
		})
	})
}

func TestRFC9113_5_1_PriorityOnIdleAndClosedStreamsIgnored(t *testing.T) {
	// h2spec generic/2/1 and generic/2/5: PRIORITY is allowed in any state
	// and does not open the stream.
	run(t, func(t *testing.T) {
		tst := confStart(t, HandlerFunc(confHandler))
		tst.fr.WritePriority(1, http2.PriorityParam{Weight: 255})
		confWantPing(tst)
		tst.get(1, "/") // stream 1 is still idle, so it can be opened
		tst.wantResponse(1)
		tst.fr.WritePriority(1, http2.PriorityParam{Weight: 255})
		tst.wantIdle()
		confAlive(tst, 3)
	})
}

// h2spec http2/5.1.1.

func TestRFC9113_5_1_1_StreamIdentifiers(t *testing.T) {
	confConnErrors(t, []confConnCase{
		{"even", func(tst *serverTester) {
			// h2spec http2/5.1.1/1: clients open odd-numbered streams.
			tst.get(2, "/")
		}, ErrCodeProtocol},
		{"lower_than_one_already_used", func(tst *serverTester) {
			// h2spec http2/5.1.1/2: stream 3 was never used, but 5 was,
			// so 3 is closed (implicitly) and cannot be opened.
			tst.get(5, "/")
			tst.call(5)
			tst.get(3, "/")
		}, ErrCodeProtocol},
		{"lower_than_one_already_used_split_by_continuation", func(tst *serverTester) {
			tst.get(5, "/")
			tst.call(5)
			block := tst.encode(reqFields("GET", "/")...)
			tst.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: block[:2], EndStream: true})
			tst.fr.WriteContinuation(3, true, block[2:])
		}, ErrCodeProtocol},
	})
	t.Run("goaway_names_the_last_stream", func(t *testing.T) {
		run(t, func(t *testing.T) {
			tst := confStart(t, nil)
			tst.get(5, "/")
			c := tst.call(5)
			tst.get(3, "/")
			if f := confWantConnError(tst, ErrCodeProtocol); f.LastStreamID != 5 {
				t.Fatalf("GOAWAY names stream %d, want 5", f.LastStreamID)
			}
			if c.st.Context().Err() == nil {
				t.Fatal("the open stream's context survived the connection error")
			}
		})
	})
	t.Run("gaps_allowed", func(t *testing.T) {
		// Stream identifiers must grow, not be consecutive.
		run(t, func(t *testing.T) {
			tst := confStart(t, HandlerFunc(confHandler))
			tst.get(1, "/")
			tst.wantResponse(1)
			tst.get(101, "/")
			tst.wantResponse(101)
			confAlive(tst, 1<<31-1) // the largest stream identifier
		})
	})
}

// h2spec http2/5.1.2.

func TestRFC9113_5_1_2_ConcurrentStreamLimitIsStreamError(t *testing.T) {
	// h2spec http2/5.1.2/1: a HEADERS frame beyond our advertised
	// SETTINGS_MAX_CONCURRENT_STREAMS (100 by default) is a stream error
	// of type PROTOCOL_ERROR or REFUSED_STREAM; we refuse, so the client
	// may retry it.
	run(t, func(t *testing.T) {
		tst := confStart(t, nil)
		tst.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
		tst.wantSettingsAck()
		var calls []*handlerCall
		for id := uint32(1); id <= 199; id += 2 {
			tst.get(id, "/")
		}
		for id := uint32(1); id <= 199; id += 2 {
			calls = append(calls, tst.call(id))
		}
		tst.get(201, "/")
		tst.wantRSTStream(201, ErrCodeRefusedStream)
		confWantNoCall(tst, 201)
		// One stream ends: a new one fits again.
		close(calls[0].release)
		tst.wantHeaders(1, true)
		tst.get(203, "/")
		c := tst.call(203)
		confWantPing(tst)
		close(c.release)
		tst.wantHeaders(203, true)
	})
}

// h2spec http2/5.3.1.

func TestRFC9113_5_3_1_SelfDependencyIsStreamError(t *testing.T) {
	// h2spec http2/5.3.1: a stream cannot depend on itself.
	confStreamErrors(t, []confStreamCase{
		{name: "headers", code: ErrCodeProtocol, noHandler: true, provoke: func(tst *serverTester) {
			tst.fr.WriteHeaders(http2.HeadersFrameParam{
				StreamID: 3, BlockFragment: tst.encode(reqFields("GET", "/")...), EndStream: true, EndHeaders: true,
				Priority: http2.PriorityParam{StreamDep: 3, Weight: 255},
			})
		}},
		{name: "priority", code: ErrCodeProtocol, provoke: func(tst *serverTester) {
			tst.fr.WritePriority(3, http2.PriorityParam{StreamDep: 3, Weight: 255})
		}},
	})
}

// h2spec http2/5.4.1.

func TestRFC9113_5_4_1_ConnectionErrorIsGoAwayThenClose(t *testing.T) {
	// h2spec http2/5.4.1/1-2: after a connection error, GOAWAY with the
	// code and the last stream processed, then the connection closes;
	// open streams are cancelled.
	run(t, func(t *testing.T) {
		tst := confStart(t, nil)
		by := confBystander(tst)
		tst.fr.WriteRawFrame(http2.FramePing, 0, 3, make([]byte, 8)) // PING on a stream
		f := confWantConnError(tst, ErrCodeProtocol)
		if f.LastStreamID != 1 {
			t.Fatalf("GOAWAY names stream %d, want 1", f.LastStreamID)
		}
		synctest.Wait()
		if by.st.Context().Err() == nil {
			t.Fatal("the open stream's context survived the connection error")
		}
		if err := <-tst.served; err != nil {
			t.Fatalf("ServeConn = %v, want nil after a connection error we sent", err)
		}
	})
}

// h2spec http2/5.5.

func TestRFC9113_5_5_UnknownExtensionFrames(t *testing.T) {
	t.Run("ignored", func(t *testing.T) {
		// h2spec http2/5.5/1, on the connection, on an open stream and on
		// an idle stream; none of them opens a stream.
		run(t, func(t *testing.T) {
			tst := confStart(t, nil)
			by := confBystander(tst)
			tst.fr.WriteRawFrame(0x16, 0, 0, make([]byte, 8))
			tst.fr.WriteRawFrame(0xfa, 0xff, 1, []byte("on an open stream"))
			tst.fr.WriteRawFrame(0xfb, 0, 99, []byte("on an idle stream"))
			tst.fr.WriteRawFrame(0xfc, 0, 3, nil)
			confUnaffected(tst, by, 3) // stream 3 is still idle
		})
	})
	confConnErrors(t, []confConnCase{
		{"inside_field_block", func(tst *serverTester) {
			// h2spec http2/5.5/2: a field block must be contiguous; an
			// unknown frame inside one is a PROTOCOL_ERROR (section 4.3).
			tst.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: tst.encode(reqFields("GET", "/")...), EndStream: true})
			tst.fr.WriteRawFrame(0x16, 0, 0, make([]byte, 8))
		}, ErrCodeProtocol},
	})
}

// h2spec http2/6.1 and generic/3.1.

func TestRFC9113_6_1_Data(t *testing.T) {
	t.Run("accepted", func(t *testing.T) {
		// h2spec generic/3.1: one DATA frame, several, and padded.
		for _, tc := range []struct {
			name string
			send func(tst *serverTester)
		}{
			{"one", func(tst *serverTester) { tst.fr.WriteData(1, true, []byte("test")) }},
			{"several", func(tst *serverTester) {
				tst.fr.WriteData(1, false, []byte("te"))
				tst.fr.WriteData(1, false, nil)
				tst.fr.WriteData(1, true, []byte("st"))
			}},
			{"padded", func(tst *serverTester) { tst.fr.WriteDataPadded(1, true, []byte("test"), make([]byte, 5)) }},
			{"padded_max", func(tst *serverTester) { tst.fr.WriteDataPadded(1, true, []byte("test"), make([]byte, 255)) }},
			{"padding_only_then_end", func(tst *serverTester) {
				tst.fr.WriteDataPadded(1, false, []byte("test"), make([]byte, 10))
				tst.fr.WriteDataPadded(1, true, nil, make([]byte, 10))
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				run(t, func(t *testing.T) {
					tst := confStart(t, nil)
					tst.writeHeaders(1, false, reqFields("POST", "/", "content-length", "4")...)
					c := tst.call(1)
					tc.send(tst)
					if got := readAll(t, c.st); got != "test" {
						t.Fatalf("body %q", got)
					}
					close(c.release)
					tst.wantResponse(1)
				})
			})
		}
	})
	t.Run("padding_counts_toward_flow_control", func(t *testing.T) {
		// "The entire DATA frame payload is included in flow control,
		// including the Pad Length and Padding fields if present."
		run(t, func(t *testing.T) {
			tst := confStart(t, nil, func(s *Server) { s.InitialStreamWindowSize = 100 })
			tst.writeHeaders(1, false, reqFields("POST", "/")...)
			c := tst.call(1)
			tst.fr.WriteDataPadded(1, false, []byte("0123456789"), make([]byte, 89)) // 1+10+89 = 100
			// The padding comes back at once; the data once it is read.
			tst.wantWindowUpdate(1, 90)
			tst.fr.WriteDataPadded(1, false, nil, make([]byte, 90)) // 91 > 90 left
			tst.wantRSTStream(1, ErrCodeFlowControl)
			close(c.release)
		})
	})
	confConnErrors(t, []confConnCase{
		{"stream_zero", func(tst *serverTester) {
			// h2spec http2/6.1/1.
			tst.fr.WriteData(0, true, []byte("test"))
		}, ErrCodeProtocol},
		{"pad_length_too_large", func(tst *serverTester) {
			// h2spec http2/6.1/3: pad length 6 in a 5-octet payload.
			tst.writeHeaders(1, false, reqFields("POST", "/", "content-length", "4")...)
			tst.fr.WriteRawFrame(http2.FrameData, http2.FlagDataEndStream|http2.FlagDataPadded, 1, []byte("\x06Test"))
		}, ErrCodeProtocol},
		{"pad_length_equals_payload", func(tst *serverTester) {
			// "If the length of the padding is the length of the frame
			// payload or greater": 5 octets of padding in 5 octets.
			tst.writeHeaders(1, false, reqFields("POST", "/")...)
			tst.fr.WriteRawFrame(http2.FrameData, http2.FlagDataPadded, 1, []byte("\x05Test"))
		}, ErrCodeProtocol},
	})
	confStreamErrors(t, []confStreamCase{
		{name: "not_open_or_half_closed_local", code: ErrCodeStreamClosed, provoke: func(tst *serverTester) {
			// h2spec http2/6.1/2.
			tst.writeHeaders(3, true, reqFields("POST", "/")...)
			tst.call(3)
			tst.fr.WriteData(3, true, []byte("test"))
		}},
	})
}

// h2spec http2/6.2 and generic/3.2.

func TestRFC9113_6_2_Headers(t *testing.T) {
	t.Run("accepted", func(t *testing.T) {
		// h2spec generic/3.2: plain, padded, with priority.
		for _, tc := range []struct {
			name string
			p    http2.HeadersFrameParam
		}{
			{"plain", http2.HeadersFrameParam{}},
			{"padded", http2.HeadersFrameParam{PadLength: 8}},
			{"padded_max", http2.HeadersFrameParam{PadLength: 255}},
			{"priority", http2.HeadersFrameParam{Priority: http2.PriorityParam{Weight: 255}}},
			{"priority_exclusive_on_idle", http2.HeadersFrameParam{Priority: http2.PriorityParam{StreamDep: 7, Exclusive: true}}},
			{"padded_with_priority", http2.HeadersFrameParam{PadLength: 3, Priority: http2.PriorityParam{StreamDep: 0, Weight: 16}}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				run(t, func(t *testing.T) {
					tst := confStart(t, HandlerFunc(confHandler))
					p := tc.p
					p.StreamID, p.EndStream, p.EndHeaders = 1, true, true
					p.BlockFragment = tst.encode(reqFields("GET", "/h")...)
					tst.fr.WriteHeaders(p)
					if r := tst.wantResponse(1); r.body != "response to /h" {
						t.Fatalf("got %+v", r)
					}
				})
			})
		}
	})
	confConnErrors(t, []confConnCase{
		{"priority_inside_field_block", func(tst *serverTester) {
			// h2spec http2/6.2/1.
			tst.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: tst.encode(reqFields("GET", "/")...)})
			tst.fr.WritePriority(1, http2.PriorityParam{Weight: 255})
		}, ErrCodeProtocol},
		{"headers_for_another_stream_inside_field_block", func(tst *serverTester) {
			// h2spec http2/6.2/2.
			tst.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: tst.encode(reqFields("GET", "/")...)})
			tst.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: tst.encode(reqFields("GET", "/")...), EndStream: true, EndHeaders: true})
		}, ErrCodeProtocol},
		{"stream_zero", func(tst *serverTester) {
			// h2spec http2/6.2/3.
			tst.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 0, BlockFragment: tst.encode(reqFields("GET", "/")...), EndStream: true, EndHeaders: true})
		}, ErrCodeProtocol},
		{"pad_length_too_large", func(tst *serverTester) {
			// h2spec http2/6.2/4: padding that exceeds the room left for
			// the field block fragment is a PROTOCOL_ERROR; the field
			// block cannot be decoded, so the connection ends.
			block := tst.encode(reqFields("GET", "/")...)
			payload := append([]byte{byte(len(block) + 2)}, block...)
			tst.fr.WriteRawFrame(http2.FrameHeaders, http2.FlagHeadersEndStream|http2.FlagHeadersEndHeaders|http2.FlagHeadersPadded, 1, payload)
		}, ErrCodeProtocol},
	})
}

// h2spec http2/6.3 and generic/3.3.

func TestRFC9113_6_3_Priority(t *testing.T) {
	t.Run("accepted", func(t *testing.T) {
		// h2spec generic/3.3: weights 1 and 256, a dependency, exclusive,
		// and PRIORITY for an idle stream above the one then opened.
		for _, tc := range []struct {
			name string
			id   uint32
			p    http2.PriorityParam
		}{
			{"weight_1", 1, http2.PriorityParam{Weight: 0}},
			{"weight_256", 1, http2.PriorityParam{Weight: 255}},
			{"dependency", 3, http2.PriorityParam{StreamDep: 1}},
			{"exclusive", 1, http2.PriorityParam{Exclusive: true}},
			{"idle_stream_above", 3, http2.PriorityParam{Weight: 255}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				run(t, func(t *testing.T) {
					tst := confStart(t, HandlerFunc(confHandler))
					tst.fr.WritePriority(tc.id, tc.p)
					tst.get(1, "/p")
					if r := tst.wantResponse(1); r.body != "response to /p" {
						t.Fatalf("got %+v", r)
					}
				})
			})
		}
	})
	confConnErrors(t, []confConnCase{
		{"stream_zero", func(tst *serverTester) {
			// h2spec http2/6.3/1.
			tst.fr.WritePriority(0, http2.PriorityParam{Weight: 255})
		}, ErrCodeProtocol},
	})
	confStreamErrors(t, []confStreamCase{
		{name: "length_not_5", code: ErrCodeFrameSize, provoke: func(tst *serverTester) {
			// h2spec http2/6.3/2: "A PRIORITY frame with a length other
			// than 5 octets MUST be treated as a stream error of type
			// FRAME_SIZE_ERROR."
			tst.get(3, "/")
			tst.call(3)
			tst.fr.WriteRawFrame(http2.FramePriority, 0, 3, []byte{0x80, 0, 0, 1})
		}},
	})
}

// h2spec http2/6.4 and generic/3.4.

func TestRFC9113_6_4_RSTStream(t *testing.T) {
	t.Run("accepted", func(t *testing.T) {
		// h2spec generic/3.4: the handler learns of the reset; the
		// connection carries on.
		run(t, func(t *testing.T) {
			tst := confStart(t, nil)
			by := confBystander(tst)
			tst.writeHeaders(3, false, reqFields("POST", "/")...)
			c := tst.call(3)
			tst.fr.WriteRSTStream(3, http2.ErrCodeCancel)
			synctest.Wait()
			_, err := c.st.Read(make([]byte, 1))
			wantStreamError(t, err, ErrCodeCancel)
			close(c.release)
			confUnaffected(tst, by, 5)
		})
	})
	confConnErrors(t, []confConnCase{
		{"stream_zero", func(tst *serverTester) {
			// h2spec http2/6.4/1.
			tst.fr.WriteRSTStream(0, http2.ErrCodeCancel)
		}, ErrCodeProtocol},
		{"idle_stream", func(tst *serverTester) {
			// h2spec http2/6.4/2.
			tst.fr.WriteRSTStream(1, http2.ErrCodeCancel)
		}, ErrCodeProtocol},
		{"length_not_4", func(tst *serverTester) {
			// h2spec http2/6.4/3.
			tst.get(1, "/")
			tst.fr.WriteRawFrame(http2.FrameRSTStream, 0, 1, []byte{0, 0, 0})
		}, ErrCodeFrameSize},
	})
}

// h2spec http2/6.5 and generic/3.5.

func TestRFC9113_6_5_Settings(t *testing.T) {
	t.Run("every_parameter_acknowledged", func(t *testing.T) {
		// h2spec generic/3.5.
		run(t, func(t *testing.T) {
			tst := confStart(t, HandlerFunc(confHandler))
			tst.fr.WriteSettings(
				http2.Setting{ID: http2.SettingHeaderTableSize, Val: 4096},
				http2.Setting{ID: http2.SettingEnablePush, Val: 1},
				http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 100},
				http2.Setting{ID: http2.SettingInitialWindowSize, Val: 65535},
				http2.Setting{ID: http2.SettingMaxFrameSize, Val: 16384},
				http2.Setting{ID: http2.SettingMaxHeaderListSize, Val: 100},
			)
			tst.wantSettingsAck()
			confAlive(tst, 1)
		})
	})
	t.Run("empty_acknowledged", func(t *testing.T) {
		run(t, func(t *testing.T) {
			tst := confStart(t, HandlerFunc(confHandler))
			tst.fr.WriteSettings()
			tst.wantSettingsAck()
		})
	})
	confConnErrors(t, []confConnCase{
		{"ack_with_payload", func(tst *serverTester) {
			// h2spec http2/6.5/1.
			tst.fr.WriteRawFrame(http2.FrameSettings, http2.FlagSettingsAck, 0, []byte{0})
		}, ErrCodeFrameSize},
		{"stream_not_zero", func(tst *serverTester) {
			// h2spec http2/6.5/2.
			tst.fr.WriteRawFrame(http2.FrameSettings, 0, 1, []byte{0, 3, 0, 0, 0, 100})
		}, ErrCodeProtocol},
		{"length_not_multiple_of_6", func(tst *serverTester) {
			// h2spec http2/6.5/3.
			tst.fr.WriteRawFrame(http2.FrameSettings, 0, 0, []byte{0, 3, 0})
		}, ErrCodeFrameSize},
	})
}

// h2spec http2/6.5.2.

func TestRFC9113_6_5_2_SettingValues(t *testing.T) {
	confConnErrors(t, []confConnCase{
		{"enable_push_2", func(tst *serverTester) {
			// h2spec http2/6.5.2/1.
			tst.fr.WriteSettings(http2.Setting{ID: http2.SettingEnablePush, Val: 2})
		}, ErrCodeProtocol},
		{"initial_window_size_2^31", func(tst *serverTester) {
			// h2spec http2/6.5.2/2.
			tst.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 31})
		}, ErrCodeFlowControl},
		{"max_frame_size_16383", func(tst *serverTester) {
			// h2spec http2/6.5.2/3.
			tst.fr.WriteSettings(http2.Setting{ID: http2.SettingMaxFrameSize, Val: 16383})
		}, ErrCodeProtocol},
		{"max_frame_size_2^24", func(tst *serverTester) {
			// h2spec http2/6.5.2/4.
			tst.fr.WriteSettings(http2.Setting{ID: http2.SettingMaxFrameSize, Val: 1 << 24})
		}, ErrCodeProtocol},
		{"invalid_after_valid", func(tst *serverTester) {
			tst.fr.WriteSettings(
				http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 1},
				http2.Setting{ID: http2.SettingEnablePush, Val: 7},
			)
		}, ErrCodeProtocol},
	})
	t.Run("unknown_identifier_ignored", func(t *testing.T) {
		// h2spec http2/6.5.2/5.
		run(t, func(t *testing.T) {
			tst := confStart(t, HandlerFunc(confHandler))
			tst.fr.WriteSettings(http2.Setting{ID: 0xff, Val: 1}, http2.Setting{ID: 0xfffe, Val: 1 << 31})
			tst.wantSettingsAck()
			confAlive(tst, 1)
		})
	})
	t.Run("extreme_valid_values_accepted", func(t *testing.T) {
		run(t, func(t *testing.T) {
			tst := confStart(t, HandlerFunc(confHandler))
			tst.fr.WriteSettings(
				http2.Setting{ID: http2.SettingHeaderTableSize, Val: 0},
				http2.Setting{ID: http2.SettingEnablePush, Val: 0},
				http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 0},
				http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1<<31 - 1},
				http2.Setting{ID: http2.SettingMaxFrameSize, Val: 1<<24 - 1},
				http2.Setting{ID: http2.SettingMaxHeaderListSize, Val: 0},
			)
			tst.wantSettingsAck()
			confAlive(tst, 1)
		})
	})
}

// h2spec http2/6.5.3.

func TestRFC9113_6_5_3_RepeatedSettingLastWins(t *testing.T) {
	// h2spec http2/6.5.3/1: "The values in the SETTINGS frame MUST be
	// processed in the order they appear": 100 then 1 leaves 1, and
	// the ACK follows.
	for _, tc := range []struct {
		name   string
		values []uint32
		data   string
		end    bool
	}{
		{"100_then_1", []uint32{100, 1}, "r", false},
		{"1_then_100", []uint32{1, 100}, "response to /", true},
		{"0_then_3_then_1", []uint32{0, 3, 1}, "r", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run(t, func(t *testing.T) {
				tst := confStart(t, HandlerFunc(confHandler))
				var ss []http2.Setting
				for _, v := range tc.values {
					ss = append(ss, http2.Setting{ID: http2.SettingInitialWindowSize, Val: v})
				}
				tst.fr.WriteSettings(ss...)
				tst.wantSettingsAck()
				tst.get(1, "/")
				tst.wantHeaders(1, false)
				tst.wantData(1, tc.end, tc.data)
				tst.wantIdle()
			})
		})
	}
}

func TestRFC9113_6_5_3_SettingsAcknowledgedAtOnce(t *testing.T) {
	// h2spec http2/6.5.3/2: every SETTINGS frame without ACK is
	// acknowledged, in order, whatever else is going on.
	run(t, func(t *testing.T) {
		tst := confStart(t, nil)
		tst.get(1, "/")
		c := tst.call(1)
		tst.fr.WriteSettings(http2.Setting{ID: http2.SettingEnablePush, Val: 0})
		tst.wantSettingsAck()
		tst.fr.WriteSettings()
		tst.fr.WriteSettings(http2.Setting{ID: http2.SettingMaxFrameSize, Val: 20000})
		tst.wantSettingsAck()
		tst.wantSettingsAck()
		close(c.release)
		tst.wantResponse(1)
	})
}

// h2spec http2/6.7 and generic/3.7.

func TestRFC9113_6_7_Ping(t *testing.T) {
	t.Run("answered_with_same_payload", func(t *testing.T) {
		// h2spec http2/6.7/1 and generic/3.7.
		run(t, func(t *testing.T) {
			tst := confStart(t, nil)
			data := [8]byte{'h', '2', 's', 'p', 'e', 'c'}
			tst.fr.WritePing(false, data)
			if f := wantFrame[*http2.PingFrame](tst); !f.IsAck() || f.Data != data {
				t.Fatalf("got PING ack=%v %q", f.IsAck(), f.Data)
			}
		})
	})
	t.Run("ack_not_answered", func(t *testing.T) {
		// h2spec http2/6.7/2.
		run(t, func(t *testing.T) {
			tst := confStart(t, nil)
			tst.fr.WritePing(true, [8]byte{'i', 'n', 'v', 'a', 'l', 'i', 'd'})
			tst.wantIdle()
			confWantPing(tst)
		})
	})
	confConnErrors(t, []confConnCase{
		{"stream_not_zero", func(tst *serverTester) {
			// h2spec http2/6.7/3.
			tst.fr.WriteRawFrame(http2.FramePing, 0, 1, make([]byte, 8))
		}, ErrCodeProtocol},
		{"length_not_8", func(tst *serverTester) {
			// h2spec http2/6.7/4.
			tst.fr.WriteRawFrame(http2.FramePing, 0, 0, make([]byte, 6))
		}, ErrCodeFrameSize},
	})
}

// h2spec http2/6.8 and generic/3.8.

func TestRFC9113_6_8_GoAway(t *testing.T) {
	t.Run("client_goaway", func(t *testing.T) {
		// h2spec generic/3.8: the client is going away; with nothing
		// open, we answer GOAWAY NO_ERROR and close. A PING sent after
		// it may or may not be answered.
		run(t, func(t *testing.T) {
			tst := confStart(t, nil)
			tst.fr.WriteGoAway(0, http2.ErrCodeNo, []byte("h2spec"))
			tst.fr.WritePing(false, [8]byte{'h', '2', 's', 'p', 'e', 'c'})
			synctest.Wait()
			f := tst.readFrame()
			if p, ok := f.(*http2.PingFrame); ok && p.IsAck() {
				f = tst.readFrame()
			}
			if g, ok := f.(*http2.GoAwayFrame); !ok || g.ErrCode != http2.ErrCodeNo || g.LastStreamID != 0 {
				t.Fatalf("got %v, want GOAWAY NO_ERROR last=0", summarize(f))
			}
			tst.wantClosed()
		})
	})
	confConnErrors(t, []confConnCase{
		{"stream_not_zero", func(tst *serverTester) {
			// h2spec http2/6.8/1.
			tst.fr.WriteRawFrame(http2.FrameGoAway, 0, 1, make([]byte, 8))
		}, ErrCodeProtocol},
		{"too_short", func(tst *serverTester) {
			tst.fr.WriteRawFrame(http2.FrameGoAway, 0, 0, make([]byte, 7))
		}, ErrCodeFrameSize},
	})
}

// h2spec http2/6.9 and generic/3.9.

func TestRFC9113_6_9_WindowUpdate(t *testing.T) {
	t.Run("accepted", func(t *testing.T) {
		// h2spec generic/3.9: on the connection and on an open stream.
		run(t, func(t *testing.T) {
			tst := confStart(t, HandlerFunc(confHandler))
			tst.fr.WriteWindowUpdate(0, 1)
			confWantPing(tst)
			tst.get(1, "/")
			tst.fr.WriteWindowUpdate(1, 1)
			tst.wantResponse(1)
		})
	})
	confConnErrors(t, []confConnCase{
		{"zero_increment_on_connection", func(tst *serverTester) {
			// h2spec http2/6.9/1.
			tst.fr.WriteWindowUpdate(0, 0)
		}, ErrCodeProtocol},
		{"length_not_4", func(tst *serverTester) {
			// h2spec http2/6.9/3.
			tst.fr.WriteRawFrame(http2.FrameWindowUpdate, 0, 0, []byte{0, 0, 1})
		}, ErrCodeFrameSize},
	})
	confStreamErrors(t, []confStreamCase{
		{name: "zero_increment_on_stream", code: ErrCodeProtocol, provoke: func(tst *serverTester) {
			// h2spec http2/6.9/2.
			tst.writeHeaders(3, false, reqFields("POST", "/")...)
			tst.call(3)
			tst.fr.WriteWindowUpdate(3, 0)
		}},
	})
}

// h2spec http2/6.9.1.

func TestRFC9113_6_9_1_FlowControlWindow(t *testing.T) {
	t.Run("never_exceeded", func(t *testing.T) {
		// h2spec http2/6.9.1/1: with a window of 1, one octet of DATA.
		run(t, func(t *testing.T) {
			tst := confStart(t, HandlerFunc(confHandler))
			tst.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1})
			tst.wantSettingsAck()
			tst.get(1, "/")
			tst.wantHeaders(1, false)
			tst.wantData(1, false, "r")
			tst.wantIdle()
		})
	})
	confConnErrors(t, []confConnCase{
		{"connection_window_above_2^31-1", func(tst *serverTester) {
			// h2spec http2/6.9.1/2.
			tst.fr.WriteWindowUpdate(0, 1<<31-1)
			tst.fr.WriteWindowUpdate(0, 1<<31-1)
		}, ErrCodeFlowControl},
		{"connection_window_exactly_then_above", func(tst *serverTester) {
			tst.fr.WriteWindowUpdate(0, 1<<31-1-65535) // exactly 2^31-1: fine
			tst.fr.WriteWindowUpdate(0, 1)
		}, ErrCodeFlowControl},
	})
	confStreamErrors(t, []confStreamCase{
		{name: "stream_window_above_2^31-1", code: ErrCodeFlowControl, provoke: func(tst *serverTester) {
			// h2spec http2/6.9.1/3; the second update reaches a closed
			// stream and is ignored.
			tst.writeHeaders(3, false, reqFields("POST", "/")...)
			tst.call(3)
			tst.fr.WriteWindowUpdate(3, 1<<31-1)
			tst.fr.WriteWindowUpdate(3, 1<<31-1)
		}},
		{name: "stream_window_exactly_then_above", code: ErrCodeFlowControl, provoke: func(tst *serverTester) {
			tst.writeHeaders(3, false, reqFields("POST", "/")...)
			tst.call(3)
			tst.fr.WriteWindowUpdate(3, 1<<31-1-65535)
			tst.fr.WriteWindowUpdate(3, 1)
		}},
	})
}

// h2spec http2/6.9.2.

func TestRFC9113_6_9_2_InitialWindowSize(t *testing.T) {
	t.Run("change_applies_to_open_streams", func(t *testing.T) {
		// h2spec http2/6.9.2/1: 0, then 1 after the stream opened.
		run(t, func(t *testing.T) {
			tst := confStart(t, HandlerFunc(confHandler))
			tst.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
			tst.wantSettingsAck()
			tst.get(1, "/")
			tst.wantHeaders(1, false)
			tst.wantIdle()
			tst.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1})
			tst.wantSettingsAck()
			tst.wantData(1, false, "r")
			tst.wantIdle()
		})
	})
	t.Run("negative_window", func(t *testing.T) {
		// h2spec http2/6.9.2/2: 3 octets sent, the window shrinks from 3
		// to 2 (so to -1), a WINDOW_UPDATE of 2 leaves room for exactly 1.
		run(t, func(t *testing.T) {
			tst := confStart(t, HandlerFunc(confHandler))
			tst.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 3})
			tst.wantSettingsAck()
			tst.get(1, "/")
			tst.wantHeaders(1, false)
			tst.wantData(1, false, "res")
			tst.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 2})
			tst.wantSettingsAck()
			tst.wantIdle()
			tst.fr.WriteWindowUpdate(1, 1) // -1 -> 0
			tst.wantIdle()
			tst.fr.WriteWindowUpdate(1, 1) // 0 -> 1
			tst.wantData(1, false, "p")
			tst.fr.WriteWindowUpdate(1, 100)
			tst.wantData(1, true, "onse to /")
		})
	})
	confConnErrors(t, []confConnCase{
		{"above_maximum", func(tst *serverTester) {
			// h2spec http2/6.9.2/3.
			tst.fr.WriteRawFrame(http2.FrameSettings, 0, 0, []byte{0, 4, 0x80, 0, 0, 0})
		}, ErrCodeFlowControl},
		{"change_overflows_an_open_stream", func(tst *serverTester) {
			// "An endpoint MUST treat a change to
			// SETTINGS_INITIAL_WINDOW_SIZE that causes any flow-control
			// window to exceed the maximum size as a connection error of
			// type FLOW_CONTROL_ERROR."
			tst.get(1, "/")
			tst.call(1)
			tst.fr.WriteWindowUpdate(1, 1<<31-1-65535) // stream window at 2^31-1
			tst.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 65536})
		}, ErrCodeFlowControl},
	})
}

// h2spec http2/6.10 and generic/3.10.

func TestRFC9113_6_10_Continuation(t *testing.T) {
	t.Run("accepted", func(t *testing.T) {
		// h2spec generic/3.10/1-2 and http2/6.10/1.
		for _, tc := range []struct {
			name  string
			split []int // cut points in the field block
		}{
			{"one", []int{5}},
			{"two", []int{5, 10}},
			{"empty_headers_fragment", []int{0}},
			{"empty_continuations", []int{5, 5, 5}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				run(t, func(t *testing.T) {
					tst := confStart(t, HandlerFunc(confHandler))
					block := tst.encode(reqFields("GET", "/split", "x-dummy0", strings.Repeat("x", 100))...)
					prev := 0
					for i, cut := range tc.split {
						if i == 0 {
							tst.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block[:cut], EndStream: true})
						} else {
							tst.fr.WriteContinuation(1, false, block[prev:cut])
						}
						prev = cut
					}
					tst.fr.WriteContinuation(1, true, block[prev:])
					if r := tst.wantResponse(1); r.body != "response to /split" {
						t.Fatalf("got %+v", r)
					}
				})
			})
		}
	})
	confConnErrors(t, []confConnCase{
		{"followed_by_other_frame", func(tst *serverTester) {
			// h2spec http2/6.10/2.
			tst.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: tst.encode(reqFields("POST", "/")...)})
			tst.fr.WriteContinuation(1, false, tst.encode("x-dummy0", "x"))
			tst.fr.WriteData(1, true, []byte("test"))
		}, ErrCodeProtocol},
		{"stream_zero", func(tst *serverTester) {
			// h2spec http2/6.10/3.
			tst.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: tst.encode(reqFields("GET", "/")...), EndStream: true})
			tst.fr.WriteContinuation(0, true, tst.encode("x-dummy0", "x"))
		}, ErrCodeProtocol},
		{"after_headers_with_end_headers", func(tst *serverTester) {
			// h2spec http2/6.10/4.
			tst.get(1, "/")
			tst.fr.WriteContinuation(1, true, tst.encode("x-dummy0", "x"))
		}, ErrCodeProtocol},
		{"after_continuation_with_end_headers", func(tst *serverTester) {
			// h2spec http2/6.10/5.
			tst.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: tst.encode(reqFields("GET", "/")...), EndStream: true})
			tst.fr.WriteContinuation(1, true, tst.encode("x-dummy0", "x"))
			tst.fr.WriteContinuation(1, true, tst.encode("x-dummy1", "x"))
		}, ErrCodeProtocol},
		{"after_data", func(tst *serverTester) {
			// h2spec http2/6.10/6.
			tst.writeHeaders(1, false, reqFields("POST", "/")...)
			tst.fr.WriteData(1, true, []byte("test"))
			tst.fr.WriteContinuation(1, false, tst.encode("x-dummy0", "x"))
		}, ErrCodeProtocol},
		{"for_another_stream", func(tst *serverTester) {
			tst.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: tst.encode(reqFields("GET", "/")...), EndStream: true})
			tst.fr.WriteContinuation(3, true, tst.encode("x-dummy0", "x"))
		}, ErrCodeProtocol},
	})
}

// h2spec http2/7.

func TestRFC9113_7_UnknownErrorCodesHaveNoSpecialMeaning(t *testing.T) {
	// h2spec http2/7/1-2: "Unknown or unsupported error codes MUST NOT
	// trigger any special behavior."
	t.Run("rst_stream", func(t *testing.T) {
		run(t, func(t *testing.T) {
			tst := confStart(t, nil)
			by := confBystander(tst)
			tst.writeHeaders(3, false, reqFields("POST", "/")...)
			c := tst.call(3)
			tst.fr.WriteRSTStream(3, 0xff)
			synctest.Wait()
			_, err := c.st.Read(make([]byte, 1))
			wantStreamError(t, err, 0xff)
			close(c.release)
			confUnaffected(tst, by, 5)
		})
	})
	t.Run("goaway", func(t *testing.T) {
		run(t, func(t *testing.T) {
			tst := confStart(t, nil)
			by := confBystander(tst)
			tst.fr.WriteGoAway(0, 0xff, nil)
			tst.wantGoAway(ErrCodeNo) // we go away as for any GOAWAY
			confWantPing(tst)
			tst.fr.WriteData(1, true, []byte("body"))
			readAll(t, by.st)
			close(by.release)
			tst.wantResponse(1)
			tst.wantClosed()
		})
	})
}

// h2spec http2/8.1 and generic/4.

func TestRFC9113_8_1_RequestExchanges(t *testing.T) {
	// h2spec generic/4/1-4, and the two request forms without a path.
	for _, tc := range []struct {
		name string
		send func(tst *serverTester)
		body string // of the response
	}{
		{"get", func(tst *serverTester) { tst.get(1, "/get") }, "response to /get"},
		// A response to HEAD has no body (RFC 9110 section 9.3.2).
		{"head", func(tst *serverTester) { tst.writeHeaders(1, true, reqFields("HEAD", "/head")...) }, ""},
		{"post", func(tst *serverTester) {
			tst.writeHeaders(1, false, reqFields("POST", "/post")...)
			tst.fr.WriteData(1, true, []byte("test"))
		}, "response to /post"},
		{"post_with_trailers", func(tst *serverTester) {
			tst.writeHeaders(1, false, reqFields("POST", "/trailers", "trailer", "x-test")...)
			tst.fr.WriteData(1, false, []byte("test"))
			tst.writeHeaders(1, true, "x-test", "ok")
		}, "response to /trailers"},
		{"options_asterisk", func(tst *serverTester) { tst.writeHeaders(1, true, reqFields("OPTIONS", "*")...) }, "response to *"},
		{"connect", func(tst *serverTester) {
			tst.writeHeaders(1, true, ":method", "CONNECT", ":authority", "example.com:443")
		}, "response to "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run(t, func(t *testing.T) {
				tst := confStart(t, HandlerFunc(confHandler))
				tc.send(tst)
				if r := tst.wantResponse(1); r.status != "200" || r.body != tc.body {
					t.Fatalf("got %+v, want 200 %q", r, tc.body)
				}
				tst.wantIdle()
			})
		})
	}
}

func TestRFC9113_8_1_TrailersWithoutEndStreamIsStreamError(t *testing.T) {
	// h2spec http2/8.1/1: a second HEADERS frame must end the stream.
	confStreamErrors(t, []confStreamCase{
		{name: "h2spec", code: ErrCodeProtocol, provoke: func(tst *serverTester) {
			tst.writeHeaders(3, false, reqFields("POST", "/")...)
			tst.call(3)
			tst.fr.WriteData(3, false, []byte("test"))
			tst.writeHeaders(3, false, "x-test", "ok")
		}},
		{name: "no_data", code: ErrCodeProtocol, provoke: func(tst *serverTester) {
			tst.writeHeaders(3, false, reqFields("POST", "/")...)
			tst.call(3)
			tst.writeHeaders(3, false, "x-test", "ok")
		}},
	})
}

// h2spec http2/8.1.2.6.

func TestRFC9113_8_1_1_ContentLengthMismatchIsStreamError(t *testing.T) {
	// h2spec http2/8.1.2.6/1-2: "A request or response is also malformed
	// if the value of a content-length header field does not equal the
	// sum of the DATA frame payload lengths".
	post := func(tst *serverTester, cl string) {
		tst.writeHeaders(3, false, reqFields("POST", "/", "content-length", cl)...)
		tst.call(3)
	}
	confStreamErrors(t, []confStreamCase{
		{name: "one_data_frame", code: ErrCodeProtocol, provoke: func(tst *serverTester) {
			post(tst, "1")
			tst.fr.WriteData(3, true, []byte("test"))
		}},
		{name: "several_data_frames", code: ErrCodeProtocol, more: true, provoke: func(tst *serverTester) {
			post(tst, "1")
			tst.fr.WriteData(3, false, []byte("test"))
			tst.fr.WriteData(3, true, []byte("test"))
		}},
		{name: "too_little", code: ErrCodeProtocol, provoke: func(tst *serverTester) {
			post(tst, "10")
			tst.fr.WriteData(3, true, []byte("test"))
		}},
		{name: "too_little_then_trailers", code: ErrCodeProtocol, provoke: func(tst *serverTester) {
			post(tst, "10")
			tst.fr.WriteData(3, false, []byte("test"))
			tst.writeHeaders(3, true, "x-t", "1")
		}},
		{name: "padding_does_not_count", code: ErrCodeProtocol, provoke: func(tst *serverTester) {
			post(tst, "5")
			tst.fr.WriteDataPadded(3, true, []byte("test"), make([]byte, 1))
		}},
		confMalformed("end_stream_with_content_length", reqFields("POST", "/", "content-length", "4")...),
		confMalformed("two_different_values", reqFields("POST", "/", "content-length", "4", "content-length", "5")...),
		confMalformed("not_a_number", reqFields("POST", "/", "content-length", "4x")...),
		confMalformed("negative", reqFields("POST", "/", "content-length", "-1")...),
	})
}

// h2spec http2/8.1.2.

func TestRFC9113_8_2_1_FieldValidity(t *testing.T) {
	// h2spec http2/8.1.2/1 (uppercase names), and the other rules of
	// section 8.2.1: "A request or response that contains a field that
	// violates any of these conditions MUST be treated as malformed".
	confStreamErrors(t, []confStreamCase{
		confMalformed("uppercase_name", reqFields("GET", "/", "X-TEST", "ok")...),
		confMalformed("name_with_space", reqFields("GET", "/", "x test", "ok")...),
		confMalformed("name_with_colon", reqFields("GET", "/", "x:test", "ok")...),
		confMalformed("name_with_del", reqFields("GET", "/", "x\x7ftest", "ok")...),
		confMalformed("name_with_high_byte", reqFields("GET", "/", "x\xc3\xa9", "ok")...),
		confMalformed("empty_name", reqFields("GET", "/", "", "ok")...),
		confMalformed("value_with_nul", reqFields("GET", "/", "x-test", "o\x00k")...),
		confMalformed("value_with_cr", reqFields("GET", "/", "x-test", "o\rk")...),
		confMalformed("value_with_lf", reqFields("GET", "/", "x-test", "o\nk")...),
		confMalformed("value_leading_space", reqFields("GET", "/", "x-test", " ok")...),
		confMalformed("value_trailing_tab", reqFields("GET", "/", "x-test", "ok\t")...),
		confMalformed("pseudo_value_with_lf", reqFields("GET", "/a\nb")...),
	})
	t.Run("valid_unusual_fields_accepted", func(t *testing.T) {
		run(t, func(t *testing.T) {
			tst := confStart(t, HandlerFunc(confHandler))
			tst.writeHeaders(1, true, reqFields("GET", "/", "x-!#$%&'*+-.^_`|~09", "", "x-inner", "a \t b", "x-high", "\x80\xff")...)
			tst.wantResponse(1)
		})
	})
}

// h2spec http2/8.1.2.2.

func TestRFC9113_8_2_2_ConnectionSpecificFieldsAreStreamErrors(t *testing.T) {
	// h2spec http2/8.1.2.2/1-2: "An endpoint MUST NOT generate an HTTP/2
	// message containing connection-specific header fields. ... Any
	// message containing connection-specific header fields MUST be
	// treated as malformed": a stream error (RST_STREAM PROTOCOL_ERROR),
	// not a 400 response.
	confStreamErrors(t, []confStreamCase{
		confMalformed("connection", reqFields("GET", "/", "connection", "keep-alive")...),
		confMalformed("keep_alive", reqFields("GET", "/", "keep-alive", "timeout=5")...),
		confMalformed("proxy_connection", reqFields("GET", "/", "proxy-connection", "keep-alive")...),
		confMalformed("transfer_encoding", reqFields("GET", "/", "transfer-encoding", "chunked")...),
		confMalformed("upgrade", reqFields("GET", "/", "upgrade", "websocket")...),
		confMalformed("te_other_than_trailers", reqFields("GET", "/", "trailers", "test", "te", "trailers, deflate")...),
		confMalformed("te_gzip", reqFields("GET", "/", "te", "gzip")...),
		{name: "in_trailers", code: ErrCodeProtocol, provoke: func(tst *serverTester) {
			tst.writeHeaders(3, false, reqFields("POST", "/")...)
			tst.call(3)
			tst.writeHeaders(3, true, "connection", "close")
		}},
	})
	t.Run("te_trailers_accepted", func(t *testing.T) {
		run(t, func(t *testing.T) {
			tst := confStart(t, HandlerFunc(confHandler))
			tst.writeHeaders(1, true, reqFields("GET", "/te", "te", "trailers")...)
			if r := tst.wantResponse(1); r.body != "response to /te" {
				t.Fatalf("got %+v", r)
			}
		})
	})
}

// h2spec http2/8.1.2.1.

func TestRFC9113_8_3_PseudoHeaderFields(t *testing.T) {
	// h2spec http2/8.1.2.1/1-4: only the request pseudo-header fields,
	// only in the header section, only before the regular fields.
	confStreamErrors(t, []confStreamCase{
		confMalformed("unknown", reqFields("GET", "/", ":test", "ok")...),
		confMalformed("response_pseudo", reqFields("GET", "/", ":status", "200")...),
		confMalformed("protocol_without_extended_connect", reqFields("GET", "/", ":protocol", "websocket")...),
		confMalformed("after_regular", append([]string{"x-test", "ok"}, reqFields("GET", "/")...)...),
		confMalformed("between_regular", []string{":method", "GET", ":scheme", "https", "x-test", "ok", ":path", "/", ":authority", "a"}...),
		{name: "in_trailers", code: ErrCodeProtocol, provoke: func(tst *serverTester) {
			// h2spec sends these trailers without END_STREAM as well.
			tst.writeHeaders(3, false, reqFields("POST", "/")...)
			tst.call(3)
			tst.fr.WriteData(3, false, []byte("test"))
			tst.writeHeaders(3, true, ":method", "POST")
		}},
		{name: "in_trailers_h2spec", code: ErrCodeProtocol, provoke: func(tst *serverTester) {
			tst.writeHeaders(3, false, reqFields("POST", "/")...)
			tst.call(3)
			tst.fr.WriteData(3, false, []byte("test"))
			tst.writeHeaders(3, false, ":method", "POST")
		}},
	})
}

// h2spec http2/8.1.2.3.

func TestRFC9113_8_3_1_RequestPseudoHeaderFields(t *testing.T) {
	// h2spec http2/8.1.2.3/1-7: ":method", ":scheme" and ":path" once
	// each, ":path" not empty; all requests other than CONNECT.
	confStreamErrors(t, []confStreamCase{
		confMalformed("empty_path", reqFields("GET", "")...),
		confMalformed("missing_method", ":scheme", "https", ":path", "/", ":authority", "a"),
		confMalformed("missing_method_h2spec", ":path", "/", ":authority", "a"),
		confMalformed("missing_scheme", ":method", "GET", ":path", "/", ":authority", "a"),
		confMalformed("missing_path", ":method", "GET", ":scheme", "https", ":authority", "a"),
		confMalformed("duplicate_method", append(reqFields("GET", "/"), ":method", "GET")...),
		confMalformed("duplicate_scheme", append(reqFields("GET", "/"), ":scheme", "https")...),
		confMalformed("duplicate_path", append(reqFields("GET", "/"), ":path", "/")...),
		confMalformed("duplicate_authority", append(reqFields("GET", "/"), ":authority", "b")...),
		confMalformed("empty_method", reqFields("", "/")...),
		confMalformed("empty_scheme", ":method", "GET", ":scheme", "", ":path", "/"),
		confMalformed("relative_path", reqFields("GET", "index.html")...),
		confMalformed("asterisk_path_not_options", reqFields("GET", "*")...),
		confMalformed("connect_with_path", ":method", "CONNECT", ":authority", "a:443", ":path", "/"),
		confMalformed("connect_with_scheme", ":method", "CONNECT", ":authority", "a:443", ":scheme", "https"),
		confMalformed("connect_without_authority", ":method", "CONNECT"),
	})
}

// h2spec http2/8.2.

func TestRFC9113_8_4_PushPromiseFromClientIsConnectionError(t *testing.T) {
	// h2spec http2/8.2/1: "A client cannot push."
	confConnErrors(t, []confConnCase{
		{"h2spec", func(tst *serverTester) {
			tst.fr.WritePushPromise(http2.PushPromiseParam{StreamID: 1, PromiseID: 3, BlockFragment: tst.encode(reqFields("GET", "/")...), EndHeaders: true})
		}, ErrCodeProtocol},
		{"on_open_stream", func(tst *serverTester) {
			tst.writeHeaders(1, false, reqFields("POST", "/")...)
			tst.fr.WritePushPromise(http2.PushPromiseParam{StreamID: 1, PromiseID: 2, BlockFragment: tst.encode(reqFields("GET", "/")...), EndHeaders: true})
		}, ErrCodeProtocol},
	})
}

// HPACK: h2spec generic/5 (positive) and hpack/* (errors).

// confRawBlock sends the common request fields encoded by the test's
// encoder, with raw HPACK bytes before and after.
func confRawBlock(tst *serverTester, id uint32, before, after []byte) {
	block := append(append(bytes.Clone(before), tst.encode(reqFields("GET", "/hpack")...)...), after...)
	tst.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block, EndStream: true, EndHeaders: true})
}

func TestRFC7541_6_FieldRepresentationsAccepted(t *testing.T) {
	// h2spec generic/5/1-15: every representation of RFC 7541 section 6,
	// with and without Huffman coding, and dynamic table size updates at
	// the start of a block.
	for _, tc := range []struct {
		name          string
		before, after string
	}{
		{"indexed", "", "\xba"},
		{"incremental_indexed_name", "", "\x40\x87\xb5\x05\xb1\x61\xcc\x5a\x93\x84\x9c\x48\xac\xa4"},
		{"incremental_indexed_name_huffman", "", "\x40\x0a\x75\x73\x65\x72\x2d\x61\x67\x65\x6e\x74\x06\x68\x32\x73\x70\x65\x63"},
		{"incremental_new_name", "", "\x40\x06\x78\x2d\x74\x65\x73\x74\x06\x68\x32\x73\x70\x65\x63"},
		{"incremental_new_name_huffman", "", "\x40\x85\xf2\xb2\x4a\x84\xff\x84\x9c\x48\xac\xa4"},
		{"without_indexing_indexed_name", "", "\x00\x0a\x75\x73\x65\x72\x2d\x61\x67\x65\x6e\x74\x06\x68\x32\x73\x70\x65\x63"},
		{"without_indexing_indexed_name_huffman", "", "\x00\x87\xb5\x05\xb1\x61\xcc\x5a\x93\x84\x9c\x48\xac\xa4"},
		{"without_indexing_new_name", "", "\x00\x06\x78\x2d\x74\x65\x73\x74\x06\x68\x32\x73\x70\x65\x63"},
		{"without_indexing_new_name_huffman", "", "\x00\x85\xf2\xb2\x4a\x84\xff\x84\x9c\x48\xac\xa4"},
		{"never_indexed_indexed_name", "", "\x10\x0a\x75\x73\x65\x72\x2d\x61\x67\x65\x6e\x74\x06\x68\x32\x73\x70\x65\x63"},
		{"never_indexed_indexed_name_huffman", "", "\x10\x87\xb5\x05\xb1\x61\xcc\x5a\x93\x84\x9c\x48\xac\xa4"},
		{"never_indexed_new_name", "", "\x10\x85\xf2\xb2\x4a\x84\xff\x84\x9c\x48\xac\xa4"},
		{"size_update_128", "\x3f\x61", ""},
		{"size_updates_128_then_4096", "\x3f\x61\x3f\xe1\x1f", ""},
		{"size_update_0", "\x20", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run(t, func(t *testing.T) {
				tst := confStart(t, HandlerFunc(confHandler))
				confRawBlock(tst, 1, []byte(tc.before), []byte(tc.after))
				if r := tst.wantResponse(1); r.body != "response to /hpack" {
					t.Fatalf("got %+v", r)
				}
			})
		})
	}
	t.Run("encoder_size_update_before_second_block", func(t *testing.T) {
		// A size update is allowed at the start of any block, not only
		// the first of the connection.
		run(t, func(t *testing.T) {
			tst := confStart(t, HandlerFunc(confHandler))
			tst.get(1, "/")
			tst.wantResponse(1)
			tst.enc.SetMaxDynamicTableSize(128)
			tst.get(3, "/after")
			if r := tst.wantResponse(3); r.body != "response to /after" {
				t.Fatalf("got %+v", r)
			}
		})
	})
}

func TestRFC7541_2_3_3_InvalidIndexIsCompressionError(t *testing.T) {
	// h2spec hpack/2.3.3/1: index 70 with a dynamic table of one entry.
	confConnErrors(t, []confConnCase{
		{"h2spec", func(tst *serverTester) { confRawBlock(tst, 1, nil, []byte{0xc6}) }, ErrCodeCompression},
		{"largest_index", func(tst *serverTester) { confRawBlock(tst, 1, nil, []byte{0xff, 0xff, 0xff, 0xff, 0x0f}) }, ErrCodeCompression},
		{"literal_with_invalid_name_index", func(tst *serverTester) { confRawBlock(tst, 1, nil, []byte{0x7f, 0x20, 0x01, 'v'}) }, ErrCodeCompression},
	})
}

func TestRFC7541_4_2_TableSizeUpdateTooLarge(t *testing.T) {
	// h2spec hpack/4.2/1: "This dynamic table size update MUST occur at
	// the beginning of the first header block following the change"; and
	// it must not exceed the limit we set (SETTINGS_HEADER_TABLE_SIZE,
	// 4096 by default; RFC 7541 section 6.3). Both are decoding errors:
	// COMPRESSION_ERROR.
	confConnErrors(t, []confConnCase{
		{"at_end_of_block", func(tst *serverTester) { confRawBlock(tst, 1, nil, []byte{0x21}) }, ErrCodeCompression},
		{"above_settings_header_table_size", func(tst *serverTester) {
			confRawBlock(tst, 1, []byte{0x3f, 0xe2, 0x1f}, nil) // 4097
		}, ErrCodeCompression},
	})
}

func TestRFC7541_5_2_InvalidHuffmanIsCompressionError(t *testing.T) {
	// h2spec hpack/5.2/1-3: padding longer than 7 bits, padding that is
	// not the EOS prefix (zeros), and the EOS symbol inside a string.
	confConnErrors(t, []confConnCase{
		{"padding_longer_than_7_bits", func(tst *serverTester) {
			confRawBlock(tst, 1, nil, []byte("\x00\x85\xf2\xb2\x4a\x84\xff\x84\x49\x50\x9f\xff"))
		}, ErrCodeCompression},
		{"padded_by_zero", func(tst *serverTester) {
			confRawBlock(tst, 1, nil, []byte("\x00\x85\xf2\xb2\x4a\x84\xff\x83\x49\x50\x90"))
		}, ErrCodeCompression},
		{"eos_symbol", func(tst *serverTester) {
			confRawBlock(tst, 1, nil, []byte("\x00\x85\xf2\xb2\x4a\x87\xff\xff\xff\xfd\x25\x42\x7f"))
		}, ErrCodeCompression},
		{"string_longer_than_block", func(tst *serverTester) {
			confRawBlock(tst, 1, nil, []byte("\x00\x05x-bad\x7f\x00abc"))
		}, ErrCodeCompression},
	})
}

func TestRFC7541_6_1_IndexZeroIsCompressionError(t *testing.T) {
	// h2spec hpack/6.1/1: "The index value of 0 is not used. It MUST be
	// treated as a decoding error if found in an indexed header field
	// representation."
	confConnErrors(t, []confConnCase{
		{"h2spec", func(tst *serverTester) { confRawBlock(tst, 1, nil, []byte{0x80}) }, ErrCodeCompression},
	})
}

func TestRFC7541_6_3_TableSizeUpdateAboveLimitIsCompressionError(t *testing.T) {
	// h2spec hpack/6.3/1: "The new maximum size MUST be lower than or
	// equal to the limit ... A value that exceeds this limit MUST be
	// treated as a decoding error."
	confConnErrors(t, []confConnCase{
		{"4097", func(tst *serverTester) { confRawBlock(tst, 1, []byte{0x3f, 0xe2, 0x1f}, nil) }, ErrCodeCompression},
		{"2^32", func(tst *serverTester) {
			confRawBlock(tst, 1, []byte{0x3f, 0xe1, 0xff, 0xff, 0xff, 0x0f}, nil)
		}, ErrCodeCompression},
	})
	t.Run("4096_accepted", func(t *testing.T) {
		run(t, func(t *testing.T) {
			tst := confStart(t, HandlerFunc(confHandler))
			confRawBlock(tst, 1, []byte{0x3f, 0xe1, 0x1f}, nil)
			tst.wantResponse(1)
		})
	})
}

// TestStreamStateMachine checks streamState.next, for every state and
// event, against the diagram of RFC 9113 section 5.1 as a server sees it
// (no push, so no reserved states).
func TestStreamStateMachine(t *testing.T) {
	const bad = streamState(255) // the event is not allowed
	states := []streamState{stateIdle, stateOpen, stateHalfClosedRemote, stateHalfClosedLocal, stateClosed}
	events := []streamEvent{evRecvHeaders, evRecvEndStream, evSendEndStream, evReset}
	eventNames := []string{"recv HEADERS", "recv END_STREAM", "send END_STREAM", "RST_STREAM"}
	want := map[streamState][4]streamState{
		// idle: only a HEADERS frame opens a stream (RST_STREAM on an
		// idle stream is a connection error, section 6.4).
		stateIdle: {stateOpen, bad, bad, bad},
		// open: either side ends its half, or a reset closes both.
		stateOpen: {bad, stateHalfClosedRemote, stateHalfClosedLocal, stateClosed},
		// half-closed (remote): the client is done; our END_STREAM or a
		// reset closes.
		stateHalfClosedRemote: {bad, bad, stateClosed, stateClosed},
		// half-closed (local): we are done; the client's END_STREAM or a
		// reset closes.
		stateHalfClosedLocal: {bad, stateClosed, bad, stateClosed},
		// closed: terminal.
		stateClosed: {bad, bad, bad, bad},
	}
	for _, s := range states {
		for i, ev := range events {
			got, ok := s.next(ev)
			w := want[s][i]
			if w == bad {
				if ok || got != s {
					t.Errorf("%v + %s = %v, %v; want not allowed, state unchanged", s, eventNames[i], got, ok)
				}
				continue
			}
			if !ok || got != w {
				t.Errorf("%v + %s = %v, %v; want %v", s, eventNames[i], got, ok, w)
			}
		}
	}
	// The peer may send DATA and trailers only while its side is open.
	for s, want := range map[streamState]bool{
		stateIdle: false, stateOpen: true, stateHalfClosedRemote: false, stateHalfClosedLocal: true, stateClosed: false,
	} {
		if got := s.canRecv(); got != want {
			t.Errorf("%v.canRecv() = %v, want %v", s, got, want)
		}
	}
	// Every path from open reaches closed, and closed is reached only
	// through the diagram's edges.
	names := map[string]bool{}
	for _, s := range states {
		names[s.String()] = true
	}
	if len(names) != len(states) {
		t.Errorf("state names are not distinct: %v", names)
	}
	for _, path := range [][]streamEvent{
		{evRecvHeaders, evRecvEndStream, evSendEndStream},
		{evRecvHeaders, evSendEndStream, evRecvEndStream},
		{evRecvHeaders, evReset},
		{evRecvHeaders, evRecvEndStream, evReset},
		{evRecvHeaders, evSendEndStream, evReset},
	} {
		s := stateIdle
		for _, ev := range path {
			var ok bool
			if s, ok = s.next(ev); !ok {
				t.Fatalf("path %v stopped at %v", path, s)
			}
		}
		if s != stateClosed {
			t.Errorf("path %v ends in %v, want closed", path, s)
		}
	}
}

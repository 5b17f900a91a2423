package h2server

// RFC 9113 section 5.1: stream states (h2spec generic/2 and http2/5.1),
// stream identifiers (5.1.1) and the concurrent stream limit (5.1.2); and
// the state machine of state.go checked against the section's diagram.
// Shared helpers are in conformance_test.go.

import (
	"context"
	"testing"
	"testing/synctest"

	"golang.org/x/net/http2"
)

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

package h2server

// RFC 9113 section 6, frame definitions: DATA (6.1), HEADERS (6.2),
// PRIORITY (6.3, with the self-dependency of section 5.3.1), RST_STREAM
// (6.4), PING (6.7) and CONTINUATION (6.10); h2spec http2/6.x and
// generic/3.x. SETTINGS, GOAWAY and WINDOW_UPDATE have files of their
// own: rfc9113_settings_test.go, rfc9113_goaway_test.go and
// rfc9113_flow_test.go. Shared helpers are in conformance_test.go.

import (
	"strings"
	"testing"
	"testing/synctest"

	"golang.org/x/net/http2"
)

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

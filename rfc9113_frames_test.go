package h2server

// RFC 9113 section 4, HTTP frames: frame format, frame size and field
// blocks (h2spec http2/4.x); and section 5.5, unknown extension frames.
// The checks of each frame type (section 6) are in
// rfc9113_frame_types_test.go. Shared helpers are in conformance_test.go.

import (
	"bytes"
	"strings"
	"testing"

	"golang.org/x/net/http2"
)

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

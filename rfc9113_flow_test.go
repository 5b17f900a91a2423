package h2server

// RFC 9113 sections 6.9, 6.9.1 and 6.9.2: WINDOW_UPDATE, the
// flow-control window and SETTINGS_INITIAL_WINDOW_SIZE (h2spec http2/6.9.x
// and generic/3.9). Shared helpers are in conformance_test.go.

import (
	"testing"

	"golang.org/x/net/http2"
)

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

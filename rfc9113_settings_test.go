package h2server

// RFC 9113 section 6.5: SETTINGS (h2spec http2/6.5, 6.5.2, 6.5.3 and
// generic/3.5). Shared helpers are in conformance_test.go.

import (
	"testing"
	"time"

	"golang.org/x/net/http2"
)

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

// TestSettingsFloodIsGlitches: SETTINGS frames beyond the preface's are
// charged to the glitch budget (a SETTINGS flood, CVE-2019-9515): with
// MaxGlitchesPerMinute 20, twenty are acknowledged, the 21st ends the
// connection with GOAWAY ENHANCE_YOUR_CALM; a minute later the budget
// is whole again.
func TestSettingsFloodIsGlitches(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, nil, func(s *Server) { s.MaxGlitchesPerMinute = 20 })
		tst.greet()
		for range 20 {
			tst.fr.WriteSettings()
			tst.wantSettingsAck()
		}
		time.Sleep(time.Minute)
		for range 20 {
			tst.fr.WriteSettings()
			tst.wantSettingsAck()
		}
		tst.fr.WriteSettings()
		tst.wantGoAway(ErrCodeEnhanceYourCalm)
	})
}

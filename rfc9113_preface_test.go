package h2server

// RFC 9113 section 3.4: the HTTP/2 connection preface (h2spec generic/1
// and http2/3.5). Shared helpers (confStart, confConnErrors, ...) are in
// conformance_test.go.

import (
	"testing"

	"golang.org/x/net/http2"
)

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

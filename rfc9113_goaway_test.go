package h2server

// RFC 9113 section 6.8: GOAWAY (h2spec http2/6.8 and generic/3.8).
// Shared helpers are in conformance_test.go; a connection error's GOAWAY
// is checked in rfc9113_errors_test.go, graceful shutdown in
// shutdown_test.go.

import (
	"testing"
	"testing/synctest"

	"golang.org/x/net/http2"
)

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

package h2server

// RFC 9113 section 5.4, error handling (h2spec http2/5.4.1), and section
// 7, error codes (h2spec http2/7). Shared helpers are in
// conformance_test.go.

import (
	"testing"
	"testing/synctest"

	"golang.org/x/net/http2"
)

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

package h2server

import (
	"bytes"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// Client resets and the glitch budget (CVE-2023-44487, rapid reset): a
// reset that arrives with its stream's HEADERS, before the handler could
// do anything, is charged; the cancel of a call that ran is not.

// TestRapidResetChargedAsBefore: HEADERS and RST_STREAM pairs sent in
// one write exhaust the default budget of 1000 after about a thousand
// streams, as every client reset did before.
func TestRapidResetChargedAsBefore(t *testing.T) {
	const pairs = 1200
	run(t, func(t *testing.T) {
		// Room for every handler, so that the budget, not the handler
		// queue, is what runs out.
		tst := newServerTester(t, HandlerFunc(func(st *Stream) { <-st.Context().Done() }),
			func(s *Server) { s.MaxConcurrentStreams = 2 * pairs })
		tst.greet()
		var buf bytes.Buffer
		fr := http2.NewFramer(&buf, nil)
		for id := uint32(1); id < 2*pairs; id += 2 {
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: tst.encode(reqFields("GET", "/")...), EndStream: true, EndHeaders: true})
			fr.WriteRSTStream(id, http2.ErrCodeCancel)
		}
		tst.cc.Write(buf.Bytes())
		var goAway *http2.GoAwayFrame
		for goAway == nil {
			f := tst.readFrame()
			if f == nil {
				t.Fatalf("no GOAWAY after %d rapid resets with the default budget of 1000", pairs)
			}
			goAway, _ = f.(*http2.GoAwayFrame)
		}
		if ErrCode(goAway.ErrCode) != ErrCodeEnhanceYourCalm || string(goAway.DebugData()) != "too_many_glitches" {
			t.Fatalf("got %v, want GOAWAY ENHANCE_YOUR_CALM", summarize(goAway))
		}
		// A pair split across two reads of the socket is not charged;
		// allow a few.
		if n := (goAway.LastStreamID + 1) / 2; n < 1000 || n > 1020 {
			t.Errorf("GOAWAY after %d streams, want about 1000 (the budget)", n)
		}
	})
}

// TestCancelledRunningCallsKeepConnection: a gRPC-like client that
// cancels 50 running calls a second for a minute (3,000 resets, three
// times the default budget) keeps its connection.
func TestCancelledRunningCallsKeepConnection(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, nil)
		tst.greet()
		id := uint32(1)
		for range 60 * 50 {
			tst.get(id, "/call")
			c := tst.call(id) // the handler runs
			time.Sleep(20 * time.Millisecond)
			tst.fr.WriteRSTStream(id, http2.ErrCodeCancel)
			close(c.release)
			id += 2
		}
		// The connection still serves.
		tst.get(id, "/")
		c := tst.call(id)
		c.st.Write([]byte("ok"))
		close(c.release)
		for {
			f := tst.readFrame()
			if f == nil {
				t.Fatal("no response on the last stream")
			}
			if g, ok := f.(*http2.GoAwayFrame); ok {
				t.Fatalf("got %v after cancelled calls that ran", summarize(g))
			}
			if d, ok := f.(*http2.DataFrame); ok && d.StreamID == id && string(d.Data()) == "ok" {
				break
			}
		}
	})
}

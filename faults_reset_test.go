package h2server

// Frames in flight when we reset a stream (fault b of the outside
// review). A client sending a request body keeps sending until our
// RST_STREAM reaches it, within the window it was given. RFC 9113 section
// 5.1 (closed): "An endpoint MUST ignore frames that it receives on
// closed streams after it has sent a RST_STREAM frame"; section 5.4.2:
// no RST_STREAM in answer to a RST_STREAM, and so at most one per stream.
// The old code answered each such DATA frame with RST_STREAM
// STREAM_CLOSED and a glitch, and an upload-heavy client ended with
// GOAWAY ENHANCE_YOUR_CALM.

import (
	"context"
	"net/http"
	"testing"

	"golang.org/x/net/http2"
)

// answer413 refuses every upload without reading it, as a size limit does.
func answer413(st *Stream) { st.WriteHeaders(http.StatusRequestEntityTooLarge, nil) }

// wantOnlyConnWindowUpdates reads what the server sent and fails on any
// frame but a connection WINDOW_UPDATE; it returns their increments' sum.
func (tst *serverTester) wantOnlyConnWindowUpdates() uint32 {
	tst.t.Helper()
	var sum uint32
	for _, f := range tst.drainFrames() {
		if f.typ != http2.FrameWindowUpdate || f.id != 0 {
			tst.t.Fatalf("server sent %v, want nothing but connection WINDOW_UPDATEs", f)
		}
		sum += f.incr
	}
	return sum
}

// writeBody sends n bytes of DATA on stream id in frames of at most
// 16384 bytes, the last with END_STREAM if end.
func (tst *serverTester) writeBody(id uint32, n int, end bool) {
	tst.t.Helper()
	buf := make([]byte, 16384)
	for n > 0 || end {
		k := min(n, len(buf))
		n -= k
		if err := tst.fr.WriteData(id, end && n == 0, buf[:k]); err != nil {
			tst.t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
}

// TestFaultB_RFC9113_5_1_DataAfterOurResetIgnored: a handler answers an
// upload without reading it, by a 413 or 404 response (then RST_STREAM
// NO_ERROR, RFC 9113 section 8.1), by Reset, or by CancelRead and a
// response. The client, which had already sent part of its body, sends
// the rest of the stream window it was given before it sees our
// RST_STREAM. None of it is answered: no RST_STREAM, no GOAWAY; only the
// connection window is credited, in its quarter-window batch.
func TestFaultB_RFC9113_5_1_DataAfterOurResetIgnored(t *testing.T) {
	const window = 256 << 10 // the default InitialStreamWindowSize, and a quarter of the 1 MiB connection window set below
	cases := []struct {
		name    string
		handler func(st *Stream)
		code    ErrCode // our RST_STREAM
		head    bool    // a response head before it
	}{
		{"413", answer413, ErrCodeNo, true},
		{"404", func(st *Stream) { st.WriteHeaders(http.StatusNotFound, nil) }, ErrCodeNo, true},
		{"Reset", func(st *Stream) { st.Reset(ErrCodeCancel) }, ErrCodeCancel, false},
		{"CancelRead", func(st *Stream) {
			st.CancelRead(ErrCodeNo)
			st.WriteHeaders(http.StatusRequestEntityTooLarge, nil)
		}, ErrCodeNo, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			run(t, func(t *testing.T) {
				handled := make(chan struct{})
				tst := newServerTester(t, HandlerFunc(func(st *Stream) {
					<-handled // the first DATA frame is in
					tc.handler(st)
				}), connWindow1M)
				tst.greet()
				tst.writeHeaders(1, false, reqFields("POST", "/upload")...)
				tst.writeBody(1, 16384, false)
				tst.wantIdle()
				close(handled)
				if tc.head {
					// END_STREAM on the head, or, when the writer took
					// the head before the handler returned (CancelRead
					// hands it the stream), on an empty DATA after it.
					if h := wantFrame[*http2.MetaHeadersFrame](tst); h.StreamID != 1 {
						t.Fatalf("got %v, want the response head on stream 1", summarize(h))
					} else if !h.StreamEnded() {
						tst.wantData(1, true, "")
					}
				}
				tst.wantRSTStream(1, tc.code)
				// What the client sent before our RST_STREAM reached it.
				tst.writeBody(1, window-16384, true)
				if got := tst.wantOnlyConnWindowUpdates(); got != window {
					t.Errorf("connection credited %d bytes, want %d", got, window)
				}
				// The connection is fine.
				tst.writeHeaders(3, true, reqFields("GET", "/")...)
				if tc.head {
					tst.wantHeaders(3, true)
				} else {
					tst.wantRSTStream(3, tc.code)
				}
			})
		})
	}
}

// TestFaultB_ManyRefusedUploadsKeepTheConnection: 1,500 uploads on one
// connection, each refused with 413 before its body arrives, each
// followed by a few DATA frames that crossed our RST_STREAM. With the
// default MaxGlitchesPerMinute (1000) the connection must survive: an
// honest client is never charged for what the RFC allows it (fake time
// stands still, so the glitch budget does not refill meanwhile).
func TestFaultB_ManyRefusedUploadsKeepTheConnection(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, HandlerFunc(answer413), connWindow1M)
		tst.greet()
		chunk := make([]byte, 100)
		var credited uint32
		resets := 0 // RST_STREAMs in answer to the DATA
		id := uint32(1)
		for i := 0; i < 1500; i++ {
			tst.writeHeaders(id, false, reqFields("POST", "/upload")...)
			tst.wantHeaders(id, true)
			tst.wantRSTStream(id, ErrCodeNo)
			tst.fr.WriteData(id, false, chunk)
			tst.fr.WriteData(id, false, chunk)
			tst.fr.WriteData(id, true, chunk)
			for _, f := range tst.drainFrames() {
				switch {
				case f.typ == http2.FrameWindowUpdate && f.id == 0:
					credited += f.incr
				case f.typ == http2.FrameRSTStream:
					resets++
				default:
					t.Fatalf("upload %d: server sent %v after %d RST_STREAMs answering DATA that crossed ours", i+1, f, resets)
				}
			}
			id += 2
		}
		if resets > 0 {
			t.Errorf("%d RST_STREAMs answered DATA that crossed our RST_STREAM, want none", resets)
		}
		// The connection window is credited as the bytes arrive, in
		// batches of a quarter window (256 KiB of 1 MiB).
		const sent = 1500 * 300
		if credited > sent || sent-credited >= 256<<10 {
			t.Errorf("connection credited %d of the %d bytes sent, want all but less than a quarter window", credited, sent)
		}
		tst.get(id, "/")
		tst.wantHeaders(id, true)
	})
}

// TestFaultB_DataBeyondTheWindowIsCharged: what no honest client sends
// after our RST_STREAM, DATA beyond the window the stream had or after
// its END_STREAM, is dropped without a second RST_STREAM (section 5.4.2)
// and charged to the glitch budget: with MaxGlitchesPerMinute 5 the sixth
// such frame brings GOAWAY ENHANCE_YOUR_CALM, and not one before.
func TestFaultB_DataBeyondTheWindowIsCharged(t *testing.T) {
	const window = 1000
	run(t, func(t *testing.T) {
		tst := newServerTester(t, HandlerFunc(answer413), func(s *Server) {
			s.MaxGlitchesPerMinute = 5
			s.InitialStreamWindowSize = window
		})
		tst.greet() // acknowledges our SETTINGS: the 1000-byte window holds
		id := uint32(1)
		for i := 0; i < 6; i++ {
			tst.writeHeaders(id, false, reqFields("POST", "/upload")...)
			tst.wantHeaders(id, true)
			tst.wantRSTStream(id, ErrCodeNo)
			if i%2 == 0 {
				// The whole window, quietly dropped; then one byte more.
				tst.writeBody(id, window, false)
				tst.wantIdle()
				tst.fr.WriteData(id, false, []byte{1})
			} else {
				// The end of the body, quietly dropped; then more DATA.
				tst.fr.WriteData(id, true, []byte("end"))
				tst.wantIdle()
				tst.fr.WriteData(id, false, []byte("after the end"))
			}
			if i < 5 {
				tst.wantIdle() // charged, not answered
			}
			id += 2
		}
		tst.wantGoAway(ErrCodeEnhanceYourCalm)
		tst.wantClosed()
	})
}

// TestFaultB_RefusedStreamDataIgnored: a stream refused before it ran
// (REFUSED_STREAM because of MaxConcurrentStreams, or during a graceful
// shutdown, or a malformed request's PROTOCOL_ERROR) is followed by the
// body the client had already sent: it gets no second frame.
func TestFaultB_RefusedStreamDataIgnored(t *testing.T) {
	t.Run("MaxConcurrentStreams", func(t *testing.T) {
		run(t, func(t *testing.T) {
			tst := newServerTester(t, nil, func(s *Server) { s.MaxConcurrentStreams = 1 })
			tst.greet()
			tst.get(1, "/")
			c := tst.call(1)
			tst.writeHeaders(3, false, reqFields("POST", "/upload")...)
			tst.wantRSTStream(3, ErrCodeRefusedStream)
			tst.writeBody(3, 20000, false)
			tst.fr.WriteData(3, true, []byte("end"))
			tst.wantOnlyConnWindowUpdates()
			close(c.release)
			tst.wantHeaders(1, true)
			tst.wantIdle()
		})
	})
	t.Run("Shutdown", func(t *testing.T) {
		run(t, func(t *testing.T) {
			tst := newServerTester(t, nil)
			tst.greet()
			tst.get(1, "/")
			c := tst.call(1)
			shut := make(chan error, 1)
			go func() { shut <- tst.srv.Shutdown(context.Background()) }()
			if ga := tst.wantGoAway(ErrCodeNo); ga.LastStreamID != 1<<31-1 {
				t.Fatalf("first GOAWAY names stream %d", ga.LastStreamID)
			}
			ping := wantFrame[*http2.PingFrame](tst)
			tst.fr.WritePing(true, ping.Data)
			if ga := tst.wantGoAway(ErrCodeNo); ga.LastStreamID != 1 {
				t.Fatalf("final GOAWAY names stream %d, want 1", ga.LastStreamID)
			}
			// A request the client sent before it saw the GOAWAY.
			tst.writeHeaders(3, false, reqFields("POST", "/upload")...)
			tst.wantRSTStream(3, ErrCodeRefusedStream)
			tst.writeBody(3, 20000, true)
			tst.wantOnlyConnWindowUpdates()
			close(c.release)
			tst.wantHeaders(1, true)
			if err := <-shut; err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
		})
	})
	t.Run("Malformed", func(t *testing.T) {
		run(t, func(t *testing.T) {
			tst := newServerTester(t, nil)
			tst.greet()
			tst.writeHeaders(1, false, ":method", "POST", ":scheme", "https", ":authority", "example.com") // no :path
			tst.wantRSTStream(1, ErrCodeProtocol)
			tst.writeBody(1, 20000, true)
			tst.wantOnlyConnWindowUpdates()
			tst.get(3, "/")
			c := tst.call(3)
			close(c.release)
			tst.wantHeaders(3, true)
		})
	})
}

// TestFaultB_TrailersAfterOurResetIgnored: after our 413 and RST_STREAM,
// the client's last DATA and its trailers (HEADERS with END_STREAM) were
// already on their way: they get no answer. The trailer block is still
// decoded, so that HPACK state stays in step: the next request, which
// refers to the field the trailers added to the dynamic table, arrives
// whole.
func TestFaultB_TrailersAfterOurResetIgnored(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, HandlerFunc(func(st *Stream) {
			if st.Request().Path == "/upload" {
				answer413(st)
				return
			}
			st.WriteHeaders(200, http.Header{"X-Echo": {st.Request().Header().Get("X-Checksum")}})
		}))
		tst.greet()
		tst.writeHeaders(1, false, reqFields("POST", "/upload")...)
		tst.wantHeaders(1, true)
		tst.wantRSTStream(1, ErrCodeNo)
		tst.fr.WriteData(1, false, []byte("the last of the body"))
		tst.writeHeaders(1, true, "x-checksum", "c0ffee") // trailers
		tst.wantOnlyConnWindowUpdates()
		tst.writeHeaders(3, true, reqFields("GET", "/check", "x-checksum", "c0ffee")...)
		h := tst.wantHeaders(3, true)
		if got := fieldsString(h.RegularFields()); got != "x-echo=c0ffee" {
			t.Errorf("response fields %q, want x-echo=c0ffee", got)
		}
	})
}

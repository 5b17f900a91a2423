package h2server

// Faults of the receive side found by the outside review: a smaller
// InitialStreamWindowSize enforced before the client acknowledged it
// (fault g), even stream IDs taken for closed streams (j5), and DATA
// after CancelRead credited back on the stream (j6).

import (
	"testing"

	"golang.org/x/net/http2"
)

// greetNoAck does the preface both ways, with the client's SETTINGS, but
// does not acknowledge the server's SETTINGS.
func (tst *serverTester) greetNoAck() {
	tst.t.Helper()
	tst.writePreface()
	tst.fr.WriteSettings()
	if sf := wantFrame[*http2.SettingsFrame](tst); sf.IsAck() {
		tst.t.Fatalf("first server frame is a SETTINGS ACK, want its SETTINGS")
	}
	for {
		switch f := tst.readFrame().(type) {
		case *http2.WindowUpdateFrame:
			continue
		case *http2.SettingsFrame:
			if f.IsAck() {
				return
			}
		}
		tst.t.Fatalf("want the server's SETTINGS ACK")
	}
}

// TestFaultG_RFC9113_6_9_2_WindowBeforeSettingsAck: with
// InitialStreamWindowSize 16384, a client that has not yet acknowledged
// our SETTINGS may still use the default 65,535-byte window (RFC 9113
// section 6.9.2: the new value applies once acknowledged). A first flight
// of 60,000 bytes is legal: the handler reads all of it, no RST_STREAM.
// After the ACK the smaller window holds: for a stream opened later
// (20,000 bytes is FLOW_CONTROL_ERROR), and for a stream opened before,
// whose window the ACK may make negative.
func TestFaultG_RFC9113_6_9_2_WindowBeforeSettingsAck(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, nil, func(s *Server) { s.InitialStreamWindowSize = 16384 })
		tst.greetNoAck()
		tst.writeHeaders(1, false, reqFields("POST", "/first-flight")...)
		tst.writeBody(1, 60000, true)
		tst.writeHeaders(3, false, reqFields("POST", "/opened-before-the-ack")...)
		tst.writeBody(3, 30000, false)
		for _, f := range tst.drainFrames() {
			if f.id != 0 {
				t.Fatalf("server sent %v before the client's SETTINGS ACK, want nothing on streams", f)
			}
		}
		c1, c3 := tst.call(1), tst.call(3)
		if got := readAll(t, c1.st); len(got) != 60000 {
			t.Fatalf("the handler read %d bytes, want 60000", len(got))
		}
		close(c1.release)
		tst.wantHeaders(1, true)

		tst.fr.WriteSettingsAck()
		// Stream 3 received 30,000 of the 65,535 it was allowed; the ACK
		// takes 49,151 off its window: -13,616. One byte more is too much.
		tst.fr.WriteData(3, false, []byte{1})
		tst.wantRSTStream(3, ErrCodeFlowControl)
		close(c3.release)

		tst.writeHeaders(5, false, reqFields("POST", "/after-the-ack")...)
		c5 := tst.call(5)
		tst.writeBody(5, 20000, true)
		for _, f := range tst.drainFrames() {
			if f.typ == http2.FrameRSTStream && f.id == 5 {
				if f.code != ErrCodeFlowControl {
					t.Fatalf("got %v, want RST_STREAM FLOW_CONTROL_ERROR", f)
				}
				close(c5.release)
				return
			}
		}
		t.Fatal("20,000 bytes on a 16,384-byte window after the ACK: no RST_STREAM FLOW_CONTROL_ERROR")
	})
}

// TestFaultJ5_RFC9113_5_1_1_EvenStreamIsIdle: even stream IDs belong to
// the server (RFC 9113 section 5.1.1), which opens none, so stream 2 is
// idle even after the client opened stream 3. WINDOW_UPDATE, RST_STREAM
// or DATA on it is a connection error PROTOCOL_ERROR (section 5.1, idle),
// not a closed stream's STREAM_CLOSED or silence.
func TestFaultJ5_RFC9113_5_1_1_EvenStreamIsIdle(t *testing.T) {
	for _, tc := range []struct {
		name  string
		write func(fr *http2.Framer)
	}{
		{"WINDOW_UPDATE", func(fr *http2.Framer) { fr.WriteWindowUpdate(2, 100) }},
		{"RST_STREAM", func(fr *http2.Framer) { fr.WriteRSTStream(2, http2.ErrCodeCancel) }},
		{"DATA", func(fr *http2.Framer) { fr.WriteData(2, false, []byte("x")) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run(t, func(t *testing.T) {
				tst := newServerTester(t, HandlerFunc(hello))
				tst.fr.AllowIllegalWrites = true
				tst.greet()
				tst.get(3, "/")
				tst.wantResponse(3)
				tc.write(tst.fr)
				tst.wantGoAway(ErrCodeProtocol)
				tst.wantClosed()
			})
		})
	}
}

// TestFaultJ6_CancelReadNoStreamCredit: after CancelRead the handler reads
// nothing more, so DATA that still arrives is not credited back on the
// stream (no stream WINDOW_UPDATE: the client's window runs out, and the
// reset after the response stops it). The connection window is still
// credited, in its quarter-window batch, so other streams go on.
func TestFaultJ6_CancelReadNoStreamCredit(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, nil, connWindow1M)
		tst.greet()
		tst.writeHeaders(1, false, reqFields("POST", "/")...)
		c := tst.call(1)
		c.st.CancelRead(ErrCodeNo)
		// The whole stream window (256 KiB), a quarter of the connection's.
		tst.writeBody(1, 256<<10, false)
		var conn uint32
		for _, f := range tst.drainFrames() {
			if f.typ != http2.FrameWindowUpdate || f.id != 0 {
				t.Errorf("server sent %v after CancelRead, want only connection WINDOW_UPDATEs", f)
				continue
			}
			conn += f.incr
		}
		if conn != 256<<10 {
			t.Errorf("connection window credited %d bytes, want %d", conn, 256<<10)
		}
		c.st.WriteHeaders(200, nil)
		close(c.release)
		tst.wantHeaders(1, true)
		tst.wantRSTStream(1, ErrCodeNo)
	})
}

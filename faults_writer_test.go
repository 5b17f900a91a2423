package h2server

// Faults of the writer found by the outside review (fault a): a stream
// that entered the writer's ready ring twice, from its handler's push and
// from a window that opened in the same batch, got a second turn after
// its last frame, and sent DATA END_STREAM, or its trailers, again.
//
// The interleaving is built, not hoped for: the server's socket writes
// are stalled (pipeConn.stallWrites) while the writer flushes a PING ACK,
// so that the handler's end of the response and the client's
// WINDOW_UPDATE or SETTINGS wait in the writer's queue and reach it in
// one batch.

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"

	"golang.org/x/net/http2"
)

// seenFrame is what a test keeps of a frame it read: the Framer's frames
// are valid only until the next read.
type seenFrame struct {
	typ     http2.FrameType
	id      uint32
	end     bool   // END_STREAM (DATA or HEADERS)
	status  string // HEADERS: :status ("" for trailers)
	dataLen int    // DATA: payload bytes
	code    ErrCode
	incr    uint32 // WINDOW_UPDATE
	text    string // summarize's
}

func (f seenFrame) String() string {
	if f.typ == http2.FrameData || f.typ == http2.FrameHeaders {
		return f.text + fmt.Sprintf(" end_stream=%v", f.end)
	}
	return f.text
}

func keepFrame(f http2.Frame) seenFrame {
	s := seenFrame{typ: f.Header().Type, id: f.Header().StreamID, text: summarize(f)}
	switch f := f.(type) {
	case *http2.DataFrame:
		s.end, s.dataLen = f.StreamEnded(), len(f.Data())
	case *http2.MetaHeadersFrame:
		s.end, s.status = f.StreamEnded(), f.PseudoValue("status")
	case *http2.RSTStreamFrame:
		s.code = ErrCode(f.ErrCode)
	case *http2.GoAwayFrame:
		s.code = ErrCode(f.ErrCode)
	case *http2.WindowUpdateFrame:
		s.incr = f.Increment
	}
	return s
}

// drainFrames reads every frame the server has sent so far.
func (tst *serverTester) drainFrames() []seenFrame {
	tst.t.Helper()
	var fs []seenFrame
	for {
		f := tst.readFrame()
		if f == nil {
			return fs
		}
		fs = append(fs, keepFrame(f))
	}
}

// wireCheck checks, from the frames the client read, what must hold
// whatever the interleaving (RFC 9113 sections 5.1 and 5.4.2): per stream
// at most one END_STREAM, nothing after it but a RST_STREAM, nothing at
// all after a RST_STREAM, and so at most one RST_STREAM.
type wireCheck struct {
	t        testing.TB
	ended    map[uint32]int // END_STREAM flags seen
	reset    map[uint32]int // RST_STREAM frames seen
	trailers map[uint32]int // header blocks without :status
}

func newWireCheck(t testing.TB) *wireCheck {
	return &wireCheck{t: t, ended: map[uint32]int{}, reset: map[uint32]int{}, trailers: map[uint32]int{}}
}

func (w *wireCheck) add(fs ...seenFrame) {
	w.t.Helper()
	for _, f := range fs {
		id := f.id
		if id == 0 {
			continue
		}
		if w.reset[id] > 0 {
			w.t.Errorf("stream %d: %v after our RST_STREAM", id, f)
		}
		switch f.typ {
		case http2.FrameRSTStream:
			w.reset[id]++
			continue
		case http2.FrameHeaders:
			if f.status == "" { // no :status: a trailer block
				w.trailers[id]++
			}
		}
		if w.ended[id] > 0 {
			w.t.Errorf("stream %d: %v after END_STREAM", id, f)
		}
		if f.end {
			w.ended[id]++
		}
	}
}

// TestFaultA_EndStreamOnceWhenWindowOpensInTheEndsBatch: a response held
// back by a lowered SETTINGS_INITIAL_WINDOW_SIZE (RFC 9113 section 6.9.2)
// ends (Close or WriteTrailers) in the same writer batch as the window
// that lets it go (WINDOW_UPDATE, SETTINGS, or both), in either order.
// The body goes out once, END_STREAM once, the trailers once.
func TestFaultA_EndStreamOnceWhenWindowOpensInTheEndsBatch(t *testing.T) {
	const body = 1000 // under one frame: Write buffers it without handing it on
	for _, end := range []string{"Close", "WriteTrailers"} {
		for _, opener := range []string{"WINDOW_UPDATE", "SETTINGS", "both"} {
			for _, endFirst := range []bool{true, false} {
				name := fmt.Sprintf("%s/%s/end_first=%v", end, opener, endFirst)
				t.Run(name, func(t *testing.T) {
					run(t, func(t *testing.T) {
						tst := newServerTester(t, nil)
						tst.greet()
						tst.get(1, "/")
						c := tst.call(1)
						if _, err := c.st.Write(make([]byte, body)); err != nil {
							t.Fatal(err)
						}
						tst.wantIdle() // held: less than a frame, no Flush
						// The client lowers the window of the open stream to 0.
						tst.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
						tst.wantSettingsAck()
						c.st.Flush()
						tst.wantHeaders(1, false)
						tst.wantIdle() // the body waits for window

						// The writer blocks flushing a PING ACK: what follows
						// queues up and reaches it in one batch.
						tst.sc.stallWrites(true)
						tst.fr.WritePing(false, [8]byte{1})
						synctest.Wait()
						endResponse := func() {
							var err error
							if end == "Close" {
								err = c.st.Close()
							} else {
								err = c.st.WriteTrailers(http.Header{"X-Sum": {"abc"}})
							}
							if err != nil {
								t.Fatal(err)
							}
						}
						openWindow := func() {
							if opener != "SETTINGS" {
								tst.fr.WriteWindowUpdate(1, 2*body)
							}
							if opener != "WINDOW_UPDATE" {
								tst.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 65535})
							}
							synctest.Wait() // the reader queued them
						}
						if endFirst {
							endResponse()
							openWindow()
						} else {
							openWindow()
							endResponse()
						}
						tst.sc.stallWrites(false)

						frames := tst.drainFrames()
						wc := newWireCheck(t)
						wc.add(frames...)
						var got []string
						data := 0
						for _, f := range frames {
							if f.id == 1 {
								got = append(got, f.String())
								data += f.dataLen
							}
						}
						wantTrailers := 0
						if end == "WriteTrailers" {
							wantTrailers = 1
						}
						if wc.ended[1] != 1 || wc.trailers[1] != wantTrailers || data != body {
							t.Errorf("stream 1 got END_STREAM %d times, trailers %d times, %d body bytes; want 1, %d, %d; frames:\n%s",
								wc.ended[1], wc.trailers[1], data, wantTrailers, body, strings.Join(got, "\n"))
						}
						close(c.release)
						tst.wantIdle()
					})
				})
			}
		}
	}
}

// TestFaultA_EndStreamOnceAcrossStreams is the same fault with several
// streams at once, each parked on its own lowered window with its end and
// its WINDOW_UPDATE queued together, some ending with trailers: every
// stream's body, END_STREAM and trailers go out exactly once.
func TestFaultA_EndStreamOnceAcrossStreams(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, nil)
		tst.greet()
		ids := []uint32{1, 3, 5, 7}
		calls := map[uint32]*handlerCall{}
		for _, id := range ids {
			tst.get(id, "/")
			calls[id] = tst.call(id)
			io.WriteString(calls[id].st, strings.Repeat("x", int(id)*100))
		}
		tst.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
		tst.wantSettingsAck()
		for _, id := range ids {
			calls[id].st.Flush()
		}
		for range ids {
			wantFrame[*http2.MetaHeadersFrame](tst)
		}
		tst.wantIdle()

		tst.sc.stallWrites(true)
		tst.fr.WritePing(false, [8]byte{2})
		synctest.Wait()
		for i, id := range ids {
			if i%2 == 0 {
				calls[id].st.Close()
				tst.fr.WriteWindowUpdate(id, 1000)
			} else {
				tst.fr.WriteWindowUpdate(id, 1000)
				synctest.Wait()
				calls[id].st.WriteTrailers(http.Header{"X-Id": {itoa(id)}})
			}
		}
		tst.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 100})
		synctest.Wait()
		tst.sc.stallWrites(false)

		wc := newWireCheck(t)
		wc.add(tst.drainFrames()...)
		for i, id := range ids {
			want := i % 2
			if wc.ended[id] != 1 || wc.trailers[id] != want {
				t.Errorf("stream %d: END_STREAM %d times, trailers %d times; want 1 and %d", id, wc.ended[id], wc.trailers[id], want)
			}
			close(calls[id].release)
		}
		tst.wantIdle()
	})
}

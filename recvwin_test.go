package h2server

import (
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/net/http2"
)

// Receive windows that grow (recvwin.go), under synctest: the round trip
// is what the test takes to acknowledge our SETTINGS; a handler "keeps
// up" when it reads a quarter window sooner than half of it. A quarter
// read 10 ms after the last, with a 50 ms round trip, doubles the window
// (growthFactor: 50/(2x10) rounds down to 2).

// greetRTT greets like serverTester.greet, but acknowledges our SETTINGS
// rtt later: the round trip the server measures.
func (tst *serverTester) greetRTT(rtt time.Duration) {
	tst.t.Helper()
	tst.writePreface()
	tst.fr.WriteSettings()
	if sf := wantFrame[*http2.SettingsFrame](tst); sf.IsAck() {
		tst.t.Fatalf("first server frame is a SETTINGS ACK, want its SETTINGS")
	}
	for {
		f := tst.readFrame()
		if sf, ok := f.(*http2.SettingsFrame); ok && sf.IsAck() {
			break
		}
		if _, ok := f.(*http2.WindowUpdateFrame); !ok {
			tst.t.Fatalf("got %v during the greeting", summarize(f))
		}
	}
	time.Sleep(rtt)
	tst.fr.WriteSettingsAck()
	synctest.Wait()
}

// windowServer: 64 KiB stream windows (quarter: 16 KiB), 1 MiB growth cap,
// a 1 MiB connection window (credited on arrival in 256 KiB quarters).
func windowServer(s *Server) {
	s.InitialStreamWindowSize, s.MaxStreamWindowSize = 64<<10, 1<<20
	connWindow1M(s)
}

// connWindow1M sets a 1 MiB connection window, a quarter of which (the
// batch the connection is credited in as DATA arrives) is the default
// stream window, 256 KiB: the tests that count credit are written in it.
func connWindow1M(s *Server) { s.InitialConnWindowSize = 1 << 20 }

// readN reads exactly n bytes of st.
func readN(t *testing.T, st *Stream, n int) {
	t.Helper()
	buf := make([]byte, n)
	for got := 0; got < n; {
		m, err := st.Read(buf[got:])
		if err != nil {
			t.Fatalf("read after %d of %d bytes: %v", got, n, err)
		}
		got += m
	}
}

// sendN sends n bytes of DATA on stream id in 16 KiB frames.
func (tst *serverTester) sendN(id uint32, n int) {
	for n > 0 {
		m := min(n, 16<<10)
		tst.fr.WriteData(id, false, make([]byte, m))
		n -= m
	}
}

// grownStream opens stream 1 on a windowServer with a 50 ms round trip
// and doubles its window to 128 KiB: its handler reads the first quarter
// 10 ms after it arrived. Inside run.
func grownStream(t *testing.T) (*serverTester, *handlerCall) {
	t.Helper()
	tst := newServerTester(t, nil, windowServer)
	tst.greetRTT(50 * time.Millisecond)
	tst.writeHeaders(1, false, reqFields("POST", "/upload")...)
	c := tst.call(1)
	tst.sendN(1, 16<<10)
	time.Sleep(10 * time.Millisecond)
	readN(t, c.st, 16<<10)
	tst.wantWindowUpdate(1, 16<<10+64<<10)
	tst.wantWindowUpdate(0, 64<<10)
	return tst, c
}

// TestRecvWindowGrowsWhenReadKeepsUp: a handler that reads each quarter
// window well within half a round trip doubles its stream's window, and
// the connection window grows with it; up to MaxStreamWindowSize.
func TestRecvWindowGrowsWhenReadKeepsUp(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, nil, windowServer)
		tst.greetRTT(50 * time.Millisecond)
		tst.writeHeaders(1, false, reqFields("POST", "/upload")...)
		c := tst.call(1)
		win := uint32(64 << 10)
		for win < 1<<20 {
			tst.sendN(1, int(win/4))
			time.Sleep(10 * time.Millisecond)
			readN(t, c.st, int(win/4))
			// The quarter back, and the window doubled.
			tst.wantWindowUpdate(1, win/4+win)
			tst.wantWindowUpdate(0, win)
			win *= 2
		}
		// At the cap, credit only. (The connection's credit on arrival,
		// in quarters of its 1 MiB window, comes due on the way.)
		tst.sendN(1, int(win/4))
		tst.wantWindowUpdate(0, 256<<10)
		readN(t, c.st, int(win/4))
		tst.wantWindowUpdate(1, win/4)
		tst.wantIdle()
		close(c.release)
	})
}

// TestRecvWindowSlowReaderStays: a handler that takes longer than half a
// round trip per quarter window keeps the window as it was; so does one
// that does not read (it sends no credit at all).
func TestRecvWindowSlowReaderStays(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, nil, windowServer)
		tst.greetRTT(50 * time.Millisecond)
		tst.writeHeaders(1, false, reqFields("POST", "/slow")...)
		tst.writeHeaders(3, false, reqFields("POST", "/idle")...)
		slow, idle := tst.call(1), tst.call(3)
		tst.sendN(3, 64<<10) // all of stream 3's window, never read
		for range 8 {
			time.Sleep(25 * time.Millisecond)
			tst.sendN(1, 16<<10)
			readN(t, slow.st, 16<<10)
			tst.wantWindowUpdate(1, 16<<10)
		}
		tst.wantIdle()
		close(slow.release)
		close(idle.release)
	})
}

// TestRecvWindowShrinksAfterQuiet: a grown window that was quiet for a
// second gives back half of its growth out of the next credit.
func TestRecvWindowShrinksAfterQuiet(t *testing.T) {
	run(t, func(t *testing.T) {
		tst, c := grownStream(t)
		time.Sleep(2 * time.Second)
		tst.sendN(1, 32<<10)
		readN(t, c.st, 32<<10)
		// A quarter read after the quiet: kept, to shrink the window to
		// 96 KiB; nothing goes back.
		tst.wantIdle()
		// Reading fast again grows it again (to 192 KiB). The
		// connection window kept the 32 KiB the stream gave up: the
		// 24 KiB that arrived are not credited, and the growth is 8 KiB
		// short.
		tst.sendN(1, 24<<10)
		time.Sleep(10 * time.Millisecond)
		readN(t, c.st, 24<<10)
		tst.wantWindowUpdate(1, 24<<10+96<<10)
		tst.wantWindowUpdate(0, 96<<10-8<<10)
		close(c.release)
	})
}

// TestRecvWindowFixed: MaxStreamWindowSize negative keeps windows fixed.
func TestRecvWindowFixed(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, nil, func(s *Server) {
			s.InitialStreamWindowSize, s.MaxStreamWindowSize = 64<<10, -1
		})
		tst.greetRTT(50 * time.Millisecond)
		tst.writeHeaders(1, false, reqFields("POST", "/upload")...)
		c := tst.call(1)
		for range 4 {
			tst.sendN(1, 16<<10)
			readN(t, c.st, 16<<10)
			tst.wantWindowUpdate(1, 16<<10)
		}
		close(c.release)
	})
}

// TestRecvWindowBudget: growth stops where ReceiveBudget ends, and past
// the budget the connection window is credited as handlers read, not as
// DATA arrives.
func TestRecvWindowBudget(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, nil, windowServer, func(s *Server) {
			s.ReceiveBudget = 128 << 10
			s.InitialConnWindowSize = 64 << 10 // credited in 16 KiB steps
		})
		tst.greetRTT(50 * time.Millisecond)
		tst.writeHeaders(1, false, reqFields("POST", "/grows")...)
		c1 := tst.call(1)
		tst.sendN(1, 16<<10)
		tst.wantWindowUpdate(0, 16<<10) // 16 KiB held: within the budget
		time.Sleep(10 * time.Millisecond)
		readN(t, c1.st, 16<<10)
		tst.wantWindowUpdate(1, 16<<10+64<<10) // grown by 64 KiB: 64 of 128 KiB used
		tst.wantWindowUpdate(0, 64<<10)

		// Stream 3 does not read: 64 KiB held spends the budget; the
		// last 16 KiB of it arrive with the budget spent, and are owed.
		tst.writeHeaders(3, false, reqFields("POST", "/stuck")...)
		c3 := tst.call(3)
		for range 3 {
			tst.sendN(3, 16<<10)
			tst.wantWindowUpdate(0, 16<<10)
		}
		tst.sendN(3, 16<<10)
		tst.wantIdle()
		// ...so stream 1's next quarter neither grows it nor is credited
		// to the connection on arrival.
		tst.sendN(1, 32<<10)
		tst.wantIdle()
		readN(t, c1.st, 32<<10)
		tst.wantWindowUpdate(1, 32<<10)
		tst.wantWindowUpdate(0, 32<<10) // owed, paid as the handler read
		// Stream 3's handler leaving frees its 64 KiB, and pays the
		// 16 KiB owed for them; the budget holds again and arrivals are
		// credited at once.
		close(c3.release)
		synctest.Wait()
		paid := false
		for {
			f := tst.readFrame()
			if f == nil {
				break
			}
			if wu, ok := f.(*http2.WindowUpdateFrame); ok && wu.StreamID == 0 && wu.Increment == 16<<10 && !paid {
				paid = true
				continue
			}
			if f.Header().StreamID == 3 {
				continue // its response and RST_STREAM NO_ERROR
			}
			t.Fatalf("got %v, want stream 3's end and the credit owed", summarize(f))
		}
		if !paid {
			t.Fatalf("the 16 KiB owed for stream 3's dropped body was not credited")
		}
		tst.sendN(1, 16<<10)
		tst.wantWindowUpdate(0, 16<<10)
		close(c1.release)
	})
}

// TestRecvWindowGrowthFreed: what windows grew leaves the budget when
// their streams end, whatever size they started at (here below the
// 65,535 bytes of RFC 9113's default window).
func TestRecvWindowGrowthFreed(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, nil, func(s *Server) { s.InitialStreamWindowSize = 16 << 10 })
		tst.greetRTT(50 * time.Millisecond)
		tst.writeHeaders(1, false, reqFields("POST", "/upload")...)
		c := tst.call(1)
		tst.sendN(1, 4<<10)
		time.Sleep(10 * time.Millisecond)
		readN(t, c.st, 4<<10)
		tst.wantWindowUpdate(1, 4<<10+16<<10)
		tst.wantWindowUpdate(0, 16<<10)
		if u := tst.srv.recv.used.Load(); u != 16<<10 {
			t.Fatalf("budget used %d after growing by 16 KiB", u)
		}
		tst.fr.WriteData(1, true, nil)
		close(c.release)
		tst.wantHeaders(1, true)
		synctest.Wait()
		if u := tst.srv.recv.used.Load(); u != 0 {
			t.Errorf("budget used %d after the stream ended, want 0", u)
		}
	})
}

// TestRecvWindowJumps: a quarter window read much faster than half a
// round trip grows the window to the estimate of twice the path's
// bandwidth-delay product at once (a quarter in 1 ms of a 50 ms round
// trip: 25 times), not a doubling per round trip; and the growth is held
// to MaxStreamWindowSize and to what the budget has left.
func TestRecvWindowJumps(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, nil, func(s *Server) {
			s.InitialStreamWindowSize, s.MaxStreamWindowSize = 64<<10, 4<<20
			s.ReceiveBudget = 3 << 20
			connWindow1M(s)
		})
		tst.greetRTT(50 * time.Millisecond)
		tst.writeHeaders(1, false, reqFields("POST", "/a")...)
		tst.writeHeaders(3, false, reqFields("POST", "/b")...)
		c1, c3 := tst.call(1), tst.call(3)
		tst.sendN(1, 16<<10)
		time.Sleep(time.Millisecond)
		readN(t, c1.st, 16<<10)
		tst.wantWindowUpdate(1, 16<<10+24*64<<10) // 64 KiB x 25 = 1,600 KiB
		tst.wantWindowUpdate(0, 24*64<<10)
		tst.sendN(1, 400<<10)
		tst.wantWindowUpdate(0, 256<<10) // the connection's own credit on arrival
		time.Sleep(time.Millisecond)
		readN(t, c1.st, 400<<10)
		// 25 times would be 39 MiB, the maximum is 4 MiB, and the budget
		// of 3 MiB has 3 MiB - 1,536 KiB left: that is the growth.
		left := uint32(3<<20 - 24*64<<10)
		tst.wantWindowUpdate(1, 400<<10+left)
		tst.wantWindowUpdate(0, left)
		tst.wantIdle()
		// With the budget spent, stream 3 does not grow at all.
		tst.sendN(3, 16<<10)
		time.Sleep(time.Millisecond)
		readN(t, c3.st, 16<<10)
		tst.wantWindowUpdate(3, 16<<10)
		close(c1.release)
		close(c3.release)
	})
}

// TestRecvWindowPeerSettingsWhileGrown: the client's SETTINGS change its
// own receive window, which is our send window, and leave the window we
// grew alone. After stream 1's window doubled to 128 KiB, the client sets
// SETTINGS_INITIAL_WINDOW_SIZE to 1000: it may still send the whole
// 128 KiB (no FLOW_CONTROL_ERROR, no RST_STREAM), keeps getting credit as
// the handler reads, and the response is held to the 1,000 bytes the
// client now allows.
func TestRecvWindowPeerSettingsWhileGrown(t *testing.T) {
	run(t, func(t *testing.T) {
		tst, c := grownStream(t)

		tst.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1000})
		tst.wantSettingsAck()
		tst.sendN(1, 128<<10) // the grown window, all of it
		tst.wantIdle()
		time.Sleep(10 * time.Millisecond)
		readN(t, c.st, 128<<10)
		var credit uint32
		for _, f := range tst.drainFrames() {
			if f.typ != http2.FrameWindowUpdate {
				t.Fatalf("server sent %v after a grown window's worth of DATA, want only WINDOW_UPDATEs", f)
			}
			if f.id == 1 {
				credit += f.incr
			}
		}
		if credit < 128<<10 {
			t.Errorf("stream credited %d bytes after its handler read 128 KiB, want at least that", credit)
		}

		c.st.WriteHeaders(200, nil)
		done := goWrite(c.st, 5000)
		tst.wantDataTotal(1, true, 1000)
		wantNoWriteYet(t, done)
		tst.fr.WriteWindowUpdate(1, 4000)
		synctest.Wait()
		if r := <-done; r.n != 5000 || r.err != nil {
			t.Fatalf("Write = %d, %v; want 5000, nil", r.n, r.err)
		}
		tst.wantDataTotal(1, false, 4000)
		tst.fr.WriteData(1, true, nil)
		close(c.release)
		tst.wantData(1, true, "")
	})
}

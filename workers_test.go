package h2server

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/net/http2"
)

// The run queue (handler.go): a stream that finds no idle worker while
// GOMAXPROCS workers are busy waits for one of them, but never past the
// reader's next wait for input.

// queueBehindOne makes the connection of tst queue streams as soon as one
// worker is busy, as it does with GOMAXPROCS 1, whatever -cpu says.
func queueBehindOne(tst *serverTester) {
	for _, c := range tst.srv.liveConns() {
		c.mu.Lock()
		c.workers.maxBusy = 1
		c.mu.Unlock()
	}
}

// TestRunQueueStartsStreamBehindBlockedHandler: stream 1's handler waits
// for a body the client sends only once stream 3 is answered. Stream 3,
// queued behind the busy worker, must get a goroutine of its own before
// the reader waits for the socket; without that, all three wait forever.
func TestRunQueueStartsStreamBehindBlockedHandler(t *testing.T) {
	run(t, func(t *testing.T) {
		h := HandlerFunc(func(st *Stream) {
			body, err := io.ReadAll(st)
			if err != nil {
				return
			}
			st.WriteHeaders(200, nil)
			st.Write(append([]byte("got "), body...))
		})
		tst := newServerTester(t, h)
		tst.greet()
		queueBehindOne(tst)
		tst.writeHeaders(1, false, reqFields("POST", "/upload")...)
		synctest.Wait() // stream 1's handler waits in Read: its worker is busy
		tst.get(3, "/")
		if rs := tst.wantResponses(3); rs[3].status != "200" || rs[3].body != "got " {
			t.Fatalf("stream 3: status %q body %q, want 200 and %q", rs[3].status, rs[3].body, "got ")
		}
		tst.fr.WriteData(1, true, []byte("body"))
		if rs := tst.wantResponses(1); rs[1].body != "got body" {
			t.Fatalf("stream 1: body %q, want %q", rs[1].body, "got body")
		}
	})
}

// TestRunQueueStartsQueuedAtTeardown: a stream queued behind a busy
// worker when the connection fails, in the same read, gets its handler
// at once (not after the second the server lingers for its GOAWAY to
// arrive), which finds its stream ended with the connection's error; no
// goroutine is left once the handlers return and the connection ends.
func TestRunQueueStartsQueuedAtTeardown(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, nil)
		tst.greet()
		queueBehindOne(tst)
		tst.writeHeaders(1, false, reqFields("POST", "/upload")...)
		c1 := tst.call(1) // paused: its worker is busy

		// Stream 3's HEADERS and a connection error (DATA on stream 0)
		// in one write, so the reader reads both before it reads again.
		var b bytes.Buffer
		fr := http2.NewFramer(&b, nil)
		fr.AllowIllegalWrites = true
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: tst.encode(reqFields("GET", "/")...), EndStream: true, EndHeaders: true})
		fr.WriteData(0, false, []byte("x"))
		if _, err := tst.cc.Write(b.Bytes()); err != nil {
			t.Fatal(err)
		}
		ga := wantFrame[*http2.GoAwayFrame](tst)
		if ga.ErrCode != http2.ErrCodeProtocol {
			t.Fatalf("GOAWAY %v, want PROTOCOL_ERROR", ga.ErrCode)
		}
		c3 := tst.call(3)
		<-c3.st.Context().Done()
		var ce *ConnectionError
		if cause := context.Cause(c3.st.Context()); !errors.As(cause, &ce) {
			t.Errorf("stream 3's context cause %v, want a *ConnectionError", cause)
		}
		close(c1.release)
		close(c3.release)
		tst.cc.Close() // ends the server's linger: the connection is torn down
		synctest.Wait()
		if n := countWorkers(); n != 0 {
			t.Errorf("%d handler goroutines after the connection ended and its handlers returned, want 0", n)
		}
	})
}

// TestIdleWorkersBeyondMaxBusyLeave: a burst leaves a connection with
// many idle workers; while streams keep coming, one at a time, the sweep
// lets go of all but maxBusy of them (streams past maxBusy queue, so no
// more would ever be woken from idle). The old sweep kept every one for
// as long as any was used.
func TestIdleWorkersBeyondMaxBusyLeave(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, nil)
		tst.greet()
		burstOf16(tst)
		// A stream every 30 ms for a second: the workers stay in use.
		id := uint32(33)
		for range 33 {
			time.Sleep(30 * time.Millisecond)
			tst.get(id, "/")
			close(tst.call(id).release)
			tst.wantHeaders(id, true)
			id += 2
		}
		c := tst.srv.liveConns()[0]
		c.mu.Lock()
		keep := int(c.workers.maxBusy)
		c.mu.Unlock()
		if n := countWorkers(); n > keep {
			t.Fatalf("%d idle handler goroutines after a second of one stream at a time, want at most maxBusy, %d", n, keep)
		}
	})
}

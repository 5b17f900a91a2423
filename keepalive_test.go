package h2server

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/net/http2"
)

// Keepalive (keepalive.go): PING after ReadIdleTimeout of silence while a
// stream is open; no answer within PingTimeout closes the connection.

func keepaliveServer(s *Server) {
	s.ReadIdleTimeout, s.PingTimeout, s.IdleTimeout = 10*time.Second, 5*time.Second, -1
}

// TestKeepaliveFindsVanishedPeer: a peer that stops answering with a
// stream open gets one PING after 10 s of silence (not before), and the
// connection closes 5 s later: the handler's context ends with a
// *ConnectionError that says why, and Read returns it.
func TestKeepaliveFindsVanishedPeer(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, nil, keepaliveServer)
		tst.greet()
		start := time.Now()
		tst.writeHeaders(1, false, reqFields("POST", "/upload")...) // the body never comes
		c := tst.call(1)
		readErr := readInBackground(c.st)
		time.Sleep(10*time.Second - time.Millisecond)
		tst.wantIdle()
		time.Sleep(time.Millisecond)
		p := wantFrame[*http2.PingFrame](tst)
		if p.IsAck() || p.Data != keepalivePingData {
			t.Fatalf("got %v, want our keepalive PING", summarize(p))
		}
		// No ACK: the peer is gone.
		time.Sleep(5*time.Second - time.Millisecond)
		if err := c.st.Context().Err(); err != nil {
			t.Fatalf("context ended after %v, before PingTimeout ran out", time.Since(start))
		}
		time.Sleep(time.Millisecond)
		<-c.st.Context().Done()
		var ce *ConnectionError
		if cause := context.Cause(c.st.Context()); !errors.As(cause, &ce) || !strings.Contains(ce.Reason, "keepalive") {
			t.Errorf("context cause %v, want a *ConnectionError about the keepalive PING", cause)
		}
		if err := <-readErr; !errors.As(err, &ce) {
			t.Errorf("Read: %v, want a *ConnectionError", err)
		}
		if got := time.Since(start); got != 15*time.Second {
			t.Errorf("connection closed after %v, want 15s (ReadIdleTimeout + PingTimeout)", got)
		}
		if !strings.Contains(tst.logs.String(), "did not answer a keepalive PING") {
			t.Errorf("no log line; log:\n%s", tst.logs)
		}
		close(c.release)
	})
}

// TestKeepaliveAnsweredKeepsConnection: a peer that answers the PINGs
// keeps its connection and its stream for as long as it likes.
func TestKeepaliveAnsweredKeepsConnection(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, nil, keepaliveServer)
		tst.greet()
		tst.writeHeaders(1, false, reqFields("POST", "/upload")...)
		c := tst.call(1)
		pings := 0
		for range 60 {
			time.Sleep(time.Second)
			if f := tst.readFrame(); f != nil {
				p, ok := f.(*http2.PingFrame)
				if !ok || p.IsAck() {
					t.Fatalf("got %v, want only keepalive PINGs", summarize(f))
				}
				pings++
				tst.fr.WritePing(true, p.Data)
			}
		}
		if err := c.st.Context().Err(); err != nil {
			t.Fatalf("stream context ended: %v", context.Cause(c.st.Context()))
		}
		if pings < 4 || pings > 6 {
			t.Errorf("%d PINGs in a minute, want one per ReadIdleTimeout of silence (about 5)", pings)
		}
		close(c.release)
	})
}

// TestKeepaliveQuietWhileReading: a peer that keeps sending is never
// pinged, and an idle connection (no stream open) is left to
// IdleTimeout.
func TestKeepaliveQuietWhileReading(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, nil, keepaliveServer)
		tst.greet()
		time.Sleep(time.Minute) // no stream: no PING
		tst.wantIdle()
		tst.writeHeaders(1, false, reqFields("POST", "/upload")...)
		c := tst.call(1)
		for range 20 {
			time.Sleep(5 * time.Second)
			tst.fr.WriteData(1, false, []byte("x"))
			if f := tst.readFrame(); f != nil {
				if _, ok := f.(*http2.PingFrame); ok {
					t.Fatalf("PING while the peer sends every 5 s")
				}
			}
		}
		close(c.release)
	})
}

// TestKeepaliveClockOnlyWithStreams: the keepalive timer runs while a
// stream is open and is dropped once the connection has none (an idle
// connection keeps no timer for it); the next stream starts it again,
// and a silence then still brings a PING after ReadIdleTimeout.
func TestKeepaliveClockOnlyWithStreams(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, nil, keepaliveServer)
		tst.greet()
		tst.get(1, "/")
		c := tst.call(1)
		conn := c.st.c
		clock := func() *time.Timer {
			conn.mu.Lock()
			defer conn.mu.Unlock()
			return conn.life.keepalive
		}
		if clock() == nil {
			t.Fatal("no keepalive timer with a stream open")
		}
		close(c.release)
		tst.wantResponses(1)
		time.Sleep(time.Second)
		synctest.Wait()
		if clock() != nil {
			t.Fatal("the keepalive timer outlived the connection's last stream")
		}
		tst.writeHeaders(3, false, reqFields("POST", "/upload")...) // the body never comes
		c = tst.call(3)
		time.Sleep(10*time.Second - time.Millisecond)
		tst.wantIdle()
		time.Sleep(time.Millisecond)
		if p := wantFrame[*http2.PingFrame](tst); p.IsAck() || p.Data != keepalivePingData {
			t.Fatalf("got %v, want our keepalive PING", summarize(p))
		}
		close(c.release)
	})
}

// TestKeepaliveStaleRunDoesNothing: a run of a keepalive timer that was
// dropped while the run waited for the connection's lock (and perhaps
// replaced by a stream that opened meanwhile) must leave the current
// clock alone, and must not touch a clock that is gone: a run of the
// current clock in the same state would send a PING.
func TestKeepaliveStaleRunDoesNothing(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, nil, keepaliveServer)
		tst.greet()
		tst.writeHeaders(1, false, reqFields("POST", "/upload")...)
		c := tst.call(1)
		conn := c.st.c
		conn.mu.Lock()
		clock := conn.life.keepalive
		clock.Stop() // the test runs it by hand
		conn.mu.Unlock()
		time.Sleep(11 * time.Second) // silent past ReadIdleTimeout with a stream open

		stale := time.NewTimer(time.Hour) // a timer that is not the clock
		stale.Stop()
		conn.onKeepalive(&stale)
		tst.wantIdle() // no PING
		conn.mu.Lock()
		if conn.life.keepalive != clock || conn.life.pingOut {
			t.Errorf("a stale run changed the clock or sent a PING")
		}
		conn.life.keepalive = nil // dropped: a stale run must not touch it
		conn.mu.Unlock()
		conn.onKeepalive(&stale)

		conn.mu.Lock()
		conn.life.keepalive = clock
		conn.mu.Unlock()
		conn.onKeepalive(&clock) // the clock's own run: the PING
		if p := wantFrame[*http2.PingFrame](tst); p.IsAck() || p.Data != keepalivePingData {
			t.Fatalf("got %v, want our keepalive PING", summarize(p))
		}
		close(c.release)
	})
}

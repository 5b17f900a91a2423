package h2server

// Tunnels (CONNECT, RFC 9113 section 8.5) and WebSockets (extended
// CONNECT, RFC 8441) are long-lived streams, and the limits of any stream
// apply to them: they count against MaxConcurrentStreams, keep IdleTimeout
// off their connection, are reset after StallTimeout without window, and
// Shutdown drains them (GOAWAY, then their contexts end when the grace
// runs out).

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

func TestConnectCountsAgainstMaxConcurrentStreams(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := confStart(t, nil, withExtendedConnect, func(s *Server) { s.MaxConcurrentStreams = 2 })
		plain := openTunnel(tst, 1, "example.com:443")
		tst.writeHeaders(3, false, extConnectReq("websocket", "/ws")...)
		ws := tst.call(3)
		ws.st.WriteHeaders(200, nil)
		ws.st.Flush()
		tst.wantHeaders(3, false)
		// A third stream of any kind is refused while both live.
		tst.writeHeaders(5, false, connectReq("example.com:443")...)
		tst.wantRSTStream(5, ErrCodeRefusedStream)
		tst.get(7, "/")
		tst.wantRSTStream(7, ErrCodeRefusedStream)
		tst.wantNoCall()
		// The tunnel ends both ways: its slot is free again.
		tst.fr.WriteData(1, true, nil)
		if got := readAll(t, plain.st); got != "" {
			t.Fatalf("read %q before EOF", got)
		}
		plain.st.Close()
		close(plain.release)
		tst.wantData(1, true, "")
		tst.get(9, "/")
		close(tst.call(9).release)
		tst.wantHeaders(9, true)
		close(ws.release)
	})
}

func TestConnectKeepsConnectionFromIdleTimeout(t *testing.T) {
	// IdleTimeout counts from the last stream's end: a quiet tunnel that
	// outlives it many times over keeps its connection; once it ends, the
	// idle clock runs.
	const idle = time.Minute
	run(t, func(t *testing.T) {
		tst := confStart(t, nil, func(s *Server) { s.IdleTimeout = idle })
		c := openTunnel(tst, 1, "example.com:443")
		time.Sleep(30 * idle)
		tst.wantIdle()
		tst.fr.WriteData(1, false, []byte("still here"))
		if got := readTunnel(t, c.st, 10); got != "still here" {
			t.Fatalf("read %q", got)
		}
		io.WriteString(c.st, "so am I")
		c.st.Close()
		tst.wantData(1, true, "so am I")
		tst.fr.WriteData(1, true, nil)
		if got := readAll(t, c.st); got != "" {
			t.Fatalf("read %q before EOF", got)
		}
		close(c.release)
		tst.wantIdle()
		time.Sleep(idle - time.Second)
		tst.wantIdle()
		time.Sleep(time.Second)
		if ga := tst.wantGoAway(ErrCodeNo); ga.LastStreamID != 1 {
			t.Fatalf("GOAWAY last=%d, want 1", ga.LastStreamID)
		}
	})
}

func TestConnectStallTimeout(t *testing.T) {
	// A tunnel whose client grants no window is reset StallTimeout after
	// its handler started waiting to send, not before, like any stream.
	run(t, func(t *testing.T) {
		tst := newServerTester(t, nil, withStall)
		tst.greet(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
		c := openTunnel(tst, 1, "example.com:443")
		start := time.Now()
		done := goWrite(c.st, 10)
		time.Sleep(faultStall - time.Millisecond)
		tst.wantIdle()
		wantNoWriteYet(t, done)
		time.Sleep(time.Millisecond)
		tst.wantRSTStream(1, ErrCodeCancel)
		r := <-done
		wantStreamError(t, r.err, ErrCodeCancel)
		if r.at.Sub(start) != faultStall {
			t.Errorf("Write failed after %v, want %v", r.at.Sub(start), faultStall)
		}
		close(c.release)
	})
}

// shutdownTunnel starts Shutdown with grace and plays the client's part
// of its GOAWAY sequence: the first GOAWAY, the PING and its ACK, and the
// final GOAWAY naming stream last.
func shutdownTunnel(tst *serverTester, grace time.Duration, last uint32) chan error {
	tst.t.Helper()
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), grace)
		defer cancel()
		shut <- tst.srv.Shutdown(ctx)
	}()
	if ga := tst.wantGoAway(ErrCodeNo); ga.LastStreamID != 1<<31-1 {
		tst.t.Fatalf("first GOAWAY names stream %d", ga.LastStreamID)
	}
	ping := wantFrame[*http2.PingFrame](tst)
	tst.fr.WritePing(true, ping.Data)
	if ga := tst.wantGoAway(ErrCodeNo); ga.LastStreamID != last {
		tst.t.Fatalf("final GOAWAY names stream %d, want %d", ga.LastStreamID, last)
	}
	return shut
}

func TestConnectShutdownDrainsTunnels(t *testing.T) {
	t.Run("ends_in_grace", func(t *testing.T) {
		// After GOAWAY the tunnel carries on both ways; when it ends,
		// Shutdown returns.
		run(t, func(t *testing.T) {
			tst := confStart(t, nil)
			c := openTunnel(tst, 1, "example.com:443")
			shut := shutdownTunnel(tst, time.Hour, 1)
			tst.fr.WriteData(1, false, []byte("after goaway"))
			if got := readTunnel(t, c.st, 12); got != "after goaway" {
				t.Fatalf("read %q", got)
			}
			io.WriteString(c.st, "me too")
			c.st.Close()
			tst.wantData(1, true, "me too")
			select {
			case err := <-shut:
				t.Fatalf("Shutdown returned %v with a tunnel open", err)
			default:
			}
			tst.fr.WriteData(1, true, nil)
			if got := readAll(t, c.st); got != "" {
				t.Fatalf("read %q before EOF", got)
			}
			close(c.release)
			if err := <-shut; err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
		})
	})
	t.Run("grace_runs_out", func(t *testing.T) {
		// A tunnel still open when the grace runs out: its handler's
		// context ends (the connection closes), and Shutdown reports it.
		const grace = time.Minute
		run(t, func(t *testing.T) {
			tst := confStart(t, nil)
			c := openTunnel(tst, 1, "example.com:443")
			start := time.Now()
			shut := shutdownTunnel(tst, grace, 1)
			ctx := c.st.Context()
			time.Sleep(grace - time.Since(start) - time.Second)
			select {
			case <-ctx.Done():
				t.Fatalf("tunnel's context ended before the grace ran out: %v", context.Cause(ctx))
			default:
			}
			if err := <-shut; !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Shutdown returned %v, want context.DeadlineExceeded", err)
			}
			<-ctx.Done()
			if d := time.Since(start); d < grace {
				t.Errorf("tunnel's context ended %v after Shutdown, before the grace %v", d, grace)
			}
			if cause := context.Cause(ctx); cause == nil || errors.Is(cause, ErrHandlerReturned) {
				t.Errorf("context cause %v, want the connection's end", cause)
			}
			if _, err := c.st.Read(make([]byte, 1)); err == nil {
				t.Error("tunnel Read succeeded after the grace ran out")
			}
			close(c.release)
		})
	})
}

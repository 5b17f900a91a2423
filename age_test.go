package h2server

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// Connection age (age.go): MaxConnectionAge drains a connection with the
// two-phase GOAWAY; MaxConnectionAgeGrace then bounds its streams;
// ConnInfo.Drain does the same on demand.

func ageServer(age, grace time.Duration) func(*Server) {
	return func(s *Server) {
		s.MaxConnectionAge, s.MaxConnectionAgeGrace = age, grace
		s.IdleTimeout, s.ReadIdleTimeout = -1, -1 // only the age ends the connection
	}
}

// TestJitterAge: ages fall within 10% either side of MaxConnectionAge,
// and spread over that range (1,000 draws all within 5% of the middle,
// by chance, has odds below 10^-120).
func TestJitterAge(t *testing.T) {
	const d = 10 * time.Second
	lo, hi := time.Duration(math.MaxInt64), time.Duration(0)
	for range 1000 {
		a := jitterAge(d)
		if a < 9*time.Second || a > 11*time.Second {
			t.Fatalf("jitterAge(%v) = %v, outside [9s, 11s]", d, a)
		}
		lo, hi = min(lo, a), max(hi, a)
	}
	if lo > 9500*time.Millisecond || hi < 10500*time.Millisecond {
		t.Errorf("1,000 ages of %v spread only over [%v, %v], want most of [9s, 11s]", d, lo, hi)
	}
	if got := jitterAge(5); got != 5 {
		t.Errorf("jitterAge(5ns) = %v, want 5ns (too small to spread)", got)
	}
	if got := jitterAge(math.MaxInt64); got != math.MaxInt64 {
		t.Errorf("jitterAge(MaxInt64) = %v, want it unchanged (grpc-go's infinity must not overflow)", got)
	}
}

// wantDrainStart waits, a millisecond at a time, for the first GOAWAY
// (2^31-1) and the PING of a graceful drain, and returns when it came.
func wantDrainStart(t *testing.T, tst *serverTester, within time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if f := tst.readFrame(); f != nil {
			ga, ok := f.(*http2.GoAwayFrame)
			if !ok || ga.LastStreamID != math.MaxInt32 || ga.ErrCode != http2.ErrCodeNo {
				t.Fatalf("got %v, want GOAWAY last=2^31-1 NO_ERROR", summarize(f))
			}
			at := time.Now()
			p := wantFrame[*http2.PingFrame](tst)
			if p.IsAck() || p.Data != shutdownPingData {
				t.Fatalf("got %v, want the drain PING", summarize(p))
			}
			return at
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("no GOAWAY within %v", within)
	return time.Time{}
}

// TestMaxConnectionAgeDrains: at its age (10 s, give or take 1 s), a
// connection gets the first GOAWAY and a PING; once the PING returns,
// the final GOAWAY names the last stream the client opened, which is
// served to the end; then the connection closes.
func TestMaxConnectionAgeDrains(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, nil, ageServer(10*time.Second, 0))
		start := time.Now()
		tst.greet()
		tst.writeHeaders(1, false, reqFields("POST", "/upload")...)
		c := tst.call(1)
		time.Sleep(9*time.Second - time.Millisecond)
		tst.wantIdle()
		at := wantDrainStart(t, tst, 2*time.Second+time.Millisecond)
		if age := at.Sub(start); age < 9*time.Second || age > 11*time.Second {
			t.Errorf("drained at %v, want within 10%% of MaxConnectionAge (10s)", age)
		}
		// A stream opened before the PING's ACK is still served.
		tst.get(3, "/late")
		c3 := tst.call(3)
		tst.fr.WritePing(true, shutdownPingData)
		if ga := tst.wantGoAway(ErrCodeNo); ga.LastStreamID != 3 {
			t.Fatalf("final GOAWAY names stream %d, want 3", ga.LastStreamID)
		}
		// With no grace set, the streams run on as long as they need.
		time.Sleep(time.Hour)
		for _, hc := range []*handlerCall{c, c3} {
			if err := hc.st.Context().Err(); err != nil {
				t.Fatalf("stream %d context ended: %v", hc.st.ID(), context.Cause(hc.st.Context()))
			}
		}
		close(c3.release)
		tst.wantHeaders(3, true)
		tst.fr.WriteData(1, true, []byte("body"))
		if got := readAll(t, c.st); got != "body" {
			t.Errorf("stream 1 read %q after the drain, want the body", got)
		}
		close(c.release)
		tst.wantHeaders(1, true)
		tst.wantClosed()
	})
}

// TestMaxConnectionAgeGraceCloses: a stream still open MaxConnectionAgeGrace
// after the drain began ends then, not a millisecond before, with a cause
// that says so, and a log line.
func TestMaxConnectionAgeGraceCloses(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, nil, ageServer(10*time.Second, 5*time.Second))
		tst.greet()
		tst.writeHeaders(1, false, reqFields("POST", "/upload")...)
		c := tst.call(1)
		readErr := readInBackground(c.st)
		at := wantDrainStart(t, tst, 11*time.Second+time.Millisecond)
		tst.fr.WritePing(true, shutdownPingData)
		tst.wantGoAway(ErrCodeNo)
		time.Sleep(time.Until(at.Add(5*time.Second)) - time.Millisecond)
		if err := c.st.Context().Err(); err != nil {
			t.Fatalf("context ended %v after the drain, before the 5s grace", time.Since(at))
		}
		time.Sleep(time.Millisecond)
		<-c.st.Context().Done()
		if got := time.Since(at); got != 5*time.Second {
			t.Errorf("closed %v after the drain, want 5s (MaxConnectionAgeGrace)", got)
		}
		var ce *ConnectionError
		if cause := context.Cause(c.st.Context()); !errors.As(cause, &ce) || !strings.Contains(ce.Reason, "MaxConnectionAgeGrace") {
			t.Errorf("context cause %v, want a *ConnectionError about MaxConnectionAgeGrace", cause)
		}
		if err := <-readErr; !errors.As(err, &ce) {
			t.Errorf("Read: %v, want a *ConnectionError", err)
		}
		if !strings.Contains(tst.logs.String(), "MaxConnectionAgeGrace ran out") {
			t.Errorf("no log line; log:\n%s", tst.logs)
		}
		close(c.release)
	})
}

// TestMaxConnectionAgeIdleConnection: an idle connection at its age
// drains and closes at once, with nothing to wait for.
func TestMaxConnectionAgeIdleConnection(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, nil, ageServer(time.Minute, 5*time.Second))
		tst.greet()
		wantDrainStart(t, tst, 67*time.Second)
		tst.fr.WritePing(true, shutdownPingData)
		if ga := tst.wantGoAway(ErrCodeNo); ga.LastStreamID != 0 {
			t.Errorf("final GOAWAY names stream %d, want 0", ga.LastStreamID)
		}
		tst.wantClosed()
		if strings.Contains(tst.logs.String(), "MaxConnectionAgeGrace") {
			t.Errorf("the grace ran out on an idle connection; log:\n%s", tst.logs)
		}
	})
}

// TestConnInfoDrain: a handler drains its own connection; the other
// streams finish, Drain again does nothing, and a hook may drain a
// connection before it started.
func TestConnInfoDrain(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, nil, ageServer(0, 0))
		tst.greet()
		tst.get(1, "/a")
		tst.get(3, "/b")
		c1, c3 := tst.call(1), tst.call(3)
		tst.wantIdle()
		c1.st.Conn().Drain()
		c1.st.Conn().Drain()
		wantDrainStart(t, tst, time.Millisecond)
		tst.fr.WritePing(true, shutdownPingData)
		if ga := tst.wantGoAway(ErrCodeNo); ga.LastStreamID != 3 {
			t.Fatalf("final GOAWAY names stream %d, want 3", ga.LastStreamID)
		}
		close(c1.release)
		tst.wantHeaders(1, true)
		close(c3.release)
		tst.wantHeaders(3, true)
		tst.wantClosed()
	})
	t.Run("FromConnOpened", func(t *testing.T) {
		run(t, func(t *testing.T) {
			tst := newServerTester(t, nil, ageServer(0, 0), func(s *Server) {
				s.Hooks = &Hooks{ConnOpened: func(ci *ConnInfo) { ci.Drain() }}
			})
			tst.writePreface()
			tst.fr.WriteSettings()
			if sf := wantFrame[*http2.SettingsFrame](tst); sf.IsAck() {
				t.Fatalf("first frame is a SETTINGS ACK, want our SETTINGS")
			}
			for {
				f := tst.readFrame()
				if f == nil {
					t.Fatal("no GOAWAY after the preface")
				}
				if ga, ok := f.(*http2.GoAwayFrame); ok {
					if ga.LastStreamID != math.MaxInt32 {
						t.Fatalf("got %v, want GOAWAY last=2^31-1", summarize(f))
					}
					break
				}
			}
		})
	})
	t.Run("ZeroConnInfo", func(t *testing.T) {
		var ci ConnInfo
		ci.Drain() // not a connection's: nothing to do, and no panic
	})
}

package h2server

import (
	"context"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// The client PING policy (pings.go).

// pingsUntilGoAway sends a PING every interval, n at most, answering
// nothing else, and returns how many were ACKed before a GOAWAY, and the
// GOAWAY (nil if none came).
func pingsUntilGoAway(tst *serverTester, n int, interval time.Duration) (int, *http2.GoAwayFrame) {
	acks := 0
	for i := range n {
		if i > 0 {
			time.Sleep(interval)
		}
		tst.fr.WritePing(false, [8]byte{byte(i)})
		for f := tst.readFrame(); f != nil; f = tst.readFrame() {
			switch f := f.(type) {
			case *http2.PingFrame:
				if f.IsAck() {
					acks++
				}
			case *http2.GoAwayFrame:
				return acks, f
			}
		}
	}
	return acks, nil
}

// TestPingPolicyTooManyPings: PINGs a second apart, with nothing sent
// back, are answered twice more after the first; the fourth ends the
// connection with GOAWAY ENHANCE_YOUR_CALM "too_many_pings".
func TestPingPolicyTooManyPings(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, nil)
		tst.greet()
		acks, g := pingsUntilGoAway(tst, 10, time.Second)
		if g == nil || ErrCode(g.ErrCode) != ErrCodeEnhanceYourCalm || string(g.DebugData()) != "too_many_pings" {
			t.Fatalf("after %d ACKs, got GOAWAY %v, want ENHANCE_YOUR_CALM too_many_pings", acks, g)
		}
		if acks != 3 {
			t.Errorf("%d PINGs answered before the GOAWAY, want 3 (the first, then two strikes)", acks)
		}
	})
}

// TestPingPolicySpacedPings: a keepalive client pinging about every
// MinPingInterval (10 s, the shortest grpc-go's client allows) keeps its
// connection, with or without streams.
func TestPingPolicySpacedPings(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, nil, func(s *Server) { s.IdleTimeout = -1 })
		tst.greet()
		// 9.5 s: a client whose timer and network run a little early
		// is within the tenth of slack.
		if acks, g := pingsUntilGoAway(tst, 60, 9500*time.Millisecond); g != nil || acks != 60 {
			t.Fatalf("%d of 60 PINGs answered, GOAWAY %v: want all answered, no GOAWAY", acks, g)
		}
	})
}

// TestPingPolicyPingsWithData: a client that pings as each DATA frame of
// a response arrives, as grpc-go's BDP estimator does, is never charged:
// the data we sent forgives the strikes.
func TestPingPolicyPingsWithData(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, HandlerFunc(func(st *Stream) {
			for range 50 {
				st.Write(make([]byte, 1000))
				st.Flush()
				time.Sleep(10 * time.Millisecond)
			}
		}))
		tst.greet()
		tst.get(1, "/")
		for ended := false; !ended; {
			f := tst.readFrame()
			if f == nil {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			switch f := f.(type) {
			case *http2.DataFrame:
				tst.fr.WritePing(false, [8]byte{1})
				ended = f.StreamEnded()
			case *http2.GoAwayFrame:
				t.Fatalf("got %v while pinging with each DATA frame", summarize(f))
			}
		}
	})
}

// TestPingPolicyRejectWithoutStream: with RejectPingsWithoutStream, even
// well spaced PINGs on a connection with nothing open are strikes.
func TestPingPolicyRejectWithoutStream(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, nil, func(s *Server) { s.RejectPingsWithoutStream, s.IdleTimeout = true, -1 })
		tst.greet()
		acks, g := pingsUntilGoAway(tst, 10, time.Minute)
		if g == nil || string(g.DebugData()) != "too_many_pings" || acks != 2 {
			t.Fatalf("%d ACKs, GOAWAY %v: want 2 ACKs, then GOAWAY too_many_pings", acks, g)
		}
	})
}

// TestPingPolicyGoClientKeepalive: Go's own client with its health check
// on (ReadIdleTimeout 10 s, the most eager a user would set) pings an
// idle connection for ten minutes and still has it.
func TestPingPolicyGoClientKeepalive(t *testing.T) {
	run(t, func(t *testing.T) {
		var pings atomic.Int32
		tst := newServerTester(t, HandlerFunc(hello), func(s *Server) {
			s.IdleTimeout = -1
			s.Hooks = &Hooks{FrameRead: func(_ *ConnInfo, h http2.FrameHeader) {
				if h.Type == http2.FramePing && h.Flags&http2.FlagPingAck == 0 {
					pings.Add(1)
				}
			}}
		})
		tr := &http2.Transport{ReadIdleTimeout: 10 * time.Second, PingTimeout: 5 * time.Second}
		cc, err := tr.NewClientConn(tst.cc)
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		get := func() {
			req, _ := http.NewRequestWithContext(context.Background(), "GET", "http://h2server.test/", nil)
			resp, err := cc.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		get()
		time.Sleep(10 * time.Minute)
		if st := cc.State(); st.Closed || st.Closing {
			t.Fatalf("client connection closed after ten idle minutes of health checks: %+v", st)
		}
		get()
		if n := pings.Load(); n < 30 {
			t.Errorf("the client sent %d PINGs in ten idle minutes, want its health checks (about one per 10 s)", n)
		}
	})
}

package h2server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/net/http2"
)

// laterSink answers each request with the length of its body, read with
// one Read per wake-up and WhenReadable in between, so that a stream
// waiting for its body holds no goroutine. Each continuation call is
// counted in wakes; a Read that fails with anything but io.EOF is sent on
// errs (when not nil) with the stream's context, and the stream left.
func laterSink(wakes *atomic.Int32, errs chan<- laterErr, prepare func(*Stream)) Handler {
	return HandlerFunc(func(st *Stream) {
		if prepare != nil {
			prepare(st)
		}
		total := 0
		var step func(*Stream)
		step = func(st *Stream) {
			wakes.Add(1)
			var buf [8]byte
			n, err := st.Read(buf[:])
			total += n
			switch {
			case err == nil:
				st.WhenReadable(step)
			case err == io.EOF:
				st.WriteHeaders(200, nil)
				st.Write([]byte(strconv.Itoa(total)))
				st.Close()
			case errs != nil:
				errs <- laterErr{err, st.Context().Err()}
			}
		}
		st.WhenReadable(step)
	})
}

// laterErr is a failed Read of laterSink, with the stream's context's
// error at the time.
type laterErr struct {
	err, ctxErr error
}

// theConn returns the server's one connection.
func theConn(t *testing.T, srv *Server) *conn {
	t.Helper()
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.conns) != 1 {
		t.Fatalf("%d connections, want 1", len(srv.conns))
	}
	for c := range srv.conns {
		return c
	}
	return nil
}

// TestWhenReadableHoldsNoGoroutine: fifty streams whose handlers called
// WhenReadable and returned wait with their handler slots taken and no
// worker goroutine of the connection left; their bodies then arrive in
// pieces, and every stream is answered with its whole length.
func TestWhenReadableHoldsNoGoroutine(t *testing.T) {
	run(t, func(t *testing.T) {
		var wakes atomic.Int32
		tst := newServerTester(t, laterSink(&wakes, nil, nil))
		tst.greet()
		const n = 50
		var ids []uint32
		for i := range n {
			id := uint32(2*i + 1)
			ids = append(ids, id)
			tst.writeHeaders(id, false, reqFields("POST", "/later")...)
		}
		tst.wantIdle()
		c := theConn(t, tst.srv)
		// Past workerLinger, the sweep retires idle workers: with every
		// handler returned, none is busy and none is left idle.
		time.Sleep(3 * workerLinger)
		tst.wantIdle()
		c.mu.Lock()
		handlers, busy := c.handlers, c.workers.busy
		c.mu.Unlock()
		if handlers != n || busy != 0 || c.workers.idle.Load() != 0 {
			t.Fatalf("waiting: %d handler slots, %d busy workers, %d idle; want %d, 0, 0", handlers, busy, c.workers.idle.Load(), n)
		}
		if w := wakes.Load(); w != 0 {
			t.Fatalf("%d continuation calls before any body byte, want 0", w)
		}
		for _, id := range ids {
			tst.writeBody(id, 11, false) // two Reads of 8 bytes, two wake-ups at most
		}
		tst.wantIdle()
		for _, id := range ids {
			tst.writeBody(id, 9, true)
		}
		for id, r := range tst.wantResponses(ids...) {
			if r.status != "200" || r.body != "20" {
				t.Errorf("stream %d: status %q body %q, want 200 and 20", id, r.status, r.body)
			}
		}
		if w := wakes.Load(); w < 3*n {
			t.Errorf("%d continuation calls for %d streams of 20 bytes read 8 at a time, want at least %d", w, n, 3*n)
		}
		tst.wantIdle()
		c.mu.Lock()
		handlers = c.handlers
		c.mu.Unlock()
		if handlers != 0 {
			t.Errorf("%d handler slots taken after every stream ended, want 0", handlers)
		}
	})
}

// TestWhenReadableWakeUps: everything that wakes a blocked Read resumes a
// stream waiting with WhenReadable, and its Read then returns at once
// with what happened; the stream's context lives while it waits.
func TestWhenReadableWakeUps(t *testing.T) {
	for _, tc := range []struct {
		name    string
		prepare func(*Stream)
		act     func(tst *serverTester)
		want    func(t *testing.T, err error)
		ctxLive bool // the context still lives when the continuation reads
	}{
		{
			name: "client_reset",
			act:  func(tst *serverTester) { tst.fr.WriteRSTStream(1, http2.ErrCodeCancel) },
			want: func(t *testing.T, err error) { wantStreamError(t, err, ErrCodeCancel) },
		},
		{
			name: "connection_lost",
			act:  func(tst *serverTester) { tst.cc.Close() },
			want: func(t *testing.T, err error) {
				var ce *ConnectionError
				if !errors.As(err, &ce) {
					t.Fatalf("got %v, want a *ConnectionError", err)
				}
			},
		},
		{
			name:    "read_deadline",
			prepare: func(st *Stream) { st.SetReadDeadline(time.Now().Add(time.Second)) },
			act:     func(tst *serverTester) { time.Sleep(2 * time.Second) },
			want: func(t *testing.T, err error) {
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("got %v, want os.ErrDeadlineExceeded", err)
				}
			},
			ctxLive: true,
		},
		{
			name:    "read_deadline_passed_already",
			prepare: func(st *Stream) { st.SetReadDeadline(time.Now().Add(-time.Second)) },
			want: func(t *testing.T, err error) {
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("got %v, want os.ErrDeadlineExceeded", err)
				}
			},
			ctxLive: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run(t, func(t *testing.T) {
				var wakes atomic.Int32
				errs := make(chan laterErr, 1)
				tst := newServerTester(t, laterSink(&wakes, errs, tc.prepare))
				tst.greet()
				tst.writeHeaders(1, false, reqFields("POST", "/later")...)
				if tc.act != nil {
					tst.wantIdle()
					if w := wakes.Load(); w != 0 {
						t.Fatalf("%d continuation calls before anything happened, want 0", w)
					}
					tc.act(tst)
				}
				synctest.Wait()
				select {
				case e := <-errs:
					tc.want(t, e.err)
					if tc.ctxLive && e.ctxErr != nil {
						t.Errorf("the context ended (%v) while the stream lived", e.ctxErr)
					}
					if !tc.ctxLive && e.ctxErr == nil {
						t.Errorf("the context lives on after the stream failed")
					}
				default:
					t.Fatalf("the stream was not resumed (%d continuation calls)", wakes.Load())
				}
				if w := wakes.Load(); w != 1 {
					t.Errorf("%d continuation calls, want 1", w)
				}
			})
		})
	}
}

// TestWhenReadableBodyThereAlready: a handler that calls WhenReadable when
// the body has arrived has its continuation run at once, and the stream
// is answered.
func TestWhenReadableBodyThereAlready(t *testing.T) {
	run(t, func(t *testing.T) {
		var wakes atomic.Int32
		gate := make(chan struct{})
		tst := newServerTester(t, laterSink(&wakes, nil, func(*Stream) { <-gate }))
		tst.greet()
		tst.writeHeaders(1, false, reqFields("POST", "/later")...)
		tst.writeBody(1, 5, true)
		tst.wantIdle()
		close(gate)
		r := tst.wantResponse(1)
		if r.status != "200" || r.body != "5" {
			t.Fatalf("status %q body %q, want 200 and 5", r.status, r.body)
		}
	})
}

// TestWhenReadableThenPanic: a handler that panics after WhenReadable has
// its stream reset, its continuation dropped, and its slot freed.
func TestWhenReadableThenPanic(t *testing.T) {
	run(t, func(t *testing.T) {
		var wakes atomic.Int32
		h := laterSink(&wakes, nil, nil)
		tst := newServerTester(t, HandlerFunc(func(st *Stream) {
			h.ServeStream(st)
			panic(errAbortStream)
		}))
		tst.greet()
		tst.writeHeaders(1, false, reqFields("POST", "/later")...)
		tst.wantRSTStream(1, ErrCodeInternal)
		tst.writeBody(1, 5, true)
		tst.wantIdle()
		if w := wakes.Load(); w != 0 {
			t.Errorf("%d continuation calls after the handler panicked, want 0", w)
		}
		c := theConn(t, tst.srv)
		c.mu.Lock()
		handlers := c.handlers
		c.mu.Unlock()
		if handlers != 0 {
			t.Errorf("%d handler slots taken, want 0", handlers)
		}
	})
}

// TestWhenReadableContext: the stream's context lives while the stream
// waits and through its continuations, and ends when the last one returns
// without waiting again.
func TestWhenReadableContext(t *testing.T) {
	run(t, func(t *testing.T) {
		ctxs := make(chan context.Context, 2)
		tst := newServerTester(t, HandlerFunc(func(st *Stream) {
			ctxs <- st.Context()
			st.WhenReadable(func(st *Stream) {
				if err := st.Context().Err(); err != nil {
					t.Errorf("context ended while the stream waited: %v", context.Cause(st.Context()))
				}
				io.Copy(io.Discard, st) // one Read does not block; the rest may
				st.WriteHeaders(204, nil)
			})
		}))
		tst.greet()
		tst.writeHeaders(1, false, reqFields("POST", "/later")...)
		tst.wantIdle()
		ctx := <-ctxs
		if ctx.Err() != nil {
			t.Fatalf("context ended when the handler returned after WhenReadable: %v", context.Cause(ctx))
		}
		tst.writeBody(1, 3, true)
		if r := tst.wantResponse(1); r.status != "204" {
			t.Fatalf("status %q, want 204", r.status)
		}
		tst.wantIdle()
		if !errors.Is(context.Cause(ctx), ErrHandlerReturned) {
			t.Fatalf("context cause %v after the continuation returned, want ErrHandlerReturned", context.Cause(ctx))
		}
	})
}

// TestWhenReadableShutdown: against Go's HTTP/2 client, streams waiting
// with WhenReadable hold a graceful Shutdown until their bodies come and
// they are answered; Hooks.StreamEnded sees each end once. Close instead
// resumes every waiting stream with the connection's end, and nothing
// leaks (startServer's cleanup checks).
func TestWhenReadableShutdown(t *testing.T) {
	const n = 10
	for _, graceful := range []bool{true, false} {
		t.Run(map[bool]string{true: "shutdown", false: "close"}[graceful], func(t *testing.T) {
			var wakes atomic.Int32
			var ended atomic.Int32
			started := make(chan struct{}, n)
			errs := make(chan laterErr, n)
			srv := &Server{
				Handler: laterSink(&wakes, errs, func(*Stream) { started <- struct{}{} }),
				Hooks: &Hooks{StreamEnded: func(s *StreamInfo) {
					if graceful && (s.Status != 200 || s.Err != nil) {
						t.Errorf("stream %d ended with status %d, error %v; want 200, nil", s.StreamID, s.Status, s.Err)
					}
					ended.Add(1)
				}},
			}
			ls := startServer(t, srv, false)
			client := &http.Client{Transport: xnetTransport(t, ls)}
			bodies := make([]*io.PipeWriter, n)
			results := make(chan string, n)
			for i := range n {
				pr, pw := io.Pipe()
				bodies[i] = pw
				go func() {
					resp, err := client.Post(ls.url+"/later", "text/plain", pr)
					if err != nil {
						results <- "error: " + err.Error()
						return
					}
					b, err := io.ReadAll(resp.Body)
					resp.Body.Close()
					results <- fmt.Sprintf("%d %s %v", resp.StatusCode, b, err)
				}()
			}
			for range n {
				<-started
			}
			if !graceful {
				srv.Close()
				for range n {
					select {
					case e := <-errs:
						var ce *ConnectionError
						if !errors.As(e.err, &ce) {
							t.Errorf("a waiting stream resumed with %v, want a *ConnectionError", e.err)
						}
					case <-time.After(testTimeout):
						t.Fatal("Close left a waiting stream unresumed")
					}
				}
				for _, pw := range bodies {
					pw.Close()
				}
				for range n {
					<-results
				}
				return
			}
			done := make(chan error, 1)
			go func() { done <- srv.Shutdown(context.Background()) }()
			for _, pw := range bodies {
				pw.Write([]byte("hello"))
				pw.Close()
			}
			for range n {
				if r := <-results; r != "200 5 <nil>" {
					t.Errorf("response %q, want 200 5 <nil>", r)
				}
			}
			if err := <-done; err != nil {
				t.Errorf("Shutdown: %v", err)
			}
			if e := ended.Load(); e != n {
				t.Errorf("StreamEnded ran %d times, want %d", e, n)
			}
		})
	}
}

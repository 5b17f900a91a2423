package h2server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Serve's accept loop seen through a scripted listener, under synctest:
// a temporary accept error is retried after a back-off that Shutdown and
// Close cut short, and Serve closes its listener however it returns.

// fakeListener is a net.Listener whose Accept returns what next says for
// each call (counted from 1); (nil, nil) waits until Close. Once closed,
// Accept fails as a closed TCP listener does.
type fakeListener struct {
	next func(call int) (net.Conn, error)

	mu     sync.Mutex
	calls  int // guarded by mu
	closes int // guarded by mu
	done   chan struct{}
}

func newFakeListener(next func(call int) (net.Conn, error)) *fakeListener {
	return &fakeListener{next: next, done: make(chan struct{})}
}

func (l *fakeListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	l.calls++
	n := l.calls
	l.mu.Unlock()
	closed := &net.OpError{Op: "accept", Net: "tcp", Err: net.ErrClosed}
	select {
	case <-l.done:
		return nil, closed
	default:
	}
	nc, err := l.next(n)
	if nc == nil && err == nil {
		<-l.done
		return nil, closed
	}
	return nc, err
}

func (l *fakeListener) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closes++
	if l.closes == 1 {
		close(l.done)
	}
	return nil
}

func (l *fakeListener) Addr() net.Addr { return pipeAddr("server:443") }

func (l *fakeListener) closeCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closes
}

// acceptErr is the error a TCP listener's Accept returns when accept4(2)
// fails with errno.
func acceptErr(errno syscall.Errno) error {
	return &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", errno)}
}

// acceptDelays returns the delays of the server's "accept failed" log
// lines, in order.
func acceptDelays(logs *logBuffer) []string {
	var delays []string
	re := regexp.MustCompile(`delay=(\S+)`)
	for _, line := range logs.lines() {
		if strings.Contains(line, "accept failed") {
			if m := re.FindStringSubmatch(line); m != nil {
				delays = append(delays, m[1])
			}
		}
	}
	return delays
}

// newAcceptTester is newServerTester with the connection coming through
// Serve(l) instead of ServeConn: l's script returns sc when it chooses.
// It returns at once; Serve's result arrives on tst.served.
func newAcceptTester(t *testing.T, sc, cc *pipeConn, l net.Listener) *serverTester {
	t.Helper()
	tst := &serverTester{
		t:      t,
		cc:     cc,
		sc:     sc,
		calls:  make(chan *handlerCall, 1),
		called: make(map[uint32]*handlerCall),
		quit:   make(chan struct{}),
		served: make(chan error, 1),
		logs:   &logBuffer{},
	}
	tst.srv = &Server{
		Handler: HandlerFunc(func(st *Stream) { io.WriteString(st, "hello") }),
		Logger:  slog.New(slog.NewTextHandler(tst.logs, nil)),
	}
	tst.fr = http2.NewFramer(cc, cc)
	tst.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	tst.enc = hpack.NewEncoder(&tst.encBuf)
	go func() { tst.served <- tst.srv.Serve(l) }()
	t.Cleanup(func() {
		close(tst.quit)
		tst.srv.Close()
		cc.Close()
		synctest.Wait()
	})
	return tst
}

// TestAcceptRetriesTemporaryError: running out of file descriptors
// (EMFILE, ENFILE) is the overload a server must survive. Serve logs
// each failure with its delay, waits 5 ms doubling, accepts the next
// connection and serves it, and starts its back-off from 5 ms again
// after that success. (Before, the first EMFILE returned from Serve and
// the server accepted nothing more.)
func TestAcceptRetriesTemporaryError(t *testing.T) {
	run(t, func(t *testing.T) {
		sc, cc := newPipe()
		l := newFakeListener(func(call int) (net.Conn, error) {
			switch call {
			case 1, 2:
				return nil, acceptErr(syscall.EMFILE)
			case 3:
				return nil, acceptErr(syscall.ENFILE)
			case 4:
				return sc, nil
			case 5:
				return nil, acceptErr(syscall.EMFILE)
			}
			return nil, nil
		})
		tst := newAcceptTester(t, sc, cc, l)
		// Synthetic time: every back-off, 40 ms in all, passes.
		time.Sleep(time.Second)
		select {
		case err := <-tst.served:
			t.Fatalf("Serve returned %v, want it to retry the accept", err)
		default:
		}

		tst.greet()
		tst.get(1, "/")
		if r := tst.wantResponse(1); r.status != "200" || r.body != "hello" {
			t.Fatalf("response %q %q, want 200 hello", r.status, r.body)
		}

		want := []string{"5ms", "10ms", "20ms", "5ms"}
		if got := acceptDelays(tst.logs); !slices.Equal(got, want) {
			t.Errorf("accept retry delays %v, want %v:\n%s", got, want, tst.logs)
		}
		for _, line := range tst.logs.lines() {
			if strings.Contains(line, "accept failed") && (!strings.Contains(line, "level=WARN") ||
				!strings.Contains(line, "open files")) {
				t.Errorf("accept retry line %q, want a warning naming the error", line)
			}
		}
	})
}

// TestAcceptBackoffEndsAtClose: a listener out of descriptors for good
// backs Serve off up to 1 s per attempt; Close or Shutdown during that
// wait ends Serve at once, not when the wait would have ended.
func TestAcceptBackoffEndsAtClose(t *testing.T) {
	for _, how := range []string{"Close", "Shutdown"} {
		t.Run(how, func(t *testing.T) {
			run(t, func(t *testing.T) {
				logs := &logBuffer{}
				srv := &Server{
					Handler: HandlerFunc(func(*Stream) {}),
					Logger:  slog.New(slog.NewTextHandler(logs, nil)),
				}
				l := newFakeListener(func(int) (net.Conn, error) { return nil, acceptErr(syscall.EMFILE) })
				served := make(chan error, 1)
				go func() { served <- srv.Serve(l) }()

				// Attempts at 0, 5, 15, ... 635 ms, 1.275 s and 2.275 s:
				// at 3 s, Serve waits for 3.275 s.
				time.Sleep(3 * time.Second)
				synctest.Wait()
				want := []string{"5ms", "10ms", "20ms", "40ms", "80ms", "160ms", "320ms", "640ms", "1s", "1s"}
				if got := acceptDelays(logs); !slices.Equal(got, want) {
					t.Errorf("accept retry delays %v, want %v", got, want)
				}

				start := time.Now()
				if how == "Close" {
					srv.Close()
				} else if err := srv.Shutdown(context.Background()); err != nil {
					t.Errorf("Shutdown: %v", err)
				}
				err := <-served
				if !errors.Is(err, ErrServerClosed) {
					t.Fatalf("Serve returned %v, want ErrServerClosed", err)
				}
				if d := time.Since(start); d != 0 {
					t.Errorf("Serve returned %v after %s, want at once", err, d)
				}
			})
		})
	}
}

// TestServeClosesListener: as net/http's Serve does, Serve closes its
// listener when it returns, once, whatever the reason; a listener that
// fails for good ends Serve with its error. Only a configuration error,
// reported before Serve takes the listener, leaves it to the caller.
func TestServeClosesListener(t *testing.T) {
	broken := errors.New("listener broken")
	closedByOther := &net.OpError{Op: "accept", Net: "tcp", Err: net.ErrClosed}
	tests := []struct {
		name       string
		accept     error // every Accept's error; nil waits for Close
		before     bool  // Shutdown before Serve
		noHandler  bool
		want       error // Serve's result
		wantCloses int
	}{
		{name: "Shutdown", want: ErrServerClosed, wantCloses: 1},
		{name: "ShutdownBeforeServe", before: true, want: ErrServerClosed, wantCloses: 1},
		{name: "PermanentError", accept: broken, want: broken, wantCloses: 1},
		{name: "ClosedByOther", accept: closedByOther, want: net.ErrClosed, wantCloses: 1},
		{name: "ConfigError", noHandler: true, wantCloses: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run(t, func(t *testing.T) {
				srv := &Server{
					Handler: HandlerFunc(func(*Stream) {}),
					Logger:  slog.New(slog.DiscardHandler),
				}
				if tt.noHandler {
					srv.Handler = nil
				}
				l := newFakeListener(func(int) (net.Conn, error) { return nil, tt.accept })
				if tt.before {
					srv.Shutdown(context.Background())
				}
				served := make(chan error, 1)
				go func() { served <- srv.Serve(l) }()
				synctest.Wait()
				if tt.accept == nil && !tt.before && !tt.noHandler {
					srv.Shutdown(context.Background())
				}
				err := <-served
				switch {
				case tt.noHandler:
					if err == nil || !strings.Contains(err.Error(), "Handler") {
						t.Errorf("Serve returned %v, want the configuration error", err)
					}
				case !errors.Is(err, tt.want):
					t.Errorf("Serve returned %v, want %v", err, tt.want)
				}
				if n := l.closeCount(); n != tt.wantCloses {
					t.Errorf("listener closed %d times, want %d", n, tt.wantCloses)
				}
			})
		})
	}
}

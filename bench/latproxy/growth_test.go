package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/h2server/h2server"
)

// Receive windows that grow, seen from Go's own HTTP/2 client through
// this proxy: the one place in the tree where a real client, a real round
// trip and the server's window arithmetic meet (the arithmetic itself is
// tested under synctest in the root package, recvwin_test.go).

// frameTap tees what the server sends into a frame reader and keeps what
// the test looks at: the stream window from SETTINGS and the largest
// WINDOW_UPDATE increment per stream.
type frameTap struct {
	net.Conn
	pw *io.PipeWriter

	mu         sync.Mutex
	settingWin uint32            // SETTINGS_INITIAL_WINDOW_SIZE, 65535 if never set
	maxInc     map[uint32]uint32 // stream ID (0: connection) -> largest increment
	done       chan struct{}
}

func newFrameTap(c net.Conn) *frameTap {
	pr, pw := io.Pipe()
	tp := &frameTap{Conn: c, pw: pw, settingWin: 65535, maxInc: map[uint32]uint32{}, done: make(chan struct{})}
	go func() {
		defer close(tp.done)
		defer pr.Close()
		fr := http2.NewFramer(nil, pr)
		fr.SetMaxReadFrameSize(1 << 24)
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				return
			}
			tp.mu.Lock()
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if v, ok := f.Value(http2.SettingInitialWindowSize); ok {
					tp.settingWin = v
				}
			case *http2.WindowUpdateFrame:
				id := f.Header().StreamID
				tp.maxInc[id] = max(tp.maxInc[id], f.Increment)
			}
			tp.mu.Unlock()
		}
	}()
	return tp
}

func (tp *frameTap) Read(p []byte) (int, error) {
	n, err := tp.Conn.Read(p)
	if n > 0 {
		tp.pw.Write(p[:n]) // the tap reads until this pipe closes
	}
	return n, err
}

func (tp *frameTap) Close() error {
	err := tp.Conn.Close()
	tp.pw.Close()
	<-tp.done
	return err
}

// uploadThroughProxy serves srv on loopback behind a proxy adding rtt,
// uploads size bytes with Go's client (h2c, prior knowledge) and returns
// the tap on the connection the upload used.
func uploadThroughProxy(t *testing.T, srv *h2server.Server, rtt time.Duration, size int) *frameTap {
	t.Helper()
	var got int64
	srv.Handler = h2server.HandlerFunc(func(st *h2server.Stream) {
		n, err := io.Copy(io.Discard, st)
		got = n
		if err != nil {
			st.Reset(h2server.ErrCodeInternal)
			return
		}
		st.WriteHeaders(http.StatusNoContent, nil)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, h2server.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	_, paddr := startProxy(t, config{target: ln.Addr().String(), delay: rtt / 2, queue: 64 << 20})

	var tap *frameTap
	tr := &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			if tap != nil {
				return nil, errors.New("a second connection")
			}
			c, err := new(net.Dialer).DialContext(ctx, network, paddr)
			if err != nil {
				return nil, err
			}
			tap = newFrameTap(c)
			return tap, nil
		},
	}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://wan.test/sink", bytes.NewReader(make([]byte, size)))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || got != int64(size) {
		t.Fatalf("upload: status %d, handler read %d of %d bytes", resp.StatusCode, got, size)
	}
	// Close the connection ourselves: the client may still count its
	// stream as active for a moment, and CloseIdleConnections would then
	// leave it open. Close waits for the tap to finish reading.
	tap.Close()
	return tap
}

// TestGoClientWindowGrows: one upload of 16 MiB from Go's client over a
// 40 ms round trip. With fixed windows the server never credits more than
// its window at once (it gives back what the handler read, a quarter
// window at a time); with growth on, a credit carries the growth too, so
// some increment on the stream exceeds the initial window, and the
// connection's exceeds its initial window as well. Both runs check the
// server announced the same starting window: growth keeps what the user
// set as the starting point.
func TestGoClientWindowGrows(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 32 MiB through a delay proxy")
	}
	const (
		rtt        = 40 * time.Millisecond
		size       = 16 << 20
		streamWin  = 128 << 10
		connWin    = 512 << 10
		maxGrowWin = 8 << 20
	)
	for _, grow := range []bool{false, true} {
		name := map[bool]string{false: "fixed", true: "growing"}[grow]
		t.Run(name, func(t *testing.T) {
			srv := &h2server.Server{InitialStreamWindowSize: streamWin, InitialConnWindowSize: connWin, MaxStreamWindowSize: maxGrowWin}
			if !grow {
				srv.MaxStreamWindowSize = -1
			}
			tap := uploadThroughProxy(t, srv, rtt, size)
			tap.mu.Lock()
			defer tap.mu.Unlock()
			if tap.settingWin != streamWin {
				t.Errorf("SETTINGS_INITIAL_WINDOW_SIZE %d, want %d", tap.settingWin, streamWin)
			}
			stream, conn := tap.maxInc[1], tap.maxInc[0]
			t.Logf("largest WINDOW_UPDATE: stream %d, connection %d", stream, conn)
			if grow {
				if stream <= streamWin {
					t.Errorf("stream credited at most %d at once: the window never grew past %d", stream, streamWin)
				}
				if stream > maxGrowWin {
					t.Errorf("stream credited %d at once, more than MaxStreamWindowSize %d", stream, maxGrowWin)
				}
				if conn <= connWin {
					t.Errorf("connection credited at most %d at once: its window never grew past %d", conn, connWin)
				}
				return
			}
			if stream > streamWin {
				t.Errorf("fixed window: stream credited %d at once, more than its window %d", stream, streamWin)
			}
			if conn > connWin {
				t.Errorf("fixed window: connection credited %d at once, more than its window %d", conn, connWin)
			}
		})
	}
}

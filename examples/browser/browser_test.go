package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/h2server/h2server"
	"github.com/h2server/h2server/examples/internal/headless"
	"github.com/h2server/h2server/examples/internal/syncbuf"
	"golang.org/x/net/http2"
)

// frameLog counts frames by type and records rejections, through Hooks.
type frameLog struct {
	mu            sync.Mutex
	read, written map[http2.FrameType]int // guarded by mu
	rejections    []string                // guarded by mu
}

func (f *frameLog) hooks() *h2server.Hooks {
	count := func(m *map[http2.FrameType]int, t http2.FrameType) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if *m == nil {
			*m = make(map[http2.FrameType]int)
		}
		(*m)[t]++
	}
	return &h2server.Hooks{
		FrameRead:    func(_ *h2server.ConnInfo, h http2.FrameHeader) { count(&f.read, h.Type) },
		FrameWritten: func(_ *h2server.ConnInfo, h http2.FrameHeader) { count(&f.written, h.Type) },
		Rejected: func(r *h2server.Rejection) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.rejections = append(f.rejections, fmt.Sprintf("stream %d: %v %s", r.StreamID, r.Code, r.Reason))
		},
	}
}

func (f *frameLog) snapshot() (read, written map[http2.FrameType]int, rejections []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.read), maps.Clone(f.written), slices.Clone(f.rejections)
}

// TestBrowser loads the example's page in headless Chromium over TLS and
// checks what the page and the server saw: the page came over HTTP/2
// (on the server, r.ProtoMajor == 2; in the page, nextHopProtocol "h2"),
// and the first chunk of /stream reached the page while the handler was
// still waiting to write the last one (the handler writes the last chunk
// only once the page has acknowledged the first, so no timing is
// guessed).
func TestBrowser(t *testing.T) {
	bin := headless.Chromium(t)

	var serverLog syncbuf.Buffer
	a := newApp(slog.New(slog.NewTextHandler(&serverLog, &slog.HandlerOptions{Level: slog.LevelDebug})))
	var frames frameLog
	a.hooks = frames.hooks()
	cfg, err := tlsConfig()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "https://" + ln.Addr().String() + "/"
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- run(ctx, tls.NewListener(ln, cfg), a) }()
	// stop shuts the server down gracefully (run gives Shutdown 10s) and
	// returns run's error.
	stop := sync.OnceValue(func() error {
		cancel()
		return <-served
	})
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("run: %v", err)
		}
		// Real peers are worth hearing: every h2server line (resets,
		// GOAWAYs, errors) shows with -v, and always on failure.
		if t.Failed() || testing.Verbose() {
			t.Logf("server log:\n%s", serverLog.String())
		}
	})

	start := time.Now()
	b := headless.Start(t, bin, url)

	// The page reports once the streamed response has ended. Normally
	// that takes a second or two; the timeout only bounds a failure.
	var res pageResult
	select {
	case res = <-a.results:
		t.Logf("the page reported %.1fs after chromium started", time.Since(start).Seconds())
	case <-b.Exited:
		t.Fatalf("chromium exited (%v) before the page reported\nchromium output (end):\n%s", b.Err(), b.Log())
	case <-time.After(45 * time.Second):
		t.Fatalf("no report from the page within 45s\nchromium output (end):\n%s", b.Log())
	}
	requests, streams := a.snapshot()
	t.Logf("page: %+v", res)
	t.Logf("server saw: %+v; streams: %+v", requests, streams)
	read, written, rejections := frames.snapshot()
	t.Logf("frames from chromium: %v; to chromium: %v", read, written)
	// Chromium is a well-behaved peer: anything it makes h2server reject
	// is a bug on one side or the other.
	if len(rejections) > 0 {
		t.Errorf("h2server rejected: %s", strings.Join(rejections, "; "))
	}

	// The server's view: every request, the page's first, came over HTTP/2.
	if len(requests) == 0 || requests[0].Path != "/" {
		t.Fatalf("the first request was not GET /: %+v", requests)
	}
	for _, r := range requests {
		if !r.HTTP2 {
			t.Errorf("%s %s arrived over %s, want HTTP/2", r.Method, r.Path, r.Proto)
		}
	}

	// The page's view.
	if res.Error != "" {
		t.Errorf("the page's script failed: %s", res.Error)
	}
	if res.NextHopProtocol != "h2" {
		t.Errorf("page nextHopProtocol = %q, want h2", res.NextHopProtocol)
	}
	if res.StreamProtocol != "h2" {
		t.Errorf("/stream nextHopProtocol = %q, want h2", res.StreamProtocol)
	}

	// Progressive delivery: the handler got the page's ack for the first
	// chunk before it wrote the last, so the first chunk had reached the
	// page on its own.
	if len(streams) != 1 {
		t.Fatalf("%d /stream responses, want 1: %+v", len(streams), streams)
	}
	st := streams[0]
	if !st.Acked {
		t.Errorf("the /stream handler wrote its last chunk without the page's ack (it waited %v): the flushed first chunk did not reach the page while the response was open", a.ackTimeout)
	} else if st.Ack.Before(st.FirstFlushed) || st.LastWritten.Before(st.Ack) {
		t.Errorf("/stream events out of order: first flushed %v, ack %v, last written %v", st.FirstFlushed, st.Ack, st.LastWritten)
	}
	if len(res.Chunks) < 2 || !strings.HasPrefix(res.Chunks[0].Text, "first ") || strings.Contains(res.Chunks[0].Text, "last") {
		t.Errorf("the page read chunks %+v, want the first chunk alone first", res.Chunks)
	}
	if want := "first 1\nlast 1 acked=true\n"; res.Body != want {
		t.Errorf("the page read the body %q, want %q", res.Body, want)
	}

	// A graceful shutdown while Chromium keeps its connection open: the
	// GOAWAYs must close it, well within Shutdown's 10s.
	t0 := time.Now()
	if err := stop(); err != nil {
		t.Errorf("graceful shutdown with chromium connected: %v", err)
	}
	t.Logf("graceful shutdown with chromium connected took %v", time.Since(t0).Round(time.Millisecond))
	read, written, rejections = frames.snapshot()
	t.Logf("frames from chromium, shutdown included: %v; to chromium: %v", read, written)
	if len(rejections) > 0 {
		t.Errorf("h2server rejected: %s", strings.Join(rejections, "; "))
	}
}

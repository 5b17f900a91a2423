// Command browser shows h2server to a web browser. Its page reports the
// protocol the browser used to fetch it (performance.getEntriesByType
// ('navigation')[0].nextHopProtocol, "h2" for HTTP/2) and reads a streamed
// response chunk by chunk, proving that a flushed chunk reaches the page
// while the response is still open: the /stream handler writes its first
// chunk, flushes, and writes the last one only once the page has told the
// server (POST /ack) that it has the first.
//
//	go run ./examples/browser              # TLS, self-signed: open https://127.0.0.1:8443/ (accept the warning)
//	go run ./examples/browser -tls=false   # cleartext: browsers do not speak h2c, so they get HTTP/1.1
//
// Browsers speak HTTP/2 only over TLS, hence TLS by default. HTTP/1.1
// clients are served too (Server.HTTP1), so a browser that does not
// negotiate h2 still gets the page, and the page says what it got. The
// page shows its results as JSON and POSTs them to /result, which the
// server logs with whether each request arrived over HTTP/2.
// browser_test.go runs the page in headless Chromium.
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/h2server/h2server"
	"github.com/h2server/h2server/examples/internal/excert"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8443", "TCP `host:port` to listen on")
	useTLS := flag.Bool("tls", true, "serve TLS (ALPN h2 and http/1.1) with a self-signed certificate; false serves cleartext (h2c and HTTP/1.1)")
	flag.Parse()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		slog.Error("browser: listen failed", "err", err)
		os.Exit(1)
	}
	url := "http://" + ln.Addr().String() + "/"
	if *useTLS {
		cfg, err := tlsConfig()
		if err != nil {
			slog.Error("browser: making a certificate failed", "err", err)
			os.Exit(1)
		}
		ln = tls.NewListener(ln, cfg)
		url = "https://" + ln.Addr().String() + "/"
	}
	fmt.Printf("browser: listening on %s; open %s in a browser\n", ln.Addr(), url)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, ln, newApp(slog.Default())); err != nil {
		slog.Error("browser failed", "err", err)
		os.Exit(1)
	}
}

// tlsConfig offers h2 and, for browsers that do not take it, http/1.1.
func tlsConfig() (*tls.Config, error) {
	cfg, err := excert.TLSConfig()
	if err != nil {
		return nil, err
	}
	cfg.NextProtos = []string{"h2", "http/1.1"}
	return cfg, nil
}

// run serves a's routes on ln, HTTP/2 through h2server and HTTP/1.x
// through net/http on the same port, until ctx ends; then it shuts down
// gracefully.
func run(ctx context.Context, ln net.Listener, a *app) error {
	h := a.handler()
	srv := &h2server.Server{
		Handler: h2server.HTTPHandler(h),
		HTTP1: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
		},
		Logger: a.log,
		Hooks:  a.hooks,
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-serveErr; !errors.Is(err, h2server.ErrServerClosed) {
		return err
	}
	return nil
}

// app is the server's state: what it saw, and the /stream handlers
// waiting for the page's acknowledgement.
type app struct {
	log *slog.Logger
	// ackTimeout bounds a /stream handler's wait for /ack; past it, it
	// writes its last chunk anyway and records that no ack came.
	ackTimeout time.Duration
	// results receives the page's reports (POST /result); when full,
	// later reports are only logged.
	results chan pageResult
	// hooks, if set, go to the Server (tests count frames with them).
	hooks *h2server.Hooks

	mu       sync.Mutex
	requests []requestRecord       // guarded by mu
	streams  []streamRecord        // guarded by mu: finished /stream responses
	acks     map[int]chan struct{} // guarded by mu: open /stream responses by ID
	nextID   int                   // guarded by mu
}

func newApp(log *slog.Logger) *app {
	return &app{
		log:        log,
		ackTimeout: 10 * time.Second,
		results:    make(chan pageResult, 1),
		acks:       make(map[int]chan struct{}),
	}
}

// requestRecord is one request as the server saw it.
type requestRecord struct {
	Method, Path, Proto string
	HTTP2               bool // r.ProtoMajor == 2
}

// streamRecord is one /stream response.
type streamRecord struct {
	ID int
	// Acked says the page acknowledged the first chunk before the last
	// was written; false means the wait timed out.
	Acked                          bool
	FirstFlushed, Ack, LastWritten time.Time
}

// pageResult is what the page reports.
type pageResult struct {
	NextHopProtocol string `json:"nextHopProtocol"` // of the page itself (navigation timing)
	StreamProtocol  string `json:"streamProtocol"`  // of /stream (resource timing)
	Chunks          []struct {
		At   float64 `json:"at"` // ms since the script started
		Text string  `json:"text"`
	} `json:"chunks"`
	AckedAt float64 `json:"ackedAt"` // when POST /ack returned, ms since the script started
	Body    string  `json:"body"`
	Error   string  `json:"error"`
}

func (a *app) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		io.WriteString(w, page)
	})
	mux.HandleFunc("GET /stream", a.stream)
	mux.HandleFunc("POST /ack", a.ack)
	mux.HandleFunc("POST /result", a.result)
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.requests = append(a.requests, requestRecord{r.Method, r.URL.Path, r.Proto, r.ProtoMajor == 2})
		a.mu.Unlock()
		a.log.Info("browser: request", "method", r.Method, "path", r.URL.Path, "proto", r.Proto)
		mux.ServeHTTP(w, r)
	})
}

// stream writes a first chunk, flushes it, waits for the page to
// acknowledge it, then writes the last chunk.
func (a *app) stream(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.nextID++
	rec := streamRecord{ID: a.nextID}
	acked := make(chan struct{})
	a.acks[rec.ID] = acked
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		delete(a.acks, rec.ID)
		a.streams = append(a.streams, rec)
		a.mu.Unlock()
	}()

	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	fmt.Fprintf(w, "first %d\n", rec.ID)
	if err := http.NewResponseController(w).Flush(); err != nil {
		return
	}
	rec.FirstFlushed = time.Now()
	t := time.NewTimer(a.ackTimeout)
	defer t.Stop()
	select {
	case <-acked:
		rec.Acked, rec.Ack = true, time.Now()
	case <-t.C:
		a.log.Warn("browser: no ack for the first chunk; writing the last one anyway", "stream", rec.ID, "waited", a.ackTimeout)
	case <-r.Context().Done():
		return
	}
	fmt.Fprintf(w, "last %d acked=%t\n", rec.ID, rec.Acked)
	rec.LastWritten = time.Now()
}

// ack releases the /stream response named by ?id.
func (a *app) ack(w http.ResponseWriter, r *http.Request) {
	id, _ := strconv.Atoi(r.FormValue("id"))
	a.mu.Lock()
	ch, ok := a.acks[id]
	if ok {
		delete(a.acks, id)
	}
	a.mu.Unlock()
	if !ok {
		http.Error(w, "no /stream response waits for that id", http.StatusNotFound)
		return
	}
	close(ch)
	w.WriteHeader(http.StatusNoContent)
}

// result takes the page's report.
func (a *app) result(w http.ResponseWriter, r *http.Request) {
	var res pageResult
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&res); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	a.mu.Lock()
	reqs := append([]requestRecord(nil), a.requests...)
	a.mu.Unlock()
	a.log.Info("browser: the page reports", "nextHopProtocol", res.NextHopProtocol, "streamProtocol", res.StreamProtocol,
		"chunks", len(res.Chunks), "error", res.Error, "requests", reqs)
	select {
	case a.results <- res:
	default:
	}
	w.WriteHeader(http.StatusNoContent)
}

// snapshot returns what the server recorded so far.
func (a *app) snapshot() ([]requestRecord, []streamRecord) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]requestRecord(nil), a.requests...), append([]streamRecord(nil), a.streams...)
}

const page = `<!doctype html>
<meta charset="utf-8">
<title>h2server in a browser</title>
<h1>h2server in a browser</h1>
<p>The protocol this page came over, and a streamed response read chunk by
chunk: the server writes the last chunk only after this page has told it
(POST /ack) that the first one arrived.</p>
<pre id="result">running...</pre>
<script>
(async () => {
  const t0 = performance.now();
  const ms = () => Math.round((performance.now() - t0) * 10) / 10;
  const res = {nextHopProtocol: '', streamProtocol: '', chunks: [], ackedAt: 0, body: '', error: ''};
  try {
    const nav = performance.getEntriesByType('navigation')[0];
    res.nextHopProtocol = nav ? nav.nextHopProtocol : '(no navigation timing)';
    const resp = await fetch('/stream', {cache: 'no-store'});
    const reader = resp.body.getReader();
    const dec = new TextDecoder();
    for (;;) {
      const {done, value} = await reader.read();
      if (done) break;
      const text = dec.decode(value, {stream: true});
      res.chunks.push({at: ms(), text});
      res.body += text;
      const m = /^first (\d+)\n/.exec(res.body);
      if (m && !res.ackedAt) {
        // The first chunk is here: only now will the server write the last.
        await fetch('/ack?id=' + m[1], {method: 'POST'});
        res.ackedAt = ms();
      }
    }
    // The resource timing entry shows up a little after the body ends.
    for (let i = 0; i < 20 && !res.streamProtocol; i++) {
      const entry = performance.getEntriesByName(resp.url)[0];
      if (entry) res.streamProtocol = entry.nextHopProtocol;
      else await new Promise(r => setTimeout(r, 50));
    }
    res.streamProtocol ||= '(no resource timing entry)';
  } catch (e) {
    res.error = String(e);
  }
  document.getElementById('result').textContent = JSON.stringify(res, null, 2);
  await fetch('/result', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify(res)});
})();
</script>
`

// Command metrics serves a net/http ServeMux through h2server.HTTPHandler
// and exposes counters collected with Server.Hooks: connections, streams
// by status class, bytes, frames by type and rejections by reason.
//
//	go run ./examples/metrics          # h2c (HTTP/2 over cleartext, prior knowledge)
//	go run ./examples/metrics -tls     # HTTP/2 over TLS, self-signed certificate
//
// Routes:
//
//	GET /            a short text
//	GET /stream      a line every ?interval (default 200ms), ?n lines (default 10), each flushed
//	GET /metrics     the counters in the Prometheus text exposition format
//	GET /debug/vars  the same counters, and the runtime's, with expvar
//
// The exposition is written by hand (metrics.go): a few sync/atomic
// counters and a sync.Map per labelled family, no client library.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"expvar"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/h2server/h2server"
	"github.com/h2server/h2server/examples/internal/excert"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "TCP `host:port` to listen on")
	useTLS := flag.Bool("tls", false, "serve HTTP/2 over TLS (ALPN h2) with a self-signed certificate instead of h2c")
	flag.Parse()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		slog.Error("metrics: listen failed", "err", err)
		os.Exit(1)
	}
	try := "curl --http2-prior-knowledge http://" + ln.Addr().String() + "/metrics"
	if *useTLS {
		cfg, err := excert.TLSConfig()
		if err != nil {
			slog.Error("metrics: making a certificate failed", "err", err)
			os.Exit(1)
		}
		ln = tls.NewListener(ln, cfg)
		try = "curl -k --http2 https://" + ln.Addr().String() + "/metrics"
	}
	m := newMetrics()
	expvar.Publish("h2server", m)
	fmt.Printf("metrics: listening on %s; try: %s\n", ln.Addr(), try)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, ln, m); err != nil {
		slog.Error("metrics failed", "err", err)
		os.Exit(1)
	}
}

// run serves on ln, counting into m, until ctx ends; then it shuts down
// gracefully. ln is closed when run returns.
func run(ctx context.Context, ln net.Listener, m *metrics) error {
	srv := &h2server.Server{
		Handler: h2server.HTTPHandler(newMux(m)),
		Hooks:   m.hooks(),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}

	slog.Info("metrics: shutting down; waiting for open streams", "timeout", "10s")
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

func newMux(m *metrics) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from net/http on h2server: %s %s %s\n", r.Method, r.URL.Path, r.Proto)
	})
	mux.HandleFunc("GET /stream", stream)
	mux.Handle("GET /metrics", m)
	mux.Handle("GET /debug/vars", expvar.Handler())
	return mux
}

// stream writes ?n lines, one every ?interval, flushing each so that the
// client sees it at once.
func stream(w http.ResponseWriter, r *http.Request) {
	n, interval := 10, 200*time.Millisecond
	if v, err := strconv.Atoi(r.FormValue("n")); err == nil && v >= 0 && v <= 1000 {
		n = v
	}
	if v, err := time.ParseDuration(r.FormValue("interval")); err == nil && v >= 0 && v <= 10*time.Second {
		interval = v
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	var tick <-chan time.Time // nil: no wait between lines
	if interval > 0 {
		t := time.NewTicker(interval)
		defer t.Stop()
		tick = t.C
	}
	for i := range n {
		if i > 0 && tick != nil {
			select {
			case <-tick:
			case <-r.Context().Done():
				return // the client went away
			}
		}
		fmt.Fprintf(w, "line %d of %d\n", i+1, n)
		if err := http.NewResponseController(w).Flush(); err != nil {
			return
		}
	}
}

// Command echo is a full-duplex echo server: the body of a POST comes back
// on the same stream, chunk by chunk, as it arrives. A client can send a
// chunk, read it back, then send the next, while the request is still open.
//
//	go run ./examples/echo          # h2c (HTTP/2 over cleartext, prior knowledge)
//	go run ./examples/echo -tls     # HTTP/2 over TLS, self-signed certificate
//
// It prints a curl command to try it with. To type lines and see each come
// back, use curl -N -T - -X POST; some curl versions (7.88 for one) block
// on stdin, so an echo may show up a line late. The full-duplex example in
// the package documentation (example_test.go) does it from a Go client.
//
// Other methods get a short usage text.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/h2server/h2server"
	"github.com/h2server/h2server/examples/internal/excert"
)

const usage = "POST a body and it comes back as it arrives, chunk by chunk.\n"

func echo(st *h2server.Stream) {
	req := st.Request()
	if req.Method != http.MethodPost {
		st.WriteHeaders(http.StatusOK, http.Header{"Content-Type": {"text/plain; charset=utf-8"}})
		if req.Method != http.MethodHead {
			st.Write([]byte(usage))
		}
		return
	}

	ct := req.Header().Get("Content-Type")
	if ct == "" {
		ct = "application/octet-stream"
	}
	st.WriteHeaders(http.StatusOK, http.Header{"Content-Type": {ct}})
	// Send the head now: the client sees the response begin before it has
	// finished sending the request.
	if err := st.Flush(); err != nil {
		return
	}
	buf := make([]byte, 32<<10)
	var echoed int64
	for {
		n, err := st.Read(buf)
		if n > 0 {
			if _, err := st.Write(buf[:n]); err != nil {
				slog.Info("echo: write failed", "stream", st.ID(), "err", err)
				return
			}
			// Without Flush the chunk would wait for a frame's worth of data.
			if err := st.Flush(); err != nil {
				return
			}
			echoed += int64(n)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			slog.Info("echo: read failed", "stream", st.ID(), "err", err)
			return
		}
	}
	slog.Info("echo: done", "stream", st.ID(), "bytes", echoed)
	// Request trailers, if any, come back as response trailers; otherwise
	// returning from the handler ends the response.
	if t := st.Trailers(); len(t) > 0 {
		st.WriteTrailers(t)
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "TCP `host:port` to listen on")
	useTLS := flag.Bool("tls", false, "serve HTTP/2 over TLS (ALPN h2) with a self-signed certificate instead of h2c")
	flag.Parse()
	if err := run(*addr, *useTLS); err != nil {
		slog.Error("echo failed", "err", err)
		os.Exit(1)
	}
}

func run(addr string, useTLS bool) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	try := "curl --http2-prior-knowledge -d 'hello, echo' http://" + ln.Addr().String() + "/"
	if useTLS {
		cfg, err := excert.TLSConfig()
		if err != nil {
			ln.Close()
			return err
		}
		ln = tls.NewListener(ln, cfg)
		try = "curl -k --http2 -d 'hello, echo' https://" + ln.Addr().String() + "/"
	}

	srv := &h2server.Server{Handler: h2server.HandlerFunc(echo)}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	fmt.Printf("echo: listening on %s; try: %s\n", ln.Addr(), try)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}
	stop() // a second signal kills the process at once

	slog.Info("shutting down; waiting for open streams", "timeout", "10s")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-serveErr; !errors.Is(err, h2server.ErrServerClosed) {
		return err
	}
	slog.Info("stopped")
	return nil
}
